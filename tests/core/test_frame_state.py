"""What the frame writer and reader keep from one frame to the next: the buffers small writes are
gathered in, each compression thread's frame compressor (``Compressor.new_frame_compressor``)
and the decompressor a codec hands on to the next frame (``Compressor.next_decompressor``).

Reusing them is about memory (no buffer, codec context or window allocated anew per frame,
which left glibc's per-thread heaps fragmented), so these tests check what is reused and that
the bytes stay exact, including when a codec hands back a view of its input.
"""

from __future__ import annotations

import io
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import brinery
from brinery.codec_adapters import ZlibStyleDecompressor
from brinery.framing import Framing
from brinery.streams.frame_reader import FrameReader
from brinery.streams.frame_writer import FrameWriter
from brinery.streams.source import Source

FRAME = 1 << 16
#: Pieces smaller than a frame, of a size that does not divide it: every frame is gathered.
PIECE = 5000


def _pieces(count: int) -> list[bytes]:
    """Small writes, each different, so a frame holding stale bytes would show."""
    return [f"{number:07d}".encode() * (PIECE // 7) for number in range(count)]


class _Zlib(brinery.Compressor):
    """zlib frames of 64 KiB (never registered)."""

    name = "zlib64k"
    magic = b"\x78\x5e"
    levels = range(10)
    default_level = 1
    errors = (zlib.error,)
    framing = Framing(frame_size=FRAME)

    def new_compressor(self, level: int) -> Any:
        return zlib.compressobj(level)

    def new_decompressor(self) -> Any:
        return ZlibStyleDecompressor(15)


class _Recording(_Zlib):
    """Records the buffer behind each frame it was given, and which thread made and used each
    frame compressor.  ``hand_back_views``: return the frame as the very view given (a
    third-party codec may), instead of new bytes."""

    def __init__(self, hand_back_views: bool = False) -> None:
        self.hand_back_views = hand_back_views
        self.buffers: dict[int, Any] = {}  # (kept alive, so that no two share an id)
        self.made_on: list[int] = []
        self.misused = 0  # calls from a thread other than the compressor's own
        self.frames = 0
        self._lock = threading.Lock()

    def new_frame_compressor(self, level: int) -> Callable[[Any], Sequence[bytes]]:
        owner = threading.get_ident()
        with self._lock:
            self.made_on.append(owner)

        def compress(data: Any) -> Sequence[bytes]:
            with self._lock:
                self.frames += 1
                self.misused += threading.get_ident() != owner
                if isinstance(data, memoryview):
                    self.buffers[id(data.obj)] = data.obj
            if self.hand_back_views:
                return (data,)
            return (zlib.compress(data, level),)

        return compress


def _written(compressor: _Recording, pieces: list[bytes], threads: int) -> bytes:
    sink = io.BytesIO()
    writer = FrameWriter(sink, compressor, 1, threads=threads)
    for piece in pieces:
        writer.write(piece)
    writer.close()
    return sink.getvalue()


def _inflated(stream: bytes) -> bytes:
    """The concatenated zlib frames of ``stream``, decompressed one after the other."""
    out = bytearray()
    while stream:
        decompressor = zlib.decompressobj()
        out += decompressor.decompress(stream)
        stream = decompressor.unused_data
    return bytes(out)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_small_writes_are_gathered_in_a_few_buffers_used_again_and_again(threads: int) -> None:
    pieces = _pieces(600)  # 3 MB: 46 frames
    compressor = _Recording()
    stream = _written(compressor, pieces, threads)
    assert _inflated(stream) == b"".join(pieces)
    assert compressor.frames == 46
    assert len(compressor.buffers) <= threads + 2


@pytest.mark.parametrize("threads", [1, 3])
def test_a_buffer_whose_frame_came_back_as_a_view_of_it_is_not_filled_again(
    threads: int,
) -> None:
    """A codec's output that is not new bytes may be (or point into) the buffer itself."""
    pieces = _pieces(100)
    compressor = _Recording(hand_back_views=True)
    stream = _written(compressor, pieces, threads)
    assert stream == b"".join(pieces)  # (the "frames" are the data itself)
    assert len(compressor.buffers) == compressor.frames == 8


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_each_thread_makes_one_frame_compressor_and_only_it_uses_it(threads: int) -> None:
    pieces = _pieces(600)
    compressor = _Recording()
    _written(compressor, pieces, threads)
    assert compressor.frames == 46
    assert 1 <= len(compressor.made_on) <= threads
    assert len(set(compressor.made_on)) == len(compressor.made_on)
    assert compressor.misused == 0


def test_a_codec_with_only_compress_frame_compresses_as_before() -> None:
    """The default ``new_frame_compressor`` calls ``compress_frame``: a codec written before
    the hook existed compresses as it did."""

    class OneCall(brinery.Compressor):
        name = "onecall"
        framing = Framing(frame_size=FRAME)
        calls = 0

        def compress_frame(self, level: int, data: Any) -> Sequence[bytes]:
            self.calls += 1
            return (zlib.compress(data, level),)

    compressor = OneCall()
    pieces = _pieces(200)
    sink = io.BytesIO()
    writer = FrameWriter(sink, compressor, 1, threads=2)
    for piece in pieces:
        writer.write(piece)
    writer.close()
    assert _inflated(sink.getvalue()) == b"".join(pieces)
    assert compressor.calls == 16


class _HandingOn(_Zlib):
    """Read by streaming; records the decompressors made and what ``next_decompressor`` was
    given."""

    def __init__(self) -> None:
        self.made: list[Any] = []
        self.handed: list[tuple[Any, bool]] = []  # (the ended decompressor, whether it ended)

    def new_decompressor(self) -> Any:
        decompressor = super().new_decompressor()
        self.made.append(decompressor)
        return decompressor

    def next_decompressor(self, ended: Any) -> Any:
        self.handed.append((ended, ended.eof))
        return super().next_decompressor(ended)


def test_the_reader_hands_each_ended_decompressor_to_next_decompressor() -> None:
    data = b"".join(_pieces(100))
    sink = io.BytesIO()
    writer = FrameWriter(sink, _HandingOn(), 1)
    writer.write(data)
    writer.close()
    codec = _HandingOn()
    reader = FrameReader(Source(io.BytesIO(sink.getvalue())), codec)
    assert reader.read() == data
    assert len(codec.made) == 8
    # Every frame but the first came from the one before it, which had ended.
    assert [ended for ended, _ in codec.handed] == codec.made[:-1]
    assert all(had_ended for _, had_ended in codec.handed)
