"""Finding an indexed stream's index from the end of a compressed file without a seek table.

The index record ``X`` always starts a compressed frame, and the end record ``E`` after it says
where that frame begins (docs/format.md, section 5.5).  What leads there from the end of the
file depends on the codec (docs/format.md, section 3, "Locators"):

* **gzip, zlib**: the file ends with a locator brinery wrote (a final empty gzip member, a zlib
  trailer) giving that frame's offset and the locator's own;
* **xz**: nothing is written: the last xz stream's footer and index give its blocks' sizes, and
  so where it starts (its header checked there), and its data holds the end record;
* **bz2**: nothing is written either: the last bzip2 stream is found by searching back for a
  stream's start that decompresses exactly to the end of the file;
* **lzo** (any codec whose framing has an :attr:`~brinery.framing.Framing.end_frame`): the
  end record is a frame of its own, the last, which the codec's finder finds from the end.

A frame of a codec whose framing has a file header (lzop's) is decompressed with that header,
read from the file's start, before it, and the framing's trailer after it.

From the frame found, the data is decompressed to the end: it must be the index record and the
end record, the end record saying exactly that frame.  Every value read is checked, and no
allocation follows a size the file declares before the bytes are in hand: reads stay within the
file, and decompression is bounded by the index record's declared length (at most
:data:`~brinery.format.reader.MAX_INDEX_BYTES`) and the end record's.

:func:`locate` returns ``None`` where no locator is found (an older file, another codec, a file
cut short): the caller then reads the file through.  What is found and does not check out is
damage (:class:`~brinery.CorruptFileError`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import IO, NamedTuple

import numpy as np

from ..compressor import Compressor
from ..errors import CorruptFileError
from ..format.index import Index
from ..format.layout import (
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    INDEX_RECORD,
    INDEXED_FLAG,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
)
from ..format.reader import MAX_INDEX_BYTES
from ..streams.seek_table import SeekTable
from .access import MAX_FRAME_BYTES, read_exactly

#: Compressed bytes first read (the stream header's frame; bz2's search back), then twice as
#: many each time, up to :data:`READ_PIECE`.
FIRST_READ = 1 << 12
READ_PIECE = 1 << 20
#: The most a decompression call is asked for at a time.
INFLATE_PIECE = 1 << 20
#: How far back from its end a bzip2 file is searched for the start of its last stream: the
#: largest stream the end of an index may lie in (bzip2 may expand data by about 1%).
MAX_BZ2_SEARCH = MAX_INDEX_BYTES + MAX_INDEX_BYTES // 32 + (1 << 20)
#: How many xz or bz2 streams back the end record may begin (it is 32 or 40 bytes; brinery's
#: last frame holds at least one byte of it).
MAX_STREAMS_BACK = 41


class Located(NamedTuple):
    """What :func:`locate` found: the stream header, and the stream's end, decompressed."""

    header: bytes  # the stream header (16 bytes)
    index_offset: int  # the stream offset of the index record
    index_frame: int  # where its frame begins in the compressed data
    end: int  # where the compressed brinery data ends (a locator's start, or the file's end)
    tail: bytes  # the stream from the index record to its end (the end record included)
    framing_header: bytes  # the file's framing header (lzop's), which a frame alone needs


def locate(file: IO[bytes], start: int, size: int, compressor: Compressor) -> Located | None:
    """The index record's frame of the indexed stream compressed in ``file`` (from ``start``,
    ``size`` bytes), and the stream's end decompressed; ``None`` when there is no locator (an
    unindexed stream, a codec without one, a file cut short before its locator)."""
    framing = compressor.framing
    finder = (
        _locator
        if framing.locator is not None
        else _end_frame
        if framing.end_frame is not None
        else _FINDERS.get(compressor.name)
    )
    if finder is None:
        return None
    header = _stream_header(file, start, size, compressor)
    if header is None:
        return None
    flags = STREAM_HEADER.unpack(header)[3]
    if not flags & INDEXED_FLAG:
        return None
    end_size = RECORD_HEADER.size + END_LOCATOR.size
    if flags & CHECKSUMS_FLAG:
        end_size += RECORD_DIGEST.size
    reader = _Reader(file, start, size, compressor)
    found = finder(reader, end_size)
    if found is None:
        return None
    index_frame, end = found
    tail = _tail(reader, index_frame, end, end_size)
    index_offset, said_frame = END_LOCATOR.unpack_from(tail, len(tail) - end_size + 16)
    if said_frame != index_frame:
        raise CorruptFileError(
            f"the end record says the index record's {compressor.name} frame begins at byte "
            f"{said_frame} of the compressed data, where it was found at byte {index_frame}"
        )
    return Located(header, int(index_offset), index_frame, end, bytes(tail), reader.prefix)


