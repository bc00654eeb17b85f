"""brinery-lz4's own LZ4 frame reader (``brinery_lz4.lz4_frames``), held to python-lz4.

Every layout the format allows (bar dictionaries) decodes to what ``lz4.frame.decompress``
makes, one-call and streamed in pieces of any size with any ``max_length``; every kind of
damage is refused with ``Lz4FrameError``, and nothing a hostile frame declares is allocated.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import xxhash

from brinery.testing import decompress_in_pieces, run_python

lz4_frame = pytest.importorskip("lz4.frame")
lz4_frames = pytest.importorskip("brinery_lz4.lz4_frames", reason="brinery-lz4 is not installed")
FrameDecompressor = lz4_frames.FrameDecompressor
Lz4FrameError = lz4_frames.Lz4FrameError
decompress_frame = lz4_frames.decompress_frame

BLOCK_IDS = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}
# (block size id, linked, block checksum, content size, content checksum)
LAYOUTS = list(itertools.product(BLOCK_IDS, *[(False, True)] * 4))
PIECES = (1, 7, 4099, None)  # None: the whole frame at once
MAX_LENGTHS = (1, 777, 65536, -1)


def content(size: int, seed: int = 0) -> bytes:
    """Compressible runs, repeats from almost 64 KiB back (a linked block refers to several
    earlier short ones), and a random stretch in every 200 KB (incompressible: stored blocks)."""
    rng = np.random.default_rng(seed)
    data = bytearray()
    while len(data) < size:
        words = rng.integers(0, 40, 3000, dtype=np.uint8).tobytes()
        if len(data) % 200_000 < 12_000:
            data += rng.bytes(70_000)
        data += words + words[:2000] + rng.bytes(1500) + words
        if len(data) > 65_000:
            data += data[-65_000:-62_000]
    return bytes(data[:size])


def compress(data: bytes, layout: tuple[int, bool, bool, bool, bool]) -> bytes:
    block_id, linked, block_checksum, size, checksum = layout
    return bytes(
        lz4_frame.compress(
            data,
            block_size=block_id,
            block_linked=linked,
            block_checksum=block_checksum,
            store_size=size,
            content_checksum=checksum,
        )
    )


def stream(
    frame: bytes, piece: int | None = None, max_length: int = -1
) -> tuple[bytes, FrameDecompressor, int]:
    """Feeds ``frame`` in pieces until the decompressor ends (or wants more than there is);
    the output, the decompressor and how many bytes were fed."""
    decompressor = FrameDecompressor()
    streamed = decompress_in_pieces(decompressor, frame, piece, max_length)
    return streamed.output, decompressor, streamed.fed


def blocks(frame: bytes) -> Iterator[tuple[int, int]]:
    """(offset of the size field, size field) of each block of ``frame``."""
    flg, bd = frame[4], frame[5]
    position = 7 + 8 * bool(flg & 0x08)
    while (word := struct.unpack_from("<I", frame, position)[0]) != 0:
        yield position, word
        position += 4 + (word & 0x7FFFFFFF) + 4 * bool(flg & 0x10)
    assert bd >> 4 in BLOCK_IDS


def with_header(
    frame: bytes, flg: int | None = None, bd: int | None = None, **fields: int
) -> bytes:
    """``frame`` with FLG, BD or the content size replaced, and a header checksum to match."""
    length = 7 + 8 * bool(frame[4] & 0x08)
    head = bytearray(frame[: length - 1])
    if flg is not None:
        head[4] = flg
    if bd is not None:
        head[5] = bd
    if "size" in fields:
        head[6:14] = struct.pack("<Q", fields["size"])
    check = (xxhash.xxh32_intdigest(bytes(head[4:])) >> 8) & 0xFF
    return bytes(head) + bytes([check]) + frame[length:]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: "-".join(map(str, map(int, layout))))
def test_every_layout_decodes_as_python_lz4_does(
    layout: tuple[int, bool, bool, bool, bool],
) -> None:
    """Small content (two blocks of 64 KiB, or one short block) in every piece size and
    ``max_length``; larger content (two and a half blocks) in pieces of 4099 and whole."""
    small = content(90_000, seed=1)
    frame = compress(small, layout)
    assert lz4_frame.decompress(frame) == small
    for piece, max_length in itertools.product(PIECES, MAX_LENGTHS):
        output, decompressor, _ = stream(frame, piece, max_length)
        assert decompressor.eof, (piece, max_length)
        assert output == small, (piece, max_length)
    large = content(BLOCK_IDS[layout[0]] * 5 // 2, seed=2)
    frame = compress(large, layout)
    for piece, max_length in itertools.product((4099, None), (777, 65536, -1)):
        output, decompressor, _ = stream(frame, piece, max_length)
        assert decompressor.eof, (piece, max_length)
        assert output == large, (piece, max_length)
        assert decompressor.unused_data == b""
    if layout[3]:
        assert bytes(decompress_frame(memoryview(frame), len(large))) == large
        assert lz4_frames.parse_header(frame).content_size == len(large)
    else:
        assert lz4_frames.parse_header(frame).content_size is None


def test_incompressible_content_makes_stored_blocks_that_decode() -> None:
    data = os.urandom(300_000)
    for layout in [(4, True, True, True, True), (5, False, False, False, True)]:
        frame = compress(data, layout)
        assert any(word >> 31 for _, word in blocks(frame))
        assert stream(frame, 4099, 777)[0] == data
        if layout[3]:
            assert bytes(decompress_frame(memoryview(frame), len(data))) == data


def test_short_linked_blocks_refer_across_several_earlier_blocks() -> None:
    """A flushed frame (the lz4 tool's from a pipe, brinery's streaming writer) has blocks
    shorter than the maximum: the window then spans several of them."""
    data = content(400_000, seed=3)
    compressor = lz4_frame.LZ4FrameCompressor(content_checksum=True, auto_flush=True)
    frame = compressor.begin() + b"".join(
        compressor.compress(data[i : i + 5000]) for i in range(0, len(data), 5000)
    )
    frame += compressor.flush()
    assert sum(1 for _ in blocks(frame)) == 80
    for piece, max_length in [(7, 777), (None, -1), (4099, 65536)]:
        assert stream(frame, piece, max_length)[0] == data


def test_empty_content() -> None:
    for flags in itertools.product((False, True), repeat=3):
        frame = compress(b"", (4, True, *flags))
        for piece in PIECES:
            output, decompressor, _ = stream(frame, piece)
            assert decompressor.eof
            assert output == b""
    assert lz4_frames.parse_header(compress(b"", (4, True, False, True, True))).content_size is None


@pytest.mark.parametrize("piece", PIECES)
def test_what_follows_the_frame_is_left_in_unused_data(piece: int | None) -> None:
    data = content(150_000)
    tail = b"\x04\x22\x4d\x18 the next frame"
    frame = compress(data, (4, True, True, True, True)) + tail
    output, decompressor, fed = stream(frame, piece, 65536)
    assert decompressor.eof
    assert output == data
    assert decompressor.unused_data + frame[fed:] == tail
    with pytest.raises(Lz4FrameError, match=f"^{len(tail)} bytes follow the LZ4 frame$"):
        decompress_frame(memoryview(frame), len(data))


@pytest.mark.parametrize("piece", PIECES)
def test_a_skippable_frame_is_skipped(piece: int | None) -> None:
    frame = struct.pack("<II", 0x184D2A5C, 5) + b"hint!" + b"after"
    output, decompressor, fed = stream(frame, piece)
    assert decompressor.eof
    assert output == b""
    assert decompressor.unused_data + frame[fed:] == b"after"


def refused(frame: bytes, match: str, *, size: int | None = None) -> None:
    """``frame`` is refused streamed (whole and byte by byte) and, with ``size``, in one call."""
    for piece in (None, 1):
        with pytest.raises(Lz4FrameError, match=match):
            stream(frame, piece, 65536)
    if size is not None:
        with pytest.raises(Lz4FrameError, match=match):
            decompress_frame(memoryview(frame), size)


DATA = content(200_000, seed=4)
FULL = compress(DATA, (4, True, True, True, True))  # 4 blocks, every check


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"flg": FULL[4] & 0x3F}, "version 0"),
        ({"flg": FULL[4] | 0xC0}, "version 3"),
        ({"flg": FULL[4] | 0x02}, "reserved bits"),
        ({"flg": FULL[4] | 0x01}, "names a dictionary"),
        ({"bd": FULL[5] | 0x80}, "reserved bits"),
        ({"bd": FULL[5] | 0x01}, "reserved bits"),
        ({"bd": 0x30}, "block maximum id 3"),
        ({"bd": 0x00}, "block maximum id 0"),
    ],
)
def test_each_header_field_is_checked(change: dict[str, int], match: str) -> None:
    refused(with_header(FULL, **change), match, size=len(DATA))


def test_the_magic_number_and_the_header_checksum_are_checked() -> None:
    refused(b"\x02\x21\x4c\x18" + FULL[4:], "magic number", size=len(DATA))
    damaged = bytearray(FULL)
    damaged[14] ^= 0x01
    refused(bytes(damaged), "header checksum", size=len(DATA))
    damaged = bytearray(FULL)
    damaged[6] ^= 0x01  # the content size, not the checksum
    refused(bytes(damaged), "header checksum", size=len(DATA))


def test_block_and_content_checksums_are_checked() -> None:
    positions = [position for position, _ in blocks(FULL)]
    damaged = bytearray(FULL)
    damaged[positions[2] - 1] ^= 0x01  # the last byte of block 2's checksum
    refused(bytes(damaged), "^LZ4 block 2: its block checksum", size=len(DATA))
    damaged = bytearray(FULL)
    damaged[positions[1] + 20] ^= 0x01  # inside block 2's data
    refused(bytes(damaged), "^LZ4 block 2: its block checksum", size=len(DATA))
    damaged = bytearray(FULL)
    damaged[-1] ^= 0x01
    refused(bytes(damaged), "content checksum", size=len(DATA))
    # Without block checksums, damage to the data is caught by the content checksum.
    unchecked = bytearray(compress(DATA, (4, True, False, True, True)))
    unchecked[list(blocks(bytes(unchecked)))[1][0] + 9] ^= 0x01
    with pytest.raises(Lz4FrameError, match=r"content checksum|damaged|content size"):
        stream(bytes(unchecked), 4099, 777)


def test_a_block_larger_than_the_maximum_is_refused_before_it_is_read() -> None:
    position = list(blocks(FULL))[1][0]
    for word in (65537, 0x7FFFFFFF, 0x80000000 | 65537, 0xFFFFFFFF):
        frame = FULL[:position] + struct.pack("<I", word)  # (nothing of the block follows)
        match = r"takes \d+ bytes, more than the frame's blocks may \(65536\)"
        refused(frame, match, size=len(DATA))


def test_blocks_making_more_or_less_than_the_content_size_are_refused() -> None:
    plain = compress(DATA, (4, True, False, True, True))
    # the last block makes more than is left
    size = len(DATA) - 1
    refused(with_header(plain, size=size), f"makes more than {size - (3 << 16)} bytes", size=size)
    # a whole block more than the content size
    more = "block 4 holds more than the frame's content size"
    refused(with_header(plain, size=3 << 16), more, size=3 << 16)
    # fewer
    fewer = f"holds {len(DATA)} bytes, not its content size"
    refused(with_header(plain, size=len(DATA) + 1), fewer, size=len(DATA) + 1)
    # a stored block making more than is left
    stored = compress(os.urandom(100_000), (4, True, False, True, False))
    assert [word >> 31 for _, word in blocks(stored)] == [1, 1]
    more = "block 2 holds more than the frame's content size"
    refused(with_header(stored, size=70_000), more, size=70_000)
    # a block shorter than the maximum is no damage (a flushed block is), while the total holds
    compressor = lz4_frame.LZ4FrameCompressor(auto_flush=True)
    flushed = compressor.begin(len(DATA)) + compressor.compress(DATA[:1000])
    flushed += compressor.compress(DATA[1000:]) + compressor.flush()
    assert lz4_frames.parse_header(flushed).content_size == len(DATA)
    assert bytes(decompress_frame(memoryview(flushed), len(DATA))) == DATA


def test_a_damaged_block_is_refused() -> None:
    plain = bytearray(compress(DATA, (4, True, False, False, False)))
    number, (position, word) = next(
        (number, block) for number, block in enumerate(blocks(bytes(plain)), 1)
        if not block[1] >> 31
    )
    plain[position + 4 : position + 4 + word] = b"\xff" * word
    refused(bytes(plain), f"^LZ4 block {number} is damaged or makes more than 65536 bytes$")


def test_a_frame_cut_anywhere_waits_for_more_or_is_refused_in_one_call() -> None:
    frame = compress(content(70_000, seed=5), (4, True, True, True, True))
    size = lz4_frames.parse_header(frame).content_size
    for cut in range(len(frame)):
        head = frame[:cut]
        _, decompressor, _ = stream(head, None, 1 << 16)
        assert not decompressor.eof, cut
        assert decompressor.needs_input, cut
        with pytest.raises(Lz4FrameError, match="ends"):
            decompress_frame(memoryview(head), size)
    cuts = [*range(30), *range(len(frame) - 30, len(frame))]
    for cut in cuts:
        _, decompressor, _ = stream(frame[:cut], 1, 1)
        assert not decompressor.eof, cut
        assert decompressor.needs_input, cut


HOSTILE = """
import resource, struct
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import lz4.frame, xxhash
from brinery_lz4.lz4_frames import FrameDecompressor, Lz4FrameError, decompress_frame, parse_header

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) << 10 for line in status if line.startswith("VmHWM:"))

