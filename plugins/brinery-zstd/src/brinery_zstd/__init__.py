"""brinery-zstd: the Zstandard frame format (RFC 8878) for brinery, through ``zstandard``.

Each frame carries its content checksum, so the zstd tool and brinery detect corruption.  The
core reads across frames and reports a truncated one (``zstandard``'s own stream reader would
stop at the first frame's end, and return short data for a truncated file).
"""

from __future__ import annotations

from collections.abc import Sequence

import zstandard

import brinery
from brinery.codec_adapters import SkippableFrameHints
from brinery.compressor import copy_into
from brinery.plugins import RegisterCompressor

from .decompressor import FrameDecompressor


class ZstdCompressor(SkippableFrameHints, brinery.Compressor):
    """Zstandard frames with checksums; levels -7 (fastest) to 22, negative levels included."""

    name = "zstd"
    checks_integrity = True  # content checksums, written and verified
    magic = b"\x28\xb5\x2f\xfd"
    extensions = (".zst", ".zstd")
    levels = range(-7, 23)
    default_level = 3
    errors = (zstandard.ZstdError,)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return FrameDecompressor()

    # One call per frame: zstandard's streaming objects take the GIL back every 128 KiB.

    def compress_frame(self, level: int, data: bytes | memoryview) -> Sequence[bytes]:
        # The one-call form also records the frame's size in its header.
        return (zstandard.ZstdCompressor(level=level, write_checksum=True).compress(data),)

    def decompress_frame_into(self, frame: memoryview, target: memoryview) -> None:
        if zstandard.frame_content_size(frame) != len(target):
            # No size in the header (zstd -c from a pipe) or a damaged one: never let a header
            # decide an allocation; the bounded streaming path reads it or says what is wrong.
            super().decompress_frame_into(frame, target)
            return
        data = zstandard.ZstdDecompressor().decompress(frame, allow_extra_data=False)
        copy_into(target, data)


@brinery.hookimpl
def register_compressors(register: RegisterCompressor) -> None:
    register(ZstdCompressor())
