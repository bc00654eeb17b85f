"""Shuffled array records (docs/format.md, section 5.4) and ``dump(shuffle=)``.

The byte and bit shuffles are checked against a reference written from the format document's
text, then through every path that writes them (shuffled in the main thread or on the
compression threads, with and without checksums, whole or from the pieces of a non-contiguous
array), every stdlib codec and the standard tools, mapped loads, ``brinery info``,
``brinery convert``, an older reader, and damaged or hostile record headers.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import subprocess
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
import brinery.format.reader
from brinery.api import convert, inspect_file
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    CHECKSUMS_FLAG,
    END_RECORD,
    INDEXED_FLAG,
    MAPPED_WRITABLE_FLAG,
    PICKLE_RECORD,
    SHUFFLED_RECORDS_FLAG,
)
from brinery.format.shuffle import (
    BLOCK_BYTES,
    Shuffle,
    block_elements,
    shuffled_blocks,
    unshuffled_pieces,
)
from brinery.framing import ZLIB_LOCATOR
from brinery.testing import RecordHeader, assert_same, compressed_stream, dumps, record_headers

BYTE, BIT = 0x0002, 0x0004  # the record flags, as docs/format.md gives them
DECOMPRESS = {
    "zlib": None,  # (frames concatenated: brinery's own reader, see _stream_of)
    "gzip": gzip.decompress,
    "bz2": bz2.decompress,
    "xz": lzma.decompress,
    "lzma": lzma.decompress,
}


def _arrays(stream: bytes) -> list[RecordHeader]:
    return [header for header in record_headers(stream)[1] if header.kind == ARRAY_RECORD]


def _stream_of(data: bytes, codec: str) -> bytes:
    """The uncompressed stream inside ``codec``'s file."""
    if codec == "zlib":
        parts = []
        while data and ZLIB_LOCATOR.parse(data) is None:  # (an indexed file's locator)
            decompressor = zlib.decompressobj()
            parts.append(decompressor.decompress(data))
            data = decompressor.unused_data
        return b"".join(parts)
    decompress = DECOMPRESS[codec]
    assert decompress is not None
    return decompress(data)


