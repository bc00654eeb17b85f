"""Writing all of a buffer to a caller's file object."""

from __future__ import annotations

from typing import IO, Any


def write_all(file: IO[bytes], data: Any) -> None:
    """Write every byte of ``data``: raw (unbuffered) files may write less than asked, and
    buffered ones return ``None`` or the full size."""
    view = memoryview(data).cast("B")
    written = file.write(view)
    while written is not None and written < len(view):
        view = view[written:]
        written = file.write(view)
