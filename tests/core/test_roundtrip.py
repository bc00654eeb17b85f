"""Round trips: every kind of content, through no compressor and every built-in one.

Every comparison is exact (see ``assert_same`` in conftest.py): the loaded object has the
original's type, dtype, shape, values bit for bit, read-only flag, C/F layout and sharing.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import brinery
from brinery.pickler import BLOCK_BYTES, OUT_OF_BAND_MIN_BYTES

# -- module-level types pickle refers to by name ---------------------------------------------------


class TaggedArray(np.ndarray):
    """An ndarray subclass with an attribute in its ``__dict__`` (numpy's pickle drops it)."""

    def __array_finalize__(self, obj: Any) -> None:
        self.tag = getattr(obj, "tag", None)


def tagged(values: np.ndarray, tag: Any) -> TaggedArray:
    result = values.view(TaggedArray)
    result.tag = tag
    return result


class UnitArray(np.ndarray):
    """An ndarray subclass with a reduction of its own, which brinery must respect."""

    reductions = 0

    def __reduce__(self) -> Any:
        UnitArray.reductions += 1
        return (make_unit_array, (np.asarray(self).copy(), self.unit))

    def __array_finalize__(self, obj: Any) -> None:
        self.unit = getattr(obj, "unit", "")


def make_unit_array(values: np.ndarray, unit: str) -> UnitArray:
    result = values.view(UnitArray)
    result.unit = unit
    return result


class Blob:
    """Holds bytes; under protocol 5 it pickles them out of band as a ``PickleBuffer``."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> Any:
        if protocol >= 5:
            return (blob_from_buffer, (pickle.PickleBuffer(self.data), type(self.data)))
        return (Blob, (self.data,))


def blob_from_buffer(buffer: Any, kind: type) -> Blob:
    view = memoryview(buffer)
    # A read-only PickleBuffer must arrive read-only (pickle's READONLY_BUFFER opcode).
    assert view.readonly == (kind is bytes)
    return Blob(kind(view))


# -- contents --------------------------------------------------------------------------------------

# LARGE makes every array below at least OUT_OF_BAND_MIN_BYTES bytes: out of band.
SMALL, LARGE = 7, OUT_OF_BAND_MIN_BYTES


def _floats(n: int, dtype: Any) -> np.ndarray:
    values = np.linspace(-3, 3, n).astype(dtype)
    values[:4] = [np.nan, -0.0, np.inf, -np.inf]
    return values


def _complex(n: int, dtype: Any) -> np.ndarray:
    values = (np.linspace(-1, 1, n) + 1j * np.linspace(2, -2, n)).astype(dtype)
    values[1] = complex(np.nan, 1)
    return values


def _datetimes(n: int, dtype: str) -> np.ndarray:
    values = (np.arange(n) * 86_399).astype(dtype)
    values[2] = (
        np.datetime64("NaT") if dtype.lstrip("<>").startswith("M") else np.timedelta64("NaT")
    )
    return values


NESTED_ALIGNED = np.dtype(
    [
        ("id", "<u4"),
        ("position", ">f8", (3,)),
        ("meta", [("flag", "?"), ("name", "<U5"), ("raw", "S3"), ("grid", "<i2", (2, 2))]),
        ("when", "<M8[ms]"),
    ],
    align=True,
)
PACKED_WITH_GAPS = np.dtype(
    {"names": ["a", "b"], "formats": ["<i2", ">f4"], "offsets": [0, 6], "itemsize": 16}
)


def _structured(n: int, dtype: np.dtype) -> np.ndarray:
    values = np.zeros(n, dtype=dtype)
    for name in dtype.names:
        values[name] = np.arange(n) % 100 - 50
    return values


def _nested_aligned(n: int) -> np.ndarray:
    values = np.zeros(n, dtype=NESTED_ALIGNED)
    values["id"] = np.arange(n)
    values["position"] = np.arange(3 * n).reshape(n, 3) / 7
    values["meta"]["flag"] = np.arange(n) % 2 == 0
    values["meta"]["name"] = [f"n{i % 997}é" for i in range(n)]
    values["meta"]["raw"] = [b"r%d" % (i % 10) for i in range(n)]
    values["meta"]["grid"] = np.arange(4 * n).reshape(n, 2, 2)
    values["when"] = np.arange(n).astype("M8[ms]")
    return values


def _object_array(n: int) -> np.ndarray:
    inner = np.arange(6.0).reshape(2, 3)
    values = np.empty(n, dtype=object)
    cycle = [1, "text", None, {"key": [1, 2]}, inner, 2.5, (inner, b"bytes")]
    for index in range(n):
        values[index] = cycle[index % len(cycle)]
    return values


def _matrix(values: np.ndarray) -> np.matrix:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix is discouraged
        return np.matrix(values)


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def _shared(n: int) -> list[Any]:
    array = np.arange(n, dtype=np.float32)
    other = tagged(np.arange(n), "shared")
    masked = np.ma.array(np.arange(n), mask=np.arange(n) % 3 == 0)
    return [array, array, {"again": array, "tagged": other}, (array, other, masked), masked]


def _plain_python(n: int) -> dict[str, Any]:
    shared_list = list(range(5))
    return {
        "dict": {"a": 1, 2: "b", (3, 4): None, None: [True, False]},
        "list": [1, -2, 2**100, -(2**70), 0.1, float("nan"), -0.0, float("inf"), 1 + 2j],
        "tuple": (1, ("nested", (None,)), ()),
        "set": {1, "two", (3,)},
        "frozenset": frozenset({b"x", 2.5}),
        "bytes": bytes(range(256)) * (n // 256 + 1),
        "bytearray": bytearray(b"abc" * n),
        "str": "naïve ☃ " * n,
        "numbers": [0, 1, -1, 3.25, complex(np.nan, 0)],
        "none": None,
        "shared": [shared_list, shared_list],
        "nested": {"deep": [{"deeper": ({"deepest": [n]},)}]},
    }


CONTENTS: dict[str, Callable[[int], Any]] = {
    "bool": lambda n: np.arange(n) % 3 == 0,
    "int8": lambda n: (np.arange(n) % 256 - 128).astype(np.int8),
    "uint64": lambda n: np.arange(n, dtype=np.uint64) * np.uint64(2**40 + 3),
    "int32_big_endian": lambda n: np.arange(-n, n, 2, dtype=">i4"),
    "float16": lambda n: _floats(n, np.float16),
    "float64_nan_inf_negzero": lambda n: _floats(n, np.float64),
    "float64_big_endian": lambda n: _floats(n, ">f8"),
    "longdouble": lambda n: _floats(n, np.longdouble),
    "complex64": lambda n: _complex(n, np.complex64),
    "complex128_big_endian": lambda n: _complex(n, ">c16"),
    "datetime64": lambda n: _datetimes(n, "M8[s]"),
    "datetime64_big_endian": lambda n: _datetimes(n, ">M8[ms]"),
    "timedelta64": lambda n: _datetimes(n, "m8[us]"),
    "unicode": lambda n: np.array([f"é{i}ß☃" for i in range(n)]),
    "unicode_big_endian": lambda n: np.array([f"u{i}" for i in range(n)], dtype=">U7"),
    "bytes_dtype": lambda n: np.array([b"b%d\x00x" % i for i in range(n)]),
    "void": lambda n: np.frombuffer(bytes(range(256)) * (8 * n // 256 + 1), "V8")[:n].copy(),
    "structured_nested_aligned": _nested_aligned,
    "structured_packed_with_gaps": lambda n: _structured(n, PACKED_WITH_GAPS),
    "structured_with_object_field": lambda n: np.array(
        [(i, f"o{i}") for i in range(n)], dtype=[("i", "<i8"), ("o", object)]
    ),
    "object": _object_array,
    "f_order": lambda n: np.asfortranarray(np.arange(3.0 * n).reshape(n, 3)),
    "transpose": lambda n: np.arange(4 * n, dtype=np.int16).reshape(n, 4).T,
    "step_slices": lambda n: np.arange(12.0 * n).reshape(2 * n, 6)[::2, ::3],
    "negative_strides": lambda n: np.arange(2.0 * n).reshape(n, 2)[::-1, ::-1],
    "f_order_with_steps": lambda n: np.asfortranarray(np.arange(8.0 * n).reshape(2 * n, 4))[::2],
    "zero_d": lambda n: np.array(n + 0.5),
    "zero_d_structured": lambda n: np.array((n % 30000, b"zz"), dtype=[("a", "<i2"), ("b", "S2")]),
    "empty_arrays": lambda n: (
        [np.empty(shape) for shape in [(0,), (0, 3), (3, 0), (2, 0, 4)]]
        + [np.empty((0, n), dtype="U3", order="F"), np.empty(0, dtype=NESTED_ALIGNED)]
    ),
    "read_only": lambda n: _read_only(np.arange(n, dtype=np.float64)),
    "read_only_f_order": lambda n: _read_only(np.asfortranarray(np.arange(2.0 * n).reshape(n, 2))),
    "read_only_view": lambda n: _read_only(np.arange(4 * n, dtype=np.int32))[::2],
    "matrix": lambda n: _matrix(np.arange(2 * n).reshape(n, 2)),
    "masked": lambda n: np.ma.array(
        np.arange(n, dtype=np.float64),
        mask=np.arange(n) % 3 == 0,
        fill_value=-999.5,
        hard_mask=True,
    ),
    "masked_without_mask": lambda n: np.ma.array(np.arange(n, dtype=np.int16)),
    "masked_structured": lambda n: np.ma.array(
        _structured(n, np.dtype([("a", "<i4"), ("b", "<f8")])),
        mask=[(i % 2 == 0, i % 3 == 0) for i in range(n)],
        fill_value=(-1, 9.5),
    ),
    "recarray": lambda n: np.rec.fromarrays(
        [np.arange(n), np.arange(n) / 2, np.array([f"r{i}" for i in range(n)])], names="x,y,z"
    ),
    "custom_subclass_with_dict": lambda n: tagged(np.arange(n, dtype=np.int64), {"unit": "m"}),
    "subclass_with_own_reduce": lambda n: make_unit_array(np.arange(n, dtype=np.float32), "kg"),
    "shared_references": _shared,
    "plain_python": _plain_python,
    "pickle_buffer_writable": lambda n: Blob(bytearray(range(256)) * (n // 16)),
    "pickle_buffer_read_only": lambda n: Blob(bytes(range(256)) * (n // 16)),
}


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("content", list(CONTENTS))
def test_content_roundtrips_exactly(content: str, size: int, compress: Any, roundtrip, assert_same):
    """Each kind of content loads back identical, through each compressor and none."""
    original = CONTENTS[content](size)
    assert_same(roundtrip(original, compress=compress), original)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_shared_array_loads_as_one_object(size: int, compress: Any, roundtrip):
    """The same array twice in a list is one object after loading, not two copies."""
    array = np.arange(size, dtype=np.float64)
    loaded = roundtrip([array, array, {"third": array}], compress=compress)
    assert loaded[0] is loaded[1] is loaded[2]["third"]
    loaded[0][0] = 42.0  # one object, one memory
    assert loaded[1][0] == 42.0


def test_shared_array_inside_object_array_stays_shared(roundtrip):
    """An array referenced both directly and from an object array loads as one object."""
    array = np.arange(10_000)
    holder = np.empty(2, dtype=object)
    holder[0], holder[1] = array, "x"
    loaded = roundtrip([array, holder])
    assert loaded[1][0] is loaded[0]


def test_memmap_loads_as_plain_ndarray(tmp_path, compress, roundtrip, assert_same):
    """A memmap is written like any array and loads as a plain in-memory ndarray (documented)."""
    path = tmp_path / "data.mm"
    mapped = np.memmap(path, dtype=np.float32, mode="w+", shape=(300, 20))
    mapped[:] = np.arange(6000).reshape(300, 20)
    mapped.flush()
    read_only = np.memmap(path, dtype=np.float32, mode="r", shape=(300, 20))
    loaded = roundtrip({"rw": mapped, "ro": read_only, "slice": mapped[::2]}, compress=compress)
    for key in ("rw", "ro", "slice"):
        assert type(loaded[key]) is np.ndarray
    assert loaded["ro"].flags.writeable is False
    assert_same(loaded, {"rw": mapped, "ro": read_only, "slice": mapped[::2]})


def test_subclass_attribute_survives(roundtrip):
    """brinery keeps a subclass's ``__dict__``, which numpy's own pickling loses."""
    original = tagged(np.arange(10_000.0), {"unit": "m", "scale": 2})
    loaded = roundtrip(original)
    assert type(loaded) is TaggedArray
    assert loaded.tag == {"unit": "m", "scale": 2}


def test_subclass_with_own_reduce_is_reduced_its_way(dumps, loads):
    """A subclass that defines ``__reduce__`` is pickled through it, not brinery's shortcut."""
    UnitArray.reductions = 0
    data = dumps(make_unit_array(np.arange(5000.0), "kg"))
    assert UnitArray.reductions == 1
    loaded = loads(data)
    assert type(loaded) is UnitArray
    assert loaded.unit == "kg"


def test_masked_array_details_survive(roundtrip):
    """Mask, fill_value and hard_mask of a masked array are all preserved."""
    original = np.ma.array(
        np.arange(10_000, dtype=np.int32), mask=np.arange(10_000) % 7 == 0, fill_value=-5
    )
    original.harden_mask()
    loaded = roundtrip(original)
    assert type(loaded) is np.ma.MaskedArray
    assert loaded.hardmask is True
    assert loaded.fill_value == -5
    assert np.array_equal(loaded.mask, original.mask)
    loaded[0] = 99  # a hard mask keeps masked elements untouched
    assert loaded.data[0] == 0


def test_recarray_keeps_record_type(roundtrip):
    """A recarray loads as a recarray with ``np.record`` items and attribute access."""
    original = np.rec.fromarrays([np.arange(5000), np.arange(5000.0)], names="a,b")
    loaded = roundtrip(original)
    assert type(loaded) is np.recarray
    assert loaded.dtype.type is np.record
    assert np.array_equal(loaded.b, original.b)


# -- in band and out of band -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nbytes", "expected_records"),
    [(OUT_OF_BAND_MIN_BYTES - 1, 0), (OUT_OF_BAND_MIN_BYTES, 1), (1 << 20, 1)],
)
def test_small_arrays_in_band_large_ones_as_records(
    nbytes, expected_records, dumps, loads, raw_records
):
    """Arrays under OUT_OF_BAND_MIN_BYTES travel in the pickle; larger ones as one aligned
    array record."""
    original = np.arange(nbytes, dtype=np.uint8)
    data = dumps(original, compress=False)
    found = raw_records(data)
    assert [(record.kind, record.size) for record in found] == [("A", nbytes)] * expected_records
    if found:
        assert data[found[0].start : found[0].start + nbytes] == original.tobytes()
    assert np.array_equal(loads(data), original)


