"""``brinery convert`` of indexed streams (format 1.4, ``dump(index=True)``), and ``brinery
bench`` on them.

A converted indexed file is an indexed stream again: the same parts (the same pickle bytes, the
same memo starts, the same container), the same array and buffer records (filtered or not, as
the target allows: their padding may change), and an index of its own giving where the parts,
the records and the frames now lie (docs/format.md, section 5.5).  Here: every value and codec,
with and without checksums; the new index read from the file's bytes and checked against them;
conversions back and in chains; the result is what ``dump(index=True)`` writes; an unindexed
file stays unindexed; a damaged index is refused; ``brinery bench`` samples an indexed file.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import brinery
from brinery.api import convert
from brinery.arguments import Compression
from brinery.format.copying import copy_records
from brinery.format.index import DICT, LIST, NOT_SPLIT, TUPLE, Index, decode
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    FORMAT_MINOR,
    INDEX_RECORD,
    INDEXED_FLAG,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
    UNINDEXED_MINOR,
)
from brinery.format.reader import StreamReader
from brinery.format.writer import StreamWriter
from brinery.plugins import registry
from brinery.sampling import sample_file
from brinery.streams.compressed import open_decompressed_reader
from brinery.streams.source import Source
from brinery.testing import assert_same, record_headers
from brinery.trials import Candidate, trial

BIG = np.arange(200_000.0)  # 1.6 MB: an array record with compression frames of its own
TARGETS = [False, "zlib", "gzip", "bz2", "xz", "lzma"]
CODECS = [False, "zlib", "gzip", "bz2", "xz"]
#: The seek table's footer magic, the last bytes of an indexed zstd or LZ4 file.
SEEK_TABLE_MAGIC = bytes.fromhex("b1ea928f")


RAW = bytes(range(256)) * 5000  # 1.28 MB: a buffer record with frames of its own


def _values(blob: Callable[[], Any]) -> dict[str, Any]:
    """Each value by name: a dict, a list, a tuple (each split into parts) and a value that is
    not split, with arrays, a buffer (``blob()``) and objects shared across entries."""
    shared = {"small": np.arange(7), "ints": np.arange(70_000, dtype="<i4")}
    return {
        "dict": {"weights": BIG, "again": shared, "blob": blob(), "twice": shared, "n": 3},
        "list": [BIG, shared, "text", [shared, 3], np.arange(12.0).reshape(3, 4), blob()],
        "tuple": (shared, BIG * 2, {"a": shared, "b": np.zeros(5, ">f4")}, 2.5, blob()),
        "value": collections.OrderedDict(weights=BIG, again=shared, twice=shared, blob=blob()),
    }


def _out_of_band() -> list[pickle.PickleBuffer]:
    """A buffer dumped out of band, as a buffer record; in a list, which pickle memoizes (a
    PickleBuffer it does not: the container's part would write it again)."""
    return [pickle.PickleBuffer(bytearray(RAW))]


def _as_loaded() -> list[np.ndarray]:
    """What :func:`_out_of_band` loads as."""
    return [np.frombuffer(bytearray(RAW), np.uint8)]


VALUES = _values(_out_of_band)
EXPECTED = _values(_as_loaded)
CONTAINERS = {"dict": DICT, "list": LIST, "tuple": TUPLE, "value": NOT_SPLIT}
#: The objects of each loaded value that must be one (shared across entries: pickled in one
#: part, referred to from another).
SHARED: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "dict": lambda v: (v["again"], v["twice"]),
    "list": lambda v: (v[1], v[3][0]),
    "tuple": lambda v: (v[0], v[2]["a"]),
    "value": lambda v: (v["again"], v["twice"]),
}


class Parsed(NamedTuple):
    """An indexed stream as its bytes say it: the stream, its index, where the index starts."""

    stream: bytes
    index: Index
    index_offset: int


def _dump(path: Path, value: Any, **options: Any) -> Path:
    brinery.dump(value, path, index=True, **options)
    return path


