"""Copying a stream record by record, without unpickling: ``brinery convert`` and
``brinery bench``.  Each record is checked as it is read and written anew (new padding, new
checksums, new compression frames).  A filtered (shuffled, delta-coded) record is read
unfiltered and filtered again when the new stream may hold filtered records (a compressed one),
so it is copied unfiltered into an uncompressed file, which can then be mapped."""

from __future__ import annotations

from collections.abc import Callable

from .layout import PICKLE_RECORD
from .reader import StreamReader
from .writer import StreamWriter


def copy_records(
    reader: StreamReader, writer: StreamWriter, after_each: Callable[[], None] | None = None
) -> None:
    """Every record of ``reader``'s stream into ``writer`` (whose caller then finishes it)."""
    for kind, size, pieces in reader.records():
        if kind == PICKLE_RECORD:
            for piece in pieces:
                writer.write(piece)
        else:
            shuffle = reader.shuffle if writer.shuffles else None
            writer.write_memory(kind, size, (memoryview(piece) for piece in pieces), shuffle)
        if after_each is not None:
            after_each()
