"""Exact reading from a caller's binary file.

Loading must not swallow bytes that follow the brinery stream: a caller may have written two
objects one after another into one pipe.  :class:`Source` therefore reads from the caller's file
only what brinery consumes.  Where the file has ``peek`` (every ``io.BufferedReader``: open files,
pipes, sockets' ``makefile``) it looks ahead without consuming; otherwise it reads ahead into its
own buffer and, when released, seeks back over what it did not use, or, for a file that can do
neither, keeps the leftover for the next load of the same file object.

Read-ahead is held as an immutable ``bytes`` chunk and handed out as ``memoryview`` slices, so
compressed input reaches the decompressor without being copied.
"""

from __future__ import annotations

import contextlib
import io
import os
import weakref
from collections.abc import Callable
from typing import IO, Any

from ..errors import TruncatedFileError
from .pieces import FIRST_READ, read_growing
from .read_ahead import PIECE_BYTES, fill_checking

#: Read-ahead for files brinery opened itself (nothing can follow the stream there).  It is also
#: the compressed input a streamed frame is decompressed from, a fresh ``bytes`` each time: 1 MiB
#: pieces, freed between the small objects a load builds, left holes that the next ones did not
#: fit (an object-heavy zstd or LZ4 load peaked 2.5 MiB higher, and was no faster).
OWNED_READ_AHEAD = 256 << 10
#: Read-ahead for a caller's file that cannot peek.
READ_AHEAD = 1 << 16
#: Reads smaller than this, of a file brinery opened itself, go through its read-ahead.
SMALL_READ = 1 << 15

# Bytes read ahead from files that can neither peek nor seek, kept for the next load of the same
# file object (weakly, so nothing outlives the caller's file).
_leftovers: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