def _reference(data: bytes, element_size: int, bits: bool) -> bytes:
    """docs/format.md, section 5.4, as written: blocks of N elements of E bytes; byte j of
    element i at j*m + i; or, for bits, run 8j+b holding bit b of byte j of every element, bit t
    of its byte k from element 8k+t; what is left over as it is."""
    whole = (4194304 // element_size) // 8 * 8 * element_size
    out = bytearray()
    for start in range(0, len(data), whole):
        block = np.frombuffer(data[start : start + whole], np.uint8)
        count = len(block) // element_size
        if bits:
            count = count // 8 * 8
        elements = block[: count * element_size].reshape(count, element_size)
        for j in range(element_size):
            if not bits:
                out += elements[:, j].tobytes()
                continue
            for b in range(8):
                bit = ((elements[:, j] >> b) & 1).reshape(-1, 8).astype(np.uint16)
                out += (bit << np.arange(8, dtype=np.uint16)).sum(axis=1).astype(np.uint8).tobytes()
        out += block[count * element_size :].tobytes()
    return bytes(out)


# -- the filters -------------------------------------------------------------------------------


def test_the_examples_of_the_format_document() -> None:
    eight = np.arange(1, 9, dtype="<u2").tobytes()
    nine = np.arange(1, 10, dtype="<u2").tobytes()
    assert bytes(Shuffle("byte", 2).shuffled(eight)).hex(" ") == (
        "01 02 03 04 05 06 07 08 00 00 00 00 00 00 00 00"
    )
    assert bytes(Shuffle("bit", 2).shuffled(eight)).hex(" ") == (
        "55 66 78 80 00 00 00 00 00 00 00 00 00 00 00 00"
    )
    assert bytes(Shuffle("byte", 2).shuffled(nine)) == bytes(range(1, 10)) + bytes(9)
    assert bytes(Shuffle("bit", 2).shuffled(nine)) == bytes.fromhex("5566788000000000") + bytes(
        8
    ) + bytes.fromhex("0900")


@pytest.mark.parametrize("bits", [False, True], ids=["byte", "bit"])
@pytest.mark.parametrize("element_size", [2, 8, 12, 520])
def test_the_filters_follow_the_documented_layout(element_size: int, bits: bool) -> None:
    """Over a whole block, a last partial one and leftover bytes: as the reference says, undone
    exactly, and the same when the payload comes in pieces that are not blocks."""
    shuffle = Shuffle("bit" if bits else "byte", element_size)
    assert shuffle.block_bytes == block_elements(element_size) * element_size <= BLOCK_BYTES
    size = shuffle.block_bytes + 13 * element_size + 5  # (13: not a multiple of 8)
    data = np.random.default_rng(element_size).integers(0, 256, size, dtype=np.uint8).tobytes()
    stored = bytes(shuffle.shuffled(data))
    assert stored == _reference(data, element_size, bits)
    assert stored != data
    memory = np.frombuffer(stored, np.uint8).copy()
    shuffle.unshuffle_in_place(memory)
    assert memory.tobytes() == data
    pieces = [memoryview(data)[start : start + 999_999] for start in range(0, size, 999_999)]
    assert b"".join(map(bytes, shuffled_blocks(pieces, shuffle))) == stored
    blocks = [stored[: shuffle.block_bytes], stored[shuffle.block_bytes :]]
    assert b"".join(unshuffled_pieces(blocks, shuffle)) == data


def test_a_power_of_two_element_size_makes_4_mib_blocks() -> None:
    """So brinery's 4 and 8 MiB frames hold whole blocks (docs/format.md, 5.4)."""
    assert [Shuffle("byte", size).block_bytes for size in (2, 4, 8, 16, 32)] == [4 << 20] * 5
    assert Shuffle("byte", 3).block_bytes == 1398096 * 3


# -- dump(shuffle=) ----------------------------------------------------------------------------

SHUFFLED_DTYPES = [
    "<i2", ">i2", "<u4", ">i4", "<i8", ">u8", "<f2", ">f4", "<f8", ">f8",
    np.dtype(np.longdouble).str, "<c8", ">c16", np.dtype(np.clongdouble).str,
    "<M8[ns]", ">m8[s]",
]  # fmt: skip
UNSHUFFLED_DTYPES = ["|b1", "|u1", "|i1", "|S3", "<U2", "|V4", "<f8,<i4"]


def _values(dtype: Any, nbytes: int, seed: int = 0) -> np.ndarray:
    """About ``nbytes`` of ``dtype`` (bit patterns of every kind, text that is text)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    count = nbytes // dtype.itemsize
    if dtype.kind == "b":
        return rng.integers(0, 2, count).astype(dtype)
    if dtype.kind == "U":
        return rng.choice(np.array(["ab", "ü", "", "zz"], dtype=dtype), count)
    return rng.integers(0, 256, count * dtype.itemsize, dtype=np.uint8).view(dtype)


@pytest.mark.parametrize("dtype", SHUFFLED_DTYPES + UNSHUFFLED_DTYPES)
def test_arrays_of_numbers_are_shuffled_and_load_exactly(dtype: Any) -> None:
    """Every numeric dtype, byte order and item size, a size that is no whole number of blocks
    (on the compression threads: gzip has no brinery checksums); other kinds never."""
    value = {"data": _values(dtype, (1 << 20) + 3 * 16), "small": _values(dtype, 1000)}
    data = dumps(value, compress=("gzip", 1), threads=2)
    assert_same(brinery.load(io.BytesIO(data)), value)
    stream = gzip.decompress(data)
    assert record_headers(stream)[0] & SHUFFLED_RECORDS_FLAG
    (record,) = _arrays(stream)  # ("small" is in the pickle)
    itemsize = np.dtype(dtype).itemsize
    if dtype in SHUFFLED_DTYPES:
        assert (record.flags, record.element_size) == (BYTE, itemsize)
        stored = stream[record.start : record.start + record.size]
        assert stored == bytes(Shuffle("byte", itemsize).shuffled(value["data"]))
    else:
        assert (record.flags, record.element_size) == (0, 0)


@pytest.mark.parametrize("mode", ["byte", "bit"])
def test_orders_views_and_wrappers(mode: str) -> None:
    """F order, a non-contiguous array written in pieces that are not blocks, subclasses,
    masked arrays, 0-d and empty arrays: exact, on one thread or two, checksummed or not."""
    rng = np.random.default_rng(1)
    wide = rng.normal(size=(1200, 1500))
    value = {
        "fortran": np.asfortranarray(rng.normal(size=(700, 300)).astype(">f4")),
        "strided": wide[:, ::3],  # 4.8 MB, copied in pieces of rows
        "reversed": np.arange(300_000, dtype="<i8")[::-1],
        "masked": np.ma.masked_array(rng.normal(size=40_000), mask=rng.integers(0, 2, 40_000)),
        "matrix": np.arange(20_000.0).reshape(100, 200).view(np.recarray),
        "scalar": np.array(2.5),
        "empty": np.empty((0, 7), dtype="<c16"),
        "read-only": np.arange(50_000, dtype=">u4"),
    }
    value["read-only"].flags.writeable = False
    outputs = set()
    for threads in (1, 2):
        for checksums in (None, True, False):
            data = dumps(value, compress="gzip", shuffle=mode, threads=threads, checksums=checksums)
            assert_same(brinery.load(io.BytesIO(data), threads=threads), value)
            if checksums is False:
                outputs.add(data)
    assert len(outputs) == 1  # threads change nothing
    assert_same(brinery.load(io.BytesIO(outputs.pop()), trusted=[np.recarray]), value)


@pytest.mark.parametrize("checksums", [False, True])
def test_the_threads_shuffle_as_the_main_thread_does(checksums: bool) -> None:
    """On the compression threads (no checksums) or in the main thread (checksums, an
    uncompressed file), the stream holds the same bytes, and they load exactly."""
    value = {"a": np.random.default_rng(2).normal(size=(3 << 20) // 8 + 77), "b": np.arange(9)}
    compressed = dumps(value, compress="gzip", shuffle="bit", checksums=checksums, threads=2)
    plain = dumps(value, compress=False, shuffle="bit", checksums=checksums)
    # (indexed, the default: the gzip file's stream is plain, its index listing the frames)
    framing = brinery.compressors()["gzip"].framing
    assert gzip.decompress(compressed) == compressed_stream(
        plain, compressed, gzip.decompress, framing
    )
    assert [(r.flags, r.element_size) for r in _arrays(plain)] == [(BIT, 8)]
    assert_same(brinery.load(io.BytesIO(plain)), value)


@pytest.mark.parametrize("codec", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_every_stdlib_codec_compresses_shuffled_floats_smaller(codec: str) -> None:
    """Normal floats: byte shuffle makes the file smaller, with every codec (a deterministic
    sample: a size, not a time); both load exactly, through the codec's own reader too."""
    value = {"normal": np.random.default_rng(0).normal(size=(1 << 20) // 8 + 1000)}
    shuffled = dumps(value, compress=(codec, 1))  # (shuffle="auto")
    plain = dumps(value, compress=(codec, 1), shuffle=False)
    assert len(shuffled) < 0.95 * len(plain)
    for data in (shuffled, plain):
        assert_same(brinery.load(io.BytesIO(data)), value)
    stream = _stream_of(shuffled, codec)
    assert [(r.flags, r.element_size) for r in _arrays(stream)] == [(BYTE, 8)]
    assert_same(brinery.load(io.BytesIO(stream)), value)


def test_auto_shuffles_compressed_files_only() -> None:
    """An uncompressed file stays mappable in place unless a shuffle is asked for; shuffle=False
    writes no shuffled-records flag (with index=False: what a format 1.2 reader reads)."""
    value = {"a": np.arange(100_000, dtype="<f8")}
    plain = dumps(value, compress=False)
    assert record_headers(plain)[0] == CHECKSUMS_FLAG | INDEXED_FLAG  # (indexed: the default)
    assert [(r.flags, r.element_size) for r in _arrays(plain)] == [(0, 0)]
    asked = dumps(value, compress=False, shuffle=True)
    assert record_headers(asked)[0] == CHECKSUMS_FLAG | SHUFFLED_RECORDS_FLAG | INDEXED_FLAG
    assert [(r.flags, r.element_size) for r in _arrays(asked)] == [(BYTE, 8)]
    never = gzip.decompress(dumps(value, compress="gzip", shuffle=False))
    assert record_headers(never)[0] == INDEXED_FLAG
    assert [(r.flags, r.element_size) for r in _arrays(never)] == [(0, 0)]
    never = gzip.decompress(dumps(value, compress="gzip", shuffle=False, index=False))
    assert record_headers(never)[0] == 0
    assert [(r.flags, r.element_size) for r in _arrays(never)] == [(0, 0)]


@pytest.mark.parametrize(
    "shuffle", ["Byte", "none", "bits", None, 1, 0, b"byte", ["byte"]], ids=repr
)
def test_an_invalid_shuffle_is_refused_before_writing(shuffle: Any, tmp_path: Path) -> None:
    path = tmp_path / "refused.pkl.gz"
    with pytest.raises(brinery.InvalidArgumentError) as raised:
        brinery.dump({"a": 1}, path, shuffle=shuffle)
    assert str(raised.value) == (
        f"shuffle={shuffle!r} is not valid: use 'auto' (when compressing: delta for images, byte "
        "shuffle for other numbers), True or 'byte', 'bit', 'delta', or False"
    )
    assert isinstance(raised.value, ValueError)
    assert not path.exists()


# -- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz"])
def test_the_standard_tool_decompresses_a_shuffled_file(codec: str, tmp_path: Path) -> None:
    """``gzip -dc`` & co. give the brinery stream, whose records say they are shuffled."""
    tool = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz"}[codec]
    if shutil.which(tool) is None:
        pytest.skip(f"the {tool} command-line tool is not installed")
    value = {"a": np.random.default_rng(3).normal(size=200_000).astype("<f4"), "b": [1, "x"]}
    path = tmp_path / "shuffled.bin"
    brinery.dump(value, path, compress=(codec, 1), threads=2)
    done = subprocess.run([tool, "-dc", str(path)], capture_output=True, check=True)
    assert record_headers(done.stdout)[0] & SHUFFLED_RECORDS_FLAG
    assert [(r.flags, r.element_size) for r in _arrays(done.stdout)] == [(BYTE, 4)]
    assert_same(brinery.load(io.BytesIO(done.stdout)), value)


@pytest.mark.parametrize("index", [False, True], ids=["unindexed", "indexed"])
def test_a_format_1_2_reader_asks_to_upgrade(index: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that does not know the shuffled-records flag (1.2's known flags) refuses the
    stream as one needing a newer brinery, and reads shuffle=False files written unindexed; an
    indexed one (the default) it refuses too, for its indexed flag (format 1.4)."""
    value = {"a": np.arange(100_000, dtype="<i4")}
    shuffled = dumps(value, compress="gzip", index=index)
    unshuffled = dumps(value, compress="gzip", shuffle=False, index=index)
    monkeypatch.setattr(
        brinery.format.reader, "KNOWN_STREAM_FLAGS", CHECKSUMS_FLAG | MAPPED_WRITABLE_FLAG
    )
    version = "1\\.4" if index else "1\\.3"

    def upgrade(flags: int) -> str:
        return (
            rf"uses brinery format {version} with features this version of brinery does not "
            rf"know \(flags {flags:#06x}, reserved 0x0\): upgrade brinery to load it"
        )

    shuffled_flags = SHUFFLED_RECORDS_FLAG | (INDEXED_FLAG if index else 0)
    with pytest.raises(brinery.UnsupportedVersionError, match=upgrade(shuffled_flags)):
        brinery.load(io.BytesIO(shuffled))
    if index:
        with pytest.raises(brinery.UnsupportedVersionError, match=upgrade(INDEXED_FLAG)):
            brinery.load(io.BytesIO(unshuffled))
    else:
        assert_same(brinery.load(io.BytesIO(unshuffled)), value)


def test_a_mapped_load_reads_shuffled_arrays_into_memory(tmp_path: Path) -> None:
    """They cannot be mapped in place: read, unshuffled, with a warning; the others are
    mapped.  Converted to an unshuffled file, all are mapped, without a warning."""
    value = {
        "floats": np.random.default_rng(4).normal(size=100_000),
        "bytes": np.arange(100_000, dtype=np.uint8),
    }
    path = tmp_path / "asked.brn"
    brinery.dump(value, path, compress=False, shuffle="byte")
    with pytest.warns(UserWarning, match=r"the file's filtered arrays \(shuffled or delta-coded\)"):
        loaded = brinery.load(path, mmap_mode="r")
    assert type(loaded["floats"]) is np.ndarray
    assert type(loaded["bytes"]) is np.memmap
    np.testing.assert_array_equal(loaded["floats"], value["floats"])
    np.testing.assert_array_equal(loaded["bytes"], value["bytes"])
    compressed = tmp_path / "shuffled.gz"
    brinery.dump(value, compressed)
    unshuffled = tmp_path / "unshuffled.brn"
    convert(compressed, unshuffled, compress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mapped = brinery.load(unshuffled, mmap_mode="r")
    assert type(mapped["floats"]) is np.memmap
    assert_same(brinery.load(unshuffled), value)


def test_info_names_each_arrays_filter(tmp_path: Path) -> None:
    value = {
        "byte": np.arange(20_000, dtype="<i8"),
        "bit": np.arange(20_000, dtype="<i8"),
        "text": np.array(["x"] * 20_000),
    }
    found = {}
    for mode in ("byte", "bit", False):
        path = tmp_path / f"{mode}.gz"
        brinery.dump(value, path, shuffle=mode)
        found[mode] = [array.shuffle for array in inspect_file(path).arrays]
    assert found == {"byte": ["byte", "byte", None], "bit": ["bit", "bit", None], False: [None] * 3}


def test_convert_keeps_shuffled_records_in_compressed_files(tmp_path: Path) -> None:
    value = {"a": np.random.default_rng(5).normal(size=150_000), "b": np.arange(9)}
    source = tmp_path / "source.gz"
    brinery.dump(value, source, shuffle="bit")
    target = tmp_path / "target.z"
    convert(source, target, compress="zlib")
    assert [array.shuffle for array in inspect_file(target).arrays] == ["bit", None]
    stream = _stream_of(target.read_bytes(), "zlib")
    assert [(r.flags, r.element_size) for r in _arrays(stream)] == [(BIT, 8)]
    assert_same(brinery.load(target), value)
    plain = tmp_path / "plain.brn"
    convert(target, plain, compress=False)
    assert record_headers(plain.read_bytes())[0] == CHECKSUMS_FLAG | INDEXED_FLAG  # (kept)
    assert [array.shuffle for array in inspect_file(plain).arrays] == [None, None]
    assert_same(brinery.load(plain), value)


def test_flips_in_a_shuffled_zlib_file_are_damage_or_harmless() -> None:
    """zlib (Adler-32 only) keeps brinery's checksums, which cover the shuffled bytes: a flip
    anywhere is reported, or decodes to the very same stream; never different data."""
    value = {"a": np.arange(8192, dtype="<i8") * 7, "b": "text"}
    data = dumps(value, compress="zlib")
    assert [(r.flags, r.element_size) for r in _arrays(_stream_of(data, "zlib"))] == [(BYTE, 8)]
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        try:
            loaded = brinery.load(io.BytesIO(bytes(damaged)))
        except brinery.BrineryError:
            continue
        assert_same(loaded, value)


# -- damaged and hostile headers ---------------------------------------------------------------


@pytest.fixture
def forged(forge_filter_headers: Callable[..., bytes]) -> Callable[..., bytes]:
    """A stream of one float64 array record dumped with byte shuffle, its ``kind`` record
    headers rewritten (``tests/conftest.py``'s ``forge_filter_headers``)."""

    def forge(
        kind: int, flags: int, element_size: int, *, stream_flags: int = SHUFFLED_RECORDS_FLAG
    ) -> bytes:
        value = {"a": np.arange(10_000, dtype="<f8")}
        return forge_filter_headers(value, "byte", kind, flags, element_size, stream_flags)

    return forge


def test_the_forger_makes_a_valid_file(forged: Callable[..., bytes]) -> None:
    """(The forged files below differ from this one in their headers only.)"""
    stream = forged(ARRAY_RECORD, BYTE, 8)
    assert_same(brinery.load(io.BytesIO(stream), trusted=[]), {"a": np.arange(10_000.0)})
    buffers = forged(BUFFER_RECORD, 0, 0)
    assert bytes(brinery.load(io.BytesIO(buffers))) == bytes(100_000)


DAMAGED = {
    "on a pickle record": (PICKLE_RECORD, BYTE, 8, SHUFFLED_RECORDS_FLAG),
    "on a buffer record": (BUFFER_RECORD, BYTE, 8, SHUFFLED_RECORDS_FLAG),
    "on the end record": (END_RECORD, BIT, 8, SHUFFLED_RECORDS_FLAG),
    "both filters": (ARRAY_RECORD, BYTE | BIT, 8, SHUFFLED_RECORDS_FLAG),
    "with the changed flag": (ARRAY_RECORD, BYTE | 1, 8, SHUFFLED_RECORDS_FLAG),
    "element size 0": (ARRAY_RECORD, BYTE, 0, SHUFFLED_RECORDS_FLAG),
    "element size 1": (ARRAY_RECORD, BIT, 1, SHUFFLED_RECORDS_FLAG),
    "element size 4097": (ARRAY_RECORD, BYTE, 4097, SHUFFLED_RECORDS_FLAG),
    "element size 2**32-1": (ARRAY_RECORD, BIT, 2**32 - 1, SHUFFLED_RECORDS_FLAG),
    "not announced by the stream": (ARRAY_RECORD, BYTE, 8, 0),
}


@pytest.mark.parametrize("entry", ["load", "safe", "info", "untrusted_types"])
@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_filter_a_record_cannot_have_is_damage(
    case: str, entry: str, forged: Callable[..., bytes]
) -> None:
    kind, flags, element_size, stream_flags = DAMAGED[case]
    stream = io.BytesIO(forged(kind, flags, element_size, stream_flags=stream_flags))
    read = {
        "load": brinery.load,
        "safe": lambda source: brinery.load(source, trusted=[]),
        "info": inspect_file,
        "untrusted_types": brinery.untrusted_types,
    }[entry]
    message = r"the record header at byte \d+ of the data is damaged: it declares a filter it"
    with pytest.raises(brinery.CorruptFileError, match=message):
        read(stream)


@pytest.mark.parametrize("element_size", [2, 4, 16])
def test_an_element_size_that_is_not_the_arrays_is_damage(
    element_size: int, forged: Callable[..., bytes]
) -> None:
    """The reference reader requires the element size of the dtype that claims the record."""
    stream = forged(ARRAY_RECORD, BYTE, element_size)
    for kwargs in ({}, {"trusted": []}):
        with pytest.raises(
            brinery.CorruptFileError,
            match=rf"asks for an array of 8-byte items, but the next record in the data was "
            rf"filtered \(byte shuffle\) as {element_size}-byte elements",
        ):
            brinery.load(io.BytesIO(stream), **kwargs)


class _StoringCodec(brinery.Compressor):
    """A codec whose frames are the data as given, handed back as the very view it was given
    (a third-party codec may do that): what it returns must not be overwritten afterwards."""

    framing = brinery.Framing(frame_size=1 << 16)

    def compress_frame(self, level: int, data: Any) -> tuple[Any, ...]:
        return (b"F", data)


class _SlowSink(io.BytesIO):
    """A file slow to write, so compression threads run ahead of the writing thread."""

    def write(self, data: Any, /) -> int:
        time.sleep(0.002)
        return super().write(data)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_codec_keeping_the_transformed_view_gets_memory_of_its_own(threads: int) -> None:
    """Compression threads filter each frame into a scratch buffer reused frame after frame,
    unless the codec gave back something other than new ``bytes``."""
    from brinery.streams.frame_writer import FrameWriter

    def negated(frame: Any, out: np.ndarray) -> memoryview:
        np.subtract(255, np.frombuffer(frame, np.uint8), out=out)
        return out.data

    positions = np.arange(10 << 16)
    data = (positions + positions // (1 << 16)).astype(np.uint8)  # ten frames, all different
    sink = _SlowSink()
    writer = FrameWriter(sink, _StoringCodec(), 0, threads=threads)
    writer.write_transformed(data, negated)
    writer.close()
    stored = sink.getvalue()
    expected = b"".join(
        b"F" + (255 - data[start : start + (1 << 16)]).tobytes()
        for start in range(0, data.size, 1 << 16)
    )
    assert stored == expected