def _stream_of(data: bytes) -> bytes:
    """The uncompressed brinery stream in a file's bytes (decompressed by brinery's reader)."""
    if data.startswith(STREAM_MAGIC):
        return data
    compressor = registry().detect(data[:16])
    assert compressor is not None
    source = Source(io.BytesIO(data))
    reader = open_decompressed_reader(compressor, source, threads=1, max_bytes=None)
    out, chunk = bytearray(), bytearray(1 << 20)
    while got := reader.readinto(chunk):
        out += chunk[:got]
    reader.finish()
    reader.close()
    return bytes(out)


def _parsed(data: bytes) -> Parsed:
    """The stream in ``data``, its index decoded from its X record's bytes."""
    stream = _stream_of(data)
    _, headers = record_headers(stream)
    x = next(header for header in headers if header.kind == INDEX_RECORD)
    start = x.start - RECORD_HEADER.size
    return Parsed(stream, decode(stream[x.start : x.start + x.size], start), start)


def _record_starts(stream: bytes) -> list[tuple[int, int, int, int, int]]:
    """Each record of ``stream``, in order, as ``(header offset, kind, padding, flags,
    reserved)`` (:func:`record_headers` gives where payloads start, not headers)."""
    flags, headers = record_headers(stream)
    found, offset = [], STREAM_HEADER.size
    for header in headers:
        padding = header.start - offset - RECORD_HEADER.size
        found.append((offset, header.kind, padding, header.flags, header.element_size))
        offset = header.start + header.size
        offset += RECORD_DIGEST.size if flags & CHECKSUMS_FLAG else 0
    return found


def _check_index(data: bytes) -> Parsed:
    """Check the index of the indexed file ``data`` against its own bytes: the header says
    indexed, the parts are contiguous from the header to the X record and begin at records,
    the records listed are the A and B records, the frames decompress to the stream before the
    X record, and the end record locates the index."""
    parsed = _parsed(data)
    stream, index, x_start = parsed
    _, _, minor, flags, _ = STREAM_HEADER.unpack_from(stream)
    assert (minor, flags & INDEXED_FLAG) == (FORMAT_MINOR, INDEXED_FLAG)
    starts = _record_starts(stream)
    record_offsets = {offset for offset, *_ in starts}
    position = STREAM_HEADER.size
    for part in index.parts:
        assert part.start == position
        assert part.start in record_offsets
        position = part.end
    assert position == x_start
    headers = record_headers(stream)[1]
    memory = [
        (offset, header.size, kind, padding, flags, reserved)
        for (offset, kind, padding, flags, reserved), header in zip(starts, headers, strict=True)
        if kind in (ARRAY_RECORD, BUFFER_RECORD)
    ]
    assert [tuple(record) for record in index.records] == memory
    _check_frames(data, parsed)
    end = headers[-1]
    assert end.kind == END_RECORD
    located, frame_end = END_LOCATOR.unpack(stream[end.start : end.start + end.size])
    assert located == x_start
    last = index.frames[-1] if index.frames else None
    assert frame_end == (last.compressed_offset + last.compressed_size if last else 0)
    return parsed


def _check_frames(data: bytes, parsed: Parsed) -> None:
    """Each frame the index lists decompresses alone to the stream's bytes from its offset to
    the next frame's (the last: to the X record, which starts a frame)."""
    stream, index, x_start = parsed
    if data.startswith(STREAM_MAGIC):
        assert index.frames == ()
        return
    compressor = registry().detect(data[:16])
    assert compressor is not None
    if not index.frames:  # (a single-stream codec: lzma)
        return
    ends = [frame.uncompressed_offset for frame in index.frames[1:]] + [x_start]
    for frame, end in zip(index.frames, ends, strict=True):
        decompressor = compressor.new_decompressor()
        start = frame.compressed_offset
        out = decompressor.decompress(data[start : start + frame.compressed_size])
        assert decompressor.eof
        assert not decompressor.unused_data
        assert out == stream[frame.uncompressed_offset : end]


