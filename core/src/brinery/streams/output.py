"""Writing to a caller's file object: all of a buffer, and frame boundaries where they help."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..format.index import FrameEntry


class FrameBoundaries(Protocol):
    """A writer that can end the current frame where the caller says (so a large array's
    memory starts a frame of its own, and decompresses straight into the new array)."""

    def end_frame(self) -> None: ...

    def can_transform(self, unit: int) -> bool:
        """Whether :meth:`write_transformed` can take a transform of whole ``unit``-byte
        blocks (frames cut at block boundaries)."""

    def write_transformed(self, data: Any, transform: Callable[[Any, Any], Any], /) -> None:
        """Write what ``transform`` makes of ``data``, frame by frame, where the frames are
        compressed (see :class:`~brinery.streams.frame_writer.FrameWriter`)."""

    def frames_so_far(self) -> list[FrameEntry]:
        """End the current frame, write every frame pending, and return where each frame
        written so far lies (an indexed stream's index lists them); what is written next
        starts a new frame.  [] where the core knows no frames (a single-stream codec, a
        compressor's own writer)."""


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
