"""The objects the contract dumps, and the exact comparison that says they came back.

``==`` is not enough to say an object survived a round trip: it ignores byte order, memory
order, subclasses, ``-0.0``, NaN payloads and whether two references still point at one object.
:func:`assert_same` checks all of them, so the samples here hold every one of those cases.
"""

from __future__ import annotations

import cmath
import collections
import datetime
import decimal
import fractions
import io
import math
import types
import warnings
from typing import Any

import numpy as np

import brinery

__all__ = [
    "assert_same",
    "big_object",
    "dumps",
    "framed_sample",
    "loads",
    "many_frames_object",
    "sample_object",
    "small_sample",
]


# -- dumping and loading through memory ------------------------------------------------------------


def dumps(value: Any, **kwargs: Any) -> bytes:
    """The bytes ``brinery.dump(value, file_object, **kwargs)`` writes.

    A dump into a file object names no file (it returns None); anything else would mean it
    wrote files.
    """
    buffer = io.BytesIO()
    assert brinery.dump(value, buffer, **kwargs) is None
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """The object ``data`` holds, checking that the load read the stream to its very end (and
    no further: what follows a stream in a file object is the caller's)."""
    buffer = io.BytesIO(data)
    value = brinery.load(buffer)
    assert buffer.tell() == len(data), "load did not stop at the end of the stream"
    return value


# -- exact comparison ------------------------------------------------------------------------------


def assert_same(loaded: Any, original: Any) -> None:
    """Fails unless ``loaded`` is exactly ``original``: the same types (subclasses included),
    values bit for bit, dtypes (byte order, fields, metadata), shapes, memory order and
    writeable flags of arrays, and the same sharing (what was one object loads as one object).
    """
    _assert_same(loaded, original, {}, "obj")


def _tracks_identity(value: Any) -> bool:
    """Objects pickle memoizes, whose sharing the caller can observe."""
    return isinstance(value, (np.ndarray, list, dict, set, bytearray)) or (
        hasattr(value, "__dict__") and not isinstance(value, type)
    )


def _assert_same(loaded: Any, original: Any, memo: dict[int, Any], where: str) -> None:
    if _tracks_identity(original):
        seen = memo.get(id(original))
        if seen is not None:
            assert loaded is seen, f"{where}: a shared reference loaded as a separate object"
            return
        memo[id(original)] = loaded
    if isinstance(original, np.ndarray):
        _assert_same_array(loaded, original, memo, where)
        return
    expected_type = type(original)
    assert type(loaded) is expected_type, f"{where}: {type(loaded)} is not {expected_type}"
    if isinstance(original, dict):
        assert list(loaded) == list(original), f"{where}: keys differ"
        for key in original:
            _assert_same(loaded[key], original[key], memo, f"{where}[{key!r}]")
    elif isinstance(original, (list, tuple)):
        assert len(loaded) == len(original), f"{where}: lengths differ"
        for index, (got, want) in enumerate(zip(loaded, original, strict=True)):
            _assert_same(got, want, memo, f"{where}[{index}]")
    elif isinstance(original, float):
        assert (math.isnan(loaded) and math.isnan(original)) or (
            loaded == original and math.copysign(1, loaded) == math.copysign(1, original)
        ), f"{where}: {loaded!r} != {original!r}"
    elif isinstance(original, complex):
        assert (cmath.isnan(loaded) and cmath.isnan(original)) or loaded == original, where
    elif hasattr(original, "__dict__") and not isinstance(original, type):
        _assert_same(vars(loaded), vars(original), memo, f"{where}.__dict__")
    else:
        assert loaded == original, f"{where}: {loaded!r} != {original!r}"


