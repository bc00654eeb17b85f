"""``brinery convert`` / ``brinery.api.convert``: recompress without unpickling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.api import convert

VALUE = {
    "big": np.arange(600_000, dtype="<f8").reshape(600, 1000),  # records, several frames
    "fortran": np.asfortranarray(np.ones((70, 90), dtype=">i2")),
    "shared": [np.arange(10)] * 2,
    "text": "converted " * 500,
}
CHAIN = ["gzip", "xz", False, "bz2", "zlib", "lzma", False]


def test_a_chain_of_conversions_keeps_the_object(tmp_path: Path, assert_same: Any) -> None:
    source = tmp_path / "start.pkl"
    brinery.dump(VALUE, source)
    for step, compress in enumerate(CHAIN):
        target = tmp_path / f"step-{step}.bin"
        convert(source, target, compress, threads=2)
        loaded = brinery.load(target)
        assert_same(loaded, VALUE)
        assert loaded["shared"][0] is loaded["shared"][1]
        source = target


def test_the_result_is_what_dump_writes_with_the_same_settings(tmp_path: Path) -> None:
    """Records are copied as they are: converting gives the dump's bytes (same codec, level,
    checksums)."""
    source = tmp_path / "model.pkl.gz"
    brinery.dump(VALUE, source)
    for compress, checksums in [("xz", None), (False, None), (False, False), ("zlib", True)]:
        converted, dumped = tmp_path / "converted.bin", tmp_path / "dumped.bin"
        convert(source, converted, compress, checksums=checksums)
        brinery.dump(VALUE, dumped, compress=compress, checksums=checksums)
        assert converted.read_bytes() == dumped.read_bytes(), (compress, checksums)


def test_a_damaged_source_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    source, target = tmp_path / "damaged.pkl", tmp_path / "target.pkl.xz"
    brinery.dump(VALUE, source)
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x40
    source.write_bytes(bytes(data))
    target.write_bytes(b"previous content")
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        convert(source, target)
    assert target.read_bytes() == b"previous content"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged.pkl", "target.pkl.xz"]


def test_progress_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "model.pkl"
    brinery.dump(VALUE, source)
    seen: list[tuple[int, int]] = []
    convert(source, tmp_path / "out.pkl.gz", on_progress=lambda *report: seen.append(report))
    size = source.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", "convert", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_command(tmp_path: Path, assert_same: Any) -> None:
    source = tmp_path / "model.pkl.gz"
    brinery.dump(VALUE, source)
    done = _cli(str(source), str(tmp_path / "model.pkl.xz"), "--compress", "xz:1", "--threads", "2")
    assert (done.returncode, done.stderr) == (0, "")  # no progress off a terminal
    assert done.stdout.startswith(f"{source} -> {tmp_path / 'model.pkl.xz'}: ")  # test_cli_convert
    assert_same(brinery.load(tmp_path / "model.pkl.xz"), VALUE)
    done = _cli(str(source), str(tmp_path / "plain.bin"), "--compress", "none", "--no-checksums")
    assert done.returncode == 0, done.stderr
    assert brinery.api.inspect_file(tmp_path / "plain.bin").checksums is False


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.pkl", "out.pkl"], "missing.pkl: No such file or directory"),
        # (a bad --compress is a usage error: test_cli_usage.py)
        (["joblib.pkl", "out.pkl"], "a joblib file (or a plain pickle), not a brinery stream"),
    ],
)
def test_the_command_on_bad_input(arguments: list[str], message: str, tmp_path: Path) -> None:
    brinery.dump(VALUE, tmp_path / "model.pkl.gz")
    (tmp_path / "joblib.pkl").write_bytes(b"\x80\x04N.")
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "convert", *arguments],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"brinery convert: {arguments[0]}: ")
    assert message in done.stderr
    assert not (tmp_path / "out.pkl").exists()
