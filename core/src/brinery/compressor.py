"""The compressor interface shared by the built-in codecs, plugins and third-party code.

A codec gives brinery two small pieces and brinery does the rest:

* :meth:`Compressor.new_compressor` returns a streaming compressor (``compress(data)`` and
  ``flush()``, the shape of :func:`zlib.compressobj`).  brinery cuts the stream into frames of
  :attr:`Compressor.frame_size` bytes and compresses each with a fresh compressor, in a thread
  pool, so every frame is complete on its own (a gzip member, an xz stream, ...).
* :meth:`Compressor.new_decompressor` returns a decompressor with the shape of
  :class:`bz2.BZ2Decompressor` (``decompress(data, max_length)``, ``eof``, ``unused_data``,
  ``needs_input``).  brinery reads concatenated frames, bounds memory and maps the codec's
  exceptions (listed in :attr:`Compressor.errors`) to :class:`~brinery.CorruptFileError`.

Two optional pieces make a codec faster on threads: :meth:`Compressor.compress_frame` and
:meth:`Compressor.decompress_frame_into`, one call per whole frame, for codecs that have one.

A compressor that cannot be described that way overrides :meth:`Compressor.open_writer` and
:meth:`Compressor.open_reader` instead, and brinery treats the returned file objects as opaque.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .errors import CorruptFileError, InvalidArgumentError, TruncatedFileError

MIB = 1 << 20
#: The most bytes a frame hint may take.
FRAME_HINT_MAX = 32


#: Copies larger than this go through numpy, which releases the GIL while it copies.
_GIL_FREE_COPY_BYTES = 1 << 16


def copy_into(target: memoryview, data: bytes | bytearray | memoryview) -> None:
    """Copy ``data`` into ``target`` (same length), without holding the GIL when it is large,
    so decompression threads do not stall the unpickler."""
    if len(data) > _GIL_FREE_COPY_BYTES:
        np.frombuffer(target, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    else:
        target[:] = data


class FrameHint(NamedTuple):
    """A frame's sizes, announced before it so a reader can decompress frames in parallel."""

    length: int  # bytes the hint itself takes
    compressed_size: int
    uncompressed_size: int


@runtime_checkable
class StreamCompressor(Protocol):
    """What :meth:`Compressor.new_compressor` returns (``zlib.compressobj``'s shape)."""

    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


@runtime_checkable
class StreamDecompressor(Protocol):
    """What :meth:`Compressor.new_decompressor` returns (``bz2.BZ2Decompressor``'s shape).

    ``decompress(data, max_length)`` returns at most ``max_length`` bytes (``-1``: no limit) and
    keeps any input it could not use yet; ``needs_input`` is false while it holds such input;
    ``eof`` is true once the frame's end was read, and ``unused_data`` then holds what followed.
    """

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes | memoryview, /, max_length: int = -1) -> bytes: ...