def _assert_same_array(
    loaded: Any, original: np.ndarray[Any, Any], memo: dict[int, Any], where: str
) -> None:
    # A memmap's data is written like any array's and loads as a plain ndarray (by design).
    expected_type = np.ndarray if isinstance(original, np.memmap) else type(original)
    assert type(loaded) is expected_type, f"{where}: {type(loaded)} is not {expected_type}"
    assert loaded.dtype == original.dtype, f"{where}: dtype {loaded.dtype} != {original.dtype}"
    # == ignores nothing that matters here, but say it outright for byte order and fields.
    assert loaded.dtype.str == original.dtype.str, f"{where}: {loaded.dtype.str}"
    assert loaded.dtype.descr == original.dtype.descr, f"{where}: {loaded.dtype.descr}"
    assert loaded.dtype.isalignedstruct == original.dtype.isalignedstruct, where
    assert loaded.dtype.metadata == original.dtype.metadata, f"{where}: dtype metadata differs"
    assert loaded.shape == original.shape, f"{where}: shape {loaded.shape} != {original.shape}"
    assert loaded.flags.writeable == original.flags.writeable, f"{where}: writeable flag differs"
    if original.flags.c_contiguous:
        assert loaded.flags.c_contiguous, f"{where}: C-contiguous array did not load C-contiguous"
    elif original.flags.f_contiguous:
        assert loaded.flags.f_contiguous, f"{where}: F-contiguous array did not load F-contiguous"
    else:
        assert loaded.flags.c_contiguous or loaded.flags.f_contiguous, where
    if isinstance(original, np.ma.MaskedArray):
        _assert_same_mask(loaded, original, where)
    elif expected_type is not np.ndarray:
        assert vars(loaded) == vars(original), f"{where}: subclass attributes differ"
    if original.dtype.hasobject:
        for index, (got, want) in enumerate(zip(loaded.flat, original.flat, strict=True)):
            _assert_same(got, want, memo, f"{where}.flat[{index}]")
        return
    plain_loaded, plain_original = np.asarray(loaded), np.asarray(original)
    if original.dtype.kind in "fcmM":
        assert np.array_equal(plain_loaded, plain_original, equal_nan=True), f"{where}: values"
    elif original.dtype.fields is None:  # structures may hold NaN or NaT: the bytes say it
        assert np.array_equal(plain_loaded, plain_original), f"{where}: values differ"
    # Bit for bit, in logical order: NaN payloads, -0.0, string padding, struct padding.
    assert plain_loaded.tobytes() == plain_original.tobytes(), f"{where}: bytes differ"


def _assert_same_mask(loaded: Any, original: np.ma.MaskedArray[Any, Any], where: str) -> None:
    assert np.array_equal(np.ma.getmaskarray(loaded), np.ma.getmaskarray(original)), where
    assert loaded.hardmask == original.hardmask, f"{where}: hard_mask differs"
    loaded_fill, original_fill = np.asarray(loaded.fill_value), np.asarray(original.fill_value)
    assert loaded_fill.dtype == original_fill.dtype, f"{where}: fill_value dtype differs"
    assert loaded_fill.tobytes() == original_fill.tobytes(), f"{where}: fill_value differs"


# -- samples: each call builds a fresh one, so no test sees another's changes ---------------------


