"""Looking at a file's frames from outside, and changing how brinery cuts them.

:func:`walk_frames` reads a zstd or LZ4 file with the codec library's own decompressor and
brinery's hint layout spelled out here, not with the plugin, so what it finds is evidence about
what the plugin wrote.  An indexed file (format 1.4) ends with a seek table (the zstd seekable
format's, docs/format.md section 3): a skippable frame too, but no hint; :func:`walk_frames`
tells it apart, :func:`seek_table_span` finds it and :func:`seek_table_entries` reads it, by the
layout spelled out here as well.  :func:`frame_size` lowers a compressor's frame size for a
while: with 1 KiB frames a small object is cut into several, and a loop over every byte of the
file covers frame boundaries and hints too.  :func:`decompress_in_pieces` drives a codec's
streaming decompressor as the core does, input in pieces and output bounded.
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
    "SEEKABLE_MAGIC",
    "SEEK_TABLE",
    "SEEK_TABLE_MAGIC",
    "SKIPPABLE_MAGIC",
    "SKIPPABLE_MAGIC_MASK",
    "Frame",
    "Streamed",
    "decompress_in_pieces",
    "frame_size",
    "seek_table_entries",
    "seek_table_span",
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
#: The seek table that ends an indexed zstd or LZ4 file: a skippable frame of this magic (bytes
#: 5E 2A 4D 18) whose last 4 bytes are :data:`SEEKABLE_MAGIC` (bytes B1 EA 92 8F).  Its payload
#: is one (u32 compressed size, u32 decompressed size) per frame of the file, hints included,
#: then a footer: u32 number of frames, u8 descriptor (0: no checksums), the seekable magic.
SEEK_TABLE_MAGIC, SEEKABLE_MAGIC = 0x184D2A5E, 0x8F92EAB1
SEEK_TABLE = "seek table"  # the kind of frame walk_frames gives it
_SEEK_HEADER = struct.Struct("<II")
_SEEK_ENTRY = struct.Struct("<II")
_SEEK_FOOTER = struct.Struct("<IBI")


class Frame(NamedTuple):
    """One frame of a file, as :func:`walk_frames` found it."""

    start: int
    length: int
    kind: str  # "data", "skippable", or SEEK_TABLE (the skippable frame that ends the file)
    output: int  # decompressed bytes (data frames)
    hint: tuple[int, int] | None  # (compressed, uncompressed) announced by a brinery hint


def walk_frames(data: bytes, new_decompressor: Callable[[], Any]) -> list[Frame]:
    """The frames of a zstd or LZ4 file, skippable ones included, in order.

    ``new_decompressor()`` returns the codec library's decompressor for one frame, with
    ``decompress(data)``, ``eof`` and ``unused_data``; skippable frames are recognised by their
    magic number, brinery's hints among them by their length and tag, and the seek table by
    its magic, its place (it ends the file) and its last 4 bytes (:func:`seek_table_span`):
    its kind is :data:`SEEK_TABLE`, and it is no hint.
    """
    frames = []
    position = 0
    table = seek_table_span(data)
    while position < len(data):
        (magic,) = struct.unpack_from("<I", data, position)
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC:
            (size,) = struct.unpack_from("<I", data, position + 4)
            if table is not None and position == table.start:
                frames.append(Frame(position, len(table), SEEK_TABLE, 0, None))
                position = table.stop
                continue
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


def seek_table_span(data: bytes) -> range | None:
    """Where in ``data`` the seek table that ends it lies, None if none does.

    A seek table ends the file with :data:`SEEKABLE_MAGIC`, after its footer's count of
    frames (of 8 bytes each: brinery writes no checksums); it starts with the skippable-frame
    header :data:`SEEK_TABLE_MAGIC` and a size that takes it to the end of the file.
    """
    if len(data) < _SEEK_HEADER.size + _SEEK_FOOTER.size:
        return None
    count, _descriptor, magic = _SEEK_FOOTER.unpack_from(data, len(data) - _SEEK_FOOTER.size)
    length = _SEEK_HEADER.size + count * _SEEK_ENTRY.size + _SEEK_FOOTER.size
    if magic != SEEKABLE_MAGIC or length > len(data):
        return None
    start = len(data) - length
    if _SEEK_HEADER.unpack_from(data, start) != (SEEK_TABLE_MAGIC, length - _SEEK_HEADER.size):
        return None
    return range(start, len(data))


def seek_table_entries(data: bytes) -> list[tuple[int, int]]:
    """The (compressed size, decompressed size) of each frame that the seek table ending
    ``data`` lists, in order; fails unless ``data`` ends with a seek table without checksums
    (descriptor 0), as brinery writes it."""
    table = seek_table_span(data)
    assert table is not None, "the data does not end with a seek table"
    descriptor = data[-_SEEK_FOOTER.size + 4]
    assert descriptor == 0, f"the seek table's descriptor is {descriptor:#04x}, not 0"
    entries = data[table.start + _SEEK_HEADER.size : table.stop - _SEEK_FOOTER.size]
    return list(_SEEK_ENTRY.iter_unpack(entries))


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


class Streamed(NamedTuple):
    """What :func:`decompress_in_pieces` got."""

    output: bytes
    most: int  # the most one call returned
    fed: int  # the bytes of the data given to the decompressor
    left: bytes  # what follows the frame: the decompressor's unused data, then what was not fed


def decompress_in_pieces(
    decompressor: Any, data: bytes, piece: int | None = None, max_length: int = -1
) -> Streamed:
    """Feed ``data`` to ``decompressor`` (the core's interface: ``decompress(data,
    max_length)``, ``eof``, ``needs_input``, ``unused_data``) ``piece`` bytes at a time (all at
    once: ``None``), only when it needs input, as the core reads frames, asking ``max_length``
    bytes of each call, until its frame ends or it needs more than ``data`` holds; no call may
    return more than it was asked."""
    piece = piece or max(1, len(data))
    output, fed, most = [], 0, 0
    while not decompressor.eof:
        given = b""
        if decompressor.needs_input:
            if fed >= len(data):
                break
            given = data[fed : fed + piece]
            fed += len(given)
        chunk = decompressor.decompress(given, max_length)
        assert max_length < 0 or len(chunk) <= max_length, (len(chunk), max_length)
        most = max(most, len(chunk))
        output.append(chunk)
    left = bytes(decompressor.unused_data) + data[fed:] if decompressor.eof else data[fed:]
    return Streamed(b"".join(output), most, fed, left)
