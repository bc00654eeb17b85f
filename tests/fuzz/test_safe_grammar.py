"""Grammar-based fuzzing of the safe loaders (issue #10): ``load(trusted=[])``,
``load(trusted=False, max_bytes=)``, ``untrusted_types`` and ``inspect_file``.

Hypothesis builds *pickle opcode sequences* (not pickles of real objects) from a grammar that
reaches what a hostile file would aim at: the globals brinery trusts and those it must not
(brinery's rebuild functions, numpy's dtype, scalar and array classes, builtins, ``os.system``,
dotted and dunder names), numpy dtypes built the way numpy pickles them (``REDUCE`` then
``BUILD`` with a state tuple, taken from real ``__reduce__`` results and then damaged: offsets
past the itemsize, object fields, negative sizes, flags 0 and 63, a dtype rebuilt after an array
took it...), the argument shapes of brinery's rebuild functions, joblib's array wrapper followed
by raw bytes, and every opcode family (calls, memo, marks, containers, scalars of every encoding
with lying lengths, frames, buffers, persistent ids, extension codes, protocol-0 text opcodes,
early, late and missing ``STOP``).  Each pickle is wrapped as a brinery stream (with array and
buffer records), as a plain pickle and as a joblib-style file, and every safe entry point must
succeed or raise a :class:`brinery.BrineryError`.

The examples run in ONE child process per test (``python this_file.py --worker``), with its
address space limited to 1 GiB, a timeout per call (``HANG_SECONDS``; faulthandler ends a hang
inside C code), a wall-clock limit and an audit hook, in an empty working directory.  A
segfault, a hang, a file written, a process run or a module imported (audit events), a builtin
numpy dtype changed, an exception that is not a ``BrineryError`` (or a ``BrineryError`` caused by
``MemoryError`` or ``SystemError``: an allocation out of proportion to the file, or C code
misused), or a loaded value that crashes when used (repr, copy) fails the test with the
offending opcodes (hex and ``pickletools`` text).  The child first runs every example, keeping
the smallest one of each failure class, then lets hypothesis shrink them for ``SHRINK_SECONDS``;
after a crash it is started again (new seed) on the examples left, so one run reports several.

``BRINERY_FUZZ_SCALE`` multiplies the examples (``EXAMPLES_PER_TEST`` per wrapper at scale 1);
``BRINERY_FUZZ_SEED`` fixes hypothesis' seed (default: a new one each run, printed on failure);
``BRINERY_FUZZ_REPORT`` names a JSON file whose ``"safe_grammar"`` key receives the counts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import faulthandler
import gc
import io
import json
import math
import os
import pickle
import pickletools
import random
import signal
import struct
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import brinery
import brinery.api
from brinery.format.layout import ARRAY_RECORD, BUFFER_RECORD
from brinery.format.writer import StreamWriter

SCALE = int(os.environ.get("BRINERY_FUZZ_SCALE", "1"))
#: Examples per wrapper (three wrappers: 900 examples in all at scale 1).
EXAMPLES_PER_TEST = 300
#: Seconds one safe-loading call may take before it counts as a hang.
HANG_SECONDS = 10
#: The child's address space: a tiny file must never make brinery allocate this much.
MEMORY_LIMIT = 1 << 30
#: The child's wall clock: a fixed part plus a part per example (it also shrinks failures).
WALL_SECONDS = 120
WALL_SECONDS_PER_EXAMPLE = 1.0
#: Seconds the child spends shrinking the failures it found (times the scale, at most 300).
SHRINK_SECONDS = 20
#: Children started again after a crash or a hang, at most, per test.
RESTARTS = 3
CHILD_MARK = "BRINERY_FUZZ_SAFE_GRAMMAR_CHILD"
WRAPPERS = ["stream", "plain", "joblib"]

# -- opcodes -------------------------------------------------------------------------------------

MARK, STOP, POP, POP_MARK, DUP = b"(", b".", b"0", b"1", b"2"
NONE, NEWTRUE, NEWFALSE = b"N", b"\x88", b"\x89"
REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, OBJ, INST = b"R", b"b", b"\x81", b"\x92", b"o", b"i"
GLOBAL, STACK_GLOBAL = b"c", b"\x93"
EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b")", b"t", b"\x85", b"\x86", b"\x87"
EMPTY_LIST, LIST, APPEND, APPENDS = b"]", b"l", b"a", b"e"
EMPTY_DICT, DICT, SETITEM, SETITEMS = b"}", b"d", b"s", b"u"
EMPTY_SET, ADDITEMS, FROZENSET = b"\x8f", b"\x90", b"\x91"
MEMOIZE, FRAME, NEXT_BUFFER, READONLY_BUFFER = b"\x94", b"\x95", b"\x97", b"\x98"


def _binput(index: int) -> bytes:
    return b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)


def _binget(index: int) -> bytes:
    return b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)


def _long1(n: int) -> bytes:
    encoded = pickle.encode_long(n)  # type: ignore[attr-defined]
    return b"\x8a" + bytes([len(encoded)]) + encoded


def _tuple(items: list[bytes]) -> bytes:
    if not items:
        return EMPTY_TUPLE
    if len(items) <= 3:
        return b"".join(items) + (TUPLE1, TUPLE2, TUPLE3)[len(items) - 1]
    return MARK + b"".join(items) + TUPLE


# -- what the grammar draws from ---------------------------------------------------------------

REBUILD = "brinery.rebuild"
MULTIARRAY = "numpy._core.multiarray"
JOBLIB = "joblib.numpy_pickle"
#: Globals: the trusted ones (several times: they lead further), then the rest.
GLOBALS: list[tuple[str, str]] = [
    *[(REBUILD, name) for name in ("array", "array_in_band", "subclass_view", "masked_array")] * 2,
    *[("numpy", name) for name in ("dtype", "ndarray", "memmap", "matrix", "record", "frombuffer")],
    ("numpy", "dtype"),
    (MULTIARRAY, "scalar"),
    (MULTIARRAY, "scalar"),
    (MULTIARRAY, "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.ma.core", "MaskedArray"),
    ("numpy.ma.core", "_mareconstruct"),
    ("numpy.ma", "MaskedArray"),
    ("numpy.rec", "recarray"),
    ("numpy._core.records", "recarray"),
    ("numpy.matrixlib.defmatrix", "matrix"),
    ("numpy._core.records", "record"),
    *[("builtins", name) for name in ("set", "frozenset", "bytearray", "bytes", "complex")],
    ("builtins", "getattr"),
    ("builtins", "eval"),
    ("__builtin__", "set"),  # Python 2 names: mapped at protocols 0-2
    ("__builtin__", "eval"),
    ("copy_reg", "_reconstructor"),
    ("_codecs", "encode"),
    (JOBLIB, "NumpyArrayWrapper"),
    (JOBLIB, "NDArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("os", "system"),
    ("posix", "system"),
    ("subprocess", "Popen"),
    ("os", "path.join"),  # dotted and dunder names
    ("numpy", "ma.core.MaskedArray"),
    ("numpy", "_core.multiarray.scalar"),
    ("numpy", "__class__"),
    ("numpy.dtype", "__new__"),
    ("builtins", "__import__"),
    (REBUILD, "__builtins__"),
    (REBUILD, "CURRENT_STREAM"),
    (REBUILD, "np"),
    (REBUILD, "_view"),
    ("nonexistent_module_zz", "thing"),  # what cannot be found
    ("numpy", "no_such_name"),
    ("", ""),
    ("numpy.", "dtype"),
]
DTYPE_STRINGS = [
    "<f8", "|O", "|V0", "|V8", "<U2", "|S3", "<M8[D]", ">i2", "|b1", "f8", "O8", "V16", "M8",
    "m8", "U4", "S0", "U0", "V0", "<c16", "<f2", "|u1", ">u8", "<m8[ns]", "M8[Y]", "<i8", "?",
    "", "x", "f8,i4", "(2,3)<f4", "O,O", "V-1", "S99999999999", "|V2147483648", "U1000000000",
    "a", "i4,O", "(2,)O",
]  # fmt: skip


def _itemsize(description: Any) -> int | None:
    try:
        with warnings.catch_warnings():  # "a": deprecated, still a dtype
            warnings.simplefilter("ignore", DeprecationWarning)
            return int(np.dtype(description).itemsize)
    except Exception:  # not a dtype at all: the grammar keeps it anyway
        return None


ITEMSIZES = {text: _itemsize(text) for text in DTYPE_STRINGS}
#: Dtypes whose real ``__reduce__`` the grammar starts from.
TEMPLATE_DTYPES = [
    np.dtype("f8"),
    np.dtype(">i2"),
    np.dtype("V16"),
    np.dtype("O"),
    np.dtype("M8[D]"),
    np.dtype("m8[ns]"),
    np.dtype("U4"),
    np.dtype("S3"),
    np.dtype("b1"),
    np.dtype([("a", "<i4"), ("b", "O")]),
    np.dtype([("a", "<i4"), ("b", ">f8")], align=True),
    np.dtype(("<f4", (2, 3))),
    np.dtype(("O", (2,))),
    np.dtype({"names": ["x"], "formats": ["<i2"], "offsets": [4], "itemsize": 8}),
    np.dtype({"names": ["x"], "formats": ["<i2"], "offsets": [4], "titles": ["T"], "itemsize": 8}),
    np.dtype("f8", metadata={"k": 1}),
    np.dtype((np.record, [("a", "<i4")])),
]
#: Dtypes put inside damaged states (subarrays, fields).
INNER_DTYPES = [np.dtype(d) for d in ("f8", "O", "i2", "V8", "U2", "S3", "M8[D]", "V0")] + [
    np.dtype([("a", "O")]),
    np.dtype(("f4", (2,))),
]
DIMS = [1, 2, 3, 0, 4, 5]
ODD_DIMS = [-1, -2, 2**31, 2**62, 2**63, 2**64, True, 1.0, "2", None]
SUBARRAY_SHAPES = [(2,), (2, 3), (), (0,), (1,), (-1,), (2**31,), (2**62,), (1,) * 33, (3, 4, 5)]
STATE_VERSIONS = [3, 4, 2, 1, 0, -1, 5, 2**40]
BYTE_ORDERS = ["<", ">", "|", "=", "", "x", b"<", None, "<<"]
STATE_ITEMSIZES = [-1, 0, 1, 2, 4, 8, 16, 24, 2**31 - 1, 2**31, 2**62, -(2**31), -5, 2**64]
ALIGNMENTS = [-1, 0, 1, 2, 3, 8, 16, 2**31, -8]
DTYPE_FLAGS = [0, 1, 8, 16, 27, 63, 144, 255, -1, 2**40, 0x1C]
OFFSETS = [0, 1, 4, 7, 8, 16, -8, 2**31, 2**62]
FIELD_NAMES = [("a",), ("a", "b"), ("a", "a"), ("",), ("f0", "f1", "f2"), ()]
_ABSENT = object()
DTYPE_EXTRAS = [
    _ABSENT, None, {}, {"k": 1}, (None, (b"D", 1, 1, 1)), (None, (b"ns", 1, 1, 1)),
    (None, (b"xx", 0, 0, 0)), (None, (b"D", -1, 2**62, 1)), ({"k": 1}, (b"Y", 1, 1, 1)),
    (None, (b"D", 1, 1)), (None, ("D", 1, 1, 1)), (None, (b"D", 0, 0, 2**40)),
]  # fmt: skip
FILL_VALUES = [None, 0, 1.5, "x", b"y", 2**70, -1, float("nan"), True, (1, 2), [1], {"a": 1}]
SUBCLASSES = [
    ("numpy", "ndarray"), ("numpy", "memmap"), ("numpy", "matrix"), ("numpy", "record"),
    ("numpy.ma.core", "MaskedArray"), ("numpy.rec", "recarray"), ("numpy", "dtype"),
    ("builtins", "set"), ("os", "system"),
]  # fmt: skip
TEXT_OPCODES = [
    b"I1\n", b"I-0\n", b"I00\n", b"I01\n", b"I0x10\n", b"I1_000\n", b"I 7\n", b"I" + b"9" * 5000
    + b"\n", b"I\n", b"I1e3\n", b"ITrue\n", "I\u0661\u0662\n".encode(), b"L12L\n", b"L12\n",
    b"L-1L\n", b"L" + b"9" * 5000 + b"L\n", b"LL\n", b"L\n", b"F1.5\n", b"Fnan\n", b"F-inf\n",
    b"F1e999\n", b"F\n", b"F0x1p3\n", b"F1_0.5\n", b"F 3 \n", b"F1e-400\n", b"F" + b"9" * 400
    + b"\n", b"S'abc'\n", b'S"abc"\n', b"S'abc\n", b"Sabc\n", b"S'\n", b"S''\n",
    b"S'\\x00\\u1234'\n", b"S'\\'\n", b"Vabc\n", b"V\\u1234\n", b"V\\U0010ffff\n",
    b"V\\U00110000\n", b"V\\\n", b"V\xff\xfe\n", b"T\x03\x00\x00\x00\xff\xfe\xfd",
    b"U\x02\x80\x81", b"P1\n", b"Pabc\n", b"g0\n", b"gx\n", b"g-1\n", b"p0\n", b"p-1\n",
    b"I1", b"F1.5",
]  # fmt: skip
NOISE = [
    MARK, POP, POP_MARK, DUP, TUPLE, LIST, DICT, APPEND, APPENDS, SETITEM, SETITEMS, BUILD,
    REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, ADDITEMS, FROZENSET, STACK_GLOBAL, TUPLE1, TUPLE2, TUPLE3,
    b"Q", b"\x82\x01", b"\x83\x01\x00", b"\x84\xff\xff\xff\x7f", NEXT_BUFFER, READONLY_BUFFER,
    MEMOIZE, b"q\x00", b"r\xff\xff\xff\xff", b"h\x00", b"h\xff", b"j\xff\xff\xff\x7f",
    b"\x80\x05", b"\x80\x02", STOP, b"\xff", b"\x00", NONE, EMPTY_SET, EMPTY_DICT, EMPTY_LIST,
    EMPTY_TUPLE, FRAME + struct.pack("<Q", 2**63), FRAME + struct.pack("<Q", 0),
]  # fmt: skip
LYING_LENGTHS = [2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 100_000, 1]


@dataclasses.dataclass(frozen=True)
class Example:
    """One generated file: its wrapper, the pickle opcodes inside it, and the file's bytes."""

    wrapper: str
    pickle: bytes
    data: bytes

    def __repr__(self) -> str:
        head = self.pickle[:200].hex()
        more = "..." if len(self.pickle) > 200 else ""
        return f"Example({self.wrapper}, {len(self.data)} file bytes, pickle={head}{more})"


