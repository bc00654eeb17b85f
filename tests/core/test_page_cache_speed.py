"""What makes raw arrays load and dump at page-cache speed, checked for what it must not break.

A checksummed record is read in pieces by the loading thread and a helper thread (every other
piece each) while the loading thread checksums each piece (:mod:`brinery.streams.read_ahead`);
a dump reserves the disk blocks of a large payload first (:mod:`brinery.preallocation`) and
checksums it piece by piece as it writes.
Speed is the benchmark's business (bench/); here: the same bytes, the same errors, every byte
checked exactly once and in order, and no thread left writing into memory after a failure.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import Any

import numpy as np
import pytest
import xxhash

import brinery
from brinery.errors import CorruptFileError, TruncatedFileError
from brinery.preallocation import reserve
from brinery.streams import read_ahead
from brinery.streams.read_ahead import PIECE_BYTES, THREADED_MIN_BYTES, fill_checking

#: An array large enough for the helper thread (several pieces, and a partial last one).
BIG = np.arange((THREADED_MIN_BYTES + PIECE_BYTES + 12345) // 8, dtype="<f8")


def _file_of(tmp_path: Any, data: bytes) -> str:
    path = tmp_path / "data"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("size", [0, 1, PIECE_BYTES - 1, THREADED_MIN_BYTES + PIECE_BYTES + 7])
def test_every_byte_is_read_and_checked_once_in_order(tmp_path: Any, size: int) -> None:
    data = os.urandom(size)
    path = _file_of(tmp_path, b"head" + data)
    target = bytearray(size)
    seen: list[bytes] = []
    descriptor = os.open(path, os.O_RDONLY)
    try:
        filled = fill_checking(
            descriptor, 4, memoryview(target), lambda piece: seen.append(bytes(piece))
        )
    finally:
        os.close(descriptor)
    assert filled == size
    assert bytes(target) == data
    assert b"".join(seen) == data
    assert all(seen)  # no empty pieces handed out


@pytest.mark.parametrize("size", [PIECE_BYTES, THREADED_MIN_BYTES + 3])
def test_a_file_shorter_than_asked_gives_what_it_has(tmp_path: Any, size: int) -> None:
    data = os.urandom(size - 100)
    path = _file_of(tmp_path, data)
    target = bytearray(size)
    digest = xxhash.xxh3_64()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        filled = fill_checking(descriptor, 0, memoryview(target), digest.update)
    finally:
        os.close(descriptor)
    assert filled == len(data)
    assert digest.intdigest() == xxhash.xxh3_64_intdigest(data)


def test_a_failing_check_stops_the_reader_before_it_returns(tmp_path: Any) -> None:
    """The helper thread must be done with the memory when the failure reaches the caller (a
    failed load frees it)."""
    path = _file_of(tmp_path, os.urandom(THREADED_MIN_BYTES * 2))
    target = bytearray(THREADED_MIN_BYTES * 2)
    calls = []

    def check(piece: memoryview) -> None:
        calls.append(len(piece))
        raise ValueError("stop here")

    descriptor = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(ValueError, match="stop here"):
            fill_checking(descriptor, 0, memoryview(target), check)
    finally:
        os.close(descriptor)
    assert len(calls) == 1
    assert not [t for t in threading.enumerate() if t.name == "brinery-read-ahead"]


@pytest.mark.parametrize("piece", [2, 3], ids=["ends-in-callers-piece", "ends-in-helpers-piece"])
def test_the_file_may_end_in_either_threads_piece(tmp_path: Any, piece: int) -> None:
    """The caller reads the even pieces and the helper the odd ones: wherever the file ends,
    what is there is read and checked once, and nothing after it."""
    size = THREADED_MIN_BYTES + 3 * PIECE_BYTES
    data = os.urandom(piece * PIECE_BYTES + 777)
    target = bytearray(size)
    seen: list[bytes] = []
    descriptor = os.open(_file_of(tmp_path, data), os.O_RDONLY)
    try:
        filled = fill_checking(
            descriptor, 0, memoryview(target), lambda got: seen.append(bytes(got))
        )
    finally:
        os.close(descriptor)
    assert filled == len(data)
    assert b"".join(seen) == data
    assert bytes(target[len(data) :]) == bytes(size - len(data))


def test_a_failing_check_of_a_helpers_piece_stops_both(tmp_path: Any) -> None:
    path = _file_of(tmp_path, os.urandom(THREADED_MIN_BYTES * 2))
    target = bytearray(THREADED_MIN_BYTES * 2)
    calls = []

    def check(piece: memoryview) -> None:
        calls.append(len(piece))
        if len(calls) == 2:  # the first piece the helper read
            raise ValueError("stop at the second piece")

    descriptor = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(ValueError, match="second piece"):
            fill_checking(descriptor, 0, memoryview(target), check)
    finally:
        os.close(descriptor)
    assert calls == [PIECE_BYTES, PIECE_BYTES]
    assert not [t for t in threading.enumerate() if t.name == "brinery-read-ahead"]


def test_a_read_error_of_the_helpers_piece_reaches_the_caller(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """Only the helper fails (its pieces start at odd multiples of the piece size): its error
    is raised in the caller's thread, after the pieces before it were checked."""
    real = read_ahead._pread_into

    def failing_for_the_helper(
        descriptor: int, offset: int, target: memoryview, start: int, size: int
    ) -> int:
        if threading.current_thread().name == "brinery-read-ahead" and start >= 3 * PIECE_BYTES:
            raise OSError(5, "Input/output error")
        return real(descriptor, offset, target, start, size)

    monkeypatch.setattr(read_ahead, "_pread_into", failing_for_the_helper)
    path = _file_of(tmp_path, os.urandom(THREADED_MIN_BYTES * 2))
    target = bytearray(THREADED_MIN_BYTES * 2)
    calls: list[int] = []
    descriptor = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="Input/output error"):
            fill_checking(descriptor, 0, memoryview(target), lambda piece: calls.append(len(piece)))
    finally:
        os.close(descriptor)
    assert calls == [PIECE_BYTES] * 3  # pieces 0 and 2 (the caller's) and 1 (the helper's)
    assert not [t for t in threading.enumerate() if t.name == "brinery-read-ahead"]


