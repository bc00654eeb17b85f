"""Run one brinery entry point on one file in a fresh, memory-limited subprocess.

Parent side: :func:`run` starts the child in a fresh working directory holding an empty
``written/`` folder (the corpus's files point there), kills it after ``timeout`` seconds, reaps
it with ``os.wait4`` (its CPU time and peak RSS), and returns a :class:`Report`: what the child
said (JSON on its stdout), its exit code or signal, whether it timed out, and every file that
appeared in its directory.

Child side: the first thing the child does is ``setrlimit(RLIMIT_AS, 1 GiB)`` (in the child
itself rather than in a ``preexec_fn``, so that runs may be started from several threads).
``harness.py ENTRY PATH KWARGS_JSON`` then calls the entry point and prints one line,
``RESULT_MARKER`` then JSON: ``{"outcome": "ok", "type": ..., "size": ...}`` (what came back,
described by type and size, never repr()) or ``{"outcome": "error", "error_class": ...,
"error_module": ..., "brinery_error": ..., "message": <300 chars>, "causes": [...]}`` (the
``__cause__``/``__context__`` chain, so that a MemoryError wrapped in a brinery error is seen).
The ``info`` entry point is the command line, ``python -m brinery info PATH`` (run through
``runpy`` after the limit is set: the same module, ``sys.argv`` and exit status), judged by its
exit status and standard error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ADDRESS_SPACE = 1 << 30
TIMEOUT = 30.0
RESULT_MARKER = "BRINERY-HARNESS-RESULT "
#: Errors that must never reach the caller, not even as the cause of a brinery error.
FORBIDDEN = ("MemoryError", "RecursionError", "SystemError")

#: Written by the child at exit: its own peak resident memory (VmHWM).  The rusage of
#: ``wait4`` cannot tell it: subprocess starts children with vfork, and Linux counts the
#: parent's peak (the test run's, which may be large) in a vforked child's ``ru_maxrss``.
_PEAK_RECORDER = (
    "import atexit, os; atexit.register(lambda: open(os.environ['BRINERY_HARNESS_PEAK'], 'w')"
    ".write(next((line.split()[1] for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:')), '')))"
)
_CLI_BOOTSTRAP = (
    _PEAK_RECORDER + "; "
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
    "sys.argv = ['brinery', *sys.argv[1:]]; "
    "runpy.run_module('brinery', run_name='__main__', alter_sys=True)"
)


@dataclasses.dataclass
class Report:
    entry: str
    path: str
    returncode: int | None  # None: killed on timeout
    signal: str | None  # the signal that ended the child ("SIGSEGV"), if one did
    timed_out: bool
    seconds: float  # wall time
    cpu_seconds: float  # the child's user + system time, start-up included
    maxrss_mib: float | None  # the child's peak resident memory (None: it died before telling)
    written: list[str]  # files that appeared in the child's directory (relative paths)
    result: dict[str, Any] | None  # the child's JSON (None: it printed none)
    stdout: str  # its tail (info's description)
    stderr: str  # its tail

    def summary(self) -> str:
        """One line: what happened, for failure messages and tables."""
        if self.timed_out:
            what = f"timeout after {self.seconds:.0f}s"
        elif self.signal is not None:
            what = f"killed by {self.signal}"
            if self.result is not None:
                what += " (after reporting " + self.result["outcome"] + ")"
        elif self.entry == "info":
            lines = self.stderr.strip().splitlines()
            what = f"exit {self.returncode}: " + (lines[-1][:200] if lines else "(no stderr)")
            if "Traceback" in self.stderr:
                what += " [Traceback on stderr]"
        elif self.result is None:
            what = f"exit {self.returncode}, no result: {self.stderr.strip()[-200:]!r}"
        elif self.result["outcome"] == "ok":
            what = f"ok: returned {self.result['type']} ({self.result['size']})"
        else:
            chain = "<-".join([self.result["error_class"], *self.result["causes"]])
            what = f"{chain}: {self.result['message'][:160]}"
            if self.returncode:
                what += f" [exit {self.returncode}]"
        peak = "?" if self.maxrss_mib is None else f"{self.maxrss_mib:.0f}"
        what += f" [{self.cpu_seconds:.1f}s cpu, {peak} MiB]"
        if self.written:
            what += f" [WROTE {', '.join(self.written)}]"
        return what


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The limit measures what a load allocates, not reservations: one BLAS thread, and few
    # malloc arenas (each thread's arena reserves 64 MiB of address space).
    env.update(
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MALLOC_ARENA_MAX="2",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONSTARTUP", None)
    return env


def run(
    entry: str,
    path: str | os.PathLike[str],
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float = TIMEOUT,
) -> Report:
    """Run ``entry`` on ``path`` in a fresh subprocess; see the module docstring."""
    path = os.path.abspath(path)
    workdir = Path(tempfile.mkdtemp(prefix="brinery-hostile-"))
    outputs = Path(tempfile.mkdtemp(prefix="brinery-hostile-out-"))
    env = _child_environment()
    env["BRINERY_HARNESS_PEAK"] = str(outputs / "peak")
    if entry == "info":
        command = [sys.executable, "-c", _CLI_BOOTSTRAP, "info", path]
    else:
        env["PYTHONFAULTHANDLER"] = "1"  # a crash's stack on stderr, for the report
        command = [sys.executable, __file__, entry, path, json.dumps(kwargs or {})]
    try:
        (workdir / "written").mkdir()
        with (outputs / "out").open("w+b") as out, (outputs / "err").open("w+b") as err:
            start = time.monotonic()
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
            status, usage, timed_out = _reap(process, start + timeout)
            seconds = time.monotonic() - start
            out.seek(0)
            stdout = out.read().decode(errors="replace")
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        peak = outputs / "peak"
        recorded = peak.read_text().strip() if peak.exists() else ""
        maxrss_mib = int(recorded) / 1024 if recorded.isdigit() else None  # (VmHWM is in kB)
        written = sorted(
            str(found.relative_to(workdir))
            for found in workdir.rglob("*")
            if found.is_file() or found.is_symlink()
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)
    result = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
    returncode = os.waitstatus_to_exitcode(status)
    died = None
    if not timed_out and returncode < 0:
        try:
            died = signal.Signals(-returncode).name
        except ValueError:
            died = f"signal {-returncode}"
    return Report(
        entry=entry,
        path=path,
        returncode=None if timed_out else returncode,
        signal=died,
        timed_out=timed_out,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        maxrss_mib=maxrss_mib,
        written=written,
        result=result,
        stdout=stdout[-4000:],
        stderr=stderr[-4000:],
    )


def _reap(process: subprocess.Popen[bytes], deadline: float) -> tuple[int, Any, bool]:
    """Wait for the child (killing it at ``deadline``): its wait status, its rusage, and
    whether it was killed for taking too long."""
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            timed_out = True
            break
        time.sleep(0.01)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    return status, usage, timed_out


# -- the child ---------------------------------------------------------------------------------


def _describe(value: Any) -> tuple[str, str]:
    """The type and size of what a load returned, without repr() or touching its items."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    nbytes = getattr(value, "nbytes", None)
    shape = getattr(value, "shape", None)
    if isinstance(nbytes, int) and isinstance(shape, tuple):
        return kind, f"shape {shape}, {nbytes} bytes"
    try:
        return kind, f"len {len(value)}"
    except Exception:  # no len(): a scalar
        return kind, "no len"