def _part_pickles(parsed: Parsed) -> list[bytes]:
    """Each part's pickle bytes (its P payloads, joined)."""
    headers = record_headers(parsed.stream)[1]
    starts = _record_starts(parsed.stream)
    return [
        b"".join(
            parsed.stream[header.start : header.start + header.size]
            for (offset, kind, *_), header in zip(starts, headers, strict=True)
            if kind == PICKLE_RECORD and part.start <= offset < part.end
        )
        for part in parsed.index.parts
    ]


def _check_converted(source: Path, target: Path, name: str) -> Parsed:
    """``target``, converted from ``source``, loads exactly, keeps sharing across entries, has
    an index matching its bytes and the same parts as ``source``."""
    loaded = brinery.load(target)
    assert_same(loaded, EXPECTED[name])
    first, second = SHARED[name](loaded)
    assert first is second
    before, after = _parsed(source.read_bytes()), _check_index(target.read_bytes())
    assert after.index.container == before.index.container == CONTAINERS[name]
    assert [p.memo_start for p in after.index.parts] == [p.memo_start for p in before.index.parts]
    assert _part_pickles(after) == _part_pickles(before)
    assert len(after.index.records) == len(before.index.records)
    for old, new in zip(before.index.records, after.index.records, strict=True):
        assert (old.length, old.kind) == (new.length, new.kind)
    return after


def _suffix(compress: Any) -> str:
    return {False: "", "zlib": ".z", "gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}.get(
        compress, f".{compress}"
    )


# -- every value, every codec ---------------------------------------------------------------------


@pytest.mark.parametrize("checksums", [True, False])
@pytest.mark.parametrize("target_codec", TARGETS, ids=lambda c: c or "none")
@pytest.mark.parametrize("name", list(VALUES))
def test_each_value_converts_into_each_codec(
    tmp_path: Path, name: str, target_codec: Any, checksums: bool
) -> None:
    """From a gzip file of byte-shuffled records: a compressed target keeps them filtered, an
    uncompressed one unfilters them (the index lists the new flags)."""
    source = _dump(tmp_path / "source.brn.gz", VALUES[name], shuffle="byte")
    target = tmp_path / "target.brn"
    convert(source, target, target_codec, checksums=checksums)
    parsed = _check_converted(source, target, name)
    assert bool(STREAM_HEADER.unpack_from(parsed.stream)[3] & CHECKSUMS_FLAG) == checksums
    arrays = [record for record in parsed.index.records if record.kind == ARRAY_RECORD]
    assert {record.flags != 0 for record in arrays} == {bool(target_codec)}


@pytest.mark.parametrize("target_codec", CODECS, ids=lambda c: c or "none")
@pytest.mark.parametrize("source_codec", CODECS, ids=lambda c: c or "none")
def test_between_codecs(tmp_path: Path, source_codec: Any, target_codec: Any) -> None:
    source = _dump(tmp_path / f"source.brn{_suffix(source_codec)}", VALUES["dict"])
    target = tmp_path / f"target.brn{_suffix(target_codec)}"
    convert(source, target, threads=2)
    _check_converted(source, target, "dict")


def test_the_index_moves_with_the_records(tmp_path: Path) -> None:
    """Checksums added: every record after the first moves (8 bytes each), array records' padding
    changes, and the parts and records listed move with them."""
    source = _dump(tmp_path / "source.brn", VALUES["list"], checksums=False)
    target = tmp_path / "target.brn"
    convert(source, target, False, checksums=True)
    before, after = _parsed(source.read_bytes()), _check_converted(source, target, "list")
    assert [p.start for p in before.index.parts] != [p.start for p in after.index.parts]
    assert [r.padding for r in before.index.records] != [r.padding for r in after.index.records]


