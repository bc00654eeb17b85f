"""A readable stream with bytes already taken from its start put back in front."""

from __future__ import annotations

from typing import Any

from .pieces import read_growing

#: What ``readline`` looks at, at a time: a line of text opcodes may be megabytes long.
LINE_PIECE = 1 << 16


class Prefixed:
    """Serves ``head`` (read from ``stream`` to tell brinery's files from joblib's), then
    ``stream``: ``readinto``, ``read`` and ``readline`` for the unpicklers and the format reader.

    ``readline`` looks ahead with the stream's ``peek`` where it has one (a
    :class:`~brinery.streams.source.Source`), so it consumes the line and nothing more; otherwise
    it reads the stream in pieces and keeps what followed the line in front of the stream, as
    it keeps ``head``.
    """

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = bytes(head)
        self._offset = 0  # in _head: what is before was served
        self._stream = stream
        self._peek = getattr(stream, "peek", None)

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if self._offset < len(self._head):
            size = min(len(self._head) - self._offset, len(target))
            target[:size] = memoryview(self._head)[self._offset : self._offset + size]
            self._offset += size
            return size
        got: int | None = self._stream.readinto(target)
        return got or 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [self._head[self._offset :]]
            self._head, self._offset = b"", 0
            while chunk := self._stream.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        return bytes(read_growing(self._fill, size))

    def readline(self, size: int = -1) -> bytes:
        """A line (with its newline), or at most ``size`` bytes of it."""
        parts: list[bytes] = []
        taken = 0
        while size < 0 or taken < size:
            want = LINE_PIECE if size < 0 else min(LINE_PIECE, size - taken)
            if self._offset < len(self._head):
                limit = len(self._head) if size < 0 else min(
                    len(self._head), self._offset + size - taken
                )
                end = self._head.find(b"\n", self._offset, limit)
                stop = limit if end < 0 else end + 1
                parts.append(self._head[self._offset : stop])
                taken += stop - self._offset
                self._offset = stop
            elif self._peek is not None:
                ahead: bytes = self._peek(want)[:want]
                if not ahead:
                    break
                end = ahead.find(b"\n")
                part = self._stream.read(len(ahead) if end < 0 else end + 1)
                parts.append(part)
                taken += len(part)
            else:
                self._head, self._offset = self._stream.read(LINE_PIECE) or b"", 0
                if not self._head:
                    break
                continue
            if end >= 0:
                break
        return b"".join(parts)

    def _fill(self, buffer: Any) -> int:
        """Fill ``buffer`` (less only at the end); how many bytes it holds."""
        filled = 0
        with memoryview(buffer) as view:
            while filled < len(view):
                got = self.readinto(view[filled:])
                if not got:
                    break
                filled += got
        return filled
