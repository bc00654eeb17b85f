"""Seek tables (docs/format.md, section 3, "Seek tables"): the zstd seekable format's table,
encoded and parsed (hostile tables refused, by number), the frame writer's frame list and table,
and the frame reader reading a table after a stream's last frame.

No plugin is needed: a zlib codec whose frames are hinted as zstd's and LZ4's are
(:class:`HintedZlib`) stands for them; tests/plugins/test_seek_table_tools.py does the same
with zstd and LZ4, their command-line tools and whole dumps.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest

import brinery
from brinery.codec_adapters import ZlibStyleDecompressor
from brinery.framing import SKIPPABLE_FRAME_HINTS, Framing
from brinery.streams import seek_table
from brinery.streams.frame_reader import FrameReader
from brinery.streams.frame_writer import FrameEntry, FrameWriter
from brinery.streams.source import Source
from brinery.testing import run_python

#: A hint's length: brinery's skippable frame before every frame but the first.
HINT_BYTES = 28
FRAME = 4096


class HintedZlib(brinery.Compressor):
    """zlib frames of 4 KiB with brinery's frame hints between them (never registered)."""

    name = "hintedzlib"
    magic = b"\x78\x5e"
    levels = range(10)
    default_level = 3
    errors = (zlib.error,)
    framing = Framing(frame_size=FRAME, hints=SKIPPABLE_FRAME_HINTS)

    def new_compressor(self, level: int) -> Any:
        return zlib.compressobj(level)

    def new_decompressor(self) -> Any:
        return ZlibStyleDecompressor(15)


class HeaderedZlib(HintedZlib):
    """The same, with a 5-byte container header before the first frame."""

    name = "headeredzlib"
    framing = Framing(frame_size=FRAME, hints=SKIPPABLE_FRAME_HINTS, header=lambda level: b"HEAD!")