def header(size):  # independent 4 MiB blocks, a content size
    descriptor = b"\\x68\\x70" + struct.pack("<Q", size)
    check = (xxhash.xxh32_intdigest(descriptor) >> 8) & 0xFF
    return b"\\x04\\x22\\x4d\\x18" + descriptor + bytes([check])

# 1 GiB of zeros in 4 MiB blocks (of 16 KiB each) under a header declaring 2**64 - 1 bytes,
# streamed 64 KiB at a time, each piece dropped.
block = lz4.frame.compress(bytes(4 << 20), block_size=7, store_size=False)[7:-4]
bomb = header(2**64 - 1) + block * 256 + struct.pack("<I", 0)
assert parse_header(bomb).content_size == 2**64 - 1
start = peak()
decompressor, total = FrameDecompressor(), 0
total += len(decompressor.decompress(bomb, 65536))
try:
    while not decompressor.eof:
        total += len(decompressor.decompress(b"", 65536))
except Lz4FrameError as error:
    print("Lz4FrameError", error)
print("total", total, "grew", peak() - start)
for frame in (header(2**64 - 1) + b"\\xff" * 4, header(2**40) + struct.pack("<I", 0x7FFFFFFF)):
    for call in (lambda: decompress_frame(memoryview(frame), 1 << 20),
                 lambda: FrameDecompressor().decompress(frame, 1 << 20)):
        try:
            call()
        except Lz4FrameError as error:
            print("Lz4FrameError", error)
