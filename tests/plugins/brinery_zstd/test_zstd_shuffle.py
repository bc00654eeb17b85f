"""Shuffled array records with the zstd and lz4 plugins (docs/format.md, section 5.4): the
filters' point is zstd's ratio on floats, and these codecs have no brinery checksums, so their
frames are shuffled on the compression threads."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import ARRAY_RECORD, SHUFFLED_RECORDS_FLAG, STREAM_HEADER
from brinery.testing import assert_same, record_headers

pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")


def _dump(value: Any, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    brinery.dump(value, buffer, **kwargs)
    return buffer.getvalue()


def _normal(count: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=count)


def test_zstd_compresses_shuffled_normal_floats_smaller() -> None:
    """Byte shuffle: at least 6% smaller than none on standard-normal float64 (deterministic:
    1 - 0.882 / 0.960 is 8% at 256 MB); bit shuffle too.  Sizes, not times."""
    value = {"normal": _normal((9 << 20) // 8 + 5)}  # (two whole blocks and a part)
    modes: list[bool | str] = [False, "byte", "bit"]
    sizes = {mode: len(_dump(value, compress="zstd", shuffle=mode)) for mode in modes}
    assert sizes["byte"] < 0.94 * sizes[False], sizes
    assert sizes["bit"] < 0.94 * sizes[False], sizes
    assert len(_dump(value, compress="zstd")) == sizes["byte"]  # "auto"


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
@pytest.mark.parametrize("mode", ["byte", "bit"])
def test_round_trips_on_any_number_of_threads(codec: str, mode: str) -> None:
    if codec not in brinery.compressors():
        pytest.skip(f"the {codec} plugin is not installed")
    value = {
        "normal": _normal((5 << 20) // 8 + 3).astype(">f8"),
        "strided": np.arange(3_000_000, dtype="<i4").reshape(1000, 3000)[:, ::2],
        "complex": (_normal(100_000) + 1j).astype("<c8"),
    }
    outputs = set()
    for threads in (1, 2):
        for checksums in (None, True):
            data = _dump(value, compress=codec, shuffle=mode, threads=threads, checksums=checksums)
            for load_threads in (1, 2):
                assert_same(brinery.load(io.BytesIO(data), threads=load_threads), value)
            outputs.add((checksums, data))
    assert len(outputs) == 2  # threads change nothing


def test_zstd_tool_decompresses_to_a_shuffled_stream(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("the zstd command-line tool is not installed")
    value = {"normal": _normal((2 << 20) // 8), "label": "x"}
    path = tmp_path / "normal.zst"
    brinery.dump(value, path, threads=2)
    done = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True)
    stream = done.stdout
    assert STREAM_HEADER.unpack_from(stream, 0)[3] & SHUFFLED_RECORDS_FLAG
    # (indexed, the default: the dict's keys come first, then each value's records)
    arrays = [header for header in record_headers(stream)[1] if header.kind == ARRAY_RECORD]
    assert [(a.flags, a.element_size, a.size) for a in arrays] == [(0x0002, 8, 2 << 20)]
    assert_same(brinery.load(io.BytesIO(stream)), value)
