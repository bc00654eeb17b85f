"""``brinery info``: what a file holds, without loading it; clear exit codes on bad input."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

JOBLIB_FIXTURES = Path(__file__).parents[1] / "fixtures" / "joblib"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


MODEL = {
    "weights": np.zeros((300, 300)),
    "bias": np.arange(5, dtype=">i4"),
    "names": collections.OrderedDict(a=1),
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl.gz"
    brinery.dump(MODEL, path)
    return path


def test_info_describes_a_file(model: Path, dumps: Any) -> None:
    done = _run("info", str(model))
    assert done.returncode == 0, done.stderr
    size = model.stat().st_size
    stream = len(dumps(MODEL, compress=False, checksums=False))  # what gzip holds
    assert done.stdout.splitlines() == [
        f"{model}: brinery 1.1, compressor gzip, {size:,} bytes",
        f"  stream: {stream:,} bytes uncompressed ({stream / size:.2f}x), checked by the codec's "
        "checks",
        "  arrays: 2, 720,020 bytes",
        "    float64 (<f8)            (300, 300)           C          720,000 bytes  record",
        "    int32 (>i4)              (5,)                 C               20 bytes  in the pickle",
        "  imports beyond plain data (trusted=[...] to load them safely): "
        "collections.OrderedDict",
    ]


def test_info_as_json(model: Path) -> None:
    done = _run("info", "--json", str(model), str(JOBLIB_FIXTURES / "joblib_1.2.0_0.pkl"))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["format"] == "brinery 1.1"
    assert first["compressor"] == "gzip"
    assert first["checksums"] is False
    assert [array["shape"] for array in first["arrays"]] == [[300, 300], [5]]
    assert first["imports"] == ["collections.OrderedDict"]
    assert second["format"] == "joblib file (or plain pickle)"
    assert second["compressor"] == "none"
    # the object array travels as a pickle of its own: its elements are not counted
    assert [array["dtype"] for array in second["arrays"]] == [
        "<f8", ">i4", "|O", "<i8", "<f8", "<f8"
    ]


def test_info_on_bad_files(model: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.pkl"
    brinery.dump([np.arange(10_000)], damaged)
    data = bytearray(damaged.read_bytes())
    data[200] ^= 1
    damaged.write_bytes(bytes(data))
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    done = _run("info", str(model), str(tmp_path / "missing.pkl"), str(damaged), str(text))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{model}: brinery 1.1")
    errors = done.stderr.splitlines()
    assert errors[0] == f"brinery info: {tmp_path / 'missing.pkl'}: No such file or directory"
    assert errors[1].startswith(f"brinery info: {damaged}: the record at byte ")
    assert "checksum does not match" in errors[1]
    assert errors[2].startswith(f"brinery info: {text}: the data is not a brinery stream")


def test_usage_errors_exit_with_2() -> None:
    assert _run("info").returncode == 2
    assert _run("nonsense").returncode == 2
