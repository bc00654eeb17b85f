"""Fixtures shared by brinery's test suites.

Helpers are handed out as fixtures (test modules are plain, rootdir-less modules and do not
import each other): ``assert_same`` compares a loaded object with the original exactly,
``dumps``/``loads`` go through ``io.BytesIO``, ``roundtrip`` goes through a file, and
``records`` parses an uncompressed brinery stream into its records.
"""

from __future__ import annotations

import cmath
import gc
import io
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
import xxhash

import brinery
import brinery.plugins
from brinery.format.layout import (
    ALIGNMENT,
    CHECKSUMS_FLAG,
    END_RECORD,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
    padding_before_payload,
)
from brinery.plugins import registry

#: ``compress=`` values covering no compression and every built-in compressor.
COMPRESS_VALUES = [False, "zlib", "gzip", "bz2", "lzma", "xz"]
BUILTIN_CODECS = ["zlib", "gzip", "bz2", "lzma", "xz"]


@pytest.fixture(params=COMPRESS_VALUES, ids=lambda value: value or "none")
def compress(request: pytest.FixtureRequest) -> Any:
    """Each ``compress=`` value: no compression, then every built-in compressor."""
    return request.param


@pytest.fixture(params=BUILTIN_CODECS)
def codec(request: pytest.FixtureRequest) -> str:
    """The name of each built-in compressor."""
    return request.param


@pytest.fixture(autouse=True)
def registry_guard() -> Any:
    """Undo any compressor registration a test makes (added, replaced or removed)."""
    before = registry().snapshot()
    yield
    reg = registry()
    after = reg.snapshot()
    for name in after:
        if name not in before:
            reg.unregister(name)
    for name, compressor in before.items():
        if after.get(name) is not compressor:
            reg.register(name, compressor, force=True)
    assert reg.snapshot() == before


