"""Memory safety (issue 11): no reference cycles keep a dumped value or a file alive, and no
crash when the garbage collector runs at every allocation.

The crash (CPython 3.11 frees a memoryview's buffer while a PickleBuffer still exports it, when
a cyclic collection clears them out of order) needs a fresh interpreter to show, so those runs
are subprocesses that must exit 0 with nothing on standard error.
"""

from __future__ import annotations

import gc
import io
import subprocess
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import brinery

#: Small arrays of every kind that travels in the pickle, by every path of the pickler.
IN_BAND = """
import numpy as np
def in_band_values():
    rng = np.random.default_rng(0)
    read_only = np.arange(12.0)
    read_only.flags.writeable = False
    return {
        "many": [np.zeros(2) for _ in range(1000)],  # a young collection runs mid-dump
        "dates": np.array(["2020-01-01", "2021-02-03"], dtype="datetime64[D]"),
        "durations": np.array([1, 2], dtype="timedelta64[s]"),
        "strided": np.arange(40.0)[::3],
        "fortran": np.asfortranarray(rng.random((3, 4))),
        "read_only": read_only,
        "read_only_strided": read_only[::2],
        "structured": np.zeros(3, dtype=[("t", "<M8[s]"), ("x", "<f4")]),
        "text": np.array(["a", "bc"]),
        "bools": np.array([True, False]),
        "complex": np.array([1 + 2j]),
        "zero_d": np.array(3.5),
        "masked": np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
    }
"""

REPRODUCTION = IN_BAND + """
import gc, io, sys, brinery
gc.set_threshold(1)  # a collection at every allocation exposes collection-order bugs
compress, protocol, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
compress = False if compress == "none" else compress
value = in_band_values()
for _ in range(2):
    if kind == "path":
        brinery.dump(value, sys.argv[4], compress=compress, protocol=protocol)
        loaded = brinery.load(sys.argv[4])
        safe = brinery.load(sys.argv[4], trusted=[])
    else:
        target = io.BytesIO()
        brinery.dump(value, target, compress=compress, protocol=protocol)
        loaded = brinery.load(io.BytesIO(target.getvalue()))
        safe = brinery.load(io.BytesIO(target.getvalue()), trusted=[])
    assert len(loaded["many"]) == len(safe["many"]) == 1000
    del loaded, safe
    gc.collect()
print("ok")
"""


THE_ISSUE = IN_BAND + """
import gc, io, brinery
def dump_once():  # as reported: a full collection after the dump crashed CPython 3.11
    brinery.dump(in_band_values(), io.BytesIO())
gc.collect()
dump_once()
gc.collect()
print("ok")
"""


def test_the_reported_crash_is_gone() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", THE_ISSUE],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "", "BRINERY_LOAD_PLUGINS": ""},
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def _variants() -> list[tuple[str, int, str]]:
    found = [("none", 5, "file object"), ("none", 4, "file object"), ("none", 2, "path")]
    found += [(name, 5, "path") for name in sorted(brinery.compressors())]  # plugins' too
    try:
        import fsspec  # noqa: F401
    except ImportError:
        pass
    else:
        found += [("none", 5, "memory url"), ("gzip", 5, "memory url")]
    return found


@pytest.mark.parametrize(("compress", "protocol", "kind"), _variants())
def test_dumps_and_loads_survive_collections_at_every_allocation(
    compress: str, protocol: int, kind: str, tmp_path: Any
) -> None:
    """The issue's reproduction, generalised: exit 0, nothing on standard error, under
    ``python -X dev`` (debug allocator hooks, warnings shown) and ``gc.set_threshold(1)``."""
    where = "memory://brinery/value.pkl" if kind == "memory url" else str(tmp_path / "value.pkl")
    plugins = {} if compress in brinery.compressors() and compress not in BUILT_IN else None
    env = {"PYTHONMALLOC": "debug", "PATH": ""}
    if plugins is None:
        env["BRINERY_LOAD_PLUGINS"] = ""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", REPRODUCTION, compress, str(protocol),
         "file object" if kind == "file object" else "path", where],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


BUILT_IN = {"zlib", "gzip", "bz2", "lzma", "xz"}


@pytest.fixture
def no_collection() -> Iterator[None]:
    """Only reference counting frees anything: what a cycle would keep alive stays alive."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Sink(io.BytesIO):
    """A file object that can be referenced weakly (a plain BytesIO cannot)."""


@pytest.mark.usefixtures("no_collection")
@pytest.mark.parametrize("compress", [False, "zlib"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_dump_keeps_nothing_alive(compress: Any, protocol: int) -> None:
    namespace: dict[str, Any] = {}
    exec(IN_BAND, namespace)
    value = namespace["in_band_values"]()
    value["big"] = np.zeros(100_000)  # an array record
    target = _Sink()
    brinery.dump(value, target, compress=compress, protocol=protocol)
    data = target.getvalue()
    watched = [weakref.ref(value["big"]), weakref.ref(value["many"][0]), weakref.ref(target)]
    del value, target
    assert [ref() for ref in watched] == [None, None, None]

    for trusted in (None, []):  # the C unpickler and the safe one
        source = _Sink(data)
        loaded = brinery.load(source, trusted=trusted)
        watched = [weakref.ref(loaded["big"]), weakref.ref(loaded["many"][0]), weakref.ref(source)]
        del loaded, source
        assert [ref() for ref in watched] == [None, None, None]


@pytest.mark.usefixtures("no_collection")
def test_a_failed_dump_keeps_nothing_alive() -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise TypeError("no")

    value = [np.zeros(100_000), Unpicklable()]
    target = _Sink()
    with pytest.raises(brinery.DumpError):
        brinery.dump(value, target)
    watched = [weakref.ref(value[0]), weakref.ref(target)]
    del value, target
    assert [ref() for ref in watched] == [None, None]


def _live_views(traceback: Any) -> list[str]:
    """The memoryviews still usable in a traceback's frames."""
    found = []
    while traceback is not None:
        for name, value in traceback.tb_frame.f_locals.items():
            if isinstance(value, memoryview):
                try:
                    value.nbytes  # noqa: B018  (a released view raises here)
                except ValueError:
                    continue
                found.append(f"{traceback.tb_frame.f_code.co_name}: {name}")
        traceback = traceback.tb_next
    return found


@pytest.mark.parametrize("protocol", [4, 5])
@pytest.mark.parametrize("cut", [1 / 3, 1 / 2, 0.99])
def test_a_failed_load_leaves_no_view_in_its_traceback(protocol: int, cut: float) -> None:
    """The C unpickler reads into a memoryview over its own short-lived buffer and never
    invalidates it: a traceback keeping such a view would let an error reporter read freed
    memory."""
    target = io.BytesIO()
    value = {"bytes": b"x" * 300_000, "bytearray": bytearray(300_000)}
    brinery.dump(value, target, protocol=protocol, checksums=False)
    data = target.getvalue()
    with pytest.raises(brinery.TruncatedFileError) as caught:
        brinery.load(io.BytesIO(data[: int(len(data) * cut)]))
    assert _live_views(caught.value.__traceback__) == []
