"""How a codec's frames are laid out in a file: their size, the hints that announce them, and a
container's header and trailer.  A :class:`~brinery.Compressor` holds one :class:`Framing`.

brinery cuts the stream into frames of :attr:`Framing.frame_size` bytes, each compressed on its
own (so frames compress on threads, and the format's own tools read the concatenation).  Where
the format lets a writer put bytes its readers skip (zstd's and LZ4's skippable frames), a hint
before every frame but the first announces its compressed and uncompressed sizes, so a reader
can hand whole frames to threads without decompressing them first (:data:`SKIPPABLE_FRAME_HINTS`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

MIB = 1 << 20
#: The most bytes a frame hint may take: a reader looks this far ahead at a frame boundary.
FRAME_HINT_MAX = 32


class FrameHint(NamedTuple):
    """A frame's sizes, announced before it so a reader can decompress frames in parallel."""

    length: int  # bytes the hint itself takes
    compressed_size: int
    uncompressed_size: int


class FrameHints(Protocol):
    """Hints in a format's skippable bytes: what is written before a frame, and read back.

    What :meth:`parse` returns comes from the file: the core checks its sizes (against what a
    frame may hold, what the file holds and ``max_bytes``) before it believes them.
    """

    def encode(self, compressed_size: int, uncompressed_size: int) -> bytes:
        """The hint written before a frame of these sizes (at most :data:`FRAME_HINT_MAX`)."""
        ...

    def parse(self, head: bytes) -> FrameHint | None:
        """The hint ``head`` (up to :data:`FRAME_HINT_MAX` bytes from a frame boundary) starts
        with, if it starts with one."""
        ...


def _no_header(level: int) -> bytes:
    return b""


@dataclass(frozen=True)
class Framing:
    """The layout of a codec's frames in a file."""

    #: Uncompressed bytes per independent frame; ``None`` writes one frame for the whole stream
    #: (for formats whose readers stop after the first frame).
    frame_size: int | None = 4 * MIB
    #: Hints announcing each frame's sizes before it (all frames but the first), or ``None``.
    hints: FrameHints | None = None
    #: The bytes written once before the first frame, for a level (a container's file header).
    #: Of the same length at every level: a reader decompressing a frame taken alone puts that
    #: many bytes from the file's start before it (and :attr:`trailer` after it).
    header: Callable[[int], bytes] = _no_header
    #: The bytes written once after the last frame (a container's end marker).
    trailer: bytes = b""
    #: What an indexed stream's file ends with to locate its index record's frame from the
    #: end of the file, for codecs that have no seek table (gzip, zlib), or ``None``.
    locator: FixedLocator | None = None
    #: For a codec with no place after its data that its tools pass over silently (lzop):
    #: an indexed stream's end record is compressed as a frame of its own, the last, and this
    #: finds that frame from the end of the file through the codec's own block layout.
    end_frame: EndFrameFinder | None = None


class EndFrameFinder(Protocol):
    """Finds the last frame of a file from its end, for a codec whose framing puts an indexed
    stream's end record in a frame of its own (docs/format.md, section 3, "Locators").

    What :meth:`find` says comes from the file: the core decompresses the frame it points to
    and checks that it is exactly the end record, and that the end record's offsets lie in the
    file, before it believes any of it.
    """

    def span(self, frame_bytes: int) -> int:
        """How many bytes from the end of the file :meth:`find` needs to find a last frame of
        ``frame_bytes`` uncompressed bytes (whatever those bytes compressed to)."""
        ...

    def find(self, tail: bytes, frame_bytes: int) -> int | None:
        """Where, in ``tail`` (the last :meth:`span` bytes of the file, or all of a smaller
        file), the last frame begins, if the file ends with a frame of ``frame_bytes``
        uncompressed bytes laid out as this codec writes it (the trailer after it); ``None``
        if it does not."""
        ...


class FixedLocator:
    """A locator of fixed shape: ``prefix``, u64 LE offset (in the compressed data) of the
    frame where the index record begins, u64 LE offset of the locator itself, ``suffix``.

    Written after the last frame of an indexed stream by codecs without a seek table
    (docs/format.md, section 3, "Locators"), so a reader finds the index from the file's end.
    """

    def __init__(self, prefix: bytes, suffix: bytes = b"") -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.size = len(prefix) + _LOCATOR_OFFSETS.size + len(suffix)

    def encode(self, index_frame: int, own_offset: int) -> bytes:
        return self.prefix + _LOCATOR_OFFSETS.pack(index_frame, own_offset) + self.suffix

    def parse(self, data: bytes) -> tuple[int, int] | None:
        """The two offsets, if ``data`` has exactly the locator's shape; else ``None``."""
        if (
            len(data) != self.size
            or not data.startswith(self.prefix)
            or not data.endswith(self.suffix)
        ):
            return None
        index_frame, own_offset = _LOCATOR_OFFSETS.unpack_from(data, len(self.prefix))
        return int(index_frame), int(own_offset)


_LOCATOR_OFFSETS = struct.Struct("<QQ")

#: gzip's: a final empty member whose header has FEXTRA with one subfield 'B','R' of 16 bytes
#: (the two offsets), then an empty fixed-Huffman deflate block, CRC32 0 and ISIZE 0: 42
#: bytes, which gzip, zcat, pigz and Python's gzip module decompress to nothing.
GZIP_LOCATOR = FixedLocator(
    b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x14\x00BR\x10\x00",
    b"\x03\x00" + bytes(8),
)
#: zlib's: ``BRLOC`` 01 00 00, then the two offsets: 24 bytes after the last zlib stream
#: (no zlib reader looks past the first stream; 0x42 is no zlib header's first byte).
ZLIB_LOCATOR = FixedLocator(b"BRLOC\x01\x00\x00")

#: Independent frames of 4 MiB, nothing between them: what most codecs use.
FRAMES = Framing()
#: One frame for the whole stream, compressed as it comes (no threads).
SINGLE_FRAME = Framing(frame_size=None)


class SkippableFrameHints:
    """Frame hints in the skippable frames that the zstd and LZ4 frame formats share.

    A skippable frame is a magic ``0x184D2A50``-``0x184D2A5F`` (little-endian), a 4-byte payload
    length and the payload, which the ``zstd`` and ``lz4`` tools skip.  brinery's uses magic
    ``0x184D2A5B`` and a 20-byte payload: ``BRFH``, then the next frame's compressed and
    uncompressed sizes as little-endian u64.
    """

    def encode(self, compressed_size: int, uncompressed_size: int) -> bytes:
        return _HINT.pack(_HINT_MAGIC, _HINT_PAYLOAD, _HINT_TAG, compressed_size, uncompressed_size)

    def parse(self, head: bytes) -> FrameHint | None:
        if len(head) < _HINT.size or not head.startswith(_HINT_PREFIX):
            return None
        _, _, _, compressed_size, uncompressed_size = _HINT.unpack_from(head)
        return FrameHint(_HINT.size, compressed_size, uncompressed_size)


_HINT = struct.Struct("<II4sQQ")
_HINT_MAGIC = 0x184D2A5B
_HINT_PAYLOAD = _HINT.size - 8
_HINT_TAG = b"BRFH"
_HINT_PREFIX = struct.pack("<II4s", _HINT_MAGIC, _HINT_PAYLOAD, _HINT_TAG)

#: The hints zstd's and LZ4's plugins write: 4 MiB frames, each announced in a skippable frame.
SKIPPABLE_FRAME_HINTS = SkippableFrameHints()
HINTED_FRAMES = Framing(hints=SKIPPABLE_FRAME_HINTS)
