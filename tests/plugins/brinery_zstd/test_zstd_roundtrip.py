"""brinery-zstd: round trips at its levels, by name and by extension; frames; several objects.

The plugin writes Zstandard frames (magic 28 B5 2F FD) with their content checksum, one per
4 MiB of the brinery stream, with brinery's frame hints in skippable frames between them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC

zstandard = pytest.importorskip("zstandard")
brinery_zstd = pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")

NAME = "zstd"
MAGIC = b"\x28\xb5\x2f\xfd"
LOWEST, DEFAULT, HIGHEST = -7, 3, 22
FRAME_SIZE = 4 << 20


def new_decompressor() -> Any:
    return zstandard.ZstdDecompressor().decompressobj()


def decompress_all(data: bytes) -> bytes:
    """Every frame of ``data`` decompressed by python-zstandard itself, skippable ones skipped."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()


def test_the_plugin_registers_its_compressor() -> None:
    compressor = brinery.compressors()[NAME]
    assert isinstance(compressor, brinery_zstd.ZstdCompressor)
    assert compressor.name == NAME
    assert compressor.magic == MAGIC
    assert compressor.extensions == (".zst", ".zstd")
    assert (compressor.levels.start, compressor.levels.stop - 1) == (LOWEST, HIGHEST)
    assert compressor.default_level == DEFAULT


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [LOWEST, -1, 1, DEFAULT, 9, 19, HIGHEST])
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
    sizes = {level: len(dump_bytes(original, compress=(NAME, level))) for level in (LOWEST, 19)}
    assert sizes[19] < sizes[LOWEST], sizes


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


@pytest.mark.parametrize(
    "file_name", ["model.pkl.zst", "X.PKL.ZST", "model.zstd", "Model.Pkl.ZSTD", "a.b.zst"]
)
def test_extension_selects_zstd_at_its_default_level(
    file_name: str, tmp_path: Path, sample_object: Any, assert_identical: Any, dump_bytes: Any
) -> None:
    original = sample_object()
    path = tmp_path / file_name
    assert brinery.dump(original, path) == [str(path)]
    assert path.read_bytes() == dump_bytes(original, compress=(NAME, DEFAULT))
    assert_identical(brinery.load(path), original)


def test_compress_argument_overrides_the_extension(tmp_path: Path, dump_bytes: Any) -> None:
    value = {"a": np.arange(10)}
    brinery.dump(value, tmp_path / "plain.zst", compress=False)
    assert (tmp_path / "plain.zst").read_bytes().startswith(STREAM_MAGIC)
    brinery.dump(value, tmp_path / "other.gz", compress=NAME)
    assert (tmp_path / "other.gz").read_bytes() == dump_bytes(value, compress=NAME)
    # Loading looks at the magic number only, never at the name.
    assert brinery.load(tmp_path / "other.gz")["a"].tolist() == list(range(10))


@pytest.mark.parametrize("level", [LOWEST - 1, HIGHEST + 1, 100, -100, 2.5, "3", True, None])
def test_invalid_level_is_refused_naming_the_range(level: Any, tmp_path: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match=r"from -7 to 22") as caught:
        brinery.dump({"a": 1}, io.BytesIO(), compress=(NAME, level))
    assert NAME in str(caught.value)
    with pytest.raises(brinery.InvalidArgumentError, match=r"from -7 to 22"):
        brinery.dump({"a": 1}, tmp_path / "x.zst", compress=(NAME, level))
    assert list(tmp_path.iterdir()) == [], "a refused dump left a file behind"


def test_frames_carry_their_checksum(sample_object: Any, dump_bytes: Any, walk_frames: Any) -> None:
    data = dump_bytes(sample_object(), compress=NAME)
    frames = [frame for frame in walk_frames(data, new_decompressor) if frame.kind == "data"]
    assert len(frames) == 1  # 126 KB of stream: one frame
    for frame in frames:
        parameters = zstandard.get_frame_parameters(data[frame.start : frame.start + 18])
        assert parameters.has_checksum


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


def test_many_frames_are_zstd_frames_announced_by_hints(
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
        parameters = zstandard.get_frame_parameters(data[frame.start : frame.start + 18])
        assert parameters.has_checksum


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
        {"compress": (NAME, 19)},
        {"compress": False},
        {"compress": (NAME, LOWEST)},
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
    arguments = [{"compress": NAME}, {"compress": (NAME, 1)}, {"compress": NAME}, {}]
    loaded = pipe_roundtrip(objects, arguments, threads=threads)
    for got, want in zip(loaded, objects, strict=True):
        assert_identical(got, want)
