"""One whole frame, whose sizes a hint announced, decompressed into its place (on a thread).

The core owns the checks: a codec's one-call :meth:`~brinery.Compressor.decompress_frame` is
used only when the frame's header records the very size the hint announced (a header without
a size, as ``zstd -c`` writes from a pipe, or a damaged one, never decides an allocation);
otherwise the codec's streaming decompressor fills the target, bounded to it.  Either way the
frame must fill the target exactly, and nothing may follow it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..compressor import Compressor
from ..errors import CorruptFileError, TruncatedFileError

#: Copies larger than this go through numpy, which releases the GIL while it copies.
_GIL_FREE_COPY_BYTES = 1 << 16


def copy_into(target: memoryview, data: bytes | bytearray | memoryview) -> None:
    """Copy ``data`` into ``target`` (same length), without holding the GIL when it is large,
    so decompression threads do not stall the unpickler."""
    if len(data) > _GIL_FREE_COPY_BYTES:
        np.frombuffer(target, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    else:
        target[:] = data


def decompress_frame_into(compressor: Compressor, frame: memoryview, target: memoryview) -> None:
    """Decompress ``frame``, one whole frame, into ``target``, which it must fill exactly.

    Raises :class:`~brinery.CorruptFileError` (or :class:`~brinery.TruncatedFileError`) when
    the frame holds more or less; the codec's own exceptions go out as they are (the caller
    maps them and adds which frame).
    """
    if compressor.frame_content_size(frame) == len(target):
        data = compressor.decompress_frame(frame, len(target))
        if len(data) > len(target):
            raise CorruptFileError(
                f"it holds more data than its hint announced ({len(target)} bytes)"
            )
        if len(data) != len(target):
            raise CorruptFileError(
                f"it does not match its hint ({len(data)} of {len(target)} bytes)"
            )
        copy_into(target, data)
        return
    _stream_into(compressor, frame, target)


def _stream_into(compressor: Compressor, frame: memoryview, target: memoryview) -> None:
    filled = 0
    for chunk in streamed_pieces(compressor, frame, len(target)):
        copy_into(target[filled : filled + len(chunk)], chunk)
        filled += len(chunk)


def streamed_pieces(
    compressor: Compressor,
    frame: memoryview | bytes,
    size: int,
    piece: int | None = None,
    announced_by: str = "its hint",
) -> Iterator[bytes]:
    """``frame``, one whole frame, through the codec's streaming decompressor, in pieces (of
    at most ``piece`` bytes; ``None``: as the codec gives them): it must make exactly ``size``
    bytes, the size ``announced_by`` announced, and nothing may follow it.  Never asked for more
    than one byte past ``size``, so what it holds stays bounded by the size, whatever the frame
    expands to."""
    decompressor = compressor.new_decompressor()
    made = 0
    data: memoryview | bytes = frame
    while not decompressor.eof:
        room = size - made + 1
        chunk = decompressor.decompress(data, room if piece is None else min(piece, room))
        data = b""
        if len(chunk) > size - made:
            raise CorruptFileError(
                f"it holds more data than {announced_by} announced ({size} bytes)"
            )
        made += len(chunk)
        if not chunk and decompressor.needs_input:
            raise TruncatedFileError("it ends before its end")
        yield chunk
    if made != size or decompressor.unused_data:
        raise CorruptFileError(
            f"it does not match {announced_by} ({made} of {size} bytes, "
            f"{len(decompressor.unused_data or b'')} bytes after it)"
        )
