"""How a dump cuts the pickle into P records: gathered into records of about 1 MiB.

The C pickler hands its output over in 64 KiB frames; a record per frame cost an object-heavy
load a header, a checksum and a hand-over to the unpickler each (3,451 records for 256 MiB of
small dicts).  Gathered, the same file has a few hundred, and loads as it did, exactly.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    END_RECORD,
    INDEX_RECORD,
    PICKLE_RECORD,
)
from brinery.format.writer import PICKLE_RECORD_BYTES
from brinery.testing import assert_same, dumps, loads, record_headers


def _records(value: Any, **options: Any) -> list[Any]:
    return record_headers(dumps(value, **options))[1]


def _many_small_dicts(count: int) -> list[dict[str, Any]]:
    return [
        {"weights": np.arange(100.0) + i, "id": i, "name": f"row {i}", "meta": {"n": i}}
        for i in range(count)
    ]


@pytest.mark.parametrize("checksums", [True, False])
def test_small_objects_share_records_of_about_a_mebibyte(checksums: bool) -> None:
    value = _many_small_dicts(6000)  # about 5 MiB of pickle, in 64 KiB frames
    records = _records(value, checksums=checksums)
    pickle_sizes = [r.size for r in records if r.kind == PICKLE_RECORD]
    pickled = len(pickle.dumps(value, protocol=5))
    assert abs(sum(pickle_sizes) - pickled) < pickled // 100  # (the arrays' reducer differs)
    # Each record but the last is full but for less than one more 64 KiB frame.
    full = range(PICKLE_RECORD_BYTES - 70_000, PICKLE_RECORD_BYTES + 1)
    assert all(size in full for size in pickle_sizes[:-1])
    assert 0 < pickle_sizes[-1] <= PICKLE_RECORD_BYTES
    assert_same(loads(dumps(value, checksums=checksums)), value)


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
def test_an_array_record_ends_the_pickle_record_before_it(index: bool) -> None:
    """Pickle output handed over before an array is written before the array's record (the
    stream keeps the pickler's order); what the pickler still held comes after.  Indexed, each
    entry is a part of its own (docs/format.md, section 5.5), after the dict's keys: "before"'s
    records end where the part of "big" begins, with its array record."""
    big = np.arange(200_000.0)  # 1.6 MB: an A record
    value = {"before": [f"item {i}" for i in range(20_000)], "big": big, "after": ["y"] * 10}
    records = _records(value, index=index)
    kinds = [r.kind for r in records]
    if index:
        # keys, "before", "big" (its array, then what the pickler held), "after", the dict
        pickled, ends = [PICKLE_RECORD] * 2, [INDEX_RECORD, END_RECORD]
        assert kinds == [*pickled, ARRAY_RECORD, PICKLE_RECORD, *pickled, *ends]
        assert records[1].size > 65536  # the frames of "before"
    else:
        assert kinds == [PICKLE_RECORD, ARRAY_RECORD, PICKLE_RECORD, END_RECORD]
        assert records[0].size > 65536  # the frames of "before"
    assert_same(loads(dumps(value, index=index)), value)


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_a_large_payload_is_a_record_of_its_own(kind: type) -> None:
    payload = kind(np.random.default_rng(1).integers(0, 256, 3 << 20, dtype=np.uint8))
    value = ["small", payload, "small again"]
    records = _records(value)
    sizes = [r.size for r in records if r.kind == PICKLE_RECORD]
    assert len(payload) in sizes  # written as it is, not gathered (nor copied into a buffer)
    loaded = loads(dumps(value))
    assert type(loaded[1]) is kind
    assert loaded[1] == payload
    assert loaded[::2] == value[::2]


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
def test_buffer_records_end_the_pickle_record_before_them(index: bool) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    array = pyarrow.array(np.arange(100_000, dtype=np.int64))
    value = {"before": [f"item {i}" for i in range(20_000)], "arrow": array, "tail": "t"}
    kinds = [r.kind for r in _records(value, index=index)]
    if index:  # (the dict's keys first, and its parts' index last: section 5.5)
        assert kinds[:2] == [PICKLE_RECORD, PICKLE_RECORD]
        assert kinds[2] == BUFFER_RECORD
        assert kinds[-3:] == [PICKLE_RECORD, INDEX_RECORD, END_RECORD]
    else:
        assert kinds[0] == PICKLE_RECORD
        assert kinds[1] == BUFFER_RECORD
        assert kinds[-2:] == [PICKLE_RECORD, END_RECORD]
    assert loads(dumps(value, index=index)) == value


def test_a_file_of_64_kib_records_still_loads() -> None:
    """Files written before the gathering (one P record per pickler frame) load the same."""
    value = _many_small_dicts(2000)
    stream = io.BytesIO()
    from brinery.format import writer

    original = writer.PICKLE_RECORD_BYTES
    writer.PICKLE_RECORD_BYTES = 1  # every piece of output its own record, as brinery 0.1 did
    try:
        brinery.dump(value, stream)
    finally:
        writer.PICKLE_RECORD_BYTES = original
    records = record_headers(stream.getvalue())[1]
    assert sum(r.kind == PICKLE_RECORD for r in records) > 20
    assert_same(brinery.load(io.BytesIO(stream.getvalue())), value)
