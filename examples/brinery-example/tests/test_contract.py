"""brinery-example meets the plugin contract, the tests every brinery compressor plugin passes.

``pip install "brinery[testing]"``, then ``pytest tests`` (no conftest needed).  The codec is
described below; the contract does the rest, and a plugin adds the tests only it needs.

Raw deflate has no check of its own, so brinery adds a checksum to every record of the stream.
Measured: no flip of a byte of the small file loads the original (0 harmless flips, the
default), nor of the many-small-frames file written unindexed; written indexed (the default),
one flip of it does (xor 0x01, 1 of 884 bytes, in the frame that holds the index record, mostly
zero bytes): it decodes to the very same stream, as zlib agrees, so the codec allows one
harmless flip per frame (``harmless_flips_per_frame``).  A flip
in the bytes that decode to the stream's 16-byte header may leave a valid raw deflate file that
holds something else (about 10 offsets of the small file): without a check, that cannot be told
from a file compressed from something else, and brinery says so (UnknownFormatError), which the
contract allows for codecs that do not check their frames.  There is no command-line tool: those
tests skip.  brinery does not know of this plugin (it is not among ``brinery.known_plugins``), so
without it a ``.rdf`` file is an unknown format, not a "install brinery-example" error.
"""

from __future__ import annotations

import zlib

from brinery_example import MAGIC, RawDeflateCompressor

from brinery.testing import Codec, CodecContract


class RawDeflate(Codec):
    name = "rawdeflate"
    distribution = "brinery-example"
    compressor_class = RawDeflateCompressor
    magic = MAGIC
    extensions = (".rdf",)
    lowest, default, highest = 1, 6, 9
    harmless_flips_per_frame = 1  # (see above: 1 seen, in 6 frames)

    def decode(self, data: bytes) -> bytes | None:
        """Python's zlib, not the plugin: frame after frame, the magic and a raw deflate
        stream."""
        parts = []
        while data:
            if not data.startswith(MAGIC):
                return None
            inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                parts.append(inflate.decompress(data[len(MAGIC) :]))
            except zlib.error:
                return None
            if not inflate.eof:
                return None
            data = inflate.unused_data
        return b"".join(parts)


class TestRawDeflate(CodecContract):
    codec = RawDeflate()
