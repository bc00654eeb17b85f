"""``progress=`` on ``dump`` and ``load``: the counts, the totals, and what the bars write where."""

from __future__ import annotations

import io
import itertools
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
import brinery.progress
from brinery.progress import arrays_bytes

VALUE = {"a": np.arange(2_000_000, dtype=np.float64), "s": "progress"}
ARRAY_BYTES = 16_000_000


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time stands still: a bar draws only what it draws at once and at the end."""
    monkeypatch.setattr(brinery.progress, "_now", lambda: 100.0)


@pytest.fixture
def fast_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reading of the clock is 6 seconds after the last: a line at every report."""
    ticks = itertools.count(start=0, step=6)
    monkeypatch.setattr(brinery.progress, "_now", lambda: float(next(ticks)))


@pytest.fixture
def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails


def test_an_uncompressed_dump_reports_the_arrays_bytes_as_its_total(tmp_path: Path) -> None:
    """The file holds the arrays' memory at least: the total, until the count passes it (the
    pickle and the records' headers come on top), then no total."""
    path = tmp_path / "model.bin"
    written: list[tuple[int, int | None]] = []
    brinery.dump(VALUE, path, compress=False, progress=lambda *done: written.append(done))
    size = path.stat().st_size
    assert size > ARRAY_BYTES
    assert written[0] == (16, ARRAY_BYTES)  # the stream header
    assert [done for done, _ in written] == sorted(done for done, _ in written)
    assert all(total == ARRAY_BYTES for done, total in written if done <= ARRAY_BYTES)
    assert all(total is None for done, total in written if done > ARRAY_BYTES)
    assert written[-1] == (size, None)


def test_a_compressed_dump_has_no_total(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    written: list[tuple[int, int | None]] = []
    brinery.dump(VALUE, path, compress="gzip", progress=lambda *done: written.append(done))
    assert written[-1] == (path.stat().st_size, None)
    assert {total for _, total in written} == {None}


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_a_load_reports_the_file_size_as_its_total(compress: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    brinery.dump(VALUE, path, compress=compress)
    size = path.stat().st_size
    read: list[tuple[int, int | None]] = []
    brinery.load(path, progress=lambda *done: read.append(done))
    assert read[-1] == (size, size)
    assert len(read) > 1
    assert {total for _, total in read} == {size}


def test_file_objects_report_without_a_total() -> None:
    buffer = io.BytesIO()
    written: list[tuple[int, int | None]] = []
    brinery.dump(VALUE, buffer, compress="zlib", progress=lambda *done: written.append(done))
    assert written[-1] == (len(buffer.getvalue()), None)
    buffer.seek(0)
    read: list[tuple[int, int | None]] = []
    brinery.load(buffer, progress=lambda *done: read.append(done))
    assert read[-1] == (len(buffer.getvalue()), None)


def test_the_arrays_found_in_an_object() -> None:
    class Model:
        def __init__(self) -> None:
            self.coef_ = np.zeros((10, 10))  # 800 bytes
            self.classes_ = ["a", "b"]

    shared = np.zeros(100, dtype=np.int8)  # 100 bytes, counted once
    value = {
        "model": Model(),
        "nested": [(shared, [shared]), {"x": shared[::2]}],  # a view: 50 bytes of its own
        "objects": np.array([np.zeros(1000)], dtype=object),  # left out
        "type": np.ndarray,
        "module": np,
    }
    assert arrays_bytes(value) == 800 + 100 + 50
    assert arrays_bytes({"no": "arrays"}) is None
    assert arrays_bytes(np.zeros(3, dtype=np.float32)) == 12


def test_off_a_terminal_whole_lines_without_control_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], frozen_clock: None
) -> None:
    """Standard error is not a terminal (here, pytest's capture; a log, a pipe): no ``\\r``, no
    escape code, and no tqdm even when it is installed; a line at the end."""
    bars: list[Any] = []
    fake = types.SimpleNamespace(tqdm=lambda **options: bars.append(options))
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "tqdm", fake)
        brinery.dump(VALUE, tmp_path / "model.pkl", progress=True)
        brinery.load(tmp_path / "model.pkl", progress=True)
    size = (tmp_path / "model.pkl").stat().st_size
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"brinery dump: {size / 1e6:,.1f} MB in 0.0 s\n"
        f"brinery load: 100% {size / 1e6:,.1f} MB in 0.0 s\n"
    )
    assert bars == []


def test_off_a_terminal_a_line_every_few_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fast_clock: None
) -> None:
    brinery.load(_dumped(tmp_path), progress=True)
    lines = capsys.readouterr().err.split("\n")
    assert lines[-1] == ""
    assert len(lines) > 3
    assert all(re.fullmatch(r"brinery load: +\d+% [\d.]+ MB( in [\d.]+ s)?", line)
               for line in lines[:-1]), lines  # fmt: skip
    assert lines[-2].startswith("brinery load: 100% ")


def test_on_a_terminal_without_tqdm_one_line_redrawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_tqdm: None, fast_clock: None
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    path = _dumped(tmp_path)
    brinery.load(path, progress=True)
    drawn = terminal.getvalue()
    assert "\n" not in drawn
    assert drawn.startswith("\rbrinery load:   0% ")
    assert f"\rbrinery load: 100% {path.stat().st_size / 1e6:,.1f} MB" in drawn
    assert drawn.endswith("\r\x1b[K")


def test_on_a_terminal_with_tqdm_a_bar_with_the_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[Any] = []

    class FakeBar:
        def __init__(self, **options: Any) -> None:
            self.options, self.total, self.n, self.closed = options, options["total"], 0, False
            self.totals: list[int | None] = [self.total]
            bars.append(self)

        def update(self, count: int) -> None:
            self.n += count
            if self.total != self.totals[-1]:
                self.totals.append(self.total)

        def close(self) -> None:
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    monkeypatch.setattr(sys, "stderr", _Terminal())
    plain, compressed = tmp_path / "model.pkl", tmp_path / "model.pkl.gz"
    for path in (plain, compressed):
        brinery.dump(VALUE, path, progress=True)
        brinery.load(path, progress=True)
    plain_size, compressed_size = plain.stat().st_size, compressed.stat().st_size
    assert [
        (bar.options["desc"], bar.totals, bar.n, bar.closed, bar.options["leave"]) for bar in bars
    ] == [
        ("brinery dump", [None, ARRAY_BYTES, None], plain_size, True, False),
        ("brinery load", [plain_size], plain_size, True, False),
        ("brinery dump", [None], compressed_size, True, False),
        ("brinery load", [compressed_size], compressed_size, True, False),
    ]


@pytest.mark.parametrize("progress", ["yes", 1, object()])
def test_progress_must_be_a_flag_or_a_callable(progress: Any, tmp_path: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="progress must be True, False or a"):
        brinery.dump(VALUE, tmp_path / "x.pkl", progress=progress)
    assert list(tmp_path.iterdir()) == []


def _dumped(folder: Path) -> Path:
    path = folder / "model.pkl"
    brinery.dump(VALUE, path)
    return path
