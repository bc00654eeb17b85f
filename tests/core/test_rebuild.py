"""The rebuild functions named in files: they must refuse whatever a damaged file describes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from brinery import CorruptFileError, rebuild


@pytest.mark.parametrize("data_type", [bytes, bytearray])
def test_in_band_array_is_a_view_of_the_pickled_data(data_type: type) -> None:
    data = data_type(np.arange(6, dtype="<i4").tobytes())
    rebuild.array_in_band("<i4", (1,), "C", bytes(4))  # the dtype is cached: the fast path runs

    result = rebuild.array_in_band("<i4", (2, 3), "C", data)

    assert result.dtype == np.dtype("<i4")
    np.testing.assert_array_equal(result, np.arange(6).reshape(2, 3))
    assert result.flags.writeable is (data_type is bytearray)
    if isinstance(data, bytearray):  # a view (no copy) holding an export on the bytearray
        data[:4] = (7).to_bytes(4, "little")
        assert result[0, 0] == 7
        with pytest.raises(BufferError):
            data.extend(b"x")  # resizing would free the array's memory


@pytest.mark.parametrize("warm", [True, False], ids=["fast path", "thorough path"])
def test_in_band_arrays_keep_their_bytearray_from_resizing(warm: bool) -> None:
    """The memo can hand the same bytearray to the caller too (issue 11)."""
    if warm:
        rebuild.array_in_band("<f8", (1,), "C", bytes(8))
    data = bytearray(np.arange(4.0).tobytes())
    result = rebuild.array_in_band("<f8" if warm else np.dtype("<f8"), (4,), "C", data)
    with pytest.raises(BufferError):
        data.clear()
    del result
    data.clear()  # the export ends with the array


def test_in_band_fortran_order() -> None:
    source = np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3))

    result = rebuild.array_in_band("<f8", (2, 3), "F", bytearray(source.tobytes(order="F")))

    assert result.flags.f_contiguous
    np.testing.assert_array_equal(result, source)


def test_in_band_data_from_another_buffer_type_takes_the_thorough_path() -> None:
    data = memoryview(np.arange(4, dtype="<u2").tobytes())

    result = rebuild.array_in_band(np.dtype("<u2"), (4,), "C", data)

    np.testing.assert_array_equal(result, [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("dtype", "shape", "order", "data", "message"),
    [
        ("<i4", (3,), "C", bytes(16), "an array of 1 dimensions and 4-byte items needs 12 bytes, "
         "but its data has 16"),
        ("<i4", (5,), "C", bytearray(16), "needs 20 bytes, but its data has 16"),
        ("<i4", (-1,), "C", bytes(0), "an array shape with an invalid dimension"),
        ("<i4", (-1, 2), "C", bytes(0), "an array shape with an invalid dimension"),
        ("<i4", (2.0,), "C", bytes(8), "an array shape with an invalid dimension"),
        ("<i4", [2], "C", bytes(8), "an array shape that is a list"),
        ("<i4", (2,), "K", bytes(8), "an array whose order is neither 'C' nor 'F'"),
        ("not a dtype", (2,), "C", bytes(8), "'not a dtype' is not a plain dtype"),
        ("|O", (1,), "C", bytes(8), "'|O' is not a plain dtype (object dtypes are never loaded)"),
        (np.dtype(object), (1,), "C", bytes(8), "an array of objects where brinery writes raw"),
        ("|V0", (1 << 30,), "C", b"", "an array of 1073741824 elements of 0 bytes: too many"),
    ],
)
def test_in_band_array_refuses_what_does_not_add_up(
    dtype: Any, shape: Any, order: str, data: Any, message: str
) -> None:
    rebuild.array_in_band("<i4", (1,), "C", bytes(4))  # the dtype is cached: the fast path runs

    with pytest.raises(CorruptFileError, match=re.escape(message)):
        rebuild.array_in_band(dtype, shape, order, data)


@pytest.mark.parametrize("protocol", [4, 5])
def test_many_small_arrays_of_one_dtype_round_trip_exactly(
    protocol: int, roundtrip: Any, assert_same: Any
) -> None:
    """The pickler takes a fast path for small C-contiguous arrays of a dtype it has met: it
    must keep every other case (order, views, read-only data, dtypes numpy cannot export,
    subclasses, protocols without PickleBuffer) exactly as the thorough path does."""
    base = np.arange(60, dtype="<f8").reshape(6, 10)
    read_only = base.copy()
    read_only.flags.writeable = False
    days = np.arange("2024-01-01", "2024-01-21", dtype="datetime64[D]")
    value = []
    for i in range(3):
        value += [
            base + i,
            np.asfortranarray(base + i),
            base[:, ::2],
            base[::-1],
            read_only,
            read_only[1:],
            days + i,
            days[::3],
            np.ma.masked_array(base + i, base > 30),
            np.arange(i, dtype=">i2"),
            np.array(i, dtype="<f8"),
        ]
    value.append(value[0])  # the same array again: one object on load

    loaded = roundtrip(value, protocol=protocol)

    assert_same(loaded, value)
    assert loaded[-1] is loaded[0]


@pytest.mark.parametrize(
    ("dtype", "shape", "message"),
    [
        ("<f8", (1 << 40, 1 << 40), "an array of 1208925819614629174706176 elements of 8 bytes"),
        ("<f8", (-8,), "an array shape with an invalid dimension"),
        ("V99999999999999999999", (1,), "'V99999999999999999999' is not a plain dtype"),
        ("<f8", (2**63, 2), "an array shape with an invalid dimension"),
        ("<f8", (9,), "needs 72 bytes, but its data has 64"),
    ],
)
def test_absurd_shapes_and_dtypes_are_refused_without_allocating(
    dtype: str, shape: tuple[int, ...], message: str
) -> None:
    """What a crafted file could declare for an array record: refused with the 64 bytes the
    record really holds, nothing allocated on the declared size's account."""
    stream = _OneRecord(np.zeros(64, dtype=np.uint8))
    token = rebuild.CURRENT_STREAM.set(stream)
    try:
        with pytest.raises(CorruptFileError, match=re.escape(message)):
            rebuild.array(dtype, shape, "C", True)
    finally:
        rebuild.CURRENT_STREAM.reset(token)


class _OneRecord:
    def __init__(self, memory: np.ndarray) -> None:
        self._memory = memory

    def take_memory(
        self, kind: int, writeable: bool = True, itemsize: int | None = None
    ) -> np.ndarray:
        return self._memory
