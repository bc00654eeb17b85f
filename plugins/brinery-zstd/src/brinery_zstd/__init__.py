"""brinery-zstd: the Zstandard frame format (RFC 8878) for brinery, through ``zstandard``.

Each frame carries its content checksum, so the zstd tool and brinery detect corruption.  The
core reads across frames and reports a truncated one (``zstandard``'s own stream reader would
stop at the first frame's end, and return short data for a truncated file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import zstandard

import brinery

from .decompressor import FrameDecompressor


class ZstdCompressor(brinery.Compressor):
    """Zstandard frames with checksums; levels -7 (fastest) to 22, negative levels included."""

    name = "zstd"
    checks_integrity = True  # content checksums, written and verified
    magic = b"\x28\xb5\x2f\xfd"
    extensions = (".zst", ".zstd")
    levels = range(-7, 23)
    default_level = 3
    errors = (zstandard.ZstdError,)
    framing = brinery.Framing(hints=brinery.SKIPPABLE_FRAME_HINTS)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return FrameDecompressor()

    def next_decompressor(self, ended: brinery.StreamDecompressor) -> brinery.StreamDecompressor:
        # The context, and its window buffer, go on to the next frame.
        return ended.next_frame() if isinstance(ended, FrameDecompressor) else FrameDecompressor()

    # One call per frame: zstandard's streaming objects take the GIL back every 128 KiB.

    def compress_frame(self, level: int, data: bytes | memoryview) -> Sequence[bytes]:
        # The one-call form also records the frame's size in its header.
        return (zstandard.ZstdCompressor(level=level, write_checksum=True).compress(data),)

    def new_frame_compressor(self, level: int) -> Callable[[bytes | memoryview], Sequence[bytes]]:
        # One context per compression thread for the whole dump (see the interface).
        compress = zstandard.ZstdCompressor(level=level, write_checksum=True).compress
        return lambda data: (compress(data),)

    def frame_content_size(self, frame: memoryview) -> int | None:
        size = zstandard.frame_content_size(frame)
        return None if size < 0 else int(size)

    def decompress_frame(self, frame: memoryview, size: int) -> bytes:
        # The header's size (which the core compared with the hint) is what zstandard
        # allocates; the frame then cannot make more.
        return zstandard.ZstdDecompressor().decompress(frame, allow_extra_data=False)


@brinery.hookimpl
def register_compressors(register: brinery.RegisterCompressor) -> None:
    register(ZstdCompressor())