print("grew", peak() - start)
"""


def test_a_hostile_frame_allocates_nothing_it_declares() -> None:
    """In a child limited to 1 GiB of address space: a frame declaring 2**64 - 1 bytes that
    holds 1 GiB streams in bounded memory; declared block sizes over the maximum, and a content
    size other than the caller's, are refused before anything is allocated by them."""
    output = run_python(HOSTILE).stdout.splitlines()
    assert output[0] == (
        "Lz4FrameError the LZ4 frame holds 1073741824 bytes, not its content size "
        f"{2**64 - 1}"
    )
    assert output[1].startswith(f"total {1 << 30} grew "), output
    assert int(output[1].split()[-1]) < 64 << 20
    assert output[2:-1] == [
        "Lz4FrameError the LZ4 frame does not record 1048576 bytes of content",
        "Lz4FrameError LZ4 block 1 takes 2147483647 bytes, more than the frame's blocks may "
        "(4194304)",
    ] * 2, output
    assert int(output[-1].split()[-1]) < 64 << 20


# -- the frames brinery-lz4 writes (encode_frame) ------------------------------------------

encode_frame = lz4_frames.encode_frame
WRITTEN_BLOCK = BLOCK_IDS[lz4_frames.WRITTEN_BLOCK_ID]
SIZES = (0, 1, 4096, WRITTEN_BLOCK - 1, WRITTEN_BLOCK, WRITTEN_BLOCK + 1, 4 << 20, (4 << 20) + 3)


