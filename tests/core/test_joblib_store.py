"""``joblib.Memory(location, backend="brinery")``: joblib's caching, its results brinery files.

joblib's own semantics are what is checked: a cached call is not made again, a changed function
loses its results, ``clear()`` and ``reduce_size()`` remove them, a damaged entry is warned
about and computed again (as joblib's own store does with one it cannot read), and two
processes computing the same call at once leave one whole entry.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

joblib = pytest.importorskip("joblib")
from joblib import Memory  # noqa: E402

from brinery.api import inspect_file  # noqa: E402
from brinery.errors import DependencyMissingError, InvalidArgumentError  # noqa: E402
from brinery.format.layout import FORMAT_MAJOR, FORMAT_MINOR  # noqa: E402
from brinery.joblib_store import BrineryStoreBackend, register  # noqa: E402

CacheWarning = joblib.memory.CacheWarning
RESULT = "output.pkl"
BRINERY_FILE = f"brinery {FORMAT_MAJOR}.{FORMAT_MINOR}"  # (indexed: the default)


@pytest.fixture(autouse=True)
def registered() -> None:
    register()


@pytest.fixture
def calls() -> list[Any]:
    """The arguments each cached function was really called with."""
    return []


def _memory(location: Path, **kwargs: Any) -> Any:
    return Memory(location, backend="brinery", verbose=0, **kwargs)


def _entries(location: Path) -> list[Path]:
    """The result files in the cache."""
    return sorted(location.rglob(RESULT))


def _by_size(location: Path) -> dict[int, Path]:
    """The result files of the cache by the number of elements of the array each holds."""
    found = {}
    for path in _entries(location):
        value = brinery.load(path)
        found[value["n"] if isinstance(value, dict) else value.size] = path
    return found


def _weights(n: int) -> dict[str, Any]:
    return {"weights": np.arange(n, dtype=np.float64) / 7, "n": n, "labels": ["a", "b"]}


@pytest.mark.parametrize(
    ("compress", "compressor"),
    [(False, "none"), (3, "zlib"), ("gzip", "gzip"), (("xz", 1), "xz")],
    ids=["none", "zlib-3", "gzip", "xz-1"],
)
def test_a_cached_call_is_not_made_again(
    tmp_path: Path,
    calls: list[Any],
    compress: Any,
    compressor: str,
    assert_same: Callable[[Any, Any], None],
) -> None:
    memory = _memory(tmp_path, compress=compress)

    @memory.cache
    def weights(n: int) -> dict[str, Any]:
        calls.append(n)
        return _weights(n)

    first = weights(100_000)
    again = weights(100_000)
    other = weights(10)
    assert calls == [100_000, 10]
    assert_same(first, _weights(100_000))
    assert_same(again, _weights(100_000))
    assert_same(other, _weights(10))
    assert isinstance(memory.store_backend, BrineryStoreBackend)
    entry = _by_size(tmp_path)[100_000]
    found = inspect_file(entry)
    assert (found.format, found.compressor) == (BRINERY_FILE, compressor)
    assert_same(brinery.load(entry), _weights(100_000))


def test_results_are_checked(tmp_path: Path) -> None:
    """brinery's record checksums by default where the codec has no check of its own; the
    ``checksums`` option adds them everywhere."""
    for options, expected in [({}, True), ({"checksums": False}, False)]:
        plain = _memory(tmp_path / f"plain-{expected}", backend_options=options)
        plain.cache(_weights)(10)
        assert inspect_file(*_entries(tmp_path / f"plain-{expected}")).checksums is expected
    gzipped = _memory(tmp_path / "gzip", compress="gzip", backend_options={"checksums": True})
    gzipped.cache(_weights)(10)
    assert inspect_file(*_entries(tmp_path / "gzip")).checksums is True


_SOURCE = """
import numpy as np

def scaled(x):
    calls.append(x)
    return np.full(3, x) * {factor}
