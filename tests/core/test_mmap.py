"""``load(path, mmap_mode=...)``: every array of plain memory in an uncompressed file comes back as
an ``np.memmap`` of the very file, small ones included; ``"r+"`` writes reach the file, which
keeps loading; what cannot be mapped warns and loads, as joblib does."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import brinery
from brinery.api import convert, inspect_file
from brinery.format.layout import (
    CHANGED_RECORD_FLAG,
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    INDEXED_FLAG,
    MAPPED_WRITABLE_FLAG,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
)

JOBLIB_FIXTURES = Path(__file__).parent.parent / "fixtures" / "joblib"


def _matrix(rows: Any) -> np.matrix[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(rows)


def _value() -> dict[str, Any]:
    """Arrays of every kind: in records (64 KiB and more) and inside the pickle."""
    read_only = np.frombuffer(bytes(range(256)) * 400, dtype=np.uint8)
    small_read_only = np.arange(5, dtype="<i2")
    small_read_only.flags.writeable = False
    shared = np.arange(4, dtype=np.int16)
    return {
        "c": np.arange(1 << 17, dtype="<f8").reshape(256, 512),  # 1 MiB: an array record
        "f": np.asfortranarray(np.arange(120_000, dtype=">i4").reshape(300, 400)),
        "read_only": read_only,
        "small": np.arange(10),  # inside the pickle
        "small_f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "small_read_only": small_read_only,
        "zero_d": np.array(7.5),
        "empty": np.zeros((0, 20_000)),
        "record": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "text": np.array(["ab", "cde"]),
        "dates": np.arange("2020-01-01", "2020-01-04", dtype="datetime64[D]"),
        "bools": np.array([True, False, True]),
        "masked": np.ma.MaskedArray(np.arange(5.0), mask=[0, 1, 0, 0, 1]),
        "matrix": _matrix([[1, 2], [3, 4]]),
        "objects": np.array([1, "a", None], dtype=object),
        "shared": [shared, shared],
        "label": "mapped",
    }


#: The arrays that map as ``np.memmap`` (the others: a subclass over mapped memory, objects).
MEMMAPS = ["c", "f", "read_only", "small", "small_f", "small_read_only", "zero_d", "empty",
           "record", "text", "dates", "bools"]  # fmt: skip
READ_ONLY = {"read_only", "small_read_only"}


@pytest.fixture
def mapped_file(tmp_path: Path) -> Path:
    path = tmp_path / "mapped.pkl"
    brinery.dump(_value(), path)
    return path


def _file_bytes_of(array: np.memmap, path: Path) -> bytes:
    """The bytes of the file where ``array`` says it lies."""
    with open(path, "rb") as file:
        file.seek(array.offset)
        return file.read(array.nbytes)


def _memory_bytes(array: np.ndarray) -> bytes:
    """An array's memory, in the order it lies in."""
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    return np.asarray(array).tobytes(order=order)


def _assert_maps(array: Any, original: np.ndarray, path: Path) -> None:
    """``array`` is an ``np.memmap`` of ``path`` holding ``original``'s values, where it says."""
    assert type(array) is np.memmap
    assert array.filename == str(path.resolve())
    assert array.dtype.str == original.dtype.str
    assert array.dtype == original.dtype
    assert array.shape == original.shape
    assert array.flags.f_contiguous == original.flags.f_contiguous
    assert _memory_bytes(array) == _memory_bytes(original)
    assert _file_bytes_of(array, path) == _memory_bytes(original)


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
def test_every_array_comes_back_as_a_memmap_of_the_file(mode: str, mapped_file: Path) -> None:
    original = _value()
    loaded = brinery.load(mapped_file, mmap_mode=mode)
    for key in MEMMAPS:
        _assert_maps(loaded[key], original[key], mapped_file)
        assert loaded[key].flags.writeable is (mode != "r" and key not in READ_ONLY), key
        assert loaded[key].mode == ("r" if key in READ_ONLY else mode)
    for key in ("c", "f", "read_only"):  # array records: 64-byte aligned in the file
        assert loaded[key].offset % 64 == 0
        assert loaded[key].ctypes.data % 64 == 0
    _assert_maps(loaded["shared"][0], original["shared"][0], mapped_file)
    assert loaded["shared"][0] is loaded["shared"][1]
    # a masked array's data and mask, a subclass's memory: mapped too
    _assert_maps(loaded["masked"].data, original["masked"].data, mapped_file)
    _assert_maps(loaded["masked"]._mask.base, original["masked"].mask, mapped_file)  # (a view)
    assert type(loaded["matrix"]) is np.matrix
    _assert_maps(loaded["matrix"].base, np.asarray(original["matrix"]), mapped_file)
    # object arrays cannot be mapped: as in an ordinary load
    assert type(loaded["objects"]) is np.ndarray
    assert loaded["objects"].tolist() == [1, "a", None]
    assert loaded["label"] == "mapped"


