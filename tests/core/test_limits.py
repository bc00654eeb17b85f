"""Sizes a file declares are checked before anything is allocated; ``max_bytes`` bounds a load."""

from __future__ import annotations

import io
import lzma
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import brinery
from brinery.format.layout import (
    ARRAY_RECORD,
    CHECKSUMS_FLAG,
    END_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
)
from brinery.streams.frame_reader import FrameReader
from brinery.streams.prefixed import Prefixed
from brinery.streams.source import Source
from brinery.testing import compressed_stream, zlib_streams

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
    return (
        data[:start]
        + head
        + data[start + RECORD_HEADER.size : payload_end]
        + digest
        + data[payload_end + RECORD_DIGEST.size :]
    )


def _array_header(stream: bytes) -> int:
    """Where the header of the first array record of the uncompressed ``stream`` starts."""
    digest = RECORD_DIGEST.size if STREAM_HEADER.unpack_from(stream)[3] & CHECKSUMS_FLAG else 0
    offset = STREAM_HEADER.size
    while True:
        kind, padding, _, _, size = RECORD_HEADER.unpack_from(stream, offset)
        if kind == ARRAY_RECORD:
            return offset
        assert kind != END_RECORD, "no array record"
        offset += RECORD_HEADER.size + padding + size + digest


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("size", [(1 << 20) + 4096, 1 << 40, (1 << 63) - 1, (1 << 64) - 1])
@pytest.mark.parametrize("via", ["path", "bytesio"])
def test_a_record_larger_than_the_file_is_refused_before_allocating(
    size: int, via: str, index: bool, tmp_path: Path, dumps: Any, records: Any
) -> None:
    data = dumps({"a": ARRAY}, compress=False, index=index)
    record = next(record for record in records(data) if record.kind == "A")
    header = _array_header(data)
    if not index:  # the first record: header at 16, 32 bytes of padding
        assert header == record.start - 48 == STREAM_HEADER.size
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


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("compress", [False, "zlib", "gzip"])
def test_max_bytes_refuses_a_bigger_stream_before_allocating(
    compress: Any, index: bool, dumps: Any
) -> None:
    data = dumps({"a": ARRAY}, compress=compress, index=index)
    # (the array record's header: the first record, unindexed; after the dict's keys, indexed)
    checksums = compress is False or not brinery.compressors()[compress].checks_integrity
    header = _array_header(dumps({"a": ARRAY}, compress=False, checksums=checksums, index=index))
    assert (header == STREAM_HEADER.size) is not index

    error, peak = _peak_while(lambda: brinery.load(io.BytesIO(data), max_bytes=ARRAY.nbytes // 2))

    assert type(error) is brinery.SizeLimitError
    assert (
        f"holds more than max_bytes=524288 bytes: the record at byte {header} of its stream "
    ) in str(error)
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


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
def test_max_bytes_that_fit_load(index: bool, dumps: Any, assert_same: Any) -> None:
    for compress in (False, "zlib"):
        data = dumps({"a": ARRAY}, compress=compress, index=index)
        shuffle = "byte" if compress else False  # (what shuffle="auto" does)
        plain = dumps({"a": ARRAY}, compress=False, shuffle=shuffle, index=index)
        if compress:  # the stream is exactly max_bytes long (indexed: listing the frames)
            framing = brinery.compressors()[compress].framing
            plain = compressed_stream(plain, data, zlib_streams, framing)
        assert_same(brinery.load(io.BytesIO(data), max_bytes=len(plain)), {"a": ARRAY})
        with pytest.raises(brinery.SizeLimitError):
            brinery.load(io.BytesIO(data), max_bytes=len(plain) - 1)


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


# -- compressed data past max_bytes: every decompressed byte counts ---------------------------

_GIB = 1 << 30


def _gzip(*parts: bytes, zeros: int = 0) -> bytes:
    """One gzip member of ``parts`` followed by ``zeros`` zero bytes (a bomb of them)."""
    codec = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [codec.compress(part) for part in parts]
    block = bytes(1 << 20)
    for start in range(0, zeros, len(block)):
        out.append(codec.compress(block[: zeros - start]))
    return b"".join([*out, codec.flush()])


def _binbytes8(declared: int) -> bytes:
    """A plain pickle's start: PROTO 4, then BINBYTES8 declaring ``declared`` bytes."""
    return b"\x80\x04\x8e" + struct.pack("<Q", declared)


def test_max_bytes_stops_a_compressed_pickle_of_gigabytes(load_limited: Any) -> None:
    """A 250 KB gzip file whose pickle declares 2 GiB of bytes and holds 256 MiB of them: with
    max_bytes=1000, decompression stops at byte 1001, before the unpickler's read grows."""
    bomb = _gzip(_binbytes8(2 * _GIB), zeros=256 << 20)
    assert len(bomb) < 300_000

    load = load_limited(bomb, max_bytes=1000)

    assert load.error == "SizeLimitError", load
    assert load.message == (
        "the gzip data decompresses to more than max_bytes=1000 bytes (at least 1001, in frame "
        "1, which starts at byte 0 of the file)"
    )
    assert load.grew < 16 << 20, load


def test_a_pickle_declaring_more_than_it_holds_allocates_what_it_holds(
    load_limited: Any,
) -> None:
    """Without max_bytes, the 2 GiB the pickle declares are not allocated before they are read:
    the read grows with the 64 MiB that are there, then reports the truncation."""
    bomb = _gzip(_binbytes8(2 * _GIB), zeros=64 << 20)

    load = load_limited(bomb)

    assert load.error == "TruncatedFileError", load
    assert "bytes before what it declares" in load.message, load
    assert load.grew < 256 << 20, load


def _read_all(reader: FrameReader, read: bytearray, piece: int) -> None:
    """Read ``reader`` to its end into ``read``, ``piece`` bytes at a time at most."""
    target = bytearray(piece)
    while got := reader.readinto(target):
        read += target[:got]


def test_max_bytes_counts_every_frame_of_a_compressed_stream() -> None:
    """Concatenated 64 KiB gzip members: the limit holds across them."""
    data = bytes(range(256)) * 8192  # 2 MiB
    members = b"".join(
        _gzip(data[start : start + (1 << 16)]) for start in range(0, len(data), 1 << 16)
    )
    reader = FrameReader(
        Source(io.BytesIO(members)), brinery.compressors()["gzip"], max_bytes=1 << 20
    )
    read = bytearray()
    with pytest.raises(brinery.SizeLimitError) as caught:
        _read_all(reader, read, 4096)
    assert read == data[: len(read)]
    assert str(caught.value).startswith(
        "the gzip data decompresses to more than max_bytes=1048576 bytes (at least 1048577, in "
        "frame 17, which starts at byte "
    )


@pytest.mark.parametrize("codec", ["zlib", "bz2", "xz"])
def test_frame_reader_hands_out_no_byte_past_max_bytes(codec: str) -> None:
    """FrameReader alone: max_bytes=N hands out N bytes, the next byte is the error."""
    compressor = brinery.compressors()[codec]
    data = bytes(range(256)) * 4096  # 1 MiB
    frame = b"".join(compressor.compress_frame(compressor.default_level, data))
    reader = FrameReader(Source(io.BytesIO(frame)), compressor, max_bytes=100_000)
    read = bytearray()
    with pytest.raises(brinery.SizeLimitError) as caught:
        _read_all(reader, read, 30_000)
    assert read == data[: len(read)]
    assert 0 < len(read) <= 100_000
    assert str(caught.value) == (
        f"the {codec} data decompresses to more than max_bytes=100000 bytes (at least 100001, "
        "in frame 1, which starts at byte 0 of the file)"
    )


def test_frame_reader_loads_exactly_max_bytes() -> None:
    compressor = brinery.compressors()["zlib"]
    data = bytes(range(256)) * 400
    reader = FrameReader(
        Source(io.BytesIO(b"".join(compressor.compress_frame(3, data)))),
        compressor,
        max_bytes=len(data),
    )
    assert reader.read() == data
    reader.finish()


@pytest.mark.parametrize("compress", ["gzip", "bz2"])
def test_small_reads_of_a_compressed_stream_call_the_codec_once_per_piece(compress: str) -> None:
    """An unpickler reads a few bytes at a time: the codec is asked for 64 KiB pieces, which
    serve the next reads, not for a few bytes per call (each call would copy the input held)."""
    compressor = brinery.compressors()[compress]
    data = bytes(range(256)) * 4096  # 1 MiB
    frame = b"".join(compressor.compress_frame(compressor.default_level, data))
    calls = 0
    real = compressor.new_decompressor

    def counted() -> Any:
        decompressor = real()

        class Counting:
            eof = property(lambda self: decompressor.eof)
            unused_data = property(lambda self: decompressor.unused_data)
            needs_input = property(lambda self: decompressor.needs_input)

            def decompress(self, chunk: Any, max_length: int = -1) -> bytes:
                nonlocal calls
                calls += 1
                output: bytes = decompressor.decompress(chunk, max_length)
                return output

        return Counting()

    compressor.new_decompressor = counted  # type: ignore[method-assign]
    try:
        reader = FrameReader(Source(io.BytesIO(frame)), compressor)
        read = bytearray()
        while chunk := reader.read(8):
            read += chunk
    finally:
        del compressor.new_decompressor
    assert read == data
    assert calls < 2 * len(data) // (1 << 16) + 8, calls


# -- text opcodes: a line of megabytes ---------------------------------------------------------


class _CountingFile(io.RawIOBase):
    """A file that counts the calls made to read it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.calls += 1
        return self._data.readinto(buffer)


_LONG_TEXT = "x" * (4 << 20)
#: A protocol-2 pickle of three strings written with the text opcode UNICODE (``V``, a line):
#: the middle one is 4 MiB long.
_LONG_LINES = b"\x80\x02(Va\nV" + _LONG_TEXT.encode() + b"\nVb\nl."


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_a_pickle_with_a_line_of_megabytes_is_read_in_pieces(
    compress: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """readline reads a 4 MiB line in pieces from the stream under it (the file, or its
    decompressed frames), not one byte per call (which took 10-27 s for 2-8 MB lines)."""
    calls = 0

    def counted(method: Any) -> Any:
        def call(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return method(*args)

        return call

    for cls in (Source, FrameReader):
        for name in ("read", "readinto", "peek"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, counted(vars(cls)[name]))
    data = _gzip(_LONG_LINES) if compress else _LONG_LINES
    assert brinery.load(io.BytesIO(data)) == ["a", _LONG_TEXT, "b"]
    assert 0 < calls < 1000, calls


def test_readline_without_peek_keeps_what_follows_the_line() -> None:
    """Over a stream without ``peek`` (decompressed frames), what readline read past the line is
    served first by the next reads."""
    stream = _CountingFile(b"first line\n" + b"y" * 100_000 + b"\nrest")
    prefixed = Prefixed(b"he", stream)
    assert prefixed.readline() == b"hefirst line\n"
    assert prefixed.read(3) == b"yyy"
    target = bytearray(99_997)
    filled = 0
    while filled < len(target):
        filled += prefixed.readinto(memoryview(target)[filled:])
    assert target == b"y" * 99_997
    assert prefixed.readline() == b"\n"
    assert prefixed.readline() == b"rest"
    assert prefixed.readline() == b""
    assert stream.calls < 10, stream.calls


def test_readline_with_peek_consumes_the_line_and_nothing_more() -> None:
    """Over a :class:`Source` (a plain pickle in the caller's file), readline consumes exactly
    the line: what follows stays for whatever reads the file next."""
    raw = _CountingFile(b"x" * 300_000 + b"\nfollows")
    source = Source(raw)
    assert Prefixed(b"", source).readline() == b"x" * 300_000 + b"\n"
    assert source.position == 300_001
    assert source.read() == b"follows"
    assert raw.calls < 20, raw.calls


def test_read_of_a_declared_size_allocates_with_the_data() -> None:
    """``read(n)`` with ``n`` from the file: memory follows the bytes that are there."""
    prefixed = Prefixed(b"", _CountingFile(b"z" * 1000))
    tracemalloc.start()
    try:
        data = prefixed.read(1 << 40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == b"z" * 1000
    assert peak < 4 << 20, peak


# -- lzma and xz: the dictionary a header asks for -----------------------------------------------


def _with_huge_dictionary(codec: str) -> bytes:
    """A valid lzma or xz file (a brinery stream) whose header asks for a 2 or 4 GiB
    dictionary, which liblzma allocates before it decodes anything."""
    compressor = brinery.compressors()[codec]
    data = b"".join(compressor.compress_frame(3, b"a brinery stream would be here"))
    if codec == "lzma":  # properties, dictionary size (LE u32), uncompressed size
        return data[:1] + struct.pack("<I", 2 << 30) + data[5:]  # (still lzma's magic)
    # xz: a 12-byte stream header, then the block header: its size / 4 - 1, flags, sizes, then
    # the LZMA2 filter (id 0x21, 1 byte of properties: the dictionary size), padding, CRC-32.
    start = 12
    size = (data[start] + 1) * 4
    header = bytearray(data[start : start + size - 4])
    props = header.index(b"\x21\x01") + 2
    header[props] = 40  # 4 GiB - 1
    checked = bytes(header) + struct.pack("<I", zlib.crc32(header))
    return data[:start] + checked + data[start + size :]


@pytest.mark.parametrize("codec", ["lzma", "xz"])
def test_a_header_asking_for_a_huge_dictionary_is_refused(codec: str, load_limited: Any) -> None:
    """liblzma allocates the dictionary the header sets (a MemoryError under a 1 GiB limit):
    the decoder's memory is limited to what brinery's, joblib's and xz's presets need."""
    load = load_limited(_with_huge_dictionary(codec))
    assert load.error == "CorruptFileError", load
    assert load.message == (
        f"the {codec} data is corrupt in frame 1 (which starts at byte 0 of the file): Memory "
        "usage limit exceeded"
    )
    assert load.grew < 16 << 20, load


@pytest.mark.parametrize("codec", ["lzma", "xz"])
def test_the_largest_preset_is_within_the_lzma_memory_limit(codec: str) -> None:
    compressor = brinery.compressors()[codec]
    data = b"".join(compressor.compress_frame(9 | lzma.PRESET_EXTREME, b"x" * 100_000))
    decompressor = compressor.new_decompressor()
    assert decompressor.decompress(data, -1) == b"x" * 100_000
    assert decompressor.eof
