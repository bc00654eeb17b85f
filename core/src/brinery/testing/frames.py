"""Looking at a file's frames from outside, and changing how brinery cuts them.

:func:`walk_frames` reads a zstd or LZ4 file with the codec library's own decompressor and
brinery's hint layout spelled out here, not with the plugin, so what it finds is evidence about
what the plugin wrote.  :func:`frame_size` lowers a compressor's frame size for a while: with
1 KiB frames a small object is cut into several, and a loop over every byte of the file covers
frame boundaries and hints too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import brinery

__all__ = [
    "HINT",
    "HINT_COMPRESSED",
    "HINT_TAG",
    "HINT_UNCOMPRESSED",
    "SKIPPABLE_MAGIC",
    "SKIPPABLE_MAGIC_MASK",
    "Frame",
    "frame_size",
    "walk_frames",
    "with_u64",
]

#: Skippable frames (zstd and LZ4 share them): magic 0x184D2A50-0x184D2A5F, little-endian.
SKIPPABLE_MAGIC_MASK, SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
#: brinery's frame hint, in a skippable frame: magic, payload length, tag, sizes.
HINT = struct.Struct("<II4sQQ")
HINT_TAG = b"BRFH"
#: Where a hint's compressed and uncompressed sizes (little-endian u64) are, from its start.
HINT_COMPRESSED, HINT_UNCOMPRESSED = 12, 20


class Frame(NamedTuple):
    """One frame of a file, as :func:`walk_frames` found it."""

    start: int
    length: int
    kind: str  # "data" or "skippable"
    output: int  # decompressed bytes (data frames)
    hint: tuple[int, int] | None  # (compressed, uncompressed) announced by a brinery hint


def walk_frames(data: bytes, new_decompressor: Callable[[], Any]) -> list[Frame]:
    """The frames of a zstd or LZ4 file, skippable ones included, in order.

    ``new_decompressor()`` returns the codec library's decompressor for one frame, with
    ``decompress(data)``, ``eof`` and ``unused_data``; skippable frames are recognised by their
    magic number, and brinery's hints among them by their length and tag.
    """
    frames = []
    position = 0
    while position < len(data):
        (magic,) = struct.unpack_from("<I", data, position)
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC:
            (size,) = struct.unpack_from("<I", data, position + 4)
            hint = None
            if size == HINT.size - 8 and data[position + 8 : position + 12] == HINT_TAG:
                _, _, _, compressed, uncompressed = HINT.unpack_from(data, position)
                hint = (compressed, uncompressed)
            frames.append(Frame(position, 8 + size, "skippable", 0, hint))
            position += 8 + size
            continue
        decompressor = new_decompressor()
        output = decompressor.decompress(data[position:])
        assert decompressor.eof, f"the frame at byte {position} does not end"
        length = len(data) - position - len(decompressor.unused_data or b"")
        frames.append(Frame(position, length, "data", len(output), None))
        position += length
    return frames


def with_u64(data: bytes, offset: int, value: int) -> bytes:
    """``data`` with the little-endian u64 at ``offset`` replaced by ``value`` (a hint's size:
    ``offset`` is the hint's start plus :data:`HINT_COMPRESSED` or :data:`HINT_UNCOMPRESSED`)."""
    return data[:offset] + struct.pack("<Q", value) + data[offset + 8 :]


@contextlib.contextmanager
def frame_size(
    compressor: brinery.Compressor | str, size: int | None
) -> Iterator[brinery.Compressor]:
    """Within the ``with`` block, ``compressor`` (or the registered compressor of that name)
    cuts the stream into frames of ``size`` bytes (``None``: one frame); then its framing is
    what it was.

    Only the frame size changes: hints, header and trailer stay the codec's.  The change is on
    the registered instance, so dumps and loads anywhere in the process see it; keep loads that
    depend on it inside the block.
    """
    if isinstance(compressor, str):
        compressor = brinery.compressors()[compressor]
    own = "framing" in vars(compressor)
    before = compressor.framing
    compressor.framing = dataclasses.replace(before, frame_size=size)
    try:
        yield compressor
    finally:
        if own:
            compressor.framing = before
        else:
            del compressor.framing  # back to the class's