def _causes(error: BaseException) -> list[str]:
    chain, seen = [], {id(error)}
    current = error.__cause__ or error.__context__
    while current is not None and id(current) not in seen and len(chain) < 10:
        seen.add(id(current))
        chain.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    return chain


def _names(value: Any) -> list[str] | None:
    """``untrusted_types``'s list, kept when it is a short list of strings (shortened)."""
    if type(value) is not list or len(value) > 20 or any(type(item) is not str for item in value):
        return None
    return [item[:200] for item in value]


def _child(entry: str, path: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    start = time.monotonic()
    try:
        value: Any = None
        if entry == "probe_rlimit":  # the harness's own checks: the limit applies here,
            value = bytearray(2 << 30)
        elif entry == "probe_crash":  # and a crash, a hang and a written file are all seen
            os.kill(os.getpid(), signal.SIGSEGV)
        elif entry == "probe_hang":
            time.sleep(3600)
        elif entry == "probe_write":
            Path("written", "probe.txt").write_text("probe")
        else:
            import brinery

            if entry in ("load", "load_max_bytes"):
                value = brinery.load(path, **kwargs)
            elif entry == "untrusted_types":
                value = brinery.untrusted_types(path, **kwargs)
            else:
                raise SystemExit(f"unknown entry point {entry!r}")
    except Exception as error:  # BaseException (SystemExit, KeyboardInterrupt) is not caught
        is_brinery = False
        if "brinery" in sys.modules:
            is_brinery = isinstance(error, sys.modules["brinery"].BrineryError)
        try:
            message = str(error)[:300]
        except Exception as unprintable:
            message = f"<str() failed: {type(unprintable).__name__}>"
        return {
            "outcome": "error",
            "error_class": type(error).__name__,
            "error_module": type(error).__module__,
            "brinery_error": is_brinery,
            "message": message,
            "causes": _causes(error),
            "seconds": time.monotonic() - start,
            "rlimit_as": limit,
        }
    kind, size = _describe(value)
    return {
        "outcome": "ok",
        "type": kind,
        "size": size,
        "names": _names(value),
        "seconds": time.monotonic() - start,
        "rlimit_as": limit,
    }


def main(argv: list[str]) -> int:
    exec(_PEAK_RECORDER)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    entry, path, kwargs = argv[1], argv[2], json.loads(argv[3])
    report = _child(entry, path, kwargs)
    sys.stdout.write(RESULT_MARKER + json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
