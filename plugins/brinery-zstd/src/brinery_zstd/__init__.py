"""brinery-zstd: the Zstandard frame format (RFC 8878) for brinery, through ``zstandard``.

Each frame carries its content checksum, so the zstd tool and brinery detect corruption.  The
core reads across frames and reports a truncated one (``zstandard``'s own stream reader would
stop at the first frame's end, and return short data for a truncated file).
"""

from __future__ import annotations

import zstandard

import brinery
from brinery.codec_adapters import BoundedOutputDecompressor, SkippableFrameHints
from brinery.plugins import RegisterCompressor


class ZstdCompressor(SkippableFrameHints, brinery.Compressor):
    """Zstandard frames with checksums; levels -7 (fastest) to 22, negative levels included."""

    name = "zstd"
    magic = b"\x28\xb5\x2f\xfd"
    extensions = (".zst", ".zstd")
    levels = range(-7, 23)
    default_level = 3
    errors = (zstandard.ZstdError,)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return BoundedOutputDecompressor(zstandard.ZstdDecompressor().decompressobj())


@brinery.hookimpl
def register_compressors(register: RegisterCompressor) -> None:
    register(ZstdCompressor())
