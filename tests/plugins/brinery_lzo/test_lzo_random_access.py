"""``brinery.open`` on lzo files: the end record's own block leads to the index.

lzop has no place after its end marker that ``lzop -d`` passes over silently, so an indexed lzo
file carries no locator: its end record is compressed as a block of its own, the last, which
the plugin's finder (``LastBlockFinder``) finds from the end of the file, and the core checks
(docs/format.md, section 3, "Locators").  From there the index lists the frames, which are
decompressed alone between the file's header and the end marker.

The attacker here has read the format and recomputes every CRC-32: the damage is built into
well-formed lzop blocks (``compress_blocks``), so only brinery's own checks can refuse it.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.format import index as index_format
from brinery.format.layout import END_LOCATOR, END_RECORD, RECORD_HEADER
from brinery.testing import CountingFile, assert_same, find_tool, run_python, run_tool

pytest.importorskip("lzo")
pytest.importorskip("brinery_lzo", reason="brinery-lzo is not installed")
lzop_format = pytest.importorskip("brinery_lzo.lzop_format")

END_SIZE = RECORD_HEADER.size + END_LOCATOR.size  # lzo files carry no brinery checksums
HEADER_SIZE = 38
#: The last block: lengths, CRC-32 of the data, [CRC-32 of the compressed data], data.
LENGTHS = struct.Struct(">II")


def _value() -> dict[str, Any]:
    rng = np.random.default_rng(17)
    value: dict[str, Any] = {
        f"array{number}": rng.integers(0, 60, 300_000 + 20_000 * number).astype(np.float64)
        for number in range(6)
    }
    value["small"] = {"name": "x", "numbers": [1, 2.5, None]}
    return value


VALUE = _value()
_FILES: dict[bool, bytes] = {}


def _dumped(index: bool = True) -> bytes:
    if index not in _FILES:
        buffer = io.BytesIO()
        brinery.dump(VALUE, buffer, compress="lzo", index=index)
        _FILES[index] = buffer.getvalue()
    return _FILES[index]


def _stream(data: bytes) -> bytes:
    """What the file decompresses to, by the plugin's own reader."""
    decompressor = lzop_format.LzopDecompressor()
    out = decompressor.decompress(data)
    while not decompressor.eof:
        out += decompressor.decompress(b"")
    return out


def _last_block_start(data: bytes) -> int:
    return lzop_format.LastBlockFinder().find(data, END_SIZE)  # type: ignore[no-any-return]


def _end_offsets(data: bytes) -> tuple[int, int]:
    """The end record's two offsets: the index record's stream offset, its frame's."""
    end = _stream(data)[-END_SIZE:]
    assert end[0] == END_RECORD
    index_offset, index_frame = END_LOCATOR.unpack_from(end, RECORD_HEADER.size)
    return int(index_offset), int(index_frame)


def _with_end(data: bytes, index_offset: int, index_frame: int) -> bytes:
    """``data`` with its end record saying other offsets, its block's CRC-32s recomputed."""
    end = RECORD_HEADER.pack(END_RECORD, 0, 0, 0, END_LOCATOR.size)
    end += END_LOCATOR.pack(index_offset, index_frame)
    block = lzop_format.compress_blocks(end, 1)
    return data[: _last_block_start(data)] + block + lzop_format.END_MARKER


# -- reading at random -------------------------------------------------------------------------


def test_entries_and_slices_read_only_their_frames() -> None:
    data = _dumped()
    file = CountingFile(data)
    with brinery.open(file) as opened:
        assert opened.index is not None
        assert opened.keys() == list(VALUE)
        assert file.bytes_read < 8192  # the first read (4 KiB), the last two blocks
        before = file.bytes_read
        assert_same(opened["array3"], VALUE["array3"])
        assert file.bytes_read - before < len(data) // 3
        before = file.bytes_read
        rows = opened.array('["array5"]')[2000:2100]
        np.testing.assert_array_equal(rows, VALUE["array5"][2000:2100])
        assert file.bytes_read - before < len(data) // 4
        loaded = brinery.load(io.BytesIO(data))
        for key in VALUE:
            assert_same(opened[key], loaded[key])
        assert_same(opened.load(), loaded)


def test_a_path_opens_at_random(tmp_path: Path) -> None:
    path = tmp_path / "value.pkl.lzo"
    path.write_bytes(_dumped())
    with brinery.open(path) as opened:
        assert opened.index is not None
        assert_same(opened["small"], VALUE["small"])
        np.testing.assert_array_equal(opened.array('["array0"]')[-3:], VALUE["array0"][-3:])


