"""``brinery.open`` on zstd and lz4 files: the seek table finds the index, and an entry or a
slice decompresses only the frames that hold it (docs/format.md, sections 3 and 5.5)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.testing import assert_same

pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")
CODECS = ["zstd", pytest.param("lz4", marks=pytest.mark.skipif(
    pytest.importorskip("importlib").util.find_spec("brinery_lz4") is None,
    reason="brinery-lz4 is not installed",
))]  # fmt: skip


def _blocks() -> dict[str, Any]:
    """24 MB in 12 entries of 2 MB (frames are 4 MiB), a float one shuffled, a delta one."""
    value: dict[str, Any] = {
        f"block{i}": np.full((2000, 125), i, dtype=np.float64) for i in range(10)
    }
    value["noise"] = np.random.default_rng(3).normal(size=(4000, 500))
    value["image"] = np.tile(np.arange(256, dtype=np.uint8), (3000, 8))
    value["meta"] = {"names": ["x", "y"], "rows": 4000}
    return value


def _dumped(value: Any, compress: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    brinery.dump(value, buffer, compress=compress, index=True, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("compress", CODECS)
def test_entries_and_slices_read_only_their_frames(compress: str) -> None:
    value = _blocks()
    data = _dumped(value, compress)
    with brinery.open(io.BytesIO(data)) as opened:
        assert opened.index is not None
        assert opened.keys() == list(value)
        frames = opened._access.frames_read  # type: ignore[union-attr]
        assert frames <= 2  # the last frame (end record and index) and the seek table's
        assert_same(opened["block6"], value["block6"])
        # Its array's frame, the frames holding its pickle records, and the first entry's
        # pickle (where the rebuild function it calls was first named): not the others.
        assert opened._access.frames_read - frames <= 5  # type: ignore[union-attr]
        assert len(opened._access._table) > 25  # type: ignore[union-attr]
        before = opened._access.frames_read  # type: ignore[union-attr]
        noise = opened.array('["noise"]')
        np.testing.assert_array_equal(noise[1500:1503], value["noise"][1500:1503])
        assert opened._access.frames_read - before <= 3  # type: ignore[union-attr]
        np.testing.assert_array_equal(opened.array('["image"]')[2999], value["image"][2999])
        np.testing.assert_array_equal(np.asarray(noise), value["noise"])
        assert_same(opened["meta"], value["meta"])
        assert_same(opened.load(), brinery.load(io.BytesIO(data)))


@pytest.mark.parametrize("compress", CODECS)
def test_a_damaged_seek_table_is_refused(compress: str) -> None:
    data = bytearray(_dumped({"a": np.arange(10.0)}, compress))
    data[-12] ^= 0x01  # the last entry's decompressed size
    with pytest.raises(brinery.CorruptFileError):
        brinery.open(io.BytesIO(bytes(data)))
