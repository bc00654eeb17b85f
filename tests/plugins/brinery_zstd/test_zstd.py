"""brinery-zstd: the plugins' contract (``brinery.testing.HintedFramesContract``), and what only
zstd has.

The plugin writes Zstandard frames (magic 28 B5 2F FD) with their content checksum, one per
4 MiB of the brinery stream, with brinery's frame hints in skippable frames between them.

A flip of one byte may be harmless: the zstd frame then decodes to the very same bytes
(python-zstandard agrees).  Seen with zstd 1.5: in the small file, xor 0xFF: none; xor 0x01: 2
of 2359 (the frame header's window descriptor, byte 5, which only asks for a larger window; and
one bit of the block's sequence bitstream that decodes to the same data).  In the
many-small-frames file, also a damaged hint tag or skippable magic number (the skippable frame
is then skipped, as zstd does, and the next frame read without its hint): xor 0xFF: 16 (4 tags
of 4 bytes), xor 0x01: 26 (the tags, the hints' magic numbers, the 5 window descriptors, 1 in a
sequence bitstream).  Those are unindexed files (``index=False``).  Indexed (the default), a
file has one frame more, which the index record starts, with its hint: in the small file (2590
bytes), xor 0xFF: 4 (the hint's tag), xor 0x01: 5 (the tag, the hint's magic number); in the
many-small-frames file (6 frames), xor 0xFF: 20 (5 tags), xor 0x01: 26.  Flips inside the seek
table that ends an indexed file are held to the format instead (``CodecContract.check_table``).
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import brinery
from brinery.testing import (
    HintedFramesCodec,
    HintedFramesContract,
    assert_same,
    decompress_in_pieces,
)

zstandard = pytest.importorskip("zstandard")
brinery_zstd = pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")


class Zstd(HintedFramesCodec):
    name = "zstd"
    distribution = "brinery-zstd"
    version = "0.1.0"
    compressor_class = brinery_zstd.ZstdCompressor
    magic = b"\x28\xb5\x2f\xfd"
    extensions = (".zst", ".zstd")
    lowest, default, highest = -7, 3, 22
    checks_integrity = True  # every frame's content checksum
    plugin_selections = ("brinery-zstd", " Brinery_Zstd ,", "brinery.zstd")

    round_trip_levels = (-7, -1, 1, 3, 9, 19, 22)
    invalid_levels = (-8, 23, 100, -100, 2.5, "3", True, None)
    extension_file_names = ("model.pkl.zst", "X.PKL.ZST", "model.zstd", "Model.Pkl.ZSTD", "a.b.zst")
    faster_and_smaller = (-7, 19)
    sequence_levels = (19, -7)
    pipe_level = 1

    closing_cuts = (1, 2, 3, 4)  # the last 4 bytes are the frame's content checksum
    harmless_flips = 4
    harmless_flips_per_frame = 8
    small_frames_threads = (1, 2)

    tool = "zstd"
    tool_cases: ClassVar = {
        "lowest": ("sample", -7),
        "default": ("sample", None),
        "highest": ("small", 22),
        "many-frames": ("many frames", None),
    }
    tool_variants: ClassVar = {
        "default": ["-c"],
        "level-19": ["-19", "-c"],
        "level-1": ["-1", "-c"],
        "fast": ["--fast=5", "-c"],
        "no-check": ["--no-check", "-c"],
        "long": ["--long=24", "-c"],
    }
    tool_inputs = ("stdin",)
    # Of a file (not a pipe), zstd writes the content size in the frame header: see
    # test_a_tool_file_with_its_content_size_loads.
    damaged_tool_file = ("file", ["-c", "--format=zstd"])
    tool_cuts = (1, 2, 3, 4, 5, 100)  # inside its checksum (the last 4 bytes) or anywhere
    tool_cut_margin = 20
    checksum_message = "checksum"

    def decode(self, data: bytes) -> bytes | None:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(data), read_across_frames=True
            )
            return reader.read()
        except zstandard.ZstdError:
            return None

    def checksum_error(self) -> type[BaseException]:
        return zstandard.ZstdError

    def check_closing_bytes(self, data: bytes) -> None:
        assert zstandard.get_frame_parameters(data[:18]).has_checksum

    def empty_file(self, data: bytes) -> bytes:
        return zstandard.ZstdCompressor(write_checksum=True).compress(b"")

    def check_tool_output(self, data: bytes, variant: str, tool_input: str, stream: bytes) -> None:
        parameters = zstandard.get_frame_parameters(data[:18])
        assert parameters.has_checksum == (variant != "no-check")

    def new_decompressor(self) -> Any:
        return zstandard.ZstdDecompressor().decompressobj()

    def has_checksum(self, frame: bytes) -> bool:
        return bool(zstandard.get_frame_parameters(frame[:18]).has_checksum)

    def content_size(self, frame: bytes) -> int | None:
        size = zstandard.frame_content_size(frame[:18])
        return None if size == -1 else int(size)

    def check_frame_listing(self, tool: str, path: Path, data_frames: int, skippable: int) -> None:
        listing = subprocess.run(
            [tool, "-l", "-v", str(path)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        found = re.search(r"Zstandard Frames:\s*(\d+)", listing)
        found_skips = re.search(r"Skippable Frames:\s*(\d+)", listing)
        assert found, listing
        assert found_skips, listing
        assert (int(found.group(1)), int(found_skips.group(1))) == (data_frames, skippable), listing
        assert "XXH64" in listing  # the content checksum


class TestZstd(HintedFramesContract):
    codec = Zstd()

    def test_a_tool_file_with_its_content_size_loads(
        self,
        sample_stream: tuple[dict[str, Any], bytes],
        compress_with_tool: Callable[..., bytes],
    ) -> None:
        """``zstd -c --format=zstd`` of a file (not a pipe) writes the content size in the
        frame header (test_a_tool_file_cut_anywhere_or_damaged_is_detected cuts and damages
        this file)."""
        original, stream = sample_stream
        tool_input, options = self.codec.damaged_tool_file
        data = compress_with_tool(options, stream, tool_input)
        parameters = zstandard.get_frame_parameters(data[:18])
        assert parameters.content_size == len(stream)
        assert parameters.has_checksum
        assert_same(brinery.load(io.BytesIO(data)), original)


# -- streaming decompression bounded per call, whatever the frame holds --------------------------

_RLE_BLOCK_MAX = 128 << 10


def _rle_bomb(blocks: int, byte: bytes = b"\x80") -> bytes:
    """A zstd frame of ``blocks`` RLE blocks of 128 KiB each (a 3-byte header and the byte):
    4 bytes of input make 128 KiB.  Frame header: no content size, a 128 KiB window."""
    header = (_RLE_BLOCK_MAX << 3) | (1 << 1)  # Block_Size, Block_Type 1 (RLE), not last
    block = header.to_bytes(3, "little") + byte
    last = (header | 1).to_bytes(3, "little") + byte
    return b"\x28\xb5\x2f\xfd\x00\x38" + block * (blocks - 1) + last


def test_an_rle_bomb_is_stopped_by_max_bytes_in_bounded_memory(load_limited: Any) -> None:
    """128 KB of RLE blocks make 4 GiB: one call of zstandard's decompressobj returned them all
    (4.1 GB with max_bytes=1000).  Decompression now stops at byte 1001."""
    bomb = _rle_bomb(32768)
    assert len(bomb) == 131078
    load = load_limited(bomb, max_bytes=1000)
    assert load.error == "SizeLimitError", load
    assert load.message == (
        "the zstd data decompresses to more than max_bytes=1000 bytes (at least 1001, in frame "
        "1, which starts at byte 0 of the file)"
    )
    assert load.grew < 16 << 20, load
    unlimited = load_limited(bomb)
    assert unlimited.error == "UnknownFormatError", unlimited
    assert unlimited.grew < 16 << 20, unlimited


def _decompress_all(
    data: bytes, max_length: int, piece: int, decompressor: Any = None
) -> tuple[bytes, bytes, int]:
    """Feed ``data`` ``piece`` bytes at a time as the core does, asking ``max_length`` bytes per
    call: the output, the input left after the frame, and the most one call returned."""
    decompressor = decompressor or brinery_zstd.FrameDecompressor()
    streamed = decompress_in_pieces(decompressor, data, piece, max_length)
    assert decompressor.eof, "the frame was cut"
    return streamed.output, streamed.left, streamed.most


@pytest.mark.parametrize("max_length", [1, 1000, 1 << 16, 1 << 20])
def test_every_call_returns_at_most_max_length_and_holds_one_block_more(
    max_length: int,
) -> None:
    """128 MiB of RLE blocks, read in calls of ``max_length``: no call returns more, nor makes
    (and so allocates) more than one block beyond it."""
    bomb = _rle_bomb(1024)
    decompressor = brinery_zstd.FrameDecompressor()
    tracemalloc.start()
    try:
        chunk = decompressor.decompress(bomb, max_length)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert chunk == b"\x80" * max_length
    assert peak < max_length + 3 * _RLE_BLOCK_MAX, peak
    if max_length == 1 << 20:
        output, after, most = _decompress_all(bomb + b"after", max_length, len(bomb))
        assert (len(output), set(output), after, most) == (
            1024 * _RLE_BLOCK_MAX,
            {0x80},
            b"after",
            1 << 20,
        )


@pytest.mark.parametrize("max_length", [1, 777, 1 << 16, -1])
@pytest.mark.parametrize("piece", [7, 4099, 1 << 20])
@pytest.mark.parametrize("sized", [True, False], ids=["sized", "unsized"])
@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no-checksum"])
def test_the_bounded_decompressor_reads_any_frame_as_zstandard_does(
    max_length: int, piece: int, sized: bool, checksum: bool
) -> None:
    """Raw, RLE and compressed blocks, fed in any pieces (headers cut anywhere), asked for any
    sizes: the same bytes as zstandard's, and what follows the frame left untouched."""
    rng = np.random.default_rng(7)
    data = (
        rng.integers(0, 256, 150_000, dtype=np.uint8).tobytes()  # raw blocks
        + bytes(300_000)  # RLE blocks
        + np.arange(50_000, dtype="<i4").tobytes()  # compressed blocks
    )
    codec = zstandard.ZstdCompressor(level=3, write_checksum=checksum)
    if sized:
        frame = codec.compress(data)
    else:
        streaming = codec.compressobj()
        frame = streaming.compress(data) + streaming.flush()
    output, after, most = _decompress_all(frame + b"next frame", max_length, piece)
    assert output == data
    assert after == b"next frame"
    assert most <= (max_length if max_length > 0 else len(data))


