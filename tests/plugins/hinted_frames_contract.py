"""The contract of plugins whose frames carry brinery's frame hints (zstd, LZ4).

Such a plugin writes one frame of its format per 4 MiB of the brinery stream, each with its
content checksum, and before each frame but the first a hint: a skippable frame (which the
codec's tools skip) holding the next frame's compressed and uncompressed sizes.  A test module
pulls these tests in with ``from hinted_frames_contract import *``, next to ``codec_contract``'s,
and describes its codec with a :class:`HintedFramesCodec`.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from codec_contract import Codec, many_frames_object

import brinery

FRAME_SIZE = 4 << 20
#: A hint: magic, payload length, b"BRFH", compressed size (u64), uncompressed size (u64).
HINT_COMPRESSED, HINT_UNCOMPRESSED = 12, 20


class HintedFramesCodec(Codec):
    """A codec whose frames carry brinery's hints."""

    frame_hints: ClassVar[bool] = True

    def new_decompressor(self) -> Any:
        """The codec library's decompressor for one frame (``decompress``, ``eof``,
        ``unused_data``), for ``walk_frames``."""
        raise NotImplementedError

    def has_checksum(self, frame: bytes) -> bool:
        """Whether the frame that starts ``frame`` carries its content checksum."""
        raise NotImplementedError

    def check_frame_listing(self, tool: str, path: Path, data_frames: int, skippable: int) -> None:
        """Checks that the tool lists the frames of ``path``: ``data_frames`` of the codec's, with
        their checksum, and ``skippable`` skippable ones in between."""
        raise NotImplementedError

    def content_size(self, frame: bytes) -> int | None:
        """The uncompressed size the header of the frame that starts ``frame`` records (None:
        none recorded)."""
        raise NotImplementedError


def test_frames_carry_their_checksum(
    codec: HintedFramesCodec, sample_object: Any, dumps: Any, walk_frames: Any
) -> None:
    data = dumps(sample_object(), compress=codec.name)
    frames = [frame for frame in walk_frames(data, codec.new_decompressor) if frame.kind == "data"]
    assert len(frames) == 1  # 126 KB of stream: one frame
    for frame in frames:
        assert codec.has_checksum(data[frame.start :])


def test_many_frames_are_codec_frames_announced_by_hints(
    codec: HintedFramesCodec, big: dict[str, Any], walk_frames: Any
) -> None:
    data = big["files"][1]
    frames = walk_frames(data, codec.new_decompressor)
    data_frames = [frame for frame in frames if frame.kind == "data"]
    assert len(data_frames) >= 5, frames
    # data, hint, data, hint, ..., data: every hint announces the frame that follows it.
    assert [frame.kind for frame in frames] == ["data", "skippable"] * (len(data_frames) - 1) + [
        "data"
    ]
    for hint, frame in zip(frames[1::2], frames[2::2], strict=True):
        assert hint.hint == (frame.length, frame.output), (hint, frame)
    assert all(0 < frame.output <= FRAME_SIZE for frame in data_frames)
    assert sum(frame.output for frame in data_frames) == len(big["raw"])
    assert codec.decode(data) == big["raw"]
    for frame in data_frames:
        assert codec.has_checksum(data[frame.start :])


def test_frames_record_their_size(
    codec: HintedFramesCodec, big: dict[str, Any], walk_frames: Any
) -> None:
    """Each frame is compressed in one call (``Compressor.compress_frame``), which also records
    its size in the frame header; loads check that size against the hint, then decompress the
    frame in one call too."""
    data = big["files"][1]
    frames = [frame for frame in walk_frames(data, codec.new_decompressor) if frame.kind == "data"]
    assert [codec.content_size(data[frame.start :]) for frame in frames] == [
        frame.output for frame in frames
    ]


@pytest.fixture
def unsized_frames_file(
    codec: HintedFramesCodec,
    monkeypatch: pytest.MonkeyPatch,
    big: dict[str, Any],
    dumps: Any,
    walk_frames: Any,
) -> bytes:
    """The big object in frames whose headers do not record their size (written with the codec's
    streaming compressor, as earlier brinery did)."""
    with monkeypatch.context() as patch:
        compressor = brinery.compressors()[codec.name]
        patch.setattr(type(compressor), "compress_frame", brinery.Compressor.compress_frame)
        data: bytes = dumps(big["object"], compress=codec.name)
    frames = [frame for frame in walk_frames(data, codec.new_decompressor) if frame.kind == "data"]
    assert {codec.content_size(data[frame.start :]) for frame in frames} == {None}
    return data


