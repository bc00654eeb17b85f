"""The ``brinery`` command's usage: ``--version``, and exit status 2 for every usage error of
every command (docs/cli.md), with the message saying what is wrong."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brinery

CORE = Path(__file__).parents[2] / "core"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def _declared_version() -> str:
    """core/pyproject.toml's version: the one place it is written."""
    found = re.search(r'^version = "([^"]+)"$', (CORE / "pyproject.toml").read_text(), re.M)
    assert found is not None
    return found.group(1)


def test_the_version_comes_from_the_installed_distribution() -> None:
    assert brinery.__version__ == importlib.metadata.version("brinery") == _declared_version()


def test_the_version_option() -> None:
    done = _run("--version")
    expected = f"brinery {_declared_version()}\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    brinery.dump({"a": np.arange(1000)}, tmp_path / "model.pkl.gz")
    return tmp_path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "the following arguments are required: command"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        (["plugins", "extra"], "unrecognized arguments: extra"),
        (["info"], "the following arguments are required: FILE"),
        (["info", "--yaml", "model.pkl.gz"], "unrecognized arguments: --yaml"),
        (["convert", "model.pkl.gz"], "the following arguments are required: OUT"),
        (["convert", "model.pkl.gz", "out", "--threads", "0"], "'0' is not an int of at least 1"),
        (["convert", "model.pkl.gz", "out", "--threads", "x"], "'x' is not an int of at least 1"),
        (
            ["convert", "model.pkl.gz", "out.pkl", "--compress", "nope"],
            "unknown compressor 'nope'; available: bz2, gzip, lzma, xz, zlib",
        ),
        (
            ["convert", "model.pkl.gz", "out.pkl", "--compress", "gzp:3"],
            "unknown compressor 'gzp' (did you mean 'gzip'?); available: bz2, gzip, lzma, xz, zlib",
        ),
        (
            ["convert", "model.pkl.gz", "out.pkl", "--compress", "xz:99"],
            "compression level 99 is not valid for 'xz': use an int from 0 to 9",
        ),
        (
            ["convert", "model.pkl.gz", "out.pkl.zst"],
            "the file name 'out.pkl.zst' asks for the 'zstd' compressor, and the brinery-zstd "
            "plugin that brings it is not installed: pip install brinery-zstd (or, from a clone "
            "of brinery's repository: pip install ./plugins/brinery-zstd)",
        ),
        (["bench"], "the following arguments are required: FILE"),
        (["bench", "model.pkl.gz", "--threads", "-2"], "'-2' is not an int of at least 1"),
        (
            ["bench", "model.pkl.gz", "--compressors", "zlib,xzz"],
            "unknown compressor 'xzz' (did you mean 'xz'?); available: bz2, gzip, lzma, xz, zlib",
        ),
        (
            ["bench", "model.pkl.gz", "--sample-mb", "-1"],
            "--sample-mb must be a number of MB of at least 0, not -1.0",
        ),
        (["bench", "model.pkl.gz", "--sample-mb", "many"], "invalid float value: 'many'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_usage_errors_exit_with_2(arguments: list[str], message: str, files: Path) -> None:
    done = _run(*arguments, cwd=files)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("usage: brinery")
    last = done.stderr.splitlines()[-1]
    assert re.match(r"brinery( \w+)?: error: ", last), last
    assert message in last
    assert sorted(path.name for path in files.iterdir()) == ["model.pkl.gz"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["info", "missing.pkl"], "brinery info: missing.pkl: No such file or directory"),
        (["convert", "missing.pkl", "out.pkl"], "brinery convert: missing.pkl: No such file"),
        (["bench", "missing.pkl"], "brinery bench: missing.pkl: No such file or directory"),
    ],
)
def test_a_file_that_cannot_be_read_exits_with_1(
    arguments: list[str], message: str, files: Path
) -> None:
    done = _run(*arguments, cwd=files)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(message)