def test_the_file_ends_with_the_end_record_alone_in_a_block() -> None:
    """lengths (the end record's 32 bytes, stored: LZO cannot shrink them), its CRC-32, the
    end record, the end marker; the index record's frame ends right before that block."""
    data = _dumped()
    start = len(data) - 4 - END_SIZE - LENGTHS.size - 4
    assert _last_block_start(data) == start
    assert LENGTHS.unpack_from(data, start) == (END_SIZE, END_SIZE)
    end = data[start + 12 : start + 12 + END_SIZE]
    assert struct.unpack_from(">I", data, start + 8)[0] == zlib.crc32(end)
    assert data[-4:] == bytes(4)
    assert end[0] == END_RECORD
    index_offset, index_frame = END_LOCATOR.unpack_from(end, RECORD_HEADER.size)
    stream = _stream(data)
    assert stream[index_offset] == ord("X")
    assert stream[-END_SIZE:] == end
    assert HEADER_SIZE < index_frame < start
    # The blocks from the index record's frame to the last decompress to the index record.
    rest = lzop_format.LzopDecompressor().decompress(
        data[:HEADER_SIZE] + data[index_frame:start] + lzop_format.END_MARKER
    )
    assert rest == stream[index_offset:-END_SIZE]


def test_lzop_reads_the_indexed_file_silently(tmp_path: Path) -> None:
    tool = find_tool("lzop")
    path = tmp_path / "value.lzo"
    path.write_bytes(_dumped())
    done = subprocess.run([tool, "-t", "-q", str(path)], capture_output=True, check=False)
    assert (done.returncode, done.stderr) == (0, b"")
    assert run_tool([tool, "-dc", str(path)]) == _stream(_dumped())


def test_an_unindexed_file_or_one_lzop_wrote_is_read_through() -> None:
    """Without the end record's own block (an unindexed file; the same stream compressed by
    lzop, whose last block holds the index record's end too, and whose checks are Adler-32),
    nothing is found from the end: the file is read through."""
    for data in (_dumped(index=False), run_tool([find_tool("lzop"), "-c"], _stream(_dumped()))):
        assert _last_block_start(data) is None
        with brinery.open(io.BytesIO(data)) as opened:
            assert opened.index is None
            assert_same(opened["array2"], VALUE["array2"])


def test_the_finder_finds_a_compressed_last_block() -> None:
    """A writer whose last block LZO did shrink: its compressed data's CRC-32 leads there."""
    end = bytes(END_SIZE)  # (zeros: LZO shrinks them)
    block = lzop_format.compress_blocks(end, 1)
    assert LENGTHS.unpack_from(block)[1] < END_SIZE
    data = b"\x89LZO" + bytes(50) + block + lzop_format.END_MARKER
    assert lzop_format.LastBlockFinder().find(data, END_SIZE) == 54
    assert lzop_format.LastBlockFinder().find(data[1:], END_SIZE) == 53
    assert lzop_format.LastBlockFinder().find(data[:-1], END_SIZE) is None
    assert lzop_format.LastBlockFinder().find(data, END_SIZE + 8) is None


# -- a hostile end -----------------------------------------------------------------------------


def test_an_end_record_saying_the_wrong_places_is_refused() -> None:
    data = _dumped()
    index_offset, index_frame = _end_offsets(data)
    last = _last_block_start(data)
    cases = {
        "in the header": (_with_end(data, index_offset, 10), "outside the compressed data"),
        "the last block": (_with_end(data, index_offset, last), "not start with the index"),
        "past the end": (_with_end(data, index_offset, len(data) + 9), "outside"),
        "no block start": (_with_end(data, index_offset, index_frame + 3), "lzo"),
        "an earlier block": (_with_end(data, index_offset, index_frame - 1), "lzo"),
        "another index offset": (_with_end(data, index_offset + 8, index_frame), "index"),
        "a huge index offset": (_with_end(data, 1 << 62, index_frame), "index"),
    }
    for what, (damaged, message) in cases.items():
        assert _last_block_start(damaged) == last, what
        with pytest.raises(brinery.CorruptFileError, match=message):
            brinery.open(io.BytesIO(damaged))


