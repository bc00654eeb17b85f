"""Reading any range of a brinery stream's bytes from a seekable file, compressed or not.

An uncompressed stream is its file: a range is a seek and a read.  A zstd or lz4 stream with a
seek table (format 1.4) is read frame by frame: a range decompresses only the frames that hold
it, each whole, checked by the codec (content checksums) and against the table's sizes; the
last frames read are kept, since a part's records are read in order.  A file object is only
asked for the byte ranges it must give (fsspec turns each into one range request).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import IO, Protocol

import numpy as np

from ..compressor import Compressor
from ..errors import BrineryError, CorruptFileError, SizeLimitError, TruncatedFileError
from ..streams import seek_table
from ..streams.whole_frame import decompress_frame_into, streamed_pieces

#: Decompressed frames kept for reads to come (4 MiB each by default).
KEPT_FRAMES = 4
#: The largest frame a seek table may declare (the zstd seekable format's own limit).
MAX_FRAME_BYTES = 1 << 30
#: A frame declaring up to this many bytes is decompressed into memory allocated at once
#: (brinery writes 4 MiB frames); a larger one into memory that grows as its data comes.
ALLOCATED_AHEAD = 16 << 20
#: What a larger frame is decompressed by at a time.
GROWTH_PIECE = 4 << 20


class ByteAccess(Protocol):
    """The stream's bytes, at random."""

    size: int  # of the uncompressed stream

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes from stream offset ``offset`` (fewer only past the end)."""


class FileAccess:
    """An uncompressed stream: the file from ``start`` (where the stream begins) on."""

    def __init__(self, file: IO[bytes], start: int, size: int) -> None:
        self._file = file
        self._start = start
        self.size = size

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        self._file.seek(self._start + offset)
        return read_exactly(self._file, size)


class FrameAccess:
    """A compressed stream whose frames a seek table lists (zstd, lz4), or the frames an index
    lists, as a table (gzip, zlib, xz, bz2: :func:`.locate.frame_table`).

    ``tail``: the stream's end, from ``tail[0]`` on, already decompressed (the index and end
    records, found through a locator: :mod:`.locate`); the table's frames then end there.  A
    byte neither they nor the tail hold is damage.  ``wrapping``: what a frame taken alone is
    decompressed between, for a codec whose frames lie between a file header and a trailer
    (lzop's: the file's header, the end marker).
    """

    def __init__(
        self,
        file: IO[bytes],
        start: int,
        table: seek_table.SeekTable,
        compressor: Compressor,
        tail: tuple[int, bytes] | None = None,
        wrapping: tuple[bytes, bytes] = (b"", b""),
    ) -> None:
        self._file = file
        self._wrapping = wrapping
        self._start = start  # where the compressed data begins in the file
        self._table = table
        self._compressor = compressor
        self.size = table.decompressed_size
        self._tail_offset, self._tail = tail if tail is not None else (self.size, b"")
        if tail is not None:
            self.size = self._tail_offset + len(self._tail)
        self._kept: OrderedDict[int, bytes | memoryview] = OrderedDict()
        self.frames_read = 0  # (what a test, or a caller measuring, may look at)

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        parts: list[bytes | memoryview] = []
        while size > 0:
            if offset >= self._tail_offset:
                within = offset - self._tail_offset
                parts.append(self._tail[within : within + size])
                break
            if offset >= self._table.decompressed_size:
                raise CorruptFileError(
                    f"stream byte {offset} lies in none of the {self._compressor.name} frames "
                    "the index lists"
                )
            number = self._table.frame_holding(offset)
            frame = self._table[number]
            data = self._frame(number)
            within = offset - frame.decompressed_offset
            piece = data[within : within + size]
            parts.append(piece)
            offset += len(piece)
            size -= len(piece)
        return b"".join(parts)

    def _frame(self, number: int) -> bytes | memoryview:
        kept = self._kept.get(number)
        if kept is not None:
            self._kept.move_to_end(number)
            return kept
        frame = self._table[number]
        self._file.seek(self._start + frame.compressed_offset)
        compressed = read_exactly(self._file, frame.compressed_size)
        if len(compressed) != frame.compressed_size:
            raise TruncatedFileError(
                f"the file ends inside {self._compressor.name} frame {number} (its seek table "
                f"says {frame.compressed_size} bytes, {len(compressed)} are there)"
            )
        if frame.decompressed_size > MAX_FRAME_BYTES:
            raise CorruptFileError(
                f"the seek table says {self._compressor.name} frame {number} holds "
                f"{frame.decompressed_size} bytes, more than a seekable frame may "
                f"({MAX_FRAME_BYTES})"
            )
        if any(self._wrapping):
            compressed = self._wrapping[0] + compressed + self._wrapping[1]
        try:
            data = self._decompressed(compressed, frame.decompressed_size)
        except BrineryError as error:
            raise CorruptFileError(f"{self._compressor.name} frame {number}: {error}") from error
        except self._compressor.errors as error:
            raise CorruptFileError(
                f"{self._compressor.name} frame {number} is damaged ({type(error).__name__})"
            ) from error
        except MemoryError:
            raise SizeLimitError(
                f"{self._compressor.name} frame {number} declares {frame.decompressed_size} "
                "bytes, more than this process may take"
            ) from None
        self._kept[number] = data
        self.frames_read += 1
        if len(self._kept) > KEPT_FRAMES:
            self._kept.popitem(last=False)
        return data


    def _decompressed(self, compressed: bytes, size: int) -> bytes | memoryview:
        """One whole frame, which must decompress to exactly ``size`` bytes.  Up to
        :data:`ALLOCATED_AHEAD` it is decompressed into memory of that size; a larger one
        into memory that grows as its output comes (a hostile index or seek table may declare
        a gigabyte for a frame of a few bytes: what is allocated is what the data gives)."""
        if size <= ALLOCATED_AHEAD:
            target = np.empty(size, np.uint8)
            decompress_frame_into(self._compressor, memoryview(compressed), target.data)
            return target.data  # (kept as it is: a read copies only the bytes it gives)
        listed = "its seek table or index entry"
        return b"".join(
            streamed_pieces(self._compressor, compressed, size, GROWTH_PIECE, listed)
        )


class Window(io.RawIOBase):
    """Stream bytes ``start`` to ``end`` as a file read from the start (a part read alone)."""

    def __init__(self, access: ByteAccess, start: int, end: int) -> None:
        super().__init__()
        self._access = access
        self._position = start
        self._end = end

    def readable(self) -> bool:
        return True

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes without reading them (a record's raw memory, when only
        the pickle is wanted)."""
        self._position = min(self._end, self._position + size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with memoryview(buffer) as view, view.cast("B") as target:
            size = min(len(target), self._end - self._position)
            if size <= 0:
                return 0
            data = self._access.read(self._position, min(size, 4 << 20))
            target[: len(data)] = data
            self._position += len(data)
            return len(data)


def read_exactly(file: IO[bytes], size: int) -> bytes:
    """``size`` bytes from ``file``'s position, or fewer where it ends (a read may give less)."""
    parts = []
    while size > 0:
        data = file.read(size)
        if not data:
            break
        parts.append(data)
        size -= len(data)
    return b"".join(parts)
