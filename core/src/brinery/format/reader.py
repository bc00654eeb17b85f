"""Reads a brinery stream: serves the pickle bytes to the unpickler, raw memory to the arrays.

The pickler writes an array's memory the moment it meets the array, before the pickle bytes that
rebuild it, so raw memory records come first; the reader reads each one, when it reaches it,
straight into freshly allocated memory (no intermediate copy) and queues it until the unpickler
asks for it.  Array records are claimed by :mod:`brinery.rebuild`, buffer records by pickle's
``NEXT_BUFFER`` opcode.
"""

from __future__ import annotations

import bisect
import struct
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

import numpy as np
import xxhash

from ..errors import (
    BrineryError,
    CorruptFileError,
    SizeLimitError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedVersionError,
)
from ..mapping import FileMapping, warn
from .index import Index, RecordEntry, decode
from .layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    CHANGED_RECORD_FLAG,
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    FILTER_RECORD_FLAGS,
    FORMAT_MAJOR,
    INDEX_RECORD,
    INDEXED_FLAG,
    KNOWN_STREAM_FLAGS,
    MAPPED_WRITABLE_FLAG,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_FLAGS_OFFSET,
    RECORD_HEADER,
    RECORD_NAMES,
    SHUFFLED_RECORDS_FLAG,
    STREAM_FLAGS_OFFSET,
    STREAM_HEADER,
    STREAM_MAGIC,
    padding_before_payload,
)
from .shuffle import (
    DELTA_ELEMENT_SIZE,
    MAX_ELEMENT_SIZE,
    MIN_ELEMENT_SIZE,
    Shuffle,
    declared,
    unshuffled_pieces,
)

LINE_CHUNK = 1 << 16
#: Pickle data of a compressed stream is read at most this much at a time.
PICKLE_PIECE = 1 << 20
#: The largest index record a reader takes: 24 bytes a row, about 11 million parts, records
#: and frames (a 4 MiB frame each: 40 TiB of compressed data).
MAX_INDEX_BYTES = 256 << 20


