"""Fixtures for the hostile-file suite (issue #10, "make safe loading safe by construction").

``corpus.py`` writes the hostile files (one case per attack, several variants each) and
``harness.py`` runs one entry point on one file in a fresh subprocess limited to 1 GiB of
address space; both are loaded here by path (test modules import nothing from this folder).

* ``hostile``: parametrized by :func:`pytest_generate_tests` over every case x variant x entry
  point (``memmap-write[plain-pickle]-untrusted_types``), as a :class:`Hostile`;
* ``hostile_run(hostile)``: ``(case, report)``, the case (:class:`corpus.Case`) and the
  harness's :class:`harness.Report` for that file and entry point.  Without pytest-xdist the
  runs of the whole session are started ahead on one thread per core (each test then waits for
  its own); under xdist each worker runs its tests' children one at a time;
* ``run_child(entry, path, kwargs, timeout=)``: the harness itself, for the controls;
* ``corpus_dir``: where this session's files are written (built once, on first use).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest

import brinery

HERE = Path(__file__).parent


def _load(name: str, filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load("brinery_security_corpus", "corpus.py")
harness = _load("brinery_security_harness", "harness.py")


class Hostile(NamedTuple):
    case: str
    variant: str
    entry: str


def _params() -> list[Any]:
    installed = set(brinery.compressors())
    params = []
    for case in corpus.CASES:
        for variant in case.variants:
            missing = [name for name in variant.needs if name not in installed]
            for entry in corpus.ENTRIES:
                reason = corpus.skip_reason(case, variant, entry)
                if missing:
                    reason = f"the {missing[0]} compressor (its plugin) is not installed"
                params.append(
                    pytest.param(
                        Hostile(case.name, variant.name, entry),
                        id=f"{case.name}[{variant.name}]-{entry}",
                        marks=[pytest.mark.skip(reason=reason)] if reason else [],
                    )
                )
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hostile" in metafunc.fixturenames:
        metafunc.parametrize("hostile", _params())


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-corpus")


@pytest.fixture(scope="session")
def run_child() -> Callable[..., Any]:
    """``run_child(entry, path, kwargs=None, *, timeout=30)``: a :class:`harness.Report`."""
    return harness.run


class _Runs:
    """The session's hostile runs: each file built once, each child run once."""

    def __init__(self, directory: Path, ahead: list[Hostile], threads: int) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._futures: dict[Hostile, Future[Any]] = {}
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="hostile")

    def _build(self, hostile: Hostile) -> Path:
        case, variant = corpus.find(hostile.case, hostile.variant)
        with self._lock:  # one writer per file
            path: Path = corpus.build(case, variant, self._directory)
        return path

    def _run(self, hostile: Hostile) -> Any:
        case, variant = corpus.find(hostile.case, hostile.variant)
        path = self._build(hostile)
        return harness.run(hostile.entry, path, corpus.load_kwargs(case, variant, hostile.entry))

    def _submit(self, hostile: Hostile) -> Future[Any]:
        future = self._futures.get(hostile)
        if future is None:
            future = self._futures[hostile] = self._pool.submit(self._run, hostile)
        return future

    def report(self, hostile: Hostile) -> Any:
        self._submit(hostile)
        for upcoming in self._ahead:  # the rest of the session, queued behind it
            self._submit(upcoming)
        self._ahead = []
        return self._futures[hostile].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def _hostile_runs(request: pytest.FixtureRequest, corpus_dir: Path) -> Iterator[_Runs]:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # xdist shares the tests among its workers
        ahead: list[Hostile] = []
        threads = 1
    else:
        ahead = [
            item.callspec.params["hostile"]  # type: ignore[attr-defined]
            for item in request.session.items
            if "hostile" in getattr(getattr(item, "callspec", None), "params", {})
            and item.get_closest_marker("skip") is None
        ]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        threads = max(1, min(cores, 8))
    runs = _Runs(corpus_dir, ahead, threads)
    yield runs
    runs.close()


@pytest.fixture
def hostile_run(hostile: Hostile, _hostile_runs: _Runs) -> tuple[Any, Any]:
    """``(case, report)`` for this test's file and entry point."""
    case, _ = corpus.find(hostile.case, hostile.variant)
    return case, _hostile_runs.report(hostile)
