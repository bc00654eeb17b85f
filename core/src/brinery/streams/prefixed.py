"""A readable stream with bytes already taken from its start put back in front."""

from __future__ import annotations

from typing import Any


class Prefixed:
    """Serves ``head`` (read from ``stream`` to tell brinery's files from joblib's), then
    ``stream``: ``readinto`` and ``read`` for the unpicklers and the format reader."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(self._head), len(target))
            target[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        got: int | None = self._stream.readinto(target)
        return got or 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [bytes(self._head)]
            self._head = memoryview(b"")
            while chunk := self._stream.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        data = bytearray(size)
        view = memoryview(data)
        filled = 0
        while filled < size:
            got = self.readinto(view[filled:])
            if not got:
                break
            filled += got
        del view
        return bytes(data[:filled])

    def readline(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            byte = self.read(1)
            if not byte:
                break
            line += byte
        return bytes(line)
