"""Decompression of a sequence of frames, one mechanism for every codec.

:class:`FrameReader` adapts a codec's frame decompressor (``bz2.BZ2Decompressor``'s shape) to a
readable binary file.  It starts a fresh decompressor where a frame ends, bounds every call's
output to what the caller asked for, turns the codec's own exceptions into brinery's, and, when
the brinery stream is over, reads the rest of the last frame and leaves whatever follows it
unconsumed, so a second stream in the same file can be loaded next.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ..errors import CorruptFileError, TruncatedFileError

if TYPE_CHECKING:
    from ..compressor import Compressor, StreamDecompressor
    from .source import Source


class FrameReader(io.RawIOBase):
    """A readable binary file over the concatenated frames of ``compressor`` in ``source``."""

    def __init__(self, source: Source, compressor: Compressor) -> None:
        super().__init__()
        self._source = source
        self._compressor = compressor
        self._frames = 0
        self._frame_start = 0
        self._decompressor = self._new_frame()
        self._input_after_frame = b""  # consumed input that follows the current frame

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if not len(target):
            return 0
        while True:
            if self._decompressor.eof:
                self._source.unread(self._input_after_frame)
                self._input_after_frame = b""
                if self._source.at_end():
                    return 0
                self._decompressor = self._new_frame()
            chunk = self._decompress(len(target))
            if chunk:
                target[: len(chunk)] = chunk
                return len(chunk)

    def finish(self) -> None:
        """Read the end of the current frame, which must hold no more data, and stop there."""
        while not self._decompressor.eof:
            if self._decompress(1):
                raise CorruptFileError(
                    f"{self._compressor.name} frame {self._frames} holds data after the end of "
                    "the brinery stream"
                )
        self._source.unread(self._input_after_frame)
        self._input_after_frame = b""

    def _new_frame(self) -> StreamDecompressor:
        self._frames += 1
        self._frame_start = self._source.position
        return self._compressor.new_decompressor()

    def _decompress(self, max_length: int) -> bytes:
        decompressor = self._decompressor
        data: memoryview | bytes = b""
        if decompressor.needs_input:
            data = self._source.available()
            if not len(data):
                raise TruncatedFileError(
                    f"the {self._compressor.name} data ends in the middle of frame "
                    f"{self._frames} (which starts at byte {self._frame_start} of the file)"
                )
        try:
            chunk = decompressor.decompress(data, max_length)
        except self._compressor.errors as error:
            raise CorruptFileError(
                f"the {self._compressor.name} data is corrupt in frame {self._frames} (which "
                f"starts at byte {self._frame_start} of the file): {error}"
            ) from error
        # The decompressor keeps what it was given, so all of it is consumed; except, once the
        # frame has ended, what followed the frame, which is left unconsumed (or, when it came
        # from earlier input, put back by the caller).
        unused = (decompressor.unused_data or b"") if decompressor.eof else b""
        if len(unused) <= len(data):
            self._source.consume(len(data) - len(unused))
        else:
            self._source.consume(len(data))
            self._input_after_frame = bytes(unused)
        return chunk