class _Grammar:
    """Draws one pickle (and, for brinery streams, the records it takes) from the grammar."""

    _ranges: ClassVar[dict[tuple[int, int], st.SearchStrategy[int]]] = {}

    def __init__(self, draw: Callable[[Any], Any], wrapper: str) -> None:
        self.draw = draw
        self.wrapper = wrapper
        self.records: list[tuple[int, bytes]] = []  # raw memory the stream carries, in order
        self.puts: list[int] = []  # memo indices written with BINPUT / LONG_BINPUT

    # -- choices ---------------------------------------------------------------------------

    def count(self, low: int, high: int) -> int:
        strategy = self._ranges.get((low, high))
        if strategy is None:
            strategy = self._ranges[(low, high)] = st.integers(low, high)
        value: int = self.draw(strategy)
        return value

    def pick(self, options: list[Any]) -> Any:
        return options[self.count(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        """True ``percent`` times in 100, shrinking towards false (the plainer pickle); the
        window is in the middle of the range, away from the ends hypothesis favours."""
        return (self.count(0, 99) - 50) % 100 < percent

    def weighted(self, weights: list[tuple[str, int]]) -> str:
        roll = self.count(0, sum(weight for _, weight in weights) - 1)
        for name, weight in weights:
            if roll < weight:
                return name
            roll -= weight
        raise AssertionError("unreachable")

    def blob(self, size: int) -> bytes:
        pattern = self.pick(["zeros", "random", "ones", "ascending"])
        if pattern == "zeros":
            return bytes(size)
        if pattern == "ones":
            return b"\xff" * size
        if pattern == "ascending":
            return bytes(i % 256 for i in range(size))
        return random.Random(self.count(0, 2**16)).randbytes(size)

    # -- scalars ---------------------------------------------------------------------------

    def integer(self, n: int) -> bytes:
        if type(n) is bool:
            return self.pick([NEWTRUE if n else NEWFALSE, b"I01\n" if n else b"I00\n"])
        encoded = pickle.encode_long(n)  # type: ignore[attr-defined]
        forms = []  # the plainest first (hypothesis shrinks towards it)
        if 0 <= n < 256:
            forms += ["BININT1"] * 3
        if 0 <= n < 65536:
            forms.append("BININT2")
        if -(2**31) <= n < 2**31:
            forms += ["BININT"] * 2
        if len(encoded) < 256:
            forms.append("LONG1")
        forms += ["LONG4", "INT", "LONG"]
        form = self.pick(forms)
        if form == "BININT1":
            return b"K" + bytes([n])
        if form == "BININT2":
            return b"M" + struct.pack("<H", n)
        if form == "BININT":
            return b"J" + struct.pack("<i", n)
        if form == "LONG1":
            return b"\x8a" + bytes([len(encoded)]) + encoded
        if form == "INT":
            return b"I" + str(n).encode() + b"\n"
        if form == "LONG":
            return b"L" + str(n).encode() + b"L\n"
        length = len(encoded)
        if self.chance(4):
            length = self.pick([2**31 - 1, 100_000, -1, length + 1])
        return b"\x8b" + struct.pack("<i", length) + encoded

    def real(self, x: float) -> bytes:
        if not self.chance(30):
            return b"G" + struct.pack(">d", x)
        return b"F" + repr(x).encode() + b"\n"

    def _sized(self, short: bytes | None, four: bytes, eight: bytes, data: bytes) -> bytes:
        """A length-prefixed opcode: 1-, 4- or 8-byte length, sometimes a lying one."""
        forms = ["four", "eight"] + (["short"] * 3 if short is not None and len(data) < 256 else [])
        form = self.pick(forms)
        length = len(data)
        lie = self.chance(3)
        if form == "short":
            assert short is not None
            return short + bytes([self.pick([255, length + 1]) if lie else length]) + data
        if form == "four":
            return four + struct.pack("<I", self.pick(LYING_LENGTHS[:2]) if lie else length) + data
        return eight + struct.pack("<Q", self.pick(LYING_LENGTHS) if lie else length) + data

    def text(self, s: str) -> bytes:
        data = s.encode("utf-8", "surrogatepass")
        if self.chance(10):
            escaped = s.encode("raw-unicode-escape").replace(b"\\", b"\\u005c")
            return b"V" + escaped.replace(b"\n", b"\\u000a") + b"\n"
        if self.chance(5) and s.isascii():  # Python 2 str, decoded as ASCII
            return b"S" + repr(s).encode() + b"\n"
        return self._sized(b"\x8c", b"X", b"\x8d", data)

    def binary(self, b: bytes) -> bytes:
        if self.chance(5):  # protocols 0-2: _codecs.encode(text, "latin1")
            return self.call(
                ("_codecs", "encode"), [self.text(b.decode("latin1")), self.text("latin1")]
            )
        return self._sized(b"C", b"B", b"\x8e", b)

    def byte_array(self, b: bytes) -> bytes:
        if self.chance(30):
            return self.call(("builtins", "bytearray"), [self.binary(b)])
        return b"\x96" + self._lied(8, len(b)) + b

    def _lied(self, width: int, length: int) -> bytes:
        lie = self.chance(3)
        return struct.pack("<Q", self.pick(LYING_LENGTHS) if lie else length)[:width]

    # -- structure -------------------------------------------------------------------------

    def memo(self, fragment: bytes) -> bytes:
        """``fragment``, sometimes memoized (MEMOIZE, BINPUT, LONG_BINPUT)."""
        if not self.chance(12):
            return fragment
        form = self.pick(["MEMOIZE", "BINPUT", "PUT"])
        if form == "MEMOIZE":
            return fragment + MEMOIZE
        index = self.pick([0, 1, 2, 5, 255, 256, 100_000])
        self.puts.append(index)
        if form == "PUT":
            return (
                fragment
                + b"p"
                + (
                    str(index).encode()
                    if not self.chance(20)
                    else self.pick([b"-1", b"x", b"1" * 30])
                )
                + b"\n"
            )
        return fragment + _binput(index)

    def sequence(self, items: list[bytes]) -> bytes:
        return self.pick(
            [
                lambda: _tuple(items),
                lambda: MARK + b"".join(items) + TUPLE,
            ]
        )()

    def listing(self, items: list[bytes]) -> bytes:
        form = self.pick(["appends", "list", "append"])
        if form == "appends":
            return EMPTY_LIST + MARK + b"".join(items) + APPENDS
        if form == "list":
            return MARK + b"".join(items) + LIST
        return EMPTY_LIST + b"".join(item + APPEND for item in items)

    def mapping(self, pairs: list[tuple[bytes, bytes]]) -> bytes:
        form = self.pick(["setitems", "dict", "setitem"])
        flat = b"".join(key + value for key, value in pairs)
        if form == "setitems":
            return EMPTY_DICT + MARK + flat + SETITEMS
        if form == "dict":
            return MARK + flat + DICT
        return EMPTY_DICT + b"".join(key + value + SETITEM for key, value in pairs)

    def collection(self, items: list[bytes], frozen: bool) -> bytes:
        form = self.pick(["opcode", "opcode", "call"])
        if form == "call":
            return self.call(("builtins", "frozenset" if frozen else "set"), [self.listing(items)])
        if frozen:
            return MARK + b"".join(items) + FROZENSET
        return EMPTY_SET + MARK + b"".join(items) + ADDITEMS

    def encode(self, value: Any, depth: int = 1) -> bytes:
        """A plain Python value (tuples, dicts, dtypes, classes...) as opcodes."""
        if isinstance(value, _Raw):
            return value.code
        if value is None:
            return NONE
        if type(value) in (bool, int):
            return self.integer(value)
        if type(value) is float:
            return self.real(value)
        if type(value) is str:
            return self.text(value)
        if type(value) is bytes:
            return self.binary(value)
        if type(value) is tuple:
            return self.memo(self.sequence([self.encode(item, depth) for item in value]))
        if type(value) is list:
            return self.memo(self.listing([self.encode(item, depth) for item in value]))
        if type(value) is dict:
            pairs = [(self.encode(k, depth), self.encode(v, depth)) for k, v in value.items()]
            return self.memo(self.mapping(pairs))
        if isinstance(value, np.dtype):
            return self.dtype_of(value, depth)[0]
        if isinstance(value, type):
            return self.global_(value.__module__, value.__qualname__)
        raise TypeError(f"the grammar cannot encode {value!r}")

    # -- globals and calls -------------------------------------------------------------------

    def global_(self, module: str, name: str) -> bytes:
        form = self.pick(["stack", "stack", "text", "memoized", "other strings"])
        if form == "text":
            return GLOBAL + module.encode() + b"\n" + name.encode() + b"\n"
        if form == "memoized":  # the strings memoized, the global built again from the memo
            first = self.pick([0, 3, 254, 70_000])
            self.puts += [first, first + 1]
            strings = self.text(module) + _binput(first) + self.text(name) + _binput(first + 1)
            return strings + STACK_GLOBAL + POP + _binget(first) + _binget(first + 1) + STACK_GLOBAL
        if form == "other strings":
            return (
                b"X"
                + struct.pack("<I", len(module.encode()))
                + module.encode()
                + (b"V" + name.encode() + b"\n")
                + STACK_GLOBAL
            )
        return self.text(module) + self.text(name) + STACK_GLOBAL

    def call(self, target: tuple[str, str], args: list[bytes]) -> bytes:
        how = self.weighted(
            [("REDUCE", 14), ("NEWOBJ", 2), ("NEWOBJ_EX", 1), ("OBJ", 1), ("INST", 1)]
        )
        if how == "INST":
            module, name = target
            return MARK + b"".join(args) + INST + module.encode() + b"\n" + name.encode() + b"\n"
        function = self.memo(self.global_(*target))
        if how == "OBJ":
            return MARK + function + b"".join(args) + OBJ
        arguments = self.memo(self.sequence(args))
        if how == "NEWOBJ":
            return function + arguments + NEWOBJ
        if how == "NEWOBJ_EX":
            return function + arguments + self.mapping([]) + NEWOBJ_EX
        return function + arguments + REDUCE

    # -- dtypes ----------------------------------------------------------------------------

    def dtype_of(self, dtype: np.dtype, depth: int) -> tuple[bytes, int | None]:
        """``dtype`` as numpy pickles it (REDUCE then BUILD), its state often damaged."""
        _, args, state = dtype.__reduce__()
        if self.chance(25):
            args = (self.pick(DTYPE_STRINGS[:24]), *args[1:])
        if self.chance(10):
            args = self.pick([args[:1], args[:2], (args[0], False, False), (*args, True)])
        function = self.memo(self.global_("numpy", "dtype"))
        code = self.memo(function + self.encode(tuple(args), depth) + REDUCE)
        if self.chance(8):  # a dtype with no state at all
            return code, _itemsize(args[0]) if type(args[0]) is str else None
        damaged = depth < 3 and self.chance(55)
        code += self.dtype_state(state, depth, damaged) + BUILD
        if self.chance(6):  # BUILD again, on the same object
            code += self.dtype_state(self.pick(TEMPLATE_DTYPES).__reduce__()[2], depth, True)
            code += BUILD
        return code, dtype.itemsize

    def dtype_state(self, state: tuple[Any, ...], depth: int, damaged: bool) -> bytes:
        items = list(state[:8])
        extra = state[8] if len(state) > 8 else _ABSENT
        if damaged:
            if self.chance(15):
                items[0] = self.pick(STATE_VERSIONS)
            if self.chance(15):
                items[1] = self.pick(BYTE_ORDERS)
            if self.chance(20):
                items[2] = self.subarray()
            if self.chance(25):
                items[3], items[4] = self.fields()
            if self.chance(25):
                items[5] = self.pick(STATE_ITEMSIZES)
            if self.chance(15):
                items[6] = self.pick(ALIGNMENTS)
            if self.chance(30):
                items[7] = self.pick(DTYPE_FLAGS)
            if self.chance(15):
                extra = self.pick(DTYPE_EXTRAS)
            if self.chance(4):
                items = items[: self.count(0, 7)] + ([1] if self.chance(50) else [])
        if extra is not _ABSENT:
            items.append(extra)
        return self.encode(tuple(items), depth + 1)

    def subarray(self) -> Any:
        inner = self.pick(INNER_DTYPES)
        form = self.pick(["none", "pair", "pair", "pair", "short", "long", "list shape"])
        shape = self.pick(SUBARRAY_SHAPES)
        if form == "none":
            return None
        if form == "short":
            return (inner,)
        if form == "long":
            return (inner, shape, 1)
        if form == "list shape":
            return (inner, list(shape))
        return (inner, shape)

    def fields(self) -> tuple[Any, Any]:
        names = self.pick(FIELD_NAMES)
        fields: dict[Any, Any] = {}
        for name in names:
            entry: tuple[Any, ...] = (self.pick(INNER_DTYPES), self.pick(OFFSETS))
            if self.chance(15):
                entry = (*entry, self.pick(["T", name, None]))
            fields[name] = entry
        form = self.pick(["both", "both", "both", "no names", "no fields", "extra key", "odd"])
        if form == "no names":
            return None, fields
        if form == "no fields":
            return names, None
        if form == "extra key":
            fields["zz"] = (self.pick(INNER_DTYPES), 0)
        if form == "odd":
            fields = {name: self.pick([None, 1, (1, 0), ("f8", 0)]) for name in names}
        return names, fields

    def dtype_arg(self, depth: int) -> tuple[bytes, int | None]:
        """What the rebuild functions take as a dtype: a string, or a dtype object."""
        if self.chance(45):
            text = self.pick(DTYPE_STRINGS)
            return self.text(text), ITEMSIZES[text]
        return self.dtype_of(self.pick(TEMPLATE_DTYPES), depth)

    # -- arrays ----------------------------------------------------------------------------

    def shape(self) -> Any:
        form = self.weighted([("tuple", 30), ("many", 1), ("other", 2)])
        if form == "tuple":
            return tuple(self.dimension() for _ in range(self.count(0, 4)))
        if form == "many":
            return (1,) * self.pick([32, 33, 64, 65])
        return self.pick([[2], 3, None, "2", (2, (3,))])

    def dimension(self) -> Any:
        return self.pick(ODD_DIMS) if self.chance(12) else self.pick(DIMS)

    @staticmethod
    def nbytes(shape: Any, itemsize: int | None) -> int | None:
        if itemsize is None or type(shape) is not tuple:
            return None
        if not all(type(n) is int and n >= 0 for n in shape):
            return None
        return math.prod(shape) * itemsize

    def payload(self, nbytes: int | None) -> bytes:
        if nbytes is not None and nbytes <= 1 << 16 and not self.chance(25):
            size = nbytes + (self.pick([-1, 1, 8]) if self.chance(5) else 0)
        else:
            size = self.pick([0, 1, 7, 8, 16, 24, 64])
        return self.blob(max(size, 0))

    def memory(self, nbytes: int | None) -> bytes:
        """Array memory in the pickle: bytes, bytearray, a buffer, or something else."""
        data = self.payload(nbytes)
        form = self.weighted(
            [("bytes", 12), ("bytearray", 3), ("buffer", 2), ("str", 1), ("other", 1)]
        )
        if form == "bytes":
            return self.binary(data)
        if form == "bytearray":
            return self.byte_array(data)
        if form == "buffer":
            self.records.append((BUFFER_RECORD, data))
            return NEXT_BUFFER + (READONLY_BUFFER if self.chance(50) else b"")
        if form == "str":
            return self.text(data.decode("latin1"))
        return self.pick([NONE, EMPTY_LIST, self.integer(len(data))])

    def array_in_band(self, depth: int) -> bytes:
        dtype, itemsize = self.dtype_arg(depth)
        shape = self.shape()
        order = self.pick(["C", "C", "F", "A", "K", "", "c"])
        data = self.memory(self.nbytes(shape, itemsize))
        return self.call(
            (REBUILD, "array_in_band"), [dtype, self.encode(shape), self.text(order), data]
        )

    def array(self, depth: int) -> bytes:
        dtype, itemsize = self.dtype_arg(depth)
        shape = self.shape()
        if not self.chance(10):
            self.records.append((ARRAY_RECORD, self.payload(self.nbytes(shape, itemsize))))
        order = self.pick(["C", "F", "C", "A"])
        writeable = self.pick([True, False, True, 1, None])
        args = [dtype, self.encode(shape), self.text(order), self.encode(writeable)]
        return self.call((REBUILD, "array"), args)

    def some_array(self, depth: int) -> bytes:
        if not self.chance(25):
            return self.array_in_band(depth + 1)
        return self.array(depth + 1)

    def masked_array(self, depth: int) -> bytes:
        cls = self.global_(*self.pick([("numpy.ma.core", "MaskedArray")] * 4 + SUBCLASSES))
        shape = tuple(self.pick(DIMS[:4]) for _ in range(self.count(0, 2)))
        text = self.pick(["<f8", "<i4", "|V4", "<U1"])
        data = self.plain_array(shape, text) if not self.chance(30) else self.some_array(depth)
        mask = self.pick(
            [
                lambda: self.plain_array(shape, "|b1"),
                lambda: self.plain_array(shape, text),
                lambda: self.some_array(depth),
                lambda: self.encode(self.pick([False, True, None, [True, False], 0, "x"])),
            ]
        )()
        fill = self.pick(
            [lambda: self.encode(self.pick(FILL_VALUES)), lambda: self.some_array(depth)]
        )()
        hard = self.encode(self.pick([False, True, 1, None]))
        return self.call((REBUILD, "masked_array"), [cls, data, mask, fill, hard])

    def subclass_view(self, depth: int) -> bytes:
        cls = self.global_(
            *self.pick([("numpy", "matrix"), ("numpy.rec", "recarray"), *SUBCLASSES])
        )
        state = self.pick(
            [
                None, {}, {"a": 1}, {"_mask": True}, {"_fill_value": "x"}, {"_baseclass": None},
                {"_sharedmask": 1}, {"dtype": "f8"}, {"__class__": None}, [("a", 1)],
            ]
        )  # fmt: skip
        if type(state) is dict and state and self.chance(30):
            state = {key: _Raw(self.some_array(depth)) for key in state}
        base = self.plain_array() if not self.chance(30) else self.some_array(depth)
        return self.call((REBUILD, "subclass_view"), [cls, base, self.encode(state)])

    def scalar(self, depth: int) -> bytes:
        dtype, itemsize = self.dtype_arg(depth)
        size = (
            itemsize if itemsize is not None and not self.chance(20) else self.pick([0, 1, 8, 16])
        )
        data = self.blob(size)
        args = [dtype, self.binary(data)]
        if self.chance(10):
            args = self.pick([[dtype], [dtype, self.listing([NONE])], [dtype, self.text("x")]])
        module = self.pick([MULTIARRAY] * 4 + ["numpy.core.multiarray"])
        return self.call((module, "scalar"), args)

    def numpy_reconstruction(self, depth: int) -> bytes:
        """numpy's own array pickling (``_reconstruct`` or ``ndarray`` then BUILD), and
        ``np.ndarray``/``np.memmap`` called (joblib files name them as a wrapper's subclass)."""
        form = self.pick(
            ["frombuffer", "reconstruct", "ndarray new", "ndarray call", "memmap", "masked"]
        )
        if form == "frombuffer":
            return self.frombuffer(depth)
        if form == "memmap":
            name = self.text(self.pick(["fuzz.bin", "fuzz.dat"]))
            args = [name, self.text("uint8"), self.text(self.pick(["w+", "r+", "r", "c"]))]
            args += [self.integer(0), self.encode((16,))][: self.count(0, 2)]
            return self.call(("numpy", "memmap"), args)
        dtype, itemsize = self.dtype_arg(depth)
        shape = self.shape()
        if form == "ndarray call":
            args = [self.encode(shape), dtype, self.memory(self.nbytes(shape, itemsize))]
            args += [self.integer(self.pick([0, 8, -8, 2**40])), self.encode(self.shape())][
                : self.count(0, 2)
            ]
            return self.call(("numpy", "ndarray"), args)
        if form == "masked":
            args = [self.global_("numpy", "ndarray"), self.encode((0,)), self.text("b")]
            target = ("numpy.ma.core", "_mareconstruct")
            head = self.call(target, [self.global_("numpy.ma.core", "MaskedArray"), *args])
        elif form == "reconstruct":
            args = [self.global_("numpy", "ndarray"), self.encode((0,)), self.binary(b"b")]
            head = self.call(
                (self.pick([MULTIARRAY, "numpy.core.multiarray"]), "_reconstruct"), args
            )
        else:
            cls = self.memo(self.global_("numpy", "ndarray"))
            head = cls + self.sequence([self.encode((0,)), self.text("b")]) + NEWOBJ
        rawdata = self.pick(
            [
                lambda: self.binary(self.payload(self.nbytes(shape, itemsize))),
                lambda: self.listing([NONE, self.integer(1)]),
                lambda: self.byte_array(self.payload(self.nbytes(shape, itemsize))),
            ]
        )()
        fortran = self.encode(self.pick([False, True, 1]))
        state = [self.integer(self.pick([1, 0, 2])), self.encode(shape), dtype, fortran, rawdata]
        return head + self.sequence(state[: self.pick([5, 5, 5, 4, 6])]) + BUILD

    def joblib_array(self, depth: int) -> bytes:
        """joblib's NumpyArrayWrapper, then (outside the pickle) its array's raw bytes."""
        module = self.pick([JOBLIB] * 8 + ["sklearn.externals.joblib.numpy_pickle", "joblib"])
        name = self.pick(["NumpyArrayWrapper"] * 10 + ["NDArrayWrapper", "ZNDArrayWrapper"])
        cls = self.memo(self.global_(module, name))
        how = self.weighted([("NEWOBJ", 10), ("REDUCE", 2), ("NEWOBJ_EX", 1), ("other", 1)])
        if how == "NEWOBJ":
            head = cls + EMPTY_TUPLE + NEWOBJ
        elif how == "REDUCE":
            head = cls + EMPTY_TUPLE + REDUCE
        elif how == "NEWOBJ_EX":
            head = cls + EMPTY_TUPLE + EMPTY_DICT + NEWOBJ_EX
        else:
            head = cls + self.sequence([self.integer(1)]) + NEWOBJ
        dtype = self.pick([*TEMPLATE_DTYPES[:10], np.dtype("V0"), np.dtype("S0")])
        dtype_code, itemsize = self.dtype_of(dtype, depth + 1)
        if self.chance(5):
            dtype_code = self.text("f8")
        shape = self.shape()
        aligned = self.chance(50)
        state: dict[str, Any] = {
            "subclass": _Raw(self.global_(*self.pick([("numpy", "ndarray")] * 6 + SUBCLASSES))),
            "shape": shape,
            "order": self.pick(["C", "F", "C", "F", "A", None]),
            "dtype": _Raw(dtype_code),
            "allow_mmap": self.pick([True, False]),
        }
        if aligned:
            state["numpy_array_alignment_bytes"] = self.pick([16, 8, 0])
        for key in list(state):
            if self.chance(3):
                del state[key]
        if self.chance(5):
            state = self.pick([{}, {"__dict__": 1}, [1, 2]])  # type: ignore[assignment]
        raw = b""
        if dtype.hasobject:  # a nested pickle of the object array
            raw = self.pick([b"\x80\x04", b"\x80\x02", b""]) + self.value(depth + 1) + STOP
        else:
            if aligned:
                padding = self.pick([0, 3, 8, 15, 255])
                raw = bytes([padding]) + bytes(1 if self.chance(10) else padding)
            raw += self.payload(self.nbytes(shape, itemsize))
        return head + self.encode(state, depth + 1) + BUILD + raw

    # -- deep structures -------------------------------------------------------------------

    def deep(self) -> bytes:
        levels = self.pick([16, 300, 3000, 30000])
        form = self.pick(
            ["subarray", "fields", "joblib objects", "lists", "tuples", "marks", "hashes", "dag"]
        )
        if form == "hashes":  # many keys of one hash: quadratic sets and dicts
            count = self.pick([64, 2000, 30000])
            modulus = (1 << 61) - 1  # CPython's int hash modulus (64-bit)
            keys = b"".join(_long1(k * modulus) for k in range(1, count + 1))
            kind = self.pick(["set", "frozenset", "dict", "set call"])
            if kind == "set":
                return EMPTY_SET + MARK + keys + ADDITEMS
            if kind == "frozenset":
                return MARK + keys + FROZENSET
            if kind == "dict":
                pairs = b"".join(_long1(k * modulus) + NONE for k in range(1, count + 1))
                return EMPTY_DICT + MARK + pairs + SETITEMS
            return self.call(("builtins", "set"), [EMPTY_LIST + MARK + keys + APPENDS])
        if form == "dag":  # t[i + 1] = (t[i], t[i]): tiny in memory, exponential to walk
            levels = self.pick([8, 30, 64])
            code = EMPTY_TUPLE + _binput(0)
            for level in range(levels):
                code += POP + _binget(level) + _binget(level) + TUPLE2 + _binput(level + 1)
            use = self.pick(["dict key", "set", "frozenset", "as is", "argument"])
            if use == "dict key":
                return EMPTY_DICT + code + NONE + SETITEM
            if use == "set":
                return EMPTY_SET + MARK + code + ADDITEMS
            if use == "frozenset":
                return MARK + code + FROZENSET
            if use == "argument":
                return self.call(("builtins", "complex"), [code])
            return code
        dtype = self.global_("numpy", "dtype") + _binput(0)
        if form == "subarray":
            pre = _binget(0) + self.text("V8") + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE
            pre += MARK + b"K\x03" + self.text("|")
            post = b"K\x01" + TUPLE1 + TUPLE2 + NONE + NONE + b"K\x08K\x08K\x00" + TUPLE + BUILD
            inner = _binget(0) + self.text("f8") + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE
            return dtype + POP + pre * levels + inner + post * levels
        if form == "fields":
            pre = _binget(0) + self.text("V8") + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE
            pre += MARK + b"K\x03" + self.text("|") + NONE + self.text("a") + TUPLE1
            pre += EMPTY_DICT + self.text("a")
            post = b"K\x00" + TUPLE2 + SETITEM + b"K\x08K\x01K\x10" + TUPLE + BUILD
            inner = _binget(0) + self.text("O8") + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE
            return dtype + POP + pre * levels + inner + post * levels
        if form == "joblib objects":
            wrapper = self.global_(JOBLIB, "NumpyArrayWrapper") + EMPTY_TUPLE + NEWOBJ
            state = self.mapping(
                [
                    (self.text("subclass"), self.global_("numpy", "ndarray")),
                    (self.text("shape"), b"K\x01" + TUPLE1),
                    (self.text("order"), self.text("C")),
                    (self.text("dtype"), self.dtype_of(np.dtype("O"), 3)[0]),
                ]
            )
            return (wrapper + state + BUILD + b"\x80\x04") * levels + NONE + (STOP * levels)
        if form == "lists":
            return EMPTY_LIST * levels + APPEND * (levels - 1)
        if form == "tuples":
            return MARK * levels + TUPLE * levels
        return MARK * levels + NONE + POP_MARK * (levels - 1)

    # -- the grammar -----------------------------------------------------------------------

    def leaf(self) -> bytes:
        form = self.weighted(
            [
                ("none", 2), ("bool", 2), ("int", 4), ("float", 2), ("text", 3), ("bytes", 3),
                ("text opcode", 3), ("global", 5), ("memo get", 2), ("long", 1),
                ("persistent", 1), ("extension", 1), ("buffer", 1),
            ]
        )  # fmt: skip
        if form == "none":
            return NONE
        if form == "bool":
            return self.integer(self.pick([True, False]))
        if form == "int":
            return self.integer(self.pick([0, 1, 255, 256, 65535, 65536, -1, 2**31, 2**62, 2**64]))
        if form == "float":
            return self.real(self.pick([0.0, -0.0, 1.5, float("nan"), float("inf"), 1e308]))
        if form == "text":
            return self.text(self.pick(["", "a", "C", "F", "<f8", "fuzz.bin", "\udcff", "é" * 3]))
        if form == "bytes":
            return self.binary(self.blob(self.pick([0, 1, 8, 16, 300])))
        if form == "text opcode":
            return self.pick(TEXT_OPCODES)
        if form == "global":
            return self.memo(self.global_(*self.pick(GLOBALS)))
        if form == "memo get":
            index = self.pick([*self.puts[-4:], 0, 1, 2, 300, 2**32 - 1])
            return self.pick([_binget(index), b"g" + str(index).encode() + b"\n"])
        if form == "long":  # a big integer, or a declared length the data does not have
            size = self.pick([300, 70_000])
            return b"\x8b" + struct.pack("<i", size) + self.blob(self.pick([size, 4]))
        if form == "persistent":
            return self.pick([b"P" + b"id\n", self.text("id") + b"Q"])
        if form == "extension":
            return self.pick([b"\x82\x01", b"\x83\x01\x02", b"\x84\x01\x02\x03\x04"])
        return NEXT_BUFFER + (READONLY_BUFFER if self.chance(50) else b"")

    def value(self, depth: int = 0) -> bytes:
        """Opcodes that (mostly) push one value."""
        if depth >= 3:
            return self.leaf()
        joblib = 30 if self.wrapper == "joblib" else 4
        form = self.weighted(
            [
                ("leaf", 20), ("container", 12), ("dtype", 12), ("array_in_band", 14),
                ("array", 6 if self.wrapper == "stream" else 1), ("masked", 5), ("view", 4),
                ("scalar", 6), ("call", 6), ("build", 4), ("joblib", joblib), ("numpy", 8),
                ("shared dtype", 3), ("pending", 3), ("fill", 3), ("deep", 2),
            ]
        )  # fmt: skip
        if form == "leaf":
            return self.leaf()
        if form == "container":
            items = [self.value(depth + 1) for _ in range(self.count(0, 4))]
            kind = self.pick(["tuple", "tuple", "list", "dict", "set", "frozenset"])
            if kind == "tuple":
                return self.memo(self.sequence(items))
            if kind == "list":
                return self.memo(self.listing(items))
            if kind == "dict":
                keys = [self.leaf() for _ in items]
                return self.memo(self.mapping(list(zip(keys, items, strict=True))))
            return self.memo(self.collection(items, kind == "frozenset"))
        if form == "dtype":
            return self.dtype_of(self.pick(TEMPLATE_DTYPES), depth)[0]
        if form == "array_in_band":
            return self.memo(self.array_in_band(depth))
        if form == "array":
            return self.memo(self.array(depth))
        if form == "masked":
            return self.masked_array(depth)
        if form == "view":
            return self.subclass_view(depth)
        if form == "scalar":
            return self.scalar(depth)
        if form == "call":
            target = self.pick(GLOBALS)
            return self.call(target, [self.value(depth + 1) for _ in range(self.count(0, 5))])
        if form == "build":
            return self.build(depth)
        if form == "fill":
            return self.fill(depth)
        if form == "pending":
            return self.pending(depth)
        if form == "joblib":
            return self.joblib_array(depth)
        if form == "numpy":
            return self.numpy_reconstruction(depth)
        if form == "shared dtype":
            return self.shared_dtype(depth)
        return self.deep()

    def build(self, depth: int) -> bytes:
        """BUILD on anything: plain containers, arrays, dtypes, globals; states of every shape."""
        target = self.pick(
            [
                lambda: self.value(depth + 1),
                lambda: self.listing([]),
                lambda: self.mapping([]),
                lambda: self.plain_array(),
                lambda: self.global_(*self.pick(GLOBALS)),
            ]
        )()
        state = self.pick(
            [
                lambda: self.value(depth + 1),
                lambda: self.encode(
                    self.pick([{"a": 1}, {"__class__": 1}, {"__dict__": {}}, {1: 2}])
                ),
                lambda: self.encode(({"a": 1}, {"__reduce__": None})),
                lambda: self.encode((None, {"shape": (2,)})),
                lambda: NONE,
            ]
        )()
        code = target + state + BUILD
        if self.chance(10):  # and again
            code += self.encode({"b": 2}) + BUILD
        return code

    def fill(self, depth: int) -> bytes:
        """APPEND(S), SETITEM(S) and ADDITEMS on targets that are not what pickle fills."""
        target = self.pick(
            [
                lambda: self.plain_array(),
                lambda: self.dtype_of(self.pick(TEMPLATE_DTYPES), depth + 1)[0],
                lambda: self.global_(*self.pick(GLOBALS)),
                lambda: self.collection([], frozen=True),
                lambda: self.sequence([]),
                lambda: self.text("abc"),
                lambda: self.value(depth + 1),
            ]
        )()
        items = [self.value(depth + 1) for _ in range(self.count(1, 3))]
        form = self.pick(["APPENDS", "APPEND", "SETITEMS", "SETITEM", "ADDITEMS"])
        if form == "APPENDS":
            return target + MARK + b"".join(items) + APPENDS
        if form == "APPEND":
            return target + items[0] + APPEND
        if form == "SETITEMS":
            return target + MARK + b"".join(item + item for item in items) + SETITEMS
        if form == "SETITEM":
            return target + self.leaf() + items[0] + SETITEM
        return target + MARK + b"".join(items) + ADDITEMS

    def pending(self, depth: int) -> bytes:
        """A dtype or numpy array between its call and its BUILD (memoized, copied, stored in
        a container, used as an argument), then built, then used again."""
        index = self.pick([9, 300])
        if self.chance(60):
            dtype = self.pick(TEMPLATE_DTYPES)
            _, args, state = dtype.__reduce__()
            made = self.global_("numpy", "dtype") + self.encode(tuple(args)) + REDUCE
            state_code = self.dtype_state(state, depth + 1, self.chance(30))
        else:
            module = self.pick([MULTIARRAY, "numpy.core.multiarray"])
            args = [self.global_("numpy", "ndarray"), self.encode((0,)), self.binary(b"b")]
            made = self.call((module, "_reconstruct"), args)
            dtype_code, itemsize = self.dtype_arg(depth + 1)
            shape = self.shape()
            data = self.binary(self.payload(self.nbytes(shape, itemsize)))
            fortran = self.encode(self.pick([False, True]))
            state_code = self.sequence([b"K\x01", self.encode(shape), dtype_code, fortran, data])
        use = self.pick(
            [
                lambda: self.call(
                    (REBUILD, "array_in_band"),
                    [_binget(index), self.encode((2,)), self.text("C"), self.binary(bytes(16))],
                ),
                lambda: self.listing([_binget(index)]),
                lambda: self.sequence([_binget(index), _binget(index)]),
                lambda: self.call((MULTIARRAY, "scalar"), [_binget(index), self.binary(bytes(8))]),
                lambda: self.call(
                    (REBUILD, "subclass_view"),
                    [self.global_("numpy", "matrix"), _binget(index), NONE],
                ),
                lambda: _binget(index) + DUP + state_code + BUILD + POP,
            ]
        )
        before = use() if self.chance(50) else b""
        after = use()
        again = state_code + BUILD if self.chance(15) else b""
        code = made + _binput(index) + before
        code += POP + _binget(index) + state_code + BUILD + again + POP + after
        return code

    def plain_array(self, shape: tuple[int, ...] | None = None, text: str | None = None) -> bytes:
        """A well-formed small array (for the calls that take one)."""
        text = text or self.pick(["<f8", "|b1", "<i4", "|u1", ">i2", "|V4", "<U1", "|S2"])
        shape = (
            shape
            if shape is not None
            else tuple(self.pick(DIMS[:4]) for _ in range(self.count(0, 2)))
        )
        itemsize = ITEMSIZES.get(text) or np.dtype(text).itemsize
        data = self.binary(self.blob(math.prod(shape) * itemsize))
        return self.call(
            (REBUILD, "array_in_band"), [self.text(text), self.encode(shape), self.text("C"), data]
        )

    def frombuffer(self, depth: int) -> bytes:
        """numpy's own protocol-5 array pickles: ``_frombuffer(buffer, dtype, shape, order)``."""
        dtype, itemsize = self.dtype_arg(depth + 1)
        shape = self.shape()
        order = self.pick(["C", "F", "K", "A"])
        args = [
            self.memory(self.nbytes(shape, itemsize)),
            dtype,
            self.encode(shape),
            self.text(order),
        ]
        if order == "K" or self.chance(10):
            rank = len(shape) if type(shape) is tuple else 1
            axes = self.pick([tuple(reversed(range(rank))), (0,) * rank, (5,), (-1,), ()])
            args.append(self.encode(axes))
        module = self.pick(["numpy._core.numeric", "numpy._core.numeric", "numpy.core.numeric"])
        return self.call((module, "_frombuffer"), args)

    def shared_dtype(self, depth: int) -> bytes:
        """A memoized dtype given to an array, then BUILD again with another state: the
        array's dtype changes under it (itemsize, object flags, fields)."""
        index = self.pick([7, 200, 1000])
        code, itemsize = self.dtype_of(self.pick(TEMPLATE_DTYPES), depth + 1)
        shape = self.shape()
        data = self.memory(self.nbytes(shape, itemsize))
        array = self.pick(
            [
                lambda: self.call(
                    (REBUILD, "array_in_band"),
                    [_binget(index), self.encode(shape), self.text("C"), data],
                ),
                lambda: self.call(
                    (MULTIARRAY, "scalar"), [_binget(index), self.binary(self.blob(itemsize or 8))]
                ),
            ]
        )()
        state = self.dtype_state(self.pick(TEMPLATE_DTYPES).__reduce__()[2], depth + 1, True)
        again = _binget(index) + state + BUILD + POP
        return code + _binput(index) + POP + self.memo(array) + again

    def statement(self) -> bytes:
        form = self.weighted([("pop", 6), ("noise", 1), ("mark", 1), ("dup", 1)])
        if form == "pop":
            return self.value(1) + POP
        if form == "noise":
            return self.pick(NOISE)
        if form == "mark":
            return MARK + self.value(2) + POP_MARK
        return self.value(2) + DUP + POP + POP

    def program(self) -> bytes:
        if self.wrapper == "stream":
            protocol = self.pick([5, 4, 3, 2, 0, 1, None] if not self.chance(3) else [6, 255])
        else:
            protocol = self.pick([5, 4, 3, 2] if not self.chance(3) else [0, 1, 6, None])
        parts = [self.statement() for _ in range(self.pick([0, 0, 0, 1, 2, 3]))]
        if self.wrapper == "joblib" and not self.chance(20):
            entries = [(self.text(key), self.value(1)) for key in "abcd"[: self.count(1, 4)]]
            parts.append(self.mapping(entries))
        else:
            parts.append(self.value())
        if self.chance(5):
            parts.append(self.pick(NOISE))
        stop = self.weighted([("end", 88), ("missing", 4), ("early", 4), ("twice", 4)])
        if stop == "early":
            parts.insert(self.count(0, len(parts)), STOP)
        body = b"".join(parts) + (b"" if stop == "missing" else STOP)
        if stop == "twice":
            body += STOP
        if self.chance(10):  # a FRAME around the body, its length right or wrong
            length = len(body) + self.pick([0, 0, -1, 1, 2**40]) if not self.chance(20) else 0
            body = FRAME + struct.pack("<Q", max(length, 0)) + body
        head = b"" if protocol is None else b"\x80" + bytes([protocol])
        return head + body


@dataclasses.dataclass(frozen=True)
class _Raw:
    """Opcodes already made, inside a value the grammar encodes."""

    code: bytes


@st.composite
def examples(draw: Callable[[Any], Any], wrapper: str) -> Example:
    grammar = _Grammar(draw, wrapper)
    code = grammar.program()
    if wrapper != "stream":
        return Example(wrapper, code, code)
    records = list(grammar.records)
    if grammar.chance(10):
        records.append((grammar.pick([ARRAY_RECORD, BUFFER_RECORD]), grammar.blob(8)))
    after = [records.pop() for _ in range(len(records)) if grammar.chance(10)]
    cuts = sorted(grammar.count(0, len(code)) for _ in range(grammar.pick([0, 0, 1, 2])))
    buffer = io.BytesIO()
    writer = StreamWriter(buffer, checksums=not grammar.chance(10))
    for kind, payload in records:
        writer.write_memory(kind, len(payload), [memoryview(payload)])
    for start, end in zip([0, *cuts], [*cuts, len(code)], strict=True):
        writer.write(code[start:end])
    for kind, payload in after:
        writer.write_memory(kind, len(payload), [memoryview(payload)])
    writer.finish()
    return Example(wrapper, code, buffer.getvalue())


# -- running one example (in the child) ---------------------------------------------------


class _Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` takes it."""


class _StopShrinking(BaseException):
    """Ends hypothesis' run once the wall clock is nearly spent (failures already saved)."""


API: list[tuple[str, Callable[[Any], Any]]] = [
    ("load(trusted=[])", lambda file: brinery.load(file, trusted=[])),
    (
        "load(trusted=False, max_bytes)",
        lambda file: brinery.load(file, trusted=False, max_bytes=1 << 20),
    ),
    ("untrusted_types", brinery.untrusted_types),
    ("inspect_file", brinery.api.inspect_file),
]
#: Causes that make even a BrineryError a failure: an allocation out of proportion to the file
#: (the child's address space is 1 GiB; the files are a few KB) or numpy's C code misused.
BAD_CAUSES = (MemoryError, SystemError)
#: numpy's builtin dtypes, which a pickle must never change (they are shared by the process).
BUILTIN_DTYPES = [np.dtype(code) for code in "?bBhHiIlLqQefdgFDGOSUVMm"]


def _fingerprint() -> list[Any]:
    return [
        (d.str, d.itemsize, d.alignment, d.flags, d.hasobject, d.fields, d.subdtype, d.metadata)
        for d in BUILTIN_DTYPES
    ]


def disassemble(data: bytes, lines: int = 40) -> str:
    """``pickletools.dis`` of the start of ``data``, as far as it goes."""
    out = io.StringIO()
    try:
        pickletools.dis(data[:4096], out)
    except Exception as error:
        out.write(f"    !! {type(error).__name__}: {error}\n")
    text = out.getvalue().splitlines()
    if len(text) > lines:
        text = [*text[:lines], f"    ... ({len(text) - lines} more lines)"]
    return "\n".join(text)


def describe(example: Example, api: str, problem: str) -> str:
    pickle_hex = example.pickle[:400].hex() + ("..." if len(example.pickle) > 400 else "")
    return (
        f"{api} on a {example.wrapper} file ({len(example.data)} bytes): {problem}\n"
        f"  pickle opcodes ({len(example.pickle)} bytes): {pickle_hex}\n"
        f"  file: {example.data[:160].hex()}{'...' if len(example.data) > 160 else ''}\n"
        f"{disassemble(example.pickle)}"
    )


_VIOLATIONS: dict[str, type[AssertionError]] = {}


def _violation(kind: str) -> type[AssertionError]:
    """One exception class per failure class, so hypothesis shrinks each one separately."""
    found = _VIOLATIONS.get(kind)
    if found is None:
        found = _VIOLATIONS[kind] = type(f"Violation[{kind}]", (AssertionError,), {})
    return found


class Runner:
    """Runs examples through every safe entry point, keeping counts, the smallest example of
    each failure class, and (for the parent, should the child die) the example at hand.

    First it only records failures (``raising`` false), so that one run finds every failure
    class; then, with ``raising``, hypothesis replays the run and shrinks them."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.raising = False
        self.shrink_deadline = math.inf
        self.counts: Counter[str] = Counter()
        self.examples = 0
        self.failures: dict[str, dict[str, Any]] = {}
        self.fingerprint = _fingerprint()
        self.cwd = Path.cwd()

    def run(self, example: Example) -> None:
        if self.raising and time.monotonic() > self.shrink_deadline:
            raise _StopShrinking
        if not self.raising:
            self.examples += 1
        (self.state / "current.bin").write_bytes(example.data)
        problems = []
        for api, function in API:
            self._note(example, api)
            problem = self._call(api, function, example)
            if problem is not None:
                problems.append((api, problem))
        (self.state / "current.json").unlink(missing_ok=True)
        if problems:
            api, (kind, message) = problems[0]
            self._save(kind, example, api, message)
            if self.raising:
                raise _violation(kind)(describe(example, api, message))

    def _note(self, example: Example, api: str) -> None:
        note = {
            "api": api,
            "wrapper": example.wrapper,
            "pickle": example.pickle.hex(),
            "done": self.examples,
            "shrinking": self.raising,
        }
        (self.state / "current.json").write_text(json.dumps(note))

    def _call(self, api: str, function: Callable[[Any], Any], example: Example) -> Any:
        problem = None
        value = None
        # A hang in C code never returns to the interpreter for the alarm: faulthandler's own
        # thread then dumps the stacks and ends the child (the parent reports the example).
        faulthandler.dump_traceback_later(3 * HANG_SECONDS, exit=True)
        try:
            signal.alarm(HANG_SECONDS)
            AUDIT.active = True
            try:
                value = function(io.BytesIO(example.data))
            finally:
                AUDIT.active = False
                signal.alarm(0)
        except _Hang:
            outcome, problem = "hang", ("hang", f"took more than {HANG_SECONDS} s")
        except brinery.BrineryError as error:
            outcome = type(error).__name__
            cause = _bad_cause(error)
            if cause is not None:
                outcome += f" from {type(cause).__name__}"
                problem = (f"BrineryError from {type(cause).__name__}", f"{outcome}: {error}")
            elif "RecursionError" in _cause_types(error):
                outcome += " from RecursionError"
        except Exception as error:
            outcome = f"{type(error).__module__}.{type(error).__qualname__}"
            problem = (outcome, f"raised {outcome}: {_shorten(str(error))}")
        else:
            outcome = "ok"
        if not self.raising:
            self.counts[f"{api}: {outcome}"] += 1
        if value is not None and api.startswith("load"):
            touched = _touch(value)
            if not self.raising:
                self.counts[f"using the loaded value: {touched}"] += 1
        del value
        gc.collect(0)
        faulthandler.cancel_dump_traceback_later()
        return problem or self._side_effects()

    def _side_effects(self) -> tuple[str, str] | None:
        if AUDIT.events:
            events, AUDIT.events = AUDIT.events, []
            return f"audit event {events[0][0]}", f"ran {_shorten(repr(events[:5]))}"
        written = sorted(path.name for path in self.cwd.iterdir())
        if written:
            for name in written:
                path = self.cwd / name
                if path.is_file() or path.is_symlink():
                    path.unlink()
            return "wrote a file", f"files appeared in the working directory: {written}"
        fingerprint = _fingerprint()
        if fingerprint != self.fingerprint:
            changed = [
                str(dtype)
                for dtype, now, before in zip(
                    BUILTIN_DTYPES, fingerprint, self.fingerprint, strict=True
                )
                if now != before
            ]
            self.fingerprint = fingerprint
            return "changed a builtin dtype", f"numpy's builtin dtypes changed: {changed}"
        return None

    def _save(self, kind: str, example: Example, api: str, message: str) -> None:
        best = self.failures.get(kind)
        if best is None or len(example.pickle) < best["pickle bytes"]:
            self.failures[kind] = {
                "pickle bytes": len(example.pickle),
                "report": describe(example, api, message),
            }
            (self.state / "failures.json").write_text(json.dumps(self.failures))


class _Audit:
    """A ``sys.addaudithook`` hook: what a safe entry point must never do (run a process, open
    a file for writing, import a module that is neither numpy's nor brinery's, look up a
    global through pickle's own ``find_class``...), noted while one runs."""

    EVENTS = ("os.", "subprocess.", "socket.", "ctypes.", "shutil.", "webbrowser.", "urllib.")
    SAFE_OS_EVENTS = ("os.listdir", "os.scandir", "os.chdir")  # not the loaders' (ours)
    MODULES = ("numpy", "brinery", "_compat_pickle", "encodings")

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open":
            mode = args[1] if len(args) > 1 else None
            flags = args[2] if len(args) > 2 else 0
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if writing or (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)):
                self.events.append((event, _shorten(repr(args), 200)))
        elif event == "import":
            if not str(args[0]).startswith(self.MODULES):
                self.events.append((event, str(args[0])))
        elif event == "pickle.find_class":
            if not str(args[0]).startswith(("numpy", "brinery")):
                self.events.append((event, repr(args)))
        elif event == "compile":  # eval and exec of text (not imports, nor ast.literal_eval)
            filename = str(args[1] if len(args) > 1 else "")
            if not filename.endswith(".py") and filename != "<unknown>":
                self.events.append((event, _shorten(repr(args), 200)))
        elif event == "builtins.input" or (
            event.startswith(self.EVENTS) and not event.startswith(self.SAFE_OS_EVENTS)
        ):
            self.events.append((event, _shorten(repr(args), 200)))


AUDIT = _Audit()


def _cause_types(error: BaseException) -> set[str]:
    return {type(cause).__name__ for cause in _causes(error)}


def _causes(error: BaseException) -> Iterator[BaseException]:
    cause = error.__cause__ or error.__context__
    for _ in range(20):
        if cause is None:
            return
        yield cause
        cause = cause.__cause__ or cause.__context__


def _bad_cause(error: BaseException) -> BaseException | None:
    return next((cause for cause in _causes(error) if isinstance(cause, BAD_CAUSES)), None)


def _shorten(text: str, size: int = 300) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _touch(value: Any, depth: int = 0) -> str:
    """Use what a safe load returned as a caller would (repr, bytes, copies): a crash here is a
    dangerous object let through.  Returns the outcome's name."""
    try:
        _use(value, depth)
    except Exception as error:  # not a failure: noted in the counts
        return f"{type(error).__name__}"
    return "ok"


def _use(value: Any, depth: int) -> None:
    if depth > 12:
        return
    if isinstance(value, np.ndarray):
        if value.nbytes <= 1 << 20:
            value.tobytes()
            value.copy()
        if value.dtype.hasobject:  # each element, as a caller reaches it (never a C repr of
            for item in value.flat[:50]:  # a shared-reference graph: exponential)
                _use(item, depth + 1)
        else:
            repr(value)
    elif isinstance(value, (np.generic, np.dtype)):
        repr(value)
        str(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value)[:50]:
            _use(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in list(value.items())[:50]:
            _use(key, depth + 1)
            _use(item, depth + 1)
    else:
        repr(value)


def _warm_up() -> None:
    """Import what a legitimate safe load may import lazily (numpy's modules, the compressor
    plugins found on the first unknown magic number), before the audit hook looks."""
    import numpy.ma
    import numpy.rec  # noqa: F401

    for data in (b"", b"\x00" * 32, b"\x80\x06N.", b"\x28\xb5\x2f\xfd" + bytes(12)):
        for _, function in API:
            with contextlib.suppress(brinery.BrineryError):
                function(io.BytesIO(data))

    value = {
        "masked": np.ma.masked_array([1, 2], [0, 1]),
        "records": np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        "matrix": np.matrix([[1]]),
        "scalar": np.float64(1.5),
        "dates": np.array(["2020-01-01"], "M8[D]"),
    }
    for protocol, compress in [
        (2, False),
        (5, False),
        *((5, name) for name in brinery.compressors()),
    ]:
        buffer = io.BytesIO()
        brinery.dump(value, buffer, compress=compress, protocol=protocol)
        for data in (buffer.getvalue(), pickle.dumps(value, protocol=protocol)):
            for _, function in API:
                with contextlib.suppress(brinery.BrineryError):
                    function(io.BytesIO(data))


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang


def worker(wrapper: str, count: int, seed: int, state: Path, shrink_seconds: float) -> int:
    """The child: limits itself, runs hypothesis, and writes its results into ``state``."""
    import resource

    if os.environ.get(CHILD_MARK) != "1":
        raise SystemExit("the fuzzing worker runs only as the child of its test")
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    faulthandler.enable()
    signal.signal(signal.SIGALRM, _on_alarm)
    _warm_up()
    sys.addaudithook(AUDIT)
    start = time.monotonic()
    runner = Runner(state)

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(example=examples(wrapper))
    def inner(example: Example) -> None:
        runner.run(example)

    def write_result(falsifying: list[str]) -> None:
        result = {
            "examples": runner.examples,
            "seconds": round(time.monotonic() - start, 2),
            "outcomes": dict(sorted(runner.counts.items())),
            "falsifying": falsifying,
        }
        (state / "result.json").write_text(json.dumps(result))

    inner()  # records failures, raises none: an error here is the grammar's own
    write_result([])
    if runner.failures and shrink_seconds > 0:  # the same run again, shrinking the failures
        runner.raising = True
        runner.shrink_deadline = time.monotonic() + shrink_seconds
        try:
            inner()
        except _StopShrinking:
            pass
        except BaseException as error:  # hypothesis' report: one failure or a group of them
            write_result(_falsifying(error))
    return 0


def _falsifying(error: BaseException) -> list[str]:
    """The 'Falsifying example' notes hypothesis attached to each failure."""
    found = []
    for failure in getattr(error, "exceptions", [error]):
        notes = [note for note in getattr(failure, "__notes__", []) if "Falsifying" in note]
        found.append(f"{type(failure).__name__}: {_shorten(' '.join(notes), 1500)}")
    return found


# -- the test (in the parent) --------------------------------------------------------------


@dataclasses.dataclass
class _Campaign:
    examples: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    crashes: list[str] = dataclasses.field(default_factory=list)
    crash_places: set[str] = dataclasses.field(default_factory=set)
    falsifying: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)


def _child(
    wrapper: str, count: int, seed: int, state: Path, cwd: Path, wall: float
) -> subprocess.CompletedProcess[bytes] | subprocess.TimeoutExpired:
    env = dict(os.environ)
    env.update(
        {
            CHILD_MARK: "1",
            "HYPOTHESIS_STORAGE_DIRECTORY": str(state / "hypothesis"),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    shrink = min(SHRINK_SECONDS * SCALE, 300, wall / 3)
    command = [sys.executable, __file__, "--worker", wrapper, "--examples", str(count)]
    command += ["--seed", str(seed), "--state", str(state), "--shrink-seconds", str(shrink)]
    try:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=wall)
    except subprocess.TimeoutExpired as expired:  # subprocess.run has killed the child
        return expired


def _crash_report(state: Path, how: str, stderr: bytes) -> tuple[str, int]:
    """What the child was running when it died, and how many examples it had run."""
    current = state / "current.json"
    text = stderr.decode(errors="replace")
    fatal = max(text.find("Fatal Python error"), text.find("Timeout ("))  # innermost first
    tail = text[fatal : fatal + 1500] if fatal >= 0 else text[-1500:]
    if not current.exists():
        return f"the child {how} between examples\n{tail}", 0
    note = json.loads(current.read_text())
    code = bytes.fromhex(note["pickle"])
    data = (state / "current.bin").read_bytes()
    saved = state.parent / f"crash-{state.name}.bin"
    saved.write_bytes(data)
    example = Example(note["wrapper"], code, data)
    when = " (while shrinking another failure)" if note["shrinking"] else ""
    report = describe(example, note["api"], f"the child {how}{when}")
    return f"{report}\n  file saved: {saved}\n{tail}", note["done"]


def run_campaign(wrapper: str, total: int, tmp_path: Path) -> _Campaign:
    """``total`` examples in children, one at a time, a new one (new seed) after a crash."""
    campaign = _Campaign()
    first_seed = int(os.environ.get("BRINERY_FUZZ_SEED", random.randrange(2**32)))
    deadline = time.monotonic() + WALL_SECONDS + WALL_SECONDS_PER_EXAMPLE * total
    for attempt in range(RESTARTS + 1):
        left = total - campaign.examples
        remaining = deadline - time.monotonic()
        if left <= 0 or remaining < 10:
            break
        seed = first_seed + attempt
        campaign.seeds.append(seed)
        state, cwd = tmp_path / f"state-{attempt}", tmp_path / f"cwd-{attempt}"
        state.mkdir()
        cwd.mkdir()
        started = time.monotonic()
        outcome = _child(wrapper, left, seed, state, cwd, remaining)
        campaign.seconds += time.monotonic() - started
        failures = state / "failures.json"
        if failures.exists():
            for kind, failure in json.loads(failures.read_text()).items():
                campaign.failures.setdefault(kind, failure["report"])
        left_behind = sorted(path.name for path in cwd.iterdir())
        if left_behind:
            campaign.failures.setdefault("wrote a file", f"files left behind: {left_behind}")
        result_file = state / "result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        if result is not None:
            campaign.examples += result["examples"]
            campaign.outcomes.update(result["outcomes"])
            campaign.falsifying += result["falsifying"]
        if isinstance(outcome, subprocess.CompletedProcess) and outcome.returncode == 0:
            break
        if isinstance(outcome, subprocess.TimeoutExpired):
            how, stderr = f"was still running after {remaining:.0f} s", outcome.stderr or b""
        else:
            status = outcome.returncode
            how = f"died of signal {-status}" if status < 0 else f"exited with status {status}"
            stderr = outcome.stderr
            if b"Timeout (" in stderr:
                how = f"hung for {3 * HANG_SECONDS} s in C code (faulthandler ended it)"
        report, done = _crash_report(state, how, stderr)
        frames = [line for line in stderr.decode(errors="replace").splitlines() if "File " in line]
        place = f"{how} {frames[0].strip() if frames else ''}"  # the same crash again: once
        if place not in campaign.crash_places:
            campaign.crash_places.add(place)
            campaign.crashes.append(report)
        if result is None:
            campaign.examples += max(done, 1)
        else:
            break  # the crash came while shrinking: every example has run
    return campaign


def _write_report(wrapper: str, campaign: _Campaign) -> None:
    """Merge this test's counts into ``BRINERY_FUZZ_REPORT``'s ``"safe_grammar"`` key."""
    path = os.environ.get("BRINERY_FUZZ_REPORT")
    if not path:
        return
    try:
        existing = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        existing = {}
    if not isinstance(existing, dict):
        existing = {}
    section = existing.setdefault("safe_grammar", {})
    section["scale"] = SCALE
    section[wrapper] = {
        "examples": campaign.examples,
        "seconds": round(campaign.seconds, 1),
        "seeds": campaign.seeds,
        "crashes": len(campaign.crashes),
        "failure classes": sorted(campaign.failures),
        "outcomes": dict(sorted(campaign.outcomes.items())),
    }
    temporary = Path(f"{path}.tmp")
    temporary.write_text(json.dumps(existing, indent=2))
    os.replace(temporary, path)


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_safe_loading_of_grammar_pickles(wrapper: str, tmp_path: Path) -> None:
    """Every safe entry point, on every generated file: success or a BrineryError; never
    another exception, a crash, a hang, a file written or a builtin dtype changed."""
    campaign = run_campaign(wrapper, EXAMPLES_PER_TEST * SCALE, tmp_path)
    _write_report(wrapper, campaign)
    problems = [*campaign.crashes, *campaign.failures.values()]
    falsifying = "\n".join(campaign.falsifying)
    summary = (
        f"{len(problems)} failure class(es) in {campaign.examples} examples (hypothesis seeds "
        f"{campaign.seeds}: BRINERY_FUZZ_SEED={campaign.seeds[0]} runs them again)\n\n"
    )
    details = "\n\n".join(f"[{index}] {problem}" for index, problem in enumerate(problems, 1))
    assert not problems, f"{summary}{details}\n\nhypothesis:\n{falsifying}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the fuzzing child (run by the test)")
    parser.add_argument("--worker", choices=WRAPPERS, required=True)
    parser.add_argument("--examples", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--shrink-seconds", type=float, required=True)
    args = parser.parse_args(argv)
    return worker(args.worker, args.examples, args.seed, args.state, args.shrink_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