@pytest.mark.parametrize("size", SIZES)
def test_written_frames_are_what_python_lz4_and_the_reader_decode(size: int) -> None:
    data = content(size, seed=size)
    frame = b"".join(encode_frame(data))
    assert lz4_frame.decompress(frame) == data
    if size:  # (empty content records no size, as liblz4 writes it: read by streaming)
        assert bytes(decompress_frame(memoryview(frame), size)) == data
    streamed = decompress_in_pieces(FrameDecompressor(), frame, 4099, 65536)
    assert (streamed.output, streamed.left) == (data, b"")
    header = lz4_frames.parse_header(frame[:19])
    assert header == lz4_frames.Header(
        length=15 if size else 7,
        block_max=WRITTEN_BLOCK,
        linked=False,
        block_checksum=False,
        content_size=size or None,
        content_checksum=True,
    )


def test_written_frames_take_any_buffer_and_leave_it_as_it_was() -> None:
    data = content(3 << 20, seed=9)
    array = np.frombuffer(data, np.uint8).reshape(-1, 1024)
    expected = b"".join(encode_frame(data))
    for given in (bytearray(data), memoryview(data), array, memoryview(array).cast("B")):
        assert b"".join(encode_frame(given)) == expected
    assert array.tobytes() == data


def test_a_block_that_does_not_shrink_is_stored_and_one_that_does_is_compressed() -> None:
    noise = np.random.default_rng(1).bytes(WRITTEN_BLOCK)
    parts = encode_frame(noise + bytes(WRITTEN_BLOCK))
    _header, first_size, first, second_size, second, end = parts
    assert struct.unpack("<I", first_size)[0] == WRITTEN_BLOCK | 0x80000000
    assert first == noise
    assert struct.unpack("<I", second_size)[0] == len(second) < 5000
    assert end == bytes(4) + struct.pack("<I", xxhash.xxh32_intdigest(noise + bytes(WRITTEN_BLOCK)))


