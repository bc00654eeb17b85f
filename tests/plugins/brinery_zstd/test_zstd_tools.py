"""brinery-zstd with the outside world: the zstd tool, processes without the plugin, the CLI.

Every file brinery writes passes ``zstd -t`` and ``zstd -dc`` gives exactly the uncompressed
brinery stream (what ``dump`` writes with ``compress=False``); a brinery stream compressed by
``zstd`` (whatever its options) loads.  Without the plugin, brinery names the distribution.
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

zstandard = pytest.importorskip("zstandard")
pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")

NAME = "zstd"
DISTRIBUTION = "brinery-zstd"
ENTRY_POINT = "zstd"
MAGIC = b"\x28\xb5\x2f\xfd"
LOWEST, DEFAULT, HIGHEST = -7, 3, 22


def many_frames_object() -> dict[str, Any]:
    """About 13 MB: four frames of brinery's 4 MiB, three hints."""
    rng = np.random.default_rng(11)
    return {
        "tiles": np.tile(rng.integers(0, 30, size=1 << 16, dtype=np.uint8), 130),
        "range": np.arange(500_000, dtype=np.int64),
        "text": ["zstd"] * 1000,
    }


CASES = {
    "lowest": lambda sample, small: (sample(), (NAME, LOWEST)),
    "default": lambda sample, small: (sample(), NAME),
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
    zstd = tool("zstd")
    value, compress = CASES[case](sample_object, small_sample)
    path = tmp_path / "brinery.zst"
    brinery.dump(value, path, compress=compress)
    run_tool([zstd, "-t", "-q", str(path)])
    assert run_tool([zstd, "-d", "-c", "-q", str(path)]) == dump_bytes(value, compress=False)


def test_the_tool_lists_every_frame_of_a_many_frames_file(
    tmp_path: Path, tool: Any, run_tool: Any, walk_frames: Any
) -> None:
    zstd = tool("zstd")
    path = tmp_path / "frames.zst"
    brinery.dump(many_frames_object(), path)
    frames = walk_frames(path.read_bytes(), lambda: zstandard.ZstdDecompressor().decompressobj())
    data_frames = sum(frame.kind == "data" for frame in frames)
    skippable = sum(frame.kind == "skippable" for frame in frames)
    assert data_frames >= 4
    assert skippable == data_frames - 1
    listing = run_tool([zstd, "-l", "-v", str(path)]).decode()
    found = re.search(r"Zstandard Frames:\s*(\d+)", listing)
    found_skips = re.search(r"Skippable Frames:\s*(\d+)", listing)
    assert found, listing
    assert found_skips, listing
    assert (int(found.group(1)), int(found_skips.group(1))) == (data_frames, skippable), listing
    assert "XXH64" in listing  # the content checksum


VARIANTS = {
    "default": ["-c"],
    "level-19": ["-19", "-c"],
    "level-1": ["-1", "-c"],
    "fast": ["--fast=5", "-c"],
    "no-check": ["--no-check", "-c"],
    "long": ["--long=24", "-c"],
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
    zstd = tool("zstd")
    original = sample_object()
    data = run_tool([zstd, "-q", *VARIANTS[variant]], dump_bytes(original, compress=False))
    assert data.startswith(MAGIC)
    parameters = zstandard.get_frame_parameters(data[:18])
    assert parameters.has_checksum == (variant != "no-check")
    assert_identical(brinery.load(io.BytesIO(data)), original)
    path = tmp_path / "tool.zst"
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
    """``cat a.zst b.zst``: pieces of one stream compressed separately, cut anywhere."""
    zstd = tool("zstd")
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    cuts = [len(stream) * index // parts for index in range(parts + 1)]
    data = b"".join(
        run_tool([zstd, "-q", "-c"], stream[start:end]) for start, end in itertools.pairwise(cuts)
    )
    assert data.count(MAGIC) >= parts
    assert_identical(brinery.load(io.BytesIO(data)), original)


def test_a_file_with_its_content_size_loads_and_truncations_are_detected(
    tmp_path: Path,
    sample_object: Any,
    tool: Any,
    run_tool: Any,
    dump_bytes: Any,
    assert_identical: Any,
) -> None:
    """``zstd -c --format=zstd`` of a file (not a pipe) writes the content size in the frame
    header; cut inside its checksum (the last 4 bytes) or anywhere, it is truncated."""
    zstd = tool("zstd")
    original = sample_object()
    stream = dump_bytes(original, compress=False)
    (tmp_path / "stream.bin").write_bytes(stream)
    data = run_tool([zstd, "-q", "-c", "--format=zstd", str(tmp_path / "stream.bin")])
    parameters = zstandard.get_frame_parameters(data[:18])
    assert parameters.content_size == len(stream)
    assert parameters.has_checksum
    assert_identical(brinery.load(io.BytesIO(data)), original)
    for cut in [1, 2, 3, 4, 5, 100, len(data) // 2, len(data) - 20]:
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(io.BytesIO(data[:-cut]))
    damaged = bytearray(data)
    damaged[-1] ^= 0x10  # the checksum itself
    with pytest.raises(brinery.CorruptFileError, match="checksum") as caught:
        brinery.load(io.BytesIO(bytes(damaged)))
    assert isinstance(caught.value.__cause__, zstandard.ZstdError)


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
    attempt("dump by extension", lambda: brinery.dump({"a": 1}, os.path.join(folder, "x.pkl.zst")))
    attempt("dump by .zstd", lambda: brinery.dump({"a": 1}, os.path.join(folder, "y.ZSTD")))
    attempt("dump by name", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress="zstd"))
    attempt("dump by tuple", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress=("zstd", 3)))
    found["files"] = sorted(os.listdir(folder))
    print(json.dumps(found))
    """
)


def run_without_plugin(run_python: Any, tmp_path: Path, selection: str) -> dict[str, Any]:
    path = tmp_path / "written.zst"
    brinery.dump({"a": np.arange(10), "s": "zstd"}, path)
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
        "dump by .zstd",
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


@pytest.mark.parametrize("selection", [DISTRIBUTION, " Brinery_Zstd ,", "brinery.zstd"])
def test_load_plugins_variable_loads_only_the_named_plugin(
    selection: str, run_python: Any, tmp_path: Path, builtin_compressors: set[str]
) -> None:
    path = tmp_path / "written.zst"
    original = {"a": np.arange(10), "s": "zstd"}
    brinery.dump(original, path)
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
    assert (found["a"], found["s"]) == (list(range(10)), "zstd")


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
        "zstd (.zst, .zstd)",
    ]
    assert metadata.version(DISTRIBUTION) == "0.1.0"


def test_the_plugins_command_without_the_plugin() -> None:
    rows = plugin_rows({"BRINERY_LOAD_PLUGINS": ""})
    assert ENTRY_POINT not in rows
    assert all(DISTRIBUTION not in row for row in rows.values())
