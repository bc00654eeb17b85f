"""The byte layout of a brinery stream (docs/format.md describes it for other implementations).

A stream is a 16-byte header followed by records.  Each record is a 16-byte header, zero
padding, and a payload.  Pickle records carry the pickle stream in pieces; array and buffer
records carry raw memory, padded so that the payload starts at a multiple of 64 bytes from the
start of the stream (a memory-mapped loader can then map it in place); the end record closes the
stream.  All integers are little-endian.
"""

from __future__ import annotations

import struct

#: First bytes of every uncompressed brinery stream: a high-bit byte (catches 7-bit transports),
#: a name, CR LF (catches newline translation), Ctrl-Z and LF, as PNG does.
STREAM_MAGIC = b"\x89BRN\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 4
#: The minor version a stream without any flag of 1.4 says (1.3 readers read it).
UNINDEXED_MINOR = 3

#: Stream header flag: every record is followed by :data:`RECORD_DIGEST`, the XXH3-64 of the
#: record (header, padding, payload); the end record's also covers the stream header.  Written
#: when the compressor has no strong check of its own (none, zlib, lzma-alone, third parties').
CHECKSUMS_FLAG = 0x0001
#: Stream header flag (format 1.2): a load with ``mmap_mode="r+"`` mapped records of this stream
#: writable, and set :data:`CHANGED_RECORD_FLAG` on each of them.  Not covered by the end
#: record's checksum (it is set after the stream was written); a 1.1 reader refuses the stream
#: ("upgrade brinery") instead of reporting the changed records as damage.
MAPPED_WRITABLE_FLAG = 0x0002
#: Stream header flag (format 1.3): array records of this stream may be filtered, shuffled
#: (:data:`BYTE_SHUFFLED_RECORD_FLAG`, :data:`BIT_SHUFFLED_RECORD_FLAG`) or delta-coded
#: (:data:`DELTA_RECORD_FLAG`).  Set by a writer that may filter (``dump(shuffle=)``), before it
#: knows whether it will: a 1.2 reader then refuses the stream ("upgrade brinery") instead of
#: reporting filtered records as damage.
SHUFFLED_RECORDS_FLAG = 0x0004
#: Stream header flag (format 1.4): the pickle is a sequence of parts (one per entry of a
#: top-level dict, list or tuple, then the container), an index record (:data:`INDEX_RECORD`)
#: comes before the end record, and the end record's payload (:data:`END_LOCATOR`) says where
#: it is (:mod:`brinery.format.index`).
INDEXED_FLAG = 0x0008
#: Stream header flags this version understands; a reader refuses a stream with any other flag
#: (a feature that changes the layout announces itself here, so old readers fail clearly).
KNOWN_STREAM_FLAGS = CHECKSUMS_FLAG | MAPPED_WRITABLE_FLAG | SHUFFLED_RECORDS_FLAG | INDEXED_FLAG
#: Where the stream header's flags lie (u16), from the start of the stream.
STREAM_FLAGS_OFFSET = 10

#: Record header flag (format 1.2, only with :data:`MAPPED_WRITABLE_FLAG`): the payload may have
#: been written through a writable memory map, so the record's checksum no longer applies.
CHANGED_RECORD_FLAG = 0x0001
#: Where a record header's flags lie (u16), from the start of the record.
RECORD_FLAGS_OFFSET = 2
#: Record header flags (format 1.3, only on array records, only with
#: :data:`SHUFFLED_RECORDS_FLAG`, at most one of them): the payload is byte-shuffled,
#: bit-shuffled, or delta-coded (each byte stored as its difference from the previous one), block
#: by block (:mod:`brinery.format.shuffle`), and the header's reserved u32 holds the element size
#: (1 for delta).
BYTE_SHUFFLED_RECORD_FLAG = 0x0002
BIT_SHUFFLED_RECORD_FLAG = 0x0004
DELTA_RECORD_FLAG = 0x0008
#: Every filter flag: a record header with any of them declares a filter.
FILTER_RECORD_FLAGS = BYTE_SHUFFLED_RECORD_FLAG | BIT_SHUFFLED_RECORD_FLAG | DELTA_RECORD_FLAG

#: magic (8s), major (B), minor (B), flags (H), reserved (I, zero).
STREAM_HEADER = struct.Struct("<8sBBHI")
#: kind (B), padding length (B), flags (H), reserved (I: zero, or a filtered array record's
#: element size), payload length (Q).
RECORD_HEADER = struct.Struct("<BBHIQ")
#: A record's checksum (with :data:`CHECKSUMS_FLAG`): XXH3-64, seed 0.
RECORD_DIGEST = struct.Struct("<Q")

#: Raw memory payloads start at a multiple of this many bytes from the start of the stream.
ALIGNMENT = 64

PICKLE_RECORD = ord("P")
ARRAY_RECORD = ord("A")
BUFFER_RECORD = ord("B")
INDEX_RECORD = ord("X")
END_RECORD = ord("E")

RECORD_NAMES = {
    PICKLE_RECORD: "pickle",
    ARRAY_RECORD: "array",
    BUFFER_RECORD: "buffer",
    INDEX_RECORD: "index",
    END_RECORD: "end",
}

#: The end record's payload in an indexed stream: the stream offset of the index record's
#: header, and where in the compressed data reading must start to decompress it (0: not
#: compressed, or from the start).
END_LOCATOR = struct.Struct("<QQ")


def padding_before_payload(offset: int) -> int:
    """Zero bytes to put after a record header starting at ``offset`` to align its payload."""
    return -(offset + RECORD_HEADER.size) % ALIGNMENT
