"""brinery-example: raw deflate frames behind a 4-byte magic number, as a brinery plugin.

A frame is ``b"RDF1"`` and a raw deflate stream (zlib with ``wbits=-15``: no header, no
checksum).  The core does the rest: cutting the stream into frames, compressing them on
threads, reading concatenated frames, bounding memory, mapping zlib's errors, and adding its
own record checksums, since raw deflate has none (``checks_integrity`` stays false).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import brinery
from brinery.codec_adapters import ZlibStyleDecompressor

MAGIC = b"RDF1"
RAW_DEFLATE = -15  # zlib's wbits for a stream without header or trailer


class _FrameCompressor:
    """One frame: the magic, then what a raw deflate compressor makes of the data."""

    def __init__(self, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, RAW_DEFLATE)
        self._head = MAGIC

    def compress(self, data: bytes | memoryview, /) -> bytes:
        head, self._head = self._head, b""
        return head + self._deflate.compress(data)

    def flush(self) -> bytes:
        head, self._head = self._head, b""
        return head + self._deflate.flush()


class _FrameDecompressor:
    """Checks the magic at the start of a frame, then inflates the rest of it."""

    def __init__(self) -> None:
        self._inflate = ZlibStyleDecompressor(RAW_DEFLATE)
        self._magic_left = MAGIC

    @property
    def eof(self) -> bool:
        return self._inflate.eof

    @property
    def unused_data(self) -> bytes:
        return self._inflate.unused_data

    @property
    def needs_input(self) -> bool:
        return bool(self._magic_left) or self._inflate.needs_input

    def decompress(self, data: bytes | memoryview, /, max_length: int = -1) -> bytes:
        if self._magic_left:
            take = min(len(self._magic_left), len(data))
            if bytes(data[:take]) != self._magic_left[:take]:
                raise ValueError("this frame does not start with the rawdeflate magic number")
            self._magic_left = self._magic_left[take:]
            data = data[take:]
            if self._magic_left:
                return b""
        return self._inflate.decompress(data, max_length)


class RawDeflateCompressor(brinery.Compressor):
    """Raw deflate frames; levels 1 (fastest) to 9 (smallest)."""

    name = "rawdeflate"
    magic = MAGIC
    extensions = (".rdf",)
    levels = range(1, 10)
    default_level = 6
    errors = (zlib.error, ValueError)

    def new_compressor(self, level: int) -> brinery.StreamCompressor:
        return _FrameCompressor(level)

    def new_decompressor(self) -> brinery.StreamDecompressor:
        return _FrameDecompressor()

    def compress_frame(self, level: int, data: bytes | memoryview) -> Sequence[bytes]:
        # Optional: one call per frame is faster on threads than the streaming object.
        return MAGIC, zlib.compress(data, level, wbits=RAW_DEFLATE)


@brinery.hookimpl
def register_compressors(register: brinery.RegisterCompressor) -> None:
    """brinery's hook: called once, when the plugins are loaded."""
    register(RawDeflateCompressor())
