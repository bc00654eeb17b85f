"""Adapters that give codec objects the decompressor interface the core reads with.

The core reads frames through ``bz2.BZ2Decompressor``'s interface (``decompress(data,
max_length)``, ``eof``, ``unused_data``, ``needs_input``), which bounds the memory of every call.
Codecs that have another shape wrap their object in one of these.  A decompressor whose calls
return all that their input expands to (zstandard's ``decompressobj``) cannot be bounded from
outside: fed any piece of input, it may return gigabytes (see brinery-zstd's, which reads the
frame's block structure to choose its pieces).
"""

from __future__ import annotations

import zlib


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