def frame_table(index: Index, located: Located) -> SeekTable:
    """The frames before the index record, as the index lists them, as a seek table: each
    frame's decompressed size is up to the next frame (the last one's up to the index record),
    and frames lie one after the other from the start of the compressed data to the index
    record's frame (these codecs write nothing between frames)."""
    frames = index.frames
    if not frames:
        raise CorruptFileError("the index lists no frame before the index record")
    compressed_sizes = np.empty(len(frames), np.uint64)
    decompressed_sizes = np.empty(len(frames), np.uint64)
    expected = len(located.framing_header)
    for number, frame in enumerate(frames):
        following = (
            frames[number + 1].uncompressed_offset
            if number + 1 < len(frames)
            else located.index_offset
        )
        decompressed = following - frame.uncompressed_offset
        if frame.compressed_offset != expected or not 0 < decompressed <= MAX_FRAME_BYTES:
            raise CorruptFileError(
                f"the index record is damaged: frame {number} lies at byte "
                f"{frame.compressed_offset} of the compressed data (the frame before it ends at "
                f"byte {expected}) and holds {decompressed} bytes"
            )
        expected += frame.compressed_size
        compressed_sizes[number] = frame.compressed_size
        decompressed_sizes[number] = decompressed
    if expected != located.index_frame:
        raise CorruptFileError(
            f"the index record is damaged: its frames end at byte {expected} of the compressed "
            f"data, the index record's frame begins at byte {located.index_frame}"
        )
    return SeekTable(compressed_sizes, decompressed_sizes, expected, 0)


class _Reader:
    """The compressed data: reads bounded by the file."""

    def __init__(self, file: IO[bytes], start: int, size: int, compressor: Compressor) -> None:
        self.file = file
        self.start = start
        self.size = size
        self.compressor = compressor
        self.name = compressor.name
        # What a frame alone is decompressed with: the framing's header (as the file has it)
        # before it, its trailer after it (lzop's); nothing for the other codecs.
        header_size = len(compressor.framing.header(compressor.default_level))
        self.prefix = self.read(0, header_size) if header_size else b""
        self.suffix = compressor.framing.trailer if header_size else b""

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        self.file.seek(self.start + offset)
        return read_exactly(self.file, length)


def _stream_header(
    file: IO[bytes], start: int, size: int, compressor: Compressor
) -> bytes | None:
    """The stream header: the first 16 bytes of the first frame (None if they are not a
    brinery stream header, or do not decompress: reading through says why)."""
    decompressor = compressor.new_decompressor()
    header = b""
    offset = 0
    piece = FIRST_READ
    file.seek(start)
    try:
        while len(header) < STREAM_HEADER.size and not decompressor.eof:
            data = b""
            if decompressor.needs_input:
                data = read_exactly(file, min(piece, size - offset)) if offset < size else b""
                if not data:
                    return None
                offset += len(data)
                piece = min(2 * piece, READ_PIECE)  # (a bzip2 block comes whole)
            header += decompressor.decompress(data, STREAM_HEADER.size - len(header))
    except compressor.errors:
        return None
    if len(header) != STREAM_HEADER.size or not header.startswith(STREAM_MAGIC):
        return None
    return header


