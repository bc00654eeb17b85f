"""Copying a stream record by record, without unpickling: ``brinery convert`` and
``brinery bench``.  Each record is checked as it is read and written anew (new padding, new
checksums, new compression frames).  A filtered (shuffled, delta-coded) record is read
unfiltered and filtered again when the new stream may hold filtered records (a compressed one),
so it is copied unfiltered into an uncompressed file, which can then be mapped.

An indexed stream (docs/format.md, section 5.5) is copied into an indexed stream: its pickle
records one to one (so each part's records stay its own), its parts as they were (same pickle
bytes, same memo starts, same container), and a new index, written by the
:class:`~brinery.format.writer.StreamWriter`, giving where the parts and the array and buffer
records now lie (a record's padding depends on where it starts) and the new stream's frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from ..errors import CorruptFileError
from .index import Part
from .layout import INDEX_RECORD, PICKLE_RECORD
from .reader import StreamReader
from .writer import StreamWriter


def copy_records(
    reader: StreamReader, writer: StreamWriter, after_each: Callable[[], None] | None = None
) -> tuple[int, list[int]] | None:
    """Every record of ``reader``'s stream into ``writer`` (whose caller then finishes it);
    ``after_each`` is called after each record.  For an indexed stream (``writer`` must be
    indexed when ``reader`` is, and only then), returns what
    :meth:`~brinery.format.writer.StreamWriter.finish` needs: the container kind and the
    parts' first memo indices; otherwise ``None``."""
    if reader.indexed != writer.indexed:
        raise ValueError("an indexed stream is copied into an indexed stream, and only one")
    moved: dict[int, int] = {}  # an indexed stream's record starts: {old offset: new offset}
    for old_start, kind, size, pieces in _records_at(reader):
        if writer.indexed:
            moved[old_start] = writer.offset  # (nothing held: pickle records are not gathered)
        if kind == PICKLE_RECORD:
            _copy_pickle(writer, size, pieces)
        elif kind != INDEX_RECORD:  # (the writer writes a new one, in finish)
            shuffle = reader.shuffle if writer.shuffles else None
            writer.write_memory(kind, size, (memoryview(piece) for piece in pieces), shuffle)
        if after_each is not None:
            after_each()
    if reader.index is None:
        return None
    writer.set_parts(moved_parts(reader.index.parts, moved))
    return reader.index.container, [part.memo_start for part in reader.index.parts]


def _records_at(reader: StreamReader) -> Iterator[tuple[int, int, int, Iterator[bytes]]]:
    """:meth:`~brinery.format.reader.StreamReader.records`, each with where it starts in the
    stream (where the record before it ended: the caller takes each record whole first)."""
    start = reader.offset
    for kind, size, pieces in reader.records():
        yield start, kind, size, pieces
        start = reader.offset


def _copy_pickle(writer: StreamWriter, size: int, pieces: Iterator[bytes]) -> None:
    """One pickle record: as it is into an indexed stream (parts begin and end at records),
    gathered with the pickle output around it otherwise (as ``dump`` gathers it)."""
    if writer.indexed:
        writer.write_pickle_record(size, pieces)
        return
    for piece in pieces:
        writer.write(piece)


def moved_parts(parts: Sequence[Part], moved: Mapping[int, int]) -> list[tuple[int, int]]:
    """The bounds of ``parts`` in the new stream, from ``moved``, where each record of the old
    stream (the index record included) starts in the new one.  The index was checked against
    the stream's extent and order when read, but not that parts begin and end where records do:
    a part that does not is damage."""
    bounds = []
    for number, part in enumerate(parts):
        start, end = moved.get(part.start), moved.get(part.end)
        if start is None or end is None:
            raise CorruptFileError(
                f"the index record is damaged: part {number} (bytes {part.start} to {part.end}) "
                "does not begin and end where records do"
            )
        bounds.append((start, end))
    return bounds
