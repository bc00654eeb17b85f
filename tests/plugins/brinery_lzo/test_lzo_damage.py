"""brinery-lzo: damaged files raise brinery's errors, never python-lzo's or a wrong object.

Every truncation and every one-byte flip (xor 0xFF, xor 0x01) of a small file is loaded, from
a BytesIO and from a path.  An lzop file as brinery writes it has a checksum over its header and
CRC-32s of every block's compressed and uncompressed data, so no flip goes unnoticed (seen: 0 of
4058 loaded, for both masks), and the tests say so.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

import brinery

lzo = pytest.importorskip("lzo")
pytest.importorskip("brinery_lzo", reason="brinery-lzo is not installed")

NAME = "lzo"
MAGIC = b"\x89LZO\x00\r\n\x1a\n"
#: Where the header's fields are (after the magic): versions, method, level, flags, ...
METHOD, LEVEL, FLAGS = 15, 16, 17
HEADER_SIZE = 38  # with no name, its checksum included
F_ADLER32_D, F_H_EXTRA_FIELD, F_MULTIPART, F_H_FILTER = 0x1, 0x40, 0x400, 0x800
F_CRC32_D, F_CRC32_C, F_OS_UNIX = 0x100, 0x200, 0x03000000


def with_header_checksum(data: bytes) -> bytes:
    """``data`` with the (adler32) header checksum recomputed, for a header with no name."""
    checksum = struct.pack(">I", zlib.adler32(data[len(MAGIC) : HEADER_SIZE - 4]))
    return data[: HEADER_SIZE - 4] + checksum + data[HEADER_SIZE:]


@pytest.fixture
def small_file(small_sample: Any, dump_bytes: Any) -> bytes:
    data = dump_bytes(small_sample(), compress=NAME)
    assert data.startswith(MAGIC)
    assert 200 < len(data) < 4096 + 512
    assert data[HEADER_SIZE - 5] == 0  # no name: the header is HEADER_SIZE bytes
    return data


def test_empty_data_is_an_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "empty.lzo").write_bytes(b"")
    for source in (io.BytesIO(b""), tmp_path / "empty.lzo"):
        with pytest.raises(brinery.UnknownFormatError):
            brinery.load(source)


def test_every_truncation_is_reported(small_file: bytes, small_sample: Any, damage: Any) -> None:
    tally = damage.truncations(small_file, small_sample(), range(len(MAGIC), len(small_file)))
    assert tally.violations == [], tally.summary()
    assert tally.identical == []
    assert sum(tally.raised.values()) == tally.loads == 2 * (len(small_file) - len(MAGIC))


def test_truncation_inside_the_magic_number_is_reported(
    small_file: bytes, small_sample: Any, damage: Any
) -> None:
    # 1 to 8 bytes of the 9-byte magic: the data ends before anything could be recognised.
    tally = damage.truncations(small_file, small_sample(), range(1, len(MAGIC)))
    assert tally.violations == [], tally.summary()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 12])
def test_truncation_inside_the_end_marker_is_reported(
    count: int, small_file: bytes, tmp_path: Path
) -> None:
    assert small_file.endswith(b"\x00\x00\x00\x00")
    (tmp_path / "cut.lzo").write_bytes(small_file[:-count])
    for source in (io.BytesIO(small_file[:-count]), tmp_path / "cut.lzo"):
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(source)


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flipped_byte_is_detected(
    mask: int, small_file: bytes, small_sample: Any, damage: Any
) -> None:
    tally = damage.flips(small_file, small_sample(), mask, len(MAGIC))
    assert tally.violations == [], tally.summary()
    assert tally.identical == [], tally.summary()  # every byte is under a checksum
    assert sum(tally.raised.values()) == tally.loads == 2 * len(small_file)


@pytest.mark.parametrize(
    "trailer",
    [b"\x00", b"garbage!", "stream", "empty lzop file"],
    ids=["zero", "text", "second-stream", "empty-lzop-file"],
)
def test_data_after_the_file_is_corrupt(
    trailer: Any, small_file: bytes, small_sample: Any, tmp_path: Path, assert_identical: Any
) -> None:
    if trailer == "stream":
        trailer = small_file
    elif trailer == "empty lzop file":
        trailer = small_file[:HEADER_SIZE] + b"\x00\x00\x00\x00"
    path = tmp_path / "trailing.lzo"
    path.write_bytes(small_file + trailer)
    with pytest.raises(brinery.CorruptFileError, match="after the end") as caught:
        brinery.load(path)
    assert type(caught.value) is brinery.CorruptFileError
    # From a file object, the stream ends where it ends and what follows is the caller's.
    source = io.BytesIO(small_file + trailer)
    assert_identical(brinery.load(source), small_sample())
    assert source.tell() == len(small_file)


# -- headers and blocks that are valid but unusual or unsupported ---------------------------------


@pytest.mark.parametrize(
    "change",
    ["method 4", "method 0", "filter", "multipart", "extra field"],
)
def test_unsupported_headers_are_refused(change: str, small_file: bytes) -> None:
    """Headers with a correct checksum that ask for what the plugin does not read."""
    data = bytearray(small_file)
    if change.startswith("method"):
        data[METHOD] = int(change.split()[1])
    else:
        bit = {"filter": F_H_FILTER, "multipart": F_MULTIPART, "extra field": F_H_EXTRA_FIELD}
        flags = struct.unpack_from(">I", data, FLAGS)[0] | bit[change]
        struct.pack_into(">I", data, FLAGS, flags)
    with pytest.raises(brinery.CorruptFileError) as caught:
        brinery.load(io.BytesIO(with_header_checksum(bytes(data))))
    assert type(caught.value.__cause__).__name__ == "LzopError"


@pytest.mark.parametrize(
    ("uncompressed", "compressed"),
    [(64 * 1024 * 1024 + 1, 100), ((1 << 32) - 1, 100), (100, 101), (1000, 1 << 31)],
    ids=["over-64MiB", "4GiB", "compressed-larger", "compressed-huge"],
)
def test_impossible_block_lengths_are_refused(
    uncompressed: int, compressed: int, small_file: bytes
) -> None:
    data = bytearray(small_file)
    struct.pack_into(">II", data, HEADER_SIZE, uncompressed, compressed)
    with pytest.raises(brinery.CorruptFileError) as caught:
        brinery.load(io.BytesIO(bytes(data)))
    assert type(caught.value) is brinery.CorruptFileError, caught.value


def test_blocks_without_checksums_load(
    small_sample: Any, dump_bytes: Any, assert_identical: Any
) -> None:
    """lzop's -F writes no block checksums: still a valid file, rebuilt here from brinery's."""
    stream = dump_bytes(small_sample(), compress=False)
    data = dump_bytes(small_sample(), compress=NAME)
    header = bytearray(data[:HEADER_SIZE])
    struct.pack_into(">I", header, FLAGS, F_OS_UNIX)
    blocks = []
    for start in range(0, len(stream), 256 * 1024):
        block = stream[start : start + 256 * 1024]
        packed = lzo.compress(block, 1, False)
        payload = packed if len(packed) < len(block) else block
        blocks.append(struct.pack(">II", len(block), len(payload)) + payload)
    rebuilt = with_header_checksum(bytes(header)) + b"".join(blocks) + b"\x00\x00\x00\x00"
    assert_identical(brinery.load(io.BytesIO(rebuilt)), small_sample())
    # Without checksums, damage in the compressed data is still caught by the codec or brinery.
    damaged = bytearray(rebuilt)
    damaged[HEADER_SIZE + 8] ^= 0xFF
    with pytest.raises(brinery.BrineryError):
        brinery.load(io.BytesIO(bytes(damaged)))


# -- many small frames ----------------------------------------------------------------------------
#
# With the compressor's frame_size lowered to 1 KiB, brinery's frames are runs of blocks of at
# most 1 KiB under the one header: the loops then cover many block boundaries.  (lzo has no
# frame hints: frames are read one after another whatever ``threads`` says.)

SMALL_FRAMES = 1024


@pytest.fixture
def blocky_file(monkeypatch: pytest.MonkeyPatch, framed_sample: Any, dump_bytes: Any) -> bytes:
    monkeypatch.setattr(brinery.compressors()[NAME], "frame_size", SMALL_FRAMES)
    data = dump_bytes(framed_sample(), compress=NAME)
    assert data.count(MAGIC) == 1
    assert len(data) < 1500
    return data


def test_many_small_frames_load(
    blocky_file: bytes, framed_sample: Any, assert_identical: Any
) -> None:
    source = io.BytesIO(blocky_file)
    assert_identical(brinery.load(source), framed_sample())
    assert source.tell() == len(blocky_file)


def test_every_truncation_of_many_small_frames_is_reported(
    blocky_file: bytes, framed_sample: Any, damage: Any
) -> None:
    tally = damage.truncations(blocky_file, framed_sample(), range(1, len(blocky_file)))
    assert tally.violations == [], tally.summary()
    assert tally.identical == []


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flip_in_many_small_frames_is_detected(
    mask: int, blocky_file: bytes, framed_sample: Any, damage: Any
) -> None:
    tally = damage.flips(blocky_file, framed_sample(), mask, len(MAGIC))
    assert tally.violations == [], tally.summary()
    assert tally.identical == [], tally.summary()
