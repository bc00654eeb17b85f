"""A sample of a file's stream for ``brinery bench``: pieces spread evenly over all of it.

Measuring every compressor on a 200 MB file took most of an hour; a few tens of megabytes
spread over the file say nearly as much about its data.  The stream is read once, as
``brinery convert`` reads it (decompressed, every check made), and cut into pieces of equal
length; piece *i* is kept while *i* is a multiple of a stride, which doubles (dropping every
other kept piece) whenever the kept bytes pass the budget.  So the sample is spread over the
whole stream, without knowing its length in advance (a compressed file does not say it), in
memory bounded by the budget.

The kept bytes of each record become one record of the sample, of the same kind, in order: a
record small enough to fall in one kept piece is kept whole, and a file within the budget is
sampled whole.  The sample is a valid uncompressed brinery stream (its pickle is cut, so it is
for copying records, never for unpickling), never an indexed one: an indexed file's index
record, which only says where the file's own parts and records lie, is left out, and its
pickle records and array and buffer records are sampled as any file's are.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
from collections.abc import Callable

from .format.layout import INDEX_RECORD, PICKLE_RECORD
from .format.writer import StreamWriter
from .pipeline import check_nothing_follows, opened_stream, write_stream
from .streams.source import Source

#: The longest piece: long enough for a codec to find the data's patterns, short enough that
#: a sample of tens of megabytes has dozens of pieces from all over the file.
PIECE_BYTES = 1 << 20
#: A budget holds at least this many pieces (smaller pieces for a small budget).
MIN_PIECES = 16
#: The buffer size of the file read.
READ_BUFFER_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Sample:
    """The sampled stream, and how much of the file's stream it holds."""

    stream: bytes  # an uncompressed brinery stream (with checksums) of the kept records
    stream_bytes: int  # payload bytes of every record of the file's stream
    sampled_bytes: int  # payload bytes kept
    piece_bytes: int  # the length of a piece
    stride: int  # every stride-th piece was kept

    @property
    def whole(self) -> bool:
        return self.stride == 1


@dataclasses.dataclass
class _Part:
    piece: int  # the index of the piece it lies in
    record: int  # the index of the record it comes from
    kind: int
    data: bytearray


class Sampler:
    """Keeps evenly spread pieces of the records it is given, within ``budget`` bytes (``0``:
    keeps everything)."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self.piece_bytes = PIECE_BYTES
        if budget:
            self.piece_bytes = max(1, min(PIECE_BYTES, budget // MIN_PIECES))
        self.stride = 1
        self.position = 0  # payload bytes seen
        self.kept_bytes = 0
        self._parts: list[_Part] = []
        self._record = -1
        self._kind = PICKLE_RECORD

    def start_record(self, kind: int) -> None:
        self._record += 1
        self._kind = kind

    def add(self, data: bytes | bytearray | memoryview) -> None:
        """The next bytes of the current record's payload."""
        view = memoryview(data).cast("B")
        offset = 0
        while offset < len(view):
            piece = self.position // self.piece_bytes
            end = min(len(view), offset + (piece + 1) * self.piece_bytes - self.position)
            if piece % self.stride == 0:
                self._keep(piece, view[offset:end])
            self.position += end - offset
            offset = end

    def parts(self) -> list[tuple[int, int, list[bytearray]]]:
        """``(record index, kind, kept pieces)`` for each record with kept bytes, in order."""
        return [
            (record, group[0].kind, [part.data for part in group])
            for record, grouped in itertools.groupby(self._parts, key=lambda part: part.record)
            for group in [list(grouped)]
        ]

    def _keep(self, piece: int, data: memoryview) -> None:
        last = self._parts[-1] if self._parts else None
        if last is not None and last.piece == piece and last.record == self._record:
            last.data += data
        else:
            self._parts.append(_Part(piece, self._record, self._kind, bytearray(data)))
        self.kept_bytes += len(data)
        while self._budget and self.kept_bytes > self._budget:
            self.stride *= 2
            self._parts = [part for part in self._parts if part.piece % self.stride == 0]
            self.kept_bytes = sum(len(part.data) for part in self._parts)


def sample_file(
    path: str | os.PathLike[str],
    budget: int,
    *,
    threads: int,
    on_read: Callable[[int, int], None] | None = None,
) -> Sample:
    """A sample of at most ``budget`` payload bytes (``0``: all) of the stream in the brinery
    file at ``path``, read and checked to its end; ``on_read(done, total)`` hears the bytes of
    the file read."""
    total = os.path.getsize(path)
    sampler = Sampler(budget)
    with open(path, "rb", buffering=READ_BUFFER_BYTES) as file:
        source = Source(file, owned=True)
        with opened_stream(source, threads) as reader:
            for kind, _, pieces in reader.records():
                if kind == INDEX_RECORD:
                    continue  # (it says where the file's parts lie: the sample has none)
                sampler.start_record(kind)
                for piece in pieces:  # (a few MiB each)
                    sampler.add(piece)
                    if on_read is not None:
                        on_read(source.position, total)
        if on_read is not None:  # (after the frames' end: a locator or seek table read)
            on_read(source.position, total)
        check_nothing_follows(source, os.fspath(path))
    return Sample(
        stream=stream_of(sampler.parts(), threads),
        stream_bytes=sampler.position,
        sampled_bytes=sampler.kept_bytes,
        piece_bytes=sampler.piece_bytes,
        stride=sampler.stride,
    )


def stream_of(parts: list[tuple[int, int, list[bytearray]]], threads: int) -> bytes:
    """An uncompressed brinery stream with checksums holding ``parts``' records."""
    output = io.BytesIO()

    def fill(writer: StreamWriter) -> None:
        for _, kind, pieces in parts:
            if kind == PICKLE_RECORD:
                writer.write(b"".join(pieces))
            else:
                size = sum(len(piece) for piece in pieces)
                writer.write_memory(kind, size, (memoryview(piece) for piece in pieces))

    write_stream(output, None, threads, True, fill)
    return output.getvalue()
