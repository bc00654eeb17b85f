"""Compression in independent frames, on a pool of threads.

The stream is cut into frames of ``compressor.framing.frame_size`` bytes; each is compressed by
a fresh codec compressor into a complete frame (a gzip member, a bz2 or xz stream...), so the
standard command-line tools read the concatenation and frames can be compressed at the same
time.  The codecs release the GIL while they work, so threads give real parallelism.

Large writes are cut into frames without copying: a frame may be a ``memoryview`` slice of the
caller's buffer (an array's memory), which stays referenced until its frame is written.  At most
``threads + 1`` frames are in flight, which bounds memory.

Smaller writes (the pickle, small arrays) are gathered into frame-sized buffers that are kept and
filled again once their frame is written (:class:`_FrameBuffers`), and each thread keeps its
codec's frame compressor for the whole dump (:meth:`~brinery.Compressor.new_frame_compressor`),
rather than a new buffer, grown piece by piece, and a new codec context for every frame: glibc
hands a freed block of a few MiB back to the heap of the thread that made it, not to the system
(its threshold for that rises to the largest block freed), and those heaps fragmented.  A zstd-3
dump of 256 MiB of small records (``records`` in bench/) peaked 63 to 69 MiB above its baseline
and kept 39 to 50 MiB of it afterwards; now 57 to 58 MiB, and 32 kept.

Before every frame but the first, a codec that can (zstd and lz4, in a skippable frame) writes a
hint with the frame's compressed and uncompressed sizes, so a reader can hand whole frames to
threads without decompressing them first; :meth:`FrameWriter.end_frame` lets the format writer
start a large array's memory on a frame of its own, so those frames decompress straight into
the array.

A filtered array record (shuffled or delta-coded: :mod:`brinery.format.shuffle`) is written
with :meth:`FrameWriter.write_transformed`: its frames go to the threads as views of the array,
each thread filters the frame it compresses (so the main thread only pickles) into a scratch
buffer of its own, reused frame after frame (a fresh frame-sized buffer each time cost the page
faults of the whole array: 65k faults and 10 to 25% of a 256 MB zstd-3 dump), and its frames
are cut at the filter's block boundaries.

The writer keeps where each frame it wrote lies (:class:`~brinery.format.index.FrameEntry`:
a tuple appended per frame, nothing more on the hot path): :meth:`FrameWriter.frames_so_far`
hands them to the format writer for an indexed stream's index, and with ``seek_table=True`` a
hinted codec's file ends with a seek table listing every frame (:mod:`.seek_table`), from which
a reader finds any frame from the end of the file.  A codec without hints whose framing has a
locator (gzip, zlib: :attr:`~brinery.framing.Framing.locator`) ends an indexed stream's file
with it instead: where the index record's frame begins, found from the end of the file.  (For
a codec whose framing finds the end record's own frame instead, lzo's, the format writer ends
a frame before the end record: :attr:`~brinery.framing.Framing.end_frame`.)
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, NamedTuple

import numpy as np

from ..compressor import Compressor, StreamCompressor
from ..format.index import FrameEntry
from .output import write_all
from .seek_table import encode as encode_seek_table
from .seek_table import table_frames

__all__ = ["SINGLE_STREAM_PIECE", "FrameEntry", "FrameWriter", "Transform"]

#: What a single-stream codec (lzma-alone) is given at a time.
SINGLE_STREAM_PIECE = 1 << 20

#: What :meth:`FrameWriter.write_transformed` applies to each frame before compressing it:
#: ``transform(frame, out)`` writes the transformed frame into ``out`` (a ``uint8`` array of the
#: frame's size) and returns a byte view of it.
Transform = Callable[[Any, Any], Any]


class FrameWriter(io.RawIOBase):
    """A writable binary file that compresses into ``fileobj`` frame by frame.

    ``seek_table``: end the file with a seek table listing every frame, when the codec's frames
    are hinted (zstd, LZ4: the table is a skippable frame their tools skip, as they skip hints);
    for a codec whose framing has a locator (gzip, zlib), end it with the locator (after the
    stream's last frame: where the frame that :meth:`frames_so_far` started begins); for other
    codecs it does nothing.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        compressor: Compressor,
        level: int,
        *,
        threads: int = 1,
        seek_table: bool = False,
    ) -> None:
        super().__init__()
        self._fileobj = fileobj
        self._compressor = compressor
        self._level = level
        self._framing = compressor.framing
        self._frame_size = compressor.framing.frame_size
        # The frame being gathered from small writes: a buffer of the frame's size, the first
        # ``_pending_size`` bytes of which are the frame so far.
        self._pending: bytearray | None = None
        self._pending_size = 0
        self._pending_transform: Transform | None = None  # what the pending bytes need
        self._buffers = _FrameBuffers(compressor.framing.frame_size or 0, threads + 2)
        # Each in-flight frame: its uncompressed size, its compressed bytes (to come) and the
        # gathering buffer it was cut from, if any (to be filled again once it is written).
        self._in_flight: deque[_InFlight] = deque()
        self._pool: ThreadPoolExecutor | None = None
        # One frame per thread plus one ready to go keeps every thread busy; more only costs
        # memory (each frame in flight holds its input and its output).
        self._max_in_flight = threads + 1
        self._stream: StreamCompressor | None = None
        self._frames_written = 0
        # Each thread's frame compressor and transform output, kept frame after frame.
        self._per_thread = threading.local()
        self._entries: list[FrameEntry] = []  # where each frame written lies
        self._seek_table = (
            seek_table and self._framing.hints is not None and self._frame_size is not None
        )
        self._locator = self._framing.locator if seek_table else None
        self._index_frame: int | None = None  # where the frame after frames_so_far() begins
        header = self._framing.header(level)
        write_all(fileobj, header)
        self._compressed_written = len(header)  # where the next frame's hint (or frame) starts
        self._uncompressed_written = 0  # the stream's bytes in the frames written so far
        if self._frame_size is None:
            # One frame for the whole stream: compress as data arrives.
            self._stream = compressor.new_compressor(level)
        elif threads > 1:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="brinery-compress")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed brinery compressed writer")
        view = memoryview(data).cast("B")
        size = len(view)
        if self._stream is not None:
            # In pieces: a codec returns all the output of one call at once (an array's worth
            # for a large array), so its memory stays one piece's.
            for start in range(0, size, SINGLE_STREAM_PIECE):
                piece = view[start : start + SINGLE_STREAM_PIECE]
                write_all(self._fileobj, self._stream.compress(piece))
            return size
        self._cut(view, None)
        return size

    def can_transform(self, unit: int) -> bool:
        """Whether :meth:`write_transformed` takes a transform that works on whole blocks of
        ``unit`` bytes: the frames are then cut at block boundaries."""
        return self._frame_size is not None and self._frame_size % unit == 0

    def write_transformed(self, data: Any, transform: Transform) -> None:
        """Write what ``transform`` makes of ``data``, each frame transformed by the thread
        that compresses it (with one thread, just before).

        The caller ends the frame before and after the transformed bytes (:meth:`end_frame`),
        so that each frame's transform starts at the start of a block; when
        :meth:`can_transform` accepts the transform's block size, every frame then holds whole
        blocks (but the last).  ``data`` stays referenced until its frame is written.
        """
        if self.closed:
            raise ValueError("write to a closed brinery compressed writer")
        assert self._stream is None  # (see can_transform)
        self._cut(memoryview(data).cast("B"), transform)

    def _cut(self, view: memoryview, transform: Transform | None) -> None:
        """Cut ``view`` into frames of ``frame_size`` (views of it, without copying), its
        start completing the pending frame and its end pending."""
        frame_size = self._frame_size
        assert frame_size is not None
        if self._pending_transform is not transform:
            self.end_frame()  # (never a frame of both transformed and plain bytes)
            self._pending_transform = transform
        if self._pending_size:
            take = min(frame_size - self._pending_size, len(view))
            self._gather(view[:take])
            view = view[take:]
            if self._pending_size == frame_size:
                self.end_frame()
                self._pending_transform = transform
        while len(view) >= frame_size:
            self._submit(view[:frame_size], transform)
            view = view[frame_size:]
        if len(view):
            self._gather(view)

    def _gather(self, view: memoryview) -> None:
        """Append ``view`` (which fits) to the frame being gathered."""
        if self._pending is None:
            self._pending = self._buffers.take()
        end = self._pending_size + len(view)
        self._pending[self._pending_size : end] = view
        self._pending_size = end

    def end_frame(self) -> None:
        """End the current frame here (if it holds anything): what follows starts a new one."""
        if self._pending_size and self._stream is None:
            self._submit_pending()
        self._pending_transform = None

    def _submit_pending(self) -> None:
        """Hand the gathered frame (possibly empty) to be compressed, its buffer with it."""
        buffer, size = self._pending, self._pending_size
        self._pending, self._pending_size = None, 0
        if buffer is None:
            self._submit(b"", self._pending_transform)
            return
        frame = memoryview(buffer)[:size]
        self._submit(frame, self._pending_transform, buffer)

    def frames_so_far(self) -> list[FrameEntry]:
        """End the current frame, write every frame in flight, and return where each frame
        written so far lies; what is written next starts a new frame.

        The format writer calls it right before an indexed stream's index record, so that the
        index starts a frame and lists every frame before it.  A single-stream codec
        (lzma-alone) has no frames to give: [] (and nothing changes).
        """
        if self._stream is not None:
            return []
        self.end_frame()
        while self._in_flight:
            self._write_oldest()
        self._index_frame = self._compressed_written
        return list(self._entries)

    def close(self) -> None:
        """End the compressed stream; ``fileobj`` stays open."""
        if self.closed:
            return
        try:
            if self._stream is not None:
                write_all(self._fileobj, self._stream.flush())
            else:
                if self._pending_size or not (self._frames_written or self._in_flight):
                    self._submit_pending()
                while self._in_flight:
                    self._write_oldest()
                if self._seek_table:
                    self._write_seek_table()
                if self._locator is not None and self._index_frame is not None:
                    locator = self._locator.encode(self._index_frame, self._compressed_written)
                    write_all(self._fileobj, locator)
            write_all(self._fileobj, self._framing.trailer)
        finally:
            self._shut_down()
            super().close()

    def abort(self) -> None:
        """Stop without finishing the stream (the dump failed)."""
        for in_flight in self._in_flight:
            in_flight.future.cancel()
        self._in_flight.clear()
        self._shut_down()
        super().close()

    def _shut_down(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(
        self, data: Any, transform: Transform | None = None, buffer: bytearray | None = None
    ) -> None:
        """Compress ``data`` into the next frame (``buffer``: the gathering buffer ``data`` is a
        view of, to be filled again once the frame is written)."""
        if self._pool is None:
            self._write(data, self._compress(data, transform), buffer)
            return
        future = self._pool.submit(self._compress, data, transform)
        self._in_flight.append(_InFlight(data, future, buffer))
        while len(self._in_flight) >= self._max_in_flight or self._in_flight[0].future.done():
            self._write_oldest()
            if not self._in_flight:
                break

    def _compress(self, data: Any, transform: Transform | None) -> Sequence[bytes]:
        """One frame (on a compression thread, when there are several)."""
        per_thread = self._per_thread
        compress = getattr(per_thread, "compress", None)
        if compress is None:  # (this thread's first frame: the codec's state for the dump)
            compress = per_thread.compress = self._compressor.new_frame_compressor(self._level)
        if transform is None:
            return compress(data)
        scratch = getattr(per_thread, "buffer", None)
        if scratch is None or len(scratch) < len(data):
            scratch = np.empty(max(len(data), self._frame_size or 0), np.uint8)
        frame = compress(transform(data, scratch[: len(data)]))
        # Kept for the next frame unless the codec handed back something other than new bytes
        # (a third-party codec may return a view of its input, which must stay as it is).
        per_thread.buffer = scratch if all(type(part) is bytes for part in frame) else None
        return frame

    def _write_oldest(self) -> None:
        data, future, buffer = self._in_flight.popleft()
        self._write(data, future.result(), buffer)

    def _write(self, data: Any, frame: Sequence[bytes], buffer: bytearray | None) -> None:
        """Write the frame compressed from ``data``, then give its gathering buffer back to be
        filled again (unless the codec's output may be a view of it: anything but ``bytes``)."""
        self._write_frame(len(data), frame)
        if buffer is not None and all(type(part) is bytes for part in frame):
            self._buffers.give_back(data, buffer)

    def _write_frame(self, uncompressed_size: int, frame: Sequence[bytes]) -> None:
        hints = self._framing.hints
        compressed_size = sum(map(len, frame))
        if self._frames_written and hints is not None:
            hint = hints.encode(compressed_size, uncompressed_size)
            write_all(self._fileobj, hint)
            self._compressed_written += len(hint)
        self._entries.append(
            FrameEntry(self._uncompressed_written, self._compressed_written, compressed_size)
        )
        for part in frame:
            write_all(self._fileobj, part)
        self._frames_written += 1
        self._compressed_written += compressed_size
        self._uncompressed_written += uncompressed_size

    def _write_seek_table(self) -> None:
        """The seek table after the last frame: every frame, hints as frames of size 0."""
        table = encode_seek_table(table_frames(self._entries, self._uncompressed_written))
        write_all(self._fileobj, table)


class _InFlight(NamedTuple):
    """A frame handed to be compressed: its uncompressed bytes, its compressed bytes (to come),
    and the gathering buffer ``data`` is a view of (``None`` for a view of the caller's
    memory)."""

    data: Any
    future: Future[Sequence[bytes]]
    buffer: bytearray | None


class _FrameBuffers:
    """The buffers small writes are gathered in, a frame's size each, kept for the next frames.

    At most ``keep`` are kept (one per frame that may be in flight, plus the one being filled):
    in a dump, the same few buffers are filled again and again, so gathering allocates nothing
    once the first frames are out.
    """

    def __init__(self, frame_size: int, keep: int) -> None:
        self._frame_size = frame_size
        self._keep = keep
        self._spare: list[bytearray] = []

    def take(self) -> bytearray:
        return self._spare.pop() if self._spare else bytearray(self._frame_size)

    def give_back(self, view: memoryview, buffer: bytearray) -> None:
        """Keep ``buffer`` once ``view`` of it is released; a view still exported elsewhere
        (a codec that kept a reference) leaves the buffer to it."""
        try:
            view.release()
        except BufferError:
            return
        if len(self._spare) < self._keep:
            self._spare.append(buffer)
