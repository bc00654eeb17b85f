"""The index record of an indexed stream (format 1.4, docs/format.md section 5.5).

An indexed stream's pickle is a sequence of parts: one per entry of a top-level ``dict``,
``list`` or ``tuple`` (a dict's keys first), then the container itself, rebuilt from memo
references to what the parts before built.  The index says where each part and each array or
buffer record lies in the uncompressed stream, and, for a compressed stream, where each frame
lies in the file: a reader can then load one entry, or read one slice of one array, without
the rest (:mod:`brinery.random_access`).

The index is read from files brinery did not write: :func:`decode` checks every count against
the bytes it was given before it builds anything, every offset against the stream's extent and
the order the format requires, and reports what is wrong by number.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from ..errors import CorruptFileError
from .layout import ARRAY_RECORD, BUFFER_RECORD, STREAM_HEADER

INDEX_MAGIC = b"BRIX"
INDEX_VERSION = 1
#: magic (4s), version (H), container (H), parts (I), records (I), frames (I), reserved (I).
_HEAD = struct.Struct("<4sHHIIII")
_PART = struct.Struct("<QQQ")
_RECORD = struct.Struct("<QQBBHI")
_FRAME = struct.Struct("<QQQ")

#: What the last part rebuilds: nothing split (one part), or a container split into entries.
NOT_SPLIT, DICT, LIST, TUPLE = 0, 1, 2, 3
CONTAINER_NAMES = {NOT_SPLIT: "value", DICT: "dict", LIST: "list", TUPLE: "tuple"}


class Part(NamedTuple):
    """One part: the stream offsets of its first record header and just past its last record,
    and its first memo index (the memo size when it begins)."""

    start: int
    end: int
    memo_start: int


class RecordEntry(NamedTuple):
    """An array or buffer record, as its header says it (docs/format.md, section 5)."""

    offset: int  # of its header, in the stream
    length: int  # of its payload
    kind: int
    padding: int
    flags: int
    reserved: int

    @property
    def payload_offset(self) -> int:
        """Where its payload starts in the stream."""
        return self.offset + 16 + self.padding


class FrameEntry(NamedTuple):
    """A compressed frame: its first uncompressed byte's stream offset, its first compressed
    byte's offset from the start of the compressed data (a framing header, such as lzop's,
    counts; any hint before the frame is before this offset), its compressed length.  The
    frame writer records one per frame it writes; the index lists those before the index."""

    uncompressed_offset: int
    compressed_offset: int
    compressed_size: int


class Index(NamedTuple):
    """An indexed stream's parts, array and buffer records, and frames (see the module)."""

    container: int
    parts: tuple[Part, ...]
    records: tuple[RecordEntry, ...]
    frames: tuple[FrameEntry, ...]

    @property
    def entries(self) -> int:
        """How many entries the container was split into (0 when it was not split)."""
        if self.container == NOT_SPLIT:
            return 0
        return len(self.parts) - (2 if self.container == DICT else 1)

    def entry_part(self, number: int) -> int:
        """The part holding entry ``number`` (counted from 0)."""
        return number + (1 if self.container == DICT else 0)

    def records_of(self, part: int) -> list[RecordEntry]:
        """The array and buffer records that lie within ``part``."""
        start, end = self.parts[part].start, self.parts[part].end
        return [record for record in self.records if start <= record.offset < end]

    def part_of_memo(self, memo_index: int) -> int:
        """The part whose pickle made memo entry ``memo_index`` (the last one starting at or
        before it)."""
        found = 0
        for number, part in enumerate(self.parts):
            if part.memo_start <= memo_index:
                found = number
        return found


def encode(index: Index) -> bytes:
    """The index record's payload."""
    head = _HEAD.pack(
        INDEX_MAGIC,
        INDEX_VERSION,
        index.container,
        len(index.parts),
        len(index.records),
        len(index.frames),
        0,
    )
    return b"".join(
        [
            head,
            *(_PART.pack(*part) for part in index.parts),
            *(_RECORD.pack(*record) for record in index.records),
            *(_FRAME.pack(*frame) for frame in index.frames),
        ]
    )