def _data(size: int) -> bytes:
    """Compressible but not trivial bytes, different in every frame."""
    return b"".join(f"{number:08d} ".encode() * 7 for number in range(size // 63 + 1))[:size]


def _write(
    compressor: brinery.Compressor,
    pieces: list[bytes],
    *,
    threads: int = 1,
    seek_table_: bool = True,
    frames_after: int | None = None,
) -> tuple[bytes, list[FrameEntry]]:
    """The file ``pieces`` make through a FrameWriter, and what ``frames_so_far`` returned
    after piece ``frames_after`` (the last call's, with [] if none)."""
    sink = io.BytesIO()
    writer = FrameWriter(sink, compressor, 3, threads=threads, seek_table=seek_table_)
    entries: list[FrameEntry] = []
    for number, piece in enumerate(pieces):
        writer.write(piece)
        if number == frames_after:
            entries = writer.frames_so_far()
    writer.close()
    return sink.getvalue(), entries


def _sizes(table: seek_table.SeekTable) -> list[tuple[int, int]]:
    """The (compressed, decompressed) sizes ``table`` lists."""
    return [(frame.compressed_size, frame.decompressed_size) for frame in table]


def _table_at_end(data: bytes) -> seek_table.SeekTable:
    """The seek table ending ``data``, found from its end as a random-access reader would."""
    length = seek_table.table_length(data[-seek_table.FOOTER.size :])
    assert length is not None, "no seek table at the end"
    return seek_table.parse(data[-length:], len(data) - length)


# -- the table: encoded, parsed --------------------------------------------------------------


def test_a_table_round_trips_with_cumulative_offsets() -> None:
    frames = [(100, 4096), (28, 0), (70, 4096), (28, 0), (9, 5)]
    table = seek_table.encode(frames)
    assert len(table) == 8 + 8 * len(frames) + 9
    assert table[:4] == bytes.fromhex("5e2a4d18")
    assert table[-4:] == bytes.fromhex("b1ea928f")
    assert seek_table.footer_entries(table[-9:]) == len(frames)
    assert seek_table.table_length(table[-9:]) == len(table)
    parsed = seek_table.parse(table, 235)
    assert len(parsed) == len(frames)
    assert (parsed.offset, parsed.length, parsed.decompressed_size) == (235, len(table), 8197)
    assert list(parsed) == [parsed[index] for index in range(len(frames))]
    assert [tuple(frame) for frame in parsed] == [
        (0, 100, 0, 4096),
        (100, 28, 4096, 0),
        (128, 70, 4096, 4096),
        (198, 28, 8192, 0),
        (226, 9, 8192, 5),
    ]


def test_frame_holding_never_names_a_hint() -> None:
    parsed = seek_table.parse(seek_table.encode([(10, 4), (28, 0), (10, 4), (28, 0), (9, 1)]), 85)
    assert [parsed.frame_holding(offset) for offset in range(9)] == [0] * 4 + [2] * 4 + [4]
    with pytest.raises(IndexError):
        parsed.frame_holding(9)


def test_an_empty_table_lists_nothing() -> None:
    parsed = seek_table.parse(seek_table.encode([]), 0)
    assert (len(parsed), parsed.decompressed_size) == (0, 0)


@pytest.mark.parametrize("frame", [(1 << 32, 0), (0, 1 << 32), (-1, 0)])
def test_a_size_the_format_cannot_hold_is_refused(frame: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="each must be at least 0 and less than 2\\*\\*32"):
        seek_table.encode([(5, 5), frame])


def test_a_checksummed_table_of_another_tool_parses() -> None:
    """Descriptor bit 7: 12-byte entries (sizes, then an XXH64's low 32 bits), not verified;
    bits 1-0 are unused and ignored."""
    entries = struct.pack("<III", 50, 1000, 0xDEADBEEF) + struct.pack("<III", 40, 7, 0x12345678)
    footer = struct.pack("<IBI", 2, 0x80 | 0x03, 0x8F92EAB1)
    table = struct.pack("<II", 0x184D2A5E, len(entries) + len(footer)) + entries + footer
    assert seek_table.table_length(footer) == len(table) == 8 + 24 + 9
    parsed = seek_table.parse(table, 90)
    assert [tuple(frame) for frame in parsed] == [(0, 50, 0, 1000), (50, 40, 1000, 7)]


def test_table_frames_makes_hints_and_a_header_frames_of_size_zero() -> None:
    entries = [FrameEntry(0, 5, 100), FrameEntry(4096, 133, 70), FrameEntry(8192, 231, 9)]
    assert seek_table.table_frames(entries, 8197) == [
        (5, 0),
        (100, 4096),
        (28, 0),
        (70, 4096),
        (28, 0),
        (9, 5),
    ]


# -- hostile tables ----------------------------------------------------------------------------

GOOD = seek_table.encode([(100, 4096), (28, 0), (70, 4096)])
GOOD_OFFSET = 198


def _with(table: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """``table`` with ``values`` packed at ``offset`` (negative: from the end)."""
    packed = struct.pack(fmt, *values)
    start = offset % len(table)
    return table[:start] + packed + table[start + len(packed) :]


HOSTILE = {
    "too-short": (GOOD[:16], "a seek table takes at least 17 bytes, this one 16"),
    "cut-footer": (GOOD[:-1], "frame size field says 33 bytes, where the table holds 32"),
    "another-magic": (_with(GOOD, 0, "<I", 0x184D2A5B), "does not start with its skippable"),
    "frame-size-field": (
        _with(GOOD, 4, "<I", 40),
        "frame size field says 40 bytes, where the table holds 33",
    ),
    "no-seekable-magic": (_with(GOOD, -4, "<I", 0x8F92EAB2), "does not end with the seekable"),
    "count-beyond-table": (
        _with(GOOD, -9, "<I", 4),
        "footer declares 4 frames of 8 bytes each, a table of 49 bytes, where it holds 41",
    ),
    "count-below-table": (
        _with(GOOD, -9, "<I", 2),
        "footer declares 2 frames of 8 bytes each, a table of 33 bytes, where it holds 41",
    ),
    "count-over-maximum": (
        _with(GOOD, -9, "<I", 0x8000001),
        "footer declares 134217729 frames, more than the format allows \\(134217728\\)",
    ),
    "reserved-bit": (_with(GOOD, -5, "<B", 0x04), "descriptor has reserved bits set"),
    "checksum-flag-on-8-byte-entries": (
        _with(GOOD, -5, "<B", 0x80),
        "footer declares 3 frames of 12 bytes each, a table of 53 bytes",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_table_is_refused_saying_what_is_wrong(case: str) -> None:
    table, message = HOSTILE[case]
    with pytest.raises(brinery.CorruptFileError, match=message) as caught:
        seek_table.parse(table, GOOD_OFFSET)
    assert "\\x" not in str(caught.value)
    assert "b'" not in str(caught.value)


@pytest.mark.parametrize("offset", [0, GOOD_OFFSET - 1, GOOD_OFFSET + 1, 1 << 40])
def test_sizes_that_do_not_add_up_to_the_table_offset_are_refused(offset: int) -> None:
    with pytest.raises(
        brinery.CorruptFileError,
        match=f"the seek table's 3 frames take 198 compressed bytes, where {offset} come before",
    ):
        seek_table.parse(GOOD, offset)


def test_a_footer_is_recognised_by_its_magic_only() -> None:
    assert seek_table.footer_entries(GOOD[-8:]) is None  # (not 9 bytes)
    assert seek_table.footer_entries(b"\x00" * 9) is None
    assert seek_table.table_length(_with(GOOD, -4, "<I", 0x8F92EAB0)[-9:]) is None
    with pytest.raises(brinery.CorruptFileError, match="reserved bits"):
        seek_table.footer_entries(_with(GOOD, -5, "<B", 0x40)[-9:])


HUGE_COUNT = """
import resource, struct
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import brinery
from brinery.streams import seek_table

count = 0x8000000  # the most the format allows: 1 GiB of entries, none of them there
footer = struct.pack("<IBI", count, 0, 0x8F92EAB1)
footer_checksums = struct.pack("<IBI", count, 0x80, 0x8F92EAB1)
tables = [
    struct.pack("<II", 0x184D2A5E, 8 * count + 9) + footer,  # the frame size agrees
    struct.pack("<II", 0x184D2A5E, 9) + footer,  # the frame size is the bytes in hand
    struct.pack("<II", 0x184D2A5E, 9) + footer_checksums,
    struct.pack("<II", 0x184D2A5E, 8 * count + 9) + bytes(100) + footer,
]
assert seek_table.table_length(footer) == 8 + 8 * count + 9  # a number: nothing read
assert seek_table.table_length(footer_checksums) == 8 + 12 * count + 9
for table in tables:
    try:
        seek_table.parse(table, 0)
    except brinery.CorruptFileError as error:
        print(error)
    else:
        raise AssertionError("a table declaring 2**27 entries in a few bytes parsed")
"""


def test_a_huge_count_in_a_tiny_table_allocates_nothing() -> None:
    """In a child whose address space is 1 GiB: an allocation by the count (1 GiB of entries,
    4 GiB of offsets) would fail there with MemoryError, not refuse the table."""
    done = run_python(HUGE_COUNT, env={"BRINERY_LOAD_PLUGINS": ""})
    assert done.stdout.splitlines() == [
        "the seek table's frame size field says 1073741833 bytes, where the table holds 9 "
        "after its 8-byte header",
        "the seek table's footer declares 134217728 frames of 8 bytes each, a table of "
        "1073741841 bytes, where it holds 17",
        "the seek table's footer declares 134217728 frames of 12 bytes each, a table of "
        "1610612753 bytes, where it holds 17",
        "the seek table's frame size field says 1073741833 bytes, where the table holds 109 "
        "after its 8-byte header",
    ]


# -- the frame writer --------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 3])
def test_each_frame_listed_decompresses_alone_to_its_bytes(threads: int) -> None:
    data = _data(10 * FRAME + 1234)
    file, _ = _write(HintedZlib(), [data[:5000], data[5000:]], threads=threads)
    data_frames = [frame for frame in _table_at_end(file) if frame.decompressed_size]
    assert len(data_frames) == 11  # 10 of 4096 bytes, then 1234 (writes do not cut frames)
    for frame in data_frames:
        compressed = file[frame.compressed_offset :][: frame.compressed_size]
        expected = data[frame.decompressed_offset :][: frame.decompressed_size]
        assert zlib.decompress(compressed) == expected
    assert data_frames[-1].decompressed_offset + data_frames[-1].decompressed_size == len(data)


@pytest.mark.parametrize("threads", [1, 3])
def test_frames_so_far_lists_every_frame_written_and_ends_the_frame(threads: int) -> None:
    data = _data(5 * FRAME + 100)
    cut = 2 * FRAME + 777
    file, entries = _write(HintedZlib(), [data[:cut], data[cut:]], threads=threads, frames_after=0)
    assert [entry.uncompressed_offset for entry in entries] == [0, FRAME, 2 * FRAME]
    for entry, end in zip(entries, [FRAME, 2 * FRAME, cut], strict=True):
        compressed = file[entry.compressed_offset :][: entry.compressed_size]
        assert zlib.decompress(compressed) == data[entry.uncompressed_offset : end]
    # The next bytes start a frame of their own, after its hint.
    after = entries[-1].compressed_offset + entries[-1].compressed_size
    hint = SKIPPABLE_FRAME_HINTS.parse(file[after : after + 32])
    assert hint is not None
    assert hint.uncompressed_size == FRAME
    next_frame = file[after + HINT_BYTES :][: hint.compressed_size]
    assert zlib.decompress(next_frame) == data[cut : cut + FRAME]


def test_frames_so_far_is_the_same_with_one_thread_or_three() -> None:
    data = _data(9 * FRAME + 5)
    pieces = [data[:3000], data[3000 : 6 * FRAME], data[6 * FRAME :]]
    one = _write(HintedZlib(), pieces, threads=1, frames_after=1)
    three = _write(HintedZlib(), pieces, threads=3, frames_after=1)
    assert one == three
    assert len(one[1]) == 6


def test_the_seek_table_lists_hints_as_frames_of_size_zero_adding_up_to_its_offset() -> None:
    data = _data(3 * FRAME + 10)
    file, _ = _write(HintedZlib(), [data])
    table = _table_at_end(file)
    sizes = _sizes(table)
    assert len(sizes) == 7
    assert sizes[1::2] == [(HINT_BYTES, 0)] * 3
    assert [decompressed for _, decompressed in sizes[::2]] == [FRAME, FRAME, FRAME, 10]
    assert sum(compressed for compressed, _ in sizes) == table.offset == len(file) - table.length
    for index in range(1, 7, 2):  # each hint announces the frame after it
        hint = table[index]
        announced = SKIPPABLE_FRAME_HINTS.parse(file[hint.compressed_offset :][:32])
        assert announced is not None
        assert (announced.compressed_size, announced.uncompressed_size) == sizes[index + 1]


def test_a_framing_header_is_a_frame_of_size_zero_too() -> None:
    data = _data(FRAME + 10)
    file, entries = _write(HeaderedZlib(), [data], frames_after=0)
    assert file.startswith(b"HEAD!")
    assert entries[0] == FrameEntry(0, 5, entries[0].compressed_size)
    table = _table_at_end(file)
    assert (table[0].compressed_size, table[0].decompressed_size) == (5, 0)
    assert table.decompressed_size == len(data)


def test_the_table_is_all_the_option_adds() -> None:
    data = _data(3 * FRAME + 10)
    with_table, _ = _write(HintedZlib(), [data])
    without, _ = _write(HintedZlib(), [data], seek_table_=False)
    assert with_table[: len(without)] == without
    assert seek_table.footer_entries(without[-9:]) is None
    assert len(with_table) - len(without) == 8 + 7 * 8 + 9


def test_an_empty_stream_has_a_table_of_its_one_frame() -> None:
    file, _ = _write(HintedZlib(), [])
    table = _table_at_end(file)
    assert len(table) == 1
    assert (table[0].compressed_offset, table[0].decompressed_size) == (0, 0)


@pytest.mark.parametrize("codec", ["gzip", "zlib"])
def test_without_hints_the_option_adds_the_locator(codec: str) -> None:
    """gzip and zlib have no seek table: an indexed stream ends with their locator instead,
    which says where the frame after ``frames_so_far`` begins, and where it lies itself."""
    compressor = brinery.compressors()[codec]
    locator = compressor.framing.locator
    assert locator is not None
    data = _data(100_000)
    with_option, entries = _write(compressor, [data[:500], data[500:]], frames_after=0)
    without, _ = _write(compressor, [data[:500], data[500:]], seek_table_=False, frames_after=0)
    index_frame = entries[0].compressed_offset + entries[0].compressed_size
    assert with_option == without + locator.encode(index_frame, len(without))


@pytest.mark.parametrize("codec", ["bz2", "lzma"])
def test_without_hints_the_option_does_nothing(codec: str) -> None:
    compressor = brinery.compressors()[codec]
    data = _data(100_000)
    with_option, entries = _write(compressor, [data[:500], data[500:]], frames_after=0)
    without, _ = _write(compressor, [data[:500], data[500:]], seek_table_=False, frames_after=0)
    assert with_option == without
    if codec == "lzma":  # one frame for the whole stream: none to list, none ended
        assert entries == []
    else:
        assert entries == [FrameEntry(0, 0, entries[0].compressed_size)]


# -- the frame reader --------------------------------------------------------------------------


def _read_through(source: Source, size: int, *, threads: int = 1, **finish: Any) -> None:
    """Read a stream of HintedZlib holding ``_data(size)`` from ``source``, and finish it."""
    reader = FrameReader(source, HintedZlib(), threads=threads)
    read = bytearray()
    piece = bytearray(3000)
    while len(read) < size:
        got = reader.readinto(memoryview(piece)[: size - len(read)])
        assert got, "the data ended early"
        read += piece[:got]
    reader.finish(**finish)
    reader.close()
    assert read == _data(size)


def _read_stream(file: bytes, size: int, *, threads: int = 1, **finish: Any) -> Source:
    """Read ``file``'s stream of ``_data(size)``, and return the source, positioned where the
    reader left it."""
    source = Source(io.BytesIO(file))
    _read_through(source, size, threads=threads, **finish)
    return source


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("size", [10, FRAME, 5 * FRAME + 3])
def test_the_reader_reads_the_table_after_the_last_frame(size: int, threads: int) -> None:
    file, _ = _write(HintedZlib(), [_data(size)])
    source = _read_stream(file + b"after", size, threads=threads)
    assert source.position == len(file)
    assert source.read() == b"after"


def test_two_streams_with_tables_read_one_after_the_other() -> None:
    first, _ = _write(HintedZlib(), [_data(3 * FRAME)])
    second, _ = _write(HintedZlib(), [_data(700)])
    buffer = io.BytesIO(first + second)
    for file, size in [(first, 3 * FRAME), (second, 700)]:
        source = Source(buffer)
        _read_through(source, size)
        source.release()
        assert source.position == len(file)
    assert buffer.read() == b""


SIZE = 2 * FRAME + 5  # three frames, two hints


@pytest.fixture(scope="module")
def plain_and_frames() -> tuple[bytes, list[tuple[int, int]]]:
    """A stream of SIZE bytes without its table, and the sizes its table lists."""
    plain, _ = _write(HintedZlib(), [_data(SIZE)], seek_table_=False)
    frames = _sizes(_table_at_end(_write(HintedZlib(), [_data(SIZE)])[0]))
    assert len(frames) == 5
    assert frames[2] != frames[4]
    return plain, frames


def _lying_tables(frames: list[tuple[int, int]]) -> dict[str, tuple[list[tuple[int, int]], str]]:
    """Tables after a stream whose frames are ``frames``, each lying in its own way, and what the
    reader then says."""
    (first, first_out), hint, (second, second_out), _, last = frames
    return {
        "one-decompressed-byte-more": (
            [*frames[:4], (last[0], last[1] + 1)],
            f"lists 5 frames of {sum(size for size, _ in frames)} compressed and {SIZE + 1} "
            f"decompressed bytes, where the data has 5 frames of",
        ),
        "bytes-moved-between-frames": (
            [(first, first_out - 1), hint, (second, second_out + 1), *frames[3:]],
            "its 5 frames have the data's total sizes, but not each its own",
        ),
        "frames-in-disorder": (
            [frames[0], frames[1], frames[4], frames[3], frames[2]],
            "its 5 frames have the data's total sizes, but not each its own",
        ),
        "hint-merged-with-its-frame": (
            [frames[0], (hint[0] + second, second_out), *frames[3:]],
            "lists 4 frames of",
        ),
        "one-compressed-byte-more": (
            [*frames[:4], (last[0] + 1, last[1])],
            "compressed bytes, where",
        ),
        "a-frame-missing": (frames[:4], "compressed bytes, where"),
        "an-empty-frame-more": ([*frames, (0, 0)], "lists 6 frames of"),
    }


@pytest.mark.parametrize(
    "case",
    ["one-decompressed-byte-more", "bytes-moved-between-frames", "frames-in-disorder",
     "hint-merged-with-its-frame", "one-compressed-byte-more", "a-frame-missing",
     "an-empty-frame-more"],
)  # fmt: skip
def test_a_table_listing_other_frames_is_damage(
    case: str, plain_and_frames: tuple[bytes, list[tuple[int, int]]]
) -> None:
    plain, frames = plain_and_frames
    lying, message = _lying_tables(frames)[case]
    with pytest.raises(brinery.CorruptFileError, match=message) as caught:
        _read_stream(plain + seek_table.encode(lying), SIZE)
    assert str(caught.value).startswith("the seek table")


def _left_after(file: bytes, stream_end: int, **finish: Any) -> bytes:
    source = _read_stream(file, SIZE, **finish)
    assert source.position == stream_end
    return source.read()


def test_what_is_not_this_streams_table_is_left_where_it_is(
    plain_and_frames: tuple[bytes, list[tuple[int, int]]],
) -> None:
    """Data after the stream that is not its seek table is the caller's, as before: another
    skippable frame, a frame of the table's magic without the seekable magic at its end, a table
    cut short, or one declaring more than a table of the frames passed over can take."""
    plain, frames = plain_and_frames
    table = seek_table.encode(frames)
    others = {
        "another-skippable-frame": struct.pack("<II", 0x184D2A50, 3) + b"abc",
        "no-seekable-magic": struct.pack("<II", 0x184D2A5E, 12) + bytes(12),
        "cut-table": table[:-1],
        # (9 entries: longer than 5 entries of 12 bytes, the most 5 frames may have)
        "too-long-for-the-frames": seek_table.encode([*frames, (0, 0), (0, 0), (0, 0), (0, 0)]),
        "huge-declared-size": struct.pack("<II", 0x184D2A5E, 0xFFFFFFF0) + table[8:],
        "a-second-stream": _write(HintedZlib(), [b"next"])[0],
    }
    for name, after in others.items():
        assert _left_after(plain + after, len(plain)) == after, name


def test_with_seek_table_false_the_reader_does_not_look(
    plain_and_frames: tuple[bytes, list[tuple[int, int]]],
) -> None:
    plain, frames = plain_and_frames
    table = seek_table.encode(frames)
    assert _left_after(plain + table, len(plain), seek_table=False) == table
    assert _left_after(plain + table, len(plain) + len(table)) == b""
