"""``brinery.open`` at random in indexed gzip, zlib, xz and bz2 files (no seek table).

gzip and zlib files end with a locator (an empty gzip member with an FEXTRA subfield ``BR``, a
24-byte zlib trailer); xz and bz2 files are walked back from their end (docs/format.md,
section 3, "Locators").  Each entry loads as ``load`` builds it, reading a fraction of the file;
two dumps in one file object still load one after the other; the standard tools still
decompress the files exactly; unindexed files have no locator.

Damage, as decided (docs/format.md, section 3): a locator that has its exact shape but says
something wrong (its own place, the index record's frame) is refused, on ``open`` and on
``load``; a file that does not end with one (cut short, an older file) opens by reading through,
and loading it then says what is wrong.  xz: a damaged last footer is refused on ``open``; bz2: a
damaged last stream is no stream start, so the file is read through (and loading fails).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC
from brinery.testing import CountingFile, assert_same

CODECS = ["gzip", "zlib", "xz", "bz2"]
TOOLS = {"gzip": ["gzip", "-dc"], "xz": ["xz", "-dc"], "bz2": ["bzip2", "-dc"]}
PYTHON = {"gzip": gzip.decompress, "xz": lzma.decompress, "bz2": bz2.decompress}


def _value() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    value: dict[str, Any] = {
        f"array{number}": rng.integers(0, 50, (1_200_000 + number * 150_000) // 8).astype(
            np.float64
        )
        for number in range(6)
    }
    value["small"] = {"name": "x", "numbers": [1, 2.5, None]}
    return value


VALUE = _value()


_DUMPS: dict[tuple[str, bool], bytes] = {}


def _dumped(codec: str, index: bool = True) -> bytes:
    key = (codec, index)
    if key not in _DUMPS:
        buffer = io.BytesIO()
        brinery.dump(VALUE, buffer, compress=codec, index=index)
        _DUMPS[key] = buffer.getvalue()
    return _DUMPS[key]


def _locator(codec: str) -> Any:
    return brinery.compressors()[codec].framing.locator


@pytest.mark.parametrize("codec", CODECS)
def test_entries_are_read_at_random(codec: str) -> None:
    data = _dumped(codec)
    file = CountingFile(data)
    with brinery.open(file) as opened:
        assert opened.index is not None
        assert opened.keys() == list(VALUE)
        assert file.bytes_read < len(data) // 8  # (the header's frame start, the index's end)
        before = file.bytes_read
        assert_same(opened["array3"], VALUE["array3"])
        assert file.bytes_read - before < len(data) // 3  # its frames, not the others'
        before = file.bytes_read
        rows = opened.array('["array4"]')[1000:1010]
        np.testing.assert_array_equal(rows, VALUE["array4"][1000:1010])
        assert file.bytes_read - before < len(data) // 3
        loaded = brinery.load(io.BytesIO(data))
        for key in VALUE:
            assert_same(opened[key], loaded[key])
        assert_same(opened.load(), loaded)


@pytest.mark.parametrize("codec", CODECS)
def test_a_path_opens_at_random(codec: str, tmp_path: Path) -> None:
    path = tmp_path / "value.brn"
    path.write_bytes(_dumped(codec))
    with brinery.open(path) as opened:
        assert opened.index is not None
        assert_same(opened["small"], VALUE["small"])
        np.testing.assert_array_equal(opened.array('["array0"]')[-3:], VALUE["array0"][-3:])


@pytest.mark.parametrize("codec", CODECS)
def test_two_dumps_in_one_file_load_one_after_the_other(codec: str) -> None:
    buffer = io.BytesIO()
    brinery.dump(VALUE, buffer, compress=codec)
    first_end = buffer.tell()
    brinery.dump({"second": 2}, buffer, compress=codec)
    buffer.seek(0)
    assert_same(brinery.load(buffer), VALUE)
    assert buffer.tell() == first_end  # (past the first's locator, exactly)
    assert brinery.load(buffer) == {"second": 2}
    assert buffer.tell() == len(buffer.getvalue())


@pytest.mark.parametrize("codec", ["gzip", "zlib"])
def test_the_locator_ends_an_indexed_file_only(codec: str) -> None:
    locator = _locator(codec)
    indexed, unindexed = _dumped(codec), _dumped(codec, index=False)
    index_frame, own = locator.parse(indexed[-locator.size :])
    assert own == len(indexed) - locator.size
    assert 0 < index_frame < own
    assert locator.parse(unindexed[-locator.size :]) is None
    # The unindexed file is its frames and nothing else: each decodes to data, none is empty.
    data = unindexed
    frames = 0
    while data:
        decompressor = zlib.decompressobj(31 if codec == "gzip" else 15)
        assert decompressor.decompress(data)
        assert decompressor.eof
        data = decompressor.unused_data
        frames += 1
    assert frames >= 2
    with brinery.open(io.BytesIO(unindexed)) as opened:
        assert opened.index is None
        assert_same(opened["array1"], VALUE["array1"])


def test_gzip_locator_layout() -> None:
    """42 bytes: a gzip header with FEXTRA, XLEN 20, subfield B R of 16 bytes (the index
    record's frame, the member's own offset), an empty fixed-Huffman block, CRC32 0, ISIZE 0."""
    data = _dumped("gzip")
    member = data[-42:]
    assert member[:16] == bytes.fromhex("1f8b0804000000000 0ff14004252 1000".replace(" ", ""))
    assert member[32:] == bytes.fromhex("0300 00000000 00000000".replace(" ", ""))
    assert int.from_bytes(member[24:32], "little") == len(data) - 42
    assert gzip.decompress(member) == b""


def test_zlib_trailer_layout() -> None:
    data = _dumped("zlib")
    trailer = data[-24:]
    assert trailer[:8] == b"BRLOC\x01\x00\x00"
    assert int.from_bytes(trailer[16:], "little") == len(data) - 24


@pytest.mark.parametrize("codec", ["gzip", "xz", "bz2"])
def test_the_tools_still_decompress_the_file_exactly(codec: str, tmp_path: Path) -> None:
    data = _dumped(codec)
    stream = PYTHON[codec](data)
    assert stream[:8] == STREAM_MAGIC
    assert_same(brinery.load(io.BytesIO(stream)), VALUE)
    command = TOOLS[codec]
    if shutil.which(command[0]) is None:
        pytest.skip(f"the {command[0]} command-line tool is not installed")
    path = tmp_path / "value.bin"
    path.write_bytes(data)
    result = subprocess.run([*command, str(path)], capture_output=True, check=False)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == stream


# -- damage ------------------------------------------------------------------------------------


def _patched(data: bytes, offset: int, value: int) -> bytes:
    patched = bytearray(data)
    patched[offset : offset + 8] = value.to_bytes(8, "little")
    return bytes(patched)


@pytest.mark.parametrize("codec", ["gzip", "zlib"])
def test_a_locator_saying_the_wrong_place_is_refused(codec: str) -> None:
    locator = _locator(codec)
    data = _dumped(codec)
    own = len(data) - locator.size
    at = len(locator.prefix)  # the index record's frame, then the locator's own offset
    index_frame, _ = locator.parse(data[own:])
    cases = {
        "its own place": (_patched(data, own + at + 8, own + 1), "says it lies at byte"),
        "a frame past it": (_patched(data, own + at, own + 5), "outside the compressed data"),
        "no frame start": (_patched(data, own + at, index_frame + 3), f"byte {index_frame + 3}"),
        "an earlier frame": (_patched(data, own + at, index_frame - 1), "byte"),
    }
    for what, (damaged, message) in cases.items():
        with pytest.raises(brinery.CorruptFileError, match=message):
            brinery.open(io.BytesIO(damaged))
        if what != "no frame start" and what != "an earlier frame":
            with pytest.raises(brinery.CorruptFileError):
                brinery.load(io.BytesIO(damaged))


@pytest.mark.parametrize("codec", ["gzip", "zlib"])
@pytest.mark.parametrize("cut", [1, 10, 30])
def test_a_cut_locator_reads_through_and_load_says_it_is_cut(codec: str, cut: int) -> None:
    data = _dumped(codec)[:-cut]
    with brinery.open(io.BytesIO(data)) as opened:
        assert opened.index is None  # (no locator at the end: read through on first use)
        with pytest.raises(brinery.TruncatedFileError, match="ends in the middle of"):
            opened.load()


def test_a_damaged_xz_footer_is_refused() -> None:
    data = bytearray(_dumped("xz"))
    data[-5] ^= 0x01  # (the backward size, which the footer's CRC32 covers)
    with pytest.raises(brinery.CorruptFileError, match=r"xz stream footer .* damaged"):
        brinery.open(io.BytesIO(bytes(data)))


def test_a_damaged_xz_index_is_refused() -> None:
    data = bytearray(_dumped("xz"))
    data[-14] ^= 0x01  # (the last byte of the index's CRC32)
    with pytest.raises(brinery.CorruptFileError, match=r"xz index .* damaged"):
        brinery.open(io.BytesIO(bytes(data)))


def test_a_bz2_file_whose_last_stream_is_damaged_reads_through() -> None:
    data = bytearray(_dumped("bz2"))
    data[-30] ^= 0x10  # (inside the last stream: it no longer decompresses)
    with brinery.open(io.BytesIO(bytes(data))) as opened:
        assert opened.index is None
        with pytest.raises(brinery.CorruptFileError):
            opened.load()


def test_a_bz2_file_with_data_after_it_reads_through() -> None:
    data = _dumped("bz2") + b"after"
    with brinery.open(io.BytesIO(data)) as opened:
        assert opened.index is None
        assert_same(opened["small"], VALUE["small"])


@pytest.mark.parametrize("codec", ["lzma", "xz", "bz2", "gzip"])
def test_files_without_a_locator_read_through(codec: str) -> None:
    data = _dumped(codec) if codec == "lzma" else _dumped(codec, index=False)
    with brinery.open(io.BytesIO(data)) as opened:
        assert opened.index is None
        assert_same(opened["array2"], VALUE["array2"])


@pytest.mark.parametrize("codec", ["gzip", "zlib"])
def test_a_file_without_its_locator_is_an_older_file(codec: str, tmp_path: Path) -> None:
    """Cut right before its locator, an indexed gzip or zlib file is what brinery wrote before
    locators: whole, it loads (from a path too: nothing follows), and opens by reading through."""
    data = _dumped(codec)[: -_locator(codec).size]
    path = tmp_path / "older.bin"
    path.write_bytes(data)
    assert_same(brinery.load(path), VALUE)
    with brinery.open(path) as opened:
        assert opened.index is None
        assert_same(opened["array5"], VALUE["array5"])


def test_bz2_search_passes_over_false_starts() -> None:
    """Searching back, a stream start's magic that is no stream (it does not decompress, or
    its stream ends before the end) is passed over, not taken for damage."""
    from brinery.random_access import locate

    first, second = bz2.compress(b"first " * 100), bz2.compress(b"second " * 100)
    junk = b"BZh91AY&SY" + bytes(40)
    data = first + second + junk
    reader = locate._Reader(io.BytesIO(data), 0, len(data), brinery.compressors()["bz2"])
    assert locate._bz2_stream_before(reader, len(data), 1 << 20) is None
    end = len(first) + len(second)
    assert locate._bz2_stream_before(reader, end, 1 << 20) == (len(first), b"second " * 100)
    assert locate._bz2_stream_before(reader, len(first), 1 << 20) == (0, b"first " * 100)
    assert locate._bz2_stream_before(reader, end - 1, 1 << 20) is None


@pytest.mark.parametrize("codec", CODECS)
def test_small_frames_end_records_across_streams(codec: str) -> None:
    """With frames of a few hundred bytes, the index and end records span many frames, and
    the last may hold only part of the end record: the walk back goes as far as it takes."""
    from brinery.testing import frame_size

    value = {f"key{number}": list(range(number * 10)) for number in range(40)}
    tails = set()
    for size in range(300, 340):
        with frame_size(codec, size):
            buffer = io.BytesIO()
            brinery.dump(value, buffer, compress=codec)
        with brinery.open(io.BytesIO(buffer.getvalue())) as opened:
            assert opened.index is not None
            assert opened["key39"] == value["key39"]
            tails.add((len(opened._access._tail) % size) < 40)  # (the last frame's share)
    assert tails == {True, False}


# -- every flip and every cut, opened ----------------------------------------------------------


def _small_frames_file(codec: str) -> bytes:
    """The kit's framed sample in 1 KiB frames: the locator, the walk back and the frames the
    index lists all lie within a thousand bytes or so."""
    from brinery.testing import dumps, frame_size, framed_sample

    with frame_size(codec, 1024):
        return dumps(framed_sample(), compress=codec)


@pytest.mark.parametrize("codec", [*CODECS, "lzma"])
def test_every_flip_of_an_opened_file_is_refused_or_harmless(codec: str) -> None:
    """As the plugin contract's loop (CodecContract): each byte flipped, opening the file and
    reading every entry and a slice raise brinery's errors or give the intact values."""
    from brinery.testing import framed_sample, wrong_when_opened

    data = _small_frames_file(codec)
    wrong = {}
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        found = wrong_when_opened(bytes(damaged), framed_sample())
        if found:
            wrong[offset] = found
    assert wrong == {}


@pytest.mark.parametrize("codec", [*CODECS, "lzma"])
def test_every_cut_of_an_opened_file_is_refused_or_read_through(codec: str) -> None:
    from brinery.testing import framed_sample, wrong_when_opened

    data = _small_frames_file(codec)
    with brinery.open(io.BytesIO(data)) as opened:
        assert (opened.index is not None) == (codec != "lzma")
    wrong = {
        length: found
        for length in range(1, len(data))
        if (found := wrong_when_opened(data[:length], framed_sample()))
    }
    assert wrong == {}
