"""Adapters that give codec objects the decompressor interface the core reads with.

The core reads frames through ``bz2.BZ2Decompressor``'s interface (``decompress(data,
max_length)``, ``eof``, ``unused_data``, ``needs_input``), which bounds the memory of every call.
Codecs that have another shape wrap their object in one of these.  A decompressor whose calls
return all that their input expands to (zstandard's ``decompressobj``) cannot be bounded from
outside: fed any piece of input, it may return gigabytes (see brinery-zstd's, which reads the
frame's block structure to choose its pieces).
"""

from __future__ import annotations

import struct
import zlib

from .compressor import FrameHint


class ZlibStyleDecompressor:
    """``zlib.decompressobj`` with the ``bz2.BZ2Decompressor`` interface the core reads with.

    zlib hands input it could not use back as ``unconsumed_tail``; this keeps it instead and
    says ``needs_input`` is false while it holds some, or while output may still be pending.
    """

    def __init__(self, wbits: int) -> None:
        self._zlib = zlib.decompressobj(wbits)
        self._tail = b""
        self._needs_input = True

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def unused_data(self) -> bytes:
        return self._zlib.unused_data

    @property
    def needs_input(self) -> bool:
        return self._needs_input and not self._zlib.eof

    def decompress(self, data: bytes | memoryview, /, max_length: int = -1) -> bytes:
        if self._tail:
            data = self._tail + data
        if max_length == 0:  # (to zlib, 0 means no limit)
            self._tail = bytes(data)
            self._needs_input = not self._tail and not self._zlib.eof
            return b""
        output = self._zlib.decompress(data, max(max_length, 0))
        self._tail = self._zlib.unconsumed_tail
        self._needs_input = not self._tail and not (0 < max_length == len(output))
        return output


class SkippableFrameHints:
    """Frame hints in the skippable frames that the zstd and LZ4 frame formats share.

    A skippable frame is a magic ``0x184D2A50``-``0x184D2A5F`` (little-endian), a 4-byte payload
    length and the payload, which the ``zstd`` and ``lz4`` tools skip.  brinery's uses magic
    ``0x184D2A5B`` and a 20-byte payload: ``BRFH``, then the next frame's compressed and
    uncompressed sizes as little-endian u64.
    """

    def frame_hint(self, compressed_size: int, uncompressed_size: int) -> bytes:
        return _HINT.pack(_HINT_MAGIC, _HINT_PAYLOAD, _HINT_TAG, compressed_size, uncompressed_size)

    def parse_frame_hint(self, head: bytes) -> FrameHint | None:
        if len(head) < _HINT.size or not head.startswith(_HINT_PREFIX):
            return None
        _, _, _, compressed_size, uncompressed_size = _HINT.unpack_from(head)
        return FrameHint(_HINT.size, compressed_size, uncompressed_size)


_HINT = struct.Struct("<II4sQQ")
_HINT_MAGIC = 0x184D2A5B
_HINT_PAYLOAD = _HINT.size - 8
_HINT_TAG = b"BRFH"
_HINT_PREFIX = struct.pack("<II4s", _HINT_MAGIC, _HINT_PAYLOAD, _HINT_TAG)
