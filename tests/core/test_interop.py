"""Interoperability with the standard command-line tools, and deterministic threaded frames.

brinery's gzip, bz2 and xz files are concatenations of complete frames (gzip members, bz2 and
xz streams), so ``gzip -d``, ``bzip2 -d`` and ``xz -d`` decompress them to exactly the
uncompressed brinery stream; its .lzma files are one "LZMA alone" stream, which
``xz --format=lzma`` reads.  And files those tools make from a brinery stream load.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC
from brinery.testing import compressed_stream

TOOLS = {
    # codec: (decompress and print, test, compress to stdout)
    "gzip": (["gzip", "-dc"], ["gzip", "-t"], ["gzip", "-1", "-c"]),
    "bz2": (["bzip2", "-dc"], ["bzip2", "-t"], ["bzip2", "-1", "-c"]),
    "xz": (["xz", "-dc"], ["xz", "-t"], ["xz", "-0", "-T1", "-c"]),
    "lzma": (
        ["xz", "--format=lzma", "-dc"],
        ["xz", "--format=lzma", "-t"],
        ["xz", "--format=lzma", "-0", "-c"],
    ),
}
FRAME_SIZES = {"gzip": 4 << 20, "bz2": 4 << 20, "xz": 8 << 20}


@pytest.fixture(scope="module")
def big_value() -> dict[str, Any]:
    """About 12 MiB, mildly compressible (runs of 8 random bytes): several frames, quick codecs."""
    rng = np.random.default_rng(2024)
    return {
        "runs": np.repeat(rng.integers(0, 256, (12 << 20) // 8, dtype=np.uint8), 8),
        "floats": np.linspace(0, 1, 3000).reshape(100, 30),
        "text": "interop " * 1000,
    }


@pytest.fixture(scope="module")
def plain_stream(big_value: dict[str, Any]) -> Callable[[str], bytes]:
    """``plain_stream(codec)``: the uncompressed stream inside ``codec``'s files of
    ``big_value`` (deterministic): with brinery's checksums unless the codec checks its data, and
    saying it may hold shuffled records, as every compressed stream does by default."""
    streams = {
        checksums: _dump_bytes(big_value, False, threads=1, checksums=checksums, shuffle="byte")
        for checksums in (False, True)
    }
    return lambda codec: streams[not brinery.compressors()[codec].checks_integrity]


@pytest.fixture(scope="module")
def file_stream(
    plain_stream: Callable[[str], bytes], threaded_files: dict[str, Path]
) -> Callable[[str], bytes]:
    """``file_stream(codec)``: the uncompressed stream inside ``threaded_files[codec]``: the
    plain stream, its index (indexed: the default) listing the file's frames, each checked with
    the standard library (:func:`brinery.testing.compressed_stream`)."""
    decode = {
        "gzip": gzip.decompress,
        "bz2": bz2.decompress,
        "xz": lzma.decompress,
        "lzma": lzma.decompress,
    }

    def stream(codec: str) -> bytes:
        data = threaded_files[codec].read_bytes()
        framing = brinery.compressors()[codec].framing
        return compressed_stream(plain_stream(codec), data, decode[codec], framing)

    return stream


def _dump_bytes(
    value: Any,
    compress: Any,
    threads: int,
    checksums: bool | None = None,
    shuffle: bool | str = "auto",
) -> bytes:
    buffer = io.BytesIO()
    brinery.dump(
        value, buffer, compress=compress, threads=threads, checksums=checksums, shuffle=shuffle
    )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def threaded_files(
    big_value: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """``big_value`` dumped with threads=2 for each codec."""
    folder = tmp_path_factory.mktemp("interop")
    files = {}
    for codec, extension in [("gzip", ".gz"), ("bz2", ".bz2"), ("xz", ".xz"), ("lzma", ".lzma")]:
        path = folder / f"big.pkl{extension}"
        brinery.dump(big_value, path, threads=2)
        files[codec] = path
    return files


def _tool(command: list[str]) -> list[str]:
    if shutil.which(command[0]) is None:
        pytest.skip(f"the {command[0]} command-line tool is not installed")
    return command


def _check_big(loaded: Any, big_value: dict[str, Any]) -> None:
    assert set(loaded) == set(big_value)
    for key in ("runs", "floats"):
        assert loaded[key].dtype == big_value[key].dtype
        assert np.array_equal(loaded[key], big_value[key])
    assert loaded["text"] == big_value["text"]


@pytest.mark.parametrize("codec", list(TOOLS))
def test_tool_decompresses_brinery_file(codec, threaded_files, file_stream):
    """The tool decompresses brinery's multi-frame file to exactly the uncompressed stream."""
    result = subprocess.run(
        [*_tool(TOOLS[codec][0]), str(threaded_files[codec])], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout[:8] == STREAM_MAGIC
    assert result.stdout == file_stream(codec)


@pytest.mark.parametrize("codec", list(TOOLS))
def test_tool_integrity_check_passes(codec, threaded_files):
    """``gzip -t``, ``bzip2 -t``, ``xz -t`` accept brinery's files."""
    result = subprocess.run(
        [*_tool(TOOLS[codec][1]), str(threaded_files[codec])], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("codec", list(TOOLS))
def test_brinery_loads_what_the_tool_compressed(codec, plain_stream, big_value, tmp_path):
    """A brinery stream compressed by the tool (one frame, the tool's own settings) loads."""
    stream_path = tmp_path / "stream.pkl"
    stream_path.write_bytes(plain_stream(codec))
    result = subprocess.run(
        [*_tool(TOOLS[codec][2]), str(stream_path)], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    compressed = tmp_path / "by-tool.bin"
    compressed.write_bytes(result.stdout)
    _check_big(brinery.load(compressed), big_value)


def _frame_sizes(codec: str, data: bytes) -> list[int]:
    """Uncompressed size of each frame, using the standard library's codec on each one."""
    new = {
        "gzip": lambda: zlib.decompressobj(31),
        "bz2": bz2.BZ2Decompressor,
        "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    }[codec]
    sizes = []
    while data:
        decompressor = new()
        sizes.append(len(decompressor.decompress(data)))
        assert decompressor.eof
        data = decompressor.unused_data
    return sizes


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz"])
def test_frames_are_independent_and_bounded(codec, threaded_files, file_stream):
    """The file is several complete frames of at most the codec's frame size (4 MiB, xz 8 MiB),
    which together hold the stream; .lzma is a single stream."""
    sizes = _frame_sizes(codec, threaded_files[codec].read_bytes())
    assert len(sizes) >= 2
    assert max(sizes) <= FRAME_SIZES[codec]
    assert sum(sizes) == len(file_stream(codec))


def test_lzma_is_one_stream(threaded_files, plain_stream, file_stream):
    """.lzma has no room for frames: one LZMA-alone stream holds everything (its index, when
    indexed, lists no frame: it is the plain stream)."""
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    assert file_stream("lzma") == plain_stream("lzma")
    assert decompressor.decompress(threaded_files["lzma"].read_bytes()) == plain_stream("lzma")
    assert decompressor.eof
    assert decompressor.unused_data == b""


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz", "zlib"])
def test_threads_do_not_change_the_bytes(codec, big_value, threaded_files):
    """threads=1 and threads=2 (and a path or a file object) give identical compressed bytes,
    which load back on one thread or two."""
    single = _dump_bytes(big_value, codec, threads=1)
    if codec in threaded_files:
        threaded = threaded_files[codec].read_bytes()
    else:
        threaded = _dump_bytes(big_value, codec, threads=2)
    assert threaded == single
    for load_threads in (1, 2):
        _check_big(brinery.load(io.BytesIO(single), threads=load_threads), big_value)


@pytest.mark.parametrize(
    "command", [["gzip", "-dc"], ["zcat"], ["pigz", "-dc"], ["gzip", "-t"], ["pigz", "-t"]]
)
def test_gzip_tools_pass_the_locator_member_silently(command, threaded_files, file_stream):
    """An indexed gzip file ends with brinery's locator, an empty gzip member with an FEXTRA
    subfield ``BR``: the tools read it as the empty member it is, without a word, and so do
    Python's ``gzip.decompress`` and ``GzipFile``."""
    path = threaded_files["gzip"]
    data = path.read_bytes()
    locator = brinery.compressors()["gzip"].framing.locator
    assert locator is not None
    assert locator.parse(data[-locator.size :]) is not None
    result = subprocess.run([*_tool(command), str(path)], capture_output=True, check=False)
    assert (result.returncode, result.stderr) == (0, b"")
    if command[-1] != "-t":
        assert result.stdout == file_stream("gzip")
    assert gzip.decompress(data) == file_stream("gzip")
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as file:
        assert file.read() == file_stream("gzip")


def test_zlib_single_stream_readers_ignore_the_trailer(big_value):
    """No zlib reader looks past its first stream: an indexed zlib file's trailer (brinery's
    locator) changes nothing for them: ``zlib.decompress`` gives the first frame, as before."""
    data = _dump_bytes(big_value, "zlib", threads=1)
    locator = brinery.compressors()["zlib"].framing.locator
    assert locator is not None
    assert locator.parse(data[-locator.size :]) is not None
    decompressor = zlib.decompressobj()
    first = decompressor.decompress(data)
    assert decompressor.eof
    assert first[:8] == STREAM_MAGIC
    assert zlib.decompress(data) == first
