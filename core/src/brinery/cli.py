"""The ``brinery`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from . import __version__, remote
from .api import convert, inspect_file
from .arguments import NOT_GIVEN, checked_threads, resolve_compression
from .errors import BrineryError
from .inspection import Inspection
from .plugins import HOST
from .progress import bar, is_terminal
from .sampling import Sample, sample_file
from .trials import Trial, candidates, choices, compressors_to_try, left_out, trial

#: Exit status for a file that cannot be read or written (argparse exits with 2 on bad usage,
#: and so do the checks of arguments made here).
FAILED = 1
#: ``brinery bench``'s default sample, in MB.
SAMPLE_MB = 64.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brinery", description=__doc__)
    parser.add_argument("--version", action="version", version=f"brinery {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plugins", help="list the loaded plugins and their compressors")
    info = commands.add_parser(
        "info",
        help="describe files without loading them: format, compressor, sizes, arrays, imports",
    )
    info.add_argument("files", nargs="+", metavar="FILE", help="a path, or an fsspec URL")
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
    convert.add_argument(
        "--threads", type=positive_int, help="compression threads (default: every core)"
    )
    convert.add_argument(
        "--checksums",
        action=argparse.BooleanOptionalAction,
        help="brinery's record checksums (default: where the compressor has no strong check)",
    )
    convert.add_argument(
        "--index",
        action="store_true",
        help="write an index (random access with brinery.open) into a file that has none: this "
        "loads the object, trusting the file, and dumps it anew",
    )
    bench = commands.add_parser(
        "bench", help="the installed compressors on a file's own data: size and speeds"
    )
    add_bench_arguments(bench)
    arguments = parser.parse_args(argv)
    if arguments.command == "plugins":
        return _plugins()
    if arguments.command == "info":
        return _info(arguments.files, as_json=arguments.json)
    if arguments.command == "convert":
        return _convert(convert, arguments)
    if arguments.command == "bench":
        return run_bench(bench, arguments)
    raise AssertionError(f"unhandled command {arguments.command!r}")


def positive_int(text: str) -> int:
    """argparse's type for ``--threads``: a usage error (exit 2) unless an int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int of at least 1")
    return value


def _report(command: str, path: str, error: BrineryError | OSError) -> None:
    """One line on standard error: the command, the file, and what went wrong (an OS error's
    own text, without its errno, and with the file it is about: the output for a write)."""
    message: object = error
    if isinstance(error, OSError) and not isinstance(error, BrineryError):
        path = error.filename if isinstance(error.filename, str) else path
        # (fsspec raises FileNotFoundError(path), without errno or text)
        message = error.strerror or _OS_ERROR_TEXTS.get(type(error)) or error
    sys.stderr.write(f"brinery {command}: {path}: {message}\n")


_OS_ERROR_TEXTS = {
    FileNotFoundError: os.strerror(errno.ENOENT),
    PermissionError: os.strerror(errno.EACCES),
    IsADirectoryError: os.strerror(errno.EISDIR),
}


def _info(files: list[str], *, as_json: bool) -> int:
    status = 0
    for path in files:
        try:
            found = inspect_file(path)
            size = remote.size(path) if remote.is_url(path) else os.path.getsize(path)
        except (BrineryError, OSError) as error:
            _report("info", path, error)
            status = FAILED
            continue
        if as_json:
            described = {"file": path, "file_bytes": size}
            sys.stdout.write(json.dumps({**described, **dataclasses.asdict(found)}) + "\n")
        else:
            sys.stdout.write(_describe(path, found, size))
    return status