@pytest.mark.parametrize("threads", [1, 2])
def test_frames_without_their_size_load(
    threads: int, unsized_frames_file: bytes, big: dict[str, Any], assert_same: Any
) -> None:
    assert_same(brinery.load(io.BytesIO(unsized_frames_file), threads=threads), big["object"])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sized", [True, False], ids=["sized", "unsized"])
def test_a_hint_that_takes_in_the_next_frame_is_refused(
    sized: bool,
    threads: int,
    codec: HintedFramesCodec,
    big: dict[str, Any],
    unsized_frames_file: bytes,
    walk_frames: Any,
) -> None:
    """A hint whose compressed size also covers the next hint and frame (its uncompressed size
    still the first frame's) must not make the load skip that frame's data."""
    data = big["files"][1] if sized else unsized_frames_file
    frames = walk_frames(data, codec.new_decompressor)
    hint, frame, next_hint, next_frame = frames[1:5]
    assert (hint.kind, frame.kind, next_hint.kind) == ("skippable", "data", "skippable")
    swallowed = frame.length + next_hint.length + next_frame.length
    start = hint.start + HINT_COMPRESSED
    damaged = data[:start] + struct.pack("<Q", swallowed) + data[start + 8 :]
    with pytest.raises(brinery.CorruptFileError, match=f"{codec.name} .*frame 2"):
        brinery.load(io.BytesIO(damaged), threads=threads)


@pytest.mark.parametrize("frame_size", [1 << 20, 32 << 20], ids=["1MiB", "32MiB"])
def test_frames_of_another_size_load(
    frame_size: int,
    codec: HintedFramesCodec,
    monkeypatch: pytest.MonkeyPatch,
    dumps: Any,
    walk_frames: Any,
    assert_same: Any,
) -> None:
    """docs/format.md: a reader does not assume a frame size.  A file cut into frames smaller
    or larger than this brinery's (another writer, another version) loads all the same."""
    original = {"range": np.arange(5_000_000, dtype=np.int64), "tail": ["x"] * 10}  # 40 MB
    with monkeypatch.context() as patch:
        patch.setattr(brinery.compressors()[codec.name], "frame_size", frame_size)
        data = dumps(original, compress=codec.name)
    hints = [frame.hint for frame in walk_frames(data, codec.new_decompressor) if frame.hint]
    assert max(uncompressed for _, uncompressed in hints) == frame_size
    for threads in (1, 2):
        assert_same(brinery.load(io.BytesIO(data), threads=threads), original)


@pytest.mark.parametrize("field", [HINT_COMPRESSED, HINT_UNCOMPRESSED], ids=["packed", "unpacked"])
@pytest.mark.parametrize(
    "size",
    [(1 << 30) + 1, 1 << 40, (1 << 63) - 1, (1 << 64) - 1],
    ids=["1G+1", "2^40", "2^63", "2^64"],
)
def test_absurd_sizes_in_a_hint_are_refused_before_allocating(
    field: int, size: int, small_frames_file: Any
) -> None:
    """A hint announcing sizes no frame of a small file can have (1 GiB to 2**64 bytes) is
    damaged: it is reported as such, without first allocating what it announces (gigabytes and
    seconds, or a MemoryError or OverflowError dressed up as a read failure)."""
    data, hints = small_frames_file
    start = hints[0].start + field
    damaged = data[:start] + struct.pack("<Q", size) + data[start + 8 :]
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


def test_the_tool_lists_every_frame_of_a_many_frames_file(
    codec: HintedFramesCodec, tmp_path: Path, tool: Any, walk_frames: Any
) -> None:
    program = tool(codec.tool)
    path = tmp_path / f"frames{codec.extensions[0]}"
    brinery.dump(many_frames_object(codec.name), path)
    frames = walk_frames(path.read_bytes(), codec.new_decompressor)
    data_frames = sum(frame.kind == "data" for frame in frames)
    skippable = sum(frame.kind == "skippable" for frame in frames)
    assert data_frames >= 4
    assert skippable == data_frames - 1
    codec.check_frame_listing(program, path, data_frames, skippable)


# -- hints from a hostile file: believed only as far as the frame limit, the file and max_bytes --

#: A hinted frame may announce at most this (a file written with bigger frames is damaged).
FRAME_LIMIT = 64 << 20


