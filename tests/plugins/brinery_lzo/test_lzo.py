"""brinery-lzo: the plugins' contract (``brinery.testing.CodecContract``), and what only lzo has:
the lzop file layout, its header fields, its blocks.

The plugin writes the lzop file format around python-lzo: one header (magic 89 4C 5A 4F 00 0D
0A 1A 0A, versions, method, level, flags, mode, mtime, name, header checksum), then blocks of at
most 256 KiB of uncompressed data (uncompressed length, compressed length, CRC-32 of the
uncompressed data, CRC-32 of the compressed data unless stored, data; big-endian), then a zero
end marker.  Level 1 is LZO1X-1 (method 1), levels 2-9 LZO1X-999 (method 3).  brinery's 4 MiB
frames are runs of blocks under the one header (lzo has no frame hints: frames are read one
after another whatever ``threads`` says).

An lzop file as brinery writes it has a checksum over its header and CRC-32s of every block's
compressed and uncompressed data, so no flip of a byte goes unnoticed (seen: 0 of 4058 loaded,
for both masks), and the tests say so.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest

import brinery
from brinery.testing import (
    BigFiles,
    Codec,
    CodecContract,
    assert_same,
    compressed_stream,
    dumps,
    small_sample,
)

lzo = pytest.importorskip("lzo")
brinery_lzo = pytest.importorskip("brinery_lzo", reason="brinery-lzo is not installed")
lzop_format = pytest.importorskip("brinery_lzo.lzop_format")

MAGIC = b"\x89LZO\x00\r\n\x1a\n"
BLOCK_SIZE = 256 * 1024
HEADER = struct.Struct(">HHHBBIIIIB")  # version ... name length, after the magic
#: Where the header's fields are (after the magic): versions, method, level, flags, ...
METHOD, LEVEL, FLAGS = 15, 16, 17
HEADER_SIZE = 38  # with no name, its checksum included
F_ADLER32_D, F_ADLER32_C, F_CRC32_D, F_CRC32_C = 0x1, 0x2, 0x100, 0x200
F_H_EXTRA_FIELD, F_MULTIPART, F_H_FILTER, F_H_CRC32 = 0x40, 0x400, 0x800, 0x1000
F_OS_UNIX = 0x03000000
CHECKSUM_FLAGS = F_ADLER32_D | F_ADLER32_C | F_CRC32_D | F_CRC32_C | F_H_CRC32


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


def with_header_checksum(data: bytes) -> bytes:
    """``data`` with the (adler32) header checksum recomputed, for a header with no name."""
    checksum = struct.pack(">I", zlib.adler32(data[len(MAGIC) : HEADER_SIZE - 4]))
    return data[: HEADER_SIZE - 4] + checksum + data[HEADER_SIZE:]


#: lzop option(s): (the options, method, level, checksum flags the header must then show).
TOOL_VARIANTS = {
    "default": (["-c"], 1, 5, F_ADLER32_D),
    "fast": (["-1", "-c"], 2, 1, F_ADLER32_D),  # LZO1X-1(15)
    "best": (["-9", "-c"], 3, 9, F_ADLER32_D),  # LZO1X-999
    "crc32": (["--crc32", "-c"], 1, 5, F_CRC32_D | F_H_CRC32),
    "best-crc32": (["-9", "--crc32", "-c"], 3, 9, F_CRC32_D | F_H_CRC32),
    "no-checksum": (["-F", "-c"], 1, 5, 0),
}


#: What ``lzop -l`` names the method of each tool case (``Lzo.tool_cases``).
LISTED_METHODS = {
    "lowest": "LZO1X-1",
    "level-5": "LZO1X-999/5",
    "highest": "LZO1X-999/9",
    "many-frames": "LZO1X-1",
}


class Lzo(Codec):
    name = "lzo"
    distribution = "brinery-lzo"
    version = "0.1.0"
    compressor_class = brinery_lzo.LzoCompressor
    magic = MAGIC
    extensions = (".lzo",)
    lowest, default, highest = 1, 1, 9
    checks_integrity = True  # CRC-32s of every block
    plugin_selections = ("brinery-lzo", " Brinery_LZO ,")

    round_trip_levels = (1, 2, 5, 7, 9)
    invalid_levels = (0, 10, -1, 2.5, "3", True, None)
    extension_file_names = ("model.pkl.lzo", "X.PKL.LZO", "Model.Lzo", "a.b.lzo")
    faster_and_smaller = (1, 9)
    sequence_levels = (9, 1)
    pipe_level = 1

    small_file_limit = 4096 + 512
    closing_cuts = (1, 2, 3, 4, 5, 12)  # into the end marker, and the last block
    harmless_flips = harmless_flips_per_frame = 0  # every byte is under a checksum
    small_frames_threads = (None,)

    tool = "lzop"
    tool_cases: ClassVar = {
        "lowest": ("sample", 1),
        "level-5": ("sample", 5),
        "highest": ("small", 9),
        "many-frames": ("many frames", None),
    }
    tool_variants: ClassVar = {variant: options for variant, (options, *_) in TOOL_VARIANTS.items()}
    # From standard input lzop stores no name; from a file, its name, mode and mtime.
    tool_inputs = ("stdin", "file")
    concatenation_options = (["-c"], ["-9", "-c"])  # whole lzop files, at two levels
    magic_once_per_file = True
    tool_cuts = (1, 4, 5, 8, 100)
    tool_cut_margin = 50

    def decode(self, data: bytes) -> bytes:
        return walk_blocks(data)[2]

    def check_small_file(self, data: bytes) -> None:
        super().check_small_file(data)
        assert data[HEADER_SIZE - 5] == 0  # no name: the header is HEADER_SIZE bytes

    def check_closing_bytes(self, data: bytes) -> None:
        assert data.endswith(b"\x00\x00\x00\x00")

    def empty_file(self, data: bytes) -> bytes:
        return data[:HEADER_SIZE] + b"\x00\x00\x00\x00"

    def check_tool_output(self, data: bytes, variant: str, tool_input: str, stream: bytes) -> None:
        _, method, level, checksums = TOOL_VARIANTS[variant]
        header = parse_header(data)
        assert (header.method, header.level) == (method, level)
        assert header.flags & CHECKSUM_FLAGS == checksums
        assert header.name == (b"" if tool_input == "stdin" else b"stream.bin")

    def tool_damage_offset(self, size: int) -> int:
        return size // 2  # in a block's data, under its adler32

    def check_tool_listing(self, tool: str, path: Path, case: str, stream: bytes) -> None:
        listing = subprocess.run(
            [tool, "-l", str(path)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        row = listing.splitlines()[1].split()
        assert row[0] == LISTED_METHODS[case], listing
        assert int(row[2]) == len(stream), listing  # then what the blocks' data take
        assert int(row[1]) < path.stat().st_size, listing


class TestLzo(CodecContract):
    codec = Lzo()

    # -- the lzop file layout ----------------------------------------------------------------

    def test_many_frames_are_blocks_under_one_header(self, big: BigFiles) -> None:
        data = big.files[1]
        header, blocks, output = walk_blocks(data)  # one header, one end marker, at the end
        assert output == big.raw
        assert data.count(MAGIC) == 1
        assert (header.method, header.level) == (1, 1)
        assert len(blocks) >= len(big.raw) // BLOCK_SIZE
        assert all(0 < block.uncompressed <= BLOCK_SIZE for block in blocks)
        assert all(block.compressed <= block.uncompressed for block in blocks)
        # The random tiles do not compress to less: such blocks are stored, without a checksum
        # of their compressed data; the range compresses.
        assert any(block.compressed == block.uncompressed for block in blocks)
        assert any(block.compressed < block.uncompressed for block in blocks)

    # -- headers and blocks that are valid but unusual or unsupported ------------------------

    @pytest.mark.parametrize(
        "change",
        ["method 4", "method 0", "filter", "multipart", "extra field"],
    )
    def test_unsupported_headers_are_refused(self, change: str, small_file: bytes) -> None:
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
        [
            (64 * 1024 * 1024 + 1, 100),
            ((1 << 32) - 1, 100),
            (100, 101),
            (1000, 1 << 31),
            (1000 * 256 + 257, 1000),
        ],
        ids=["over-64MiB", "4GiB", "compressed-larger", "compressed-huge", "over-LZO-expansion"],
    )
    def test_impossible_block_lengths_are_refused(
        self, uncompressed: int, compressed: int, small_file: bytes
    ) -> None:
        data = bytearray(small_file)
        struct.pack_into(">II", data, HEADER_SIZE, uncompressed, compressed)
        with pytest.raises(brinery.CorruptFileError) as caught:
            brinery.load(io.BytesIO(bytes(data)))
        assert type(caught.value) is brinery.CorruptFileError, caught.value


# -- the lzop file layout -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "method"), [(1, 1), (2, 3), (5, 3), (7, 3), (9, 3)], ids=lambda value: str(value)
)
def test_the_header_names_method_level_and_checksums(level: int, method: int) -> None:
    data = dumps(small_sample(), compress=("lzo", level))
    header, blocks, output = walk_blocks(data)
    assert header.version >= 0x0940  # a modern header: it has the level and version fields
    assert header.version_needed == 0x0940
    assert header.lib_version == lzo.LZO_VERSION
    assert (header.method, header.level) == (method, level)
    assert header.flags == F_CRC32_D | F_CRC32_C | F_OS_UNIX  # and the header's adler32
    assert header.mode == 0o100644
    assert (header.mtime_low, header.mtime_high, header.name) == (0, 0, b"")  # reproducible
    # (compressed, arrays of numbers are byte-shuffled by default; the index lists the frames)
    plain = dumps(small_sample(), compress=False, checksums=False, shuffle="byte")
    compressor = brinery.compressors()["lzo"]
    assert output == compressed_stream(plain, data, Lzo().decode, compressor.framing)
    assert all(0 < block.compressed <= block.uncompressed <= BLOCK_SIZE for block in blocks)
    assert data.endswith(b"\x00\x00\x00\x00")


# -- blocks that are valid but unusual ------------------------------------------------------------


def test_a_block_of_the_largest_size_and_expansion_loads() -> None:
    """A 64 MiB block of zeros, which LZO1X-1 packs into 1/225th: within what a block may
    declare (at most 256 times its compressed size), which bounds what a block allocates."""
    zeros = bytes(64 * 1024 * 1024)
    packed = lzo.compress(zeros, 1, False)
    assert len(zeros) > 200 * len(packed)
    header = lzop_format.file_header(1)
    flags = struct.unpack_from(">I", header, FLAGS)[0] & ~(F_CRC32_D | F_CRC32_C)
    header = with_header_checksum(header[:FLAGS] + struct.pack(">I", flags) + header[FLAGS + 4 :])
    data = header + struct.pack(">II", len(zeros), len(packed)) + packed + b"\x00\x00\x00\x00"
    decompressor = lzop_format.LzopDecompressor()
    assert decompressor.decompress(data, 1 << 20) == bytes(1 << 20)
    assert decompressor.decompress(b"", -1) == bytes(len(zeros) - (1 << 20))
    assert decompressor.eof


def test_blocks_without_checksums_load() -> None:
    """lzop's -F writes no block checksums: still a valid file, rebuilt here from brinery's."""
    stream = dumps(small_sample(), compress=False, checksums=False)
    data = dumps(small_sample(), compress="lzo")
    header = bytearray(data[:HEADER_SIZE])
    struct.pack_into(">I", header, FLAGS, F_OS_UNIX)
    blocks = []
    for start in range(0, len(stream), BLOCK_SIZE):
        block = stream[start : start + BLOCK_SIZE]
        packed = lzo.compress(block, 1, False)
        payload = packed if len(packed) < len(block) else block
        blocks.append(struct.pack(">II", len(block), len(payload)) + payload)
    rebuilt = with_header_checksum(bytes(header)) + b"".join(blocks) + b"\x00\x00\x00\x00"
    assert_same(brinery.load(io.BytesIO(rebuilt)), small_sample())
    # Without checksums, damage in the compressed data is still caught by the codec or brinery.
    damaged = bytearray(rebuilt)
    damaged[HEADER_SIZE + 8] ^= 0xFF
    with pytest.raises(brinery.BrineryError):
        brinery.load(io.BytesIO(bytes(damaged)))