# -- what comes out --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compress", "checksums"), [(False, None), (False, False), ("xz", None), ("zlib", True)]
)
def test_the_result_is_what_dump_writes_with_the_same_settings(
    tmp_path: Path, compress: Any, checksums: bool | None
) -> None:
    value = VALUES["dict"]
    source = _dump(tmp_path / "source.brn.gz", value)
    converted, dumped = tmp_path / "converted.bin", tmp_path / "dumped.bin"
    convert(source, converted, compress, checksums=checksums)
    _dump(dumped, value, compress=compress, checksums=checksums)
    assert converted.read_bytes() == dumped.read_bytes()


def test_converting_back_gives_the_same_file(tmp_path: Path) -> None:
    original = _dump(tmp_path / "original.brn", VALUES["tuple"])
    convert(original, tmp_path / "there.brn.bz2")
    convert(tmp_path / "there.brn.bz2", tmp_path / "back.brn")
    _check_converted(original, tmp_path / "back.brn", "tuple")
    assert (tmp_path / "back.brn").read_bytes() == original.read_bytes()


def test_a_chain_of_conversions_keeps_the_object(tmp_path: Path) -> None:
    source = _dump(tmp_path / "start.brn.gz", VALUES["dict"], shuffle="bit")
    first = source
    for step, compress in enumerate(["xz", False, "bz2", "zlib", "lzma", "gzip", False]):
        target = tmp_path / f"step-{step}.bin"
        convert(source, target, compress, threads=2)
        _check_converted(first, target, "dict")
        source = target


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_an_unindexed_file_stays_unindexed(tmp_path: Path, compress: Any) -> None:
    source = tmp_path / "source.brn.xz"
    brinery.dump(VALUES["dict"], source, index=False)
    target = tmp_path / "target.brn"
    convert(source, target, compress)
    assert_same(brinery.load(target), EXPECTED["dict"])
    stream = _stream_of(target.read_bytes())
    _, _, minor, flags, _ = STREAM_HEADER.unpack_from(stream)
    assert (minor, flags & INDEXED_FLAG) == (UNINDEXED_MINOR, 0)
    assert INDEX_RECORD not in {header.kind for header in record_headers(stream)[1]}


def test_progress_is_reported(tmp_path: Path) -> None:
    source = _dump(tmp_path / "source.brn", VALUES["list"])
    seen: list[tuple[int, int]] = []
    convert(source, tmp_path / "out.brn.gz", on_progress=lambda *report: seen.append(report))
    size = source.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# -- zstd and LZ4: seek tables ---------------------------------------------------------------------


@pytest.fixture(params=["zstd", "lz4"])
def plugin_codec(request: pytest.FixtureRequest) -> str:
    """A hinted codec, its plugin registered here if not loaded (registry_guard undoes it)."""
    name: str = request.param
    plugin = pytest.importorskip(f"brinery_{name}", reason=f"brinery-{name} is not installed")
    if name not in brinery.compressors():
        plugin.register_compressors(
            lambda compressor, force=False: brinery.register_compressor(
                compressor.name, compressor, force=force
            )
        )
    return name


@pytest.mark.parametrize("name", ["dict", "value"])
def test_hinted_codecs_get_a_new_index_and_seek_table(
    tmp_path: Path, plugin_codec: str, name: str
) -> None:
    source = _dump(tmp_path / "source.brn.gz", VALUES[name])
    target = tmp_path / "target.brn"
    convert(source, target, plugin_codec, threads=2)
    assert target.read_bytes().endswith(SEEK_TABLE_MAGIC)
    parsed = _check_converted(source, target, name)
    assert len(parsed.index.frames) > 1
    back = tmp_path / "back.brn.xz"
    convert(target, back)
    _check_converted(source, back, name)


# -- damage ----------------------------------------------------------------------------------------


