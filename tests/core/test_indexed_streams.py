"""Indexed streams (format 1.4, ``dump(index=True)``): parts, the index record, the end locator.

A top-level dict, list or tuple is pickled entry by entry, one part each, then the container,
which refers to the entries through the pickler's memo; an index record says where each part
and each array record lies (docs/format.md, section 5.5).  Here: every load mode rebuilds the
object exactly (shared objects across entries included), the index says what the stream holds,
and a damaged or hostile index, end locator or part is refused clearly.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import brinery
from brinery.api import inspect_file
from brinery.format.index import DICT, LIST, NOT_SPLIT, TUPLE, Index, decode
from brinery.format.layout import (
    END_LOCATOR,
    END_RECORD,
    FORMAT_MINOR,
    INDEX_RECORD,
    INDEXED_FLAG,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    UNINDEXED_MINOR,
)
from brinery.parts import MAX_SPLIT_ENTRIES
from brinery.testing import assert_same, load_limited, record_headers

BIG = np.arange(200_000.0)  # an array record of its own (1.6 MB)


def _dumps(value: Any, **options: Any) -> bytes:
    buffer = io.BytesIO()
    brinery.dump(value, buffer, index=True, **options)
    return buffer.getvalue()


def _loads(data: bytes, **options: Any) -> Any:
    return brinery.load(io.BytesIO(data), **options)


def _index_of(data: bytes) -> tuple[Index, int]:
    """The index of an uncompressed indexed stream, and where its record starts."""
    headers = record_headers(data)[1]
    index_header = next(h for h in headers if h.kind == INDEX_RECORD)
    start = index_header.start - RECORD_HEADER.size
    return decode(data[index_header.start : index_header.start + index_header.size], start), start


def _values() -> list[Any]:
    shared = {"shared": np.arange(5)}
    return [
        {"weights": BIG, "bias": np.ones(3), "name": "model", "again": shared, "twice": shared},
        [BIG, "text", 3, None, [1, 2]],
        (BIG, {"a": 1}, 2.5),
        {},
        [],
        (),
        {"only": 1},
        "not a container",
        np.arange(12.0).reshape(3, 4),
    ]


@pytest.mark.parametrize("checksums", [True, False])
@pytest.mark.parametrize("number", range(len(_values())))
def test_every_value_loads_exactly(number: int, checksums: bool) -> None:
    value = _values()[number]
    data = _dumps(value, compress=False, checksums=checksums)
    assert_same(_loads(data), value)
    assert_same(_loads(data, trusted=[]), value)


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_compressed_indexed_streams_load_exactly(compress: str) -> None:
    value = _values()[0]
    assert_same(_loads(_dumps(value, compress=compress)), value)


def test_an_object_in_two_entries_is_one_object_again() -> None:
    shared = [1, 2, 3]
    array = np.arange(100_000.0)
    loaded = _loads(_dumps({"a": shared, "b": shared, "c": array, "d": [array]}))
    assert loaded["a"] is loaded["b"]
    assert loaded["d"][0] is loaded["c"]
    assert len(record_headers(_dumps({"c": array, "d": [array]}))[1]) > 0


def test_the_header_says_indexed_and_1_4_and_unindexed_stays_1_3() -> None:
    default = io.BytesIO()
    brinery.dump([1], default)
    assert default.getvalue() == _dumps([1])  # (indexed is the default)
    indexed = _dumps([1])
    _magic, _major, minor, flags, _ = STREAM_HEADER.unpack_from(indexed)
    assert (minor, flags & INDEXED_FLAG) == (FORMAT_MINOR, INDEXED_FLAG) == (4, INDEXED_FLAG)
    plain = io.BytesIO()
    brinery.dump([1], plain, index=False)
    _magic, _major, minor, flags, _ = STREAM_HEADER.unpack_from(plain.getvalue())
    assert (minor, flags & INDEXED_FLAG) == (UNINDEXED_MINOR, 0)


@pytest.mark.parametrize(
    ("value", "container", "parts"),
    [
        ({"a": 1, "b": BIG}, DICT, 4),
        ([BIG, 2], LIST, 3),
        ((1, BIG), TUPLE, 3),
        ({}, DICT, 2),
        ("x", NOT_SPLIT, 1),
        (list(range(MAX_SPLIT_ENTRIES + 1)), NOT_SPLIT, 1),
    ],
)
def test_the_index_lists_parts_and_records(value: Any, container: int, parts: int) -> None:
    data = _dumps(value, compress=False)
    index, start = _index_of(data)
    assert index.container == container
    assert len(index.parts) == parts
    assert index.parts[0].start == STREAM_HEADER.size
    assert index.parts[-1].end == start
    assert [p.memo_start for p in index.parts] == sorted(p.memo_start for p in index.parts)
    arrays = [h for h in record_headers(data)[1] if h.kind in (ord("A"), ord("B"))]
    assert [r.payload_offset for r in index.records] == [h.start for h in arrays]
    assert index.frames == ()
    # The end record locates the index.
    end = next(h for h in record_headers(data)[1] if h.kind == END_RECORD)
    assert END_LOCATOR.unpack_from(data, end.start) == (start, 0)


def test_each_entry_part_holds_its_own_arrays() -> None:
    first, second = np.arange(150_000.0), np.arange(160_000.0)
    index, _ = _index_of(_dumps({"first": first, "second": second}))
    assert [len(index.records_of(index.entry_part(n))) for n in range(index.entries)] == [1, 1]
    assert index.records_of(index.entry_part(1))[0].length == second.nbytes


def test_info_and_mapped_loads_see_the_container(tmp_path: Path) -> None:
    path = tmp_path / "model.brn"
    value = {"model": {"coef_": BIG}, "names": ["a", "b"]}
    path.write_bytes(_dumps(value, compress=False))
    found = inspect_file(path)
    assert [(a.path, a.shape) for a in found.arrays] == [('["model"]["coef_"]', BIG.shape)]
    mapped = brinery.load(path, mmap_mode="r")
    assert isinstance(mapped["model"]["coef_"], np.memmap)
    np.testing.assert_array_equal(mapped["model"]["coef_"], BIG)


def test_dump_index_must_be_a_bool() -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="index must be True or False"):
        brinery.dump(1, io.BytesIO(), index="yes")


# -- damaged and hostile streams -----------------------------------------------------------------


def _unchecked(value: Any = None) -> bytearray:
    return bytearray(_dumps({"a": [1, 2], "b": BIG} if value is None else value, checksums=False))


def test_a_damaged_index_is_refused() -> None:
    data = _unchecked()
    _, start = _index_of(bytes(data))
    data[start + RECORD_HEADER.size + 8] ^= 0x01  # the part count
    with pytest.raises(brinery.CorruptFileError, match="index record is damaged"):
        _loads(bytes(data))


def test_an_index_listing_other_records_is_refused() -> None:
    data = _unchecked()
    index, start = _index_of(bytes(data))
    rows = start + RECORD_HEADER.size + 24 + 24 * len(index.parts)
    struct.pack_into("<Q", data, rows + 8, index.records[0].length - 8)  # a record's length
    with pytest.raises(brinery.CorruptFileError, match="does not list the array and buffer"):
        _loads(bytes(data))


def test_an_end_record_locating_something_else_is_refused() -> None:
    data = _unchecked()
    struct.pack_into("<Q", data, len(data) - END_LOCATOR.size, 16)
    with pytest.raises(brinery.CorruptFileError, match="locates the index at byte 16"):
        _loads(bytes(data))


def test_with_checksums_a_damaged_index_is_a_checksum_mismatch() -> None:
    data = bytearray(_dumps({"a": 1}, compress=False, checksums=True))
    headers = record_headers(bytes(data))[1]
    index_header = next(h for h in headers if h.kind == INDEX_RECORD)
    data[index_header.start + 30] ^= 0x40
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        _loads(bytes(data))


def _stream(records: list[tuple[int, bytes]], flags: int = INDEXED_FLAG) -> bytes:
    """A checksummed stream of the given records, written by hand."""
    header = STREAM_HEADER.pack(b"\x89BRN\r\n\x1a\n", 1, 4, flags | 1, 0)
    out = bytearray(header)
    for kind, payload in records:
        head = RECORD_HEADER.pack(kind, 0, 0, 0, len(payload))
        covered = (header if kind == END_RECORD else b"") + head + payload
        out += head + payload + RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(covered))
    return bytes(out)


def test_an_index_record_in_a_stream_that_does_not_say_indexed_is_refused() -> None:
    data = _stream([(ord("P"), b"\x80\x05K\x01."), (INDEX_RECORD, b""), (END_RECORD, b"")], 0)
    with pytest.raises(brinery.CorruptFileError, match="index record where it cannot be"):
        _loads(data)


def test_an_indexed_stream_without_its_index_is_refused() -> None:
    data = _stream([(ord("P"), b"\x80\x05]\x94K\x01a."), (END_RECORD, bytes(16))])
    with pytest.raises(brinery.CorruptFileError, match="no index record came before it"):
        _loads(data)


def test_a_part_that_is_not_a_wrapper_is_refused() -> None:
    """Every part returns a one-item list; a part returning anything else is damage."""
    data = _stream([(ord("P"), b"\x80\x05K\x01."), (END_RECORD, bytes(16))])
    with pytest.raises(brinery.CorruptFileError, match="not the one-item list"):
        _loads(data)


def test_an_index_declaring_a_huge_size_allocates_nothing_first() -> None:
    """A pipe cannot say its size: the index's declared 2**40 bytes are refused before any
    allocation, under a 1 GiB address-space limit."""
    part = b"\x80\x05]\x94K\x01a."
    head = RECORD_HEADER.pack(INDEX_RECORD, 0, 0, 0, 1 << 40)
    header = STREAM_HEADER.pack(b"\x89BRN\r\n\x1a\n", 1, 4, INDEXED_FLAG, 0)
    data = header + RECORD_HEADER.pack(ord("P"), 0, 0, 0, len(part)) + part + head
    result = load_limited(data, pipe=True)
    assert result.error == "CorruptFileError", result
    assert "more than an index may hold" in result.message


@pytest.mark.parametrize("part", [1, 2])
def test_parts_whose_memo_does_not_grow_are_refused(part: int) -> None:
    """Each part memoizes its wrapper at least: a part starting at the memo index of the one
    before it would let a part read alone ask itself for what it makes."""
    data = _unchecked({"a": 1, "b": 2})
    index, start = _index_of(bytes(data))
    row = start + RECORD_HEADER.size + 24 + 24 * part
    struct.pack_into("<Q", data, row + 16, index.parts[part - 1].memo_start)
    with pytest.raises(brinery.CorruptFileError, match="does not follow the part before it"):
        _loads(bytes(data))
