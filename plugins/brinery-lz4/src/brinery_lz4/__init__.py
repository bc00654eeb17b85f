"""brinery-lz4: the LZ4 frame format for brinery, through ``lz4.frame``.

Frames carry their content checksum, so the lz4 tool and brinery detect corruption.
"""

from __future__ import annotations

import lz4.frame

import brinery
from brinery.codec_adapters import SkippableFrameHints
from brinery.plugins import RegisterCompressor


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


class Lz4Compressor(SkippableFrameHints, brinery.Compressor):
    """LZ4 frames with content checksums; levels 0-2 fast, 3-16 high compression (HC)."""

    name = "lz4"
    magic = b"\x04\x22\x4d\x18"
    extensions = (".lz4",)
    levels = range(lz4.frame.COMPRESSIONLEVEL_MIN, lz4.frame.COMPRESSIONLEVEL_MAX + 1)
    default_level = 0
    errors = (RuntimeError, ValueError)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return FrameCompressor(level)

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return lz4.frame.LZ4FrameDecompressor()  # type: ignore[no-any-return]


@brinery.hookimpl
def register_compressors(register: RegisterCompressor) -> None:
    register(Lz4Compressor())
