"""``progress=`` on ``dump`` and ``load``: how many bytes went to or came from the file.

Counting happens at the file: bytes written by ``dump``, bytes of the file read by ``load``.
The total is what can be known before the end: for ``load``, the file's size; for ``dump``, the
compressed size is unknown until the end, but an uncompressed file is at least as large as
the arrays' memory it holds, found by a quick walk of the object (:func:`arrays_bytes`).  Once
the count passes a total, the total was only an estimate, and is dropped.

The report goes to the caller's ``callable(done, total)``, or to a bar on standard error: on a
terminal, tqdm's if it is installed, else one line rewritten in place; elsewhere (a log, a
pipe) plain lines, every few seconds and at the end, never ``\\r`` or terminal escape codes.
"""

from __future__ import annotations

import importlib
import sys
import time
import types
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from .errors import InvalidArgumentError

Report = Callable[[int, "int | None"], None]

#: A bar on a terminal is redrawn at most this often.
TERMINAL_SECONDS = 0.1
#: Elsewhere, a line at most this often (and one at the end).
LOG_SECONDS = 5.0
#: :func:`arrays_bytes` looks at no more objects than this (an estimate must stay cheap).
WALK_LIMIT = 100_000


def reporter(progress: object, total: int | None, description: str) -> Reporter | None:
    """What ``progress=`` asks for: ``False``/``None`` nothing, ``True`` a bar, a callable."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return Reporter(bar(total, description), total)
    if callable(progress):
        return Reporter(progress, total)
    raise InvalidArgumentError(
        f"progress must be True, False or a callable(done, total), not {progress!r}"
    )


class Reporter:
    """Adds up bytes and passes the running total on, with the total while it holds."""

    def __init__(self, report: Any, total: int | None) -> None:
        self._report = report
        self._total = total
        self._done = 0

    def expect(self, total: int | None) -> None:
        """A total learnt after the start (an estimate: dropped if the count passes it)."""
        self._total = total

    def add(self, count: int) -> None:
        self._done += count
        if self._total is not None and self._done > self._total:
            self._total = None
        self._report(self._done, self._total)

    def close(self) -> None:
        close = getattr(self._report, "close", None)
        if close is not None:
            close()


def arrays_bytes(value: Any) -> int | None:
    """The memory of the numpy arrays in ``value``, reached through dicts, lists, tuples, sets
    and objects' attributes (each array once; object arrays left out): what an uncompressed
    dump writes at least.  ``None`` when none is found."""
    seen: set[int] = set()
    pending = [value]
    total = found = 0
    while pending and len(seen) < WALK_LIMIT:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            if not item.dtype.hasobject:
                total += item.nbytes
                found += 1
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif not isinstance(item, (type, types.ModuleType)):
            attributes = getattr(item, "__dict__", None)
            if type(attributes) is dict:
                pending.extend(attributes.values())
    return total if found else None


def bar(total: int | None, description: str) -> Any:
    """A ``callable(done, total)`` with ``close()`` drawing on standard error: tqdm's bar or
    :class:`_Line` on a terminal, :class:`_Lines` elsewhere."""
    stream = sys.stderr
    if not is_terminal(stream):
        return _Lines(description, stream)
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        return _Line(description, stream)
    drawn = tqdm(total=total, unit="B", unit_scale=True, desc=description, leave=False)

    def update(done: int, total: int | None) -> None:
        if total != drawn.total:
            drawn.total = total
        drawn.update(done - drawn.n)

    update.close = drawn.close  # type: ignore[attr-defined]
    return update


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or unusual stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _describe(description: str, done: int, total: int | None) -> str:
    share = f" {100 * done / total:3.0f}%" if total else ""
    return f"{description}:{share} {done / 1e6:,.1f} MB"


def _now() -> float:
    """The clock the bars read (tests replace it)."""
    return time.monotonic()


class _Line:
    """On a terminal without tqdm: one line, rewritten in place at most ten times a second."""

    def __init__(self, description: str, stream: TextIO) -> None:
        self._description = description
        self._stream = stream
        self._shown: float | None = None

    def __call__(self, done: int, total: int | None) -> None:
        now = _now()
        if self._shown is not None and now - self._shown < TERMINAL_SECONDS:
            return
        self._shown = now
        self._stream.write(f"\r{_describe(self._description, done, total)}")
        self._stream.flush()

    def close(self) -> None:
        if self._shown is not None:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


class _Lines:
    """Not on a terminal (a log file, a pipe, CI): whole lines, one every :data:`LOG_SECONDS`
    at most and one at the end, so that a log shows the progress without control codes."""

    def __init__(self, description: str, stream: TextIO) -> None:
        self._description = description
        self._stream = stream
        self._started = self._shown = _now()
        self._last: tuple[int, int | None] | None = None

    def __call__(self, done: int, total: int | None) -> None:
        self._last = (done, total)
        now = _now()
        if now - self._shown >= LOG_SECONDS:
            self._shown = now
            self._write(done, total)

    def close(self) -> None:
        if self._last is not None:
            self._write(*self._last, seconds=_now() - self._started)

    def _write(self, done: int, total: int | None, seconds: float | None = None) -> None:
        ending = "" if seconds is None else f" in {seconds:.1f} s"
        self._stream.write(f"{_describe(self._description, done, total)}{ending}\n")
        self._stream.flush()


class CountingWriter:
    """A binary file that reports how many bytes go through ``write``."""

    def __init__(self, file: Any, reporter: Reporter) -> None:
        self._file = file
        self._reporter = reporter

    def write(self, data: Any) -> int:
        written: int | None = self._file.write(data)
        count = memoryview(data).nbytes if written is None else written
        self._reporter.add(count)
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