def _tail(reader: _Reader, index_frame: int, end: int, end_size: int) -> bytearray:
    """The stream from the index record's frame to the end of the compressed data: the index
    record and the end record, nothing more (bounded by what the index record declares)."""
    digest_size = end_size - RECORD_HEADER.size - END_LOCATOR.size

    def limit(out: bytearray) -> int:
        if len(out) < RECORD_HEADER.size:
            return RECORD_HEADER.size
        if out[0] != INDEX_RECORD:
            raise CorruptFileError(
                f"the {reader.name} frame at byte {index_frame} of the compressed data does not "
                "start with the index record"
            )
        length = RECORD_HEADER.unpack_from(out)[4]
        if length > MAX_INDEX_BYTES:
            raise CorruptFileError(
                f"the index record declares {length} bytes, more than an index may hold "
                f"({MAX_INDEX_BYTES})"
            )
        return int(RECORD_HEADER.size + length + digest_size + end_size)

    tail = _inflate(reader, index_frame, end, limit)
    if len(tail) != limit(tail) or tail[len(tail) - end_size] != END_RECORD:
        raise CorruptFileError(
            f"the {reader.name} data from byte {index_frame} to byte {end} decompresses to "
            f"{len(tail)} bytes, not to the index record and the end record "
            f"({limit(tail)} bytes)"
        )
    return tail


def _inflate(
    reader: _Reader, offset: int, end: int, limit: Callable[[bytearray], int]
) -> bytearray:
    """The frames from ``offset`` to ``end`` decompressed (see :func:`_decompress_range`)."""
    out = _decompress_range(reader, offset, end, limit, single=False)
    assert out is not None  # (errors raise)
    return out


def _decompress_range(
    reader: _Reader,
    offset: int,
    end: int,
    limit: Callable[[bytearray], int],
    *,
    single: bool,
) -> bytearray | None:
    """Decompress the frames from ``offset`` to ``end``, read from the file a piece at a time,
    at most ``limit(output)`` bytes (more is damage); they must end exactly at ``end``.

    ``single``: there must be one frame, and whatever is not (the codec's error, a frame
    ending before ``end`` or not by then) gives None, not an error (a bzip2 stream start
    searched for may be a false one)."""
    compressor = reader.compressor
    if not 0 <= offset < end <= reader.size:
        raise CorruptFileError(
            f"the {reader.name} frame at byte {offset} is not in the compressed data "
            f"({reader.size} bytes)"
        )
    out = bytearray()
    decompressor = compressor.new_decompressor()
    position = offset
    pending: bytes = reader.prefix  # (a framing header: the data from offset needs it first)
    try:
        while True:
            if decompressor.needs_input and not pending:
                pending = reader.read(position, min(READ_PIECE, end - position))
                position += len(pending)
                if not pending:
                    if single:
                        return None
                    raise CorruptFileError(
                        f"the {reader.name} data from byte {offset} ends inside a frame, at "
                        f"byte {end}"
                    )
            room = limit(out) + 1 - len(out)
            chunk = decompressor.decompress(pending, max(1, min(room, INFLATE_PIECE)))
            pending = b""
            out += chunk
            if len(out) > limit(out):
                raise CorruptFileError(
                    f"the {reader.name} data from byte {offset} decompresses to more than the "
                    f"{limit(out)} bytes the index and end records may take"
                )
            if decompressor.eof:
                rest = decompressor.unused_data
                if not rest and position == end:
                    return out
                if single:
                    return None
                pending = bytes(rest)
                decompressor = compressor.new_decompressor()
    except compressor.errors as error:
        if single:
            return None
        raise CorruptFileError(
            f"the {reader.name} data from byte {offset} to byte {end} is damaged: {error}"
        ) from error


# -- gzip and zlib: the locator ----------------------------------------------------------------


def _locator(reader: _Reader, end_size: int) -> tuple[int, int] | None:
    locator = reader.compressor.framing.locator
    assert locator is not None
    if reader.size < locator.size:
        return None
    own = reader.size - locator.size
    found = locator.parse(reader.read(own, locator.size))
    if found is None:
        return None
    index_frame, said = found
    if said != own:
        raise CorruptFileError(
            f"the {reader.name} locator at byte {own} of the compressed data says it lies at "
            f"byte {said}"
        )
    if not 0 < index_frame < own:
        raise CorruptFileError(
            f"the {reader.name} locator at byte {own} locates the index record's frame at byte "
            f"{index_frame}, outside the compressed data before it"
        )
    return index_frame, own


# -- lzo: the end record's own frame, found by the codec -------------------------------------


