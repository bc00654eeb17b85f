"""brinery-zstd: the plugins' contract (``codec_contract``, ``hinted_frames_contract``), and what
only zstd has.

The plugin writes Zstandard frames (magic 28 B5 2F FD) with their content checksum, one per
4 MiB of the brinery stream, with brinery's frame hints in skippable frames between them.

A flip of one byte may be harmless: the zstd frame then decodes to the very same bytes
(python-zstandard agrees).  Seen with zstd 1.5: in the small file, xor 0xFF: none; xor 0x01: 2
of 2359 (the frame header's window descriptor, byte 5, which only asks for a larger window; and
one bit of the block's sequence bitstream that decodes to the same data).  In the
many-small-frames file, also a damaged hint tag or skippable magic number (the skippable frame
is then skipped, as zstd does, and the next frame read without its hint): xor 0xFF: 16 (4 tags
of 4 bytes), xor 0x01: 26 (the tags, the hints' magic numbers, the 5 window descriptors, 1 in a
sequence bitstream).
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from codec_contract import *  # noqa: F403
from hinted_frames_contract import *  # noqa: F403
from hinted_frames_contract import HintedFramesCodec

import brinery

zstandard = pytest.importorskip("zstandard")
brinery_zstd = pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")


class Zstd(HintedFramesCodec):
    name = "zstd"
    distribution = "brinery-zstd"
    entry_point = "zstd"
    compressor_class = brinery_zstd.ZstdCompressor
    magic = b"\x28\xb5\x2f\xfd"
    extensions = (".zst", ".zstd")
    lowest, default, highest = -7, 3, 22
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


CODEC = Zstd()


def test_a_tool_file_with_its_content_size_loads(
    sample_stream: Any, compress_with_tool: Any, assert_same: Any
) -> None:
    """``zstd -c --format=zstd`` of a file (not a pipe) writes the content size in the frame
    header (test_a_tool_file_cut_anywhere_or_damaged_is_detected cuts and damages this file)."""
    original, stream = sample_stream
    tool_input, options = CODEC.damaged_tool_file
    data = compress_with_tool(options, stream, tool_input)
    parameters = zstandard.get_frame_parameters(data[:18])
    assert parameters.content_size == len(stream)
    assert parameters.has_checksum
    assert_same(brinery.load(io.BytesIO(data)), original)
