"""Hostile files, each loaded in a fresh subprocess limited to 1 GiB of address space (issue #10).

Every case of the corpus (``corpus.py``: files written on disk, object pointers forged from file
bytes, out-of-bounds dtypes, memory allocated before any limit, CPU and stack exhaustion,
bypassed checks), in every variant (brinery stream, gzip, zstd, plain pickle, joblib-style),
through every entry point (``load(trusted=[])``, ``load(trusted=False, max_bytes=...)``,
``untrusted_types``, ``python -m brinery info``) must end safely:

* the child exits normally: no signal (segfault), no timeout (30 s), exit status 0 (the
  command line: 0 or 1), and nothing appears in the ``written/`` folder (or anywhere in its
  working directory); its peak memory stays below 512 MiB; class-5 (CPU) files take at most
  their CPU budget;
* a load raises a :class:`brinery.BrineryError`, with no MemoryError, RecursionError or
  SystemError among its causes; only files of plain data that are merely costly (``bounded``
  cases) may load, within the budget;
* ``untrusted_types`` raises such an error, or returns its list of names, which must include
  the untrusted globals the case names (``case.untrusted``: a call of ``numpy.memmap`` too);
* ``brinery info`` exits with status 1 and one line, ``brinery info: PATH: ...``, on standard
  error (no traceback, no MemoryError in it), or describes the file (status 0), naming the
  case's untrusted globals among its imports.

The two inspection entry points may thus succeed on a hostile file (they list and describe,
they do not build the object), but only safely and truthfully: set ``INSPECTION_MUST_REFUSE``
to require a brinery error from them too.

The controls check the harness itself: ordinary files load in it, its memory limit applies,
and a crash, a hang and a written file are all caught.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

FORBIDDEN = ("MemoryError", "RecursionError", "SystemError")
#: Whether untrusted_types and brinery info must fail on a file whose only fault is its data
#: (rather than list or describe it).
INSPECTION_MUST_REFUSE = False
MAX_RSS_MIB = 512
JOBLIB_FIXTURE = Path(__file__).parents[1] / "fixtures" / "joblib" / "joblib_1.6.0_gzip.pkl.gz"
RECONSTRUCT = ["numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"]


def _must_name(case: Any, variant: str) -> list[str]:
    """The untrusted globals untrusted_types and brinery info must name for this file (numpy's
    array classes too: they may be named as an array's class, a call to one is untrusted)."""
    return list(case.untrusted)


def _problems(case: Any, variant: str, entry: str, report: Any) -> list[str]:
    """What is wrong with how the child ended (empty: a safe outcome)."""
    found = []
    names = _must_name(case, variant)
    if report.timed_out:
        found.append(f"timed out after {report.seconds:.0f}s")
    if report.signal is not None:
        found.append(f"killed by {report.signal}")
    if report.written:
        found.append(f"wrote {report.written}")
    if report.maxrss_mib is not None and report.maxrss_mib > MAX_RSS_MIB:
        found.append(f"peak memory {report.maxrss_mib:.0f} MiB")
    if case.cpu_budget is not None and report.cpu_seconds > case.cpu_budget:
        found.append(f"{report.cpu_seconds:.1f}s of CPU (budget {case.cpu_budget}s)")
    if report.timed_out or report.signal is not None:
        return found
    if entry == "info":
        found += _info_problems(case, names, report)
        return found
    result = report.result
    if report.returncode != 0 or result is None:
        found.append(f"exit status {report.returncode}, result {result}")
        return found
    if result["outcome"] == "error":
        if not result["brinery_error"]:
            found.append(f"raised {result['error_module']}.{result['error_class']}")
        bad = [name for name in [result["error_class"], *result["causes"]] if name in FORBIDDEN]
        if bad:
            found.append(f"{result['error_class']} caused by {' <- '.join(result['causes'])}")
    elif entry == "untrusted_types":
        listed = result.get("names")
        if listed is None:
            found.append(f"returned {result['type']} ({result['size']}), not a list of names")
        elif not set(names) <= set(listed):
            found.append(f"returned {listed}, not naming {names}")
        elif INSPECTION_MUST_REFUSE and not case.untrusted and not case.bounded:
            found.append(f"returned {listed}: the file was not refused")
    elif not case.bounded:
        found.append(f"loaded: returned {result['type']} ({result['size']})")
    return found


def _info_problems(case: Any, names: list[str], report: Any) -> list[str]:
    stderr = report.stderr.strip()
    if "Traceback" in stderr or any(name in stderr for name in FORBIDDEN):
        return [f"exit status {report.returncode}, stderr {stderr[-300:]!r}"]
    if report.returncode == 1:
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith(f"brinery info: {report.path}: "):
            return [f"exit status 1 with stderr {stderr[-300:]!r}"]
        return []
    if report.returncode != 0:
        return [f"exit status {report.returncode}, stderr {stderr[-300:]!r}"]
    missing = [name for name in names if name not in report.stdout]
    if missing:
        return [f"described without naming {missing}"]
    if INSPECTION_MUST_REFUSE and not case.untrusted and not case.bounded:
        return ["described (exit status 0): the file was not refused"]
    return []


def test_hostile_file(hostile: Any, hostile_run: tuple[Any, Any]) -> None:
    case, report = hostile_run
    problems = _problems(case, hostile.variant, hostile.entry, report)
    assert not problems, (
        f"{hostile.case}[{hostile.variant}] through {hostile.entry} ({case.attack}: {case.what})"
        f": {'; '.join(problems)}\n  outcome: {report.summary()}\n  stderr: {report.stderr[-1500:]}"
    )


# -- controls: the harness sees ordinary files load, and sees what it must catch ---------------


@pytest.fixture(scope="session")
def control_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("controls")
    value = {"array": np.arange(100_000), "list": [1, "x", 2.5]}
    stream = directory / "control.brn"
    brinery.dump(value, stream, compress=False)
    compressed = directory / "control.brn.gz"
    brinery.dump(value, compressed)
    plain = directory / "control.pkl"
    buffer = io.BytesIO()
    pickle.dump({"a": 1, "b": [1, 2], "c": "text"}, buffer, protocol=4)
    plain.write_bytes(buffer.getvalue())
    return {"stream": stream, "stream.gz": compressed, "plain-pickle": plain}


CONTROLS = {
    "stream": ("builtins.dict", "len 2", {"trusted": []}),
    "stream.gz": ("builtins.dict", "len 2", {"trusted": False, "max_bytes": 1 << 30}),
    "plain-pickle": ("builtins.dict", "len 3", {"trusted": []}),
    "joblib-fixture": ("builtins.dict", "len 8", {"trusted": RECONSTRUCT}),
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_ordinary_files_load_in_the_harness(
    name: str, control_files: dict[str, Path], run_child: Any
) -> None:
    path = JOBLIB_FIXTURE if name == "joblib-fixture" else control_files[name]
    kind, size, kwargs = CONTROLS[name]
    loaded = run_child("load", path, kwargs)
    assert loaded.returncode == 0, loaded.summary()
    assert loaded.result is not None, loaded.summary()
    assert (loaded.result["outcome"], loaded.result["type"]) == ("ok", kind), loaded.summary()
    assert loaded.result["size"] == size
    assert loaded.written == []
    listed = run_child("untrusted_types", path)
    assert listed.result is not None, listed.summary()
    assert listed.result["outcome"] == "ok", listed.summary()
    assert isinstance(listed.result["names"], list)
    described = run_child("info", path)
    assert described.returncode == 0, described.summary()
    assert described.stdout.startswith(f"{path}: "), described.stdout
    assert described.stderr == ""


def test_the_memory_limit_applies_in_the_child(run_child: Any, tmp_path: Path) -> None:
    report = run_child("probe_rlimit", tmp_path)
    assert report.result is not None, report.summary()
    assert report.result["rlimit_as"] == 1 << 30
    assert report.result["outcome"] == "error"
    assert report.result["error_class"] == "MemoryError"  # bytearray(2 GiB)


def test_the_harness_sees_a_crash_a_hang_and_a_written_file(run_child: Any, tmp_path: Path) -> None:
    crashed = run_child("probe_crash", tmp_path)
    assert crashed.signal == "SIGSEGV"
    assert not crashed.timed_out
    hung = run_child("probe_hang", tmp_path, timeout=2)
    assert hung.timed_out
    assert hung.returncode is None
    wrote = run_child("probe_write", tmp_path)
    assert wrote.written == ["written/probe.txt"]
    assert wrote.result is not None
    assert wrote.result["outcome"] == "ok"
