"""Adapters that give codec objects the decompressor interface the core reads with.

The core reads frames through ``bz2.BZ2Decompressor``'s interface (``decompress(data,
max_length)``, ``eof``, ``unused_data``, ``needs_input``), which bounds the memory of every call.
Codecs that have another shape wrap their object in one of these.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

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
        output = self._zlib.decompress(data, max_length if max_length > 0 else 0)
        self._tail = self._zlib.unconsumed_tail
        self._needs_input = not self._tail and not (0 < max_length == len(output))
        return output


class BoundedOutputDecompressor:
    """For decompressors whose ``decompress(data)`` returns all the output at once (zstandard's
    ``decompressobj``): hands it out at most ``max_length`` bytes at a time.

    ``decompressor`` needs ``decompress(data)``, ``eof`` and ``unused_data``.  The core feeds
    input in bounded pieces, so what is held is bounded by one piece's output.
    """

    def __init__(self, decompressor: Any) -> None:
        self._decompressor = decompressor
        self._pending = b""
        self._offset = 0

    @property
    def eof(self) -> bool:
        return bool(self._decompressor.eof) and not self._held()

    @property
    def unused_data(self) -> bytes:
        return bytes(self._decompressor.unused_data)

    @property
    def needs_input(self) -> bool:
        return not self._held() and not self._decompressor.eof

    def decompress(self, data: Any, /, max_length: int = -1) -> bytes:
        if len(data):
            produced = self._decompressor.decompress(data)
            if self._held():  # fed while output was still held: keep both, in order
                produced = self._pending[self._offset :] + produced
            self._pending, self._offset = produced, 0
        if self._offset == 0 and (max_length < 0 or max_length >= len(self._pending)):
            output, self._pending = self._pending, b""  # the common case: no copy
            return output
        end = len(self._pending) if max_length < 0 else self._offset + max_length
        output = self._pending[self._offset : end]
        self._offset += len(output)
        if self._offset == len(self._pending):
            self._pending, self._offset = b"", 0
        return output

    def _held(self) -> int:
        return len(self._pending) - self._offset


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
