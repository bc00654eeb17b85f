"""``brinery bench FILE``: every installed compressor on the file's own data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import brinery
from brinery.trials import Trial, choices, levels_to_try


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", "bench", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_every_builtin_compressor_is_tried(tmp_path: Path) -> None:
    path = tmp_path / "data.pkl.gz"
    brinery.dump({"a": np.repeat(np.arange(20_000, dtype=np.int32), 8), "t": "x" * 100}, path)
    done = _run(str(path), "--threads", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["compressor", "level", "size", "ratio", "write", "MB/s", "read",
                                "MB/s"]  # fmt: skip
    rows = [line.split() for line in lines[1:] if ":" not in line]
    tried = [(row[0], row[1]) for row in rows]
    expected = [("none", "-")]
    for name in ("bz2", "gzip", "lzma", "xz", "zlib"):
        compressor = brinery.compressors()[name]
        expected += [(name, str(level)) for level in levels_to_try(compressor, every=False)]
    assert tried == expected
    assert all(float(row[3]) > 10 for row in rows[1:] if row[1] not in ("0",)), rows
    verdicts = [line.split(":")[0] for line in lines if ":" in line]
    assert verdicts == ["smallest file", "fastest", "balanced (size x time)"]


def test_a_damaged_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pkl"
    brinery.dump(np.arange(50_000), path)
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    done = _run(str(path))
    assert done.returncode == 1
    assert done.stderr.startswith(f"brinery bench: {path}: the record at byte ")


def test_choices_skip_what_does_not_compress() -> None:
    trials = [
        Trial("none", None, 1000, 0.001, 0.001),
        Trial("zlib", 0, 1005, 0.001, 0.001),  # stored: not compressing
        Trial("fast", 1, 600, 0.002, 0.002),
        Trial("small", 9, 100, 1.0, 0.1),
        Trial("middle", 3, 300, 0.004, 0.002),
    ]
    assert [(label, trial.compressor) for label, trial in choices(trials)] == [
        ("smallest file", "small"),
        ("fastest", "fast"),
        ("balanced (size x time)", "middle"),
    ]