def test_zero_d_array_with_large_item_goes_out_of_band(dumps, loads, raw_records, assert_same):
    """A 0-d array whose single item is large is an out-of-band array record too."""
    size = OUT_OF_BAND_MIN_BYTES + 8
    original = np.array(b"\x01" * size, dtype=f"S{size}")
    data = dumps(original)
    assert [(record.kind, record.size) for record in raw_records(data)] == [("A", size)]
    assert_same(loads(data), original)


@pytest.mark.parametrize("protocol", [5, 4])
def test_pickle_buffer_goes_through_buffer_record(protocol, dumps, loads, raw_records):
    """Protocol 5 sends a large PickleBuffer out of band as a 'B' record; protocol 4 cannot."""
    payload = bytearray(range(256)) * (OUT_OF_BAND_MIN_BYTES // 256 + 1)
    data = dumps(Blob(payload), protocol=protocol)
    kinds = [(record.kind, record.size) for record in raw_records(data)]
    assert kinds == ([("B", len(payload))] if protocol == 5 else [])
    loaded = loads(data)
    assert type(loaded) is Blob
    assert type(loaded.data) is bytearray
    assert loaded.data == payload


def test_small_pickle_buffer_stays_in_band(dumps, loads, raw_records):
    """A PickleBuffer under OUT_OF_BAND_MIN_BYTES stays inside the pickle."""
    data = dumps(Blob(bytearray(b"tiny")), protocol=5)
    assert raw_records(data) == []
    assert loads(data).data == bytearray(b"tiny")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol(protocol, compress, roundtrip, assert_same):
    """Every pickle protocol 0-5 round-trips the same mixed content, with each compressor."""
    shared = np.arange(3000, dtype=np.float64)
    original = {
        "shared": [shared, shared],
        "small": np.arange(5, dtype=">i2"),
        "read_only": _read_only(np.arange(6000, dtype=np.int16)),
        "f_order": np.asfortranarray(np.arange(40.0).reshape(5, 8)),
        "strided": np.arange(20_000.0)[::3],
        "object": _object_array(9),
        "masked": CONTENTS["masked"](2000),
        "tagged": tagged(np.arange(2000), "t"),
        "structured": _nested_aligned(100),
        "big_bytes": bytes(200_000),
        "blob": Blob(bytearray(10_000)),
        "python": _plain_python(50),
    }
    assert_same(roundtrip(original, compress=compress, protocol=protocol), original)


# -- large arrays: frames and the 4 MiB block path -------------------------------------------------


def _base() -> np.ndarray:
    return np.arange(4_000_000, dtype=np.float64).reshape(2000, 2000)  # 32 MB


def _wide() -> np.ndarray:
    return np.arange(3_000_000, dtype=np.float64).reshape(2, 1_500_000)  # rows of 12 MB


def _cube() -> np.ndarray:
    return np.arange(6_000_000, dtype=np.int32).reshape(60, 400, 250)  # 24 MB


LARGE_ARRAYS = {
    "c_order": lambda: _base(),
    "f_order": lambda: np.asfortranarray(_base()[:1000]),
    "transpose": lambda: _base().T,
    "step_slices": lambda: _base()[::2, ::3],
    "negative_strides": lambda: _base()[::-1, ::-1],
    "f_order_step_slices": lambda: np.asfortranarray(_base())[::2, 1::2],
    "rows_larger_than_a_block": lambda: _wide()[:, ::2],
    "columns_larger_than_a_block": lambda: np.asfortranarray(_wide().T)[::2, :],
    "cube_middle_axis_step": lambda: _cube()[:, ::2, :],
    "cube_reversed_last_axis": lambda: _cube()[..., ::-1],
}


@pytest.mark.parametrize("compress_large", [False, "gzip"], ids=["none", "gzip"])
@pytest.mark.parametrize("layout", list(LARGE_ARRAYS))
def test_large_array_layouts(layout, compress_large, tmp_path, assert_same, raw_records, dumps):
    """Arrays of 12-32 MB, contiguous or copied in 4 MiB blocks, load exact in their order."""
    original = LARGE_ARRAYS[layout]()
    assert original.nbytes > BLOCK_BYTES
    path = tmp_path / "large.bin"
    brinery.dump(original, path, compress=compress_large, threads=2)
    assert_same(brinery.load(path), original)
    if compress_large is False:
        [record] = raw_records(path.read_bytes())
        assert record.size == original.nbytes


def test_large_mixed_object_through_every_compressor(compress, tmp_path, assert_same):
    """About 16 MB spanning several frames, with non-contiguous arrays copied in 4 MiB blocks
    (C and F order), big bytes and a PickleBuffer, through each compressor."""
    rng = np.random.default_rng(7)
    base = np.repeat(rng.integers(0, 256, 375_000, dtype=np.int32), 16).reshape(3000, 2000)
    original = {
        "strided": base[::2, ::2],  # 6 MB, C-order blocks
        "reversed_transposed": base[:550, ::-1].T,  # 4.4 MB, F-order blocks
        "bytes": np.repeat(rng.integers(0, 256, 600_000, dtype=np.uint8), 8).tobytes(),
        "bytearray": bytearray(base[:100].tobytes()),
        "blob": Blob(bytearray(base[100:200].tobytes())),
    }
    for key in ("strided", "reversed_transposed"):
        assert original[key].nbytes > BLOCK_BYTES
        assert not original[key].flags.c_contiguous
        assert not original[key].flags.f_contiguous
    path = tmp_path / "large.bin"
    brinery.dump(original, path, compress=compress, threads=2)
    loaded = brinery.load(path)
    assert loaded["reversed_transposed"].flags.f_contiguous
    assert_same(loaded, original)


def test_loaded_arrays_are_independent_and_writeable(roundtrip):
    """Distinct arrays load into distinct memory that can be written."""
    first, second = np.zeros(10_000), np.zeros(10_000)
    loaded = roundtrip([first, second, np.zeros(3)])
    for array in loaded:
        assert array.flags.writeable
        array[...] = 1
    loaded[0][0] = 7
    assert loaded[1][0] == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (np.dtype("f8"), np.dtype("f8", metadata={"unit": "m"})),
        (np.dtype("f8", metadata={"unit": "m"}), np.dtype("f8")),
        (
            np.dtype([("a", "u1"), ("b", "<f8")], align=True),
            np.dtype(
                {"names": ["a", "b"], "formats": ["u1", "<f8"], "offsets": [0, 8], "itemsize": 16}
            ),
        ),
        (
            np.dtype(
                {"names": ["a", "b"], "formats": ["u1", "<f8"], "offsets": [0, 8], "itemsize": 16}
            ),
            np.dtype([("a", "u1"), ("b", "<f8")], align=True),
        ),
    ],
    ids=[
        "plain-then-metadata",
        "metadata-then-plain",
        "aligned-then-packed",
        "packed-then-aligned",
    ],
)
def test_dtypes_that_compare_equal_keep_their_differences(first, second, roundtrip, assert_same):
    """Two dtypes that numpy calls equal (metadata, aligned flag) each load as they were."""
    original = [np.zeros(3, dtype=first), np.zeros(3, dtype=second)]
    assert_same(roundtrip(original), original)


