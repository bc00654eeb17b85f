"""brinery's own checksums (docs/format.md, "Checksums"): every record is followed by its XXH3-64
where the compressor has no strong check of its own, so any damage is reported, never loaded."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from functools import partial
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import CHECKSUMS_FLAG, STREAM_HEADER
from brinery.testing import compressed_stream, zlib_streams

SAMPLE = {
    "big": np.arange(8192, dtype="<i8") * 7,  # 64 KiB: an array record
    "small": np.arange(40, dtype="<f4"),  # in the pickle
    "text": "checksummed " * 20,
    "numbers": [1, 2.5, None, 2**70],
}


def _flags(data: bytes) -> int:
    return int(STREAM_HEADER.unpack_from(data, 0)[3])


@pytest.mark.parametrize(
    ("compress", "expected"),
    [
        (False, True),
        ("zlib", True),  # Adler-32 only
        ("lzma", True),  # no check at all
        ("gzip", False),  # CRC-32 of every member
        ("bz2", False),
        ("xz", False),  # CRC-64
    ],
)
def test_checksums_where_the_codec_has_no_strong_check(
    compress: Any, expected: bool, dumps: Any
) -> None:
    written = dumps(SAMPLE, compress=compress)
    inner = _decompressed(compress, written) if compress else written
    assert bool(_flags(inner) & CHECKSUMS_FLAG) is expected
    # (shuffle="auto", the default, byte-shuffles arrays of compressed streams only)
    shuffle = "byte" if compress else False
    plain = dumps(SAMPLE, compress=False, checksums=expected, shuffle=shuffle)
    if compress:  # (indexed, the default: the index lists the compressed frames)
        framing = brinery.compressors()[compress].framing
        plain = compressed_stream(plain, written, partial(_decompressed, compress), framing)
    assert inner == plain


def _decompressed(codec: str, data: bytes) -> bytes:
    return {
        "zlib": zlib_streams,
        "lzma": lzma.decompress,
        "gzip": gzip.decompress,
        "bz2": bz2.decompress,
        "xz": lzma.decompress,
    }[codec](data)


@pytest.mark.parametrize("checksums", [True, False])
def test_checksums_can_be_forced_either_way(checksums: bool, dumps: Any, assert_same: Any) -> None:
    for compress in (False, "gzip"):
        data = dumps(SAMPLE, compress=compress, checksums=checksums)
        inner = data if not compress else _decompressed(compress, data)
        assert bool(_flags(inner) & CHECKSUMS_FLAG) is checksums
        assert_same(brinery.load(io.BytesIO(data)), SAMPLE)


@pytest.mark.parametrize("value", [1, "yes", 0])
def test_checksums_must_be_a_bool_or_none(value: Any) -> None:
    message = rf"checksums must be True, False or None, not {value!r}"
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.dump(SAMPLE, io.BytesIO(), checksums=value)


def _offsets(data: bytes, payload: range) -> list[int]:
    """Every offset, except inside the large array's payload, where every 61st."""
    return [i for i in range(len(data)) if i not in payload or (i - payload.start) % 61 == 0]


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flip_in_an_uncompressed_file_is_detected(
    mask: int, dumps: Any, records: Any
) -> None:
    """No byte of an uncompressed, checksummed stream can change unnoticed: flips in the magic
    number make it unknown data, in the version or flags a newer format, anywhere else damage
    (CorruptFileError, which TruncatedFileError is too)."""
    data = dumps(SAMPLE, compress=False)
    big = next(record for record in records(data) if record.kind == "A")
    outcomes: dict[str, int] = {}
    for offset in _offsets(data, range(big.start, big.start + big.size)):
        damaged = bytearray(data)
        damaged[offset] ^= mask
        try:
            brinery.load(io.BytesIO(bytes(damaged)))
        except brinery.CorruptFileError as error:
            kind = type(error).__name__
        except brinery.UnknownFormatError as error:  # UnsupportedVersionError too
            kind = type(error).__name__ if offset < STREAM_HEADER.size else repr(error)
        else:
            kind = "loaded"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        assert kind != "loaded", f"a flip at byte {offset} of {len(data)} went unnoticed"
        assert "(" not in kind, f"a flip at byte {offset} (after the header) gave {kind}"
    assert outcomes["CorruptFileError"] > 1000, outcomes


@pytest.mark.parametrize("codec", ["zlib", "lzma"])
def test_every_flip_under_a_weak_codec_is_detected_or_harmless(
    codec: str, dumps: Any, assert_same: Any
) -> None:
    """zlib (Adler-32) and lzma-alone (no check) files: a flip is reported as damage, or the
    codec decodes the very same stream from it (harmless); never different data, never another
    exception."""
    # (unshuffled: a shuffled SAMPLE compresses to so few bytes that deflate's code tables,
    # where many flips change nothing, are a large part of it; test_shuffle.py flips those)
    data = dumps(SAMPLE, compress=codec, shuffle=False)
    harmless = []
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x01
        try:
            loaded = brinery.load(io.BytesIO(bytes(damaged)))
        except brinery.BrineryError:
            continue
        assert_same(loaded, SAMPLE)
        harmless.append(offset)
    assert len(harmless) < len(data) // 50, harmless


def test_a_damaged_record_says_where(dumps: Any, records: Any) -> None:
    data = bytearray(dumps(SAMPLE, compress=False))
    big = next(record for record in records(bytes(data)) if record.kind == "A")
    data[big.start + 100] ^= 0x10
    with pytest.raises(
        brinery.CorruptFileError,
        match=r"the record at byte \d+ of the data is damaged: its checksum does not match "
        r"\(stored 0x[0-9a-f]{16}, computed 0x[0-9a-f]{16}\)",
    ):
        brinery.load(io.BytesIO(bytes(data)))


def test_damaged_pickle_bytes_are_reported_before_the_unpickler_sees_them(dumps: Any) -> None:
    """A damaged module name in the pickle would make the unpickler import something else (here
    a module that does not exist): the record's checksum is checked first."""
    data = dumps([np.float64(1.5)], compress=False)
    at = data.index(b"numpy")
    damaged = data[:at] + b"nompy" + data[at + 5 :]
    with pytest.raises(brinery.CorruptFileError, match="its checksum does not match") as caught:
        brinery.load(io.BytesIO(damaged))
    assert caught.value.__cause__ is None
    unchecked = dumps([np.float64(1.5)], compress=False, checksums=False)
    at = unchecked.index(b"numpy")
    with pytest.raises(ModuleNotFoundError):
        brinery.load(io.BytesIO(unchecked[:at] + b"nompy" + unchecked[at + 5 :]))
