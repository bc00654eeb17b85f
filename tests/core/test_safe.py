"""Safe loading (docs/security.md): ``load(source, trusted=[...])`` and ``untrusted_types``.

The exploit payloads are hand-written pickles wrapped in valid brinery streams (with correct
checksums): what an attacker would craft, not damage.
"""

from __future__ import annotations

import collections
import datetime
import fractions
import io
import pickle
import struct
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.writer import StreamWriter

COMPRESSIONS = [False, "gzip", "zlib"]


def _stream(pickle_bytes: bytes) -> io.BytesIO:
    """A brinery stream whose pickle is ``pickle_bytes``."""
    buffer = io.BytesIO()
    writer = StreamWriter(buffer)
    writer.write(pickle_bytes)
    writer.finish()
    buffer.seek(0)
    return buffer


def _plain_data() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    masked = np.ma.masked_array(rng.random(6), mask=[0, 1, 0, 0, 1, 0], fill_value=-1.0)
    shared = rng.random(1000)
    return {
        "none": None,
        "flags": [True, False],
        "ints": [0, -1, 2**70, -(2**100)],
        "floats": [1.5, float("inf"), -0.0],
        "complex": complex(1.5, -2.0),
        "text": "héllo ✓",
        "bytes": b"\x00\xff",
        "bytearray": bytearray(b"mutable"),
        "tuple": (1, (2, ("three",))),
        "set": {1, 2, 3},
        "frozenset": frozenset({"a"}),
        "nested": {"list": [{"k": (1.0, None)}], 7: "int key"},
        "big": rng.random((300, 300)),  # an array record
        "fortran": np.asfortranarray(rng.random((40, 30))),
        "strided": rng.random((50, 50))[::2, ::3],
        "small": np.arange(12, dtype=">i2").reshape(3, 4),
        "structured": np.zeros(4, dtype=[("id", "<i4"), ("pos", "<f8", (2,))]),
        "strings": np.array(["a", "bc"]),
        "dates": np.arange("2024-01", "2024-05", dtype="datetime64[M]"),
        "read_only": np.frombuffer(b"\x01\x02\x03\x04", dtype=np.uint8),
        "scalars": [np.float32(2.5), np.int64(-3), np.bool_(True), np.datetime64("2024-01-02")],
        "dtypes": [np.dtype("<f8"), np.dtype([("a", "<i4"), ("b", "S3")])],
        "masked": masked,
        "recarray": np.rec.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "shared": [shared, shared],
    }


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_plain_data_loads_in_safe_mode_exactly(
    protocol: int, compress: Any, dumps: Any, assert_same: Any
) -> None:
    original = _plain_data()
    data = dumps(original, compress=compress, protocol=protocol)
    assert brinery.untrusted_types(io.BytesIO(data)) == []
    assert_same(brinery.load(io.BytesIO(data), trusted=[]), original)
    assert_same(brinery.load(io.BytesIO(data), trusted=False), original)


def test_matrices_load_in_safe_mode(dumps: Any, assert_same: Any) -> None:
    with pytest.warns(PendingDeprecationWarning):
        matrix = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    data = dumps({"m": matrix, "again": matrix})
    loaded = brinery.load(io.BytesIO(data), trusted=[])
    assert_same(loaded, {"m": matrix, "again": matrix})