def _brinery_streams() -> dict[str, bytes]:
    """4 MiB of what brinery hands its codec: pickled records with small arrays, and a smooth
    image's bytes."""
    import io

    import brinery

    rng = np.random.default_rng(6)
    records = [
        {"values": rng.standard_normal(500), "id": index, "name": f"item-{index:08d}"}
        for index in range(1000)
    ]
    rows = np.add.outer(np.arange(1024), np.arange(4096)) // 9
    image = (rows + rng.integers(0, 3, rows.shape)).astype(np.uint8)
    streams = {}
    for name, value in (("records", records), ("image", image)):
        sink = io.BytesIO()
        brinery.dump(value, sink)
        streams[name] = sink.getvalue()[: 4 << 20]
    return streams


def test_written_frames_are_as_small_as_python_lz4s() -> None:
    """Independent 1 MiB blocks against python-lz4's 64 KiB linked ones at the fast level, on
    brinery's streams: within 0.1%.  (Contrived data can differ more: :func:`content`, its
    repeats from just under 64 KiB back, is 2.2% larger, as in python-lz4's own 1 MiB blocks.)"""
    for name, data in _brinery_streams().items():
        ours = sum(map(len, encode_frame(data)))
        theirs = len(lz4_frame.compress(data, content_checksum=True))
        assert ours <= theirs * 1.001, name


@pytest.mark.skipif(not shutil.which("lz4"), reason="the lz4 command-line tool is not installed")
def test_the_lz4_tool_reads_written_frames(tmp_path: Any) -> None:
    data = content(5 << 20, seed=5)
    path = tmp_path / "frames.lz4"
    path.write_bytes(b"".join(encode_frame(data[:100])) + b"".join(encode_frame(data)))
    done = subprocess.run(["lz4", "-dc", str(path)], capture_output=True, check=True)
    assert done.stdout == data[:100] + data


