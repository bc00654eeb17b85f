"""Seek tables with zstd and LZ4 (docs/format.md, section 3, "Seek tables"): the codecs' own
command-line tools read a file ending with one, its frames decompress alone with the codec's
one-call ``decompress_frame``, and loads read the table after a dump (and stop right after it).

Needs the brinery-zstd and brinery-lz4 plugins loaded (each codec's tests are skipped without
its plugin), and the ``zstd`` and ``lz4`` tools for the tool tests (skipped without them).  Until
``dump`` writes seek tables itself, dumps here get one from a frame writer made with
``seek_table=True`` (:func:`_dumps_with_table`), or by hand, from the file's frames as the codec
library walks them (:func:`_with_table_by_hand`).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import brinery
import brinery.pipeline
from brinery.format.layout import END_RECORD
from brinery.streams import seek_table
from brinery.streams.compressed import open_compressed_writer
from brinery.streams.frame_writer import FrameWriter
from brinery.testing import (
    assert_same,
    dumps,
    find_tool,
    frame_size,
    load_limited,
    loads,
    pipe_roundtrip,
    record_headers,
    run_tool,
    sample_object,
    walk_frames,
)

CODECS = ["zstd", "lz4"]
SMALL_FRAMES = 1 << 14  # a sample object's dump then has about twenty frames


def _library_decompressor(name: str) -> Callable[[], Any]:
    """The codec library's own decompressor for one frame (to walk a file from outside)."""
    if name == "zstd":
        zstandard = pytest.importorskip("zstandard")
        return lambda: zstandard.ZstdDecompressor().decompressobj()
    lz4_frame = pytest.importorskip("lz4.frame")
    return lz4_frame.LZ4FrameDecompressor  # type: ignore[no-any-return]


@pytest.fixture(params=CODECS)
def codec(request: pytest.FixtureRequest) -> Iterator[brinery.Compressor]:
    """Each hinted codec, its frames 16 KiB for the test."""
    name: str = request.param
    pytest.importorskip(f"brinery_{name}", reason=f"brinery-{name} is not installed")
    compressor = brinery.compressors().get(name)
    if compressor is None:
        pytest.skip(f"the {name} plugin is not loaded (BRINERY_LOAD_PLUGINS)")
    with frame_size(compressor, SMALL_FRAMES):
        yield compressor


def _payload() -> bytes:
    """About 200 KB, compressible, different in every frame."""
    lines = (f"line {number:07d}: {number * 7919 % 104729}\n" for number in range(8000))
    return "".join(lines).encode()


def _written(compressor: brinery.Compressor, data: bytes, threads: int = 2) -> bytes:
    """``data`` through a FrameWriter writing a seek table."""
    sink = io.BytesIO()
    level = compressor.default_level
    writer = FrameWriter(sink, compressor, level, threads=threads, seek_table=True)
    writer.write(data[:1000])
    writer.frames_so_far()  # (a frame cut short, as before an index record)
    writer.write(data[1000:])
    writer.close()
    return sink.getvalue()


def _compressed(data: bytes, frame: seek_table.SeekFrame) -> memoryview:
    """The compressed bytes of ``frame`` in ``data``."""
    return memoryview(data)[frame.compressed_offset :][: frame.compressed_size]


def _table_at_end(data: bytes) -> seek_table.SeekTable:
    length = seek_table.table_length(data[-seek_table.FOOTER.size :])
    assert length is not None, "no seek table at the end"
    return seek_table.parse(data[-length:], len(data) - length)


def _writer_with_table(*args: Any, **kwargs: Any) -> Any:
    """``open_compressed_writer``, always with a seek table (whatever dump asks)."""
    return open_compressed_writer(*args, **{**kwargs, "seek_table": True})


def _dumps_with_table(monkeypatch: pytest.MonkeyPatch, value: Any, **kwargs: Any) -> bytes:
    """What ``dumps`` writes when dump's compressed writer writes a seek table."""
    with monkeypatch.context() as patch:
        patch.setattr(brinery.pipeline, "open_compressed_writer", _writer_with_table)
        return dumps(value, **kwargs)


