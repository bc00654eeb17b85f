"""Sizes a file declares are checked before anything is allocated; ``max_bytes`` bounds a load."""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import brinery
from brinery.format.layout import RECORD_DIGEST, RECORD_HEADER

ARRAY = np.arange(1 << 17, dtype="<i8")  # 1 MiB: an array record


def _peak_while(call: Any) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        with pytest.raises(brinery.BrineryError) as caught:
            call()
        return caught.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _with_record_size(data: bytes, start: int, size: int) -> bytes:
    """``data`` with the record header at ``start`` declaring ``size``, its checksum redone (a
    crafted file, not a damaged one: only the size check can stop it)."""
    kind, padding, flags, reserved, old_size = RECORD_HEADER.unpack_from(data, start)
    head = RECORD_HEADER.pack(kind, padding, flags, reserved, size)
    payload_end = start + RECORD_HEADER.size + padding + old_size
    covered = head + data[start + RECORD_HEADER.size : payload_end]
    digest = RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(covered))
    return data[:start] + head + data[start + RECORD_HEADER.size : payload_end] + digest + data[
        payload_end + RECORD_DIGEST.size :
    ]


@pytest.mark.parametrize("size", [(1 << 20) + 4096, 1 << 40, (1 << 63) - 1, (1 << 64) - 1])
@pytest.mark.parametrize("via", ["path", "bytesio"])
def test_a_record_larger_than_the_file_is_refused_before_allocating(
    size: int, via: str, tmp_path: Path, dumps: Any, records: Any
) -> None:
    data = dumps({"a": ARRAY}, compress=False)
    record = next(record for record in records(data) if record.kind == "A")
    header = record.start - 48  # the first record: header at 16, 32 bytes of padding
    crafted = _with_record_size(data, header, size)
    path = tmp_path / "crafted.pkl"
    path.write_bytes(crafted)
    source: Any = path if via == "path" else io.BytesIO(crafted)

    error, peak = _peak_while(lambda: brinery.load(source))

    assert type(error) is brinery.TruncatedFileError
    assert f"the record at byte {header}, which declares {size} bytes where only " in str(error)
    assert "the file is truncated or the record header damaged" in str(error)
    assert peak < 2 << 20, f"{peak} bytes allocated"  # the read-ahead (1 MiB) at most


def test_a_pickle_record_larger_than_the_file_is_refused(dumps: Any, records: Any) -> None:
    data = dumps(["x" * 100], compress=False)
    first = next(record for record in records(data) if record.kind == "P")
    crafted = _with_record_size(data, first.start - RECORD_HEADER.size, 1 << 50)
    with pytest.raises(brinery.TruncatedFileError, match="declares 1125899906842624 bytes"):
        brinery.load(io.BytesIO(crafted))


@pytest.mark.parametrize("compress", [False, "zlib", "gzip"])
def test_max_bytes_refuses_a_bigger_stream_before_allocating(compress: Any, dumps: Any) -> None:
    data = dumps({"a": ARRAY}, compress=compress)

    error, peak = _peak_while(lambda: brinery.load(io.BytesIO(data), max_bytes=ARRAY.nbytes // 2))

    assert type(error) is brinery.SizeLimitError
    assert "holds more than max_bytes=524288 bytes: the record at byte 16 of its stream " in str(
        error
    )
    assert "declares 1048576 bytes" in str(error)
    assert peak < ARRAY.nbytes // 2


def test_max_bytes_stops_a_decompression_bomb(dumps: Any) -> None:
    """64 MiB of zeros in a 300 KB zlib file: max_bytes stops it long before the memory is
    allocated (without max_bytes, load trusts the file, as pickle does)."""
    bomb = dumps(np.zeros(64 << 20, dtype=np.uint8), compress=("zlib", 1))
    assert len(bomb) < 300_000

    error, peak = _peak_while(lambda: brinery.load(io.BytesIO(bomb), max_bytes=1 << 20))

    assert type(error) is brinery.SizeLimitError
    assert peak < 8 << 20


def test_max_bytes_that_fit_load(dumps: Any, assert_same: Any) -> None:
    for compress in (False, "zlib"):
        data = dumps({"a": ARRAY}, compress=compress)
        plain = dumps({"a": ARRAY}, compress=False, checksums=compress is False or None)
        assert_same(brinery.load(io.BytesIO(data), max_bytes=len(plain)), {"a": ARRAY})


@pytest.mark.parametrize("value", [-1, 2.5, "10", True])
def test_max_bytes_must_be_a_size(value: Any) -> None:
    with pytest.raises(
        brinery.InvalidArgumentError,
        match=rf"max_bytes must be a number of bytes \(an int >= 0\) or None, not {value!r}",
    ):
        brinery.load(io.BytesIO(b""), max_bytes=value)


def test_struct_sizes_are_what_the_tests_assume() -> None:
    assert (RECORD_HEADER.size, RECORD_DIGEST.size) == (16, 8)
    assert struct.calcsize("<Q") == 8