def decode(payload: bytes | bytearray | memoryview, index_offset: int) -> Index:
    """The index in ``payload``, the index record's payload at stream offset ``index_offset``;
    :class:`~brinery.CorruptFileError` if it is not one the format allows."""
    data = bytes(payload)
    if len(data) < _HEAD.size:
        raise CorruptFileError(
            f"the index record is damaged: {len(data)} bytes, fewer than its {_HEAD.size}-byte "
            "head"
        )
    magic, version, container, parts, records, frames, reserved = _HEAD.unpack_from(data)
    if magic != INDEX_MAGIC or version != INDEX_VERSION or reserved:
        raise CorruptFileError(
            "the index record is damaged or of a newer version (its head does not say "
            f"{INDEX_MAGIC.decode()} version {INDEX_VERSION})"
        )
    if container not in CONTAINER_NAMES:
        raise CorruptFileError(f"the index record names an unknown container kind {container}")
    expected = _HEAD.size + parts * _PART.size + records * _RECORD.size + frames * _FRAME.size
    if expected != len(data):
        raise CorruptFileError(
            f"the index record is damaged: it counts {parts} parts, {records} records and "
            f"{frames} frames ({expected} bytes) in {len(data)} bytes"
        )
    offset = _HEAD.size
    part_list = [_PART.unpack_from(data, offset + i * _PART.size) for i in range(parts)]
    offset += parts * _PART.size
    record_list = [_RECORD.unpack_from(data, offset + i * _RECORD.size) for i in range(records)]
    offset += records * _RECORD.size
    frame_list = [_FRAME.unpack_from(data, offset + i * _FRAME.size) for i in range(frames)]
    index = Index(
        container,
        tuple(Part(*part) for part in part_list),
        tuple(RecordEntry(*record) for record in record_list),
        tuple(FrameEntry(*frame) for frame in frame_list),
    )
    _check_parts(index, index_offset)
    _check_records(index.records, index.parts)
    _check_frames(index.frames, index_offset)
    return index


def _check_parts(index: Index, index_offset: int) -> None:
    parts = index.parts
    minimum = {NOT_SPLIT: 1, DICT: 2, LIST: 1, TUPLE: 1}[index.container]
    if len(parts) < minimum or (index.container == NOT_SPLIT and len(parts) != 1):
        raise CorruptFileError(
            f"the index record is damaged: {len(parts)} parts for a "
            f"{CONTAINER_NAMES[index.container]}"
        )
    position, memo = STREAM_HEADER.size, 0
    for number, part in enumerate(parts):
        # (each part memoizes at least the list that wraps it: memo starts strictly increase,
        # and a memo index before a part's start names exactly one earlier part)
        if (
            part.start != position
            or part.end <= part.start
            or (number and part.memo_start <= memo)
            or (not number and part.memo_start != 0)
        ):
            raise CorruptFileError(
                f"the index record is damaged: part {number} (bytes {part.start} to {part.end}, "
                f"memo from {part.memo_start}) does not follow the part before it"
            )
        position, memo = part.end, part.memo_start
    if position != index_offset:
        raise CorruptFileError(
            f"the index record is damaged: its parts end at byte {position}, not where the "
            f"index record starts ({index_offset})"
        )


def _check_records(records: Sequence[RecordEntry], parts: Sequence[Part]) -> None:
    position = STREAM_HEADER.size
    part = 0
    for number, record in enumerate(records):
        while part < len(parts) and record.offset >= parts[part].end:
            part += 1
        end = record.payload_offset + record.length
        if (
            record.kind not in (ARRAY_RECORD, BUFFER_RECORD)
            or record.offset < position
            or record.padding >= 64
            or part == len(parts)
            or end > parts[part].end
        ):
            raise CorruptFileError(
                f"the index record is damaged: record {number} (kind {record.kind:#04x} at "
                f"byte {record.offset}, {record.length} bytes) is not an array or buffer record "
                "within one part, after the one before it"
            )
        position = end


def _check_frames(frames: Sequence[FrameEntry], index_offset: int) -> None:
    uncompressed = compressed = -1
    for number, frame in enumerate(frames):
        if (
            frame.uncompressed_offset <= uncompressed
            or frame.compressed_offset < compressed
            or (number == 0 and frame.uncompressed_offset != 0)
            or frame.uncompressed_offset >= index_offset
            or frame.compressed_size == 0
        ):
            raise CorruptFileError(
                f"the index record is damaged: frame {number} (stream byte "
                f"{frame.uncompressed_offset}, file byte {frame.compressed_offset}) does not "
                "follow the frame before it"
            )
        uncompressed = frame.uncompressed_offset
        compressed = frame.compressed_offset + frame.compressed_size