def _without_table(data: bytes) -> bytes:
    """``data`` without the seek table it ends with, if it ends with one."""
    length = seek_table.table_length(data[-seek_table.FOOTER.size :])
    return data if length is None else data[:-length]


def _walked_sizes(data: bytes, name: str) -> list[tuple[int, int]]:
    """The (compressed, decompressed) size of every frame of ``data``, skippable ones (hints)
    included, as the codec library finds them."""
    frames = walk_frames(data, _library_decompressor(name))
    return [(frame.length, frame.output) for frame in frames]


def _with_table_by_hand(data: bytes, name: str) -> bytes:
    """``data`` (its table, if any, taken off) followed by a seek table of its frames, computed
    from outside (:func:`_walked_sizes`)."""
    data = _without_table(data)
    return data + seek_table.encode(_walked_sizes(data, name))


# -- the codecs' tools, and frames alone ---------------------------------------------------------


def test_the_codecs_tool_decompresses_a_file_with_a_seek_table(
    codec: brinery.Compressor, tmp_path: Path
) -> None:
    tool = find_tool(codec.name)
    data = _payload()
    written = _written(codec, data)
    assert seek_table.footer_entries(written[-9:]) is not None
    assert run_tool([tool, "-d", "-c"], written) == data
    path = tmp_path / f"data{codec.extensions[0]}"
    path.write_bytes(written)
    assert run_tool([tool, "-d", "-c", str(path)]) == data
    run_tool([tool, "-t", str(path)])  # (the tool's test: a failure fails the test)


def test_zstd_lists_a_file_with_a_seek_table(tmp_path: Path) -> None:
    pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")
    if "zstd" not in brinery.compressors():
        pytest.skip("the zstd plugin is not loaded (BRINERY_LOAD_PLUGINS)")
    tool = find_tool("zstd")
    with frame_size("zstd", SMALL_FRAMES) as compressor:
        written = _written(compressor, _payload())
    path = tmp_path / "data.zst"
    path.write_bytes(written)
    listing = run_tool([tool, "-lv", str(path)]).decode()
    frames = walk_frames(written, _library_decompressor("zstd"))
    data_frames = sum(frame.kind == "data" for frame in frames)
    skippable = len(frames) - data_frames
    assert skippable == data_frames  # a hint before each frame but the first, and the table
    assert f"Zstandard Frames: {data_frames}" in listing, listing
    assert f"Skippable Frames: {skippable}" in listing, listing


def test_each_frame_the_table_lists_decompresses_alone(codec: brinery.Compressor) -> None:
    data = _payload()
    written = _written(codec, data, threads=3)
    assert written == _written(codec, data, threads=1)
    table = _table_at_end(written)
    listed = [frame for frame in table if frame.decompressed_size]
    assert len(listed) == len(data) // SMALL_FRAMES + 2  # (one frame cut short, at 1000)
    for frame in listed:
        expected = data[frame.decompressed_offset :][: frame.decompressed_size]
        assert codec.decompress_frame(_compressed(written, frame), frame.decompressed_size) == (
            expected
        )
    for frame in table:
        if not frame.decompressed_size:
            assert frame.compressed_size == 28  # a hint