@pytest.fixture
def builtin_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh plugin host that loads the built-in compressors only, whatever is installed.

    For tests whose expectations depend on which compressors exist (messages listing them,
    "not installed" errors).  Returns its registry.
    """
    monkeypatch.setenv("BRINERY_LOAD_PLUGINS", "")
    host = brinery.plugins.PluginHost()
    monkeypatch.setattr(brinery.plugins, "HOST", host)
    return host.ensure_loaded()


# -- exact comparison ------------------------------------------------------------------------------


def _tracks_identity(value: Any) -> bool:
    """Objects pickle memoizes and the caller can observe being shared."""
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


def _assert_same_array(loaded: Any, original: np.ndarray, memo: dict[int, Any], where: str) -> None:
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
        assert np.array_equal(np.ma.getmaskarray(loaded), np.ma.getmaskarray(original)), where
        assert loaded.hardmask == original.hardmask, f"{where}: hard_mask differs"
        loaded_fill, original_fill = np.asarray(loaded.fill_value), np.asarray(original.fill_value)
        assert loaded_fill.dtype == original_fill.dtype, f"{where}: fill_value dtype differs"
        assert loaded_fill.tobytes() == original_fill.tobytes(), f"{where}: fill_value differs"
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


@pytest.fixture(scope="session")
def assert_same() -> Callable[[Any, Any], None]:
    """``assert_same(loaded, original)``: exact types, values, dtypes, flags and sharing."""

    def check(loaded: Any, original: Any) -> None:
        _assert_same(loaded, original, {}, "obj")

    return check


# -- dumping and loading ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dumps() -> Callable[..., bytes]:
    """``dumps(obj, **dump_kwargs)``: the bytes ``brinery.dump`` writes to a file object."""

    def run(value: Any, **kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        assert brinery.dump(value, buffer, **kwargs) == []
        return buffer.getvalue()

    return run


@pytest.fixture(scope="session")
def loads() -> Callable[[bytes], Any]:
    """``loads(data)``: load one object from bytes, checking it used them all."""

    def run(data: bytes) -> Any:
        buffer = io.BytesIO(data)
        value = brinery.load(buffer)
        assert buffer.tell() == len(data), "load did not stop at the end of the stream"
        return value

    return run


@pytest.fixture
def roundtrip(tmp_path: Any, dumps: Callable[..., bytes]) -> Callable[..., Any]:
    """``roundtrip(obj, **dump_kwargs)``: dump to a file, load it back, return the result.

    Also checks that the file holds exactly what a dump into a file object writes (the output
    is deterministic, whatever the target).
    """
    counter = iter(range(1_000_000))

    def run(value: Any, **kwargs: Any) -> Any:
        path = tmp_path / f"roundtrip-{next(counter)}.bin"
        assert brinery.dump(value, path, **kwargs) == [str(path)]
        assert path.read_bytes() == dumps(value, **kwargs)
        return brinery.load(path)

    return run


class Record(NamedTuple):
    kind: str
    start: int  # where the payload starts, from the start of the stream
    size: int


def _parse_records(data: bytes) -> list[Record]:
    magic, major, _minor, flags, _reserved = STREAM_HEADER.unpack_from(data, 0)
    assert (magic, major) == (STREAM_MAGIC, 1)
    assert flags in (0, CHECKSUMS_FLAG)
    offset, records = STREAM_HEADER.size, []
    while True:
        kind, padding, _flags, _reserved, size = RECORD_HEADER.unpack_from(data, offset)
        assert padding == (
            0 if kind in (PICKLE_RECORD, END_RECORD) else padding_before_payload(offset)
        )
        start = offset + RECORD_HEADER.size + padding
        assert data[offset + RECORD_HEADER.size : start] == bytes(padding)
        records.append(Record(chr(kind), start, size))
        end = start + size
        if flags & CHECKSUMS_FLAG:
            # docs/format.md: XXH3-64 of the record (the end record's: of the stream header too).
            covered = data[offset:end] if kind != END_RECORD else data[:16] + data[offset:end]
            (stored,) = RECORD_DIGEST.unpack_from(data, end)
            assert stored == xxhash.xxh3_64_intdigest(covered), f"checksum of record at {offset}"
            end += RECORD_DIGEST.size
        offset = end
        if kind == END_RECORD:
            assert offset == len(data), "bytes after the end record"
            return records


@pytest.fixture(scope="session")
def records() -> Callable[[bytes], list[Record]]:
    """``records(data)``: the records of an uncompressed stream, checking its framing."""
    return _parse_records


@pytest.fixture(scope="session")
def raw_records() -> Callable[[bytes], list[Record]]:
    """``raw_records(data)``: only the array ('A') and buffer ('B') records, checked aligned."""

    def run(data: bytes) -> list[Record]:
        found = [record for record in _parse_records(data) if record.kind in "AB"]
        assert all(record.start % ALIGNMENT == 0 for record in found), found
        return found

    return run


@pytest.fixture(scope="session")
def joblib_object() -> dict[str, Any]:
    """What every file in tests/fixtures/joblib/ holds (its README.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix
        matrix = np.matrix([[1, 2], [3, 4]])
    return {
        "f": np.asfortranarray(np.arange(600, dtype=np.float64).reshape(20, 30)),
        "i": np.arange(1000, dtype=">i4"),
        "o": np.array([1, "x", None], dtype=object),
        "s": "text",
        "l": [1, 2.5, (3, "4")],
        "m": matrix,
        "e": np.empty((0, 3)),
        "z": np.array(7.5),
    }


class LimitedLoad(NamedTuple):
    """What a load did in a child process under a 1 GiB address-space limit."""

    error: str | None  # the exception's type name (None: it loaded)
    message: str
    grew: int  # bytes the resident set grew by during the load (its high-water mark)


_LIMITED_LOAD = """
import io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import brinery

class Pipe(io.RawIOBase):  # a file that says nothing of its size and cannot seek
    def __init__(self, path):
        self._file = open(path, "rb", buffering=0)
    def readable(self):
        return True
    def readinto(self, buffer):
        return self._file.readinto(buffer)

path, kwargs = sys.argv[1], json.loads(sys.argv[2])
source = Pipe(path) if kwargs.pop("pipe", False) else path
def peak():  # this process's own high-water mark (ru_maxrss would count a vforking parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

brinery.compressors()  # the plugins load before the measure starts
before = peak()
try:
    brinery.load(source, **kwargs)
    error, message = None, ""
except BaseException as caught:
    error, message = type(caught).__name__, str(caught)
grew = (peak() - before) * 1024
print(json.dumps([error, message, grew]))
"""


@pytest.fixture
def load_limited(tmp_path: Any) -> Callable[..., LimitedLoad]:
    """Load ``data`` in a child process whose address space is limited to 1 GiB (so a hostile
    file's allocations fail there, not in the test run), with a timeout; ``pipe=True`` reads it
    through a file that cannot tell its size.  Other keywords go to ``brinery.load``."""

    def load(data: bytes, timeout: float = 120, **kwargs: Any) -> LimitedLoad:
        path = tmp_path / "hostile.bin"
        path.write_bytes(data)
        child = subprocess.run(
            [sys.executable, "-c", _LIMITED_LOAD, str(path), json.dumps(kwargs)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        error, message, grew = json.loads(child.stdout)
        return LimitedLoad(error, message, grew)

    return load


def pytest_configure(config: pytest.Config) -> None:
    """``BRINERY_GC_THRESHOLD=1`` (the ``memcheck`` session): a collection at every allocation,
    which exposes bugs of collection order (a buffer freed while still exported)."""
    threshold = os.environ.get("BRINERY_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(int(threshold))
