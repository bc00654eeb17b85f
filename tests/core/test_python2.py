"""Pickles written by Python 2 (brinery.python2): a clear error, and ``load(encoding=)``.

The pickle is made here as Python 2.7 wrote it at protocol 2 (what joblib used there): its
``str`` as ``SHORT_BINSTRING``/``BINSTRING`` bytes, numpy arrays as numpy 1.x reduced them under
Python 2 (``numpy.core.multiarray._reconstruct(ndarray, (0,), 'b')``, the dtype's flags as the
ints 0 and 1, the array's data a ``str``).
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

PYTHON2_MESSAGE = (
    r"the file was written by Python 2: its pickle holds a Python 2 str \(bytes\) that is not "
    r"ASCII text\. Load it with encoding='latin1' \(Python 2 str come back as str, numpy arrays "
    r"as they were\) or encoding='bytes' \(every Python 2 str comes back as bytes\)"
)


def py2_str(data: bytes) -> bytes:
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING
    return b"T" + struct.pack("<i", len(data)) + data  # BINSTRING


def py2_unicode(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def py2_array(array: np.ndarray) -> bytes:
    """A 1-d array as numpy pickled it under Python 2."""
    order, code = array.dtype.str[0], array.dtype.str[1:]
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + b"K\x00\x85" + py2_str(b"b") + b"\x87R"
        + b"(K\x01" + b"M" + struct.pack("<H", array.shape[0]) + b"\x85"
        + b"cnumpy\ndtype\n" + py2_str(code.encode()) + b"K\x00K\x01\x87R"
        + b"(K\x03" + py2_str(order.encode()) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89" + py2_str(array.tobytes()) + b"tb"
    )  # fmt: skip


ARRAY = np.array([1.5, -2.0, 3.25, 1e300, -0.0])  # bytes that are not ASCII
PAYLOAD = (
    b"\x80\x02}("
    + py2_str(b"text") + py2_str("café".encode("latin-1"))
    + py2_str(b"unicode") + py2_unicode("été ✓")
    + py2_str(b"array") + py2_array(ARRAY)
    + py2_str(b"big") + py2_array(np.arange(100, dtype=">i4"))
    + py2_str(b"number") + b"K\x03"
    + b"u."
)  # fmt: skip


def test_the_pickle_is_what_python_2_wrote() -> None:
    """(The test's own pickle, checked against Python's pickle reading Python 2's.)"""
    value = pickle.loads(PAYLOAD, encoding="latin1")
    assert value["text"] == "café"
    np.testing.assert_array_equal(value["array"], ARRAY)


@pytest.mark.parametrize("trusted", [None, []], ids=["trusted", "safe"])
def test_a_python_2_pickle_says_how_to_load_it(trusted: Any, tmp_path: Path) -> None:
    """Not "the pickle data is invalid": a ValueError (as joblib's) that names encoding=."""
    with pytest.raises(brinery.UnsupportedVersionError, match=PYTHON2_MESSAGE) as caught:
        brinery.load(io.BytesIO(PAYLOAD), trusted=trusted)
    assert isinstance(caught.value, ValueError)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("trusted", [None, []], ids=["trusted", "safe"])
def test_encoding_latin1_loads_it_exactly(trusted: Any, assert_same: Any) -> None:
    expected = {
        "text": "café",
        "unicode": "été ✓",
        "array": ARRAY,
        "big": np.arange(100, dtype="=i4"),  # native: a joblib file's default
        "number": 3,
    }
    assert_same(brinery.load(io.BytesIO(PAYLOAD), trusted=trusted, encoding="latin1"), expected)
    # numpy itself swaps its own arrays into native order when it unpickles them (before
    # protocol 5): as pickle.loads(PAYLOAD, encoding="latin1") does, whatever the option
    as_pickle = pickle.loads(PAYLOAD, encoding="latin1")
    assert as_pickle["big"].dtype == np.dtype("=i4")
    stored = brinery.load(
        io.BytesIO(PAYLOAD), trusted=trusted, encoding="latin1", ensure_native_byte_order=False
    )
    assert_same(stored, as_pickle)


@pytest.mark.parametrize("trusted", [None, []], ids=["trusted", "safe"])
def test_encoding_bytes_keeps_python_2_str_as_bytes(trusted: Any, assert_same: Any) -> None:
    expected = {
        b"text": "café".encode("latin-1"),
        b"unicode": "été ✓",
        b"array": ARRAY,
        b"big": np.arange(100, dtype="=i4"),
        b"number": 3,
    }
    assert_same(brinery.load(io.BytesIO(PAYLOAD), trusted=trusted, encoding="bytes"), expected)


def test_python_2_pickles_read_as_data() -> None:
    assert brinery.untrusted_types(io.BytesIO(PAYLOAD)) == []


@pytest.mark.parametrize("encoding", ["klingon", b"latin1", None])
def test_unknown_encodings_are_refused(encoding: Any) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="encoding"):
        brinery.load(io.BytesIO(PAYLOAD), encoding=encoding)
