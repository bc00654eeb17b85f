"""The contract of plugins whose frames carry brinery's frame hints: :class:`HintedFramesContract`.

Such a plugin (zstd, LZ4) writes one frame of its format per 4 MiB of the brinery stream, each
with its content checksum, and before each frame but the first a hint: a skippable frame (which
the codec's tools skip) holding the next frame's compressed and uncompressed sizes, so loads
hand whole frames to threads.  A hint comes from the file, so it is also an attack surface: a
hint that lies about sizes must cost no memory and be reported as damage.  An indexed file
(the default) also ends with a seek table listing every frame, hints included: a skippable frame
as well, but no hint.  The codec is described by a :class:`~brinery.testing.HintedFramesCodec`.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import brinery

from .codec import HintedFramesCodec
from .contract import BigFiles, CodecContract, SmallFrames
from .frames import (
    HINT,
    HINT_COMPRESSED,
    HINT_UNCOMPRESSED,
    SEEK_TABLE,
    Frame,
    frame_size,
    seek_table_entries,
    walk_frames,
    with_u64,
)
from .objects import assert_same, dumps, many_frames_object, sample_object
from .processes import load_limited

__all__ = ["FRAME_LIMIT", "HintedFramesContract", "lying_hints"]

#: A hinted frame may announce at most this (a file written with bigger frames is damaged).
FRAME_LIMIT = 64 << 20


def lying_hints(
    compressor: brinery.Compressor, uncompressed: int, compressed: int | None = None
) -> bytes:
    """A first frame holding ``PROTO 4``, then 8 frames of 100 bytes, each announced by a hint
    that says they hold ``uncompressed`` bytes (and take ``compressed``, if given)."""
    hints = compressor.framing.hints
    assert hints is not None, f"{compressor.name} writes no frame hints"
    first = b"".join(compressor.compress_frame(compressor.default_level, b"\x80\x04"))
    frame = b"".join(compressor.compress_frame(compressor.default_level, b"\x95" * 100))
    hint = hints.encode(len(frame) if compressed is None else compressed, uncompressed)
    return first + (hint + frame) * 8


class HintedFramesContract(CodecContract):
    """:class:`~brinery.testing.CodecContract` and the tests of hinted frames; a subclass sets
    :attr:`codec` to a :class:`~brinery.testing.HintedFramesCodec`.  It adds the fixture
    ``unsized_frames_file``."""

    codec: ClassVar[HintedFramesCodec]

    @pytest.fixture
    def unsized_frames_file(self, big: BigFiles) -> bytes:
        """The big object in frames whose headers do not record their size (written with the
        codec's streaming compressor, as earlier brinery did)."""
        codec = self.codec
        with pytest.MonkeyPatch.context() as patch:
            compressor = codec.compressor
            patch.setattr(type(compressor), "compress_frame", brinery.Compressor.compress_frame)
            patch.setattr(
                type(compressor), "new_frame_compressor", brinery.Compressor.new_frame_compressor
            )
            data = dumps(big.value, compress=codec.name)
        frames = [frame for frame in self.walk(data) if frame.kind == "data"]
        assert {codec.content_size(data[frame.start :]) for frame in frames} == {None}
        return data

    def walk(self, data: bytes) -> list[Frame]:
        """The frames of ``data``, read with the codec library's decompressor."""
        return walk_frames(data, self.codec.new_decompressor)

    @pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
    def test_frames_carry_their_checksum(self, index: bool) -> None:
        data = dumps(sample_object(), compress=self.codec.name, index=index)
        frames = [frame for frame in self.walk(data) if frame.kind == "data"]
        # 126 KB of stream: one frame, and when indexed one more, which the index record starts.
        assert len(frames) == (2 if index else 1)
        for frame in frames:
            assert self.codec.has_checksum(data[frame.start :])

    def test_many_frames_are_codec_frames_announced_by_hints(self, big: BigFiles) -> None:
        codec = self.codec
        data = big.files[1]
        frames = self.walk(data)
        data_frames = [frame for frame in frames if frame.kind == "data"]
        assert len(data_frames) >= 5, frames
        # data, hint, data, hint, ..., data: every hint announces the frame that follows it;
        # then the seek table, which lists every frame before it (hints: frames of nothing).
        kinds = [frame.kind for frame in frames]
        assert kinds == ["data", "skippable"] * (len(data_frames) - 1) + ["data", SEEK_TABLE]
        for hint, frame in zip(frames[1:-1:2], frames[2:-1:2], strict=True):
            assert hint.hint == (frame.length, frame.output), (hint, frame)
        assert seek_table_entries(data) == [(frame.length, frame.output) for frame in frames[:-1]]
        largest = codec.compressor.framing.frame_size
        assert largest is not None
        assert all(0 < frame.output <= largest for frame in data_frames)
        assert sum(frame.output for frame in data_frames) == len(big.raw)
        assert codec.decode(data) == big.raw
        for frame in data_frames:
            assert codec.has_checksum(data[frame.start :])

    def test_frames_record_their_size(self, big: BigFiles) -> None:
        """Each frame is compressed in one call (``Compressor.compress_frame``), which also
        records its size in the frame header; loads check that size against the hint, then
        decompress the frame in one call too."""
        data = big.files[1]
        frames = [frame for frame in self.walk(data) if frame.kind == "data"]
        assert [self.codec.content_size(data[frame.start :]) for frame in frames] == [
            frame.output for frame in frames
        ]

    @pytest.mark.parametrize("threads", [1, 2])
    def test_frames_without_their_size_load(
        self, threads: int, unsized_frames_file: bytes, big: BigFiles
    ) -> None:
        assert_same(brinery.load(io.BytesIO(unsized_frames_file), threads=threads), big.value)

    @pytest.mark.parametrize("threads", [1, 2])
    @pytest.mark.parametrize("sized", [True, False], ids=["sized", "unsized"])
    def test_a_hint_that_takes_in_the_next_frame_is_refused(
        self, sized: bool, threads: int, big: BigFiles, unsized_frames_file: bytes
    ) -> None:
        """A hint whose compressed size also covers the next hint and frame (its uncompressed
        size still the first frame's) must not make the load skip that frame's data."""
        data = big.files[1] if sized else unsized_frames_file
        frames = self.walk(data)
        hint, frame, next_hint, next_frame = frames[1:5]
        assert (hint.kind, frame.kind, next_hint.kind) == ("skippable", "data", "skippable")
        swallowed = frame.length + next_hint.length + next_frame.length
        damaged = with_u64(data, hint.start + HINT_COMPRESSED, swallowed)
        with pytest.raises(brinery.CorruptFileError, match=f"{self.codec.name} .*frame 2"):
            brinery.load(io.BytesIO(damaged), threads=threads)

    @pytest.mark.parametrize("size", [1 << 20, 32 << 20], ids=["1MiB", "32MiB"])
    def test_frames_of_another_size_load(self, size: int) -> None:
        """docs/format.md: a reader does not assume a frame size.  A file cut into frames
        smaller or larger than this brinery's (another writer, another version) loads all the
        same."""
        original = {"range": np.arange(5_000_000, dtype=np.int64), "tail": ["x"] * 10}  # 40 MB
        with frame_size(self.codec.compressor, size):
            data = dumps(original, compress=self.codec.name)
        hints = [frame.hint for frame in self.walk(data) if frame.hint]
        assert max(uncompressed for _, uncompressed in hints) == size
        for threads in (1, 2):
            assert_same(brinery.load(io.BytesIO(data), threads=threads), original)

    @pytest.mark.parametrize(
        "field", [HINT_COMPRESSED, HINT_UNCOMPRESSED], ids=["packed", "unpacked"]
    )
    @pytest.mark.parametrize(
        "size",
        [(1 << 30) + 1, 1 << 40, (1 << 63) - 1, (1 << 64) - 1],
        ids=["1G+1", "2^40", "2^63", "2^64"],
    )
    def test_absurd_sizes_in_a_hint_are_refused_before_allocating(
        self, field: int, size: int, small_frames_file: SmallFrames
    ) -> None:
        """A hint announcing sizes no frame of a small file can have (1 GiB to 2**64 bytes) is
        damaged: it is reported as such, without first allocating what it announces (gigabytes
        and seconds, or a MemoryError or OverflowError dressed up as a read failure)."""
        data, hints, _ = small_frames_file
        damaged = with_u64(data, hints[0].start + field, size)
        tracemalloc.start()
        try:
            with pytest.raises(brinery.CorruptFileError) as caught:
                brinery.load(io.BytesIO(damaged), threads=1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "hint" in str(caught.value), caught.value
        assert not isinstance(caught.value.__cause__, (MemoryError, OverflowError)), caught.value
        assert peak < 64 << 20, f"loading a {len(damaged)}-byte file allocated {peak >> 20} MiB"

    def test_the_tool_lists_every_frame_of_a_many_frames_file(self, tmp_path: Path) -> None:
        codec = self.codec
        program = self.tool_program()
        path = tmp_path / f"frames{codec.extensions[0]}"
        brinery.dump(many_frames_object(codec.name), path)
        frames = self.walk(path.read_bytes())
        data_frames = sum(frame.kind == "data" for frame in frames)
        hints = sum(frame.kind == "skippable" and frame.hint is not None for frame in frames)
        assert data_frames >= 4
        assert hints == data_frames - 1
        assert [frame.kind for frame in frames].count("skippable") == hints
        assert frames[-1].kind == SEEK_TABLE  # (the file is indexed)
        codec.check_frame_listing(program, path, data_frames, hints + 1)

    # -- hints from a hostile file: believed only as far as the frame limit, the file and
    #    max_bytes

    @pytest.mark.parametrize("threads", [1, 4])
    def test_hints_announcing_gigabytes_are_refused_in_bounded_memory(self, threads: int) -> None:
        """Hints announcing 1 GiB frames were believed (1 GiB zero-filled per thread: 3.1 GB
        with 1 thread, 8.2 GB with 4): they are refused before anything is allocated."""
        name = self.codec.name
        load = load_limited(lying_hints(self.codec.compressor, 1 << 30), threads=threads)
        assert load.error == "CorruptFileError", load
        assert load.message.startswith(f"a {name} frame hint announces ")
        assert load.message.endswith(
            f" compressed and 1073741824 uncompressed bytes, more than a frame may hold "
            f"({FRAME_LIMIT}): the hint is damaged"
        )
        assert load.grew < 32 << 20, load

    @pytest.mark.parametrize("threads", [1, 4])
    def test_hints_up_to_the_frame_limit_that_lie_take_no_memory_ahead(self, threads: int) -> None:
        """Frames of 100 bytes announced as 64 MiB: each thread's frame buffer is reserved, not
        filled (np.empty), so the lie costs no memory; the frame's size is what is reported."""
        load = load_limited(lying_hints(self.codec.compressor, FRAME_LIMIT), threads=threads)
        assert load.error == "CorruptFileError", load
        assert load.message == (
            f"{self.codec.name} frame 2: it does not match its hint (100 of {FRAME_LIMIT} bytes, "
            "0 bytes after it)"
        )
        assert load.grew < 32 << 20, load

    @pytest.mark.parametrize("threads", [1, 4])
    def test_a_hint_is_held_to_what_max_bytes_still_allows(self, threads: int) -> None:
        data = lying_hints(self.codec.compressor, FRAME_LIMIT)
        with pytest.raises(brinery.SizeLimitError) as caught:
            brinery.load(io.BytesIO(data), threads=threads, max_bytes=1 << 20)
        assert str(caught.value).startswith(
            f"the {self.codec.name} data decompresses to more than max_bytes=1048576 bytes: a "
            "frame hint at byte "
        )
        assert str(caught.value).endswith(f" of the file announces {FRAME_LIMIT} bytes after 2")

    def test_a_hint_announcing_more_than_the_file_holds_is_truncation(self) -> None:
        """A frame of 60 MiB announced in a file of a few hundred bytes: refused before it is
        read (the file says how much it holds)."""
        compressor = self.codec.compressor
        data = lying_hints(compressor, 1 << 20, compressed=60 << 20)
        hints = compressor.framing.hints
        assert hints is not None
        hint_at = data.index(hints.encode(60 << 20, 1 << 20))
        with pytest.raises(brinery.TruncatedFileError) as caught:
            brinery.load(io.BytesIO(data))
        assert str(caught.value) == (
            f"a {self.codec.name} frame hint at byte {hint_at} of the file announces a frame of "
            f"{60 << 20} bytes, where only {len(data) - hint_at - HINT.size} follow: the file is "
            "truncated or the hint damaged"
        )

    def test_a_hinted_frame_from_a_pipe_is_read_as_it_comes(self) -> None:
        """From a pipe, which does not say how much follows, the 60 MiB a hint announces are
        read in pieces that grow with what came, never allocated ahead."""
        data = lying_hints(self.codec.compressor, 1 << 20, compressed=60 << 20)
        load = load_limited(data, pipe=True)
        assert load.error == "TruncatedFileError", load
        assert load.message.startswith(
            f"the data ends in the middle of {self.codec.name} frame 2 ("
        )
        assert f" of {60 << 20} bytes, at byte " in load.message
        assert load.grew < 16 << 20, load
