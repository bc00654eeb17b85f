"""brinery-lzo: LZO1X compression for brinery, in the lzop file format that ``lzop -d`` reads.

Level 1 is LZO1X-1 (fast, lzop's default algorithm); levels 2 to 9 are LZO1X-999 at that level
(lzop -7 to -9 use 7 to 9).  Every block carries CRC-32s of its compressed and uncompressed data.
"""

from __future__ import annotations

import lzo

import brinery

from .lzop_format import (
    END_MARKER,
    MAGIC,
    BlockCompressor,
    LastBlockFinder,
    LzopDecompressor,
    LzopError,
    file_header,
)


class LzoCompressor(brinery.Compressor):
    """The lzop format: brinery's frames are runs of lzop blocks under one header."""

    name = "lzo"
    magic = MAGIC
    extensions = (".lzo",)
    levels = range(1, 10)
    default_level = 1
    errors = (LzopError, lzo.error)
    checks_integrity = True  # CRC-32 of every block, uncompressed and compressed
    # One lzop header, then every frame's blocks, then the end marker; an indexed stream's end
    # record is a block of its own, found from the end of the file.
    framing = brinery.Framing(
        header=file_header, trailer=END_MARKER, end_frame=LastBlockFinder()
    )

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return BlockCompressor(level)

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return LzopDecompressor()


@brinery.hookimpl
def register_compressors(register: brinery.RegisterCompressor) -> None:
    register(LzoCompressor())
