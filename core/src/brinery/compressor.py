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

A compressor that cannot be described that way overrides :meth:`Compressor.open_writer` and
:meth:`Compressor.open_reader` instead, and brinery treats the returned file objects as opaque.
"""

from __future__ import annotations

from typing import IO, NamedTuple, Protocol, runtime_checkable

from .errors import InvalidArgumentError

MIB = 1 << 20
#: The most bytes a frame hint may take.
FRAME_HINT_MAX = 32


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

    # -- codec pieces ----------------------------------------------------------------------

    def new_compressor(self, level: int) -> StreamCompressor:
        """Return a compressor that writes one complete frame from what it is given."""
        raise NotImplementedError

    def new_decompressor(self) -> StreamDecompressor:
        """Return a decompressor for one frame."""
        raise NotImplementedError

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
