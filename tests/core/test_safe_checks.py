"""The checks of safe loading, one by one, in process (tests/security runs whole hostile files
under an address-space limit): each hand-written pickle is what an attacker would write."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.api import inspect_file
from brinery.format.writer import StreamWriter

P4 = b"\x80\x04"


def _text(value: str) -> bytes:
    encoded = value.encode()
    return b"\x8c" + bytes([len(encoded)]) + encoded


def _global(module: str, name: str) -> bytes:
    return _text(module) + _text(name) + b"\x93"


def _stream(pickle_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    writer = StreamWriter(buffer)
    writer.write(pickle_bytes)
    writer.finish()
    return buffer.getvalue()


def _dtype(code: str, state: bytes) -> bytes:
    """numpy.dtype(code, False, True) then BUILD with the pickled state tuple."""
    return _global("numpy", "dtype") + _text(code) + b"\x89\x88\x87R" + state + b"b"


def _f8_state(order: str = "<") -> bytes:
    return b"(K\x03" + _text(order) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"


WRAPPINGS = {"plain pickle": lambda data: data, "brinery stream": _stream}


def _outcomes(data: bytes) -> list[Any]:
    """What the three entry points for untrusted files make of ``data``."""
    found: list[Any] = []
    for run in (
        lambda: brinery.load(io.BytesIO(data), trusted=[]),
        lambda: brinery.untrusted_types(io.BytesIO(data)),
        lambda: inspect_file(io.BytesIO(data)),
    ):
        try:
            found.append(run())
        except brinery.BrineryError as error:
            found.append(error)
    return found


@pytest.mark.parametrize("wrap", list(WRAPPINGS))
def test_numpy_classes_are_named_never_called(wrap: str, tmp_path: Path) -> None:
    target = tmp_path / "site.pth"
    payload = (
        P4 + _global("numpy", "memmap") + b"(" + _text(str(target)) + _text("uint8")
        + _text("w+") + b"K\x00K\x04\x85tR" + b"K\x00K\x41s."
    )  # fmt: skip
    load, listed, info = _outcomes(WRAPPINGS[wrap](payload))
    assert isinstance(load, brinery.UntrustedTypesError)
    assert load.types == ["numpy.memmap"]
    assert listed == ["numpy.memmap"]
    assert info.imports == ["numpy.memmap"]
    assert not target.exists()


@pytest.mark.parametrize("wrap", list(WRAPPINGS))
@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        (_text("|O"), "'|O' is not a plain dtype (object dtypes are never loaded)"),
        (_dtype("O8", b"(K\x03" + _text("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t"),
         "an array of objects where brinery writes raw memory"),
        (_dtype("V8", b"(K\x03" + _text("|") + b"N" + _text("a") + b"\x85}" + _text("a")
                + _dtype("f8", _f8_state()) + b"M\x00\x10\x86sK\x08K\x01K\x10t"),
         "a field of 8 bytes at offset 4096 in a 8-byte item"),
        (_dtype("V8", b"(K\x03" + _text("|") + b"N" + _text("a") + b"\x85}" + _text("a")
                + _dtype("O8", b"(K\x03" + _text("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff"
                         b"\xffK\x00t") + b"K\x00\x86sK\x08K\x01K\x00t"),
         "an object dtype|a field that is not"),
    ],
    ids=["object string", "object dtype", "field out of bounds", "object field, flags cleared"],
)
def test_arrays_never_read_memory_through_a_dtype(wrap: str, dtype: bytes, message: str) -> None:
    payload = (
        P4 + _global("brinery.rebuild", "array_in_band") + b"(" + dtype + b"K\x01\x85"
        + _text("C") + b"C\x08AAAAAAAAtR."
    )  # fmt: skip
    for outcome in _outcomes(WRAPPINGS[wrap](payload)):
        assert isinstance(outcome, brinery.CorruptFileError), outcome
        assert pytest.importorskip("re").search(message, str(outcome)), str(outcome)


def test_a_dtype_gets_one_state_only() -> None:
    """A second BUILD through the memo would change the itemsize of an array using it."""
    payload = (
        P4 + _dtype("f8", _f8_state()) + b"\x94"  # the dtype, memoized as 0
        + _global("brinery.rebuild", "array_in_band") + b"(h\x00K\x01\x85" + _text("C")
        + b"C\x08AAAAAAAAtR0"  # an array of it
        + b"h\x00" + b"(K\x03" + _text("|") + b"NNNJ\x00\x00\x40\x00K\x01K\x00t" + b"b."
    )  # fmt: skip
    with pytest.raises(brinery.CorruptFileError, match="sets the state of a numpy"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


def test_a_dtype_token_is_used_only_once_built() -> None:
    payload = P4 + _global("numpy", "dtype") + _text("f8") + b"\x89\x88\x87R" + (
        _global("brinery.rebuild", "array_in_band").join([b"", b""])
    )
    payload = (
        P4 + _global("brinery.rebuild", "array_in_band") + b"(" + _global("numpy", "dtype")
        + _text("f8") + b"\x89\x88\x87R" + b"K\x01\x85" + _text("C") + b"C\x08AAAAAAAAtR."
    )  # fmt: skip
    with pytest.raises(brinery.CorruptFileError, match="where a dtype belongs"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


def _joblib_wrapper(state_items: bytes) -> bytes:
    return (
        _global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81\x94}" + b"(" + state_items
        + b"ub"
    )  # fmt: skip


def _wrapper_state(extra: bytes = b"") -> bytes:
    return (
        _text("subclass") + _global("numpy", "ndarray") + _text("shape") + b"K\x01\x85"
        + _text("order") + _text("C") + _text("dtype") + _dtype("f8", _f8_state()) + extra
    )  # fmt: skip


def test_joblib_wrappers_take_only_their_own_attributes() -> None:
    payload = P4 + _joblib_wrapper(_wrapper_state(_text("__setstate__") + b"N")) + bytes(8) + b"."
    with pytest.raises(brinery.CorruptFileError, match="joblib array wrapper has an invalid state"):
        brinery.load(io.BytesIO(payload), trusted=[])
    with pytest.raises(brinery.CorruptFileError, match="joblib array wrapper has an invalid state"):
        brinery.load(io.BytesIO(payload))  # trusted: the file is still read by brinery


def test_a_joblib_wrapper_gets_one_state_only() -> None:
    """Memoized before its BUILD, the wrapper is the array after it: a second BUILD through the
    memo meets an array (it would have called what the first state put in its dict)."""
    payload = (
        P4 + _joblib_wrapper(_wrapper_state()) + bytes(8) + b"0"
        + b"h\x00" + b"}" + b"b."
    )  # fmt: skip
    with pytest.raises(brinery.CorruptFileError, match=r"sets the state of a numpy\.ndarray"):
        brinery.load(io.BytesIO(payload), trusted=[])
    good = P4 + _joblib_wrapper(_wrapper_state()) + struct.pack("<d", 2.5) + b"."
    assert brinery.load(io.BytesIO(good), trusted=[]).tolist() == [2.5]
    assert inspect_file(io.BytesIO(good)).arrays[0].shape == (1,)


@pytest.mark.parametrize(
    "target",
    [b"\x96" + struct.pack("<Q", 4) + b"abcd", _global("numpy", "dtype")],
    ids=["bytearray", "global"],
)
def test_pickle_fills_only_its_own_containers(target: bytes) -> None:
    payload = P4 + target + b"K\x00K\x01s."
    with pytest.raises(brinery.CorruptFileError, match=r"the pickle fills .*, which it never does"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


def test_setitem_on_an_array_is_refused() -> None:
    payload = (
        P4 + _global("brinery.rebuild", "array_in_band") + b"(" + _text("<f8") + b"K\x01\x85"
        + _text("C") + b"\x96" + struct.pack("<Q", 8) + bytes(8) + b"tR" + b"K\x00K\x01s."
    )  # fmt: skip
    with pytest.raises(brinery.CorruptFileError, match=r"fills a numpy\.ndarray object"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


@pytest.mark.parametrize("wrap", list(WRAPPINGS))
def test_nesting_is_bounded(wrap: str) -> None:
    deep_tuple = P4 + b"}" + b")" + b"\x85" * 5000 + b"K\x01s."
    with pytest.raises(brinery.CorruptFileError, match="nests tuples more than 200 levels"):
        brinery.load(io.BytesIO(WRAPPINGS[wrap](deep_tuple)), trusted=[])
    with pytest.raises(brinery.CorruptFileError, match="nests tuples more than 200 levels"):
        brinery.load(io.BytesIO(deep_tuple))  # a plain pickle's default load too
    marks = P4 + b"(" * 5000
    for outcome in _outcomes(WRAPPINGS[wrap](marks)):
        assert isinstance(outcome, brinery.CorruptFileError)
        assert "nests more than 1000 levels deep" in str(outcome)


def test_colliding_keys_are_bounded() -> None:
    keys = b"".join(
        b"\x8a\x0a" + (k * (2**61 - 1)).to_bytes(10, "little", signed=True) + b"N"
        for k in range(1, 200)
    )
    payload = P4 + b"}(" + keys + b"u."
    with pytest.raises(brinery.CorruptFileError, match="more than 64 keys with the same hash"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])
    assert brinery.untrusted_types(io.BytesIO(_stream(payload))) == []  # nothing hashed there


def test_messages_never_show_file_objects() -> None:
    """A list made of references to itself: its repr would be huge."""
    laughs = P4 + b"]\x94" + b"(" + b"h\x00" * 40 + b"e" * 1 + b")R."
    with pytest.raises(brinery.CorruptFileError) as caught:
        brinery.load(io.BytesIO(_stream(laughs)), trusted=[])
    assert str(caught.value) == "the file calls a list of length 40, which is not trusted"


def test_long_declared_lengths_allocate_only_what_arrives() -> None:
    payload = b"\x80\x05\x8e" + struct.pack("<Q", 8 << 30) + b"ab"
    with pytest.raises(brinery.TruncatedFileError, match="8589934592-byte piece of pickle data"):
        brinery.load(io.BytesIO(payload), trusted=[])
    with pytest.raises(brinery.TruncatedFileError, match="ends 8589934590 bytes before"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


def test_max_bytes_bounds_plain_pickles() -> None:
    payload = pickle.dumps(b"x" * 10_000, protocol=4)
    with pytest.raises(brinery.SizeLimitError, match="more than max_bytes=1000 bytes"):
        brinery.load(io.BytesIO(payload), trusted=[], max_bytes=1000)
    assert brinery.load(io.BytesIO(payload), trusted=[], max_bytes=20_000) == b"x" * 10_000


NUMPY_PICKLES = {
    "float": np.arange(12.0).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4)),
    "structured": np.zeros(3, dtype=[("a", "<i4"), ("b", "S3", (2,))]),
    "dates": np.arange("2024-01", "2024-04", dtype="datetime64[M]"),
    "objects": np.array([1, "two", None, [3.0]], dtype=object),
    "matrix": np.asmatrix(np.eye(2)),  # (its pending deprecation warns)
    "recarray": np.rec.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
    "empty": np.zeros((0, 5)),
    "transposed": np.arange(24.0).reshape(2, 3, 4).transpose(1, 0, 2),  # numpy's 'K' order
    "scalar": np.float32(1.5),
}


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("name", list(NUMPY_PICKLES))
def test_numpy_own_pickles_load_safely(name: str, protocol: int, assert_same: Any) -> None:
    """numpy's own reduction (_reconstruct and its state) is read by brinery's code."""
    value = {"v": NUMPY_PICKLES[name]}
    data = pickle.dumps(value, protocol=protocol)
    assert brinery.untrusted_types(io.BytesIO(data)) == []
    loaded = brinery.load(io.BytesIO(data), trusted=[])
    if name == "transposed":  # kept in numpy's own layout, as pickle.loads does
        expected = pickle.loads(data)["v"]
        assert loaded["v"].strides == expected.strides
        np.testing.assert_array_equal(loaded["v"], expected)
    elif name == "fortran":  # '>i4': numpy makes it native before protocol 5, as pickle.loads
        assert_same(loaded, pickle.loads(data))
    else:
        assert_same(loaded, value)
    if isinstance(value["v"], np.ndarray):
        assert loaded["v"].flags.writeable
        [array] = inspect_file(io.BytesIO(data)).arrays
        assert array.shape == value["v"].shape


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_equal_keys_in_many_containers_are_not_collisions(protocol: int) -> None:
    """The bound counts keys with one hash within one container only."""
    value = {
        "sets": [{1, 2}] * 1 + [{1, 2} for _ in range(200)],
        "frozensets": [frozenset({1, (2, 3)}) for _ in range(200)],
        "dicts": [{1: "a", (2, 3): "b"} for _ in range(200)],
    }
    data = pickle.dumps(value, protocol=protocol)
    if protocol >= 2:  # (plain pickles are recognised by their PROTO opcode)
        assert brinery.load(io.BytesIO(data), trusted=[]) == value
    assert brinery.load(io.BytesIO(_stream(data)), trusted=[]) == value


@pytest.mark.parametrize("use", ["dict key", "frozenset item"])
def test_hashing_tuples_of_shared_tuples_is_bounded(use: str) -> None:
    """Each tuple holds the previous one twice: 521 bytes that take 2**64 steps to hash (found
    by tests/fuzz/test_safe_grammar.py)."""
    levels = b"".join(
        b"0h" + bytes([i]) + b"h" + bytes([i]) + b"\x86q" + bytes([i + 1]) for i in range(64)
    )
    if use == "dict key":  # {t64: None}
        payload = P4 + b"})q\x00" + levels + b"Ns."
    else:  # frozenset({t64})
        payload = P4 + b")q\x00" + levels + b"(h\x40\x91."
    with pytest.raises(brinery.CorruptFileError, match="hashing the pickle's keys would take"):
        brinery.load(io.BytesIO(_stream(payload)), trusted=[])


@pytest.mark.parametrize(
    "dtype", ["<U2", ">U2", [("a", "<i4"), ("b", "<U1")], [("s", ">U1", (2,))]], ids=str
)
def test_text_past_unicode_is_refused(dtype: Any) -> None:
    """numpy makes str arrays of any UCS-4 value, then raises SystemError reading an item."""
    good = np.zeros(2, dtype=dtype)
    bad = bytearray(good.tobytes())
    bad[-4:] = b"\xff\xff\xff\xff"
    payload = pickle.dumps(np.frombuffer(bytes(bad), dtype=good.dtype).copy(), protocol=4)
    with pytest.raises(brinery.CorruptFileError, match="code point past U\\+10FFFF"):
        brinery.load(io.BytesIO(payload), trusted=[])
    streamed = io.BytesIO()
    brinery.dump(good, streamed, checksums=False)  # (an attacker recomputes them anyway)
    data = streamed.getvalue().replace(good.tobytes(), bytes(bad))
    for trusted in ([], None):  # every mode: such an array is unusable
        with pytest.raises(brinery.CorruptFileError, match="code point past U\\+10FFFF"):
            brinery.load(io.BytesIO(data), trusted=trusted)


def test_pickles_inside_pickles_are_bounded() -> None:
    """A joblib object array's elements are a pickle after its wrapper: one inside the other,
    100 deep, in a few kilobytes."""
    object_state = b"(K\x03" + _text("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t"
    wrapper = (
        P4 + _global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81}(" + _text("subclass")
        + _global("numpy", "ndarray") + _text("shape") + b"K\x01\x85" + _text("order")
        + _text("C") + _text("dtype") + _dtype("O8", object_state) + b"ub"
    )  # fmt: skip
    payload = wrapper * 100 + b"N." * 101
    for outcome in _outcomes(payload):
        assert isinstance(outcome, brinery.CorruptFileError), outcome
        assert "nests pickles more than 32 levels deep" in str(outcome)
