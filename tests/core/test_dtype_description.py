"""dtypes from files are read as data and rebuilt by brinery (brinery.dtype_description)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from brinery import CorruptFileError
from brinery.dtype_description import (
    MAX_NESTING,
    DtypeDescription,
    build,
    describe_pickled,
    describe_string,
    element_count,
)

REAL_DTYPES = [
    "<f8", ">i2", "|b1", "<c16", "|S3", "<U5", ">U2", "|V8", "|V0", "<M8[D]", ">m8[10s]",
    "<M8", "<f2", "<u8", "|i1", "<f16",
    [("a", "<i4"), ("b", "S3")],
    [("id", "<i4"), ("pos", ">f8", (2, 3))],
    ("<f8", (2, 3)),
    [("nested", [("x", "<i2"), ("y", "|u1")]), ("z", "<U3")],
]


def _description_of(dtype: np.dtype) -> DtypeDescription:
    """What the unpickler sees: numpy's pickle of ``dtype``, its dtypes as descriptions."""
    _, (code, _, _), state = dtype.__reduce__()
    if code is np.record:
        code = "record"
    state = list(state)
    if state[2] is not None:
        state[2] = (_description_of(state[2][0]), state[2][1])
    if state[4] is not None:
        state[4] = {
            name: (_description_of(entry[0]), *entry[1:]) for name, entry in state[4].items()
        }
    return describe_pickled(code, tuple(state))


def _all_dtypes() -> list[np.dtype]:
    found = [np.dtype(spec) for spec in REAL_DTYPES]
    found += [
        np.dtype([("a", "<i4"), ("b", "<f8")], align=True),
        np.dtype({"names": ["a"], "formats": ["<i4"], "offsets": [4], "itemsize": 12,
                  "titles": ["A title"]}),
        np.dtype((np.record, [("a", "<i4"), ("b", "<f8")])),
        np.dtype("<f8", metadata={"unit": "m", "scale": 2}),
    ]
    return found


@pytest.mark.parametrize("dtype", _all_dtypes(), ids=str)
def test_numpy_pickles_of_real_dtypes_are_rebuilt_identically(dtype: np.dtype) -> None:
    rebuilt = build(_description_of(dtype))
    assert rebuilt == dtype
    assert rebuilt.__reduce__() == dtype.__reduce__()
    assert rebuilt.isalignedstruct == dtype.isalignedstruct
    assert rebuilt.metadata == dtype.metadata


@pytest.mark.parametrize("dtype", [np.dtype(spec) for spec in REAL_DTYPES[:16]], ids=str)
def test_dtype_strings_are_read_as_numpy_writes_them(dtype: np.dtype) -> None:
    description = describe_string(dtype.str)
    assert description.dtype_str == dtype.str
    assert description.name == dtype.name
    assert build(description) == dtype


def _state(**changes: Any) -> tuple[Any, ...]:
    """numpy's state for dtype([('a', '<f8')]) with some items changed."""
    f8 = describe_string("<f8")
    items = {"version": 3, "order": "|", "subarray": None, "names": ("a",),
             "fields": {"a": (f8, 0)}, "itemsize": 8, "alignment": 1, "flags": 16}
    items.update(changes)
    return tuple(items.values())


HOSTILE_STATES = {
    "field past the item": (_state(fields={"a": (describe_string("<f8"), 4096)}),
                            "a field of 8 bytes at offset 4096 in a 8-byte item"),
    "field straddling the end": (_state(fields={"a": (describe_string("<f8"), 1)}),
                                 "at offset 1 in a 8-byte item"),
    "negative offset": (_state(fields={"a": (describe_string("<f8"), -8)}), "offset -8"),
    "field that is a numpy dtype": (_state(fields={"a": (np.dtype("O"), 0)}),
                                    "a field that is not (dtype, offset[, title])"),
    "names and fields disagree": (_state(names=("a", "b")),
                                  "a field name that is not a string of the fields"),
    "subarray larger than the item": (
        _state(names=None, fields=None, subarray=(describe_string("<f8"), (1000,))),
        "a subarray of 1000 items of 8 bytes declared as 8 bytes"),
    "subarray with a negative dimension": (
        _state(names=None, fields=None, subarray=(describe_string("<f8"), (-1,))),
        "a subarray shape with a dimension out of range"),
    "huge item": (_state(itemsize=1 << 40), "a structured item size out of range"),
    "not a tuple": ({"a": 1}, "a state of dict where numpy writes an 8- or 9-tuple"),
    "unknown version": (_state(version=7), "an unknown dtype state version"),
    "byte order": (_state(order="x"), "a state whose byte order, size or flags"),
    "metadata of objects": ((*_state(), {"f": object()}), "dtype metadata that is not plain"),
}