class Point:
    """A user type: not trusted unless named."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


def test_untrusted_types_lists_every_global_in_order(dumps: Any) -> None:
    value = {
        "when": datetime.date(2024, 6, 1),
        "ordered": collections.OrderedDict(a=1),
        "point": Point(1.0, 2.0),
        "ratio": fractions.Fraction(1, 3),
        "array": np.arange(3),
        "object_array": np.array([1, "x"], dtype=object),
    }
    found = brinery.untrusted_types(io.BytesIO(dumps(value)))
    assert found[:4] == [
        "datetime.date",
        "collections.OrderedDict",
        f"{__name__}.Point",
        "fractions.Fraction",
    ]
    assert found[4:] == []  # the object array's elements are plain data: read by brinery


def test_safe_load_names_every_untrusted_type_and_calls_nothing(dumps: Any) -> None:
    data = dumps({"when": datetime.date(2024, 6, 1), "point": Point(1.0, 2.0)})
    with pytest.raises(brinery.UntrustedTypesError) as caught:
        brinery.load(io.BytesIO(data), trusted=["datetime.date"])
    assert caught.value.types == [f"{__name__}.Point"]
    assert str(caught.value) == (
        f"the file needs 1 global(s) that are not trusted: {__name__}.Point. Nothing was called. "
        "If you trust them, pass them in trusted=[...] (brinery.untrusted_types(file) lists "
        "them without loading)"
    )


def test_trusted_types_load(dumps: Any) -> None:
    value = {"when": datetime.date(2024, 6, 1), "point": Point(1.0, 2.0), "o": {"a": 1}}
    data = dumps(value)
    loaded = brinery.load(io.BytesIO(data), trusted=["datetime.date", Point])
    assert loaded == value


def test_listing_imports_nothing() -> None:
    """``untrusted_types`` and a refused safe load never import a module the file names (here
    one that opens a web browser when imported)."""
    assert "antigravity" not in sys.modules
    for protocol in (0, 2):
        payload = _global_call(b"antigravity", b"fly", protocol)
        assert brinery.untrusted_types(_stream(payload)) == ["antigravity.fly"]
        with pytest.raises(brinery.UntrustedTypesError):
            brinery.load(_stream(payload), trusted=[])
    assert "antigravity" not in sys.modules


def _global_call(module: bytes, name: bytes, protocol: int = 2, argument: bytes = b"x") -> bytes:
    """A pickle calling ``module.name(argument)``: GLOBAL, a string, TUPLE1, REDUCE."""
    if protocol < 2:  # text opcodes only: GLOBAL, MARK, STRING, TUPLE, REDUCE
        text = b"(S" + repr(argument.decode("latin-1")).encode() + b"\ntR."
        return b"c" + module + b"\n" + name + b"\n" + text
    string = b"X" + struct.pack("<I", len(argument)) + argument
    return b"\x80\x02c" + module + b"\n" + name + b"\n" + string + b"\x85R."


def _stack_global_call(module: str, name: str, argument: bytes) -> bytes:
    def text(value: str) -> bytes:
        encoded = value.encode()
        return b"\x8c" + bytes([len(encoded)]) + encoded

    return b"\x80\x04" + text(module) + text(name) + b"\x93" + text(argument.decode()) + b"\x85R."


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file an exploit would create: it must never exist."""
    return tmp_path / "pwned"


def _touch(marker: Path) -> bytes:
    return f"touch {marker}".encode()


EXPLOITS = {
    "os.system": lambda marker: _global_call(b"os", b"system", argument=_touch(marker)),
    "posix.system": lambda marker: _global_call(b"posix", b"system", argument=_touch(marker)),
    "subprocess": lambda marker: _global_call(
        b"subprocess", b"getoutput", argument=_touch(marker)
    ),
    "eval": lambda marker: _global_call(
        b"builtins", b"eval", argument=f"open({str(marker)!r}, 'w')".encode()
    ),
    "exec via stack global": lambda marker: _stack_global_call(
        "builtins", "exec", f"open({str(marker)!r}, 'w')".encode()
    ),
    "getattr chain": lambda marker: _global_call(b"builtins", b"getattr", argument=b"x"),
    "dotted name through a trusted module": lambda marker: _stack_global_call(
        "numpy", "_pytesttester.os.system", _touch(marker)
    ),
    "dotted builtins": lambda marker: _stack_global_call(
        "brinery.rebuild", "np._pytesttester.os.system", _touch(marker)
    ),
    "dunder": lambda marker: _stack_global_call("brinery.rebuild", "__builtins__", b"x"),
    "operator.attrgetter": lambda marker: _global_call(b"operator", b"attrgetter", argument=b"x"),
    "functools.partial": lambda marker: _global_call(b"functools", b"partial", argument=b"x"),
    "nested pickle.loads": lambda marker: _global_call(
        b"pickle", b"loads", argument=pickle.dumps(0).decode("latin-1").encode()
    ),
    "nested _pickle.loads": lambda marker: _global_call(b"_pickle", b"loads", argument=b"x"),
    "brinery.load": lambda marker: _global_call(b"brinery", b"load", argument=str(marker).encode()),
    "object arrays of untrusted elements": lambda marker: pickle.dumps(
        np.array([1, datetime.date(2024, 1, 2)], dtype=object), protocol=2
    ),
}


ARMED = [
    "os.system",
    "posix.system",
    "subprocess",
    "eval",
    "exec via stack global",
    "dotted name through a trusted module",
    "dotted builtins",
]


@pytest.mark.parametrize("name", ARMED)
def test_the_exploits_are_real(name: str, marker: Path) -> None:
    """Loaded the default way (the file trusted, like pickle), these payloads do run: the safe
    mode is what stops them."""
    brinery.load(_stream(EXPLOITS[name](marker)))
    assert marker.exists()


