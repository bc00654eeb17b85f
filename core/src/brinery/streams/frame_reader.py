"""Decompression of a sequence of frames, one mechanism for every codec.

:class:`FrameReader` adapts a codec's frame decompressor (``bz2.BZ2Decompressor``'s shape) to a
readable binary file.  It starts a fresh decompressor where a frame ends, bounds every call's
output to what the caller asked for, turns the codec's own exceptions into brinery's, and, when
the brinery stream is over, reads the rest of the last frame and leaves whatever follows it
unconsumed, so a second stream in the same file can be loaded next.

Where a frame is announced by a hint with its sizes (see :mod:`brinery.framing`), the reader
reads whole frames and decompresses them on a pool of threads, each straight into its place in
the caller's buffer (an array's memory), when they fit there whole.  A hinted frame that does not
fit (the pickle data of an object-heavy file, read in small pieces) is streamed in the caller's
thread like a frame without a hint, its output held to its hint's sizes: decompressed whole
aside, it was held twice (its compressed bytes and its output) next to the frame being read,
and again for every frame read ahead on threads (the codec's output often a third copy); on
256 MiB of records (dicts of 8 KB arrays, 4 MiB zstd and LZ4 frames, 2 cores) loads streaming
them took 0.52 s instead of 0.71 (zstd) and 0.42 instead of 0.86 (LZ4), and peaked 8 to 12 MiB
lower.  Only small frames (at most :data:`STREAM_PIECE_MAX`, :data:`AHEAD_MAX_BYTES` at a time)
are still decompressed whole aside, ahead on threads.

The file may be hostile, so nothing it declares is believed before it is checked: a hint's sizes
against what a frame may hold, what the file still holds and what ``max_bytes`` still allows;
every byte decompressed counts against ``max_bytes``, and no codec call is asked for more than
:data:`STREAM_PIECE_MAX` bytes.

A hinted codec's indexed stream ends with a seek table (:mod:`.seek_table`) after its last
frame: the reader tallies the frames and hints it passes over (in constant memory), and reads
the table as part of the stream, checked against them, so that what follows it (another stream)
is the caller's.  An indexed gzip or zlib stream ends with a locator instead (an empty gzip
member, a zlib trailer: :attr:`~brinery.framing.Framing.locator`), which is no frame: the reader
stops at it, and reads and checks it when the stream is finished.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from ..compressor import Compressor, StreamDecompressor
from ..errors import BrineryError, CorruptFileError, SizeLimitError, TruncatedFileError
from ..framing import FRAME_HINT_MAX, FrameHint
from .passing_memory import passing_memory
from .seek_table import HEADER as SEEK_TABLE_HEADER
from .seek_table import FrameTally, declared_length, ends_with_footer, longest_table
from .seek_table import parse as parse_seek_table
from .source import Source
from .whole_frame import decompress_frame_into

#: brinery writes frames of ``frame_size`` bytes (4 MiB for zstd and LZ4), an array's included,
#: but a file may have been written with another frame size, so this does not follow this
#: process's; a hint announcing more is damaged, refused before any allocation.  Each thread may
#: hold a frame this large aside.
MAX_HINTED_FRAME_BYTES = 64 << 20
#: The least a streaming codec call is asked for: small reads (an unpickler's) are then served
#: from what it returned, not by one codec call each.
STREAM_PIECE_MIN = 1 << 16
#: The most a streaming codec call is asked for, whatever the caller's buffer (some codecs
#: allocate what they are allowed to return).  A hinted frame no larger than this that does not
#: fit the caller's buffer is decompressed whole, in one call, rather than streamed.
STREAM_PIECE_MAX = 1 << 20

#: The most decompressed bytes of small frames read ahead on threads (see :meth:`_read_ahead`).
AHEAD_MAX_BYTES = 4 << 20

_NOTHING_HELD = memoryview(b"")


class FrameReader(io.RawIOBase):
    """A readable binary file over the concatenated frames of ``compressor`` in ``source``."""

    def __init__(
        self,
        source: Source,
        compressor: Compressor,
        *,
        threads: int = 1,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self._source = source
        self._compressor = compressor
        self._threads = threads
        # Small frames decompressed ahead of the unpickler: one per thread it leaves free.
        self._frames_ahead = max(1, threads - 1)
        self._max_bytes = max_bytes  # the most bytes that may be decompressed (None: no limit)
        self._decompressed = 0  # bytes decompressed, or announced by the hints taken
        self._pool: ThreadPoolExecutor | None = None
        self._frames = 0
        self._frame_start = 0
        self._origin = source.position  # where the compressed data starts
        self._tally = FrameTally()  # the frames and hints passed over, in order
        self._frame_output_start = 0  # what was decompressed before the streamed frame
        self._announced: FrameHint | None = None  # the hint of the frame streamed, if it had one
        self._ended: StreamDecompressor | None = None  # the last streamed frame's, at its end
        self._decompressor: StreamDecompressor | None = self._new_frame()
        self._input_after_frame = b""  # consumed input that follows the current frame
        self._held = _NOTHING_HELD  # decompressed bytes not yet read (a piece, a small frame)
        self._ahead: deque[tuple[int, Future[memoryview]]] = deque()  # small frames, aside
        self._next_hint: FrameHint | None = None  # read, but its frame not yet
        self._failed = False  # this reader raised an error (damage, max_bytes): nothing more

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if not len(target):
            return 0
        try:
            return self._readinto(target)
        except BrineryError:
            self._failed = True  # (what failed was the damage, or max_bytes: nothing to check)
            raise

    def _readinto(self, target: memoryview) -> int:
        while True:
            if self._held:
                size = min(len(self._held), len(target))
                target[:size] = self._held[:size]
                # (once all read, the memory goes: an empty slice would keep it)
                self._held = self._held[size:] if size < len(self._held) else _NOTHING_HELD
                return size
            if self._ahead:
                self._held = self._ahead.popleft()[1].result()
                if len(self._held) > len(target):
                    self._read_ahead()  # small reads (the unpickler's): keep the pipeline full
                continue
            if self._decompressor is not None and not self._decompressor.eof:
                chunk = self._decompress_counted(max(len(target), STREAM_PIECE_MIN))
                if len(chunk) > len(target):
                    self._held = memoryview(chunk)
                    continue
                if chunk:
                    target[: len(chunk)] = chunk
                    return len(chunk)
                continue
            if not self._at_frame_boundary() or self._at_locator():
                return 0
            hint = self._take_hint()
            if hint is None:
                self._decompressor = self._new_frame()
            else:
                return self._read_whole_frames(hint, target)

    def finish(self, *, seek_table: bool = True) -> None:
        """Read the end of the current frame, which must hold no more data, and the seek table
        after it, if one follows; stop there.

        ``seek_table=False`` does not look past the frame: a caller whose stream cannot have a
        table says so, since looking waits for bytes (a socket's peer may be waiting itself).
        """
        if self._held or self._ahead:
            raise self._data_after_end()
        if self._decompressor is not None:
            while not self._decompressor.eof:
                if self._decompress(1):
                    raise self._data_after_end()
            self._settle_streamed_frame()
        if seek_table and self._compressor.framing.hints is not None:
            self._read_seek_table()
        if seek_table and self._compressor.framing.locator is not None:
            self._read_locator()
        self._close_pool()

    def check_current_frame(self) -> None:
        """Decompress the rest of the frame being read, so the codec's own check runs on it:
        a damaged frame raises :class:`CorruptFileError` (whole frames were checked already), a
        hinted one too if it ends otherwise than its hint announced.

        A check, not a read: nothing is checked after this reader raised an error itself, past
        a frame's worth (:data:`MAX_HINTED_FRAME_BYTES`; a hostile frame may expand to
        gigabytes), past ``max_bytes``, or once memory ran out (what failed may hold it)."""
        if self._failed:
            return
        with contextlib.suppress(SizeLimitError, MemoryError):
            left = MAX_HINTED_FRAME_BYTES
            while self._decompressor is not None and not self._decompressor.eof and left > 0:
                left -= len(self._decompress_counted(STREAM_PIECE_MIN))
            decompressor = self._decompressor
            if self._announced is not None and decompressor is not None and decompressor.eof:
                self._settle_streamed_frame()
            for _, frame in self._ahead:
                frame.result()

    def close(self) -> None:
        self._close_pool()
        super().close()

    # -- frame by frame --------------------------------------------------------------------

    def _new_frame(self) -> StreamDecompressor:
        self._frames += 1
        self._frame_start = self._source.position
        self._frame_output_start = self._decompressed
        # The codec may make the next frame's decompressor from the one whose frame ended
        # (Compressor.next_decompressor: brinery-zstd hands its context on).
        ended, self._ended = self._ended, None
        if ended is None:
            return self._compressor.new_decompressor()
        return self._compressor.next_decompressor(ended)

    def _at_frame_boundary(self) -> bool:
        """Settle the frame that just ended; false if nothing follows it."""
        if self._decompressor is not None:
            self._settle_streamed_frame()
        return self._next_hint is not None or not self._source.at_end()

    def _at_locator(self) -> bool:
        """Whether a locator (gzip, zlib) starts here, or the data ends inside the start of
        one: no frame, the stream's data is over (:meth:`finish` reads it)."""
        locator = self._compressor.framing.locator
        if locator is None:
            return False
        head = bytes(self._source.peek(len(locator.prefix)))
        if head == locator.prefix:
            return True
        # (a file cut inside the locator's prefix: finish says it is cut short)
        return 0 < len(head) < len(locator.prefix) and locator.prefix.startswith(head)

    def _settle_streamed_frame(self) -> None:
        """The streamed frame ended: give back what follows it, and tally it; a hinted one must
        be what its hint announced."""
        self._source.unread(self._input_after_frame)
        self._input_after_frame = b""
        self._ended, self._decompressor = self._decompressor, None
        announced, self._announced = self._announced, None
        compressed = self._source.position - self._frame_start
        output = self._decompressed - self._frame_output_start
        self._tally.add(compressed, output)
        if announced is not None and (compressed, output) != announced[1:]:
            self._failed = True
            after = announced.compressed_size - compressed
            raise CorruptFileError(
                f"{self._compressor.name} frame {self._frames}: it does not match its hint "
                f"({output} of {announced.uncompressed_size} bytes, "
                + (
                    f"{after} bytes after it)"
                    if after >= 0
                    else f"and it takes {compressed} of {announced.compressed_size} bytes)"
                )
            )

    def _decompress(self, max_length: int) -> bytes:
        decompressor = self._decompressor
        assert decompressor is not None
        data: memoryview | bytes = b""
        if decompressor.needs_input:
            data = self._source.available()
            if not len(data):
                raise TruncatedFileError(
                    f"the {self._compressor.name} data ends in the middle of frame "
                    f"{self._frames} (which starts at byte {self._frame_start} of the file)"
                )
        try:
            chunk = decompressor.decompress(data, max_length)
        except self._compressor.errors as error:
            self._failed = True
            raise self._corrupt(error) from error
        # The decompressor keeps what it was given, so all of it is consumed; except, once the
        # frame has ended, what followed the frame, which is left unconsumed (or, when it came
        # from earlier input, put back at the frame boundary).
        unused = (decompressor.unused_data or b"") if decompressor.eof else b""
        if len(unused) <= len(data):
            self._source.consume(len(data) - len(unused))
        else:
            self._source.consume(len(data))
            self._input_after_frame = bytes(unused)
        return chunk

    def _decompress_counted(self, max_length: int) -> bytes:
        """What :meth:`_decompress` returns, at most :data:`STREAM_PIECE_MAX` bytes and one
        byte more than ``max_bytes`` still allows, counted against it."""
        max_length = min(max_length, STREAM_PIECE_MAX)
        room = self._room()
        if room is not None:
            max_length = min(max_length, room + 1)
        announced = self._announced
        if announced is not None:  # a hinted frame makes no more than its hint announced
            left = announced.uncompressed_size - (self._decompressed - self._frame_output_start)
            max_length = min(max_length, left + 1)
        chunk = self._decompress(max_length)
        self._decompressed += len(chunk)
        if announced is not None and len(chunk) > left:
            self._failed = True
            raise CorruptFileError(
                f"{self._compressor.name} frame {self._frames}: it holds more data than its hint "
                f"announced ({announced.uncompressed_size} bytes)"
            )
        if room is not None and len(chunk) > room:
            self._failed = True
            raise SizeLimitError(
                f"the {self._compressor.name} data decompresses to more than "
                f"max_bytes={self._max_bytes} bytes (at least {self._decompressed}, in frame "
                f"{self._frames}, which starts at byte {self._frame_start} of the file)"
            )
        return chunk

    def _room(self) -> int | None:
        """How many more bytes ``max_bytes`` allows (None: no limit)."""
        if self._max_bytes is None:
            return None
        return max(0, self._max_bytes - self._decompressed)

    # -- whole frames, in parallel ---------------------------------------------------------

    def _take_hint(self) -> FrameHint | None:
        if self._next_hint is not None:
            pending, self._next_hint = self._next_hint, None
            return pending
        hints = self._compressor.framing.hints
        if hints is None:
            return None
        hint = hints.parse(self._source.peek(FRAME_HINT_MAX))
        if hint is None:
            return None
        self._check_hint(hint)
        self._source.read_exactly(hint.length, "a frame hint")
        self._decompressed += hint.uncompressed_size
        self._tally.add(hint.length, 0)
        return hint

    def _check_hint(self, hint: FrameHint) -> None:
        """Refuse a hint announcing more than a frame may hold, more than the file holds, or
        more than ``max_bytes`` still allows: its frame is read, and room made for its data,
        only once it passed."""
        name = self._compressor.name
        if max(hint.uncompressed_size, hint.compressed_size) > MAX_HINTED_FRAME_BYTES:
            raise CorruptFileError(
                f"a {name} frame hint announces {hint.compressed_size} compressed and "
                f"{hint.uncompressed_size} uncompressed bytes, more than a frame may hold "
                f"({MAX_HINTED_FRAME_BYTES}): the hint is damaged"
            )
        remaining = self._source.remaining()
        if remaining is not None and hint.length + hint.compressed_size > remaining:
            raise TruncatedFileError(
                f"a {name} frame hint at byte {self._source.position} of the file announces "
                f"a frame of {hint.compressed_size} bytes, where only "
                f"{max(0, remaining - hint.length)} follow: the file is truncated or the hint "
                "damaged"
            )
        room = self._room()
        if room is not None and hint.uncompressed_size > room:
            self._failed = True
            raise SizeLimitError(
                f"the {name} data decompresses to more than max_bytes={self._max_bytes} bytes: "
                f"a frame hint at byte {self._source.position} of the file announces "
                f"{hint.uncompressed_size} bytes after {self._decompressed}"
            )

    def _read_whole_frames(self, hint: FrameHint, target: memoryview) -> int:
        """Decompress hinted frames straight into ``target``, in parallel; a first frame that
        does not fit whole is streamed instead (a small one decompressed whole, aside), and
        served from there."""
        if hint.uncompressed_size > len(target):
            if not _small(hint):
                self._stream_hinted(hint)
            elif self._threads == 1:
                self._held = self._decompress_aside(self._read_frame(hint), hint, self._frames)
            else:
                self._submit_aside(hint)
                self._read_ahead()
            return self._readinto(target)
        self._ended = None  # (whole frames need no streaming context: its memory goes)
        jobs: deque[Future[None]] = deque()
        filled = 0
        upcoming: FrameHint | None = hint
        try:
            while upcoming is not None and upcoming.uncompressed_size <= len(target) - filled:
                frame = self._read_frame(upcoming)
                part = target[filled : filled + upcoming.uncompressed_size]
                filled += upcoming.uncompressed_size
                if self._threads == 1:
                    self._decompress_frame_into(frame, part, self._frames)
                else:
                    pool = self._pool_()
                    jobs.append(pool.submit(self._decompress_frame_into, frame, part, self._frames))
                    while len(jobs) > self._threads:
                        jobs.popleft().result()
                upcoming = None if self._source.at_end() else self._take_hint()
            self._next_hint = upcoming
            while jobs:
                jobs.popleft().result()
        finally:
            # On failure, frames still decompressing write into ``target`` (an array's memory
            # the caller is about to drop): wait for them before leaving.
            for job in jobs:
                job.cancel()
            wait(jobs)
        return filled

    def _read_ahead(self) -> None:
        """Start decompressing the next small hinted frames aside, up to one per thread and
        :data:`AHEAD_MAX_BYTES` in all: the pickle between large arrays is read in small pieces,
        and this overlaps its decompression with unpickling.  A frame without a hint (the next
        stream's first), or a large one (streamed when its turn comes), stops it."""
        while len(self._ahead) < self._frames_ahead and not self._source.at_end():
            hint = self._take_hint()
            if hint is None:
                return
            ahead = sum(size for size, _ in self._ahead)
            if not _small(hint) or ahead + hint.uncompressed_size > AHEAD_MAX_BYTES:
                self._next_hint = hint  # (taken, and counted: its turn comes next)
                return
            self._submit_aside(hint)

    def _submit_aside(self, hint: FrameHint) -> None:
        frame = self._read_frame(hint)
        job = self._pool_().submit(self._decompress_aside, frame, hint, self._frames)
        self._ahead.append((hint.uncompressed_size, job))

    def _stream_hinted(self, hint: FrameHint) -> None:
        """Stream the frame ``hint`` announced, in the caller's thread, as if it had no hint:
        its output is counted against ``max_bytes`` as it comes (no longer ahead, as
        announced), never exceeds what the hint announced (:meth:`_decompress_counted`), and
        must be that, from the compressed bytes announced (:meth:`_settle_streamed_frame`)."""
        self._decompressed -= hint.uncompressed_size
        self._decompressor = self._new_frame()
        self._announced = hint

    def _decompress_aside(self, frame: memoryview, hint: FrameHint, number: int) -> memoryview:
        held = passing_memory(hint.uncompressed_size)
        self._decompress_frame_into(frame, held, number)
        return held

    def _read_frame(self, hint: FrameHint) -> memoryview:
        self._frames += 1
        self._frame_start = self._source.position
        self._tally.add(hint.compressed_size, hint.uncompressed_size)
        return self._source.read_exactly(
            hint.compressed_size, f"{self._compressor.name} frame {self._frames}"
        )

    def _decompress_frame_into(self, frame: memoryview, target: memoryview, number: int) -> None:
        """Decompress one whole frame, which must fill ``target`` exactly (runs on a thread)."""
        name = self._compressor.name
        try:
            decompress_frame_into(self._compressor, frame, target)
        except TruncatedFileError as error:
            raise TruncatedFileError(f"{name} frame {number}: {error}") from error
        except BrineryError as error:
            raise CorruptFileError(f"{name} frame {number}: {error}") from error
        except self._compressor.errors as error:
            raise CorruptFileError(
                f"the {name} data is corrupt in frame {number}: {error}"
            ) from error

    # -- the seek table after the last frame -----------------------------------------------

    def _read_seek_table(self) -> None:
        """Read the seek table that follows the stream's last frame, if one does, and check it
        lists the frames and hints passed over; leave anything else where it is.

        A seek table is a skippable frame of the seek table's magic ending with the seekable
        magic.  One declaring more bytes than a table of the frames passed over can take
        cannot be this stream's: it is left unread, as any data after the stream (what the
        caller makes of it), so that a declared size is never read before it is plausible.
        """
        length = declared_length(self._source.peek(SEEK_TABLE_HEADER.size))
        if length is None or length > longest_table(self._tally.frames):
            return
        table = self._source.peek(length)
        if len(table) < length or not ends_with_footer(table):
            return
        self._tally.check(parse_seek_table(table, self._source.position - self._origin))
        self._source.read_exactly(length, "the seek table")

    def _read_locator(self) -> None:
        """Read the locator that follows an indexed gzip or zlib stream's last frame (its gzip
        member, its zlib trailer: docs/format.md, section 3), checked; leave anything that
        does not start as one where it is (an older file's next stream).

        Its first offset, the index record's frame, lies at or before the frame holding the
        end record; its second is its own place in the compressed data."""
        locator = self._compressor.framing.locator
        assert locator is not None
        if not self._at_locator():
            return
        data = bytes(self._source.peek(locator.size))
        found = locator.parse(data)
        own = self._source.position - self._origin
        last_frame = self._frame_start - self._origin
        name = self._compressor.name
        if len(data) < locator.size:
            raise TruncatedFileError(
                f"the {name} data ends in the middle of its locator (at byte {own} of the "
                f"compressed data: {len(data)} of its {locator.size} bytes)"
            )
        if found is None:
            raise CorruptFileError(
                f"the {name} locator after the stream (at byte {own} of the compressed data) "
                "is damaged: it does not have the locator's shape"
            )
        index_frame, said = found
        if said != own or not 0 < index_frame <= last_frame:
            raise CorruptFileError(
                f"the {name} locator at byte {own} of the compressed data says it lies at byte "
                f"{said} and the index record's frame at byte {index_frame} (the last frame "
                f"starts at byte {last_frame})"
            )
        self._source.read_exactly(locator.size, f"the {name} locator")

    def _pool_(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="brinery-inflate")
        return self._pool

    def _close_pool(self) -> None:
        self._ahead.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- errors ----------------------------------------------------------------------------

    def _corrupt(self, error: BaseException) -> CorruptFileError:
        return CorruptFileError(
            f"the {self._compressor.name} data is corrupt in frame {self._frames} (which "
            f"starts at byte {self._frame_start} of the file): {error}"
        )

    def _data_after_end(self) -> CorruptFileError:
        return CorruptFileError(
            f"{self._compressor.name} frame {self._frames} holds data after the end of the "
            "brinery stream"
        )


def _small(hint: FrameHint) -> bool:
    """Whether the frame ``hint`` announces is small enough to decompress whole aside (its
    compressed bytes and its output held at once), rather than streamed.  (A frame does not
    take much more than it makes; one that says it does is read, and refused, as it comes.)"""
    return hint.uncompressed_size <= STREAM_PIECE_MAX
