"""Exact reading from a caller's binary file.

Loading must not swallow bytes that follow the brinery stream: a caller may have written two
objects one after another into one pipe.  :class:`Source` therefore reads from the caller's file
only what brinery consumes.  Where the file has ``peek`` (every ``io.BufferedReader``: open files,
pipes, sockets' ``makefile``) it looks ahead without consuming; otherwise it reads ahead into its
own buffer and, when released, seeks back over what it did not use, or, for a file that can do
neither, keeps the leftover for the next load of the same file object.
"""

from __future__ import annotations

import contextlib
import io
import weakref
from typing import IO, Any

from ..errors import TruncatedFileError

READ_AHEAD = 1 << 16

# Bytes read ahead from files that can neither peek nor seek, kept for the next load of the same
# file object (weakly, so nothing outlives the caller's file).
_leftovers: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


class Source:
    """A forward-only reader over ``raw`` that consumes exactly what it returns."""

    def __init__(self, raw: IO[bytes], *, owned: bool = False) -> None:
        self._raw = raw
        self._owned = owned
        self._peekable = hasattr(raw, "peek") and not owned
        self._buffer = bytearray(_take_leftover(raw))
        self._position = 0  # bytes consumed since the start of this source

    @property
    def position(self) -> int:
        """How many bytes this source has handed out."""
        return self._position

    # -- looking ahead ----------------------------------------------------------------------

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` upcoming bytes (fewer only at the end) without consuming them."""
        while len(self._buffer) < size:
            if not self._fill(size - len(self._buffer)):
                break
        return bytes(self._buffer[:size])

    def available(self) -> bytes:
        """Return the bytes at hand (reading some when none are), without consuming them.

        An empty result means the end of the file.
        """
        if not self._buffer:
            if self._peekable:
                return bytes(self._raw.peek(READ_AHEAD))  # type: ignore[attr-defined]
            self._fill(READ_AHEAD)
        return bytes(self._buffer)

    def consume(self, size: int) -> None:
        """Mark ``size`` bytes of what :meth:`available` returned as used."""
        if self._buffer:
            del self._buffer[:size]
        elif size:
            self._raw.read(size)
        self._position += size

    def unread(self, data: bytes) -> None:
        """Put back bytes that were consumed but belong to whatever follows."""
        self._buffer[:0] = data
        self._position -= len(data)

    # -- reading ---------------------------------------------------------------------------

    def readinto(self, target: memoryview) -> int:
        """Fill as much of ``target`` as the file has (less only at its end)."""
        filled = 0
        if self._buffer:
            filled = min(len(self._buffer), len(target))
            target[:filled] = self._buffer[:filled]
            del self._buffer[:filled]
        while filled < len(target):
            got = _readinto(self._raw, target[filled:])
            if not got:
                break
            filled += got
        self._position += filled
        return filled

    def read_exactly(self, size: int, what: str) -> bytes:
        """Return exactly ``size`` bytes or raise :class:`TruncatedFileError` about ``what``."""
        data = bytearray(size)
        self.readinto_exactly(memoryview(data), what)
        return bytes(data)

    def readinto_exactly(self, target: memoryview, what: str) -> None:
        """Fill ``target`` completely or raise :class:`TruncatedFileError` about ``what``."""
        start = self._position
        if self.readinto(target) < len(target):
            raise TruncatedFileError(
                f"the data ends in the middle of {what} (at byte {self._position} of the stream, "
                f"{len(target) - (self._position - start)} more bytes were expected)"
            )

    # -- the end ---------------------------------------------------------------------------

    def at_end(self) -> bool:
        """Whether nothing follows."""
        return not self.peek(1)

    def release(self) -> None:
        """Give back to the caller's file what was read ahead but not consumed."""
        leftover = bytes(self._buffer)
        self._buffer.clear()
        if not leftover or self._owned:
            return
        try:
            if self._raw.seekable():
                self._raw.seek(-len(leftover), io.SEEK_CUR)
                return
        except (OSError, ValueError):
            pass
        with contextlib.suppress(TypeError):  # a file object that cannot be referenced weakly
            _leftovers[self._raw] = leftover

    def _fill(self, wanted: int) -> bool:
        """Append at least one byte from the file to the buffer; false at the end."""
        if self._peekable:
            # Consume what peek showed, so the caller's file never moves past what we hold.
            ahead = self._raw.peek(max(wanted, 1))  # type: ignore[attr-defined]
            chunk = self._raw.read(min(len(ahead), max(wanted, 1))) if ahead else b""
        else:
            chunk = self._raw.read(max(wanted, READ_AHEAD))
        if not chunk:
            return False
        self._buffer += chunk
        return True


def _readinto(raw: IO[bytes], target: memoryview) -> int:
    """``raw.readinto(target)``, for file objects that only have ``read`` too."""
    readinto = getattr(raw, "readinto", None)
    if readinto is not None:
        return readinto(target) or 0
    chunk = raw.read(len(target))
    target[: len(chunk)] = chunk
    return len(chunk)


def _take_leftover(raw: IO[bytes]) -> bytes:
    try:
        return _leftovers.pop(raw, b"")
    except TypeError:
        return b""
