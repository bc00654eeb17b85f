"""``brinery.open``: one entry, or one slice of one array, of an indexed file, without the rest.

Each entry loads exactly as ``load`` built it (checked against ``load``), slices equal numpy's,
only the bytes that hold them are read, files without an index answer the same by reading
through, and a damaged or lying index is refused clearly.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import END_LOCATOR, INDEX_RECORD, RECORD_HEADER
from brinery.testing import CountingFile, assert_same, record_headers

MATRIX = np.arange(60_000.0).reshape(3_000, 20)  # 480 kB: an array record


class _Model:
    def __init__(self) -> None:
        self.coef_ = np.arange(300_000.0).reshape(1_000, 300)
        self.name = "lin"


def _value() -> dict[str, Any]:
    shared = {"vocabulary": ["a", "b"], "weights": np.ones(70_000)}
    return {
        "matrix": MATRIX,
        "fortran": np.asfortranarray(MATRIX[:, :10]),
        "numbers": [1, 2.5, "three", None, (4, 5)],
        "shared_first": shared,
        "shared_again": shared,
        "small": np.arange(10, dtype=np.int16),
        "ints": np.arange(100_000, dtype=np.int32),
        "model": {"coef_": np.arange(200_000.0).reshape(2_000, 100), "name": "lin"},
    }


def _file(tmp_path: Path, value: Any, **options: Any) -> Path:
    path = tmp_path / "value.brn"
    brinery.dump(value, path, index=True, **options)
    return path


@pytest.mark.parametrize("checksums", [True, False])
def test_each_entry_is_what_load_builds(tmp_path: Path, checksums: bool) -> None:
    path = _file(tmp_path, _value(), compress=False, checksums=checksums)
    whole = brinery.load(path)
    with brinery.open(path) as opened:
        assert opened.container == "dict"
        assert len(opened) == len(whole)
        assert opened.keys() == list(whole)
        assert list(opened) == list(whole)
        assert "matrix" in opened
        for key in whole:
            assert_same(opened[key], whole[key])
        assert_same(opened.load(), whole)
        with pytest.raises(KeyError):
            opened["missing"]


def test_shared_objects_stay_one_object_within_what_is_loaded(tmp_path: Path) -> None:
    with brinery.open(_file(tmp_path, _value())) as opened:
        again = opened["shared_again"]
        assert again["vocabulary"] == ["a", "b"]
        np.testing.assert_array_equal(again["weights"], np.ones(70_000))
        assert again is opened["shared_again"]  # (read once from the part that made it)


@pytest.mark.parametrize("container", [list, tuple])
def test_lists_and_tuples_by_position(tmp_path: Path, container: type) -> None:
    value = container([MATRIX, "x", {"k": 1}])
    with brinery.open(_file(tmp_path, value)) as opened:
        assert opened.container == container.__name__
        assert len(opened) == 3
        assert opened.keys() == [0, 1, 2]
        assert_same(opened[0], MATRIX)
        assert opened[-2] == "x"
        assert [type(item) for item in opened] == [np.ndarray, str, dict]
        with pytest.raises(IndexError):
            opened[3]
        with pytest.raises(TypeError, match="indices must be integers"):
            opened["0"]


def test_in_asks_what_it_asks_of_the_container(tmp_path: Path) -> None:
    with brinery.open(_file(tmp_path, ["x", {"k": 1}, 3])) as opened:
        assert "x" in opened
        assert {"k": 1} in opened
        assert "y" not in opened
    with brinery.open(_file(tmp_path, {"a": 1})) as opened:
        assert "a" in opened
        assert 1 not in opened  # (a dict's keys, not its values)


def test_a_value_that_is_not_a_container(tmp_path: Path) -> None:
    with brinery.open(_file(tmp_path, MATRIX)) as opened:
        assert opened.container == "value"
        assert_same(opened.load(), MATRIX)
        lazy = opened.array("")
        np.testing.assert_array_equal(lazy[5:9], MATRIX[5:9])


@pytest.mark.parametrize(
    "key",
    [
        5,
        -1,
        slice(10, 20),
        slice(None, None, 7),
        slice(None, None, -3),
        slice(2990, 4000),
        slice(20, 10),
        (4, slice(2, 5)),
        (slice(0, 3), 1),
    ],
)
def test_slices_of_a_lazy_array_are_numpys(tmp_path: Path, key: Any) -> None:
    with brinery.open(_file(tmp_path, _value())) as opened:
        lazy = opened.array('["matrix"]')
        assert (lazy.shape, lazy.dtype, lazy.ndim) == (MATRIX.shape, MATRIX.dtype, 2)
        assert len(lazy) == 3000
        np.testing.assert_array_equal(lazy[key], MATRIX[key])


def test_whole_arrays_and_other_orders(tmp_path: Path) -> None:
    value = _value()
    with brinery.open(_file(tmp_path, value)) as opened:
        np.testing.assert_array_equal(np.asarray(opened.array('["matrix"]')), MATRIX)
        fortran = opened.array('["fortran"]')
        np.testing.assert_array_equal(fortran[3:7], value["fortran"][3:7])
        np.testing.assert_array_equal(opened.array('["ints"]')[-5:], np.arange(99_995, 100_000))
        nested = opened.array('["model"]["coef_"]')
        np.testing.assert_array_equal(nested[100], value["model"]["coef_"][100])
        small = opened.array('["small"]')  # inside the pickle: loaded with its entry
        np.testing.assert_array_equal(small, value["small"])
        with pytest.raises(KeyError, match="no array at"):
            opened.array('["nothing"]')


def test_an_entry_reads_only_its_own_bytes() -> None:
    big = {f"block{i}": np.full((1000, 125), i, dtype=np.float64) for i in range(40)}  # 40 MB
    buffer = io.BytesIO()
    brinery.dump(big, buffer, index=True)
    counting = CountingFile(buffer.getvalue())
    opened = brinery.open(counting)
    opened_bytes = counting.bytes_read
    entry = opened["block17"]
    assert entry[0, 0] == 17
    assert opened_bytes < 20_000
    assert counting.bytes_read - opened_bytes < 1_100_000  # the entry's 1 MB and a few records
    before = counting.bytes_read
    rows = opened.array('["block31"]')[10:12]
    np.testing.assert_array_equal(rows, np.full((2, 125), 31.0))
    assert counting.bytes_read - before < 40_000  # its pickle, and 2 kB of rows


def test_files_without_an_index_answer_the_same(tmp_path: Path) -> None:
    value = _value()
    for options in ({"index": False}, {"index": True, "compress": "lzma"}):
        path = tmp_path / "plain.brn"
        brinery.dump(value, path, **options)
        with brinery.open(path) as opened:
            assert opened.index is None
            assert opened.keys() == list(value)
            assert_same(opened["model"], value["model"])
            np.testing.assert_array_equal(opened.array('["matrix"]')[3], MATRIX[3])


def test_trusted_applies_to_entries(tmp_path: Path) -> None:
    path = _file(tmp_path, {"plain": [1, 2], "model": _Model()})
    with brinery.open(path, trusted=[]) as opened:
        assert opened["plain"] == [1, 2]
        with pytest.raises(brinery.UntrustedTypesError, match="_Model"):
            opened["model"]
    with brinery.open(path, trusted=[_Model]) as opened:
        assert opened["model"].name == "lin"


def test_a_file_that_cannot_seek_is_refused() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(brinery.InvalidArgumentError, match="cannot seek"):
        brinery.open(Pipe())


def test_urls_through_fsspec() -> None:
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://random/access.brn", "wb") as file:
        brinery.dump(_value(), file, index=True)
    with brinery.open("memory://random/access.brn") as opened:
        assert_same(opened["model"], _value()["model"])
        np.testing.assert_array_equal(opened.array('["matrix"]')[7], MATRIX[7])


# -- damaged and lying files ----------------------------------------------------------------------


def _dumped(value: Any = None) -> bytearray:
    buffer = io.BytesIO()
    brinery.dump(_value() if value is None else value, buffer, index=True, checksums=False)
    return bytearray(buffer.getvalue())


def test_an_end_record_locating_nothing_is_refused() -> None:
    data = _dumped()
    struct.pack_into("<Q", data, len(data) - END_LOCATOR.size, 100)
    with pytest.raises(brinery.CorruptFileError, match="locates the index at byte 100"):
        brinery.open(io.BytesIO(bytes(data)))


def test_a_damaged_index_is_refused_on_open() -> None:
    data = _dumped()
    index = next(h for h in record_headers(bytes(data))[1] if h.kind == INDEX_RECORD)
    data[index.start + 8] ^= 0x02  # the part count
    with pytest.raises(brinery.CorruptFileError, match="index record is damaged"):
        brinery.open(io.BytesIO(bytes(data)))


def test_a_checksummed_index_is_checked_on_open() -> None:
    buffer = io.BytesIO()
    brinery.dump({"a": 1}, buffer, index=True, checksums=True)
    data = bytearray(buffer.getvalue())
    index = next(h for h in record_headers(bytes(data))[1] if h.kind == INDEX_RECORD)
    data[index.start + 26] ^= 0x01
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        brinery.open(io.BytesIO(bytes(data)))


def test_an_index_lying_about_a_part_is_found_when_it_is_read() -> None:
    """Parts must end where their pickle does: a part made to end one record late (the next
    part's first record moved into it) is refused when read alone."""
    data = _dumped({"a": [1, 2], "b": "text", "c": 3.5})
    index = next(h for h in record_headers(bytes(data))[1] if h.kind == INDEX_RECORD)
    rows = index.start + 24
    # Part 1 ("a") made one byte shorter: its pickle ends past the window.
    end = struct.unpack_from("<Q", data, rows + 24 + 8)[0]
    struct.pack_into("<Q", data, rows + 24 + 8, end - 1)
    struct.pack_into("<Q", data, rows + 48, end - 1)
    with brinery.open(io.BytesIO(bytes(data))) as opened, pytest.raises(brinery.BrineryError):
        opened["a"]
    assert RECORD_HEADER.size == 16
