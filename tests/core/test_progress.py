"""``progress=`` on ``dump`` and ``load``."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

VALUE = {"a": np.arange(2_000_000, dtype=np.float64), "s": "progress"}


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_a_callable_hears_every_byte(compress: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    written: list[tuple[int, int | None]] = []
    brinery.dump(VALUE, path, compress=compress, progress=lambda *done: written.append(done))
    size = path.stat().st_size
    assert written[-1] == (size, None)
    assert [done for done, _ in written] == sorted(done for done, _ in written)
    read: list[tuple[int, int | None]] = []
    brinery.load(path, progress=lambda *done: read.append(done))
    assert read[-1] == (size, size)
    assert len(read) > 1


def test_file_objects_report_without_a_total(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    written: list[tuple[int, int | None]] = []
    brinery.dump(VALUE, buffer, progress=lambda *done: written.append(done))
    assert written[-1] == (len(buffer.getvalue()), None)
    buffer.seek(0)
    read: list[tuple[int, int | None]] = []
    brinery.load(buffer, progress=lambda *done: read.append(done))
    assert read[-1] == (len(buffer.getvalue()), None)


def test_without_tqdm_a_line_on_standard_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails
    brinery.dump(VALUE, tmp_path / "model.pkl", progress=True)
    brinery.load(tmp_path / "model.pkl", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("\rbrinery dump: ")
    assert "\rbrinery load:   0% " in captured.err
    assert captured.err.endswith("\r\x1b[K")


def test_with_tqdm_a_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[Any] = []

    class FakeBar:
        def __init__(self, **options: Any) -> None:
            self.options, self.n, self.closed = options, 0, False
            bars.append(self)

        def update(self, count: int) -> None:
            self.n += count

        def close(self) -> None:
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    path = tmp_path / "model.pkl.gz"
    brinery.dump(VALUE, path, progress=True)
    brinery.load(path, progress=True)
    size = path.stat().st_size
    assert [(bar.options["desc"], bar.options["total"], bar.n, bar.closed) for bar in bars] == [
        ("brinery dump", None, size, True),
        ("brinery load", size, size, True),
    ]


@pytest.mark.parametrize("progress", ["yes", 1, object()])
def test_progress_must_be_a_flag_or_a_callable(progress: Any, tmp_path: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="progress must be True, False or a"):
        brinery.dump(VALUE, tmp_path / "x.pkl", progress=progress)
