"""brinery-lzo with the outside world: the lzop tool, processes without the plugin, the CLI.

Every file brinery writes passes ``lzop -t`` and ``lzop -dc`` gives exactly the uncompressed
brinery stream (what ``dump`` writes with ``compress=False``); a brinery stream compressed by
``lzop`` (levels, checksum kinds, with a stored file name) loads.  Without the plugin, brinery
names the distribution.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

lzo = pytest.importorskip("lzo")
pytest.importorskip("brinery_lzo", reason="brinery-lzo is not installed")

NAME = "lzo"
DISTRIBUTION = "brinery-lzo"
ENTRY_POINT = "lzo"
MAGIC = b"\x89LZO\x00\r\n\x1a\n"
F_ADLER32_D, F_ADLER32_C, F_CRC32_D, F_CRC32_C, F_H_CRC32 = 0x1, 0x2, 0x100, 0x200, 0x1000
CHECKSUM_FLAGS = F_ADLER32_D | F_ADLER32_C | F_CRC32_D | F_CRC32_C | F_H_CRC32


def header_fields(data: bytes) -> dict[str, Any]:
    assert data.startswith(MAGIC)
    _, _, _, method, level, flags, _, _, _, name_length = struct.unpack_from(
        ">HHHBBIIIIB", data, len(MAGIC)
    )
    start = len(MAGIC) + struct.calcsize(">HHHBBIIIIB")
    name = data[start : start + name_length]
    return {"method": method, "level": level, "flags": flags, "name": name}


def many_frames_object() -> dict[str, Any]:
    """About 13 MB: four of brinery's 4 MiB frames, as runs of blocks under one header."""
    rng = np.random.default_rng(11)
    return {
        "tiles": np.tile(rng.integers(0, 30, size=1 << 16, dtype=np.uint8), 130),
        "range": np.arange(500_000, dtype=np.int64),
        "text": ["lzo"] * 1000,
    }