# -- property-based --------------------------------------------------------------------------------

_dtypes = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.integer_dtypes(endianness=">"),
    hnp.unsigned_integer_dtypes(endianness="<"),
    hnp.floating_dtypes(endianness="="),
    hnp.floating_dtypes(endianness=">"),
    hnp.complex_number_dtypes(endianness="<"),
    hnp.datetime64_dtypes(endianness="="),
    hnp.timedelta64_dtypes(endianness=">"),
    hnp.unicode_string_dtypes(endianness=">"),
    hnp.byte_string_dtypes(),
)


@st.composite
def _arrays(draw: Any) -> np.ndarray:
    array = draw(hnp.arrays(_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, max_side=12)))
    if draw(st.booleans()):
        array = np.asfortranarray(array)
    if array.ndim:
        steps = draw(
            st.lists(st.sampled_from([1, 2, -1, -3]), min_size=array.ndim, max_size=array.ndim)
        )
        array = array[tuple(slice(None, None, step) for step in steps)]
    if draw(st.booleans()):
        array.flags.writeable = False
    return array


@settings(max_examples=80, deadline=None)
@given(array=_arrays(), protocol=st.integers(0, 5))
def test_any_array_roundtrips(array, protocol, dumps, loads, assert_same):
    """Any dtype, byte order, shape, layout and read-only flag round-trips exactly."""
    assert_same(loads(dumps([array, array], protocol=protocol)), [array, array])