def test_a_part_that_does_not_begin_at_a_record_is_refused(tmp_path: Path) -> None:
    """The index is checked when read, but not that parts begin where records do: a load
    never needs it, a conversion does (and leaves the target as it was)."""
    source = _dump(tmp_path / "source.brn", {"a": [1, 2], "b": BIG}, checksums=False)
    data = bytearray(source.read_bytes())
    index, x_start = _parsed(bytes(data))[1:]
    rows = x_start + RECORD_HEADER.size + 24
    moved = index.parts[1].start + 8
    data[rows + 8 : rows + 16] = moved.to_bytes(8, "little")  # part 0's end
    data[rows + 24 : rows + 32] = moved.to_bytes(8, "little")  # part 1's start
    source.write_bytes(bytes(data))
    brinery.load(source)  # (loads: parts are read in turn)
    target = tmp_path / "target.brn.gz"
    target.write_bytes(b"previous content")
    refused = r"part 0 \(.*\) does not begin and end where records do"
    with pytest.raises(brinery.CorruptFileError, match=refused):
        convert(source, target)
    assert target.read_bytes() == b"previous content"


def test_copy_records_refuses_to_drop_or_invent_an_index() -> None:
    indexed = io.BytesIO()
    brinery.dump([1], indexed, index=True)
    with pytest.raises(ValueError, match="indexed stream"):
        copy_records(StreamReader(io.BytesIO(indexed.getvalue())), StreamWriter(io.BytesIO()))
    plain = io.BytesIO()
    brinery.dump([1], plain, index=False)
    writer = StreamWriter(io.BytesIO(), indexed=True)
    with pytest.raises(ValueError, match="indexed stream"):
        copy_records(StreamReader(io.BytesIO(plain.getvalue())), writer)


# -- brinery bench ---------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0, 1 << 20])
@pytest.mark.parametrize("compress", [False, "gzip"])
def test_bench_samples_an_indexed_file_as_an_unindexed_stream(
    tmp_path: Path, compress: Any, budget: int
) -> None:
    """The sample (records of the file's P, A and B records) leaves the index out: it only
    said where the file's own records lie.  The trials copy and read it back."""
    path = _dump(tmp_path / f"data.brn{_suffix(compress)}", VALUES["list"])
    sample = sample_file(path, budget, threads=1)
    _, _, minor, flags, _ = STREAM_HEADER.unpack_from(sample.stream)
    assert (minor, flags & INDEXED_FLAG) == (UNINDEXED_MINOR, 0)
    kinds = {header.kind for header in record_headers(sample.stream)[1]}
    assert INDEX_RECORD not in kinds
    assert ARRAY_RECORD in kinds
    if not budget:
        assert kinds == {PICKLE_RECORD, ARRAY_RECORD, BUFFER_RECORD, END_RECORD}
    assert sample.whole == (budget == 0)
    gzip = brinery.compressors()["gzip"]
    for candidate in [Candidate("none", None), Candidate("gzip", Compression(gzip, 3))]:
        assert trial(sample.stream, candidate, 1).size > 0


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_convert_adds_an_index_to_an_older_file(tmp_path: Path, compress: Any) -> None:
    """An unindexed file (or a joblib one) becomes indexed: loaded, and dumped anew."""
    source = tmp_path / "old.brn"
    value = {"weights": np.arange(300_000.0), "names": ["a", "b"]}
    brinery.dump(value, source, index=False)
    target = tmp_path / "new.brn"
    convert(source, target, compress, add_index=True)
    assert_same(brinery.load(target), value)
    with brinery.open(target) as opened:
        if not compress:  # (gzip has no seek table: read through)
            assert opened.index is not None
        assert opened.keys() == ["weights", "names"]
        np.testing.assert_array_equal(opened.array('["weights"]')[10:12], [10.0, 11.0])


def test_the_command_adds_an_index(tmp_path: Path) -> None:
    from brinery.cli import main

    source = tmp_path / "old.brn"
    brinery.dump({"a": np.arange(10)}, source, index=False)
    assert main(["convert", "--index", str(source), str(tmp_path / "new.brn")]) == 0
    with brinery.open(tmp_path / "new.brn") as opened:
        assert opened.index is not None
