"""Helpers shared by the compressor plugins' test folders (``tests/plugins/brinery_*``).

Each folder runs on its own (``nox -s "plugin(plugin='brinery-zstd')"`` installs the core and
that one plugin) and with every distribution installed.  Its test module describes its codec
and pulls in the tests every plugin shares, from ``codec_contract.py`` (and
``hinted_frames_contract.py``) in this folder, which is put on ``sys.path`` here.  Other
helpers are handed out as fixtures (``tests/conftest.py`` gives ``assert_same`` and ``dumps``):

* ``sample_object()``: a fresh dict of arrays of every kind and plain objects;
  ``small_sample()``: the small object the every-byte corruption loops use;
  ``framed_sample()``: a smaller one, for files cut into many 1 KiB frames;
* ``damage``: loads every truncation and every one-byte flip of a file, by ``BytesIO`` and by
  path, and sorts the outcomes (see :class:`Damage`);
* ``walk_frames(data, new_decompressor)``: the frames of a zstd or LZ4 file, skippable ones too;
* ``tool(name)``: the path of a command-line tool, or a skip; ``run_tool(args, data)``;
* ``run_python(code, env)``: a fresh interpreter (plugins load once per process);
* ``pipe_roundtrip(objects, ...)``: objects dumped one after another into a pipe.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import decimal
import fractions
import io
import math
import os
import shutil
import struct
import subprocess
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import brinery

# For the contract modules, which each folder's test module imports.  (pytest's default
# "prepend" import mode puts this folder on sys.path too, but only as a side effect of how it
# imports this file.)
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

#: What a file damaged in its magic number may raise: not recognised (UnknownFormatError), or
#: taken for a known compressor that is not installed (CompressorNotInstalledError), or, when
#: the damaged magic is still recognised, CorruptFileError (TruncatedFileError included).
MAGIC_DAMAGE_ERRORS = (
    brinery.CorruptFileError,
    brinery.UnknownFormatError,  # UnsupportedVersionError included
    brinery.CompressorNotInstalledError,
)
#: What a file damaged after its magic number may raise: the compressed data is recognised, so
#: the damage is reported as such, whatever the damaged bytes decode to.
DATA_DAMAGE_ERRORS = (brinery.CorruptFileError,)


# -- objects --------------------------------------------------------------------------------------


def _sample_object() -> dict[str, Any]:
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


@pytest.fixture(scope="session")
def sample_object() -> Callable[[], dict[str, Any]]:
    """``sample_object()``: a fresh dict of arrays of every kind and plain objects (~260 KB)."""
    return _sample_object


def _small_sample() -> dict[str, Any]:
    # int16 rather than int64 values: long runs of zero bytes give LZ4 many equivalent match
    # offsets, so that flips there decode to the very same data (harmless, but many).
    return {
        "small": np.arange(300, dtype=np.int16) * 37,  # 600 bytes, inside the pickle
        "big": (np.arange(2500, dtype=np.int16) * 37) % 1009,  # 5000 bytes, an array record
        "s": "text",
        "l": [1, 2.5, None],
    }


@pytest.fixture(scope="session")
def small_sample() -> Callable[[], dict[str, Any]]:
    """``small_sample()``: a small object (a few KB compressed) for the every-byte loops."""
    return _small_sample


def _framed_sample() -> dict[str, Any]:
    # A 100-byte pattern repeated: small frames compress to little, so a 1 KiB frame size gives
    # a file of about 900 bytes with five frames.
    return {"a": np.tile(np.arange(50, dtype=np.int16) * 37, 42), "s": "text"}


@pytest.fixture(scope="session")
def framed_sample() -> Callable[[], dict[str, Any]]:
    """``framed_sample()``: a small object with a 4200-byte array (an array record), for files
    cut into many small frames (the compressor's ``frame_size`` lowered to 1 KiB)."""
    return _framed_sample


# -- damage ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What loading damaged variants of a file gave."""

    loads: int = 0
    raised: collections.Counter[str] = field(default_factory=collections.Counter)
    identical: list[int] = field(default_factory=list)  # offsets that loaded the original
    violations: list[str] = field(default_factory=list)  # anything else

    def summary(self) -> str:
        return f"{self.loads} loads, raised {dict(self.raised)}, identical at {self.identical}"


BOTH_WAYS = ("BytesIO", "path")


class Damage:
    """Loads damaged variants of ``data``, from a ``BytesIO`` and from a file (``ways``).

    A variant must raise one of ``allowed`` (the same type every way), or load an object
    identical to ``expected``.  Anything else (another exception type, different data) is
    recorded as a violation, with the offset and the error.
    """

    def __init__(self, folder: Path, assert_same: Callable[[Any, Any], None]) -> None:
        self._path = folder / "damaged.bin"
        self._path.write_bytes(b"")
        self._assert_same = assert_same

    def outcomes(self, data: bytes, threads: int | None, ways: tuple[str, ...]) -> list[Any]:
        """What loading ``data`` gives (an object or the exception), for each of ``ways``."""
        found = []
        for way in ways:
            source: Any = io.BytesIO(data)
            if way == "path":
                source = self._path
                # Rewritten in place: replacing a small file each time is slow on some disks.
                with open(self._path, "r+b") as file:
                    file.write(data)
                    file.truncate()
            try:
                found.append(brinery.load(source, threads=threads))
            except Exception as error:  # sorted by the caller
                found.append(error)
        return found

    def check(
        self,
        tally: Tally,
        offset: int,
        data: bytes,
        expected: Any,
        allowed: tuple[type[BaseException], ...],
        threads: int | None,
        ways: tuple[str, ...],
    ) -> None:
        outcomes = self.outcomes(data, threads, ways)
        for way, outcome in zip(ways, outcomes, strict=True):
            tally.loads += 1
            if isinstance(outcome, allowed):
                tally.raised[type(outcome).__name__] += 1
                continue
            if isinstance(outcome, BaseException):
                tally.violations.append(
                    f"offset {offset} ({way}): {type(outcome).__module__}."
                    f"{type(outcome).__name__}: {outcome}"
                )
                continue
            try:
                self._assert_same(outcome, expected)
            except AssertionError as error:
                tally.violations.append(f"offset {offset} ({way}): loaded different data: {error}")
                continue
            if way == ways[0]:
                tally.identical.append(offset)
        # Every way must give the same kind of outcome.
        kinds = {way: type(outcome).__name__ for way, outcome in zip(ways, outcomes, strict=True)}
        if len(set(kinds.values())) > 1:
            tally.violations.append(f"offset {offset}: the ways disagree: {kinds}")

    def truncations(
        self,
        data: bytes,
        expected: Any,
        offsets: range | None = None,
        threads: int | None = None,
        ways: tuple[str, ...] = BOTH_WAYS,
    ) -> Tally:
        """Load ``data[:n]`` for every ``n`` in ``offsets`` (default: 1 to len - 1)."""
        tally = Tally()
        allowed = (brinery.TruncatedFileError, brinery.CorruptFileError)
        for size in offsets if offsets is not None else range(1, len(data)):
            self.check(tally, size, data[:size], expected, allowed, threads, ways)
        return tally

    def flips(
        self,
        data: bytes,
        expected: Any,
        mask: int,
        magic: int,
        threads: int | None = None,
        ways: tuple[str, ...] = BOTH_WAYS,
    ) -> Tally:
        """Load ``data`` with byte ``i`` xor ``mask``, for every offset ``i``.

        The first ``magic`` bytes are the magic number: see :data:`MAGIC_DAMAGE_ERRORS` and
        :data:`DATA_DAMAGE_ERRORS` for what a flip there and elsewhere may raise.
        """
        tally = Tally()
        for offset in range(len(data)):
            damaged = bytearray(data)
            damaged[offset] ^= mask
            allowed = MAGIC_DAMAGE_ERRORS if offset < magic else DATA_DAMAGE_ERRORS
            self.check(tally, offset, bytes(damaged), expected, allowed, threads, ways)
        return tally


@pytest.fixture
def damage(tmp_path: Path, assert_same: Callable[[Any, Any], None]) -> Damage:
    """A :class:`Damage` writing its files into this test's ``tmp_path``."""
    return Damage(tmp_path, assert_same)


# -- frames ---------------------------------------------------------------------------------------

#: Skippable frames (zstd and LZ4 share them): magic 0x184D2A50-0x184D2A5F, little-endian.
SKIPPABLE_MAGIC_MASK, SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
#: brinery's frame hint, in a skippable frame: magic, payload length, tag, sizes.
HINT = struct.Struct("<II4sQQ")


class Frame(NamedTuple):
    start: int
    length: int
    kind: str  # "data" or "skippable"
    output: int  # decompressed bytes (data frames)
    hint: tuple[int, int] | None  # (compressed, uncompressed) announced by a brinery hint


def _walk_frames(data: bytes, new_decompressor: Callable[[], Any]) -> list[Frame]:
    frames = []
    position = 0
    while position < len(data):
        (magic,) = struct.unpack_from("<I", data, position)
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC:
            (size,) = struct.unpack_from("<I", data, position + 4)
            hint = None
            if size == HINT.size - 8 and data[position + 8 : position + 12] == b"BRFH":
                _, _, _, compressed, uncompressed = HINT.unpack_from(data, position)
                hint = (compressed, uncompressed)
            frames.append(Frame(position, 8 + size, "skippable", 0, hint))
            position += 8 + size
            continue
        decompressor = new_decompressor()
        output = decompressor.decompress(data[position:])
        assert decompressor.eof, f"the frame at byte {position} does not end"
        length = len(data) - position - len(decompressor.unused_data or b"")
        frames.append(Frame(position, length, "data", len(output), None))
        position += length
    return frames


@pytest.fixture(scope="session")
def walk_frames() -> Callable[[bytes, Callable[[], Any]], list[Frame]]:
    """``walk_frames(data, new_decompressor)``: the frames of a zstd or LZ4 file, in order.

    ``new_decompressor()`` returns a codec decompressor with ``decompress``, ``eof`` and
    ``unused_data`` (one frame each); skippable frames are recognised by their magic number.
    """
    return _walk_frames


# -- command-line tools and other processes -------------------------------------------------------


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """``tool(name)``: the path of the command-line tool ``name``; skips the test without it."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"the {name!r} command-line tool is not installed (not on PATH)")
        return path

    return find


@pytest.fixture(scope="session")
def run_tool() -> Callable[..., bytes]:
    """``run_tool(args, data=b"")``: a tool's standard output; its failure fails the test."""

    def run(args: list[str], data: bytes = b"", cwd: Path | None = None) -> bytes:
        done = subprocess.run(args, input=data, capture_output=True, cwd=cwd, timeout=120)
        assert done.returncode == 0, (
            f"{' '.join(map(str, args))} failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace')}"
        )
        return done.stdout

    return run


@pytest.fixture(scope="session")
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_python(code, env={...}, cwd=...)``: run ``code`` in a fresh interpreter.

    ``env`` entries are added to (or, with value ``None``, removed from) this environment.
    """

    def run(
        code: str, env: dict[str, str | None] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=environment,
            cwd=cwd,
            timeout=120,
        )
        assert done.returncode == 0, f"the subprocess failed:\n{done.stdout}\n{done.stderr}"
        return done

    return run


@contextlib.contextmanager
def _writer_thread(target: Callable[[], None]) -> Iterator[list[BaseException]]:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as error:  # reported by the caller
            errors.append(error)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        thread.join(timeout=120)
        assert not thread.is_alive(), "the writer thread is stuck"


@pytest.fixture(scope="session")
def pipe_roundtrip() -> Callable[..., list[Any]]:
    """``pipe_roundtrip(objects, dump_kwargs, threads=None)``: dump each object (with its
    kwargs) into an ``os.pipe`` from a thread, and load them one after another from the read
    end, a ``BufferedReader``; checks that nothing is left in the pipe after the last one."""

    def run(
        objects: list[Any], dump_kwargs: list[dict[str, Any]], threads: int | None = None
    ) -> list[Any]:
        read_end, write_end = os.pipe()

        def write() -> None:
            with os.fdopen(write_end, "wb") as writer:
                for value, kwargs in zip(objects, dump_kwargs, strict=True):
                    brinery.dump(value, writer, **kwargs)

        with os.fdopen(read_end, "rb") as reader:
            assert isinstance(reader, io.BufferedReader)
            with _writer_thread(write) as errors:
                loaded = [brinery.load(reader, threads=threads) for _ in objects]
                rest = reader.read()
            assert not errors, f"the writer failed: {errors[0]!r}"
        assert rest == b"", f"{len(rest)} bytes left in the pipe after the last object"
        return loaded

    return run