@pytest.mark.parametrize("level", [0, 1, 2, 3, 9, 16])
def test_the_plugin_writes_its_own_frames_at_the_fast_levels_only(level: int) -> None:
    """Levels 0-2 (one fast mode in liblz4): :func:`encode_frame`'s independent 1 MiB blocks;
    3 and up (HC): python-lz4's frames, linked 64 KiB blocks."""
    import brinery_lz4

    data = content(3 << 20, seed=level)
    frame = b"".join(brinery_lz4.Lz4Compressor().compress_frame(level, data))
    assert lz4_frame.decompress(frame) == data
    header = lz4_frames.parse_header(frame[:19])
    fast = level < brinery_lz4.HC_LEVEL_MIN
    assert (header.block_max, header.linked) == ((1 << 20, False) if fast else (64 << 10, True))
    assert header.content_size == len(data)
    assert (frame == b"".join(encode_frame(data))) is fast


# -- streamed frames hashed in one call ------------------------------------------------------

HELD = lz4_frames.HELD_CONTENT_MAX


@pytest.mark.parametrize(
    ("size", "gathered"),
    [(1, True), (300_000, True), (HELD, True), (HELD + 1, False)],
)
def test_a_streamed_frame_up_to_4_mib_is_hashed_in_one_call_and_checked(
    size: int, gathered: bool
) -> None:
    """A frame recording a content size of at most 4 MiB gathers its output, as blocks are
    decoded, and hashes it at its end; a larger one is hashed as it goes.  Either way a wrong
    content checksum is refused and a right one gives the exact content."""
    data = content(size, seed=size)
    frame = b"".join(encode_frame(data))
    output, decompressor, _ = stream(frame, 65536 + 7, 100_000)
    assert output == data
    assert decompressor._gathering is gathered
    assert (decompressor._gathered is not None) is gathered
    damaged = bytearray(frame)
    damaged[-1] ^= 0x01
    with pytest.raises(Lz4FrameError, match="content checksum does not match"):
        stream(bytes(damaged), 65536 + 7, 100_000)


def test_a_frame_without_its_size_or_checksum_gathers_nothing() -> None:
    data = content(300_000, seed=8)
    for layout in ((5, False, False, False, True), (5, False, False, True, False)):
        output, decompressor, _ = stream(compress(data, layout), 4099, 65536)
        assert output == data
        assert not decompressor._gathering
        assert decompressor._gathered is None


def test_the_gathering_buffer_goes_on_to_the_next_frame() -> None:
    """Frame after frame (larger, smaller, one whose output is not gathered), one buffer, each
    frame's content exact and each checksum checked against its own content."""
    sizes = [200_000, 1_500_000, 5_000, HELD + 10, 700_000]
    frames = [(content(size, seed=size), b"".join(encode_frame(content(size, seed=size))))
              for size in sizes]  # fmt: skip
    decompressor = FrameDecompressor()
    buffers = []
    for number, (data, frame) in enumerate(frames):
        if number:
            decompressor = decompressor.next_frame()
        streamed = decompress_in_pieces(decompressor, frame, 4099, 65536)
        assert (streamed.output, streamed.left) == (data, b"")
        buffers.append(decompressor._gathered)
    assert buffers[1] is buffers[2] is buffers[3] is buffers[4]
    assert len(buffers[4]) == 1_500_000
    with pytest.raises(ValueError, match="has not ended"):
        FrameDecompressor().next_frame()
    # The buffer holds the frame before's bytes: a damaged frame is still refused.
    damaged = bytearray(frames[0][1])
    damaged[-1] ^= 0x01
    with pytest.raises(Lz4FrameError, match="content checksum does not match"):
        decompress_in_pieces(decompressor.next_frame(), bytes(damaged), 4099, 65536)


def test_the_compressor_hands_the_buffer_on_to_the_next_frame() -> None:
    import brinery_lz4

    compressor = brinery_lz4.Lz4Compressor()
    ended = compressor.new_decompressor()
    frame = b"".join(encode_frame(DATA))
    assert decompress_in_pieces(ended, frame, 4099, 65536).output == DATA
    following = compressor.next_decompressor(ended)
    assert isinstance(following, FrameDecompressor)
    assert following._gathered is ended._gathered is not None  # type: ignore[attr-defined]
    foreign = lz4_frame.LZ4FrameDecompressor()
    assert isinstance(compressor.next_decompressor(foreign), FrameDecompressor)
