"""Writing to a caller's file object: all of a buffer, and frame boundaries where they help."""

from __future__ import annotations

from typing import Any, Protocol


class FrameBoundaries(Protocol):
    """A writer that can end the current frame where the caller says (so a large array's
    memory starts a frame of its own, and decompresses straight into the new array)."""

    def end_frame(self) -> None: ...


class Writable(Protocol):
    """A binary file's writing half: raw files may write less than asked, buffered ones return
    ``None`` or the full size."""

    def write(self, data: Any, /) -> int | None: ...


def write_all(file: Writable, data: Any) -> None:
    """Write every byte of ``data``: raw (unbuffered) files may write less than asked, and
    buffered ones return ``None`` or the full size."""
    view = memoryview(data).cast("B")
    written = file.write(view)
    while written is not None and written < len(view):
        view = view[written:]
        written = file.write(view)
