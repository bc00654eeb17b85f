"""Decompression of a sequence of frames, one mechanism for every codec.

:class:`FrameReader` adapts a codec's frame decompressor (``bz2.BZ2Decompressor``'s shape) to a
readable binary file.  It starts a fresh decompressor where a frame ends, bounds every call's
output to what the caller asked for, turns the codec's own exceptions into brinery's, and, when
the brinery stream is over, reads the rest of the last frame and gives back whatever follows it,
so a second stream in the same file can be loaded next.
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
        self._decompressor: StreamDecompressor = compressor.new_decompressor()
        self._frame_start = source.position
        self._frames = 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if not len(target):
            return 0
        while True:
            if self._decompressor.eof and not self._start_next_frame():
                return 0
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
        self._source.unread(self._decompressor.unused_data or b"")

    def _start_next_frame(self) -> bool:
        """Give back what followed the frame; begin another if more data follows."""
        self._source.unread(self._decompressor.unused_data or b"")
        if self._source.at_end():
            return False
        self._decompressor = self._compressor.new_decompressor()
        self._frame_start = self._source.position
        self._frames += 1
        return True

    def _decompress(self, max_length: int) -> bytes:
        data = b""
        if self._decompressor.needs_input:
            data = self._source.available()
            if not len(data):
                raise TruncatedFileError(
                    f"the {self._compressor.name} data ends in the middle of frame "
                    f"{self._frames} (which starts at byte {self._frame_start} of the file)"
                )
        try:
            chunk = self._decompressor.decompress(data, max_length)
        except self._compressor.errors as error:
            raise CorruptFileError(
                f"the {self._compressor.name} data is corrupt in frame {self._frames} (which "
                f"starts at byte {self._frame_start} of the file): {error}"
            ) from error
        # The decompressor keeps what it was given (and hands back, as unused_data, whatever
        # follows the frame), so everything passed to it counts as consumed.
        self._source.consume(len(data))
        return chunk
