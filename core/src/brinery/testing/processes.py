"""Other processes: a codec's command-line tool, fresh interpreters, a pipe, a memory limit.

Plugins load once per process, so what happens without a plugin (or with only some) is only
seen in a fresh interpreter (:func:`run_python`).  A pipe cannot seek nor say how much follows,
so objects dumped into one are read the way a socket is (:func:`pipe_roundtrip`).  A hostile
file may ask for gigabytes: :func:`load_limited` loads it in a child process under an
address-space limit, and reports how much memory the load took.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import brinery

__all__ = [
    "LimitedLoad",
    "find_tool",
    "load_limited",
    "pipe_roundtrip",
    "run_python",
    "run_tool",
]

#: Seconds any child process may take before the test fails (a hang is a failure, not a wait).
TIMEOUT = 120


# -- command-line tools ----------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """The path of the command-line tool ``name``; skips the test if it is not on ``PATH``."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"the {name!r} command-line tool is not installed (not on PATH)")
    return path


def run_tool(args: list[str], data: bytes = b"", cwd: Path | None = None) -> bytes:
    """A tool's standard output, ``data`` fed to its standard input; its failure fails the
    test, with what it wrote on standard error."""
    done = subprocess.run(args, input=data, capture_output=True, cwd=cwd, timeout=TIMEOUT)
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({done.returncode}): "
        f"{done.stderr.decode(errors='replace')}"
    )
    return done.stdout


# -- fresh interpreters ----------------------------------------------------------------------------


def run_python(
    code: str, env: dict[str, str | None] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter (this one's executable), which must succeed.

    ``env`` entries are added to (or, with value ``None``, removed from) this environment:
    ``{"BRINERY_LOAD_PLUGINS": ""}`` runs it without any plugin.
    """
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
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"the subprocess failed:\n{done.stdout}\n{done.stderr}"
    return done


# -- a pipe ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _writer_thread(target: Callable[[], None]) -> Iterator[list[BaseException]]:
    """Runs ``target`` on a thread for the ``with`` block; yields the list its error goes to."""
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
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), "the writer thread is stuck"


def pipe_roundtrip(
    objects: list[Any], dump_kwargs: list[dict[str, Any]], threads: int | None = None
) -> list[Any]:
    """Dumps each object (with its keyword arguments) into an ``os.pipe`` from a thread, and
    loads them one after another from the read end, a ``BufferedReader``; checks that nothing
    is left in the pipe after the last one.  Returns what was loaded."""
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


# -- loads under a memory limit --------------------------------------------------------------------


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


def load_limited(
    data: bytes, timeout: float = TIMEOUT, *, folder: Path | None = None, **kwargs: Any
) -> LimitedLoad:
    """Loads ``data`` in a child process whose address space is limited to 1 GiB (so a hostile
    file's allocations fail there, not in the test run), with a timeout.

    ``pipe=True`` reads it through a file that cannot tell its size; other keywords go to
    ``brinery.load``.  The file is written into ``folder`` (default: a temporary folder).
    Linux only: the limit and the measure come from ``resource`` and ``/proc``.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("load_limited measures memory through /proc (Linux only)")
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = folder / "hostile.bin"
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