def _convert(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> int:
    """Recompress, then one line: the sizes, the ratio, the compressor and the time."""
    compress: object = arguments.compress
    if compress is None:
        compress = NOT_GIVEN
    elif compress == "none":
        compress = False
    try:  # what --compress or OUT's extension asks for: a usage error if it cannot be
        compression = resolve_compression(compress, arguments.target)
    except BrineryError as error:
        parser.error(str(error))
    progress = bar(None, f"converting {arguments.source}") if is_terminal(sys.stderr) else None
    failure: BrineryError | OSError | None = None
    started = time.perf_counter()
    try:
        convert(
            arguments.source,
            arguments.target,
            compress,
            threads=arguments.threads,
            checksums=arguments.checksums,
            on_progress=progress,
            add_index=arguments.index,
        )
    except (BrineryError, OSError) as error:
        failure = error
    finally:
        if progress is not None:
            progress.close()
    if failure is not None:
        _report("convert", arguments.source, failure)
        return FAILED
    seconds = time.perf_counter() - started
    before, after = os.path.getsize(arguments.source), os.path.getsize(arguments.target)
    change = (
        f"{before / after:.2f}x smaller" if after <= before else f"{after / before:.2f}x larger"
    )
    how = "no compression"
    if compression is not None:
        how = f"{compression.compressor.name} level {compression.level}"
    sys.stdout.write(
        f"{arguments.source} -> {arguments.target}: {before:,} -> {after:,} bytes ({change}), "
        f"{how}, {seconds:.2f} s\n"
    )
    return 0


def add_bench_arguments(bench: argparse.ArgumentParser) -> None:
    """``brinery bench``'s options: by default quick on any file (a sample, no slow codec)."""
    bench.add_argument("file", metavar="FILE")
    bench.add_argument(
        "--threads", type=positive_int, help="compression threads (default: every core)"
    )
    bench.add_argument(
        "--compressors",
        metavar="NAME,...",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="only these compressors (slow ones included)",
    )
    bench.add_argument("--all-levels", action="store_true", help="every level, not three")
    bench.add_argument(
        "--all",
        action="store_true",
        help="the slow ones too: bz2, lzma, xz, and each compressor's highest levels",
    )
    bench.add_argument(
        "--sample-mb",
        type=float,
        default=SAMPLE_MB,
        metavar="MB",
        help=f"measure on this much of the stream, spread over it (default {SAMPLE_MB:g}; "
        "0: all of it)",
    )


def run_bench(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> int:
    """The sample, then a row per compressor and level as each is measured, then the verdicts
    and what was left out."""
    if not arguments.sample_mb >= 0:
        parser.error(f"--sample-mb must be a number of MB of at least 0, not {arguments.sample_mb}")
    threads = arguments.threads or checked_threads(None)
    try:
        compressors = compressors_to_try(arguments.compressors, slow=arguments.all)
    except BrineryError as error:
        parser.error(str(error))
    progress = bar(None, f"reading {arguments.file}") if is_terminal(sys.stderr) else None
    try:
        sample = sample_file(
            arguments.file, int(arguments.sample_mb * 1e6), threads=threads, on_read=progress
        )
    except (BrineryError, OSError) as error:
        _report("bench", arguments.file, error)
        return FAILED
    finally:
        if progress is not None:
            progress.close()
    sys.stdout.write(_sampled(arguments.file, sample))
    sys.stdout.write(
        f"{'compressor':<12} {'level':>5} {'size':>15} {'ratio':>7} {'write MB/s':>11} "
        f"{'read MB/s':>10}\n"
    )
    trials: list[Trial] = []
    every_level = arguments.all_levels
    for candidate in candidates(compressors, every_level=every_level, slow=arguments.all):
        level = "-" if candidate.level is None else str(candidate.level)
        sys.stdout.write(f"{candidate.name:<12} {level:>5} ")
        sys.stdout.flush()  # the row's name shows while it is measured
        try:
            measured = trial(sample.stream, candidate, threads)
        except (BrineryError, OSError) as error:
            sys.stdout.write("\n")
            _report("bench", arguments.file, error)
            return FAILED
        trials.append(measured)
        plain = trials[0].size  # the first trial is the uncompressed stream
        write = speed_text(plain, measured.dump_seconds)
        read = speed_text(plain, measured.read_seconds)
        sys.stdout.write(
            f"{measured.size:>15,} {plain / measured.size:>7.2f} {write:>11} {read:>10}\n"
        )
        sys.stdout.flush()
    for label, chosen in choices(trials):
        level = "" if chosen.level is None else f", level {chosen.level}"
        sys.stdout.write(f"{label}: {chosen.compressor}{level}\n")
    named = bool(arguments.compressors)
    skipped = [] if arguments.all else left_out(compressors, every_level=every_level, named=named)
    if skipped:
        sys.stdout.write(f"not tried (slow; --all tries them): {', '.join(skipped)}\n")
    return 0


def _sampled(path: str, sample: Sample) -> str:
    stream = f"{sample.stream_bytes / 1e6:,.1f} MB"
    if sample.whole:
        return f"{path}: measured on all of its stream ({stream})\n"
    return (
        f"{path}: measured on {sample.sampled_bytes / 1e6:,.1f} MB sampled evenly from its "
        f"{stream} stream (--sample-mb 0: all of it)\n"
    )


def speed_text(plain_bytes: int, seconds: float) -> str:
    """MB/s: whole numbers from 10 up, decimals below (a slow codec is not '0')."""
    speed = plain_bytes / 1e6 / max(seconds, 1e-9)
    return f"{speed:,.0f}" if speed >= 10 else f"{speed:.1f}" if speed >= 1 else f"{speed:.2f}"


def _describe(path: str, found: Inspection, size: int | None) -> str:
    sized = "size unknown" if size is None else f"{size:,} bytes"
    lines = [f"{path}: {found.format}, compressor {found.compressor}, {sized}"]
    if found.stream_bytes is not None:
        ratio = found.stream_bytes / size if size else 0.0
        checks = {True: "brinery's record checksums", False: "the codec's checks"}
        lines.append(
            f"  stream: {found.stream_bytes:,} bytes uncompressed ({ratio:.2f}x), checked by "
            f"{checks[bool(found.checksums)]}"
        )
    if found.index is not None:  # (format 1.4: brinery.open reads one entry at a time)
        index = found.index
        cut = (
            f"{index['container']} of {index['entries']} entries"
            if index["container"] != "value"
            else "one part"
        )
        frames = f", frames before the index: {index['frames']}" if index["frames"] else ""
        lines.append(f"  index: {cut}, {index['records']} array and buffer records{frames}")
    total = sum(array.nbytes for array in found.arrays)
    lines.append(f"  arrays: {len(found.arrays)}, {total:,} bytes")
    for array in found.arrays:
        where = "in the pickle" if array.in_pickle else "record"
        if array.shuffle is not None:  # (a record, filtered: docs/format.md, 5.4)
            where = "delta" if array.shuffle == "delta" else f"{array.shuffle}-shuffled"
        name = f"{np.dtype(array.dtype).name} ({array.dtype})"
        path = array.path or "(the object itself)"  # (paths are ASCII: see array_paths)
        lines.append(
            f"    {name:<24} {array.shape!s:<20} {array.order}  {array.nbytes:>15,} bytes  "
            f"{where:<13}  {path}"
        )
    if found.buffers:  # (other libraries' protocol 5 buffers: pyarrow's; most files have none)
        total = sum(buffer.nbytes for buffer in found.buffers)
        lines.append(f"  out-of-band buffers: {len(found.buffers)}, {total:,} bytes")
        for number, buffer in enumerate(found.buffers, 1):
            path = buffer.path or "(the object itself)"
            lines.append(
                f"    {f'buffer {number}':<24} {'':<20} {'':<1}  {buffer.nbytes:>15,} bytes  "
                f"{'record':<13}  {path}"
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
