"""brinery-lz4: round trips at its levels, by name and by extension; frames; several objects.

The plugin writes LZ4 frames (magic 04 22 4D 18) with their content checksum, one per 4 MiB of
the brinery stream, with brinery's frame hints in skippable frames between them.  Levels 0-2
are LZ4's fast mode, 3-16 LZ4 HC.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC

lz4_frame = pytest.importorskip("lz4.frame")
brinery_lz4 = pytest.importorskip("brinery_lz4", reason="brinery-lz4 is not installed")

NAME = "lz4"
MAGIC = b"\x04\x22\x4d\x18"
LOWEST, DEFAULT, HIGHEST = 0, 0, 16
FRAME_SIZE = 4 << 20


def new_decompressor() -> Any:
    return lz4_frame.LZ4FrameDecompressor()


def decompress_all(data: bytes) -> bytes:
    """Every frame of ``data`` decompressed by python-lz4 itself (it skips skippable frames)."""
    parts = []
    while data:
        decompressor = lz4_frame.LZ4FrameDecompressor()
        parts.append(decompressor.decompress(data))
        assert decompressor.eof
        data = decompressor.unused_data
    return b"".join(parts)


def test_the_plugin_registers_its_compressor() -> None:
    compressor = brinery.compressors()[NAME]
    assert isinstance(compressor, brinery_lz4.Lz4Compressor)
    assert compressor.name == NAME
    assert compressor.magic == MAGIC
    assert compressor.extensions == (".lz4",)
    assert (compressor.levels.start, compressor.levels.stop - 1) == (LOWEST, HIGHEST)
    assert compressor.default_level == DEFAULT


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [LOWEST, 1, 2, 3, 9, 12, HIGHEST])
def test_round_trip_at_level(
    level: int, tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    path = tmp_path / "sample.bin"
    assert brinery.dump(original, path, compress=(NAME, level)) == [str(path)]
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    assert decompress_all(data) == dump_bytes(original, compress=False)
    assert_identical(brinery.load(path), original)
    assert_identical(brinery.load(io.BytesIO(data)), original)


def test_levels_change_the_output(sample_object: Any, dump_bytes: Any) -> None:
    original = sample_object()
    sizes = {level: len(dump_bytes(original, compress=(NAME, level))) for level in (0, 9)}
    assert sizes[9] < sizes[0], sizes


def test_name_and_tuple_and_path_give_the_same_bytes(
    tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    by_name = dump_bytes(original, compress=NAME)
    assert by_name.startswith(MAGIC)
    assert dump_bytes(original, compress=(NAME, DEFAULT)) == by_name
    assert dump_bytes(original, compress=[NAME, DEFAULT]) == by_name
    assert dump_bytes(original, compress=NAME, threads=1) == by_name
    path = tmp_path / "sample.bin"
    brinery.dump(original, path, compress=NAME)
    assert path.read_bytes() == by_name
    assert_identical(brinery.load(io.BytesIO(by_name)), original)
    assert_identical(brinery.load(io.BytesIO(by_name), threads=1), original)


@pytest.mark.parametrize("file_name", ["model.pkl.lz4", "X.PKL.LZ4", "Model.Lz4", "a.b.lz4"])
def test_extension_selects_lz4_at_its_default_level(
    file_name: str, tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    path = tmp_path / file_name
    assert brinery.dump(original, path) == [str(path)]
    assert path.read_bytes() == dump_bytes(original, compress=(NAME, DEFAULT))
    assert_identical(brinery.load(path), original)


def test_compress_argument_overrides_the_extension(tmp_path: Path, dump_bytes: Any) -> None:
    value = {"a": np.arange(10)}
    brinery.dump(value, tmp_path / "plain.lz4", compress=False)
    assert (tmp_path / "plain.lz4").read_bytes().startswith(STREAM_MAGIC)
    brinery.dump(value, tmp_path / "other.xz", compress=NAME)
    assert (tmp_path / "other.xz").read_bytes() == dump_bytes(value, compress=NAME)
    # Loading looks at the magic number only, never at the name.
    assert brinery.load(tmp_path / "other.xz")["a"].tolist() == list(range(10))


@pytest.mark.parametrize("level", [LOWEST - 1, HIGHEST + 1, 100, 2.5, "3", True, None])
def test_invalid_level_is_refused_naming_the_range(level: Any, tmp_path: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match=r"from 0 to 16") as caught:
        brinery.dump({"a": 1}, io.BytesIO(), compress=(NAME, level))
    assert NAME in str(caught.value)
    with pytest.raises(brinery.InvalidArgumentError, match=r"from 0 to 16"):
        brinery.dump({"a": 1}, tmp_path / "x.lz4", compress=(NAME, level))
    assert list(tmp_path.iterdir()) == [], "a refused dump left a file behind"


def test_frames_carry_their_checksum(sample_object: Any, dump_bytes: Any, walk_frames: Any) -> None:
    data = dump_bytes(sample_object(), compress=NAME)
    frames = [frame for frame in walk_frames(data, new_decompressor) if frame.kind == "data"]
    assert len(frames) == 1  # 126 KB of stream: one frame
    for frame in frames:
        assert lz4_frame.get_frame_info(data[frame.start :])["content_checksum"]


# -- many frames ----------------------------------------------------------------------------------


def big_object() -> dict[str, Any]:
    """About 20 MB, mildly compressible: repeated random blocks, a range, small objects."""
    rng = np.random.default_rng(5)
    block = rng.integers(0, 40, size=1 << 16, dtype=np.uint8)
    return {
        "tiles": np.tile(block, 240).reshape(-1, 1024),  # 15.7 MB
        "range": np.arange(600_000, dtype=np.int64),  # 4.8 MB
        "words": [f"word{i}" for i in range(20_000)],
    }


@pytest.fixture(scope="module")
def big() -> dict[str, Any]:
    original = big_object()
    files = {}
    for threads in (1, 2):
        buffer = io.BytesIO()
        brinery.dump(original, buffer, compress=NAME, threads=threads)
        files[threads] = buffer.getvalue()
    raw = io.BytesIO()
    brinery.dump(original, raw, compress=False)
    return {"object": original, "files": files, "raw": raw.getvalue()}


def test_many_frames_do_not_depend_on_threads(big: dict[str, Any]) -> None:
    assert big["files"][1] == big["files"][2]


@pytest.mark.parametrize("threads", [1, 2, None])
def test_many_frames_load_back(
    threads: int | None, big: dict[str, Any], assert_identical: Any
) -> None:
    source = io.BytesIO(big["files"][2])
    assert_identical(brinery.load(source, threads=threads), big["object"])
    assert source.tell() == len(big["files"][2])


def test_many_frames_are_lz4_frames_announced_by_hints(
    big: dict[str, Any], walk_frames: Any
) -> None:
    data = big["files"][1]
    frames = walk_frames(data, new_decompressor)
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
    assert decompress_all(data) == big["raw"]
    for frame in data_frames:
        assert lz4_frame.get_frame_info(data[frame.start : frame.start + 32])["content_checksum"]


@pytest.mark.parametrize("frame_size", [1 << 20, 32 << 20], ids=["1MiB", "32MiB"])
def test_frames_of_another_size_load(
    frame_size: int,
    monkeypatch: pytest.MonkeyPatch,
    dump_bytes: Any,
    walk_frames: Any,
    assert_identical: Any,
) -> None:
    """docs/format.md: a reader does not assume a frame size.  A file cut into frames smaller
    or larger than this brinery's (another writer, another version) loads all the same."""
    original = {"range": np.arange(5_000_000, dtype=np.int64), "tail": ["x"] * 10}  # 40 MB
    with monkeypatch.context() as patch:
        patch.setattr(brinery.compressors()[NAME], "frame_size", frame_size)
        data = dump_bytes(original, compress=NAME)
    hints = [frame.hint for frame in walk_frames(data, new_decompressor) if frame.hint]
    assert max(uncompressed for _, uncompressed in hints) == frame_size
    for threads in (1, 2):
        assert_identical(brinery.load(io.BytesIO(data), threads=threads), original)


