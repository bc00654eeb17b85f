"""brinery-zstd: damaged files raise brinery's errors, never zstandard's or a wrong object.

Every truncation and every one-byte flip (xor 0xFF, xor 0x01) of a small file is loaded, from
a BytesIO and from a path.  A flip may be harmless: the zstd frame then decodes to the very
same bytes (python-zstandard agrees), and the test checks those are few.  Seen with zstd 1.5:
xor 0xFF: none; xor 0x01: 2 of 2359 (the frame header's window descriptor, byte 5, which only
asks for a larger window; and one bit of the block's sequence bitstream that decodes to the same
data).
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import brinery

zstandard = pytest.importorskip("zstandard")
pytest.importorskip("brinery_zstd", reason="brinery-zstd is not installed")

NAME = "zstd"
MAGIC = b"\x28\xb5\x2f\xfd"


def decodes_to(data: bytes) -> bytes | None:
    """What python-zstandard itself decodes ``data`` to (None: it refuses the data)."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        return reader.read()
    except zstandard.ZstdError:
        return None


def new_decompressor() -> Any:
    return zstandard.ZstdDecompressor().decompressobj()


@pytest.fixture
def small_file(small_sample: Any, dump_bytes: Any) -> bytes:
    data = dump_bytes(small_sample(), compress=NAME)
    assert data.startswith(MAGIC)
    assert 200 < len(data) < 4096
    return data


def test_empty_data_is_an_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "empty.zst").write_bytes(b"")
    for source in (io.BytesIO(b""), tmp_path / "empty.zst"):
        with pytest.raises(brinery.UnknownFormatError):
            brinery.load(source)


def test_every_truncation_is_reported(small_file: bytes, small_sample: Any, damage: Any) -> None:
    tally = damage.truncations(small_file, small_sample(), range(len(MAGIC), len(small_file)))
    assert tally.violations == [], tally.summary()
    assert tally.identical == []
    assert sum(tally.raised.values()) == tally.loads == 2 * (len(small_file) - len(MAGIC))


def test_truncation_inside_the_magic_number_is_reported(
    small_file: bytes, small_sample: Any, damage: Any
) -> None:
    # 1 to 3 bytes of the 4-byte magic: the data ends before anything could be recognised.
    tally = damage.truncations(small_file, small_sample(), range(1, len(MAGIC)))
    assert tally.violations == [], tally.summary()


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_truncation_inside_the_checksum_is_reported(
    count: int, small_file: bytes, tmp_path: Path
) -> None:
    parameters = zstandard.get_frame_parameters(small_file[:18])
    assert parameters.has_checksum  # the last 4 bytes are the frame's content checksum
    (tmp_path / "cut.zst").write_bytes(small_file[:-count])
    for source in (io.BytesIO(small_file[:-count]), tmp_path / "cut.zst"):
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(source)


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flipped_byte_is_detected_or_harmless(
    mask: int, small_file: bytes, small_sample: Any, damage: Any, dump_bytes: Any
) -> None:
    tally = damage.flips(small_file, small_sample(), mask, len(MAGIC))
    assert tally.violations == [], tally.summary()
    assert sum(tally.raised.values()) + len(tally.identical) * 2 == tally.loads
    assert len(tally.identical) <= 4, tally.summary()
    stream = dump_bytes(small_sample(), compress=False)
    for offset in tally.identical:
        damaged = bytearray(small_file)
        damaged[offset] ^= mask
        assert decodes_to(bytes(damaged)) == stream, f"offset {offset} changes the data"


@pytest.mark.parametrize(
    "trailer",
    [b"\x00", b"garbage!", "stream", "empty frame"],
    ids=["zero", "text", "second-stream", "empty-zstd-frame"],
)
def test_data_after_the_file_is_corrupt(
    trailer: Any, small_file: bytes, small_sample: Any, tmp_path: Path, assert_identical: Any
) -> None:
    if trailer == "stream":
        trailer = small_file
    elif trailer == "empty frame":
        trailer = zstandard.ZstdCompressor(write_checksum=True).compress(b"")
    path = tmp_path / "trailing.zst"
    path.write_bytes(small_file + trailer)
    with pytest.raises(brinery.CorruptFileError, match="after the end") as caught:
        brinery.load(path)
    assert type(caught.value) is brinery.CorruptFileError
    # From a file object, the stream ends where it ends and what follows is the caller's.
    source = io.BytesIO(small_file + trailer)
    assert_identical(brinery.load(source), small_sample())
    assert source.tell() == len(small_file)


