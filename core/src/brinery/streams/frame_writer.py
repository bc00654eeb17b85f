"""Compression in independent frames, on a pool of threads.

The stream is cut into frames of ``compressor.frame_size`` bytes; each is compressed by a fresh
codec compressor into a complete frame (a gzip member, a bz2 or xz stream...), so the standard
command-line tools read the concatenation and frames can be compressed at the same time.  The
codecs release the GIL while they work, so threads give real parallelism.

Large writes are cut into frames without copying: a frame may be a ``memoryview`` slice of the
caller's buffer (an array's memory), which stays referenced until its frame is written.  At most
``2 * threads`` frames are in flight, which bounds memory.
"""

from __future__ import annotations

import io
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..compressor import Compressor, StreamCompressor


def compress_frame(compressor: Compressor, level: int, data: Any) -> bytes:
    """Compress ``data`` into one complete frame."""
    codec = compressor.new_compressor(level)
    head = codec.compress(data)
    tail = codec.flush()
    return head + tail if head else tail


class FrameWriter(io.RawIOBase):
    """A writable binary file that compresses into ``fileobj`` frame by frame."""

    def __init__(
        self, fileobj: IO[bytes], compressor: Compressor, level: int, *, threads: int = 1
    ) -> None:
        super().__init__()
        self._fileobj = fileobj
        self._compressor = compressor
        self._level = level
        self._frame_size = compressor.frame_size
        self._pending = bytearray()
        self._in_flight: deque[Future[bytes]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._max_in_flight = 2 * threads
        self._stream: StreamCompressor | None = None
        self._frames_submitted = 0
        fileobj.write(compressor.stream_header(level))
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
            self._fileobj.write(self._stream.compress(view))
            return size
        frame_size = self._frame_size
        assert frame_size is not None
        if self._pending:
            take = min(frame_size - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == frame_size:
                self._submit(self._pending)
                self._pending = bytearray()
        while len(view) >= frame_size:
            self._submit(view[:frame_size])
            view = view[frame_size:]
        if len(view):
            self._pending += view
        return size

    def close(self) -> None:
        """End the compressed stream; ``fileobj`` stays open."""
        if self.closed:
            return
        try:
            if self._stream is not None:
                self._fileobj.write(self._stream.flush())
            else:
                if self._pending or not self._frames_submitted:
                    self._submit(self._pending)
                    self._pending = bytearray()
                while self._in_flight:
                    self._fileobj.write(self._in_flight.popleft().result())
            self._fileobj.write(self._compressor.stream_trailer())
        finally:
            self._shut_down()
            super().close()

    def abort(self) -> None:
        """Stop without finishing the stream (the dump failed)."""
        for future in self._in_flight:
            future.cancel()
        self._in_flight.clear()
        self._shut_down()
        super().close()

    def _shut_down(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, data: Any) -> None:
        self._frames_submitted += 1
        if self._pool is None:
            self._fileobj.write(compress_frame(self._compressor, self._level, data))
            return
        self._in_flight.append(
            self._pool.submit(compress_frame, self._compressor, self._level, data)
        )
        while len(self._in_flight) >= self._max_in_flight or (
            self._in_flight and self._in_flight[0].done()
        ):
            self._fileobj.write(self._in_flight.popleft().result())