def test_one_map_per_access_for_all_the_arrays(mapped_file: Path) -> None:
    """Not one map per array: 200,000 small arrays would pass the kernel's limit on maps."""
    for mode, maps in (("r", 1), ("r+", 2), ("c", 2)):  # (read-only arrays: a read-only map)
        loaded = brinery.load(mapped_file, mode)
        found = {id(loaded[key]._mmap) for key in MEMMAPS}
        assert len(found) == maps, mode


def test_the_safe_load_maps_the_same(mapped_file: Path) -> None:
    original = _value()
    loaded = brinery.load(mapped_file, "r+", trusted=["numpy.matrix"])
    for key in MEMMAPS:
        _assert_maps(loaded[key], original[key], mapped_file)
    _assert_maps(loaded["matrix"].base, np.asarray(original["matrix"]), mapped_file)


def _arrays_to_change(value: dict[str, Any]) -> Iterator[np.ndarray]:
    """Every writable array of :func:`_value` (a masked array's data and mask included)."""
    for key in MEMMAPS:
        if key not in READ_ONLY and value[key].size:
            yield value[key]
    yield value["shared"][0]
    yield value["masked"].data
    yield value["masked"]._mask
    yield np.asarray(value["matrix"])


def _change(array: np.ndarray) -> None:
    """Change every item in place (to values of its dtype that load: valid text, 0/1 bools)."""
    if array.dtype.kind == "U":
        array[...] = "z"
    elif array.dtype.kind == "b":
        np.logical_not(array, out=array)
    elif array.dtype.kind == "M":
        array += 1
    else:
        flat = array.reshape(-1, order="A").view(np.uint8)  # (a view: bytes of any dtype)
        flat[:] = 255 - flat


@pytest.mark.parametrize("trusted", [None, ["numpy.matrix"]], ids=["trusted", "safe"])
def test_r_plus_writes_reach_the_file_which_still_loads(
    trusted: Any, mapped_file: Path, assert_same: Any
) -> None:
    expected = _value()
    for _ in range(2):  # twice: the second load finds the records already flagged
        written = brinery.load(mapped_file, "r+", trusted=trusted)
        for array in _arrays_to_change(written):
            _change(array)
        del written
        for array in _arrays_to_change(expected):
            _change(array)
        assert_same(brinery.load(mapped_file), expected)
        assert_same(brinery.load(mapped_file, trusted=["numpy.matrix"]), expected)


def test_c_writes_stay_in_memory(mapped_file: Path, assert_same: Any) -> None:
    before = mapped_file.read_bytes()
    written = brinery.load(mapped_file, "c")
    for array in _arrays_to_change(written):
        _change(array)
    assert mapped_file.read_bytes() == before


class _Record(NamedTuple):
    start: int
    kind: int
    flags: int
    payload: int  # where it starts
    size: int


