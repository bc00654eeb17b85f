"""``progress=`` on ``dump`` and ``load``: how many bytes went to or came from the file.

Counting happens at the file: compressed bytes written by ``dump`` (the total is unknown until
the end), bytes of the file read by ``load`` (out of the file's size, when it has one).  The
report goes to tqdm when it is installed, else to one line on standard error; or to the
caller's own ``callable(done, total)``.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidArgumentError

Report = Callable[[int, "int | None"], None]


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
    """Adds up bytes and passes the running total on."""

    def __init__(self, report: Any, total: int | None) -> None:
        self._report = report
        self._total = total
        self._done = 0

    def add(self, count: int) -> None:
        self._done += count
        self._report(self._done, self._total)

    def close(self) -> None:
        close = getattr(self._report, "close", None)
        if close is not None:
            close()


def bar(total: int | None, description: str) -> Any:
    """A ``callable(done, total)`` with ``close()``: tqdm's bar, else :class:`_Line`."""
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        return _Line(description)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=description, leave=False)

    def update(done: int, total: int | None) -> None:
        bar.update(done - bar.n)

    update.close = bar.close  # type: ignore[attr-defined]
    return update


class _Line:
    """Without tqdm: one line on standard error, rewritten at most ten times a second."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._shown = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._shown < 0.1:
            return
        self._shown = now
        share = f" {100 * done / total:3.0f}%" if total else ""
        sys.stderr.write(f"\r{self._description}:{share} {done / 1e6:,.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


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