class Source:
    """A forward-only reader over ``raw`` that consumes exactly what it returns."""

    def __init__(
        self,
        raw: IO[bytes],
        *,
        owned: bool = False,
        on_advance: Callable[[int], None] | None = None,
    ) -> None:
        self._raw = raw
        self._owned = owned
        self._peekable = hasattr(raw, "peek") and not owned
        self._read_ahead = OWNED_READ_AHEAD if owned else READ_AHEAD
        self._chunk = _take_leftover(raw)  # read from raw, not yet consumed from _offset on
        self._offset = 0
        self._peeked = 0  # bytes handed out by available() straight from raw.peek()
        self._position = 0  # bytes consumed since the start of this source
        self._on_advance = on_advance  # told how many bytes each step consumed (progress=)

    @property
    def position(self) -> int:
        """How many bytes this source has handed out."""
        return self._position

    # -- looking ahead ----------------------------------------------------------------------

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` upcoming bytes (fewer only at the end) without consuming them."""
        while len(self._chunk) - self._offset < size:
            more = self._raw.read(size - (len(self._chunk) - self._offset))
            if not more:
                break
            self._chunk = self._chunk[self._offset :] + more
            self._offset = 0
        return self._chunk[self._offset : self._offset + size]

    def available(self) -> memoryview:
        """Return the bytes at hand (reading some when none are), without consuming them.

        An empty result means the end of the file.  The view stays valid after :meth:`consume`.
        """
        if self._offset < len(self._chunk):
            return memoryview(self._chunk)[self._offset :]
        if self._peekable:
            ahead = self._raw.peek(self._read_ahead)  # type: ignore[attr-defined]
            self._peeked = len(ahead)
            return memoryview(ahead)
        self._chunk = self._raw.read(self._read_ahead) or b""
        self._offset = 0
        return memoryview(self._chunk)

    def consume(self, size: int) -> None:
        """Mark ``size`` bytes of what :meth:`available` returned as used."""
        if self._offset < len(self._chunk):
            self._offset += size
        elif size:
            if size > self._peeked:
                raise AssertionError("consumed more than was peeked")
            self._raw.read(size)
            self._peeked -= size
        self._advance(size)

    def unread(self, data: bytes) -> None:
        """Put back bytes that were consumed but belong to whatever follows."""
        if data:
            self._chunk = bytes(data) + self._chunk[self._offset :]
            self._offset = 0
            self._advance(-len(data))

    # -- reading ---------------------------------------------------------------------------

    def readinto(self, target: memoryview) -> int:
        """Fill as much of ``target`` as the file has (less only at its end)."""
        filled = min(len(self._chunk) - self._offset, len(target))
        if filled:
            target[:filled] = self._chunk[self._offset : self._offset + filled]
            self._offset += filled
        while filled < len(target):
            if self._owned and len(target) - filled < SMALL_READ:
                # A small read of a file brinery opened (unbuffered): through the read-ahead,
                # one system call for many record headers and opcodes.  Larger reads (pickle
                # frames, arrays) go straight into their memory: one copy, the kernel's.
                self._chunk = self._raw.read(self._read_ahead) or b""
                self._offset = min(len(self._chunk), len(target) - filled)
                if not self._offset:
                    break
                target[filled : filled + self._offset] = self._chunk[: self._offset]
                filled += self._offset
                continue
            got = _readinto(self._raw, target[filled:])
            if not got:
                break
            filled += got
        self._advance(filled)
        return filled

    def fill_checking(self, target: memoryview, check: Callable[[memoryview], object]) -> int:
        """:meth:`readinto`, calling ``check`` on every piece of ``target`` in order as soon as
        it is in (while it is still in the CPU's cache); a file brinery opened itself is read
        ahead by a helper thread meanwhile (:mod:`.read_ahead`)."""
        filled = min(len(self._chunk) - self._offset, len(target))
        if filled:
            with target[:filled] as head:
                head[:] = self._chunk[self._offset : self._offset + filled]
                check(head)
            self._offset += filled
        descriptor = self._raw.fileno() if self._owned and type(self._raw) is io.FileIO else None
        if filled < len(target) and descriptor is not None:
            position = self._raw.tell()
            with target[filled:] as rest:
                got = fill_checking(descriptor, position, rest, check)
            self._raw.seek(position + got)
            filled += got
        while filled < len(target):
            with target[filled : filled + PIECE_BYTES] as piece:
                got = _readinto(self._raw, piece)
                if got:
                    with piece[:got] as arrived:
                        check(arrived)
            if not got:
                break
            filled += got
        self._advance(filled)
        return filled

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left if negative); fewer only at the end."""
        if size < 0:
            parts = [self._chunk[self._offset :]]
            self._advance(len(parts[0]))
            self._chunk, self._offset = b"", 0
            while more := self._raw.read(self._read_ahead):
                parts.append(more)
                self._advance(len(more))
            return b"".join(parts)
        return bytes(self._read_up_to(size))

    def read_exactly(self, size: int, what: str) -> memoryview:
        """Exactly ``size`` bytes, or :class:`TruncatedFileError` saying ``what`` was cut."""
        data = self._read_up_to(size)
        if len(data) < size:
            raise TruncatedFileError(
                f"the data ends in the middle of {what} ({len(data)} of {size} bytes, at byte "
                f"{self._position} of the file)"
            )
        return memoryview(data)

    def _read_up_to(self, size: int) -> bytearray:
        """Up to ``size`` bytes, fewer only at the end.  ``size`` may come from the file: unless
        the file is known to hold them, they are read in growing pieces (:mod:`.pieces`)."""
        first = size if size > FIRST_READ and (self.remaining() or 0) >= size else FIRST_READ
        return read_growing(self.readinto, size, first)

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes without reading them (a memory-mapped record's payload):
        only for a seekable file brinery opened itself."""
        buffered = min(len(self._chunk) - self._offset, size)
        self._offset += buffered
        if size > buffered:
            self._raw.seek(size - buffered, io.SEEK_CUR)
        self._advance(size)

    def _advance(self, count: int) -> None:
        self._position += count
        if self._on_advance is not None:
            self._on_advance(count)

    # -- the end ---------------------------------------------------------------------------

    def remaining(self) -> int | None:
        """How many bytes are left to read, if the file says so cheaply (a regular file,
        ``BytesIO``, an fsspec file): declared sizes are checked against it before anything is
        allocated.  Other seekable objects (a ``GzipFile``'s size is its uncompressed size, and
        seeking to its end would decompress it all) are not asked."""
        raw = self._raw
        try:
            if isinstance(raw, io.BytesIO):  # (getbuffer() would copy a shared buffer)
                here = raw.tell()
                size = raw.seek(0, io.SEEK_END)
                raw.seek(here)
            elif isinstance(raw, (io.FileIO, io.BufferedReader, io.BufferedRandom)):
                size = os.fstat(raw.fileno()).st_size
            elif isinstance(getattr(raw, "size", None), int):  # fsspec's buffered files
                size = raw.size  # type: ignore[attr-defined]
            else:
                return None
            here = raw.tell()
        except (OSError, ValueError, AttributeError):
            return None
        return max(0, size - here) + len(self._chunk) - self._offset

    def at_end(self) -> bool:
        """Whether nothing follows."""
        return not self.peek(1)

    def release(self) -> None:
        """Give back to the caller's file what was read ahead but not consumed."""
        leftover = self._chunk[self._offset :]
        self._chunk, self._offset = b"", 0
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
