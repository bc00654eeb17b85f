"""Adapters that give codec objects the decompressor interface the core reads with.

The core reads frames through ``bz2.BZ2Decompressor``'s interface (``decompress(data,
max_length)``, ``eof``, ``unused_data``, ``needs_input``), which bounds the memory of every call.
Codecs that have another shape wrap their object in one of these.  A decompressor whose calls
return all that their input expands to (zstandard's ``decompressobj``) cannot be bounded from
outside: fed any piece of input, it may return gigabytes (see brinery-zstd's, which reads the
frame's block structure to choose its pieces).
"""

from __future__ import annotations

import sys
import zlib
from typing import Any


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


class PiecewiseDecompressor:
    """The core's decompressor interface over a codec read a piece at a time by a subclass
    (brinery-zstd's and brinery-lz4's frame readers), which makes each piece from the input
    held: :meth:`_piece` makes the next piece of output, at most about ``room`` bytes (one
    block), or says it needs more input first; :meth:`_made` sees each call's new output.

    This keeps what every such reader needs alike: the input given and not yet used (the
    core's input is immutable, so a first piece is kept as it is, not copied), the output made
    and not yet returned, and each call returning at most ``max_length`` bytes, so memory stays
    within one piece beyond what the caller asked for.
    """

    def __init__(self) -> None:
        self._input = memoryview(b"")  # given, not yet used
        self._output = b""  # made, not yet returned
        self._offset = 0  # in _output: what is before was returned

    @property
    def eof(self) -> bool:
        return self._ended() and not self._held()

    @property
    def unused_data(self) -> bytes:
        return bytes(self._input) if self._ended() else b""

    @property
    def needs_input(self) -> bool:
        return not self._input and not self._held() and not self._ended()

    def decompress(self, data: Any, /, max_length: int = -1) -> bytes:
        if len(data):
            given = memoryview(data).cast("B")
            if given.readonly and not self._input:
                self._input = given  # (kept, not copied: the core's input is immutable)
            else:
                self._input = memoryview(bytes(self._input) + bytes(given))
        wanted = max_length if max_length >= 0 else sys.maxsize
        held = self._held()
        if held >= wanted:  # what was made already is enough
            self._offset += wanted
            return self._output[self._offset - wanted : self._offset]
        parts = [self._output[self._offset :]] if held else []
        made = held
        while held < wanted and not self._ended():
            part = self._piece(wanted - held)
            if part is None:
                break
            if part:
                parts.append(part)
                held += len(part)
        self._output = parts[0] if len(parts) == 1 else b"".join(parts)
        with memoryview(self._output)[made:] as new:
            self._made(new)
        self._offset = min(len(self._output), wanted)
        return self._output[: self._offset]

    def _held(self) -> int:
        return len(self._output) - self._offset

    # -- what a subclass provides ----------------------------------------------------------

    def _ended(self) -> bool:
        """Whether the frame ended (what input is left then follows it)."""
        raise NotImplementedError

    def _piece(self, room: int) -> bytes | None:
        """The next piece of output made from the input held (``b""`` if the input it used
        made none, such as a header), or ``None`` when the input held is not enough for the
        next piece: the subclass then takes all of it (keeping it itself), since input held
        means no more is needed (:attr:`needs_input`)."""
        raise NotImplementedError

    def _made(self, new: memoryview) -> None:
        """See the output a call made (checks of the whole output, a running checksum)."""