def test_a_read_error_in_the_helper_reaches_the_caller(tmp_path: Any) -> None:
    target = bytearray(THREADED_MIN_BYTES)
    descriptor = os.open(_file_of(tmp_path, b""), os.O_WRONLY)  # not readable
    try:
        with pytest.raises(OSError, match="Bad file descriptor"):
            fill_checking(descriptor, 0, memoryview(target), lambda piece: None)
    finally:
        os.close(descriptor)


def test_a_big_checksummed_array_loads_exactly(tmp_path: Any) -> None:
    path = tmp_path / "big.brn"
    value = {"big": BIG, "fortran": np.asfortranarray(BIG[:300000].reshape(600, 500))}
    brinery.dump(value, path)
    loaded = brinery.load(path)
    assert loaded["big"].dtype == BIG.dtype
    np.testing.assert_array_equal(loaded["big"], BIG)
    assert loaded["fortran"].flags.f_contiguous
    np.testing.assert_array_equal(loaded["fortran"], value["fortran"])
    assert loaded["big"].flags.writeable


def test_damage_in_a_big_record_is_found(tmp_path: Any) -> None:
    path = tmp_path / "big.brn"
    brinery.dump(BIG, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # deep inside the array's payload
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum does not match"):
        brinery.load(path)


def test_a_truncated_big_record_is_reported(tmp_path: Any) -> None:
    path = tmp_path / "big.brn"
    brinery.dump(BIG, path)
    with open(path, "r+b") as file:
        file.truncate(BIG.nbytes // 2)
    with pytest.raises(TruncatedFileError):
        brinery.load(path)


def test_a_dump_reserves_nothing_beyond_what_it_writes(tmp_path: Any) -> None:
    """The reservation keeps the file's size: the file is exactly the stream, nothing more."""
    path = tmp_path / "big.brn"
    brinery.dump(BIG, path, durable=False)
    into_memory = io.BytesIO()  # (a caller's file object: nothing reserved, no pieces)
    brinery.dump(BIG, into_memory)
    assert path.read_bytes() == into_memory.getvalue()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fallocate is Linux's")
def test_reserve_takes_the_blocks_and_keeps_the_size(tmp_path: Any) -> None:
    path = tmp_path / "reserved"
    with open(path, "wb") as file:
        file.write(b"x" * 10)
        file.flush()
        reserve(file.fileno(), 10, 8 << 20)
        status = os.fstat(file.fileno())
    assert status.st_size == 10
    assert status.st_blocks * 512 >= 8 << 20


def test_the_checked_pieces_cover_the_records_payload(tmp_path: Any, monkeypatch: Any) -> None:
    """The loader hands the helper exactly the record's payload (not its header, padding or
    checksum): recorded here through the module's entry point."""
    sizes = []
    real = read_ahead.fill_checking

    def recording(descriptor: int, offset: int, target: memoryview, check: Any) -> int:
        sizes.append(len(target))
        return real(descriptor, offset, target, check)

    monkeypatch.setattr("brinery.streams.source.fill_checking", recording)
    path = tmp_path / "big.brn"
    brinery.dump(BIG, path)
    np.testing.assert_array_equal(brinery.load(path), BIG)
    assert len(sizes) == 1
    assert 0 <= BIG.nbytes - sizes[0] <= 1 << 20  # (less what a read-ahead already held)