def _compressed_block(uncompressed: int, payload: bytes) -> bytes:
    """A block declaring ``uncompressed`` bytes, holding ``payload`` as LZO data, its
    compressed data's CRC-32 right (what the finder checks; the data's is 0)."""
    return LENGTHS.pack(uncompressed, len(payload)) + struct.pack(
        ">II", 0, zlib.crc32(payload)
    ) + payload


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(_compressed_block(END_SIZE, bytes(range(20))), id="not-lzo"),
        pytest.param(_compressed_block(END_SIZE, b"\x11\x00\x00"), id="nothing"),
        pytest.param(
            lzop_format.compress_blocks(b"P" + bytes(END_SIZE - 1), 1), id="another-record"
        ),
    ],
)
def test_a_last_block_that_is_not_the_end_record_is_refused(block: bytes) -> None:
    """A last block the finder takes (its lengths and CRC-32 agree) that does not decompress,
    or not to the end record, is damage: refused on open."""
    data = _dumped()
    last = _last_block_start(data)
    damaged = data[:last] + block + lzop_format.END_MARKER
    assert _last_block_start(damaged) == last
    with pytest.raises(brinery.CorruptFileError, match="lzo"):
        brinery.open(io.BytesIO(damaged))


HUGE_FRAME = """
import io, resource
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import brinery

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

data = open(sys.argv[1], "rb").read()
before = peak()
try:
    with brinery.open(io.BytesIO(data)) as opened:
        opened["array1"]
except BaseException as caught:
    print(type(caught).__name__, "|", caught)
print((peak() - before) // 1024)
"""


def test_an_index_declaring_a_frame_of_a_gigabyte_allocates_nothing(tmp_path: Path) -> None:
    """The index (rewritten, with the end record and every CRC-32 to match) says the stream
    holds one frame of almost 1 GiB, where the file holds a few MB: opening and reading an
    entry in a child limited to 1 GiB of address space refuses it without allocating it."""
    data = _dumped()
    index_offset, index_frame = _end_offsets(data)
    stream = _stream(data)
    index = index_format.decode(stream[index_offset + 16 : -END_SIZE], index_offset)
    huge = (1 << 30) - 4096
    parts = list(index.parts)
    parts[-1] = parts[-1]._replace(end=huge)
    frame = index_format.FrameEntry(0, HEADER_SIZE, index_frame - HEADER_SIZE)
    payload = index_format.encode(index._replace(parts=tuple(parts), frames=(frame,)))
    head = RECORD_HEADER.pack(ord("X"), 0, 0, 0, len(payload))
    end = RECORD_HEADER.pack(END_RECORD, 0, 0, 0, END_LOCATOR.size)
    end += END_LOCATOR.pack(huge, index_frame)
    hostile = (
        data[:index_frame]
        + lzop_format.compress_blocks(head + payload, 1)
        + lzop_format.compress_blocks(end, 1)
        + lzop_format.END_MARKER
    )
    path = tmp_path / "hostile.lzo"
    path.write_bytes(hostile)
    done = run_python(HUGE_FRAME.replace("sys.argv[1]", repr(str(path))))
    error, grew = done.stdout.splitlines()
    assert error.startswith("CorruptFileError | lzo frame 0"), error
    assert int(grew) < 64, f"the process grew by {grew} MiB"


def test_the_finder_never_fails_on_any_tail() -> None:
    """Random tails, and tails of the real file with one byte changed: ``find`` returns None
    or a start whose block lengths and CRC-32 agree, and never raises."""
    finder = lzop_format.LastBlockFinder()
    rng = np.random.default_rng(23)
    tail = _dumped()[-finder.span(END_SIZE) :]
    tails = [rng.bytes(int(size)) + bytes(4) for size in rng.integers(0, 80, 300)]
    for offset in range(len(tail)):
        for mask in (0x01, 0xFF):
            changed = bytearray(tail)
            changed[offset] ^= mask
            tails.append(bytes(changed))
    found = 0
    for candidate in tails:
        for size in (0, 1, END_SIZE, END_SIZE + 8, 1 << 20):
            start = finder.find(candidate, size)
            if start is None:
                continue
            found += 1
            dst, src = LENGTHS.unpack_from(candidate, start)
            assert dst == size
            assert 0 < src <= size
            check = struct.unpack_from(">I", candidate, len(candidate) - 8 - src)[0]
            assert check == zlib.crc32(candidate[len(candidate) - 4 - src : -4])
    assert found > 0  # (the flips outside the last block leave it found)
