"""Fixtures shared by brinery's test suites.

Helpers are handed out as fixtures (test modules are plain, rootdir-less modules and do not
import each other): ``assert_same`` compares a loaded object with the original exactly,
``dumps``/``loads`` go through ``io.BytesIO`` (those three are :mod:`brinery.testing`'s, the
plugin test kit's), ``roundtrip`` goes through a file, ``records`` parses an uncompressed
brinery stream into its records, and ``smooth_images`` draws images.
"""

from __future__ import annotations

import functools
import gc
import io
import os
import pickle
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
import xxhash

import brinery
import brinery.plugins
import brinery.testing
from brinery.format.layout import (
    ALIGNMENT,
    BUFFER_RECORD,
    CHECKSUMS_FLAG,
    END_RECORD,
    INDEX_RECORD,
    INDEXED_FLAG,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
    padding_before_payload,
)
from brinery.format.writer import StreamWriter
from brinery.pickler import BrineryPickler
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


# -- exact comparison, dumping and loading: brinery.testing's, which plugins' tests use too -------


@pytest.fixture(scope="session")
def assert_same() -> Callable[[Any, Any], None]:
    """``assert_same(loaded, original)``: exact types, values, dtypes, flags and sharing."""
    return brinery.testing.assert_same


@pytest.fixture(scope="session")
def dumps() -> Callable[..., bytes]:
    """``dumps(obj, **dump_kwargs)``: the bytes ``brinery.dump`` writes to a file object."""
    return brinery.testing.dumps


@pytest.fixture(scope="session")
def loads() -> Callable[[bytes], Any]:
    """``loads(data)``: load one object from bytes, checking it used them all."""
    return brinery.testing.loads


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
    assert flags & ~(CHECKSUMS_FLAG | INDEXED_FLAG) == 0
    offset, records = STREAM_HEADER.size, []
    while True:
        kind, padding, _flags, _reserved, size = RECORD_HEADER.unpack_from(data, offset)
        unaligned = kind in (PICKLE_RECORD, INDEX_RECORD, END_RECORD)
        assert padding == (0 if unaligned else padding_before_payload(offset))
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


def _smooth_images(count: int, seed: int = 0, height: int = 62, width: int = 47) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys = np.arange(height, dtype=np.float32)[None, :, None]
    xs = np.arange(width, dtype=np.float32)[None, None, :]

    def each(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (count, 1, 1)).astype(np.float32)

    picture = each(60, 170) + each(-1, 1) * ys + each(-1, 1) * xs
    for _ in range(6):
        centre_y, centre_x = each(0, height), each(0, width)
        spread_y, spread_x = each(4, 18), each(4, 14)
        blob = ((ys - centre_y) / spread_y) ** 2 + ((xs - centre_x) / spread_x) ** 2
        picture = picture + each(-70, 90) * np.exp(-blob)
    picture += rng.integers(-1, 2, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def smooth_images() -> Callable[..., np.ndarray]:
    """``smooth_images(count, seed=0, height=62, width=47)``: ``count`` deterministic greyscale
    ``uint8`` images like a face data set's (a tilted grey background, six Gaussian blobs, one
    grey level of noise), shape ``(count, height, width)``: what the delta filter is for."""
    return _smooth_images


def _forged_filter_headers(
    value: Any, mode: str, kind: int, flags: int, element_size: int, stream_flags: int
) -> bytes:
    buffer = io.BytesIO()
    writer = StreamWriter(buffer, shuffles=True)
    pickled = value
    if kind == BUFFER_RECORD:
        pickled = pickle.PickleBuffer(bytearray(100_000))  # (out of band: a buffer record)
    BrineryPickler(writer, 5, mode).dump(pickled)
    writer.finish()
    stream = bytearray(buffer.getvalue())
    STREAM_HEADER.pack_into(stream, 0, STREAM_MAGIC, 1, 3, CHECKSUMS_FLAG | stream_flags, 0)
    offset = STREAM_HEADER.size
    while True:
        head = RECORD_HEADER.unpack_from(stream, offset)
        end = offset + RECORD_HEADER.size + head[1] + head[4]
        if head[0] == kind:
            RECORD_HEADER.pack_into(stream, offset, head[0], head[1], flags, element_size, head[4])
        covered = bytes(stream[offset:end])
        if head[0] == END_RECORD:
            covered = bytes(stream[: STREAM_HEADER.size]) + covered
        RECORD_DIGEST.pack_into(stream, end, xxhash.xxh3_64_intdigest(covered))
        if head[0] == END_RECORD:
            return bytes(stream)
        offset = end + RECORD_DIGEST.size


@pytest.fixture(scope="session")
def forge_filter_headers() -> Callable[..., bytes]:
    """``forge_filter_headers(value, mode, kind, flags, element_size, stream_flags)``: a
    checksummed stream of ``value`` dumped with filter ``mode`` (for a buffer record, a
    ``bytearray`` out of band instead), whose ``kind`` record headers then say ``flags`` and
    ``element_size`` and whose stream header says ``stream_flags``, the checksums recomputed
    (as an attacker would)."""
    return _forged_filter_headers


@pytest.fixture
def load_limited(tmp_path: Any) -> Callable[..., brinery.testing.LimitedLoad]:
    """Load ``data`` in a child process whose address space is limited to 1 GiB (so a hostile
    file's allocations fail there, not in the test run), with a timeout; ``pipe=True`` reads it
    through a file that cannot tell its size.  Other keywords go to ``brinery.load``."""
    return functools.partial(brinery.testing.load_limited, folder=tmp_path)


def pytest_configure(config: pytest.Config) -> None:
    """``BRINERY_GC_THRESHOLD=1`` (the ``memcheck`` session): a collection at every allocation,
    which exposes bugs of collection order (a buffer freed while still exported)."""
    threshold = os.environ.get("BRINERY_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(int(threshold))
