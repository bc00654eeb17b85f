"""The compressors of the Python standard library: zlib, gzip, bz2, lzma ("alone") and xz.

They register through the same hook as any plugin (see :func:`register_compressors`).
Default levels follow joblib (3): large numeric data gains little from slower levels.

This module does not import pluggy: the plugin host registers these compressors by calling
the hook itself, without the plugin machinery, as soon as a compressor is asked for; it marks
the hook as pluggy's (for ``brinery plugins``) only when it loads the plugins.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import TYPE_CHECKING

from ..codec_adapters import ZlibStyleDecompressor
from ..compressor import Compressor, StreamCompressor, StreamDecompressor
from ..framing import GZIP_LOCATOR, MIB, SINGLE_FRAME, ZLIB_LOCATOR, Framing

if TYPE_CHECKING:
    from ..hookspecs import RegisterCompressor

#: The memory an xz or lzma stream may have its decoder use.  The stream's header sets the
#: dictionary size, which liblzma allocates before any data (a 13-byte ``.lzma`` header may ask
#: for 4 GiB); the presets brinery, joblib and the ``xz`` tool use need 65 MiB at most (-9).
LZMA_MEMORY_LIMIT = 256 * MIB


class ZlibCompressor(Compressor):
    """The zlib format (RFC 1950), as joblib's ``.z`` files.

    Frames are concatenated zlib streams; brinery reads them all, while ``zlib.decompress`` and
    other single-stream readers stop after the first (see docs/format.md).
    """

    name = "zlib"
    magic = b"\x78\x9c"
    # The second header byte records the level class: 01 (0-1), 5e (2-5), 9c (6), da (7-9).
    alternative_magics = (b"\x78\x01", b"\x78\x5e", b"\x78\xda")
    extensions = (".z",)
    levels = range(10)
    default_level = 3
    framing = Framing(locator=ZLIB_LOCATOR)
    errors = (zlib.error,)

    def new_compressor(self, level: int) -> StreamCompressor:
        return zlib.compressobj(level, zlib.DEFLATED, 15)

    def new_decompressor(self) -> StreamDecompressor:
        return ZlibStyleDecompressor(15)


class GzipCompressor(Compressor):
    """The gzip format (RFC 1952); each frame is a gzip member, which ``gzip -d`` joins."""

    name = "gzip"
    checks_integrity = True
    magic = b"\x1f\x8b"
    extensions = (".gz",)
    levels = range(10)
    default_level = 3
    framing = Framing(locator=GZIP_LOCATOR)
    errors = (zlib.error,)

    def new_compressor(self, level: int) -> StreamCompressor:
        return zlib.compressobj(level, zlib.DEFLATED, 31)

    def new_decompressor(self) -> StreamDecompressor:
        return ZlibStyleDecompressor(31)


class Bz2Compressor(Compressor):
    """The bzip2 format; each frame is a bzip2 stream, which ``bzip2 -d`` joins."""

    name = "bz2"
    checks_integrity = True
    magic = b"BZh"
    extensions = (".bz2",)
    levels = range(1, 10)
    default_level = 3
    errors = (OSError, EOFError, ValueError)

    def new_compressor(self, level: int) -> StreamCompressor:
        return bz2.BZ2Compressor(level)

    def new_decompressor(self) -> StreamDecompressor:
        return bz2.BZ2Decompressor()


class XzCompressor(Compressor):
    """The xz format with a CRC-64 check; each frame is an xz stream, which ``xz -d`` joins."""

    name = "xz"
    checks_integrity = True
    magic = b"\xfd7zXZ\x00"
    extensions = (".xz",)
    levels = range(10)
    default_level = 3
    framing = Framing(frame_size=8 * MIB)
    errors = (lzma.LZMAError, EOFError)

    def new_compressor(self, level: int) -> StreamCompressor:
        return lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=level)

    def new_decompressor(self) -> StreamDecompressor:
        return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=LZMA_MEMORY_LIMIT)


class LzmaAloneCompressor(Compressor):
    """The legacy ``.lzma`` ("LZMA alone") format, as joblib writes it.

    Its readers (``xz --format=lzma``, ``unlzma``) stop after one stream, so brinery writes a
    single frame: no parallel compression for this format.
    """

    name = "lzma"
    # Properties byte 0x5d (lc=3, lp=0, pb=2), then a power-of-two dictionary size >= 64 KiB.
    magic = b"\x5d\x00\x00"
    extensions = (".lzma",)
    levels = range(10)
    default_level = 3
    framing = SINGLE_FRAME
    errors = (lzma.LZMAError, EOFError)

    def new_compressor(self, level: int) -> StreamCompressor:
        return lzma.LZMACompressor(lzma.FORMAT_ALONE, preset=level)

    def new_decompressor(self) -> StreamDecompressor:
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=LZMA_MEMORY_LIMIT)


STANDARD_LIBRARY_COMPRESSORS: tuple[Compressor, ...] = (
    ZlibCompressor(),
    GzipCompressor(),
    Bz2Compressor(),
    LzmaAloneCompressor(),
    XzCompressor(),
)


def register_compressors(register: RegisterCompressor) -> None:
    """Register the standard-library compressors, exactly as a plugin would (the hook, marked as
    one by :class:`~brinery.plugins.PluginHost` when it loads the plugins)."""
    for compressor in STANDARD_LIBRARY_COMPRESSORS:
        register(compressor)