CASES = {
    "lowest": lambda sample, small: (sample(), (NAME, 1), "LZO1X-1"),
    "level-5": lambda sample, small: (sample(), (NAME, 5), "LZO1X-999/5"),
    "highest": lambda sample, small: (small(), (NAME, 9), "LZO1X-999/9"),
    "many-frames": lambda sample, small: (many_frames_object(), NAME, "LZO1X-1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_tool_checks_lists_and_decompresses_what_brinery_writes(
    case: str,
    tmp_path: Path,
    sample_object: Any,
    small_sample: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
) -> None:
    lzop = tool("lzop")
    value, compress, method = CASES[case](sample_object, small_sample)
    path = tmp_path / "brinery.lzo"
    brinery.dump(value, path, compress=compress)
    run_tool([lzop, "-t", "-q", str(path)])
    stream = dump_bytes(value, compress=False)
    assert run_tool([lzop, "-d", "-c", "-q", str(path)]) == stream
    listing = run_tool([lzop, "-l", str(path)]).decode()
    row = listing.splitlines()[1].split()
    assert row[0] == method, listing
    assert int(row[2]) == len(stream), listing  # then what the blocks' data take
    assert int(row[1]) < path.stat().st_size, listing


VARIANTS = {
    # lzop option(s): (method, level, checksum flags) the header must then show.
    "default": (["-c"], 1, 5, F_ADLER32_D),
    "fast": (["-1", "-c"], 2, 1, F_ADLER32_D),  # LZO1X-1(15)
    "best": (["-9", "-c"], 3, 9, F_ADLER32_D),  # LZO1X-999
    "crc32": (["--crc32", "-c"], 1, 5, F_CRC32_D | F_H_CRC32),
    "best-crc32": (["-9", "--crc32", "-c"], 3, 9, F_CRC32_D | F_H_CRC32),
    "no-checksum": (["-F", "-c"], 1, 5, 0),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("source", ["stdin", "file"])
def test_brinery_loads_what_the_tool_compresses(
    variant: str,
    source: str,
    tmp_path: Path,
    sample_object: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
    assert_identical: Any,
) -> None:
    """From standard input lzop stores no name; from a file, its name, mode and mtime."""
    lzop = tool("lzop")
    options, method, level, checksums = VARIANTS[variant]
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    if source == "stdin":
        data = run_tool([lzop, *options], stream)
    else:
        (tmp_path / "stream.bin").write_bytes(stream)
        data = run_tool([lzop, *options, "stream.bin"], cwd=tmp_path)
    fields = header_fields(data)
    assert (fields["method"], fields["level"]) == (method, level)
    assert fields["flags"] & CHECKSUM_FLAGS == checksums
    assert fields["name"] == (b"" if source == "stdin" else b"stream.bin")
    assert_identical(brinery.load(io.BytesIO(data)), original)
    path = tmp_path / "tool.lzo"
    path.write_bytes(data)
    assert_identical(brinery.load(path), original)


def test_brinery_loads_concatenated_tool_files(
    sample_object: Any, tool: Any, run_tool: Any, dump_bytes: Any, assert_identical: Any
) -> None:
    """``cat a.lzo b.lzo``: halves of one stream, each a whole lzop file."""
    lzop = tool("lzop")
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    half = len(stream) // 2
    data = run_tool([lzop, "-c"], stream[:half]) + run_tool([lzop, "-9", "-c"], stream[half:])
    assert data.count(MAGIC) == 2
    assert_identical(brinery.load(io.BytesIO(data)), original)


def test_a_tool_file_cut_anywhere_or_damaged_is_detected(
    sample_object: Any, tool: Any, run_tool: Any, dump_bytes: Any
) -> None:
    lzop = tool("lzop")
    data = run_tool([lzop, "-c"], dump_bytes(sample_object(), compress=False))
    for cut in [1, 4, 5, 8, 100, len(data) // 2, len(data) - 50]:
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(io.BytesIO(data[:-cut]))
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x10  # in a block's data, under its adler32
    with pytest.raises(brinery.CorruptFileError):
        brinery.load(io.BytesIO(bytes(damaged)))


# -- without the plugin ---------------------------------------------------------------------------

WITHOUT_PLUGIN = textwrap.dedent(
    """
    import io, json, os, sys
    import brinery

    path, folder = sys.argv[1], sys.argv[2]
    found = {"compressors": sorted(brinery.compressors())}

    def attempt(key, action):
        try:
            action()
        except Exception as error:
            found[key] = [type(error).__name__, str(error), getattr(error, "distribution", None),
                          getattr(error, "compressor", None)]
        else:
            found[key] = None

    attempt("load path", lambda: brinery.load(path))
    attempt("load file object", lambda: brinery.load(io.BytesIO(open(path, "rb").read())))
    attempt("dump by extension", lambda: brinery.dump({"a": 1}, os.path.join(folder, "x.pkl.lzo")))
    attempt("dump by upper case", lambda: brinery.dump({"a": 1}, os.path.join(folder, "Y.LZO")))
    attempt("dump by name", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress="lzo"))
    attempt("dump by tuple", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress=("lzo", 3)))
    found["files"] = sorted(os.listdir(folder))
    print(json.dumps(found))
    """
)


def run_without_plugin(run_python: Any, tmp_path: Path, selection: str) -> dict[str, Any]:
    path = tmp_path / "written.lzo"
    brinery.dump({"a": np.arange(10), "s": "lzo"}, path)
    folder = tmp_path / "out"
    folder.mkdir()
    code = f"import sys; sys.argv[1:] = [{str(path)!r}, {str(folder)!r}]\n" + WITHOUT_PLUGIN
    done = run_python(code, env={"BRINERY_LOAD_PLUGINS": selection})
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def builtin_compressors(run_python: Any) -> set[str]:
    """The compressors of a process that loads no plugin."""
    done = run_python(
        "import brinery; print(' '.join(brinery.compressors()))",
        env={"BRINERY_LOAD_PLUGINS": ""},
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("selection", ["", "brinery-none-such"])
def test_without_the_plugin_brinery_names_the_distribution(
    selection: str, run_python: Any, tmp_path: Path
) -> None:
    found = run_without_plugin(run_python, tmp_path, selection)
    assert NAME not in found["compressors"]
    for key in [
        "load path",
        "load file object",
        "dump by extension",
        "dump by upper case",
        "dump by name",
        "dump by tuple",
    ]:
        assert found[key] is not None, f"{key}: no error"
        kind, message, distribution, compressor = found[key]
        assert kind == "CompressorNotInstalledError", (key, found[key])
        assert DISTRIBUTION in message, (key, message)
        assert distribution == DISTRIBUTION, (key, found[key])
        assert compressor == NAME, (key, found[key])
    assert found["files"] == [], "a refused dump left a file behind"


@pytest.mark.parametrize("selection", [DISTRIBUTION, " Brinery_LZO ,"])
def test_load_plugins_variable_loads_only_the_named_plugin(
    selection: str, run_python: Any, tmp_path: Path, builtin_compressors: set[str]
) -> None:
    path = tmp_path / "written.lzo"
    brinery.dump({"a": np.arange(10), "s": "lzo"}, path)
    code = textwrap.dedent(
        f"""
        import json, brinery
        loaded = brinery.load({str(path)!r})
        print(json.dumps({{"compressors": sorted(brinery.compressors()),
                           "a": loaded["a"].tolist(), "s": loaded["s"]}}))
        """
    )
    found = json.loads(run_python(code, env={"BRINERY_LOAD_PLUGINS": selection}).stdout)
    assert set(found["compressors"]) == builtin_compressors | {NAME}
    assert (found["a"], found["s"]) == (list(range(10)), "lzo")


# -- the command line -----------------------------------------------------------------------------


def plugin_rows(env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``python -m brinery plugins`` as {plugin name: its columns}."""
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "plugins"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["plugin", "distribution", "version", "hooks", "compressors"]
    return {line.split()[0]: re.split(r"\s{2,}", line.strip()) for line in lines[1:]}


def test_the_plugins_command_lists_the_plugin() -> None:
    rows = plugin_rows()
    assert rows[ENTRY_POINT] == [
        ENTRY_POINT,
        DISTRIBUTION,
        "0.1.0",
        "register_compressors",
        "lzo (.lzo)",
    ]
    assert metadata.version(DISTRIBUTION) == "0.1.0"


def test_the_plugins_command_without_the_plugin() -> None:
    rows = plugin_rows({"BRINERY_LOAD_PLUGINS": ""})
    assert ENTRY_POINT not in rows
    assert all(DISTRIBUTION not in row for row in rows.values())