def sample_object() -> dict[str, Any]:
    """A dict of arrays of every kind and plain objects (~260 KB of pickle stream): arrays big
    enough to be written out of band and small ones inside the pickle, both memory orders,
    strided views, structured, big-endian, 0-d, empty, object, subclass and read-only arrays,
    one array referenced three times, and the standard library's value types."""
    rng = np.random.default_rng(20240611)
    c_big = rng.integers(-1000, 1000, size=(120, 50))  # 48 KB: out of band
    f_big = np.asfortranarray(rng.standard_normal((60, 40)))  # 19 KB, F order
    shared = rng.standard_normal(1000)  # 8 KB, referenced three times
    small = np.arange(24, dtype=np.int32).reshape(4, 6)  # in the pickle
    structured = np.zeros(
        300, dtype=[("id", "<i4"), ("pos", ">f8", (2,)), ("tag", "S3"), ("ok", "?")]
    )
    structured["id"] = np.arange(300)
    structured["pos"] = rng.standard_normal((300, 2))
    structured["tag"] = [b"a", b"bc", b"def"] * 100
    structured["ok"] = np.arange(300) % 3 == 0
    read_only = np.linspace(0.0, 1.0, 700)
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix is discouraged
        matrix = np.matrix([[1.5, 2.0], [3.0, 4.25]])
    return {
        "c_small": small,
        "f_small": np.asfortranarray(small.astype(np.float32)),
        "c_big": c_big,
        "f_big": f_big,
        "strided_c": c_big[::2, ::3],
        "strided_f": f_big[::3, ::2],
        "reversed": c_big[::-1, 0],
        "structured": structured,
        "structured_small": structured[:4],
        "big_endian": np.arange(800, dtype=">f8") / 7,
        "big_endian_small": np.array([1, 2, 258], dtype=">i2"),
        "zero_d": np.array(2.5),
        "zero_d_int": np.array(7, dtype=np.uint16),
        "empty": np.empty((0, 5)),
        "empty_strings": np.zeros(0, dtype="<U3"),
        "objects": np.array([1, "two", None, [3.0], {"k": (4,)}], dtype=object),
        "matrix": matrix,
        "booleans": rng.random(5000) > 0.5,
        "complex": (rng.standard_normal(600) + 1j * rng.standard_normal(600)).astype(np.complex64),
        "unicode": np.array(["a", "bé", "ç€𝄞"]),
        "datetimes": np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]"),
        "read_only": read_only,
        "nan_floats": np.array([np.nan, -0.0, np.inf, -np.inf, 1e-310]),
        "shared": [shared, shared],
        "shared_again": shared,
        "plain": {
            "text": "héllo wörld",
            "bytes": b"\x00\xff\x89BRN",
            "bytearray": bytearray(b"mutable"),
            "big_int": 2**200 + 1,
            "floats": [math.nan, -0.0, math.inf, 1.5e-300],
            "complex": complex(1.5, -2),
            "tuple": (1, (2, (3, "x"))),
            "set": {1, 2, 3},
            "frozenset": frozenset({"a", "b"}),
            "none": None,
            "flags": [True, False],
            "decimal": decimal.Decimal("3.14159265358979323846"),
            "fraction": fractions.Fraction(22, 7),
            "date": datetime.datetime(2024, 6, 11, 12, 30, 15, 123456),
            "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
            "counter": collections.Counter("abracadabra"),
            "namespace": types.SimpleNamespace(x=1.25, label="p"),
            "long_text": "lorem ipsum " * 500,
        },
    }


def small_sample() -> dict[str, Any]:
    """A small object (a few KB compressed, with an array record and an array inside the
    pickle), for the loops that damage every byte of a file: they load it twice per byte."""
    # int16 rather than int64 values: long runs of zero bytes give LZ4 many equivalent match
    # offsets, so that flips there decode to the very same data (harmless, but many).
    return {
        "small": np.arange(300, dtype=np.int16) * 37,  # 600 bytes, inside the pickle
        "big": (np.arange(2500, dtype=np.int16) * 37) % 1009,  # 5000 bytes, an array record
        "s": "text",
        "l": [1, 2.5, None],
    }


def framed_sample() -> dict[str, Any]:
    """A smaller object (a 4200-byte array record) for files cut into many 1 KiB frames (see
    :func:`brinery.testing.frame_size`): a 100-byte pattern repeated, so small frames still
    compress, to a file of about 900 bytes with five frames."""
    return {"a": np.tile(np.arange(50, dtype=np.int16) * 37, 42), "s": "text"}


def big_object() -> dict[str, Any]:
    """About 20 MB, mildly compressible (repeated random blocks, a range, small objects): five
    of brinery's 4 MiB frames, enough for threads to matter."""
    rng = np.random.default_rng(5)
    block = rng.integers(0, 40, size=1 << 16, dtype=np.uint8)
    return {
        "tiles": np.tile(block, 240).reshape(-1, 1024),  # 15.7 MB
        "range": np.arange(600_000, dtype=np.int64),  # 4.8 MB
        "words": [f"word{i}" for i in range(20_000)],
    }


def many_frames_object(name: str) -> dict[str, Any]:
    """About 13 MB (four of brinery's 4 MiB frames), holding ``name``: what a codec's
    command-line tool is asked to read."""
    rng = np.random.default_rng(11)
    return {
        "tiles": np.tile(rng.integers(0, 30, size=1 << 16, dtype=np.uint8), 130),
        "range": np.arange(500_000, dtype=np.int64),
        "text": [name] * 1000,
    }