@pytest.mark.parametrize("name", list(EXPLOITS))
def test_exploits_run_nothing(name: str, marker: Path) -> None:
    payload = EXPLOITS[name](marker)
    listed = brinery.untrusted_types(_stream(payload))
    assert listed, name
    with pytest.raises(brinery.UntrustedTypesError) as caught:
        brinery.load(_stream(payload), trusted=[])
    assert caught.value.types == listed
    assert not marker.exists()


def test_a_dotted_name_is_never_resolved_even_if_listed(marker: Path) -> None:
    """``numpy._pytesttester.os.system`` names the pair (numpy._pytesttester.os, system): the
    file's pair (numpy, _pytesttester.os.system), a dotted name, stays untrusted."""
    payload = _stack_global_call("numpy", "_pytesttester.os.system", _touch(marker))
    with pytest.raises(brinery.UntrustedTypesError):
        brinery.load(_stream(payload), trusted=["numpy._pytesttester.os.system"])
    assert not marker.exists()


def test_dunder_names_cannot_be_trusted() -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="dotted and dunder names"):
        brinery.load(_stream(pickle.dumps(1)), trusted=["builtins.__import__"])


def test_build_on_a_trusted_function_is_refused() -> None:
    """BUILD with slot state would setattr(brinery.rebuild.array, '__code__', ...)."""
    payload = (
        b"\x80\x04\x8c\x0fbrinery.rebuild\x8c\x05array\x93"
        b"N}\x8c\x08__code__\x8c\x01xs\x86b."  # state (None, {'__code__': 'x'}), BUILD
    )
    from brinery import rebuild

    code = rebuild.array.__code__
    with pytest.raises(brinery.CorruptFileError, match=r"state of brinery\.rebuild\.array"):
        brinery.load(_stream(payload), trusted=[])
    assert rebuild.array.__code__ is code


def test_new_objects_of_default_types_are_refused() -> None:
    """NEWOBJ only creates the caller's trusted types (numpy's go through brinery.rebuild)."""
    payload = b"\x80\x04\x8c\x08numpy.ma\x8c\x0bMaskedArray\x93)\x81."
    with pytest.raises(brinery.CorruptFileError, match=r"creates numpy\.ma\.MaskedArray directly"):
        brinery.load(_stream(payload), trusted=[])


def test_calls_with_arguments_brinery_never_writes_are_refused() -> None:
    payload = (
        b"\x80\x04\x8c\x16numpy._core.multiarray\x8c\x06scalar\x93"
        b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02O8\x85RK\x01\x86R."
    )
    with pytest.raises(brinery.CorruptFileError, match="a numpy scalar from something else"):
        brinery.load(_stream(payload), trusted=[])


HOSTILE_PICKLES = {
    # lengths far beyond the data: read before anything is allocated for them
    "BINBYTES8": b"\x80\x05\x8e" + struct.pack("<Q", 1 << 60) + b"abc.",
    "BYTEARRAY8": b"\x80\x05\x96" + struct.pack("<Q", 1 << 60) + b"abc.",
    "BINUNICODE8": b"\x80\x05\x8d" + struct.pack("<Q", 1 << 60) + b"abc.",
    # memo indices: the memo is a dict, nothing is sized by them
    "memo-get": b"\x80\x04j\xff\xff\xff\x7f.",  # LONG_BINGET 2**31 - 1: no such entry
    "memo-put": b"\x80\x04N r\xff\xff\xff\xffj\xff\xff\xff\xff.",  # PUT, GET 2**32 - 1
    "extension": b"\x80\x04\x82\x01.",  # EXT1: a copyreg extension code
}


@pytest.mark.parametrize("name", list(HOSTILE_PICKLES))
def test_hostile_lengths_indices_and_extensions_allocate_nothing(name: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(brinery.BrineryError) as caught:
            brinery.load(_stream(HOSTILE_PICKLES[name]), trusted=[])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = brinery.UntrustedTypesError if name == "extension" else brinery.CorruptFileError
    assert type(caught.value) is expected or isinstance(caught.value, expected), caught.value
    assert peak < 1 << 20


@pytest.mark.parametrize("trusted", ["datetime.date", b"x", [1], ["nodots"], ["a.__b__"]])
def test_trusted_must_name_globals(trusted: Any) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="trusted"):
        brinery.load(_stream(pickle.dumps(1)), trusted=trusted)
