"""The one place that chooses how a compressor's data is written and read.

A compressor gives either the codec's two functions, which the core's frame machinery drives
(:class:`~brinery.streams.frame_writer.FrameWriter`, :class:`~brinery.streams.frame_reader.
FrameReader`: frames on threads, hints, bounded memory, mapped errors), or its own file objects
(:meth:`~brinery.Compressor.open_writer` and :meth:`~brinery.Compressor.open_reader`), which
the core treats as opaque.  Either way the rest of the core sees the same two protocols.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..compressor import Compressor

if TYPE_CHECKING:
    from ..format.index import FrameEntry
    from .frame_reader import FrameReader
    from .frame_writer import FrameWriter
    from .source import Source


class CompressedWriter(Protocol):
    """Where a compressed brinery stream is written."""

    def write(self, data: Any, /) -> int: ...

    def end_frame(self) -> None:
        """End the current frame here, if the format has frames (see
        :class:`~brinery.streams.output.FrameBoundaries`)."""

    def can_transform(self, unit: int) -> bool:
        """Whether frames can be transformed where they are compressed, in ``unit``-byte
        blocks (see :class:`~brinery.streams.output.FrameBoundaries`)."""

    def write_transformed(self, data: Any, transform: Callable[[Any, Any], Any], /) -> None: ...

    def frames_so_far(self) -> list[FrameEntry]:
        """End the current frame and return where every frame written so far lies (see
        :class:`~brinery.streams.output.FrameBoundaries`)."""

    def close(self) -> None:
        """End the compressed stream (the file it writes into stays open)."""

    def abort(self) -> None:
        """Stop without ending the stream: the dump failed."""


class DecompressedReader(Protocol):
    """Where a compressed brinery stream is read from."""

    def readinto(self, buffer: Any, /) -> int: ...

    def finish(self, *, seek_table: bool = True) -> None:
        """The brinery stream ended: read the end of its last frame (which must hold nothing
        more) and a seek table after it, if one follows (``seek_table=False``: do not look),
        and leave what follows in the source."""

    def check_current_frame(self) -> None:
        """Loading failed: let the codec check the frame being read, so that damage is
        reported as damage (:class:`~brinery.CorruptFileError`)."""

    def close(self) -> None: ...


def brings_own_files(compressor: Compressor) -> bool:
    """Whether ``compressor`` overrides :meth:`~brinery.Compressor.open_reader` (and
    ``open_writer``): the core then reads and writes through its file objects."""
    return type(compressor).open_reader is not Compressor.open_reader


def has_codec_functions(compressor: Compressor) -> bool:
    """Whether ``compressor`` gives the two functions the core's frame machinery drives."""
    cls = type(compressor)
    return (
        cls.new_compressor is not Compressor.new_compressor
        and cls.new_decompressor is not Compressor.new_decompressor
    )


def open_compressed_writer(
    compressor: Compressor,
    fileobj: IO[bytes],
    level: int,
    *,
    threads: int,
    seek_table: bool = False,
) -> CompressedWriter:
    """A writer compressing into ``fileobj`` with ``compressor`` at ``level``; ``seek_table``:
    end the file with a seek table, if the codec's frames are hinted (a compressor's own writer
    is opaque: it writes none)."""
    if brings_own_files(compressor):
        return _OwnWriter(compressor.open_writer(fileobj, level, threads=threads))
    return _frame_writer()(fileobj, compressor, level, threads=threads, seek_table=seek_table)


def open_decompressed_reader(
    compressor: Compressor, source: Source, *, threads: int, max_bytes: int | None
) -> DecompressedReader:
    """A reader decompressing ``compressor``'s data from ``source``.

    The core's reader counts every decompressed byte against ``max_bytes``; a compressor's own
    reader is bounded by the format reader above it instead.
    """
    if brings_own_files(compressor):
        return _OwnReader(compressor.open_reader(source))  # type: ignore[arg-type]
    return _frame_reader()(source, compressor, threads=threads, max_bytes=max_bytes)


# The core's frame machinery is imported on first use: its thread pools (concurrent.futures)
# are for compressed files only.  (Cached: an import statement here would cost every dump.)


@functools.cache
def _frame_writer() -> type[FrameWriter]:
    from .frame_writer import FrameWriter

    return FrameWriter


@functools.cache
def _frame_reader() -> type[FrameReader]:
    from .frame_reader import FrameReader

    return FrameReader


class _OwnWriter:
    """A compressor's own writer: its ``close`` ends the stream; an abort just lets it go (the
    file it wrote into is discarded, or left as a caller's file object was)."""

    def __init__(self, writer: IO[bytes]) -> None:
        self._writer = writer

    def write(self, data: Any, /) -> int:
        return self._writer.write(data)

    def end_frame(self) -> None:
        pass  # an opaque stream has no frames the core knows of

    def can_transform(self, unit: int) -> bool:
        return False

    def write_transformed(self, data: Any, transform: Callable[[Any, Any], Any], /) -> None:
        self._writer.write(transform(data, None))  # (not called: can_transform says no)

    def frames_so_far(self) -> list[FrameEntry]:
        return []  # (an opaque stream has no frames the core knows of)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        pass


class _OwnReader:
    """A compressor's own reader: it may read ahead in the source, so nothing can be left after
    its stream, and it has no frames to finish or check."""

    def __init__(self, reader: IO[bytes]) -> None:
        self._reader = reader

    def readinto(self, buffer: Any, /) -> int:
        return self._reader.readinto(buffer) or 0  # type: ignore[attr-defined]

    def finish(self, *, seek_table: bool = True) -> None:
        pass

    def check_current_frame(self) -> None:
        pass

    def close(self) -> None:
        pass
