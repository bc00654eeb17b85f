"""``brinery bench``'s sample: pieces of the stream spread evenly over it, within a budget."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import brinery
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    CHECKSUMS_FLAG,
    END_RECORD,
    INDEX_RECORD,
    INDEXED_FLAG,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    UNINDEXED_MINOR,
    padding_before_payload,
)
from brinery.format.writer import PICKLE_RECORD_BYTES
from brinery.sampling import MIN_PIECES, Sampler, sample_file

RNG = np.random.default_rng(7)
VALUE = {
    "counts": np.arange(300_000, dtype=np.int64),  # 2.4 MB, several pieces
    "noise": RNG.random(250_000).astype(np.float32),  # 1 MB
    "names": [f"name-{index}" for index in range(3000)],  # pickle bytes
    "small": np.arange(10, dtype=np.int16),  # inside the pickle
}


def _gathered(records: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``(kind, payload)`` records as the sample's writer writes them: the pickle bytes of
    records in a row gathered into records of at most ``PICKLE_RECORD_BYTES`` (a larger one
    alone), as ``StreamWriter.write`` gathers pickle output; the others as they are."""
    out: list[tuple[str, bytes]] = []
    held: list[bytes] = []

    def flush() -> None:
        if held:
            out.append(("P", b"".join(held)))
            held.clear()

    for kind, payload in records:
        if kind != "P":
            flush()
            out.append((kind, payload))
            continue
        if sum(map(len, held)) + len(payload) > PICKLE_RECORD_BYTES:
            flush()
        if len(payload) >= PICKLE_RECORD_BYTES:
            out.append((kind, payload))
        else:
            held.append(payload)
    flush()
    return out


def _sampled(stream: bytes) -> bytes:
    """The whole sample of the uncompressed, checksummed ``stream`` (:mod:`brinery.sampling`:
    "never an indexed one"): its records but the index record, in order, the pickle bytes
    gathered again (:func:`_gathered`), an empty end record, and a 1.3 header without the
    indexed flag, the checksums redone.  An unindexed stream's is itself."""
    magic, major, _, flags, reserved = STREAM_HEADER.unpack_from(stream)
    assert flags & CHECKSUMS_FLAG
    header = STREAM_HEADER.pack(magic, major, UNINDEXED_MINOR, flags & ~INDEXED_FLAG, reserved)
    records, offset = [], STREAM_HEADER.size
    while True:
        kind, padding, record_flags, element_size, size = RECORD_HEADER.unpack_from(stream, offset)
        start = offset + RECORD_HEADER.size + padding
        if kind == END_RECORD:
            break
        if kind != INDEX_RECORD:
            assert (record_flags, element_size) == (0, 0)  # (unfiltered: the sample's are too)
            records.append((chr(kind), stream[start : start + size]))
        offset = start + size + RECORD_DIGEST.size
    out = bytearray(header)
    for kind, payload in [*_gathered(records), ("E", b"")]:
        code = ord(kind)
        padding = padding_before_payload(len(out)) if code in (ARRAY_RECORD, BUFFER_RECORD) else 0
        record = RECORD_HEADER.pack(code, padding, 0, 0, len(payload)) + bytes(padding) + payload
        covered = header + record if code == END_RECORD else record
        out += record + RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(covered))
    return bytes(out)


def _payloads(data: bytes, records: Callable[[bytes], list[Any]]) -> list[tuple[str, bytes]]:
    return [
        (record.kind, data[record.start : record.start + record.size])
        for record in records(data)
        if record.kind not in "EX"  # (the sample leaves the index record out)
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


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("compress", [False, "gzip", "xz"])
@pytest.mark.parametrize("budget", [400_000, 1_000_000, 3_000_000])
def test_the_pieces_kept_are_spread_evenly(
    compress: Any, budget: int, index: bool, tmp_path: Path, records: Any
) -> None:
    path = tmp_path / "model.bin"
    brinery.dump(VALUE, path, compress=compress, index=index)
    plain = io.BytesIO()
    brinery.dump(VALUE, plain, compress=False, index=index)
    payloads = _payloads(plain.getvalue(), records)
    sample = sample_file(path, budget, threads=2)
    piece = budget // MIN_PIECES
    stride, expected = _expected_sample(payloads, piece, budget)
    assert (sample.piece_bytes, sample.stride, sample.whole) == (piece, stride, False)
    assert stride > 1
    assert _payloads(sample.stream, records) == _gathered(expected)
    assert sample.stream_bytes == sum(len(payload) for _, payload in payloads)
    assert sample.sampled_bytes == sum(len(kept) for _, kept in expected)
    assert budget / 2 < sample.sampled_bytes <= budget


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("compress", [False, "zlib"])
@pytest.mark.parametrize("budget", [0, 10_000_000])
def test_a_file_within_the_budget_is_sampled_whole(
    compress: Any, budget: int, index: bool, tmp_path: Path
) -> None:
    """Every record kept as it was: the sample is the stream an uncompressed dump writes (an
    indexed one without its index, which the sample leaves out)."""
    path = tmp_path / "model.bin"
    brinery.dump(VALUE, path, compress=compress, index=index)
    plain = io.BytesIO()
    brinery.dump(VALUE, plain, compress=False, checksums=True, index=index)
    sample = sample_file(path, budget, threads=2)
    assert sample.whole
    if not index:
        assert _sampled(plain.getvalue()) == plain.getvalue()
    assert sample.stream == _sampled(plain.getvalue())
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