# -- several objects in one stream ----------------------------------------------------------------


def test_objects_dumped_one_after_another_load_one_after_another(
    sample_object: Any, small_sample: Any, assert_identical: Any
) -> None:
    objects = [sample_object(), small_sample(), {"after": "plain"}, big_object()["range"], "end"]
    arguments = [
        {"compress": NAME},
        {"compress": (NAME, HIGHEST)},
        {"compress": False},
        {"compress": (NAME, 3)},
        {"compress": NAME},
    ]
    buffer = io.BytesIO()
    for value, kwargs in zip(objects, arguments, strict=True):
        brinery.dump(value, buffer, **kwargs)
    size = buffer.tell()
    buffer.seek(0)
    for value in objects:
        assert_identical(brinery.load(buffer), value)
    assert buffer.tell() == size
    with pytest.raises(brinery.UnknownFormatError):
        brinery.load(buffer)  # nothing left


@pytest.mark.parametrize("threads", [1, 2])
def test_objects_load_one_after_another_from_a_pipe(
    threads: int, sample_object: Any, pipe_roundtrip: Any, assert_identical: Any
) -> None:
    many_frames = np.arange(1_300_000, dtype=np.int64)  # 10.4 MB: three frames, two hints
    objects = [sample_object(), many_frames, {"last": [1, 2, 3]}, {"uncompressed": True}]
    arguments = [{"compress": NAME}, {"compress": (NAME, 3)}, {"compress": NAME}, {}]
    loaded = pipe_roundtrip(objects, arguments, threads=threads)
    for got, want in zip(loaded, objects, strict=True):
        assert_identical(got, want)
