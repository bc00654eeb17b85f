"""The record headers of an uncompressed brinery stream, as they stand in its bytes.

Tests of what a dump wrote (which records carry a filter, with which element size) read the
headers themselves rather than through brinery's reader, which would judge them first.
"""

from __future__ import annotations

from typing import NamedTuple

from ..format.layout import (
    CHECKSUMS_FLAG,
    END_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
)


class RecordHeader(NamedTuple):
    """One record header, and where its payload lies."""

    kind: int
    flags: int
    element_size: int  # the reserved u32 (a filtered record's element size)
    start: int  # of the payload, from the start of the stream
    size: int


def record_headers(stream: bytes) -> tuple[int, list[RecordHeader]]:
    """An uncompressed stream's header flags and its records' headers, the end record's last;
    the stream must end right after the end record."""
    magic, _major, _minor, flags, _reserved = STREAM_HEADER.unpack_from(stream, 0)
    assert magic == STREAM_MAGIC
    offset, found = STREAM_HEADER.size, []
    while True:
        kind, padding, record_flags, reserved, size = RECORD_HEADER.unpack_from(stream, offset)
        start = offset + RECORD_HEADER.size + padding
        found.append(RecordHeader(kind, record_flags, reserved, start, size))
        offset = start + size + (RECORD_DIGEST.size if flags & CHECKSUMS_FLAG else 0)
        if kind == END_RECORD:
            assert offset == len(stream)
            return flags, found
