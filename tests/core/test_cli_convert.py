"""``brinery convert``'s summary line, and errors that name the file they are about."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

VALUE = {"smooth": np.repeat(np.arange(50_000, dtype=np.int64), 4), "name": "convert"}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", "convert", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "target", "options", "how"),
    [
        ("model.pkl", "model.pkl.xz", ["--compress", "xz:1"], "xz level 1"),
        ("model.pkl", "model.pkl.gz", [], "gzip level 3"),
        ("model.pkl.gz", "plain.bin", ["--compress", "none"], "no compression"),
    ],
)
def test_a_summary_line(
    source: str, target: str, options: list[str], how: str, tmp_path: Path, assert_same: Any
) -> None:
    brinery.dump(VALUE, tmp_path / source)
    done = _run(source, target, *options, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    before, after = (tmp_path / source).stat().st_size, (tmp_path / target).stat().st_size
    change = f"{before / after:.2f}x smaller" if after <= before else (
        f"{after / before:.2f}x larger"
    )
    summary = re.fullmatch(
        re.escape(f"{source} -> {target}: {before:,} -> {after:,} bytes ({change}), {how}, ")
        + r"\d+\.\d\d s\n",
        done.stdout,
    )
    assert summary is not None, done.stdout
    assert_same(brinery.load(tmp_path / target), VALUE)


def test_a_missing_output_folder_is_named(tmp_path: Path) -> None:
    brinery.dump(VALUE, tmp_path / "model.pkl")
    done = _run("model.pkl", "missing/model.pkl.gz", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "brinery convert: missing/model.pkl.gz: No such file or directory\n"


def test_a_file_size_limit_names_the_output(tmp_path: Path) -> None:
    """A full disk (here RLIMIT_FSIZE: EFBIG) is about the output, not the input, and not the
    temporary file; the output's previous content stays."""
    rng = np.random.default_rng(0)
    brinery.dump(rng.random(1 << 18), tmp_path / "model.pkl")  # 2 MiB, incompressible
    (tmp_path / "out.pkl").write_bytes(b"previous")
    done = subprocess.run(
        [sys.executable, "-c",
         "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20));"
         "from brinery.cli import main; sys.exit(main(sys.argv[1:]))",
         "convert", "model.pkl", "out.pkl"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "brinery convert: out.pkl: File too large\n"
    assert (tmp_path / "out.pkl").read_bytes() == b"previous"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.pkl", "out.pkl"]