def _records(data: bytes) -> tuple[int, list[_Record]]:
    """The stream header's flags and every record, flags included (checksums not checked)."""
    flags = STREAM_HEADER.unpack_from(data)[3]
    offset, found = STREAM_HEADER.size, []
    while True:
        kind, padding, record_flags, _, size = RECORD_HEADER.unpack_from(data, offset)
        payload = offset + RECORD_HEADER.size + padding
        found.append(_Record(offset, kind, record_flags, payload, size))
        offset = payload + size + (RECORD_DIGEST.size if flags & CHECKSUMS_FLAG else 0)
        if kind == END_RECORD:
            return flags, found


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
def test_r_plus_flags_the_records_it_maps_writable(index: bool, mapped_file: Path) -> None:
    """Before mapping a record writable, the load flags it in the file: its checksum no longer
    applies.  Records holding only read-only arrays, or no array, keep theirs."""
    brinery.dump(_value(), mapped_file, index=index)
    indexed = INDEXED_FLAG if index else 0
    before = mapped_file.read_bytes()
    flags, records = _records(before)
    assert flags == CHECKSUMS_FLAG | indexed
    assert not any(record.flags for record in records)
    loaded = brinery.load(mapped_file, "r+")
    after = mapped_file.read_bytes()  # (flagged during the load, before any array is written)
    flags, records = _records(after)
    assert flags == CHECKSUMS_FLAG | indexed | MAPPED_WRITABLE_FLAG
    flagged = {record.start for record in records if record.flags == CHANGED_RECORD_FLAG}
    assert all(record.flags in (0, CHANGED_RECORD_FLAG) for record in records)

    def holder(array: np.memmap) -> int:
        return next(r.start for r in records if r.payload <= array.offset < r.payload + r.size)

    writable = [loaded[key] for key in ("c", "f", "small", "small_f")]
    assert {holder(array) for array in writable} <= flagged
    assert holder(loaded["read_only"]) not in flagged
    # only those flag bytes changed
    changed = np.flatnonzero(np.frombuffer(before, np.uint8) != np.frombuffer(after, np.uint8))
    assert changed.tolist() == sorted([10, *(start + 2 for start in flagged)])
    assert inspect_file(mapped_file).arrays  # (brinery info reads it)
    healed = mapped_file.with_suffix(".healed")
    convert(mapped_file, healed)  # a new file: fresh checksums, no flags
    assert healed.read_bytes() == before


def test_damage_is_still_detected_where_a_checksum_applies(mapped_file: Path) -> None:
    written = brinery.load(mapped_file, "r+")
    written["c"][0, 0] = -1.0
    read_only_at = written["read_only"].offset
    del written
    data = bytearray(mapped_file.read_bytes())
    data[read_only_at + 5] ^= 1  # the read-only array's record: not flagged, still checked
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        brinery.load(mapped_file)
    data[read_only_at + 5] ^= 1
    data[10] &= ~MAPPED_WRITABLE_FLAG  # record flags without the stream's flag: damage
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match=r"record header at byte .* is damaged"):
        brinery.load(mapped_file)


def test_damage_outside_the_arrays_is_still_detected(mapped_file: Path) -> None:
    data = bytearray(mapped_file.read_bytes())
    data[data.index(b"mapped")] ^= 0x20
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        brinery.load(mapped_file, mmap_mode="r")


