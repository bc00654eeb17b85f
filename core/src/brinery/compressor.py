"""The compressor interface: what a codec tells brinery, and nothing brinery does with it.

A :class:`Compressor` is the codec: a name, a magic number, file extensions, levels, and two
functions, :meth:`~Compressor.new_compressor` (``zlib.compressobj``'s shape) and
:meth:`~Compressor.new_decompressor` (``bz2.BZ2Decompressor``'s shape), each for one frame.
How the codec's frames are laid out in a file (their size, hints announcing them, a container's
header and trailer) is a :class:`~brinery.framing.Framing` it holds, not something it inherits.

Everything else is the core's (:mod:`brinery.streams.compressed` chooses the machinery): cutting
the stream into frames, compressing them on threads, reading concatenated frames with bounded
memory, checking frame hints, mapping the codec's :attr:`~Compressor.errors` to
:class:`~brinery.CorruptFileError`.  Optional one-call pieces make threads faster; a format that
cannot be described by frames overrides :meth:`~Compressor.open_writer` and
:meth:`~Compressor.open_reader` instead, and brinery treats its file objects as opaque.

This module only declares: it imports none of the machinery that uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import IO, Protocol, runtime_checkable

from .framing import FRAMES, Framing


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

    The least a subclass gives: :attr:`name`, :attr:`magic`, :attr:`extensions`,
    :attr:`levels` and the two functions :meth:`new_compressor` and :meth:`new_decompressor`;
    or, for a format that is not a run of frames, :meth:`open_writer` and :meth:`open_reader`.
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
    #: Exceptions the codec raises on bad data; brinery turns them into ``CorruptFileError``.
    errors: tuple[type[BaseException], ...] = ()
    #: Whether every frame carries a strong check of its content (a CRC-32 or better over the
    #: uncompressed data) that the decompressor verifies; if not, brinery checksums each record.
    checks_integrity: bool = False
    #: How frames are laid out: their size, hints announcing them, a header and a trailer.
    framing: Framing = FRAMES

    @property
    def default_level(self) -> int:
        """The level used when only the name is given (a subclass sets it; else the first)."""
        return self.levels.start

    # -- the two functions -----------------------------------------------------------------

    def new_compressor(self, level: int) -> StreamCompressor:
        """Return a compressor that writes one complete frame from what it is given."""
        raise NotImplementedError

    def new_decompressor(self) -> StreamDecompressor:
        """Return a decompressor for one frame."""
        raise NotImplementedError

    def next_decompressor(self, ended: StreamDecompressor) -> StreamDecompressor:
        """Return a decompressor for the frame after the one ``ended`` (one of this codec's
        decompressors, whose frame ended) read.

        The default makes a new one.  A codec whose decompressor holds state worth keeping
        hands it on: brinery-zstd's keeps its context, and with it a window buffer as large as
        a frame, which a new context would allocate again for every frame.
        """
        return self.new_decompressor()

    # -- optional one-call pieces, for speed on threads ------------------------------------

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

    def new_frame_compressor(self, level: int) -> Callable[[bytes | memoryview], Sequence[bytes]]:
        """Return a function compressing one frame per call, as :meth:`compress_frame` does,
        that the core keeps for one compression thread for a whole dump, frame after frame
        (it is only ever called from that thread).

        The default calls :meth:`compress_frame`.  A codec whose one-call compressor holds
        state worth keeping returns that compressor's method: zstandard's context (its match
        tables, 1 to 3 MiB at the default level) made anew for every 4 MiB frame left the
        threads' heaps fragmented, a compressed dump of small records peaking about 6 MiB
        higher.
        """
        return functools.partial(self.compress_frame, level)

    def frame_content_size(self, frame: memoryview) -> int | None:
        """The uncompressed size that the header of ``frame`` (one whole frame) records, if the
        format records one.  Only when it equals the size a frame hint announced does the core
        call :meth:`decompress_frame`; otherwise (no size, or a size that disagrees) the core
        decompresses the frame with :meth:`new_decompressor`, bounded to the announced size."""
        return None

    def decompress_frame(self, frame: memoryview, size: int) -> bytes | bytearray | memoryview:
        """Decompress ``frame``, one whole frame whose header records ``size`` uncompressed
        bytes, in one call (it runs on the core's decompression threads).

        Never return more than ``size + 1`` bytes, whatever the frame says (the core then
        reports a frame that holds more); raise the codec's error if ``frame`` is not exactly
        one complete frame.  The core checks the size of what comes back.
        """
        raise NotImplementedError

    # -- the general entries, for formats that are not runs of frames ----------------------

    def open_writer(self, fileobj: IO[bytes], level: int, *, threads: int) -> IO[bytes]:
        """Return a writable binary file compressing into ``fileobj``, with up to ``threads``
        threads if the format can use them; ``close()`` ends the compressed stream and leaves
        ``fileobj`` open.  Override both this and :meth:`open_reader`, or neither."""
        raise NotImplementedError

    def open_reader(self, fileobj: IO[bytes]) -> IO[bytes]:
        """Return a readable binary file decompressing from ``fileobj``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} magic={self.magic.hex(' ')}>"
