"""The memory order arrays load in: their own where they have one, C order for broadcast arrays
(as pickle loads them), whether they travel inside the pickle or as records of their own."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from brinery.pickler import OUT_OF_BAND_MIN_BYTES, memory_order

#: Broadcast arrays (a stride of 0 somewhere), small (inside the pickle) and large (a record).
BROADCAST = {
    "rows_of_a_range": lambda: np.broadcast_to(np.arange(3), (1000, 3)),
    "rows_of_a_range_large": lambda: np.broadcast_to(np.arange(3), (100_000, 3)),
    "columns_of_a_range": lambda: np.broadcast_to(np.arange(5.0)[:, None], (5, 7)),
    "three_axes": lambda: np.broadcast_to(np.arange(3.0), (4, 5, 3)),
    "three_axes_large": lambda: np.broadcast_to(np.arange(300.0), (20, 30, 300)),
    "a_scalar": lambda: np.broadcast_to(np.float32(2), (3, 4)),
    "a_length_1_axis": lambda: np.broadcast_to(np.arange(2, dtype=">i4"), (3, 1, 2)),
    "a_step_slice": lambda: np.broadcast_to(np.arange(40.0)[::4], (6, 10)),
}


@pytest.mark.parametrize("make", BROADCAST.values(), ids=BROADCAST.keys())
def test_broadcast_arrays_load_in_c_order_as_with_pickle(
    make: Callable[[], np.ndarray], dumps: Callable[..., bytes], loads: Callable[[bytes], Any]
) -> None:
    original = make()
    assert 0 in original.strides  # (a test of the test)
    assert not original.flags.c_contiguous
    loaded = loads(dumps(original))
    expected = np.ascontiguousarray(original)
    assert type(loaded) is np.ndarray
    assert loaded.dtype.str == original.dtype.str
    assert loaded.shape == original.shape
    assert loaded.strides == expected.strides
    assert loaded.strides == pickle.loads(pickle.dumps(original)).strides
    assert loaded.flags.c_contiguous
    assert loaded.flags.f_contiguous == expected.flags.f_contiguous
    assert loaded.flags.writeable is False  # broadcast arrays are read-only: so they load
    assert loaded.tobytes() == expected.tobytes()
    assert np.array_equal(loaded, original)


def test_large_and_small_broadcast_arrays_are_both_covered() -> None:
    sizes = [make().nbytes for make in BROADCAST.values()]
    assert min(sizes) < OUT_OF_BAND_MIN_BYTES < max(sizes)


def _base() -> np.ndarray:
    return np.arange(24.0 * 10).reshape(24, 10)


#: Arrays with an order of their own, and the order they keep.
OWN_ORDER: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "c_contiguous": (_base, "C"),
    "f_contiguous": (lambda: np.asfortranarray(_base()), "F"),
    "c_strided": (lambda: _base()[::2, ::3], "C"),
    "f_strided": (lambda: np.asfortranarray(_base())[::2, ::3], "F"),
    "transposed": (lambda: _base()[::2].T, "F"),
    "reversed": (lambda: _base()[::-1, ::-2], "C"),
    "one_column": (lambda: _base()[:, 3:4], "C"),
    "large_f_strided": (lambda: np.asfortranarray(np.ones((400, 300)))[::2, ::2], "F"),
}


@pytest.mark.parametrize(("make", "order"), OWN_ORDER.values(), ids=OWN_ORDER.keys())
def test_other_arrays_keep_their_order(
    make: Callable[[], np.ndarray],
    order: str,
    dumps: Callable[..., bytes],
    loads: Callable[[bytes], Any],
    assert_same: Callable[[Any, Any], None],
) -> None:
    original = make()
    assert memory_order(original) == order
    loaded = loads(dumps(original))
    assert_same(loaded, original)
    expected = np.asfortranarray(original) if order == "F" else np.ascontiguousarray(original)
    assert loaded.strides == expected.strides
    assert loaded.flags.c_contiguous == expected.flags.c_contiguous
    assert loaded.flags.f_contiguous == expected.flags.f_contiguous
