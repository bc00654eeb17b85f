"""The ``brinery`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from .api import convert, inspect_file
from .arguments import NOT_GIVEN
from .errors import BrineryError
from .inspection import Inspection
from .plugins import HOST
from .progress import bar
from .trials import Trial, choices, run_trials

#: Exit status for a file that cannot be read (argparse exits with 2 on bad usage).
FAILED = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brinery", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plugins", help="list the loaded plugins and their compressors")
    info = commands.add_parser(
        "info",
        help="describe files without loading them: format, compressor, sizes, arrays, imports",
    )
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="one JSON object per file")
    convert = commands.add_parser(
        "convert", help="recompress a brinery file without unpickling it (streaming, atomic)"
    )
    convert.add_argument("source", metavar="IN")
    convert.add_argument("target", metavar="OUT")
    convert.add_argument(
        "--compress",
        metavar="NAME[:LEVEL]",
        help="'none', a compressor name, or name:level (default: from OUT's extension)",
    )
    convert.add_argument("--threads", type=int, help="compression threads (default: every core)")
    convert.add_argument(
        "--checksums",
        action=argparse.BooleanOptionalAction,
        help="brinery's record checksums (default: where the compressor has no strong check)",
    )
    bench = commands.add_parser(
        "bench", help="every installed compressor on a file's own data: size and speeds"
    )
    bench.add_argument("file", metavar="FILE")
    bench.add_argument("--threads", type=int, help="compression threads (default: every core)")
    bench.add_argument("--all-levels", action="store_true", help="every level of every codec")
    arguments = parser.parse_args(argv)
    if arguments.command == "plugins":
        return _plugins()
    if arguments.command == "info":
        return _info(arguments.files, as_json=arguments.json)
    if arguments.command == "convert":
        return _convert(arguments)
    if arguments.command == "bench":
        return _bench(arguments)
    raise AssertionError(f"unhandled command {arguments.command!r}")


def _report(command: str, path: str, error: BrineryError | OSError) -> None:
    """One line on standard error: the command, the file, and what went wrong (an OS error's
    own text, without its errno and repeated file name)."""
    message = error.strerror if isinstance(error, OSError) and error.strerror else error
    sys.stderr.write(f"brinery {command}: {path}: {message}\n")


def _info(files: list[str], *, as_json: bool) -> int:
    status = 0
    for path in files:
        try:
            found = inspect_file(path)
        except (BrineryError, OSError) as error:
            _report("info", path, error)
            status = FAILED
            continue
        if as_json:
            described = {"file": path, "file_bytes": os.path.getsize(path)}
            sys.stdout.write(json.dumps({**described, **dataclasses.asdict(found)}) + "\n")
        else:
            sys.stdout.write(_describe(path, found))
    return status


def _convert(arguments: argparse.Namespace) -> int:
    spec = arguments.compress
    compress: object = NOT_GIVEN
    if spec is not None:
        name, _, level = spec.partition(":")
        if name == "none":
            compress = False
        elif level:
            compress = (name, int(level)) if level.lstrip("-").isdigit() else (name, level)
        else:
            compress = name
    progress = bar(None, f"converting {arguments.source}") if sys.stderr.isatty() else None
    failure: BrineryError | OSError | None = None
    try:
        convert(
            arguments.source,
            arguments.target,
            compress,
            threads=arguments.threads,
            checksums=arguments.checksums,
            on_progress=progress,
        )
    except (BrineryError, OSError) as error:
        failure = error
    finally:
        if progress is not None:
            progress.close()
    if failure is not None:
        _report("convert", arguments.source, failure)
        return FAILED
    return 0


def _bench(arguments: argparse.Namespace) -> int:
    threads = arguments.threads or os.cpu_count() or 1
    header = f"{'compressor':<12} {'level':>5} {'size':>15} {'ratio':>7} {'write MB/s':>11} " \
        f"{'read MB/s':>10}"
    sys.stdout.write(header + "\n")
    stream_size: list[int] = []

    def show(trial: Trial) -> None:
        if not stream_size:
            stream_size.append(trial.size)  # the first trial is the uncompressed stream
        plain = stream_size[0]
        level = "-" if trial.level is None else str(trial.level)
        sys.stdout.write(
            f"{trial.compressor:<12} {level:>5} {trial.size:>15,} {plain / trial.size:>7.2f} "
            f"{plain / 1e6 / max(trial.dump_seconds, 1e-9):>11,.0f} "
            f"{plain / 1e6 / max(trial.read_seconds, 1e-9):>10,.0f}\n"
        )
        sys.stdout.flush()

    try:
        trials = run_trials(
            arguments.file, threads=threads, every_level=arguments.all_levels, report=show
        )
    except (BrineryError, OSError) as error:
        _report("bench", arguments.file, error)
        return FAILED
    for label, trial in choices(trials):
        level = "" if trial.level is None else f", level {trial.level}"
        sys.stdout.write(f"{label}: {trial.compressor}{level}\n")
    return 0


def _describe(path: str, found: Inspection) -> str:
    size = os.path.getsize(path)
    lines = [f"{path}: {found.format}, compressor {found.compressor}, {size:,} bytes"]
    if found.stream_bytes is not None:
        ratio = found.stream_bytes / size if size else 0.0
        checks = {True: "brinery's record checksums", False: "the codec's checks"}
        lines.append(
            f"  stream: {found.stream_bytes:,} bytes uncompressed ({ratio:.2f}x), checked by "
            f"{checks[bool(found.checksums)]}"
        )
    total = sum(array.nbytes for array in found.arrays)
    lines.append(f"  arrays: {len(found.arrays)}, {total:,} bytes")
    for array in found.arrays:
        where = "in the pickle" if array.in_pickle else "record"
        name = f"{np.dtype(array.dtype).name} ({array.dtype})"
        lines.append(
            f"    {name:<24} {array.shape!s:<20} {array.order}  {array.nbytes:>15,} bytes  {where}"
        )
    imports = ", ".join(found.imports) or "none"
    lines.append(f"  imports beyond plain data (trusted=[...] to load them safely): {imports}")
    return "\n".join(lines) + "\n"


def _plugins() -> int:
    rows = [("plugin", "distribution", "version", "hooks", "compressors")]
    registered = HOST.ensure_loaded().snapshot()
    for plugin in HOST.plugins():
        described = [
            f"{name} ({', '.join(registered[name].extensions)})"
            for name in plugin.compressors
            if name in registered
        ]
        rows.append(
            (
                plugin.name,
                plugin.distribution,
                plugin.version,
                ", ".join(plugin.hooks),
                ", ".join(described) or "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return 0