@pytest.mark.parametrize("mode", ["r", "r+"])
@pytest.mark.parametrize("swap", ["renamed over", "symlink"])
def test_the_maps_are_of_the_file_opened(
    mode: str, swap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is replaced between its opening and its mapping: every array maps the file that
    was opened (and "r+" writes never reach the newcomer)."""
    path, other = tmp_path / "model.pkl", tmp_path / "other.pkl"
    brinery.dump(_value(), path)
    brinery.dump({key: np.zeros_like(array) for key, array in _value().items()
                  if type(array) is np.ndarray}, other)  # fmt: skip
    newcomer = other.read_bytes()
    made = brinery.mapping.FileMapping.__init__

    def swapped(self: Any, *args: Any) -> None:
        made(self, *args)
        if swap == "symlink":
            path.unlink()
            path.symlink_to(other)
        else:
            os.replace(other, path)

    monkeypatch.setattr(brinery.mapping.FileMapping, "__init__", swapped)
    loaded = brinery.load(path, mode)
    original = _value()
    for key in MEMMAPS:
        assert _memory_bytes(loaded[key]) == _memory_bytes(original[key]), key
    if mode == "r+":
        for array in _arrays_to_change(loaded):
            _change(array)
    del loaded
    assert path.read_bytes() == newcomer


def test_small_arrays_of_every_protocol_from_3(tmp_path: Path) -> None:
    """Protocols 3 and 4 pickle a small array's data as ``bytearray(bytes)``, 5 as a bytearray:
    mapped alike.  Before 3, as text (latin-1): loaded into memory."""
    value = {"small": np.arange(6, dtype="<i4"), "small_read_only": _value()["small_read_only"]}
    for protocol in range(6):
        path = tmp_path / f"protocol-{protocol}.pkl"
        brinery.dump(value, path, protocol=protocol)
        loaded = brinery.load(path, "r+")
        for key, original in value.items():
            if protocol >= 3:
                _assert_maps(loaded[key], original, path)
            else:
                assert type(loaded[key]) is np.ndarray
                assert _memory_bytes(loaded[key]) == _memory_bytes(original)


class _OwnReduction(np.ndarray):
    """An ndarray subclass with its own reduction: numpy's own pickle inside brinery's stream."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.view(np.ndarray).__reduce_ex__(protocol)


def test_numpy_pickles_in_the_stream_map_too(tmp_path: Path) -> None:
    """numpy's ``_frombuffer`` over a buffer record (large) or a bytearray in the pickle."""
    value = {
        "large": np.arange(20_000.0).view(_OwnReduction),
        "small": np.arange(3.0).view(_OwnReduction),
        "large_read_only": np.arange(30_000.0).view(_OwnReduction),
        "small_read_only": np.arange(4.0).view(_OwnReduction),
    }
    for key in ("large_read_only", "small_read_only"):
        value[key].flags.writeable = False  # (READONLY_BUFFER after the buffer record)
    path = tmp_path / "numpy.pkl"
    brinery.dump(value, path)
    loaded = brinery.load(path, "r+")
    for key, original in value.items():
        _assert_maps(loaded[key], original.view(np.ndarray), path)
        assert loaded[key].flags.writeable is not key.endswith("read_only"), key


def test_numpy_pickles_of_a_plain_pickle_file(tmp_path: Path) -> None:
    """A plain pickle (protocol 5): numpy's ``_frombuffer`` over its in-band bytes, mapped; at
    protocol 4 numpy pickles through ``_reconstruct``: loaded into memory."""
    value = {"a": np.arange(7, dtype="<u2"), "b": np.ones((2, 2))}
    for protocol, mapped in ((5, True), (4, False)):
        path = tmp_path / f"plain-{protocol}.pkl"
        path.write_bytes(__import__("pickle").dumps(value, protocol=protocol))
        loaded = brinery.load(path, "r")
        for key, original in value.items():
            if mapped:
                _assert_maps(loaded[key], original, path)
            else:
                assert type(loaded[key]) is np.ndarray
                np.testing.assert_array_equal(loaded[key], original)


def test_a_payload_across_two_pickle_records_loads_in_memory(tmp_path: Path, dumps: Any) -> None:
    """brinery never writes one, but a valid file may: its array is read, not mapped.  (An
    unindexed file: the split record, made by hand, moves every record after it, which an
    index would have to say.)"""
    data = dumps({"a": np.arange(1000, 1040)}, compress=False, checksums=False, index=False)
    _, records = _records(data)
    pickled = next(record for record in records if record.kind == PICKLE_RECORD)
    cut = pickled.payload + pickled.size - 100  # inside the array's 320 bytes
    head = RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, cut - pickled.payload)
    tail = RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, pickled.payload + pickled.size - cut)
    split = data[: pickled.start] + head + data[pickled.payload : cut] + tail + data[cut:]
    path = tmp_path / "split.pkl"
    path.write_bytes(split)
    loaded = brinery.load(path, "r")
    assert type(loaded["a"]) is np.ndarray
    np.testing.assert_array_equal(loaded["a"], np.arange(1000, 1040))


class _InBand:
    """Pickles as the file's own call of ``array_in_band``, with the arguments given."""

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> Any:
        return (brinery.rebuild.array_in_band, self.args)


@pytest.mark.parametrize("trusted", [None, []], ids=["trusted", "safe"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("<f8", (10,), "C", bytearray(16)), "needs 80 bytes, but its data has 16"),
        (("|O", (2,), "C", bytearray(16)), "object dtypes are never loaded"),
        (("<f8", (-3,), "C", bytearray(16)), "array shape with an invalid dimension"),
        (("<U1", (1,), "C", bytearray(b"\xff" * 4)), "not Unicode"),
    ],
    ids=["size", "objects", "shape", "text"],
)
def test_mapped_in_band_arrays_are_checked_as_loaded_ones(
    args: Any, message: str, trusted: Any, tmp_path: Path
) -> None:
    path = tmp_path / "crafted.pkl"
    brinery.dump({"a": _InBand(*args)}, path)
    for mode in (None, "r"):
        with pytest.raises(brinery.CorruptFileError, match=message):
            brinery.load(path, mode, trusted=trusted)


