"""The uncompressed stream a compressed file holds, for an indexed stream too.

A compressed file holds the uncompressed brinery stream, cut into frames (docs/format.md,
section 3), so tests compare what the codec's own library or tool decompresses with the dump of
the same value written uncompressed.  For an unindexed stream (format 1.3) those are the very
same bytes.  An indexed stream (format 1.4, section 5.5) written compressed differs in two
records: its index record also lists the compressed frames before it (for each, where it starts
in the stream and in the file, and its compressed length), and its end record says where in the
file the index record's frame (or the hint before it) begins; with record checksums, those two
records' checksums differ too.  :func:`compressed_stream` builds the stream a compressed file
must hold from the uncompressed dump and the frames its index lists, after checking every one of
those frames from outside, with the codec library: each decodes alone to the stream's bytes it
is listed for, and the frames follow one another as the file's framing says.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xxhash

import brinery

from ..format.layout import (
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    INDEX_RECORD,
    INDEXED_FLAG,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
)
from ..framing import ZLIB_LOCATOR, Framing
from .objects import assert_same
from .records import RecordHeader, record_headers

__all__ = [
    "CountingFile",
    "compressed_stream",
    "index_frames",
    "is_indexed",
    "with_frames",
    "zlib_streams",
]

#: The index record's head: magic, version, container, parts, records, frames, reserved.
_INDEX_HEAD = struct.Struct("<4sHHIIII")
_FRAMES_FIELD = 16  # where the head's count of frames is
#: One frame of the index: stream offset, file offset, compressed length.
_FRAME = struct.Struct("<QQQ")

Frames = Sequence[tuple[int, int, int]]


def is_indexed(stream: bytes) -> bool:
    """Whether the uncompressed brinery stream ``stream`` says it is indexed (format 1.4)."""
    return bool(STREAM_HEADER.unpack_from(stream)[3] & INDEXED_FLAG)


def _last_records(stream: bytes) -> tuple[int, RecordHeader, RecordHeader]:
    """An indexed stream's header flags, and its index and end records' headers (the last two
    records)."""
    flags, headers = record_headers(stream)
    assert len(headers) >= 2, "an indexed stream ends with an index and an end record"
    index, end = headers[-2:]
    assert (index.kind, end.kind) == (INDEX_RECORD, END_RECORD), (index, end)
    return flags, index, end


def index_frames(stream: bytes) -> list[tuple[int, int, int]]:
    """The frames the index of the indexed stream ``stream`` lists: for each, the stream offset
    of its first uncompressed byte, the file offset of its first compressed byte and its
    compressed length."""
    _, index, _ = _last_records(stream)
    payload = stream[index.start : index.start + index.size]
    magic, _, _, parts, records, frames, _ = _INDEX_HEAD.unpack_from(payload)
    assert magic == b"BRIX", magic
    offset = _INDEX_HEAD.size + 24 * (parts + records)
    assert len(payload) == offset + _FRAME.size * frames, "the index record has another size"
    return [_FRAME.unpack_from(payload, offset + number * _FRAME.size) for number in range(frames)]


def with_frames(plain: bytes, frames: Frames) -> bytes:
    """``plain``, an indexed stream written uncompressed, as a compressed file whose frames
    before the index record are ``frames`` holds it: its index lists them, its end record
    locates the end of the last (0 without frames), and its checksums, if it has them, cover
    that."""
    flags, index, end = _last_records(plain)
    index_at = index.start - RECORD_HEADER.size  # (the index record has no padding)
    payload = plain[index.start : index.start + index.size]
    assert struct.unpack_from("<I", payload, _FRAMES_FIELD) == (0,), "plain lists frames"
    payload = (
        payload[:_FRAMES_FIELD]
        + struct.pack("<I", len(frames))
        + payload[_FRAMES_FIELD + 4 :]
        + b"".join(_FRAME.pack(*frame) for frame in frames)
    )
    kind, padding, record_flags, reserved, _ = RECORD_HEADER.unpack_from(plain, index_at)
    index_record = RECORD_HEADER.pack(kind, padding, record_flags, reserved, len(payload)) + payload
    end_at = end.start - RECORD_HEADER.size
    last = frames[-1] if frames else None
    located, _ = END_LOCATOR.unpack_from(plain, end.start)
    assert located == index_at, "the end record of plain does not locate its index"
    frame_end = last[1] + last[2] if last is not None else 0
    end_record = plain[end_at : end.start] + END_LOCATOR.pack(index_at, frame_end)
    if flags & CHECKSUMS_FLAG:
        index_record += RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(index_record))
        covered = plain[: STREAM_HEADER.size] + end_record
        end_record += RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(covered))
    return plain[:index_at] + index_record + end_record


def compressed_stream(
    plain: bytes,
    data: bytes,
    decode: Callable[[bytes], bytes | None],
    framing: Framing,
) -> bytes:
    """The uncompressed stream that ``data``, a compressed file of the value whose uncompressed
    dump (with the same options) is ``plain``, must hold.

    ``decode(file)`` is what the codec's own library decompresses a whole file to (None if it
    refuses it); ``framing`` is the codec's (its hints, header and trailer).  An unindexed
    ``plain`` is returned as it is.  For an indexed one, the frames that the stream ``data``
    decodes to lists in its index are checked from outside: the first starts the stream, after
    the file's header; each decodes alone (between the file's header and trailer) to the
    stream's bytes up to the next frame's, the last up to the index record (which starts a frame
    of its own); a hint, if the codec writes them, lies between each and the next, nothing
    else; and what follows the last decodes to the rest of the stream (up to the locator a
    codec without a seek table ends the file with, which must say where it is).  Then ``plain`` with
    those frames (:func:`with_frames`) is returned, for the caller to compare with the stream:
    anything that differs, in the index too, is then found.
    """
    if not is_indexed(plain):
        return plain
    decoded = decode(data)
    assert decoded is not None, "the codec library refuses the file"
    frames = index_frames(decoded)
    expected = with_frames(plain, frames)
    if not frames:  # (one stream for the whole file, or a plugin's own reader: no frames)
        return expected
    _, index, _ = _last_records(expected)
    index_at = index.start - RECORD_HEADER.size
    header = data[: frames[0][1]]
    gap = 0 if framing.hints is None else len(framing.hints.encode(0, 0))
    ends = [frame[0] for frame in frames[1:]] + [index_at]
    assert frames[0][0] == 0, frames[0]
    for number, ((start, offset, length), stop) in enumerate(zip(frames, ends, strict=True)):
        if number:
            previous = frames[number - 1]
            assert offset == previous[1] + previous[2] + gap, (number, previous, frames[number])
        alone = decode(header + data[offset : offset + length] + framing.trailer)
        assert alone == expected[start:stop], f"frame {number} {frames[number]} decodes otherwise"
    last = frames[-1]
    end = len(data)
    if framing.locator is not None:  # (gzip, zlib: the file ends with the locator, exactly)
        end -= framing.locator.size
        located = framing.locator.encode(last[1] + last[2], end)
        assert data[end:] == located, "the file does not end with its locator"
    rest = decode(header + data[last[1] + last[2] : end])
    assert rest == expected[index_at:], "what follows the frames the index lists decodes otherwise"
    return expected


def zlib_streams(data: bytes) -> bytes:
    """Every zlib stream of ``data``, one after another (brinery's zlib frames), up to an
    indexed file's locator: what a zlib file decompresses to (``zlib.decompress`` stops after
    the first stream)."""
    out = []
    while data and ZLIB_LOCATOR.parse(data) is None:
        stream = zlib.decompressobj()
        out.append(stream.decompress(data))
        assert stream.eof
        data = stream.unused_data
    return b"".join(out)


class CountingFile(io.BytesIO):
    """A seekable file that counts the bytes read from it (what random access reads)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def wrong_when_opened(data: bytes, expected: dict[str, Any]) -> list[str]:
    """What ``brinery.open`` gives wrong of ``data``, a damaged file of ``expected`` (a dict
    whose ``"a"`` is an array of at least 140 rows, as :func:`~brinery.testing.framed_sample`),
    read entry by entry, then rows 100-139 of ``"a"`` lazily: a damage loop's verdict.  Read
    until brinery refuses it (an error ends the reading; what was wrong before it still
    counts); a codec's or Python's own exception goes out, failing the test."""
    wrong = []
    try:
        with brinery.open(io.BytesIO(data)) as opened:
            for key, value in expected.items():
                try:
                    assert_same(opened[key], value)
                except AssertionError:
                    wrong.append(key)
            if not np.array_equal(opened.array('["a"]')[100:140], expected["a"][100:140]):
                wrong.append("rows")
    except brinery.BrineryError:
        pass
    return wrong
