"""brinery-lzo: round trips at its levels, by name and by extension; the lzop file layout;
several objects.

The plugin writes the lzop file format around python-lzo: one header (magic 89 4C 5A 4F 00 0D
0A 1A 0A, versions, method, level, flags, mode, mtime, name, header checksum), then blocks of at
most 256 KiB of uncompressed data (uncompressed length, compressed length, CRC-32 of the
uncompressed data, CRC-32 of the compressed data unless stored, data; big-endian), then a zero
end marker.  Level 1 is LZO1X-1 (method 1), levels 2-9 LZO1X-999 (method 3).  brinery's 4 MiB
frames are runs of blocks under the one header.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC

lzo = pytest.importorskip("lzo")
brinery_lzo = pytest.importorskip("brinery_lzo", reason="brinery-lzo is not installed")

NAME = "lzo"
MAGIC = b"\x89LZO\x00\r\n\x1a\n"
LOWEST, DEFAULT, HIGHEST = 1, 1, 9
BLOCK_SIZE = 256 * 1024

F_ADLER32_D, F_ADLER32_C, F_CRC32_D, F_CRC32_C = 0x1, 0x2, 0x100, 0x200
F_H_CRC32, F_OS_UNIX = 0x1000, 0x03000000
HEADER = struct.Struct(">HHHBBIIIIB")  # version ... name length, after the magic


class Header(NamedTuple):
    version: int
    lib_version: int
    version_needed: int
    method: int
    level: int
    flags: int
    mode: int
    mtime_low: int
    mtime_high: int
    name: bytes
    size: int  # bytes the header takes, its checksum included


class Block(NamedTuple):
    start: int
    uncompressed: int
    compressed: int


def parse_header(data: bytes) -> Header:
    """The header of an lzop file (version >= 0.940), checking its checksum."""
    assert data.startswith(MAGIC)
    fields = HEADER.unpack_from(data, len(MAGIC))
    name_start = len(MAGIC) + HEADER.size
    name = data[name_start : name_start + fields[-1]]
    end = name_start + len(name)
    checksum = zlib.crc32 if fields[5] & F_H_CRC32 else zlib.adler32
    assert struct.unpack_from(">I", data, end)[0] == checksum(data[len(MAGIC) : end])
    return Header(*fields[:-1], name, end + 4)


def walk_blocks(data: bytes) -> tuple[Header, list[Block], bytes]:
    """The header, the blocks and the decompressed data of an lzop file, checking every
    checksum (with zlib and python-lzo, not the plugin) and that the end marker ends the file."""
    header = parse_header(data)
    position, blocks, output = header.size, [], []
    data_check = zlib.crc32 if header.flags & F_CRC32_D else zlib.adler32
    payload_check = zlib.crc32 if header.flags & F_CRC32_C else zlib.adler32
    has_data_check = header.flags & (F_CRC32_D | F_ADLER32_D)
    has_payload_check = header.flags & (F_CRC32_C | F_ADLER32_C)
    while True:
        (uncompressed,) = struct.unpack_from(">I", data, position)
        if uncompressed == 0:
            assert position + 4 == len(data), "data after the end marker"
            return header, blocks, b"".join(output)
        (compressed,) = struct.unpack_from(">I", data, position + 4)
        checks = position + 8
        payload_start = checks + 4 * bool(has_data_check)
        stored = compressed == uncompressed
        payload_start += 4 * bool(has_payload_check and not stored)
        payload = data[payload_start : payload_start + compressed]
        assert len(payload) == compressed
        block = payload if stored else lzo.decompress(payload, False, uncompressed)
        assert len(block) == uncompressed
        if has_data_check:
            assert struct.unpack_from(">I", data, checks)[0] == data_check(block)
        if has_payload_check and not stored:
            assert struct.unpack_from(">I", data, checks + 4)[0] == payload_check(payload)
        blocks.append(Block(position, uncompressed, compressed))
        output.append(block)
        position = payload_start + compressed


def test_the_plugin_registers_its_compressor() -> None:
    compressor = brinery.compressors()[NAME]
    assert isinstance(compressor, brinery_lzo.LzoCompressor)
    assert compressor.name == NAME
    assert compressor.magic == MAGIC
    assert compressor.extensions == (".lzo",)
    assert (compressor.levels.start, compressor.levels.stop - 1) == (LOWEST, HIGHEST)
    assert compressor.default_level == DEFAULT


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [LOWEST, 2, 5, 7, HIGHEST])
def test_round_trip_at_level(
    level: int, tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    path = tmp_path / "sample.bin"
    assert brinery.dump(original, path, compress=(NAME, level)) == [str(path)]
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    assert walk_blocks(data)[2] == dump_bytes(original, compress=False)
    assert_identical(brinery.load(path), original)
    assert_identical(brinery.load(io.BytesIO(data)), original)


@pytest.mark.parametrize(
    ("level", "method"), [(1, 1), (2, 3), (5, 3), (7, 3), (9, 3)], ids=lambda value: str(value)
)
def test_the_header_names_method_level_and_checksums(
    level: int, method: int, small_sample: Any, dump_bytes: Any
) -> None:
    data = dump_bytes(small_sample(), compress=(NAME, level))
    header, blocks, output = walk_blocks(data)
    assert header.version >= 0x0940  # a modern header: it has the level and version fields
    assert header.version_needed == 0x0940
    assert header.lib_version == lzo.LZO_VERSION
    assert (header.method, header.level) == (method, level)
    assert header.flags == F_CRC32_D | F_CRC32_C | F_OS_UNIX  # and the header's adler32
    assert header.mode == 0o100644
    assert (header.mtime_low, header.mtime_high, header.name) == (0, 0, b"")  # reproducible
    assert output == dump_bytes(small_sample(), compress=False)
    assert all(0 < block.compressed <= block.uncompressed <= BLOCK_SIZE for block in blocks)
    assert data.endswith(b"\x00\x00\x00\x00")


def test_levels_change_the_output(sample_object: Any, dump_bytes: Any) -> None:
    original = sample_object()
    sizes = {level: len(dump_bytes(original, compress=(NAME, level))) for level in (1, 9)}
    assert sizes[9] < sizes[1], sizes


def test_name_and_tuple_and_path_give_the_same_bytes(
    tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    by_name = dump_bytes(original, compress=NAME)
    assert by_name.startswith(MAGIC)
    assert dump_bytes(original, compress=(NAME, DEFAULT)) == by_name
    assert dump_bytes(original, compress=[NAME, DEFAULT]) == by_name
    assert dump_bytes(original, compress=NAME, threads=1) == by_name
    path = tmp_path / "sample.bin"
    brinery.dump(original, path, compress=NAME)
    assert path.read_bytes() == by_name
    assert_identical(brinery.load(io.BytesIO(by_name)), original)
    assert_identical(brinery.load(io.BytesIO(by_name), threads=1), original)


@pytest.mark.parametrize("file_name", ["model.pkl.lzo", "X.PKL.LZO", "Model.Lzo", "a.b.lzo"])
def test_extension_selects_lzo_at_its_default_level(
    file_name: str, tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    path = tmp_path / file_name
    assert brinery.dump(original, path) == [str(path)]
    assert path.read_bytes() == dump_bytes(original, compress=(NAME, DEFAULT))
    assert_identical(brinery.load(path), original)


def test_compress_argument_overrides_the_extension(tmp_path: Path, dump_bytes: Any) -> None:
    value = {"a": np.arange(10)}
    brinery.dump(value, tmp_path / "plain.lzo", compress=False)
    assert (tmp_path / "plain.lzo").read_bytes().startswith(STREAM_MAGIC)
    brinery.dump(value, tmp_path / "other.bz2", compress=NAME)
    assert (tmp_path / "other.bz2").read_bytes() == dump_bytes(value, compress=NAME)
    # Loading looks at the magic number only, never at the name.
    assert brinery.load(tmp_path / "other.bz2")["a"].tolist() == list(range(10))


@pytest.mark.parametrize("level", [LOWEST - 1, HIGHEST + 1, -1, 2.5, "3", True, None])
def test_invalid_level_is_refused_naming_the_range(level: Any, tmp_path: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match=r"from 1 to 9") as caught:
        brinery.dump({"a": 1}, io.BytesIO(), compress=(NAME, level))
    assert NAME in str(caught.value)
    with pytest.raises(brinery.InvalidArgumentError, match=r"from 1 to 9"):
        brinery.dump({"a": 1}, tmp_path / "x.lzo", compress=(NAME, level))
    assert list(tmp_path.iterdir()) == [], "a refused dump left a file behind"


# -- many frames ----------------------------------------------------------------------------------


def big_object() -> dict[str, Any]:
    """About 20 MB, mildly compressible: repeated random blocks, a range, small objects."""
    rng = np.random.default_rng(5)
    block = rng.integers(0, 40, size=1 << 16, dtype=np.uint8)
    return {
        "tiles": np.tile(block, 240).reshape(-1, 1024),  # 15.7 MB
        "range": np.arange(600_000, dtype=np.int64),  # 4.8 MB
        "words": [f"word{i}" for i in range(20_000)],
    }


@pytest.fixture(scope="module")
def big() -> dict[str, Any]:
    original = big_object()
    files = {}
    for threads in (1, 2):
        buffer = io.BytesIO()
        brinery.dump(original, buffer, compress=NAME, threads=threads)
        files[threads] = buffer.getvalue()
    raw = io.BytesIO()
    brinery.dump(original, raw, compress=False)
    return {"object": original, "files": files, "raw": raw.getvalue()}


def test_many_frames_do_not_depend_on_threads(big: dict[str, Any]) -> None:
    assert big["files"][1] == big["files"][2]


@pytest.mark.parametrize("threads", [1, 2, None])
def test_many_frames_load_back(
    threads: int | None, big: dict[str, Any], assert_identical: Any
) -> None:
    source = io.BytesIO(big["files"][2])
    assert_identical(brinery.load(source, threads=threads), big["object"])
    assert source.tell() == len(big["files"][2])


def test_many_frames_are_blocks_under_one_header(big: dict[str, Any]) -> None:
    data = big["files"][1]
    header, blocks, output = walk_blocks(data)  # one header, one end marker, at the very end
    assert output == big["raw"]
    assert data.count(MAGIC) == 1
    assert (header.method, header.level) == (1, 1)
    assert len(blocks) >= len(big["raw"]) // BLOCK_SIZE
    assert all(0 < block.uncompressed <= BLOCK_SIZE for block in blocks)
    assert all(block.compressed <= block.uncompressed for block in blocks)
    # The random tiles do not compress to less: such blocks are stored, without a checksum
    # of their compressed data; the range compresses.
    assert any(block.compressed == block.uncompressed for block in blocks)
    assert any(block.compressed < block.uncompressed for block in blocks)


# -- several objects in one stream ----------------------------------------------------------------


def test_objects_dumped_one_after_another_load_one_after_another(
    sample_object: Any, small_sample: Any, assert_identical: Any
) -> None:
    objects = [sample_object(), small_sample(), {"after": "plain"}, big_object()["range"], "end"]
    arguments = [
        {"compress": NAME},
        {"compress": (NAME, HIGHEST)},
        {"compress": False},
        {"compress": (NAME, 1)},
        {"compress": NAME},
    ]
    buffer = io.BytesIO()
    for value, kwargs in zip(objects, arguments, strict=True):
        brinery.dump(value, buffer, **kwargs)
    size = buffer.tell()
    buffer.seek(0)
    for value in objects:
        assert_identical(brinery.load(buffer), value)
    assert buffer.tell() == size
    with pytest.raises(brinery.UnknownFormatError):
        brinery.load(buffer)  # nothing left


@pytest.mark.parametrize("threads", [1, 2])
def test_objects_load_one_after_another_from_a_pipe(
    threads: int, sample_object: Any, pipe_roundtrip: Any, assert_identical: Any
) -> None:
    many_frames = np.arange(1_300_000, dtype=np.int64)  # 10.4 MB: three frames
    objects = [sample_object(), many_frames, {"last": [1, 2, 3]}, {"uncompressed": True}]
    arguments = [{"compress": NAME}, {"compress": (NAME, 1)}, {"compress": NAME}, {}]
    loaded = pipe_roundtrip(objects, arguments, threads=threads)
    for got, want in zip(loaded, objects, strict=True):
        assert_identical(got, want)