"""


def _module(folder: Path, factor: int, calls: list[Any]) -> Any:
    """The module ``brinery_cached_work`` from a file whose ``scaled`` multiplies by
    ``factor``: the same function, its code changed, as when someone edits it."""
    path = folder / "brinery_cached_work.py"
    path.write_text(_SOURCE.format(factor=factor))
    spec = importlib.util.spec_from_file_location("brinery_cached_work", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.calls = calls  # type: ignore[attr-defined]
    spec.loader.exec_module(module)
    return module


def test_changing_the_functions_code_drops_its_results(tmp_path: Path, calls: list[Any]) -> None:
    memory = _memory(tmp_path / "cache")
    before = memory.cache(_module(tmp_path, 2, calls).scaled)
    assert before(5).tolist() == [10, 10, 10]
    assert before(5).tolist() == [10, 10, 10]
    after = memory.cache(_module(tmp_path, 3, calls).scaled)
    assert after(5).tolist() == [15, 15, 15]
    assert after(5).tolist() == [15, 15, 15]
    assert calls == [5, 5]
    [entry] = _entries(tmp_path / "cache")
    assert brinery.load(entry).tolist() == [15, 15, 15]


def test_clear(tmp_path: Path, calls: list[Any]) -> None:
    memory = _memory(tmp_path)

    @memory.cache
    def square(x: int) -> np.ndarray:
        calls.append(x)
        return np.arange(x) ** 2

    square(3)
    square(4)
    square.call_and_shelve(4).clear()  # one result
    assert len(_entries(tmp_path)) == 1
    square(4)
    assert calls == [3, 4, 4]
    memory.clear(warn=False)  # everything
    assert _entries(tmp_path) == []
    assert square(3).tolist() == [0, 1, 4]
    assert calls == [3, 4, 4, 3]


def test_reduce_size(tmp_path: Path, calls: list[Any]) -> None:
    """joblib removes the least recently used results first (by the result file's access
    time, set here so that the order does not depend on the file system's atime policy)."""
    memory = _memory(tmp_path)

    @memory.cache
    def ones(n: int) -> np.ndarray:
        calls.append(n)
        return np.ones(n)

    for n in (30_000, 20_000, 10_000):
        ones(n)
    entries = _by_size(tmp_path)
    for seconds, n in enumerate((30_000, 20_000, 10_000), start=1000):  # 30,000's the oldest
        os.utime(entries[n], (seconds, seconds))
    memory.reduce_size(items_limit=2)  # (nothing reads the files until the end: their atimes)
    assert _entries(tmp_path) == sorted([entries[10_000], entries[20_000]])
    size = sum(path.stat().st_size for path in entries[10_000].parent.iterdir())
    memory.reduce_size(bytes_limit=size)
    assert _entries(tmp_path) == [entries[10_000]]
    for n in (10_000, 20_000, 30_000):
        assert ones(n).shape == (n,)
    assert calls == [30_000, 20_000, 10_000, 20_000, 30_000]


def _damage(entry: Path, how: str) -> None:
    data = bytearray(entry.read_bytes())
    if how == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    else:
        data[len(data) // 2] ^= 0x10  # in the array's memory
        entry.write_bytes(data)


@pytest.mark.parametrize(
    ("backend", "how", "error"),
    [
        ("local", "truncated", "ValueError"),  # joblib's own store: what brinery's must match
        ("brinery", "truncated", "brinery.errors.TruncatedFileError"),
        ("brinery", "flipped", "brinery.errors.CorruptFileError"),
    ],
)
def test_a_damaged_entry_is_warned_about_and_computed_again(
    tmp_path: Path,
    calls: list[Any],
    caplog: pytest.LogCaptureFixture,
    backend: str,
    how: str,
    error: str,
    assert_same: Callable[[Any, Any], None],
) -> None:
    memory = Memory(tmp_path, backend=backend, verbose=0)

    @memory.cache
    def weights(n: int) -> dict[str, Any]:
        calls.append(n)
        return _weights(n)

    weights(100_000)
    [entry] = _entries(tmp_path)
    _damage(entry, how)
    with caplog.at_level(logging.WARNING, logger="joblib"):
        again = weights(100_000)
    assert_same(again, _weights(100_000))
    assert calls == [100_000, 100_000]
    [record] = caplog.records
    assert record.getMessage().startswith(f"[{weights}]: Exception while loading results for")
    assert f"\n{error}: " in record.getMessage()
    assert_same(weights(100_000), _weights(100_000))  # the entry was written again
    assert calls == [100_000, 100_000]


def test_a_result_brinery_cannot_write_is_returned_not_cached(
    tmp_path: Path, calls: list[Any]
) -> None:
    memory = _memory(tmp_path)

    @memory.cache
    def make_adder(n: int) -> Callable[[int], int]:
        calls.append(n)
        return lambda x: x + n  # a lambda: pickle refuses it

    with pytest.warns(CacheWarning, match=r"^Unable to cache to disk with brinery: DumpError: "):
        assert make_adder(2)(1) == 3
    assert not [path for path in tmp_path.rglob("*") if "output" in path.name]  # nor a part
    with pytest.warns(CacheWarning):
        make_adder(2)
    assert calls == [2, 2]


def test_mmap_mode(tmp_path: Path, assert_same: Callable[[Any, Any], None]) -> None:
    memory = _memory(tmp_path, mmap_mode="r")
    weights = memory.cache(_weights)
    for _ in range(2):  # computed (then read back from the cache, as joblib does), then cached
        result = weights(100_000)
        assert type(result["weights"]) is np.memmap
        assert result["weights"].filename == str(_entries(tmp_path)[0])
        assert np.array_equal(result["weights"], _weights(100_000)["weights"])
    with pytest.warns(UserWarning, match="memmapped"):
        compressed = _memory(tmp_path / "zlib", mmap_mode="r", compress="zlib")
    assert compressed.store_backend.mmap_mode is None  # ignored, as joblib's warning says
    assert_same(compressed.cache(_weights)(100_000), _weights(100_000))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"backend_options": {"compresss": 3}},
            "the brinery store takes the backend_options compress, mmap_mode, checksums, durable, "
            "not 'compresss'",
        ),
        (
            {"compress": "nonsense"},
            "unknown compressor 'nonsense'",
        ),
        (
            {"mmap_mode": "w+"},
            "mmap_mode must be 'r', 'r+', 'c' or None, not 'w+'",
        ),
        (
            {"backend_options": {"checksums": "yes"}},
            "checksums must be True, False or None, not 'yes'",
        ),
        (
            {"backend_options": {"durable": None}},
            "durable must be True or False, not None",
        ),
    ],
    ids=["unknown-option", "compressor", "mmap-mode", "checksums", "durable"],
)
def test_options_are_checked_when_the_memory_is_made(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        _memory(tmp_path, **kwargs)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(("options", "syncs"), [({}, 0), ({"durable": True}, 2)])
def test_entries_skip_the_waits_for_the_disk_unless_asked(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    assert_same: Callable[[Any, Any], None],
    options: dict[str, Any],
    syncs: int,
) -> None:
    """A cache entry lost to a power cut is computed again: by default it is written as
    joblib's own store writes (no fsync), still replaced atomically."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    cached = _memory(tmp_path, backend_options=options).cache(_weights)
    assert_same(cached(10), _weights(10))
    assert len(synced) == syncs
    assert len(_entries(tmp_path)) == 1


def test_registering_under_another_name(tmp_path: Path) -> None:
    register("brinery-elsewhere")
    memory = Memory(tmp_path, backend="brinery-elsewhere", verbose=0)
    assert type(memory.store_backend) is BrineryStoreBackend


def test_without_joblib_the_module_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "brinery.joblib_store")
    monkeypatch.setitem(sys.modules, "joblib", None)
    monkeypatch.setitem(sys.modules, "joblib._store_backends", None)
    with pytest.raises(DependencyMissingError) as raised:
        importlib.import_module("brinery.joblib_store")
    assert str(raised.value) == "brinery.joblib_store needs joblib: pip install 'brinery[joblib]'"


# -- two processes computing the same call at once ---------------------------------------------

_WORKER = """
import json, os, sys, time
import numpy as np
from joblib import Memory
import brinery.joblib_store

brinery.joblib_store.register()
location, rendezvous, name = sys.argv[1:]
memory = Memory(location, backend="brinery", verbose=0)
computed = []

@memory.cache
def weights(n):
    computed.append(n)
    open(os.path.join(rendezvous, name), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(rendezvous)) < 2:  # both processes are computing: both will write
        if time.monotonic() > deadline:
            raise SystemExit("the other process never came")
        time.sleep(0.005)
    return {"weights": np.arange(n, dtype=np.float64) / 7, "n": n}

first = weights(1_000_000)
second = weights(1_000_000)
same = bool(np.array_equal(first["weights"], second["weights"]))
print(json.dumps({"computed": computed, "same": same}))
"""


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    path = tmp_path / "cache_worker.py"
    path.write_text(_WORKER)
    return path


def test_two_processes_computing_one_call_leave_one_whole_entry(
    tmp_path: Path, worker: Path, assert_same: Callable[[Any, Any], None]
) -> None:
    location, rendezvous = tmp_path / "cache", tmp_path / "rendezvous"
    rendezvous.mkdir()
    env = {**os.environ, "BRINERY_LOAD_PLUGINS": ""}
    children = [
        subprocess.Popen(
            [sys.executable, str(worker), str(location), str(rendezvous), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("first", "second")
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    assert reports == [{"computed": [1_000_000], "same": True}] * 2  # both computed, both wrote
    [entry] = _entries(location)
    assert sorted(path.name for path in entry.parent.iterdir()) == ["metadata.json", RESULT]
    expected = {"weights": np.arange(1_000_000, dtype=np.float64) / 7, "n": 1_000_000}
    assert_same(brinery.load(entry), expected)


# -- scikit-learn's Pipeline(memory=...) -------------------------------------------------------


def test_a_scikit_learn_pipeline_caches_its_transformers(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    CountingScaler.fits = 0
    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(200, 5)), rng.normal(size=200)

    def fitted() -> Any:
        steps = [("scale", CountingScaler()), ("ridge", Ridge(alpha=0.5))]
        return Pipeline(steps, memory=_memory(tmp_path)).fit(features, target)

    first = fitted()
    assert CountingScaler.fits == 1
    second = fitted()
    assert CountingScaler.fits == 1  # the scaler came from the cache
    assert np.array_equal(second.predict(features), first.predict(features))
    assert np.array_equal(second["scale"].mean_, first["scale"].mean_)
    [entry] = _entries(tmp_path)
    assert inspect_file(entry).format == BRINERY_FILE


try:
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError:
    _ESTIMATOR: tuple[type, ...] = ()  # (the test above skips)
else:
    _ESTIMATOR = (TransformerMixin, BaseEstimator)


class CountingScaler(*_ESTIMATOR):  # type: ignore[misc]
    """A standard scaler that counts its fits (on the class: the pipeline fits clones)."""

    fits = 0

    def fit(self, features: np.ndarray, target: Any = None) -> CountingScaler:
        type(self).fits += 1
        self.mean_ = features.mean(axis=0)
        self.scale_ = features.std(axis=0)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean_) / self.scale_
