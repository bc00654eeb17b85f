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
