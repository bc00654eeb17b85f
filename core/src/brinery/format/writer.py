"""Writes a brinery stream: the header, pickle records, raw memory records and the end record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import xxhash

from ..errors import DumpError
from ..streams.output import FrameBoundaries, Writable, write_all
from .layout import (
    CHECKSUMS_FLAG,
    END_RECORD,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
    padding_before_payload,
)

_ZEROS = bytes(64)
#: Payloads at least this large start and end compression frames of their own.
OWN_FRAMES_MIN_BYTES = 1 << 20


class StreamWriter:
    """The file object the pickler writes to; raw memory goes around the pickler as records.

    ``write`` (called by the pickler) wraps each piece of pickle output in a pickle record;
    :meth:`write_memory` writes an array's or buffer's memory as one aligned record, block by
    block, straight from that memory.  With ``checksums``, each record is followed by its
    XXH3-64 (see :data:`~brinery.format.layout.CHECKSUMS_FLAG`), computed as it is written.
    """

    def __init__(
        self, sink: Writable, *, checksums: bool = True, frames: FrameBoundaries | None = None
    ) -> None:
        self._sink = sink
        self._offset = 0
        self._checksums = checksums
        self._frames = frames  # the compressed writer, to give large payloads their own frames
        flags = CHECKSUMS_FLAG if checksums else 0
        self._header = STREAM_HEADER.pack(STREAM_MAGIC, FORMAT_MAJOR, FORMAT_MINOR, flags, 0)
        self._put(self._header)

    def write(self, data: Any) -> int:
        """Write pickle output (the pickler's ``file.write``)."""
        size = memoryview(data).nbytes
        if size:
            head = RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, size)
            self._put(head)
            self._put(data)
            if self._checksums:
                digest = xxhash.xxh3_64(head)
                digest.update(data)
                self._put(RECORD_DIGEST.pack(digest.intdigest()))
        return size

    def write_memory(self, kind: int, size: int, blocks: Iterable[memoryview]) -> None:
        """Write one aligned record of ``size`` bytes from ``blocks`` (byte views, in order).

        A large payload gets compression frames of its own (when the sink is a frame writer),
        so a reader can decompress them in parallel straight into the array's memory.
        """
        padding = padding_before_payload(self._offset)
        head = RECORD_HEADER.pack(kind, padding, 0, 0, size) + _ZEROS[:padding]
        self._put(head)
        digest = xxhash.xxh3_64(head) if self._checksums else None
        frames = self._frames if size >= OWN_FRAMES_MIN_BYTES else None
        if frames is not None:
            frames.end_frame()
        written = 0
        for block in blocks:
            self._put(block)
            if digest is not None:
                digest.update(block)
            written += block.nbytes
        if frames is not None:
            frames.end_frame()
        if written != size:
            raise DumpError(
                f"an array changed size while it was being written ({written} bytes instead "
                f"of {size})"
            )
        if digest is not None:
            self._put(RECORD_DIGEST.pack(digest.intdigest()))

    def finish(self) -> None:
        """Write the end record; the stream is complete after it."""
        head = RECORD_HEADER.pack(END_RECORD, 0, 0, 0, 0)
        self._put(head)
        if self._checksums:
            self._put(RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(self._header + head)))

    def _put(self, data: Any) -> None:
        write_all(self._sink, data)
        self._offset += memoryview(data).nbytes