class _Refuses:
    """An object whose own ``__setstate__`` raises."""

    def __setstate__(self, state: Any) -> None:
        raise ValueError("refused by the object")


def test_damage_and_the_objects_own_errors_as_in_an_ordinary_load(
    tmp_path: Path, dumps: Any
) -> None:
    """A mapped load runs the pure-Python unpickler: what damage makes it raise (an unknown
    opcode is a KeyError there) is CorruptFileError, even without checksums; an exception of
    the object's own code comes out as it is."""
    path = tmp_path / "damaged.pkl"
    data = bytearray(dumps({"a": np.arange(3), "b": "text"}, compress=False, checksums=False))
    data[data.index(b"text") - 2] = 0xFF  # an opcode that does not exist
    path.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match="the pickle data is corrupt: KeyError"):
        brinery.load(path, "r")
    refusing = _Refuses()
    refusing.__dict__["x"] = 1
    brinery.dump([np.arange(2), refusing], path)
    for mode in (None, "r"):
        with pytest.raises(ValueError, match="refused by the object"):
            brinery.load(path, mode)


def _warning_of(load: Any) -> tuple[Any, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = load()
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert caught[0].category is UserWarning
    assert caught[0].filename == __file__, "the warning points at the caller of load"
    return value, str(caught[0].message)


def test_what_cannot_be_mapped_warns_and_loads(mapped_file: Path, assert_same: Any) -> None:
    compressed = mapped_file.with_suffix(".gz")
    brinery.dump(_value(), compressed)
    cases = [
        (lambda: brinery.load(io.BytesIO(mapped_file.read_bytes()), "r"),
         "a file object cannot be mapped (give the file's path)"),
        (lambda: brinery.load(compressed, "r+"),
         "the file is compressed (dump it with compress=False to map it)"),
    ]  # fmt: skip
    for load, reason in cases:
        value, message = _warning_of(load)
        assert message == f"mmap_mode is ignored: {reason}; the arrays are loaded into memory"
        assert_same(value, _value())


def test_a_url_warns_and_loads(mapped_file: Path, assert_same: Any) -> None:
    fsspec = pytest.importorskip("fsspec")
    url = "memory://mmap/model.pkl"
    with fsspec.open(url, "wb") as file:
        file.write(mapped_file.read_bytes())
    value, message = _warning_of(lambda: brinery.load(url, "r"))
    assert "a URL cannot be mapped" in message
    assert_same(value, _value())


@pytest.mark.parametrize("mode", ["w+", "x", "readonly", 1, True])
def test_modes(mode: Any, mapped_file: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="mmap_mode must be 'r', 'r\\+', 'c'"):
        brinery.load(mapped_file, mmap_mode=mode)
    with pytest.raises(brinery.InvalidArgumentError, match="mmap_mode must be"):
        brinery.load(io.BytesIO(mapped_file.read_bytes()), mode)  # (checked before the rest)


def test_mmap_mode_is_the_second_argument_as_in_joblib(mapped_file: Path) -> None:
    assert type(brinery.load(mapped_file, "r")["small"]) is np.memmap
    with pytest.raises(TypeError):
        brinery.load(mapped_file, "r", 4)  # the rest is keyword-only


def _arrays(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in _arrays(item)]
    return []


@pytest.mark.parametrize("version", ["0.10.3", "0.11", "0.14.1", "1.1.1", "1.2.0", "1.6.0"])
def test_uncompressed_joblib_files_map_where_joblib_maps_them(version: str, tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "joblib.pkl"
    shutil.copyfile(JOBLIB_FIXTURES / f"joblib_{version}_0.pkl", path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = _arrays(joblib.load(path, mmap_mode="r"))
        joblib_warned = len(caught)
        caught.clear()
        loaded = _arrays(brinery.load(path, "r+"))
    aligned = version >= "1.2"
    assert joblib_warned == (0 if aligned else 5)
    assert [str(w.message)[:44] for w in caught] == (
        [] if aligned else ["arrays of this joblib file (written before j"]
    )
    assert len(loaded) == len(expected) == 6
    for mine, joblibs in zip(loaded, expected, strict=True):
        if joblibs.dtype.hasobject:  # a nested pickle: not mapped, by joblib either
            assert type(mine) is np.ndarray
            assert mine.tolist() == joblibs.tolist()
            continue
        mapped = mine.base if type(mine) is np.matrix else mine  # (joblib loses the matrix)
        assert type(mapped) is np.memmap
        assert type(joblibs) is np.memmap
        assert (mapped.offset, mapped.dtype.str, mapped.shape) == (
            joblibs.offset, joblibs.dtype.str, joblibs.shape
        )
        assert mine.flags.f_contiguous == joblibs.flags.f_contiguous
        assert _memory_bytes(mine) == _memory_bytes(joblibs)
        if mine.size:
            mapped.reshape(-1, order="A")[0] = 42  # r+: to the file
    del loaded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (joblib's own, of unaligned arrays)
        again = _arrays(joblib.load(path))
    changed = [array.reshape(-1, order="A")[0] for array in again if array.size]
    assert changed == [42, 42, 1, 42, 42]  # (the object array, read in memory, untouched)


def test_joblib_compressed_files_warn_and_load() -> None:
    value, message = _warning_of(
        lambda: brinery.load(JOBLIB_FIXTURES / "joblib_1.6.0_zlib.pkl.z", "r")
    )
    assert "the file is compressed" in message
    assert [type(array) for array in _arrays(value)] == [np.ndarray] * 3 + [np.matrix] + [
        np.ndarray
    ] * 2


class _NoTell(io.RawIOBase):
    """A pipe-like target: joblib >= 1.2 then writes no alignment padding."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.data += data
        return len(data)

    def tell(self) -> int:
        raise io.UnsupportedOperation


def test_joblib_files_written_to_a_pipe(tmp_path: Path) -> None:
    """joblib writes ``numpy_array_alignment_bytes=None`` and no padding byte."""
    joblib = pytest.importorskip("joblib")
    value = {"a": np.arange(5.0), "b": np.arange(7, dtype=np.int32)}
    target = _NoTell()
    joblib.dump(value, target)
    path = tmp_path / "piped.pkl"
    path.write_bytes(bytes(target.data))
    for mode in (None, "r"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (unaligned: mapped with a warning)
            loaded = brinery.load(path, mode)
        for key, original in value.items():
            assert type(loaded[key]) is (np.ndarray if mode is None else np.memmap)
            assert _memory_bytes(loaded[key]) == _memory_bytes(original)


def test_a_mapped_load_reads_no_array_data(tmp_path: Path) -> None:
    """200 MB of arrays: the load's peak memory stays small (nothing is read up front)."""
    path = tmp_path / "big.pkl"
    brinery.dump([np.ones((25, 1 << 20)), np.zeros(1 << 20)], path)
    code = """
        import sys, brinery
        def status(key):
            with open("/proc/self/status") as file:
                return next(int(line.split()[1]) for line in file if line.startswith(key))
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        before = status("VmRSS:")
        loaded = brinery.load(sys.argv[1], mmap_mode="r")
        print((status("VmHWM:") - before) // 1024, loaded[0].shape, float(loaded[0][-1, -1]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    peak_mib, *rest = done.stdout.split(maxsplit=1)
    assert rest == ["(25, 1048576) 1.0\n"]
    assert int(peak_mib) < 16, f"a mapped load of 208 MB took {peak_mib} MiB"


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
def test_the_rest_of_the_stream_header_is_still_checked(index: bool, mapped_file: Path) -> None:
    """The end record's checksum covers the stream header but for the flag an ``"r+"`` load
    sets: the header's other bytes stay checked."""
    brinery.dump(_value(), mapped_file, index=index)
    del brinery.load(mapped_file, "r+")["small"]
    data = bytearray(mapped_file.read_bytes())
    assert struct.unpack_from("<H", data, 10)[0] & MAPPED_WRITABLE_FLAG
    brinery.load(mapped_file)
    data[9] ^= 4  # the minor version
    mapped_file.write_bytes(bytes(data))
    end = _records(bytes(data))[1][-1].start  # (indexed, its payload is the index's locator)
    locator = END_LOCATOR.size if index else 0
    assert end == len(data) - RECORD_HEADER.size - locator - RECORD_DIGEST.size
    with pytest.raises(brinery.CorruptFileError, match=f"record at byte {end} .* checksum"):
        brinery.load(mapped_file)