def _end_frame(reader: _Reader, end_size: int) -> tuple[int, int] | None:
    finder = reader.compressor.framing.end_frame
    assert finder is not None
    span = min(reader.size, finder.span(end_size))
    found = finder.find(reader.read(reader.size - span, span), end_size)
    if found is None:
        return None
    start = reader.size - span + found
    if not len(reader.prefix) < start < reader.size:
        raise CorruptFileError(
            f"the {reader.name} finder places the last frame at byte {start}, outside the "
            f"compressed data after its header ({len(reader.prefix)} to {reader.size} bytes)"
        )
    return _end_record_from(reader, start, end_size, end_size, "the end record's")


# -- xz: walking back through the last streams ------------------------------------------------

_XZ_MAGIC = b"\xfd7zXZ\x00"
_XZ_FOOTER = struct.Struct("<II2s2s")  # CRC32, backward size, stream flags, "YZ"
_XZ_HEADER_SIZE = 12


def _xz(reader: _Reader, end_size: int) -> tuple[int, int] | None:
    end = reader.size
    streams = 0
    held = 0
    while held < end_size:
        if streams == MAX_STREAMS_BACK:
            raise CorruptFileError(
                f"the last {streams} xz streams hold {held} bytes, less than the end record"
            )
        found = _xz_stream_before(reader, end)
        if found is None:
            return None
        end, uncompressed = found
        held += uncompressed
        streams += 1
    if held > MAX_INDEX_BYTES:
        raise CorruptFileError(
            f"the last {streams} xz streams declare {held} bytes, more than an index may hold"
        )
    return _end_record_from(reader, end, held, end_size, "their indexes'")


def _xz_stream_before(reader: _Reader, end: int) -> tuple[int, int] | None:
    """The start and uncompressed size of the xz stream ending at ``end`` (None if the data
    there does not end with an xz stream footer)."""
    if end < 2 * _XZ_HEADER_SIZE + 8:
        return None
    footer = reader.read(end - _XZ_FOOTER.size, _XZ_FOOTER.size)
    crc, backward, flags, magic = _XZ_FOOTER.unpack(footer)
    if magic != b"YZ":
        return None
    where = end - _XZ_FOOTER.size
    if zlib.crc32(footer[4:10]) != crc:
        raise CorruptFileError(f"the xz stream footer at byte {where} is damaged (its CRC32)")
    index_size = (backward + 1) * 4
    if index_size > where - _XZ_HEADER_SIZE:
        raise CorruptFileError(
            f"the xz stream footer at byte {where} declares an index of {index_size} bytes, "
            f"more than the {where - _XZ_HEADER_SIZE} bytes before it"
        )
    index_start = where - index_size
    blocks, uncompressed = _xz_index(reader.read(index_start, index_size), index_start)
    stream_start = index_start - blocks - _XZ_HEADER_SIZE
    if stream_start < 0:
        raise CorruptFileError(
            f"the xz index at byte {index_start} lists {blocks} bytes of blocks, more than the "
            "file holds before it"
        )
    header = reader.read(stream_start, _XZ_HEADER_SIZE)
    if (
        header[:6] != _XZ_MAGIC
        or header[6:8] != flags
        or struct.unpack("<I", header[8:12])[0] != zlib.crc32(header[6:8])
    ):
        raise CorruptFileError(
            f"the xz index at byte {index_start} places its stream's start at byte "
            f"{stream_start}, where there is no matching xz stream header"
        )
    return stream_start, uncompressed