# -- many small frames, with hints ----------------------------------------------------------------
#
# brinery's frames hold 4 MiB of stream, too big for every-byte loops; with the compressor's
# frame_size lowered to 1 KiB, a small object is cut into five frames, each but the first
# announced by a hint (a skippable frame with the next frame's sizes), so the loops cover frame
# boundaries, hints and the reading of hinted frames straight into an array.  With threads=2
# that reading runs on a thread pool; as each load then starts threads, those loops load from a
# BytesIO only (a path differs in buffering only, which threads=1 covers).  The lowered
# frame_size stays in force while the file is loaded.

SMALL_FRAMES = 1024
#: A hint: magic, payload length, b"BRFH", compressed size (u64), uncompressed size (u64).
HINT_COMPRESSED, HINT_UNCOMPRESSED = 12, 20


@pytest.fixture
def hinted_file(
    monkeypatch: pytest.MonkeyPatch, framed_sample: Any, dump_bytes: Any, walk_frames: Any
) -> tuple[bytes, list[Any]]:
    monkeypatch.setattr(brinery.compressors()[NAME], "frame_size", SMALL_FRAMES)
    data = dump_bytes(framed_sample(), compress=NAME)
    frames = walk_frames(data, new_decompressor)
    hints = [frame for frame in frames if frame.hint is not None]
    assert len(hints) == 4, frames
    assert [frame.kind for frame in frames] == ["data", "skippable"] * 4 + ["data"]
    assert len(data) < 1500
    return data, hints


WAYS = {1: ("BytesIO", "path"), 2: ("BytesIO",)}


@pytest.mark.parametrize("threads", [1, 2])
def test_many_small_frames_load(
    threads: int, hinted_file: Any, framed_sample: Any, assert_identical: Any
) -> None:
    data, _ = hinted_file
    source = io.BytesIO(data)
    assert_identical(brinery.load(source, threads=threads), framed_sample())
    assert source.tell() == len(data)


@pytest.mark.parametrize("threads", [1, 2])
def test_every_truncation_of_many_small_frames_is_reported(
    threads: int, hinted_file: Any, framed_sample: Any, damage: Any
) -> None:
    data, _ = hinted_file
    offsets = range(1, len(data))
    tally = damage.truncations(data, framed_sample(), offsets, threads, WAYS[threads])
    assert tally.violations == [], tally.summary()
    assert tally.identical == []


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flip_in_many_small_frames_is_detected_or_harmless(
    mask: int, threads: int, hinted_file: Any, framed_sample: Any, damage: Any, dump_bytes: Any
) -> None:
    data, hints = hinted_file
    tally = damage.flips(data, framed_sample(), mask, len(MAGIC), threads, WAYS[threads])
    assert tally.violations == [], tally.summary()
    # Harmless: a damaged hint tag or skippable magic number (the skippable frame is then
    # skipped, as zstd does, and the next frame read without its hint), a frame's window
    # descriptor, as in one frame.  Seen: xor 0xFF: 16 (4 tags of 4 bytes), xor 0x01: 26 (the
    # tags, the hints' magic numbers, the 5 window descriptors, 1 in a sequence bitstream).
    assert len(tally.identical) <= 8 * (len(hints) + 1), tally.summary()
    stream = dump_bytes(framed_sample(), compress=False)
    for offset in tally.identical:
        damaged = bytearray(data)
        damaged[offset] ^= mask
        assert decodes_to(bytes(damaged)) == stream, f"offset {offset} changes the data"


@pytest.mark.parametrize("field", [HINT_COMPRESSED, HINT_UNCOMPRESSED], ids=["packed", "unpacked"])
@pytest.mark.parametrize(
    "size",
    [(1 << 30) + 1, 1 << 40, (1 << 63) - 1, (1 << 64) - 1],
    ids=["1G+1", "2^40", "2^63", "2^64"],
)
def test_absurd_sizes_in_a_hint_are_refused_before_allocating(
    field: int, size: int, hinted_file: Any
) -> None:
    """A hint announcing sizes no frame of a small file can have (1 GiB to 2**64 bytes) is
    damaged: it is reported as such, without first allocating what it announces (gigabytes and
    seconds, or a MemoryError or OverflowError dressed up as a read failure)."""
    data, hints = hinted_file
    start = hints[0].start + field
    damaged = data[:start] + struct.pack("<Q", size) + data[start + 8 :]
    tracemalloc.start()
    try:
        with pytest.raises(brinery.CorruptFileError) as caught:
            brinery.load(io.BytesIO(damaged), threads=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "hint" in str(caught.value), caught.value
    assert not isinstance(caught.value.__cause__, (MemoryError, OverflowError)), caught.value
    assert peak < 64 << 20, f"loading a {len(damaged)}-byte file allocated {peak >> 20} MiB"