def test_the_writers_table_is_the_frames_the_codec_library_finds(
    codec: brinery.Compressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _dumps_with_table(monkeypatch, sample_object(), compress=codec.name)
    assert written == _with_table_by_hand(written, codec.name)


def test_the_frame_holding_the_end_record_is_found_from_the_end(
    codec: brinery.Compressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's last data frame holds the stream's last byte: the end of its end record."""
    written = _dumps_with_table(monkeypatch, sample_object(), compress=codec.name)
    table = _table_at_end(written)
    last = table[table.frame_holding(table.decompressed_size - 1)]
    data_frames = [frame for frame in table if frame.decompressed_size]
    assert last == data_frames[-1]
    pieces = [
        bytes(codec.decompress_frame(_compressed(written, frame), frame.decompressed_size))
        for frame in data_frames
    ]
    stream = b"".join(pieces)
    assert len(stream) == table.decompressed_size
    _, headers = record_headers(stream)  # (which checks the stream ends with its end record)
    assert headers[-1].kind == END_RECORD
    assert pieces[-1] == stream[last.decompressed_offset :]


# -- loads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 3])
def test_a_dump_followed_by_its_table_loads(
    codec: brinery.Compressor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threads: int
) -> None:
    value = sample_object()
    written = _dumps_with_table(monkeypatch, value, compress=codec.name, threads=threads)
    by_hand = _with_table_by_hand(dumps(value, compress=codec.name), codec.name)
    for data in (written, by_hand):
        assert_same(loads(data), value)
        path = tmp_path / f"value{codec.extensions[0]}"
        path.write_bytes(data)
        assert_same(brinery.load(path, threads=threads), value)


def test_dumps_one_after_the_other_load_in_turn(
    codec: brinery.Compressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [sample_object(), {"small": [1, 2, 3]}, "last"]
    files = [_dumps_with_table(monkeypatch, value, compress=codec.name) for value in values]
    buffer = io.BytesIO(b"".join(files) + b"after")
    for value, file in zip(values, files, strict=True):
        start = buffer.tell()
        assert_same(brinery.load(buffer), value)
        assert buffer.tell() == start + len(file)
    assert buffer.read() == b"after"


def test_dumps_one_after_the_other_load_in_turn_from_a_pipe(
    codec: brinery.Compressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(brinery.pipeline, "open_compressed_writer", _writer_with_table)
    values = [sample_object(), [4, 5], sample_object()]
    loaded = pipe_roundtrip(values, [{"compress": codec.name}] * 3, threads=2)
    for got, value in zip(loaded, values, strict=True):
        assert_same(got, value)


def _lying(data: bytes, name: str) -> bytes:
    """``data`` followed by a seek table whose last data frame holds one byte more."""
    data = _without_table(data)
    frames = _walked_sizes(data, name)
    size, output = frames[-1]
    return data + seek_table.encode([*frames[:-1], (size, output + 1)])


def test_a_table_listing_other_sizes_is_damage(codec: brinery.Compressor, tmp_path: Path) -> None:
    data = _lying(dumps(sample_object(), compress=codec.name), codec.name)
    message = "the seek table after the brinery stream does not match its frames"
    with pytest.raises(brinery.CorruptFileError, match=message):
        brinery.load(io.BytesIO(data))
    path = tmp_path / f"lying{codec.extensions[0]}"
    path.write_bytes(data)
    with pytest.raises(brinery.CorruptFileError, match=message):
        brinery.load(path)


def test_another_skippable_frame_after_the_stream_is_left_as_before(
    codec: brinery.Compressor, tmp_path: Path
) -> None:
    """Not a seek table: a file object is left positioned before it, a path has data after its
    stream."""
    plain = _without_table(dumps([1, 2], compress=codec.name))
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"more"
    buffer = io.BytesIO(plain + skippable)
    assert brinery.load(buffer) == [1, 2]
    assert buffer.read() == skippable
    path = tmp_path / f"more{codec.extensions[0]}"
    path.write_bytes(plain + skippable)
    with pytest.raises(brinery.CorruptFileError, match="data after the end of the brinery stream"):
        brinery.load(path)


@pytest.mark.parametrize("pipe", [False, True], ids=["file", "pipe"])
def test_a_huge_declared_table_costs_no_memory(
    codec: brinery.Compressor, tmp_path: Path, pipe: bool
) -> None:
    """A seek table's header declaring 4 GiB after a small dump: never read, whatever it says
    (a table of the frames passed over is a few bytes), but left after the stream (for a path,
    data after its stream; a file object, here one that cannot seek, loads)."""
    plain = _without_table(dumps([1, 2], compress=codec.name))
    hostile = plain + struct.pack("<II", 0x184D2A5E, 0xFFFFFFF0) + bytes(64) + (
        struct.pack("<IBI", 0x7FFFFFF, 0, 0x8F92EAB1)
    )
    outcome = load_limited(hostile, folder=tmp_path, pipe=pipe)
    if pipe:
        assert outcome.error is None, outcome
    else:
        assert outcome.error == "CorruptFileError", outcome
        assert "data after the end of the brinery stream" in outcome.message
    assert outcome.grew < 64 << 20, outcome