class Readable(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


class SkippedRecord(NamedTuple):
    """A raw memory record read (and checked) but not kept: ``brinery info``."""

    size: int
    shuffle: str | None = None  # its filter ("byte", "bit", "delta"), if it has one


class ShuffledMemory(NamedTuple):
    """A shuffled array record, read and unshuffled: its memory and the filter it had (whose
    element size the array that claims it must have)."""

    memory: np.ndarray
    shuffle: Shuffle


class MappedRecord(NamedTuple):
    """An array or buffer record left in the file, mapped when it is claimed
    (``load(mmap_mode=)``)."""

    start: int  # of the record (its header), in the file
    offset: int  # of the payload, in the file
    size: int


class _Unchecked:
    """The running checksum of a record whose checksum no longer applies (written through a
    writable map): its stored checksum is read and passed over."""

    def update(self, data: Any) -> None:
        pass


_UNCHECKED = _Unchecked()
_NO_RECORD_DATA = np.empty(0, dtype=np.uint8)


class StreamReader:
    """The unpickler's file object (``read``, ``readinto``, ``readline``; no ``peek``, so the
    unpickler never reads ahead of what it consumes) and the source of raw memory records.

    With a ``mapping`` (``load(path, mmap_mode=)``, an uncompressed file, whose stream starts at
    its first byte), array and buffer records stay in the file and are mapped when claimed, and
    the pickle's own bytes can be mapped where they lie (:meth:`map_pickle_bytes`: the small
    arrays inside the pickle).  With ``mmap_mode="r+"``, every record mapped writable is first
    flagged in the file (:data:`~brinery.format.layout.CHANGED_RECORD_FLAG`): its checksum no
    longer applies, and readers pass over it.
    """

    def __init__(
        self,
        stream: Readable,
        *,
        what: str = "the data",
        room: int | None = None,
        max_bytes: int | None = None,
        mapping: FileMapping | None = None,
        skip_payloads: bool = False,
        threads: int = 1,
        part_of: tuple[bytes, int] | None = None,
        pass_over: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = stream
        # Skipping payloads (``skip_payloads``): how to pass over one without reading it, or
        # None to read and check it.
        self._pass_over = pass_over
        self._threads = threads  # for work on a whole record (undoing its filter)
        self._mapping = mapping  # array and buffer records stay in the file, mapped
        self._skip_payloads = skip_payloads  # raw memory is read and checked, not kept
        self._what = what
        self._room = room  # bytes the stream can hold at most (what is left of the file)
        self._max_bytes = max_bytes  # the caller's limit
        self._offset = 0
        self._pickle_left = 0  # bytes of the current pickle record not yet read
        self._held = b""  # pickle bytes read ahead by readline
        self._pickle_taken = 0  # pickle bytes read from records (held ones included)
        # Mapped loads: the pickle records, as (pickle position, payload offset, size, start),
        # their pickle positions apart for bisect, and the records flagged as changed.
        self._pickle_records: list[tuple[int, int, int, int]] = []
        self._pickle_starts: list[int] = []
        self._changed: set[int] = set()
        self._memory: deque[
            tuple[int, np.ndarray | MappedRecord | SkippedRecord | ShuffledMemory]
        ] = deque()
        self._shuffled = False  # set by the stream header's flag: records may be shuffled
        self._shuffle: Shuffle | None = None  # the filter of the record header read last
        self._warned_unmapped = False  # a mapped load said that shuffled records are not
        self._ended = False
        self._header = b""
        self._digested_header = b""  # what the end record's checksum covers
        self._checksums = False  # set by the stream header's flag
        self._mapped_writable = False  # set by the stream header's flag
        # An indexed stream (format 1.4): the array and buffer records met, which its index
        # must list, and the index once read (docs/format.md, section 5.5).
        self.indexed = False
        self._seen_records: list[RecordEntry] = []
        self.index: Index | None = None
        self._index_offset = -1
        self._digest: Any = None  # the current pickle record's running checksum
        self._record_start = 0
        # The current pickle record, read whole and checked, and how much of it was handed out
        # (empty: read from the stream as asked instead).
        self._record_data: np.ndarray = _NO_RECORD_DATA
        self._record_position = 0
        if part_of is None:
            self._read_stream_header()
        else:  # one part of an indexed stream, read alone (brinery.open): its header, its start
            header, self._offset = part_of
            self._check_stream_header(header)

    # -- the unpickler's file interface ----------------------------------------------------

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [self._take_held(len(self._held))]
            while self._open_pickle_record():
                parts.append(self._read_pickle(self._pickle_left))
            return b"".join(parts)
        if not self._held and size <= self._pickle_left:
            return self._read_pickle(size)
        parts = [self._take_held(size)]
        missing = size - len(parts[0])
        while missing and self._open_pickle_record():
            part = self._read_pickle(min(missing, self._pickle_left))
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)

    def read_for_c_unpickler(self, size: int = -1) -> bytes | np.ndarray:
        """:meth:`read`, for the C unpickler only: a whole pickle frame (a whole pickle record)
        comes in the memory it was read into, not copied again into ``bytes`` (the C unpickler
        copies what it keeps; the pure-Python one would keep the buffer where the pickle says
        ``bytes``, so it is given :meth:`read`)."""
        if 0 <= size <= self._pickle_left and not self._held:
            return self._read_pickle_into_new(size)
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        # The C unpickler hands a memoryview over its own short-lived buffer and never
        # invalidates it (CPython issue 151046): no view of it may outlive this call, not even
        # in the frames of a traceback (a debugger or error reporter would read freed memory).
        with memoryview(buffer) as view, view.cast("B") as target:
            del buffer  # (the caller's view: this frame keeps none)
            try:
                return self._readinto(target)
            except BaseException as error:
                import traceback  # (here: only a failure needs it)

                traceback.clear_frames(error.__traceback__)
                raise

    def _readinto(self, target: memoryview) -> int:
        held = self._take_held(len(target))
        target[: len(held)] = held
        filled = len(held)
        while filled < len(target) and self._open_pickle_record():
            take = min(len(target) - filled, self._pickle_left)
            with target[filled : filled + take] as part:
                if len(self._record_data):
                    part[:] = self._take_record_data(take).data
                else:
                    self._fill(part, "pickle data")
                self._consumed_pickle(part)
            filled += take
        return filled

    def readline(self, size: int = -1) -> bytes:
        """A line (with its newline), or at most ``size`` bytes of it."""
        parts = []
        taken = 0
        while True:
            limit = len(self._held) if size < 0 else min(len(self._held), size - taken)
            newline = self._held.find(b"\n", 0, limit)
            if newline >= 0:
                parts.append(self._take_held(newline + 1))
                return b"".join(parts)
            parts.append(self._take_held(limit))
            taken += limit
            if taken == size or not self._open_pickle_record():
                return b"".join(parts)
            self._held = self._read_pickle(min(LINE_CHUNK, self._pickle_left))

    # -- raw memory ------------------------------------------------------------------------

    def take_memory(self, kind: int, writeable: bool = True, itemsize: int | None = None) -> Any:
        """The next raw memory record, which must be of ``kind``, as a uint8 array (an
        ``np.memmap`` of the file in a mapped load, writable if ``writeable`` and the mode
        allows it); if it was shuffled, with elements of ``itemsize`` bytes when given."""
        while not self._memory:
            if self._ended:
                raise CorruptFileError(
                    f"the pickle data asks for {RECORD_NAMES[kind]} data that {self._what} "
                    "does not hold"
                )
            if self._pickle_left:
                # Records written in another order: hold the pickle bytes that come first.
                self._held += self._read_pickle(self._pickle_left)
            else:
                self._next_record()
        found_kind, memory = self._memory.popleft()
        if found_kind != kind:
            raise CorruptFileError(
                f"the pickle data asks for {RECORD_NAMES[kind]} data but the next record in "
                f"{self._what} holds {RECORD_NAMES[found_kind]} data"
            )
        if isinstance(memory, MappedRecord):
            return self._mapped_memory(memory, writeable)
        if isinstance(memory, ShuffledMemory):
            element_size = memory.shuffle.element_size
            if itemsize is not None and itemsize != element_size:
                raise CorruptFileError(
                    f"the pickle data asks for an array of {itemsize}-byte items, but the next "
                    f"record in {self._what} was filtered ({memory.shuffle.description}) as "
                    f"{element_size}-byte elements"
                )
            return memory.memory
        return memory

    # -- mapped loads ----------------------------------------------------------------------

    @property
    def mapping(self) -> FileMapping:
        """The maps of the file (mapped loads only)."""
        assert self._mapping is not None
        return self._mapping

    @property
    def pickle_position(self) -> int:
        """How many bytes of the pickle were handed to the unpickler."""
        return self._pickle_taken - len(self._held)

    def locate_pickle_bytes(self, position: int, size: int, writeable: bool) -> int | None:
        """Where in the file the pickle's ``size`` bytes at ``position`` (already read) lie, or
        ``None`` if they are not all in one pickle record (brinery never writes a payload
        across records).  Their record is flagged first if they will be mapped writable."""
        assert self._mapping is not None
        index = bisect.bisect_right(self._pickle_starts, position) - 1
        if index < 0:
            return None
        first, offset, length, start = self._pickle_records[index]
        if position + size > first + length:
            return None
        if writeable and self._mapping.writes_through:
            self._mark_changed(start)
        return offset + position - first

    def _mapped_memory(self, record: MappedRecord, writeable: bool) -> np.memmap:
        assert self._mapping is not None
        if writeable and self._mapping.writes_through:
            self._mark_changed(record.start)
        return self._mapping.memory(record.offset, record.size, writeable)

    def _mark_changed(self, start: int) -> None:
        """Flag the record at ``start`` in the file before it is mapped writable: its checksum
        no longer applies (and the stream header says that records may be so flagged)."""
        assert self._mapping is not None
        if start in self._changed:
            return
        if not self._mapped_writable:
            flags = STREAM_HEADER.unpack(self._header)[3] | MAPPED_WRITABLE_FLAG
            self._mapping.write(STREAM_FLAGS_OFFSET, struct.pack("<H", flags))
            self._mapped_writable = True
        self._mapping.write(start + RECORD_FLAGS_OFFSET, struct.pack("<H", CHANGED_RECORD_FLAG))
        self._changed.add(start)

    # -- the end ---------------------------------------------------------------------------

    def finish(self, *, unused_memory: bool = False) -> None:
        """Check that the stream ends right after the pickle: only the end record may follow
        (and, unless ``unused_memory``, every raw memory record was claimed)."""
        if self._held or self._pickle_left:
            raise CorruptFileError(f"{self._what} holds more pickle data after the pickle's end")
        while not self._ended:
            self._next_record()
            if self._pickle_left:
                raise CorruptFileError(
                    f"{self._what} holds more pickle data after the pickle's end"
                )
        if self._memory and not unused_memory:
            raise CorruptFileError(
                f"{self._what} holds {len(self._memory)} raw memory record(s) that the pickle "
                "never used"
            )
        if self._changed:
            assert self._mapping is not None
            self._mapping.flush()  # the flags on the disk before any array is written

    # -- records ---------------------------------------------------------------------------

    def _read_stream_header(self) -> None:
        head = bytearray(STREAM_HEADER.size)
        got = self._read_some(memoryview(head))
        if head[: min(got, len(STREAM_MAGIC))] != STREAM_MAGIC[: min(got, len(STREAM_MAGIC))]:
            raise UnknownFormatError(f"{self._what} is not a brinery stream")
        if got < len(head):
            if not got:
                raise UnknownFormatError(f"{self._what} is empty: it holds no brinery stream")
            raise TruncatedFileError(
                f"{self._what} ends in the middle of the stream header (after {got} bytes)"
            )
        self._check_stream_header(bytes(head))

    def _check_stream_header(self, head: bytes) -> None:
        magic, major, minor, flags, reserved = STREAM_HEADER.unpack(head)
        self._header = bytes(head)
        self._checksums = bool(flags & CHECKSUMS_FLAG)
        self._mapped_writable = bool(flags & MAPPED_WRITABLE_FLAG)
        self._shuffled = bool(flags & SHUFFLED_RECORDS_FLAG)
        self.indexed = bool(flags & INDEXED_FLAG)
        # (the flag is set after the stream was written: the end record's checksum omits it)
        self._digested_header = STREAM_HEADER.pack(
            magic, major, minor, flags & ~MAPPED_WRITABLE_FLAG, reserved
        )
        if magic != STREAM_MAGIC:
            raise UnknownFormatError(f"{self._what} is not a brinery stream")
        if major > FORMAT_MAJOR:
            raise UnsupportedVersionError(
                f"{self._what} uses brinery format {major}.{minor}, newer than the "
                f"{FORMAT_MAJOR}.x this version of brinery reads: upgrade brinery to load it"
            )
        if flags & ~KNOWN_STREAM_FLAGS or reserved:
            raise UnsupportedVersionError(
                f"{self._what} uses brinery format {major}.{minor} with features this version of "
                f"brinery does not know (flags {flags:#06x}, reserved {reserved:#x}): upgrade "
                "brinery to load it"
            )

    def _open_pickle_record(self) -> bool:
        """Make sure pickle bytes are at hand; false when the stream has no more."""
        while not self._pickle_left:
            if self._ended:
                return False
            self._next_record()
        return True

    def records(self) -> Iterator[tuple[int, int, Iterator[bytes]]]:
        """Every record up to the end record, as ``(kind, size, payload pieces)``: a stream
        copied without unpickling (``brinery convert``).  Each record is checked when its last
        piece is taken, so take them all before the next record.  A shuffled record's pieces
        are unshuffled; :attr:`shuffle` is its filter meanwhile.  An indexed stream's index
        record comes with no pieces: it was read and checked against the array and buffer
        records met, and is :attr:`index`."""
        while True:
            start = self._offset
            kind, head, padding, size, changed = self._record_header(start)
            if kind == END_RECORD:
                self._end_record(head, size, start)
                return
            if kind == INDEX_RECORD:
                self._index_record(head, size, start)
                yield kind, size, iter(())
                continue
            zeros = b""
            if kind != PICKLE_RECORD:
                self._saw_memory_record(kind, head, padding, size, start)
                zeros = self._padding(padding, start)
            shuffle = self._shuffle
            if shuffle is None:
                yield kind, size, self._pieces(head + zeros, size, start, changed)
            else:  # (read block by block: each unshuffles alone)
                pieces = self._pieces(head + zeros, size, start, changed, shuffle.block_bytes)
                yield kind, size, unshuffled_pieces(pieces, shuffle)

    @property
    def shuffle(self) -> Shuffle | None:
        """The filter of the record :meth:`records` yielded last (``None``: not shuffled)."""
        return self._shuffle

    def _pieces(
        self, covered: bytes, size: int, start: int, changed: bool, piece_size: int = 4 << 20
    ) -> Iterator[bytes]:
        digest = _UNCHECKED if changed else xxhash.xxh3_64(covered)
        what = f"the {size}-byte record at byte {start}"
        left = size
        while left:
            piece = self._read_exactly(min(left, piece_size), what)
            digest.update(piece)
            left -= len(piece)
            yield piece  # a fresh object each time: a frame writer may keep it until written
        if self._checksums:
            self._check_digest(digest, start)

    def _record_header(self, start: int) -> tuple[int, bytes, int, int, bool]:
        """A record's kind, header, padding, size and whether it was written through a writable
        map (its checksum no longer applies)."""
        head = self._read_exactly(RECORD_HEADER.size, "a record header")
        kind, padding, flags, reserved, size = RECORD_HEADER.unpack(head)
        aligned = kind in (ARRAY_RECORD, BUFFER_RECORD)
        changed = flags == CHANGED_RECORD_FLAG and self._mapped_writable and kind != END_RECORD
        self._shuffle = self._shuffle_of(kind, flags, reserved, start)
        if self._shuffle is not None:
            flags = reserved = 0  # (both said what the record's filter is)
        if (
            (flags and not changed)
            or reserved
            or padding != (padding_before_payload(start) if aligned else 0)
        ):
            raise CorruptFileError(
                f"the record header at byte {start} of {self._what} is damaged (kind "
                f"{kind:#04x}, padding {padding}, flags {flags:#x}, reserved {reserved:#x})"
            )
        if kind not in RECORD_NAMES:
            raise CorruptFileError(
                f"{self._what} has an unknown record kind {kind:#04x} at byte {start} of the "
                "stream"
            )
        self._check_size(start, padding, size)
        return kind, head, padding, size, changed

    def _shuffle_of(self, kind: int, flags: int, reserved: int, start: int) -> Shuffle | None:
        """The filter a record header declares (a filter flag, the element size in its
        reserved field), or ``None``; a filter it cannot have is damage."""
        if not flags & FILTER_RECORD_FLAGS:
            return None
        shuffle = declared(flags, reserved)
        if shuffle is None or kind != ARRAY_RECORD or not self._shuffled:
            raise CorruptFileError(
                f"the record header at byte {start} of {self._what} is damaged: it declares a "
                f"filter it cannot have (kind {kind:#04x}, flags {flags:#x}, element size "
                f"{reserved}; filtered records are array records of a stream that says it holds "
                f"them, with one filter: a shuffle of elements of {MIN_ELEMENT_SIZE} to "
                f"{MAX_ELEMENT_SIZE} bytes, or delta, of {DELTA_ELEMENT_SIZE}-byte elements)"
            )
        return shuffle

    def _padding(self, padding: int, start: int) -> bytes:
        zeros = self._read_exactly(padding, "record padding") if padding else b""
        if any(zeros):
            raise CorruptFileError(
                f"the padding of the record at byte {start} of {self._what} is not zero"
            )
        return zeros

    def _end_record(self, head: bytes, size: int, start: int) -> None:
        expected = END_LOCATOR.size if self.indexed else 0
        if size != expected or (self.indexed and self.index is None):
            missing = self.indexed and self.index is None
            raise CorruptFileError(
                f"the end record at byte {start} of {self._what} is damaged (it declares "
                f"{size} bytes{', and no index record came before it' if missing else ''})"
            )
        payload = self._read_exactly(size, "the end record") if size else b""
        if self._checksums:
            self._check_digest(xxhash.xxh3_64(self._digested_header + head + payload), start)
        if payload and END_LOCATOR.unpack(payload)[0] != self._index_offset:
            raise CorruptFileError(
                f"the end record of {self._what} is damaged: it locates the index at byte "
                f"{END_LOCATOR.unpack(payload)[0]}, not where it is ({self._index_offset})"
            )
        self._ended = True

    def _index_record(self, head: bytes, size: int, start: int) -> None:
        """Read, check and keep the index (read in pieces: its size allocates nothing before
        its bytes are in); it must list the array and buffer records the stream held."""
        if not self.indexed or self.index is not None or self._pickle_left or self._held:
            raise CorruptFileError(
                f"{self._what} has an index record where it cannot be (at byte {start})"
            )
        if size > MAX_INDEX_BYTES:
            raise CorruptFileError(
                f"the index record at byte {start} of {self._what} declares {size} bytes, more "
                f"than an index may hold ({MAX_INDEX_BYTES})"
            )
        digest = xxhash.xxh3_64(head)
        payload = bytearray()
        while len(payload) < size:
            piece = self._read_exactly(min(size - len(payload), PICKLE_PIECE), "the index record")
            digest.update(piece)
            payload += piece
        if self._checksums:
            self._check_digest(digest, start)
        self.index = decode(memoryview(payload), start)
        if list(self.index.records) != self._seen_records:
            raise CorruptFileError(
                f"the index record of {self._what} is damaged: it does not list the array and "
                "buffer records the stream holds"
            )
        self._index_offset = start

    def part_ended(self, end: int) -> bool:
        """Whether a part read alone was read exactly: its pickle bytes and raw memory records
        all taken, and the stream offset at ``end``, where the next part begins."""
        return not (self._held or self._pickle_left or self._memory) and self._offset == end

    def _saw_memory_record(
        self, kind: int, head: bytes, padding: int, size: int, start: int
    ) -> None:
        """Note an array or buffer record of an indexed stream, which its index must list."""
        if self.indexed:
            flags, reserved = RECORD_HEADER.unpack(head)[2:4]
            flags &= ~CHANGED_RECORD_FLAG  # (set by a writable map after the dump)
            self._seen_records.append(RecordEntry(start, size, kind, padding, flags, reserved))

    def more_parts(self) -> bool:
        """Whether another part of an indexed stream's pickle follows (its records up to its
        first pickle byte are read on the way); false once the index record was read."""
        return not self._held and self._open_pickle_record()

    def _next_record(self) -> None:
        start = self._offset
        kind, head, padding, size, changed = self._record_header(start)
        if kind == PICKLE_RECORD:
            self._pickle_left = size
            self._record_start = start
            if self._mapping is not None and size:
                self._pickle_records.append((self._pickle_taken, self._offset, size, start))
                self._pickle_starts.append(self._pickle_taken)
            if self._checksums:
                self._digest = _UNCHECKED if changed else xxhash.xxh3_64(head)
                if not size:
                    self._check_digest(self._digest, start)
            if size and (size <= PICKLE_PIECE or self._room is not None):
                self._read_pickle_record(size, start)
        elif kind in (ARRAY_RECORD, BUFFER_RECORD):
            self._saw_memory_record(kind, head, padding, size, start)
            zeros = self._padding(padding, start)
            shuffle = self._shuffle
            if self._mapping is not None and shuffle is None:
                self._memory.append((kind, self._map(start, size)))
                return
            if self._skip_payloads:
                skipped = self._skip(head + zeros, size, start, changed)
                if shuffle is not None:
                    skipped = skipped._replace(shuffle=shuffle.name)
                self._memory.append((kind, skipped))
                return
            digest: Any = None
            if self._checksums:
                digest = _UNCHECKED if changed else xxhash.xxh3_64(head)
                digest.update(zeros)
            memory = self._read_memory(size, start, digest)
            if digest is not None:
                self._check_digest(digest, start)
            if shuffle is not None:
                self._memory.append((kind, self._unshuffled(memory, shuffle)))
                return
            self._memory.append((kind, memory))
        elif kind == INDEX_RECORD:
            self._index_record(head, size, start)
        else:
            self._end_record(head, size, start)

    def _unshuffled(self, memory: np.ndarray, shuffle: Shuffle) -> ShuffledMemory:
        """A filtered record's memory (read, and checked as stored) unfiltered in place.  A
        mapped load reads it too, since the file does not hold the array's bytes, and says so
        once."""
        if self._mapping is not None and not self._warned_unmapped:
            self._warned_unmapped = True
            warn(
                "mmap_mode: the file's filtered arrays (shuffled or delta-coded) are loaded into "
                "memory, since the file does not hold their bytes as they are (dump with "
                "shuffle=False to map them)"
            )
        shuffle.unshuffle_in_place(memory, self._threads)
        return ShuffledMemory(memory, shuffle)

    def _check_size(self, start: int, padding: int, size: int) -> None:
        """Refuse a record whose declared size cannot fit, before anything is allocated."""
        end = self._offset + padding + size + (RECORD_DIGEST.size if self._checksums else 0)
        if self._room is not None and end > self._room:
            raise TruncatedFileError(
                f"{self._what} ends in the middle of the record at byte {start}, which declares "
                f"{size} bytes where only {max(0, self._room - self._offset)} follow its header: "
                "the file is truncated or the record header damaged"
            )
        if self._max_bytes is not None and end > self._max_bytes:
            raise SizeLimitError(
                f"{self._what} holds more than max_bytes={self._max_bytes} bytes: the record at "
                f"byte {start} of its stream declares {size} bytes"
            )

    def _skip(self, covered: bytes, size: int, start: int, changed: bool) -> SkippedRecord:
        if self._pass_over is not None:  # a part read at random: its raw memory is not read
            after = size + (RECORD_DIGEST.size if self._checksums else 0)
            self._pass_over(after)
            self._offset += after
            return SkippedRecord(size)
        for _ in self._pieces(covered, size, start, changed):
            pass
        return SkippedRecord(size)

    @property
    def header(self) -> tuple[int, int, bool]:
        """The stream's format version and whether it carries brinery's checksums."""
        return self._header[8], self._header[9], self._checksums

    @property
    def offset(self) -> int:
        """Bytes of the stream read so far."""
        return self._offset

    def _map(self, start: int, size: int) -> MappedRecord:
        """Leave the payload in the file (its checksum is skipped: checking it would read it)."""
        record = MappedRecord(start, self._offset, size)
        self._stream.skip(size)  # type: ignore[attr-defined]  # a Source, for mapped loads
        self._offset += size
        if self._checksums:
            self._read_exactly(RECORD_DIGEST.size, "a checksum")
        return record

    def _read_memory(self, size: int, start: int, digest: Any) -> np.ndarray:
        """A raw memory record's payload, read into fresh memory; with a ``digest`` and an
        uncompressed stream, in pieces small enough to stay in the CPU's cache between the read
        that brings them and the checksum that covers them (one pass over memory, not two)."""
        try:
            memory = np.empty(size, dtype=np.uint8)
        except (MemoryError, ValueError) as error:
            raise CorruptFileError(
                f"the record at byte {start} of {self._what} declares {size} bytes, more than "
                "can be allocated"
            ) from error
        what = f"the {size}-byte record at byte {start}"
        fill_checking = getattr(self._stream, "fill_checking", None)
        if digest is None or fill_checking is None:
            # (a decompressed stream is read whole: its frames decompress straight into the
            # memory where they fit, which pieces would prevent)
            self._fill(memory.data, what)
            if digest is not None:
                digest.update(memory.data)
            return memory
        with memoryview(memory.data) as view:  # (released on every path)
            filled = self._reading(fill_checking, view, digest.update)
        self._offset += filled
        if filled < size:
            raise TruncatedFileError(
                f"{self._what} ends in the middle of {what} (at byte {self._offset} of the "
                "stream)"
            )
        return memory

    def _read_pickle(self, size: int) -> bytes:
        """``size`` bytes of the current pickle record (which holds them)."""
        data = self._read_pickle_into_new(size)
        return data if type(data) is bytes else bytes(data)

    def _read_pickle_record(self, size: int, start: int) -> None:
        """Read the pickle record just opened whole, and check it, before the unpickler has any
        of it: its many small reads (opcodes, lengths, a frame) are then served from memory.
        Only for a record whose bytes are known to be there, or at most
        :data:`PICKLE_PIECE` (a declared size allocates no more before its data arrives)."""
        data = np.empty(size, dtype=np.uint8)
        with memoryview(data.data) as view:  # (released on every path)
            self._fill(view, "pickle data")
            if self._digest is not None:
                self._digest.update(view)
                self._check_digest(self._digest, start)
                self._digest = None
        self._record_data = data
        self._record_position = 0

    def _take_record_data(self, size: int) -> np.ndarray:
        """The next ``size`` bytes of the pickle record read whole (it holds them)."""
        position = self._record_position
        data = self._record_data[position : position + size]
        self._record_position = position + size
        if self._record_position == len(self._record_data):
            self._record_data = _NO_RECORD_DATA
        return data

    def _read_pickle_into_new(self, size: int) -> bytes | np.ndarray:
        """:meth:`_read_pickle` in memory of its own (not zeroed first, unlike a
        ``bytearray``: the read fills it), not copied into ``bytes``.  A record not read whole
        (:meth:`_read_pickle_record`: larger than :data:`PICKLE_PIECE`, in a stream of unknown
        size) is read from the stream in pieces: a declared length allocates only what
        arrived."""
        if len(self._record_data):
            taken = self._take_record_data(size)
            self._consumed_pickle(taken)
            return taken
        if size <= PICKLE_PIECE:
            data = np.empty(size, dtype=np.uint8)
            with memoryview(data.data) as view:  # (released on every path)
                self._fill(view, "pickle data")
                self._consumed_pickle(view)
            return data
        pieces: list[Any] = []
        left = size
        while left:
            piece = self._read_pickle_into_new(min(left, PICKLE_PIECE))
            pieces.append(piece)
            left -= len(piece)
        return b"".join(pieces)

    def _consumed_pickle(self, data: Any) -> None:
        """Account for pickle bytes read from the current record; check it once it is whole,
        before the unpickler acts on its last bytes (it reads a whole pickle frame, which is a
        whole record, at once)."""
        self._pickle_left -= len(data)
        self._pickle_taken += len(data)
        if self._digest is not None:
            self._digest.update(data)
            if not self._pickle_left:
                self._check_digest(self._digest, self._record_start)
                self._digest = None

    def check_current_record(self) -> None:
        """Read the rest of the pickle record being read and check its checksum: called when
        the unpickler fails, so that damage is reported as such."""
        while self._digest is not None and self._pickle_left:
            self._read_pickle(min(self._pickle_left, LINE_CHUNK))

    def _check_digest(self, digest: Any, start: int) -> None:
        stored = RECORD_DIGEST.unpack(self._read_exactly(RECORD_DIGEST.size, "a checksum"))[0]
        if digest is not _UNCHECKED and stored != digest.intdigest():
            raise CorruptFileError(
                f"the record at byte {start} of {self._what} is damaged: its checksum does not "
                f"match (stored {stored:#018x}, computed {digest.intdigest():#018x})"
            )

    def _take_held(self, size: int) -> bytes:
        taken, self._held = self._held[:size], self._held[size:]
        return taken

    def _read_exactly(self, size: int, what: str) -> bytes:
        data = bytearray(size)
        with memoryview(data) as view:  # (released on every path)
            self._fill(view, what)
        return bytes(data)

    def _fill(self, target: memoryview, what: str) -> None:
        """Fill ``target`` from the stream, or raise :class:`TruncatedFileError` about ``what``."""
        filled = self._read_some(target)
        if filled < len(target):
            raise TruncatedFileError(
                f"{self._what} ends in the middle of {what} (at byte {self._offset} of the "
                "stream)"
            )

    def _read_some(self, target: memoryview) -> int:
        """Fill ``target`` as far as the stream goes, turning any failure into a brinery error."""
        filled = 0
        while filled < len(target):
            got = self._reading(self._stream.readinto, target[filled:], offset=filled)
            if not got:
                break
            filled += got
        self._offset += filled
        return filled

    def _reading(self, read: Any, *arguments: Any, offset: int = 0) -> int:
        """``read(*arguments)``, any failure but brinery's own turned into a brinery error."""
        try:
            return int(read(*arguments) or 0)
        except BrineryError:
            raise
        except Exception as error:  # an opaque codec's own exception
            raise CorruptFileError(
                f"{self._what} cannot be read at byte {self._offset + offset} of the "
                f"stream: {type(error).__name__}: {error}"
            ) from error
