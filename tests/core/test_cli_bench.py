"""``brinery bench FILE``: the installed compressors on the file's own data, quickly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brinery
from brinery.cli import speed_text
from brinery.trials import Trial, choices, levels_to_try

HEADER = ["compressor", "level", "size", "ratio", "write", "MB/s", "read", "MB/s"]
VERDICTS = ["smallest file", "fastest", "balanced (size x time)"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", "bench", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "data.pkl.gz"
    brinery.dump({"a": np.repeat(np.arange(20_000, dtype=np.int32), 8), "t": "x" * 100}, path)
    return path


def _table(output: str) -> tuple[list[str], list[list[str]], list[str]]:
    """The lines before the rows, the rows (split), and the lines after them."""
    lines = output.splitlines()
    header = next(number for number, line in enumerate(lines) if line.startswith("compressor "))
    rows = [line.split() for line in lines[header + 1 :] if ":" not in line]
    after = [line for line in lines[header + 1 :] if ":" in line]
    assert lines[header].split() == HEADER
    return lines[:header], rows, after


def _expected(names: list[str], *, every: bool = False) -> list[tuple[str, str]]:
    tried = [("none", "-")]
    for name in names:
        compressor = brinery.compressors()[name]
        tried += [(name, str(level)) for level in levels_to_try(compressor, every=every)]
    return tried


def test_the_quick_compressors_by_default(data_file: Path) -> None:
    """bz2, lzma and xz (a few MB/s) are left out, and said to be."""
    done = _run(str(data_file), "--threads", "2")
    assert done.returncode == 0, done.stderr
    before, rows, after = _table(done.stdout)
    stream = brinery.api.inspect_file(data_file).stream_bytes
    assert before == [f"{data_file}: measured on all of its stream ({stream / 1e6:,.1f} MB)"]
    assert [(row[0], row[1]) for row in rows] == _expected(["gzip", "zlib"])
    assert all(float(row[3]) > 10 for row in rows[1:] if row[1] != "0"), rows
    assert after == [*after[:3], "not tried (slow; --all tries them): bz2, lzma, xz"]
    assert [line.split(":")[0] for line in after[:3]] == VERDICTS


def test_all_tries_the_slow_ones(data_file: Path) -> None:
    done = _run(str(data_file), "--all")
    assert done.returncode == 0, done.stderr
    _, rows, after = _table(done.stdout)
    assert [(row[0], row[1]) for row in rows] == _expected(["bz2", "gzip", "lzma", "xz", "zlib"])
    assert [line.split(":")[0] for line in after] == VERDICTS


def test_named_compressors_every_level_but_the_slow_ones(data_file: Path) -> None:
    """``--compressors`` tries those named, slow codecs included; the top quarter of levels
    stays out without ``--all``."""
    done = _run(str(data_file), "--compressors", "xz,zlib", "--all-levels")
    assert done.returncode == 0, done.stderr
    _, rows, after = _table(done.stdout)
    assert [(row[0], row[1]) for row in rows] == [
        ("none", "-"),
        *(("xz", str(level)) for level in range(7)),
        *(("zlib", str(level)) for level in range(7)),
    ]
    assert after[-1] == "not tried (slow; --all tries them): xz 7-9, zlib 7-9"


def test_a_sample_of_a_larger_file(tmp_path: Path) -> None:
    path = tmp_path / "large.pkl"
    brinery.dump(np.arange(1_000_000, dtype=np.int64), path)  # 8 MB
    done = _run(str(path), "--sample-mb", "1", "--compressors", "zlib")
    assert done.returncode == 0, done.stderr
    before, rows, _ = _table(done.stdout)
    # 8,000,000 bytes and the pickle's in pieces of 62,500 (1 MB / 16): every 8th piece would
    # be 16 pieces, the budget and a little more; every 16th is 8 pieces
    assert before == [
        f"{path}: measured on 0.5 MB sampled evenly from its 8.0 MB stream (--sample-mb 0: all "
        "of it)"
    ]
    assert int(rows[0][2].replace(",", "")) < 600_000  # the uncompressed sample


def test_a_damaged_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pkl"
    brinery.dump(np.arange(50_000), path)
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    done = _run(str(path))
    assert done.returncode == 1
    assert done.stderr.startswith(f"brinery bench: {path}: the record at byte ")


@pytest.mark.parametrize(
    ("plain_bytes", "seconds", "shown"),
    [
        (5_000_000_000, 1.0, "5,000"),
        (50_000_000, 1.0, "50"),
        (10_000_000, 1.0, "10"),
        (9_960_000, 1.0, "10.0"),
        (5_000_000, 2.0, "2.5"),
        (1_000_000, 2.0, "0.50"),
        (1_000_000, 400.0, "0.00"),
    ],
)
def test_slow_speeds_keep_their_decimals(plain_bytes: int, seconds: float, shown: str) -> None:
    """A codec at half a megabyte per second is not shown as 0."""
    assert speed_text(plain_bytes, seconds) == shown


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
