"""The seek table of an indexed zstd or LZ4 file: the zstd seekable format's, read and written.

After the last frame of an indexed stream, brinery writes one skippable frame (which the ``zstd``
and ``lz4`` tools skip) listing every frame of the file in order, frame hints included as frames
of decompressed size 0, so that cumulative sizes give every frame's offset (docs/format.md,
section 3, "Seek tables"; the layout is the zstd seekable format's)::

    u32 0x184D2A5E  u32 frame size          the skippable frame's header (8 bytes)
    u32 compressed size  u32 decompressed size  [u32 checksum]    one entry per frame
    u32 number of entries  u8 descriptor  u32 0x8F92EAB1           the footer (9 bytes)

The table is found from the end of a file (:func:`table_length` from the last 9 bytes, then
:func:`parse`), or met by the reader right after a stream's last frame (:class:`FrameTally`).
Files are hostile: every size is checked against the bytes in hand before it is believed, and
nothing is allocated by a declared count before the bytes it counts are read.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeAlias

import numpy as np

from ..errors import CorruptFileError
from ..format.index import FrameEntry

#: The skippable-frame magic the zstd seekable format gives its seek table (bytes 5E 2A 4D 18).
SEEK_TABLE_MAGIC = 0x184D2A5E
#: The magic that ends a seek table, and so the file (bytes B1 EA 92 8F).
SEEKABLE_MAGIC = 0x8F92EAB1
#: The most entries the format allows (zstd's ``ZSTD_SEEKABLE_MAXFRAMES``).
MAX_ENTRIES = 0x8000000
#: Descriptor bit 7: each entry carries a checksum of its frame's data (12-byte entries).
CHECKSUM_FLAG = 0x80
#: Descriptor bits 6-2, which must be 0 (bits 1-0 are unused: ignored).
RESERVED_BITS = 0x7C

HEADER = struct.Struct("<II")  # skippable magic, frame size (not counting these 8 bytes)
FOOTER = struct.Struct("<IBI")  # number of entries, descriptor, seekable magic
ENTRY = struct.Struct("<II")  # compressed size, decompressed size (what brinery writes)
CHECKSUMMED_ENTRY_BYTES = 12
#: The fewest bytes a seek table takes: a header and a footer, no entry.
SMALLEST_TABLE = HEADER.size + FOOTER.size

_SIZE_LIMIT = 1 << 32  # sizes are u32
_SEEKABLE_MAGIC_BYTES = struct.pack("<I", SEEKABLE_MAGIC)
_PAIR = struct.Struct("<QQ")  # what a FrameTally digests per frame

Buffer: TypeAlias = bytes | bytearray | memoryview


class SeekFrame(NamedTuple):
    """One frame as a seek table lists it (offsets from the start of the compressed data and
    of the decompressed stream)."""

    compressed_offset: int
    compressed_size: int
    decompressed_offset: int
    decompressed_size: int


# -- writing ---------------------------------------------------------------------------------


def table_frames(entries: Sequence[FrameEntry], uncompressed_end: int) -> list[tuple[int, int]]:
    """The (compressed size, decompressed size) of every frame of a file whose data frames are
    ``entries`` and whose stream holds ``uncompressed_end`` bytes, in the order of the file.

    Bytes between data frames (a frame hint) and before the first (a framing header) are
    frames of decompressed size 0 of their own, so that the compressed sizes add up to where
    the table starts, and give each frame's offset.
    """
    frames: list[tuple[int, int]] = []
    position = 0
    ends = [entry.uncompressed_offset for entry in entries[1:]] + [uncompressed_end]
    for entry, end in zip(entries, ends, strict=True):
        if entry.compressed_offset > position:
            frames.append((entry.compressed_offset - position, 0))
        frames.append((entry.compressed_size, end - entry.uncompressed_offset))
        position = entry.compressed_offset + entry.compressed_size
    return frames


def encode(frames: Sequence[tuple[int, int]]) -> bytes:
    """The seek table (the whole skippable frame) listing ``frames``, each its compressed and
    decompressed size, in the file's order; descriptor 0: no checksums.

    Raises ValueError for a size the format cannot hold (2**32 or more) or too many frames.
    """
    if len(frames) > MAX_ENTRIES:
        raise ValueError(f"a seek table lists at most {MAX_ENTRIES} frames, not {len(frames)}")
    for number, (compressed, decompressed) in enumerate(frames):
        if not (0 <= compressed < _SIZE_LIMIT and 0 <= decompressed < _SIZE_LIMIT):
            raise ValueError(
                f"frame {number} of a seek table has sizes {compressed} (compressed) and "
                f"{decompressed} (decompressed): each must be at least 0 and less than 2**32"
            )
    entries = b"".join(ENTRY.pack(compressed, decompressed) for compressed, decompressed in frames)
    footer = FOOTER.pack(len(frames), 0, SEEKABLE_MAGIC)
    return HEADER.pack(SEEK_TABLE_MAGIC, len(entries) + len(footer)) + entries + footer


# -- reading ---------------------------------------------------------------------------------


class SeekTable:
    """A parsed seek table: per frame, in the file's order, its compressed and decompressed
    offsets and sizes, and where the table itself lies.  The four columns are numpy ``uint64``
    arrays: 32 bytes a frame, 4 times the table's own bytes (a tuple of Python ints per frame
    would take over 100), since a hostile table may list up to 2**27 frames.

    Entry checksums (descriptor bit 7, written by other tools) are not verified: brinery's
    frames carry their own checks, which a reader verifies as it decompresses them.
    """

    def __init__(
        self, compressed_sizes: np.ndarray, decompressed_sizes: np.ndarray, offset: int, length: int
    ) -> None:
        self.compressed_sizes = compressed_sizes
        self.decompressed_sizes = decompressed_sizes
        self.compressed_offsets = np.cumsum(compressed_sizes) - compressed_sizes
        self.decompressed_offsets = np.cumsum(decompressed_sizes) - decompressed_sizes
        self.offset = offset  # where the table starts: the frames' total compressed size
        self.length = length  # the table's bytes, its skippable frame's header included
        self.decompressed_size = int(decompressed_sizes.sum())  # the whole stream's

    def __len__(self) -> int:
        return len(self.compressed_sizes)

    def __getitem__(self, index: int) -> SeekFrame:
        return SeekFrame(
            int(self.compressed_offsets[index]),
            int(self.compressed_sizes[index]),
            int(self.decompressed_offsets[index]),
            int(self.decompressed_sizes[index]),
        )

    def __iter__(self) -> Iterator[SeekFrame]:
        columns = (
            self.compressed_offsets,
            self.compressed_sizes,
            self.decompressed_offsets,
            self.decompressed_sizes,
        )
        return map(SeekFrame._make, zip(*(column.tolist() for column in columns), strict=True))

    def frame_holding(self, decompressed_offset: int) -> int:
        """The index of the frame holding the stream's byte at ``decompressed_offset`` (never a
        frame of size 0: a hint); IndexError past the end of the stream."""
        if not 0 <= decompressed_offset < self.decompressed_size:
            raise IndexError(
                f"byte {decompressed_offset} is not in a stream of {self.decompressed_size} bytes"
            )
        ends = self.decompressed_offsets + self.decompressed_sizes
        return int(np.searchsorted(ends, decompressed_offset, side="right"))


class _Footer(NamedTuple):
    entries: int
    entry_bytes: int

    @property
    def table_length(self) -> int:
        return HEADER.size + self.entries * self.entry_bytes + FOOTER.size


def _footer(last_nine: Buffer) -> _Footer | None:
    """The footer ``last_nine`` (a file's last 9 bytes) is, None if it does not end with the
    seekable magic; a footer with reserved bits set or too many entries is damage."""
    if len(last_nine) != FOOTER.size or bytes(last_nine[-4:]) != _SEEKABLE_MAGIC_BYTES:
        return None
    entries, descriptor, _ = FOOTER.unpack(last_nine)
    if descriptor & RESERVED_BITS:
        raise CorruptFileError(
            f"the seek table's descriptor has reserved bits set (descriptor {descriptor:#04x}, "
            f"reserved bits {RESERVED_BITS:#04x} must be 0)"
        )
    if entries > MAX_ENTRIES:
        raise CorruptFileError(
            f"the seek table's footer declares {entries} frames, more than the format allows "
            f"({MAX_ENTRIES})"
        )
    checksums = descriptor & CHECKSUM_FLAG
    return _Footer(entries, CHECKSUMMED_ENTRY_BYTES if checksums else ENTRY.size)


def footer_entries(last_nine: Buffer) -> int | None:
    """How many frames the seek table ending with ``last_nine`` (a file's last 9 bytes) lists;
    None if they are not a seek table's footer.  Raises CorruptFileError for a footer with
    reserved bits set or more entries than the format allows."""
    footer = _footer(last_nine)
    return None if footer is None else footer.entries


def table_length(last_nine: Buffer) -> int | None:
    """The whole length of the seek table ending with ``last_nine`` (a file's last 9 bytes),
    its skippable frame's header included (entries of 8 or 12 bytes, as the descriptor says);
    None if they are not a seek table's footer.  The caller checks the file holds that much
    before it reads it; :func:`parse` then checks the rest."""
    footer = _footer(last_nine)
    return None if footer is None else footer.table_length


def longest_table(frames: int) -> int:
    """The most bytes a seek table of ``frames`` entries may take (entries with checksums)."""
    return HEADER.size + frames * CHECKSUMMED_ENTRY_BYTES + FOOTER.size


def declared_length(head: Buffer) -> int | None:
    """The whole length that the seek table starting ``head`` (at least its first 8 bytes)
    declares, None if ``head`` does not start with the seek table's skippable magic."""
    if len(head) < HEADER.size:
        return None
    magic, size = HEADER.unpack_from(head)
    return HEADER.size + size if magic == SEEK_TABLE_MAGIC else None


def ends_with_footer(table: Buffer) -> bool:
    """Whether ``table`` ends with the seekable magic (so that its last bytes are a footer)."""
    return len(table) >= SMALLEST_TABLE and bytes(table[-4:]) == _SEEKABLE_MAGIC_BYTES


def parse(table: Buffer, table_offset: int) -> SeekTable:
    """The seek table ``table`` (the whole skippable frame), which starts at ``table_offset`` in
    the compressed data: the frames it lists must fill exactly the bytes before it.

    Raises CorruptFileError, saying what is wrong, for anything but a well-formed table.
    Checksummed entries (12 bytes) parse; their checksums are not verified.
    """
    if len(table) < SMALLEST_TABLE:
        raise CorruptFileError(
            f"a seek table takes at least {SMALLEST_TABLE} bytes, this one {len(table)}"
        )
    magic, frame_size = HEADER.unpack_from(table)
    if magic != SEEK_TABLE_MAGIC:
        raise CorruptFileError(
            f"the seek table does not start with its skippable frame magic ({magic:#010x}, "
            f"not {SEEK_TABLE_MAGIC:#010x})"
        )
    if frame_size != len(table) - HEADER.size:
        raise CorruptFileError(
            f"the seek table's frame size field says {frame_size} bytes, where the table holds "
            f"{len(table) - HEADER.size} after its {HEADER.size}-byte header"
        )
    footer = _footer(table[-FOOTER.size :])
    if footer is None:
        raise CorruptFileError("the seek table does not end with the seekable magic")
    if footer.table_length != len(table):
        raise CorruptFileError(
            f"the seek table's footer declares {footer.entries} frames of {footer.entry_bytes} "
            f"bytes each, a table of {footer.table_length} bytes, where it holds {len(table)}"
        )
    words = np.frombuffer(
        table, dtype="<u4", count=footer.entries * footer.entry_bytes // 4, offset=HEADER.size
    ).reshape(footer.entries, footer.entry_bytes // 4)
    compressed = words[:, 0].astype(np.uint64)
    decompressed = words[:, 1].astype(np.uint64)
    total = int(compressed.sum())
    if total != table_offset:
        raise CorruptFileError(
            f"the seek table's {footer.entries} frames take {total} compressed bytes, where "
            f"{table_offset} come before the table"
        )
    return SeekTable(compressed, decompressed, table_offset, len(table))


class FrameTally:
    """The frames a reader passed over, to check the seek table after them against, in
    constant memory (a file of tiny frames must not cost memory by its number of frames): their
    number, their total sizes and a digest of their sizes in order."""

    def __init__(self) -> None:
        self.frames = 0
        self.compressed = 0
        self.decompressed = 0
        self._digest = hashlib.blake2b(digest_size=16)

    def add(self, compressed_size: int, decompressed_size: int) -> None:
        self.frames += 1
        self.compressed += compressed_size
        self.decompressed += decompressed_size
        self._digest.update(_PAIR.pack(compressed_size, decompressed_size))

    def check(self, table: SeekTable) -> None:
        """Raise CorruptFileError unless ``table`` lists exactly these frames, in order."""
        listed = (len(table), int(table.compressed_sizes.sum()), table.decompressed_size)
        passed = (self.frames, self.compressed, self.decompressed)
        if listed != passed:
            raise CorruptFileError(
                "the seek table after the brinery stream does not match its frames: it lists "
                f"{listed[0]} frames of {listed[1]} compressed and {listed[2]} decompressed "
                f"bytes, where the data has {passed[0]} frames of {passed[1]} and {passed[2]}"
            )
        if _digest_of(table) != self._digest.digest():
            raise CorruptFileError(
                f"the seek table after the brinery stream does not match its frames: its "
                f"{len(table)} frames have the data's total sizes, but not each its own"
            )


def _digest_of(table: SeekTable) -> bytes:
    """What :class:`FrameTally` digests for the frames ``table`` lists."""
    pairs = np.column_stack((table.compressed_sizes, table.decompressed_sizes)).astype("<u8")
    return hashlib.blake2b(pairs.tobytes(), digest_size=16).digest()

