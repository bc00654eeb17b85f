"""Writes a brinery stream: the header, pickle records, raw memory records and the end record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import xxhash

from ..errors import DumpError
from ..streams.output import FrameBoundaries, Writable, write_all
from .index import FrameEntry, Index, Part, RecordEntry, encode
from .layout import (
    ARRAY_RECORD,
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    INDEX_RECORD,
    INDEXED_FLAG,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    SHUFFLED_RECORDS_FLAG,
    STREAM_HEADER,
    STREAM_MAGIC,
    UNINDEXED_MINOR,
    padding_before_payload,
)
from .shuffle import Shuffle, shuffled_blocks

_ZEROS = bytes(64)
#: Payloads at least this large start and end compression frames of their own.
OWN_FRAMES_MIN_BYTES = 1 << 20
#: A checksummed payload is checksummed and written this much at a time: still in the CPU's
#: cache when it is written, and more than a buffered file's buffer (which it then bypasses).
HOT_PIECE = 4 << 20
#: Pickle output is gathered into records of about this size (the C pickler hands it over in
#: frames of 64 KiB): each record costs the load a header, a checksum and a hand-over to the
#: unpickler, and a reader takes a record of up to 1 MiB in one read.
PICKLE_RECORD_BYTES = 1 << 20


class StreamWriter:
    """The file object the pickler writes to; raw memory goes around the pickler as records.

    ``write`` (called by the pickler) wraps each piece of pickle output in a pickle record;
    :meth:`write_memory` writes an array's or buffer's memory as one aligned record, block by
    block, straight from that memory.  With ``checksums``, each record is followed by its
    XXH3-64 (see :data:`~brinery.format.layout.CHECKSUMS_FLAG`), computed as it is written.
    With ``shuffles``, the stream may hold filtered array records, shuffled or delta-coded (its
    header says so: :data:`~brinery.format.layout.SHUFFLED_RECORDS_FLAG`), which
    :meth:`write_memory` writes when given a :class:`~brinery.format.shuffle.Shuffle`.
    """

    def __init__(
        self,
        sink: Writable,
        *,
        checksums: bool = True,
        frames: FrameBoundaries | None = None,
        shuffles: bool = False,
        indexed: bool = False,
        end_record_frame: bool = False,
    ) -> None:
        self._sink = sink
        self._offset = 0
        self._checksums = checksums
        self._frames = frames  # the compressed writer, to give large payloads their own frames
        # A file brinery writes itself can reserve disk blocks before a large payload.
        self._reserve = getattr(sink, "reserve", None) if frames is None else None
        self.shuffles = shuffles
        self._held: list[bytes] = []  # pickle output not written yet (see write)
        self._held_bytes = 0
        # An indexed stream (format 1.4): where its parts begin and end, and its array and
        # buffer records, for the index record (docs/format.md, section 5.5).
        self.indexed = indexed
        # The end record in a frame of its own (a codec that finds it from the file's end:
        # :attr:`~brinery.framing.Framing.end_frame`).
        self._end_record_frame = end_record_frame and frames is not None
        self._part_bounds: list[tuple[int, int]] = []
        self._memory_records: list[RecordEntry] = []
        flags = (
            (CHECKSUMS_FLAG if checksums else 0)
            | (SHUFFLED_RECORDS_FLAG if shuffles else 0)
            | (INDEXED_FLAG if indexed else 0)
        )
        minor = FORMAT_MINOR if indexed else UNINDEXED_MINOR
        self._header = STREAM_HEADER.pack(STREAM_MAGIC, FORMAT_MAJOR, minor, flags, 0)
        self._put(self._header)

    def write(self, data: Any) -> int:
        """Take pickle output (the pickler's ``file.write``): held until about
        :data:`PICKLE_RECORD_BYTES` are, then written as one pickle record."""
        size = memoryview(data).nbytes
        if not size:
            return 0
        if self._held_bytes + size > PICKLE_RECORD_BYTES:
            self._flush_pickle()
        if size >= PICKLE_RECORD_BYTES:  # (a large bytes or bytearray payload: not copied)
            self._write_pickle_record([data], size)
            return size
        if type(data) is not bytes:  # (a bytearray or a view may change or go once we return)
            data = bytes(data)
        self._held.append(data)
        self._held_bytes += size
        return size

    def _flush_pickle(self) -> None:
        """Write the held pickle output as one record."""
        if self._held:
            self._write_pickle_record(self._held, self._held_bytes)
            self._held = []
            self._held_bytes = 0

    def _write_pickle_record(self, parts: list[Any], size: int) -> None:
        head = RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, size)
        self._put(head)
        digest = xxhash.xxh3_64(head) if self._checksums else None
        for part in parts:
            self._put(part)
            if digest is not None:
                digest.update(part)
        if digest is not None:
            self._put(RECORD_DIGEST.pack(digest.intdigest()))

    def write_pickle_record(self, size: int, pieces: Iterable[Any]) -> None:
        """Write ``pieces`` (``size`` bytes of pickle output) as one pickle record, as given:
        ``brinery convert`` copies an indexed stream's pickle records one to one, so that every
        record, and every part, starts in the new stream where a record of the old one does
        (gathered with :meth:`write`, a record could straddle two parts)."""
        self._flush_pickle()
        head = RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, size)
        self._put(head)
        digest = xxhash.xxh3_64(head) if self._checksums else None
        written = 0
        for piece in pieces:
            self._put(piece)
            written += memoryview(piece).nbytes
            if digest is not None:
                digest.update(piece)
        if written != size:
            raise DumpError(f"a pickle record of {size} bytes was given {written} bytes")
        if digest is not None:
            self._put(RECORD_DIGEST.pack(digest.intdigest()))

    def write_memory(
        self,
        kind: int,
        size: int,
        blocks: Iterable[memoryview],
        shuffle: Shuffle | None = None,
    ) -> None:
        """Write one aligned record of ``size`` bytes from ``blocks`` (byte views, in order),
        filtered by ``shuffle`` if given (an array record of a stream that says it may hold
        filtered records: its flag and element size go in the header).

        A large payload gets compression frames of its own (when the sink is a frame writer),
        so a reader can decompress them in parallel straight into the array's memory.  A
        filtered one, compressed without brinery's checksums, goes to the frame writer as it is
        and each compression thread filters the frames it compresses (the main thread goes on
        pickling, and the array is never copied whole); otherwise it is filtered here, block by
        block (the checksum covers the bytes as stored; a file, a single-stream codec or a
        payload sharing its frames with pickle bytes has no frames of its own to filter).  Both
        ways write the same bytes, cut in the same frames.
        """
        self._flush_pickle()
        flags = element_size = 0
        if shuffle is not None:
            if not self.shuffles or kind != ARRAY_RECORD:
                raise ValueError("only array records of a stream that says so can be shuffled")
            flags, element_size = shuffle.flag, shuffle.element_size
        padding = padding_before_payload(self._offset)
        if self.indexed:
            self._memory_records.append(
                RecordEntry(self._offset, size, kind, padding, flags, element_size)
            )
        head = RECORD_HEADER.pack(kind, padding, flags, element_size, size) + _ZEROS[:padding]
        self._put(head)
        digest = xxhash.xxh3_64(head) if self._checksums else None
        large = size >= OWN_FRAMES_MIN_BYTES
        frames = self._frames if large else None
        if frames is not None:
            frames.end_frame()
        if large and self._reserve is not None:
            self._reserve(size + (RECORD_DIGEST.size if digest is not None else 0))
        if shuffle is None:
            written = self._write_blocks(blocks, digest)
        elif digest is None and frames is not None and frames.can_transform(shuffle.block_bytes):
            written = self._write_transformed(frames, blocks, shuffle)
        else:
            written = self._write_blocks(shuffled_blocks(blocks, shuffle), digest)
        if frames is not None:
            frames.end_frame()
        if written != size:
            raise DumpError(
                f"an array changed size while it was being written ({written} bytes instead "
                f"of {size})"
            )
        if digest is not None:
            self._put(RECORD_DIGEST.pack(digest.intdigest()))

    def _write_blocks(self, blocks: Iterable[memoryview], digest: Any) -> int:
        """Write ``blocks``, checksummed by ``digest`` if given; return their size.  Into a
        file, a checksummed payload goes in pieces, each checksummed right before it is written
        (one pass over memory, not two); a frame writer takes whole blocks, which it cuts into
        frames without copying."""
        piece = HOT_PIECE if digest is not None and self._frames is None else 0
        written = 0
        for block in blocks:
            for start in range(0, block.nbytes, piece or max(1, block.nbytes)):
                part = block[start : start + piece] if piece else block
                if digest is not None:
                    digest.update(part)
                self._put(part)
            written += block.nbytes
        return written

    def _write_transformed(
        self, frames: FrameBoundaries, blocks: Iterable[memoryview], shuffle: Shuffle
    ) -> int:
        """Hand ``blocks`` to the frame writer unfiltered, for its threads to filter."""
        transform = shuffle.shuffled  # (one object: the frame writer tells runs apart by it)
        written = 0
        for block in blocks:
            frames.write_transformed(block, transform)
            self._offset += block.nbytes
            written += block.nbytes
        return written

    def begin_part(self) -> None:
        """A part of an indexed stream begins: its records start here."""
        self._flush_pickle()
        self._part_bounds.append((self._offset, self._offset))

    def end_part(self) -> None:
        """The part begun last is complete (its pickle's ``STOP`` was written)."""
        self._flush_pickle()
        start, _ = self._part_bounds[-1]
        self._part_bounds[-1] = (start, self._offset)

    def set_parts(self, bounds: Iterable[tuple[int, int]]) -> None:
        """The parts of an indexed stream are those, each ``(start, end)`` in this stream
        (instead of :meth:`begin_part` and :meth:`end_part`): ``brinery convert`` copies the
        records of parts that were cut when the stream it reads was written."""
        if not self.indexed:
            raise ValueError("only an indexed stream has parts")
        self._part_bounds = list(bounds)

    @property
    def offset(self) -> int:
        """Bytes of the (uncompressed) stream written so far, pickle output held not included:
        where the next record starts when none is held."""
        return self._offset

    def finish(self, container: int = 0, memo_starts: Iterable[int] = ()) -> None:
        """Write the end record (in an indexed stream, the index record first, for parts that
        began at ``memo_starts`` and rebuild ``container``); the stream is complete after it."""
        self._flush_pickle()
        payload = b""
        if self.indexed:
            payload = self._write_index(container, list(memo_starts))
            if self._end_record_frame and self._frames is not None:
                self._frames.end_frame()
        head = RECORD_HEADER.pack(END_RECORD, 0, 0, 0, len(payload)) + payload
        self._put(head)
        if self._checksums:
            self._put(RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(self._header + head)))

    def _write_index(self, container: int, memo_starts: list[int]) -> bytes:
        """Write the index record; return the end record's payload, which locates it."""
        frames: list[FrameEntry] = []
        if self._frames is not None:
            # (the index record then starts a frame of its own)
            frames = self._frames.frames_so_far()
        parts = tuple(
            Part(start, end, memo)
            for (start, end), memo in zip(self._part_bounds, memo_starts, strict=True)
        )
        payload = encode(Index(container, parts, tuple(self._memory_records), tuple(frames)))
        index_offset = self._offset
        head = RECORD_HEADER.pack(INDEX_RECORD, 0, 0, 0, len(payload))
        self._put(head)
        self._put(payload)
        if self._checksums:
            digest = xxhash.xxh3_64(head)
            digest.update(payload)
            self._put(RECORD_DIGEST.pack(digest.intdigest()))
        index_frame = frames[-1].compressed_offset + frames[-1].compressed_size if frames else 0
        return END_LOCATOR.pack(index_offset, index_frame)

    def _put(self, data: Any) -> None:
        write_all(self._sink, data)
        self._offset += memoryview(data).nbytes
