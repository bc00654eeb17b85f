"""The example plugin of docs/writing-a-plugin.md, installed by ``nox -s docs``, works."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

brinery_example = pytest.importorskip("brinery_example", reason="examples/brinery-example")

VALUE = {"a": np.arange(300_000, dtype=np.float64), "text": "example"}


def test_it_is_found_through_its_entry_point() -> None:
    compressor = brinery.compressors()["rawdeflate"]
    assert type(compressor) is brinery_example.RawDeflateCompressor
    listing = subprocess.run(
        [sys.executable, "-m", "brinery", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    row = next(line.split() for line in listing.splitlines() if "brinery-example" in line)
    assert row == ["rawdeflate", "brinery-example", "0.1.0", "register_compressors",
                   "rawdeflate", "(.rdf)"]  # fmt: skip


@pytest.mark.parametrize("threads", [1, 2])
def test_round_trips_by_extension_and_name(threads: int, tmp_path: Path, assert_same: Any) -> None:
    path = tmp_path / "model.rdf"
    brinery.dump(VALUE, path, threads=threads)
    data = path.read_bytes()
    assert data.startswith(b"RDF1")
    assert data.count(b"RDF1") >= 1
    assert_same(brinery.load(path, threads=threads), VALUE)
    buffer = io.BytesIO()
    brinery.dump(VALUE, buffer, compress=("rawdeflate", 1))
    buffer.seek(0)
    assert_same(brinery.load(buffer), VALUE)


def test_brinery_checksums_its_records_and_reports_damage(tmp_path: Path) -> None:
    """Raw deflate has no check of its own: brinery's checksums catch what inflate lets by."""
    path = tmp_path / "model.rdf"
    brinery.dump(VALUE, path)
    assert brinery.api.inspect_file(path).checksums is True
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError):
        brinery.load(path)