class Compressor:
    """A compression format brinery can write and detect.

    Subclasses set the class attributes and implement either the two codec pieces
    (:meth:`new_compressor`, :meth:`new_decompressor`) or the two general entries
    (:meth:`open_writer`, :meth:`open_reader`).
    """

    #: Short unique name, used in ``compress="name"`` and ``("name", level)``.
    name: str = ""
    #: The bytes every stream of this format starts with (at least 2), used to detect it on load.
    magic: bytes = b""
    #: Other start sequences the format may have (zlib's header changes with the level).
    alternative_magics: tuple[bytes, ...] = ()
    #: File name endings that select this compressor on dump, lower case, with the dot.
    extensions: tuple[str, ...] = ()
    #: The levels the codec accepts, in its own numbering.
    levels: range = range(0)
    #: The level used when only the name is given.
    default_level: int = 0
    #: Uncompressed bytes per independent frame; ``None`` writes one frame for the whole stream
    #: (for formats whose readers stop after the first frame).
    frame_size: int | None = 4 * MIB
    #: Exceptions the codec raises on bad data; brinery turns them into ``CorruptFileError``.
    errors: tuple[type[BaseException], ...] = ()
    #: Whether every frame carries a strong check of its content (a CRC-32 or better over the
    #: uncompressed data) that the decompressor verifies; if not, brinery checksums each record.
    checks_integrity: bool = False

    # -- codec pieces ----------------------------------------------------------------------

    def new_compressor(self, level: int) -> StreamCompressor:
        """Return a compressor that writes one complete frame from what it is given."""
        raise NotImplementedError

    def new_decompressor(self) -> StreamDecompressor:
        """Return a decompressor for one frame."""
        raise NotImplementedError

    def compress_frame(self, level: int, data: bytes | memoryview) -> Sequence[bytes]:
        """Compress ``data`` into one complete frame, returned in parts (joining them would
        copy).  Runs on the core's compression threads.

        The default drives :meth:`new_compressor`.  A codec with a one-call function should
        override this: streaming objects take the GIL back after every output chunk (zstandard's
        every 128 KiB), and while the main thread pickles, each of those waits up to the
        interpreter's switch interval (5 ms); measured here, zstandard's ``compressobj`` ran 70x
        slower next to a busy Python thread, its one-call ``compress`` 4.6x.
        """
        codec = self.new_compressor(level)
        return codec.compress(data), codec.flush()

    def decompress_frame_into(self, frame: memoryview, target: memoryview) -> None:
        """Decompress ``frame``, one whole frame, into ``target``, which it must fill exactly
        (a frame hint announced both sizes).  Runs on the core's decompression threads.

        Raise :class:`~brinery.CorruptFileError` when the frame holds more or less data (the
        core adds which frame), or let the codec's own exceptions out (the core maps them).
        The default drives :meth:`new_decompressor`, bounded to ``target``; codecs with a
        one-call function should override it, for the reason :meth:`compress_frame` gives.
        """
        decompressor = self.new_decompressor()
        filled = 0
        data: memoryview | bytes = frame
        while not decompressor.eof:
            chunk = decompressor.decompress(data, len(target) - filled + 1)
            data = b""
            if len(chunk) > len(target) - filled:
                raise CorruptFileError(
                    f"it holds more data than its hint announced ({len(target)} bytes)"
                )
            copy_into(target[filled : filled + len(chunk)], chunk)
            filled += len(chunk)
            if not chunk and decompressor.needs_input:
                raise TruncatedFileError("it ends before its end")
        if filled != len(target) or decompressor.unused_data:
            raise CorruptFileError(
                f"it does not match its hint ({filled} of {len(target)} bytes, "
                f"{len(decompressor.unused_data or b'')} bytes after it)"
            )

    def frame_hint(self, compressed_size: int, uncompressed_size: int) -> bytes:
        """Bytes written before every frame but the first, announcing its sizes, which the
        format's readers skip (zstd's and lz4's skippable frames); ``b""`` if it has none."""
        return b""

    def parse_frame_hint(self, head: bytes) -> FrameHint | None:
        """The hint :meth:`frame_hint` wrote, if ``head`` (up to :data:`FRAME_HINT_MAX` bytes
        from a frame boundary) starts with one."""
        return None

    def stream_header(self, level: int) -> bytes:
        """Bytes written once before the first frame (a container format's file header)."""
        return b""

    def stream_trailer(self) -> bytes:
        """Bytes written once after the last frame (a container format's end marker)."""
        return b""

    # -- general entries -------------------------------------------------------------------

    def open_writer(self, fileobj: IO[bytes], level: int, *, threads: int = 1) -> IO[bytes]:
        """Return a writable binary file compressing into ``fileobj``.

        ``close()`` ends the compressed stream and leaves ``fileobj`` open.
        """
        from .streams.frame_writer import FrameWriter

        return FrameWriter(fileobj, self, level, threads=threads)  # type: ignore[return-value]

    def open_reader(self, fileobj: IO[bytes]) -> IO[bytes]:
        """Return a readable binary file decompressing from ``fileobj``."""
        from .streams.frame_reader import FrameReader
        from .streams.source import Source

        return FrameReader(Source(fileobj), self)  # type: ignore[return-value]

    # -- helpers used by the core ----------------------------------------------------------

    @property
    def has_codec_pieces(self) -> bool:
        """Whether this compressor implements the pieces the core's frame machinery needs."""
        cls = type(self)
        return (
            cls.new_compressor is not Compressor.new_compressor
            and cls.new_decompressor is not Compressor.new_decompressor
        )

    @property
    def all_magics(self) -> tuple[bytes, ...]:
        """Every byte sequence a stream of this format may start with."""
        return (self.magic, *self.alternative_magics)

    def check_level(self, level: object) -> int:
        """Return ``level`` if the codec accepts it; otherwise raise a helpful error."""
        if isinstance(level, bool) or not isinstance(level, int) or level not in self.levels:
            raise InvalidArgumentError(
                f"compression level {level!r} is not valid for {self.name!r}: "
                f"use an int from {self.levels.start} to {self.levels.stop - 1}"
            )
        return level

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} magic={self.magic.hex(' ')}>"
