"""``load(ensure_native_byte_order=)`` (brinery.byte_order): joblib's option, for brinery's
files and joblib's, every array of the object included, in trusted and safe loads."""

from __future__ import annotations

import io
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

joblib = pytest.importorskip("joblib")

FOREIGN = ">" if sys.byteorder == "little" else "<"
NATIVE = "<" if FOREIGN == ">" else ">"


def foreign(code: str) -> str:
    return FOREIGN + code


def made_native(array: np.ndarray) -> np.ndarray:
    """What a native load gives: the same values, class, order and flags, native dtype."""
    result = array.astype(array.dtype.newbyteorder("="), order="K")
    result.flags.writeable = array.flags.writeable
    return result


def _sample() -> tuple[dict[str, Any], dict[str, Any]]:
    """An object full of foreign-order arrays, and what a native load must return."""
    big = np.arange(20_000, dtype=foreign("f8"))  # out of band in a brinery file
    read_only = np.arange(10, dtype=foreign("i4"))
    read_only.flags.writeable = False
    mixed = np.zeros(2, dtype=[("a", foreign("i4")), ("b", NATIVE + "f8")])
    value = {
        "big": big,
        "small": np.arange(5, dtype=foreign("i2")),  # inside the pickle
        "fortran": np.asfortranarray(np.arange(6, dtype=foreign("c16")).reshape(2, 3)),
        "struct": np.array([(1, 2.5)], dtype=[("a", foreign("i4")), ("b", foreign("f8"))]),
        "mixed": mixed,  # a structure mixing both orders: left as it is (joblib's rule)
        "text": np.array(["é", "xyz"], dtype=foreign("U3")),
        "dates": np.array([0, 1, 2], dtype=foreign("i8")).astype(foreign("M8[D]")),
        "matrix": np.arange(4, dtype=foreign("i8")).reshape(2, 2).view(np.matrix),
        "read_only": read_only,
        "shared": [big, big],  # one array twice: still one array
        "objects": np.array([np.arange(3, dtype=foreign("u2")), None], dtype=object),
        "native": np.arange(3.0),
    }
    kept = {
        "mixed": mixed,
        "objects": np.array([np.arange(3, dtype="=u2"), None], dtype=object),
        "native": value["native"],
    }
    expected: dict[str, Any] = {}
    for key, array in value.items():
        if key == "shared":
            expected[key] = [expected["big"], expected["big"]]
        else:
            expected[key] = kept[key] if key in kept else made_native(array)
    return value, expected


@pytest.mark.parametrize("trusted", [None, []], ids=["trusted", "safe"])
def test_brinery_files_keep_their_byte_order_unless_asked(
    trusted: Any, dumps: Any, assert_same: Any
) -> None:
    """brinery's own files: "auto" keeps what was dumped (a round trip is exact), True makes
    every array native, nested ones included, sharing kept."""
    value, expected = _sample()
    data = dumps(value)
    loaded = brinery.load(_reader(data), trusted=trusted)
    assert_same(loaded, value)
    assert_same(brinery.load(_reader(data), trusted=trusted, ensure_native_byte_order=False), value)
    native = brinery.load(_reader(data), trusted=trusted, ensure_native_byte_order=True)
    assert_same(native, expected)


def test_joblib_files_are_native_by_default_as_joblib_loads_them(
    tmp_path: Path, assert_same: Any
) -> None:
    """joblib's default ("auto": the arrays joblib wrote itself native unless mapped; those
    numpy pickled, inside object arrays, as pickle returns them); True: every array."""
    value, expected = _sample()
    for key in ("shared", "read_only"):  # (joblib writes an array once per reference, and
        del value[key], expected[key]  # loads arrays writable)
    path = tmp_path / "value.pkl"
    joblib.dump(value, path)
    assert_same(brinery.load(path, ensure_native_byte_order=True), expected)
    as_joblib = {**expected, "objects": value["objects"]}
    assert_same(brinery.load(path), as_joblib)
    by_joblib = joblib.load(path)
    for key in value:
        if key != "objects":
            assert by_joblib[key].dtype == as_joblib[key].dtype, key
    assert by_joblib["objects"][0].dtype == as_joblib["objects"][0].dtype
    assert_same(brinery.load(path, ensure_native_byte_order=False), value)
    safe = brinery.load(path, trusted=["numpy.matrixlib.defmatrix.matrix"])
    assert_same(safe, as_joblib)


def test_plain_pickles_load_as_pickle_loads_them(assert_same: Any) -> None:
    """"auto" leaves a plain pickle's arrays as pickle returns them (numpy itself makes its
    arrays native before protocol 5, not at 5); True makes them all native."""
    value = {"a": np.arange(4, dtype=foreign("i4"))}
    for protocol in (2, 4, 5):
        data = pickle.dumps(value, protocol=protocol)
        for trusted in (None, []):
            assert_same(brinery.load(_reader(data), trusted=trusted), pickle.loads(data))
            native = brinery.load(_reader(data), trusted=trusted, ensure_native_byte_order=True)
            assert_same(native, {"a": made_native(value["a"])})


def test_mapped_joblib_files_keep_their_byte_order(tmp_path: Path) -> None:
    path = tmp_path / "value.pkl"
    joblib.dump({"a": np.arange(10_000, dtype=foreign("f8"))}, path)
    mapped = brinery.load(path, mmap_mode="r")
    assert mapped["a"].dtype == np.dtype(foreign("f8"))
    assert brinery.load(path)["a"].dtype == np.dtype("f8")


@pytest.mark.parametrize("value", ["yes", 1, None, "AUTO"])
def test_invalid_choices_are_refused(value: Any, dumps: Any) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="must be True, False or 'auto'"):
        brinery.load(_reader(dumps(1)), ensure_native_byte_order=value)


def test_native_arrays_cannot_be_mapped(tmp_path: Path) -> None:
    """As joblib: a mapped array is the file's bytes (a ValueError, joblib's type too)."""
    path = tmp_path / "value.pkl"
    brinery.dump(np.arange(3), path)
    with pytest.raises(ValueError, match="cannot be used with mmap_mode"):
        brinery.load(path, mmap_mode="r", ensure_native_byte_order=True)
    assert type(brinery.load(path, mmap_mode="r", ensure_native_byte_order=False)) is np.memmap


def _reader(data: bytes) -> Any:
    return io.BytesIO(data)