def _lying_hints(name: str, uncompressed: int, compressed: int | None = None) -> bytes:
    """A first frame holding ``PROTO 4``, then 8 frames of 100 bytes, each announced by a hint
    that says they hold ``uncompressed`` bytes (and take ``compressed``, if given)."""
    compressor = brinery.compressors()[name]
    first = b"".join(compressor.compress_frame(compressor.default_level, b"\x80\x04"))
    frame = b"".join(compressor.compress_frame(compressor.default_level, b"\x95" * 100))
    hint = compressor.frame_hint(len(frame) if compressed is None else compressed, uncompressed)
    return first + (hint + frame) * 8


@pytest.mark.parametrize("threads", [1, 4])
def test_hints_announcing_gigabytes_are_refused_in_bounded_memory(
    threads: int, codec: HintedFramesCodec, load_limited: Any
) -> None:
    """Hints announcing 1 GiB frames were believed (1 GiB zero-filled per thread: 3.1 GB with 1
    thread, 8.2 GB with 4): they are refused before anything is allocated."""
    data = _lying_hints(codec.name, 1 << 30)
    load = load_limited(data, threads=threads)
    assert load.error == "CorruptFileError", load
    assert load.message.startswith(f"a {codec.name} frame hint announces ")
    assert load.message.endswith(
        f" compressed and 1073741824 uncompressed bytes, more than a frame may hold "
        f"({FRAME_LIMIT}): the hint is damaged"
    )
    assert load.grew < 32 << 20, load


@pytest.mark.parametrize("threads", [1, 4])
def test_hints_up_to_the_frame_limit_that_lie_take_no_memory_ahead(
    threads: int, codec: HintedFramesCodec, load_limited: Any
) -> None:
    """Frames of 100 bytes announced as 64 MiB: each thread's frame buffer is reserved, not
    filled (np.empty), so the lie costs no memory; the frame's size is what is reported."""
    load = load_limited(_lying_hints(codec.name, FRAME_LIMIT), threads=threads)
    assert load.error == "CorruptFileError", load
    assert load.message == (
        f"{codec.name} frame 2: it does not match its hint (100 of {FRAME_LIMIT} bytes, 0 bytes "
        "after it)"
    )
    assert load.grew < 32 << 20, load


@pytest.mark.parametrize("threads", [1, 4])
def test_a_hint_is_held_to_what_max_bytes_still_allows(
    threads: int, codec: HintedFramesCodec
) -> None:
    data = _lying_hints(codec.name, FRAME_LIMIT)
    with pytest.raises(brinery.SizeLimitError) as caught:
        brinery.load(io.BytesIO(data), threads=threads, max_bytes=1 << 20)
    assert str(caught.value).startswith(
        f"the {codec.name} data decompresses to more than max_bytes=1048576 bytes: a frame hint "
        "at byte "
    )
    assert str(caught.value).endswith(f" of the file announces {FRAME_LIMIT} bytes after 2")


def test_a_hint_announcing_more_than_the_file_holds_is_truncation(
    codec: HintedFramesCodec,
) -> None:
    """A frame of 60 MiB announced in a file of a few hundred bytes: refused before it is read
    (the file says how much it holds)."""
    data = _lying_hints(codec.name, 1 << 20, compressed=60 << 20)
    hint_at = data.index(brinery.compressors()[codec.name].frame_hint(60 << 20, 1 << 20))
    with pytest.raises(brinery.TruncatedFileError) as caught:
        brinery.load(io.BytesIO(data))
    assert str(caught.value) == (
        f"a {codec.name} frame hint at byte {hint_at} of the file announces a frame of "
        f"{60 << 20} bytes, where only {len(data) - hint_at - 28} follow: the file is truncated "
        "or the hint damaged"
    )


def test_a_hinted_frame_from_a_pipe_is_read_as_it_comes(
    codec: HintedFramesCodec, load_limited: Any
) -> None:
    """From a pipe, which does not say how much follows, the 60 MiB a hint announces are read in
    pieces that grow with what came, never allocated ahead."""
    data = _lying_hints(codec.name, 1 << 20, compressed=60 << 20)
    load = load_limited(data, pipe=True)
    assert load.error == "TruncatedFileError", load
    assert load.message.startswith(f"the data ends in the middle of {codec.name} frame 2 (")
    assert f" of {60 << 20} bytes, at byte " in load.message
    assert load.grew < 16 << 20, load
