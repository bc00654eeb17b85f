"""brinery-lz4: the LZ4 frame format for brinery, its frames written and read by
:mod:`.lz4_frames` with ``lz4.block`` and ``xxhash`` (python-lz4's frame API hashes the content
incrementally: its reader verified checksums 3-7x slower, its writer compressed 1.5-4x slower
at the fast levels; the high-compression levels are still written by ``lz4.frame``).

Frames carry their content checksum, so the lz4 tool and brinery detect corruption.
"""

from __future__ import annotations

from collections.abc import Sequence

import lz4.frame

import brinery

from .lz4_frames import FrameDecompressor, Lz4FrameError, encode_frame, parse_header
from .lz4_frames import decompress_frame as _decompress_frame

__all__ = ["FrameCompressor", "FrameDecompressor", "Lz4Compressor", "Lz4FrameError"]

#: The levels from which liblz4 makes blocks with its high-compression matcher (LZ4HC).
HC_LEVEL_MIN = 3


class FrameCompressor:
    """``lz4.frame.LZ4FrameCompressor`` in the ``compress``/``flush`` shape the core writes with
    (it starts the frame on the first call)."""

    def __init__(self, level: int) -> None:
        self._lz4 = lz4.frame.LZ4FrameCompressor(
            compression_level=level, content_checksum=True, auto_flush=True
        )
        self._started = False

    def compress(self, data: bytes | memoryview, /) -> bytes:
        head = b"" if self._started else self._lz4.begin()
        self._started = True
        return head + self._lz4.compress(data)

    def flush(self) -> bytes:
        head = b"" if self._started else self._lz4.begin()
        self._started = True
        return head + self._lz4.flush()


class Lz4Compressor(brinery.Compressor):
    """LZ4 frames with content checksums; levels 0-2 fast, 3-16 high compression (HC)."""

    name = "lz4"
    checks_integrity = True  # content checksums, written and verified
    magic = b"\x04\x22\x4d\x18"
    extensions = (".lz4",)
    levels = range(lz4.frame.COMPRESSIONLEVEL_MIN, lz4.frame.COMPRESSIONLEVEL_MAX + 1)
    default_level = 0
    errors = (Lz4FrameError,)
    framing = brinery.Framing(hints=brinery.SKIPPABLE_FRAME_HINTS)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return FrameCompressor(level)

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return FrameDecompressor()

    def next_decompressor(self, ended: brinery.StreamDecompressor) -> brinery.StreamDecompressor:
        # The buffer a frame's output is gathered in, to be hashed in one call, goes on.
        return ended.next_frame() if isinstance(ended, FrameDecompressor) else FrameDecompressor()

    # One call per frame: fewer GIL hand-overs, and no joined copy of the frame's parts.

    def compress_frame(self, level: int, data: bytes | memoryview) -> Sequence[bytes]:
        # Both record the frame's size in its header.  The fast levels' frames are written by
        # lz4_frames (1.5-4x faster); the high-compression levels' by python-lz4 (as fast, and
        # 0.5% smaller on images).
        if level < HC_LEVEL_MIN:
            return encode_frame(data)
        return (lz4.frame.compress(data, compression_level=level, content_checksum=True),)

    def frame_content_size(self, frame: memoryview) -> int | None:
        return parse_header(frame[:19]).content_size

    def decompress_frame(self, frame: memoryview, size: int) -> memoryview:
        # Into one buffer the size the header records (the core checked it against the hint).
        return _decompress_frame(frame, size)


@brinery.hookimpl
def register_compressors(register: brinery.RegisterCompressor) -> None:
    register(Lz4Compressor())