@pytest.mark.parametrize("name", list(HOSTILE_STATES))
def test_inconsistent_states_are_refused(name: str) -> None:
    state, message = HOSTILE_STATES[name]
    with pytest.raises(CorruptFileError, match="the file describes an invalid dtype: .*"
                       + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        describe_pickled("V8", state)


@pytest.mark.parametrize(
    ("code", "state", "message"),
    [
        ("O8", (3, "|", None, None, None, -1, -1, 63), "an unknown type code"),
        ("f8", (3, "<", None, None, None, 4, -1, 0), "a f8 state declaring 4-byte items"),
        ("f3", (3, "<", None, None, None, -1, -1, 0), "f3 is not a numpy type"),
        ("U4", (3, "<", None, None, None, 7, 4, 8), "U items of 7 bytes"),
        ("f8", (3, "|", None, None, None, -1, -1, 0), "byte order '|' for f8"),
        ("M8", (4, "<", None, None, None, -1, -1, 0, (None, (b"D", 1, 7, 1))),
         "a datetime unit with a denominator or events"),
        ("M8", (4, "<", None, None, None, -1, -1, 0, (None, (b"parsec", 1, 1, 1))),
         "a M8 with an invalid unit"),
        ("f8", (3, "<", None, ("a",), None, -1, -1, 0), "fields or a subarray on a dtype"),
    ],
)
def test_simple_dtype_states_are_checked(code: str, state: Any, message: str) -> None:
    with pytest.raises(CorruptFileError) as caught:
        describe_pickled(code, state)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text", ["|O", "O", "<O8", "f8", "<f8 ", "<i3", "|V99999999999", "<M8[D", "<f8[D]", 3, b"<f8"]
)
def test_strings_that_are_not_plain_dtypes_are_refused(text: Any) -> None:
    with pytest.raises(CorruptFileError, match="invalid dtype"):
        describe_string(text)


@pytest.mark.parametrize(
    ("shape", "itemsize", "count"),
    [((), 8, 1), ((0,), 8, 0), ((3, 4), 8, 12), ((1 << 20,), 0, 1 << 20)],
)
def test_element_counts(shape: tuple[int, ...], itemsize: int, count: int) -> None:
    assert element_count(shape, itemsize) == count


@pytest.mark.parametrize(
    ("shape", "itemsize", "message"),
    [
        ([3], 8, "an array shape that is a list"),
        ((-1,), 8, "an invalid dimension"),
        ((True,), 8, "an invalid dimension"),
        ((1 << 62,), 8, "an invalid dimension"),
        ((1 << 31, 1 << 31), 8, "elements of 8 bytes: too many"),
        ((1 << 25,), 0, "an array of 33554432 elements of 0 bytes: too many"),
        ((1,) * 65, 8, "an array shape that is a tuple"),
    ],
)
def test_element_counts_are_bounded(shape: Any, itemsize: int, message: str) -> None:
    with pytest.raises(CorruptFileError, match=message):
        element_count(shape, itemsize)


def test_nesting_of_dtypes_is_bounded() -> None:
    description = describe_string("<f8")
    for _ in range(MAX_NESTING - 1):
        description = describe_pickled("V8", _state(fields={"a": (description, 0)}))
    assert build(description).itemsize == 8
    with pytest.raises(CorruptFileError, match="dtypes nested more than 16 levels deep"):
        describe_pickled("V8", _state(fields={"a": (description, 0)}))
