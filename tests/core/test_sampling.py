"""``brinery bench``'s sample: pieces of the stream spread evenly over it, within a budget."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.sampling import MIN_PIECES, Sampler, sample_file

RNG = np.random.default_rng(7)
VALUE = {
    "counts": np.arange(300_000, dtype=np.int64),  # 2.4 MB, several pieces
    "noise": RNG.random(250_000).astype(np.float32),  # 1 MB
    "names": [f"name-{index}" for index in range(3000)],  # pickle bytes
    "small": np.arange(10, dtype=np.int16),  # inside the pickle
}


def _payloads(data: bytes, records: Callable[[bytes], list[Any]]) -> list[tuple[str, bytes]]:
    return [
        (record.kind, data[record.start : record.start + record.size])
        for record in records(data)
        if record.kind != "E"
    ]


def _expected_sample(
    payloads: list[tuple[str, bytes]], piece: int, budget: int
) -> tuple[int, list[tuple[str, bytes]]]:
    """The oracle: the smallest power-of-two stride whose pieces fit in the budget, and the
    bytes of each record that fall in the kept pieces (records left with none drop out)."""
    stride = 1
    while True:
        sampled, position = [], 0
        for kind, payload in payloads:
            kept = b"".join(
                payload[max(0, start - position) : start - position + piece]
                for start in range(0, position + len(payload), piece * stride)
                if start + piece > position
            )
            if kept:
                sampled.append((kind, kept))
            position += len(payload)
        if sum(len(kept) for _, kept in sampled) <= budget:
            return stride, sampled
        stride *= 2


@pytest.mark.parametrize("compress", [False, "gzip", "xz"])
@pytest.mark.parametrize("budget", [400_000, 1_000_000, 3_000_000])
def test_the_pieces_kept_are_spread_evenly(
    compress: Any, budget: int, tmp_path: Path, records: Any
) -> None:
    path = tmp_path / "model.bin"
    brinery.dump(VALUE, path, compress=compress)
    plain = io.BytesIO()
    brinery.dump(VALUE, plain, compress=False)
    payloads = _payloads(plain.getvalue(), records)
    sample = sample_file(path, budget, threads=2)
    piece = budget // MIN_PIECES
    stride, expected = _expected_sample(payloads, piece, budget)
    assert (sample.piece_bytes, sample.stride, sample.whole) == (piece, stride, False)
    assert stride > 1
    assert _payloads(sample.stream, records) == expected
    assert sample.stream_bytes == sum(len(payload) for _, payload in payloads)
    assert sample.sampled_bytes == sum(len(kept) for _, kept in expected)
    assert budget / 2 < sample.sampled_bytes <= budget


@pytest.mark.parametrize("compress", [False, "zlib"])
@pytest.mark.parametrize("budget", [0, 10_000_000])
def test_a_file_within_the_budget_is_sampled_whole(
    compress: Any, budget: int, tmp_path: Path
) -> None:
    """Every record kept as it was: the sample is the stream an uncompressed dump writes."""
    path = tmp_path / "model.bin"
    brinery.dump(VALUE, path, compress=compress)
    plain = io.BytesIO()
    brinery.dump(VALUE, plain, compress=False, checksums=True)
    sample = sample_file(path, budget, threads=2)
    assert sample.whole
    assert sample.stream == plain.getvalue()
    assert sample.sampled_bytes == sample.stream_bytes


def test_reading_is_reported_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.gz"
    brinery.dump(VALUE, path)
    seen: list[tuple[int, int]] = []
    sample_file(path, 1_000_000, threads=1, on_read=lambda *report: seen.append(report))
    size = path.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_memory_stays_within_the_budget() -> None:
    """However long the stream, what is kept never passes the budget by more than a piece."""
    sampler = Sampler(1 << 20)
    block = bytes(100_000)
    for _ in range(500):  # 50 MB in 500 records
        sampler.start_record(2)
        sampler.add(block)
        assert sampler.kept_bytes <= (1 << 20)
    assert sampler.position == 50_000_000
    assert sampler.stride == 64  # pieces of 64 KiB: 763 of them, 12 kept
    assert sum(len(piece) for _, _, pieces in sampler.parts() for piece in pieces) == (
        sampler.kept_bytes
    )


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pkl"
    brinery.dump(VALUE, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        sample_file(path, 1_000_000, threads=1)