def _xz_index(index: bytes, where: int) -> tuple[int, int]:
    """The total size of the blocks (padded) and of their uncompressed data an xz index lists,
    checked (its indicator, its CRC32, its padding)."""
    damaged = CorruptFileError(f"the xz index at byte {where} is damaged")
    if len(index) < 8 or index[0] != 0:
        raise damaged
    if zlib.crc32(index[:-4]) != struct.unpack("<I", index[-4:])[0]:
        raise CorruptFileError(f"the xz index at byte {where} is damaged (its CRC32)")
    position = 1
    body = len(index) - 4

    def number() -> int:
        nonlocal position
        value = 0
        for shift in range(0, 63, 7):
            if position >= body:
                raise damaged
            byte = index[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise damaged

    records = number()
    blocks = uncompressed = 0
    for _ in range(records):  # (each record takes bytes of the index: a bounded loop)
        unpadded = number()
        size = number()
        if unpadded == 0:
            raise damaged
        blocks += -(-unpadded // 4) * 4
        uncompressed += size
    if any(index[position:body]) or (body - position) >= 4:
        raise damaged
    return blocks, uncompressed


# -- bz2: searching back for the last streams ------------------------------------------------

_BZ2_BLOCK_MAGIC = b"1AY&SY"


def _bz2(reader: _Reader, end_size: int) -> tuple[int, int] | None:
    end = reader.size
    data = b""
    streams = 0
    while len(data) < end_size:
        if streams == MAX_STREAMS_BACK:
            raise CorruptFileError(
                f"the last {streams} bzip2 streams hold {len(data)} bytes, less than the end "
                "record"
            )
        found = _bz2_stream_before(reader, end, MAX_INDEX_BYTES - len(data))
        if found is None:
            return None
        end, output = found
        data = output + data
        streams += 1
    return _end_record_frame(reader, data[len(data) - end_size :], end)


def _bz2_stream_before(reader: _Reader, end: int, room: int) -> tuple[int, bytes] | None:
    """The start and data of the last bzip2 stream before ``end``: the nearest byte-aligned
    stream start that decompresses to one stream ending exactly at ``end`` (a false candidate,
    the magic inside compressed data, is passed over); None if there is none.

    The file is searched back a piece at a time (pieces overlapping by a magic's length), no
    further than the largest stream an index's end may be in: what a reader holds stays
    bounded whatever the file's size."""
    magic_size = 4 + len(_BZ2_BLOCK_MAGIC)
    farthest = max(0, end - MAX_BZ2_SEARCH)
    high = end
    piece = FIRST_READ
    while high > farthest:
        low = max(farthest, high - piece)
        data = reader.read(low, min(end, high + magic_size - 1) - low)
        position = len(data)
        while True:
            position = data.rfind(_BZ2_BLOCK_MAGIC, 0, position)
            if position < 4:
                break
            if low + position - 4 < high and _bz2_start(data, position - 4):
                output = _bz2_stream(reader, low + position - 4, end, room)
                if output is not None:
                    return low + position - 4, output
        high = low
        piece = min(2 * piece, READ_PIECE)
    return None


def _bz2_start(data: bytes, at: int) -> bool:
    return data[at : at + 3] == b"BZh" and 0x31 <= data[at + 3] <= 0x39


def _bz2_stream(reader: _Reader, start: int, end: int, room: int) -> bytes | None:
    """What the file from ``start`` to ``end`` decompresses to if it is exactly one bzip2
    stream (at most ``room`` bytes: more is damage); None if it is not."""
    out = _decompress_range(reader, start, end, lambda out: room, single=True)
    return None if out is None else bytes(out)


# -- xz, bz2, lzo: the end record in the last streams or frame -------------------------------


def _end_record_from(
    reader: _Reader, start: int, size: int, end_size: int, whose: str
) -> tuple[int, int]:
    """The index record's frame, as the end record gives it: the data from ``start`` to the
    end of the file must decompress to exactly ``size`` bytes (``whose`` count), the end
    record last."""
    data = _inflate(reader, start, reader.size, lambda out: size)
    if len(data) != size:
        raise CorruptFileError(
            f"the {reader.name} data from byte {start} to the end decompresses to {len(data)} "
            f"bytes, not {whose} {size}"
        )
    return _end_record_frame(reader, bytes(data[len(data) - end_size :]), start)


def _end_record_frame(reader: _Reader, end_record: bytes, last_start: int) -> tuple[int, int]:
    """The index record's frame, as the end record (read from the last streams, which begin
    at ``last_start``) gives it; checked to lie in the data before."""
    if end_record[0] != END_RECORD:
        raise CorruptFileError(f"the last {reader.name} streams do not end with the end record")
    _, index_frame = END_LOCATOR.unpack_from(end_record, RECORD_HEADER.size)
    if not len(reader.prefix) < index_frame <= last_start:
        raise CorruptFileError(
            f"the end record locates the index record's {reader.name} frame at byte "
            f"{index_frame}, outside the compressed data before byte {last_start}"
        )
    return int(index_frame), reader.size


_FINDERS: dict[str, Callable[[_Reader, int], tuple[int, int] | None]] = {
    "xz": _xz,
    "bz2": _bz2,
}

__all__ = ["Located", "frame_table", "locate"]
