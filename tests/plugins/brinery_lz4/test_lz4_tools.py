"""brinery-lz4 with the outside world: the lz4 tool, processes without the plugin, the CLI.

Every file brinery writes passes ``lz4 -t`` and ``lz4 -dc`` gives exactly the uncompressed
brinery stream (what ``dump`` writes with ``compress=False``); a brinery stream compressed by
``lz4`` (whatever its frame options) loads.  Without the plugin, brinery names the distribution.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

lz4_frame = pytest.importorskip("lz4.frame")
pytest.importorskip("brinery_lz4", reason="brinery-lz4 is not installed")

NAME = "lz4"
DISTRIBUTION = "brinery-lz4"
ENTRY_POINT = "lz4"
MAGIC = b"\x04\x22\x4d\x18"
LOWEST, DEFAULT, HIGHEST = 0, 0, 16


def many_frames_object() -> dict[str, Any]:
    """About 13 MB: four frames of brinery's 4 MiB, three hints."""
    rng = np.random.default_rng(11)
    return {
        "tiles": np.tile(rng.integers(0, 30, size=1 << 16, dtype=np.uint8), 130),
        "range": np.arange(500_000, dtype=np.int64),
        "text": ["lz4"] * 1000,
    }


CASES = {
    "lowest": lambda sample, small: (sample(), (NAME, LOWEST)),
    "hc": lambda sample, small: (sample(), (NAME, 9)),
    "highest": lambda sample, small: (small(), (NAME, HIGHEST)),
    "many-frames": lambda sample, small: (many_frames_object(), NAME),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_tool_checks_and_decompresses_what_brinery_writes(
    case: str,
    tmp_path: Path,
    sample_object: Any,
    small_sample: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
) -> None:
    lz4 = tool("lz4")
    value, compress = CASES[case](sample_object, small_sample)
    path = tmp_path / "brinery.lz4"
    brinery.dump(value, path, compress=compress)
    run_tool([lz4, "-t", "-q", str(path)])
    assert run_tool([lz4, "-d", "-c", "-q", str(path)]) == dump_bytes(value, compress=False)


def test_the_tool_lists_every_frame_of_a_many_frames_file(
    tmp_path: Path, tool: Any, walk_frames: Any
) -> None:
    lz4 = tool("lz4")
    path = tmp_path / "frames.lz4"
    brinery.dump(many_frames_object(), path)
    frames = walk_frames(path.read_bytes(), lz4_frame.LZ4FrameDecompressor)
    data_frames = sum(frame.kind == "data" for frame in frames)
    skippable = sum(frame.kind == "skippable" for frame in frames)
    assert data_frames >= 4
    assert skippable == data_frames - 1
    # lz4 --list -v writes its table of frames on standard error.
    done = subprocess.run(
        [lz4, "--list", "-v", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
        timeout=120,
    )
    rows = [line.split() for line in done.stdout.splitlines()]
    listed = [row[1] for row in rows if len(row) > 2 and row[0].isdigit()]
    assert listed == ["LZ4Frame", "SkippableFrame"] * skippable + ["LZ4Frame"], done.stdout
    assert all("XXH32" in row for row in rows if "LZ4Frame" in row)  # content checksums


VARIANTS = {
    "default": ["-c"],
    "level-1": ["-1", "-c"],
    "level-9": ["-9", "-c"],
    "level-12": ["-12", "-c"],
    "no-frame-crc": ["--no-frame-crc", "-c"],
    "linked-blocks": ["-BD", "-c"],
    "small-blocks": ["-B4", "-c"],
    "block-checksums": ["-BX", "-c"],
    "content-size": ["--content-size", "-c"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_brinery_loads_what_the_tool_compresses(
    variant: str,
    tmp_path: Path,
    sample_object: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
    assert_identical: Any,
) -> None:
    lz4 = tool("lz4")
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    (tmp_path / "stream.bin").write_bytes(stream)
    # From a file, so that --content-size can write the size.
    data = run_tool([lz4, "-q", *VARIANTS[variant], str(tmp_path / "stream.bin")])
    assert data.startswith(MAGIC)
    info = lz4_frame.get_frame_info(data)
    assert info["content_checksum"] == (variant != "no-frame-crc")
    assert info["block_checksum"] == (variant == "block-checksums")
    assert info["content_size"] == (len(stream) if variant == "content-size" else 0)
    assert_identical(brinery.load(io.BytesIO(data)), original)
    path = tmp_path / "tool.lz4"
    path.write_bytes(data)
    assert_identical(brinery.load(path), original)


@pytest.mark.parametrize("parts", [2, 3])
def test_brinery_loads_concatenated_tool_frames(
    parts: int,
    sample_object: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
    assert_identical: Any,
) -> None:
    """``cat a.lz4 b.lz4``: pieces of one stream compressed separately, cut anywhere."""
    lz4 = tool("lz4")
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    cuts = [len(stream) * index // parts for index in range(parts + 1)]
    data = b"".join(
        run_tool([lz4, "-q", "-c"], stream[start:end]) for start, end in itertools.pairwise(cuts)
    )
    assert data.count(MAGIC) >= parts
    assert_identical(brinery.load(io.BytesIO(data)), original)


def test_a_tool_file_cut_anywhere_or_damaged_is_detected(
    sample_object: Any, tool: Any, run_tool: Any, dump_bytes: Any
) -> None:
    lz4 = tool("lz4")
    data = run_tool([lz4, "-q", "-c"], dump_bytes(sample_object(), compress=False))
    for cut in [1, 4, 5, 8, 100, len(data) // 2, len(data) - 20]:
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(io.BytesIO(data[:-cut]))
    damaged = bytearray(data)
    damaged[-1] ^= 0x10  # the content checksum
    with pytest.raises(brinery.CorruptFileError, match=r"(?i)checksum") as caught:
        brinery.load(io.BytesIO(bytes(damaged)))
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_the_legacy_format_is_not_taken_for_a_frame(
    sample_object: Any, tool: Any, run_tool: Any, dump_bytes: Any
) -> None:
    """``lz4 -l`` writes the legacy format (magic 02 21 4C 18), which brinery does not read:
    an unknown format, not a crash."""
    lz4 = tool("lz4")
    data = run_tool([lz4, "-q", "-l", "-c"], dump_bytes(sample_object(), compress=False))
    assert data.startswith(b"\x02\x21\x4c\x18")
    with pytest.raises(brinery.UnknownFormatError):
        brinery.load(io.BytesIO(data))


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
    attempt("dump by extension", lambda: brinery.dump({"a": 1}, os.path.join(folder, "x.pkl.lz4")))
    attempt("dump by upper case", lambda: brinery.dump({"a": 1}, os.path.join(folder, "Y.LZ4")))
    attempt("dump by name", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress="lz4"))
    attempt("dump by tuple", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress=("lz4", 3)))
    found["files"] = sorted(os.listdir(folder))
    print(json.dumps(found))
    """
)


def run_without_plugin(run_python: Any, tmp_path: Path, selection: str) -> dict[str, Any]:
    path = tmp_path / "written.lz4"
    brinery.dump({"a": np.arange(10), "s": "lz4"}, path)
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


@pytest.mark.parametrize("selection", [DISTRIBUTION, " Brinery_LZ4 ,"])
def test_load_plugins_variable_loads_only_the_named_plugin(
    selection: str, run_python: Any, tmp_path: Path, builtin_compressors: set[str]
) -> None:
    path = tmp_path / "written.lz4"
    brinery.dump({"a": np.arange(10), "s": "lz4"}, path)
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
    assert (found["a"], found["s"]) == (list(range(10)), "lz4")


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
        "lz4 (.lz4)",
    ]
    assert metadata.version(DISTRIBUTION) == "0.1.0"


def test_the_plugins_command_without_the_plugin() -> None:
    rows = plugin_rows({"BRINERY_LOAD_PLUGINS": ""})
    assert ENTRY_POINT not in rows
    assert all(DISTRIBUTION not in row for row in rows.values())