def test_the_next_frame_reuses_the_ended_frames_context() -> None:
    """A decompressor whose frame ended makes the next frame's with the same zstandard context
    (its window buffer allocated once per load, not once per frame); one whose frame has not
    ended refuses (two frames never share a context); each decodes exactly its own frame."""
    rng = np.random.default_rng(3)
    first, second = rng.integers(0, 9, 300_000, dtype=np.uint8).tobytes(), bytes(200_000)
    codec = zstandard.ZstdCompressor(level=3, write_checksum=True)
    data = codec.compress(first) + codec.compress(second)
    decompressor = brinery_zstd.FrameDecompressor()
    with pytest.raises(ValueError, match="has not ended"):
        decompressor.next_frame()
    output, rest, _ = _decompress_all(data, 1 << 16, 4099, decompressor)
    assert output == first
    following = decompressor.next_frame()
    assert following._context is decompressor._context
    assert _decompress_all(rest, 1 << 16, 4099, following)[:2] == (second, b"")
    damaged = bytearray(rest)
    damaged[-1] ^= 0x01  # (the second frame's checksum)
    with pytest.raises(zstandard.ZstdError):
        _decompress_all(bytes(damaged), 1 << 16, 4099, decompressor.next_frame())


def test_the_compressor_hands_an_ended_frames_context_on_and_keeps_one_per_thread() -> None:
    """Through the interface: ``next_decompressor`` gives an ended frame's context to the next
    frame (a decompressor that is not brinery-zstd's gets a new one); ``new_frame_compressor``
    compresses frame after frame with one context, each frame what ``compress_frame`` makes."""
    compressor = brinery_zstd.ZstdCompressor()
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 9, 300_000, dtype=np.uint8).tobytes(), bytes(200_000), b""]
    compress = compressor.new_frame_compressor(3)
    made = [b"".join(compress(frame)) for frame in frames]
    assert made == [b"".join(compressor.compress_frame(3, frame)) for frame in frames]
    sizes = [compressor.frame_content_size(memoryview(frame)) for frame in made]
    assert sizes == [300_000, 200_000, 0]
    decompressor = compressor.new_decompressor()
    output, rest, _ = _decompress_all(made[0] + made[1], 1 << 16, 4099, decompressor)
    assert output == frames[0]
    following = compressor.next_decompressor(decompressor)
    assert isinstance(following, brinery_zstd.FrameDecompressor)
    assert following._context is decompressor._context  # type: ignore[attr-defined]
    assert _decompress_all(rest, 1 << 16, 4099, following)[:2] == (frames[1], b"")
    foreign = zstandard.ZstdDecompressor().decompressobj()
    assert isinstance(compressor.next_decompressor(foreign), brinery_zstd.FrameDecompressor)


def test_a_skippable_frame_is_a_frame_without_data() -> None:
    skippable = struct.pack("<II", 0x184D2A5E, 5) + b"12345"
    assert _decompress_all(skippable + b"rest", 100, 3) == (b"", b"rest", 0)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            b"\x28\xb5\x2f\xfe\x00\x38\x01\x00\x00",
            "the data does not start with a zstd frame's magic",
        ),
        (b"\x28\xb5\x2f\xfd\x00\x38\x07\x00\x00", "a zstd block has the reserved block type"),
        (
            b"\x28\xb5\x2f\xfd\x00\x38"
            + ((((128 << 10) + 1) << 3) | 3).to_bytes(3, "little")
            + b"\x00",
            "zstd decompressor error: Data corruption detected",
        ),
    ],
    ids=["magic", "reserved block type", "RLE block over 128 KiB"],
)
def test_a_damaged_frame_structure_is_the_codecs_error(frame: bytes, message: str) -> None:
    with pytest.raises(zstandard.ZstdError) as caught:
        _decompress_all(frame, 1000, 100)
    assert str(caught.value) == message
