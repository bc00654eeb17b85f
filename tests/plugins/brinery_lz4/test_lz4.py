"""brinery-lz4: the plugins' contract (``brinery.testing.HintedFramesContract``), and what only
LZ4 has.

The plugin writes LZ4 frames (magic 04 22 4D 18) with their content checksum, one per 4 MiB of
the brinery stream, with brinery's frame hints in skippable frames between them.  Levels 0-2
are LZ4's fast mode, 3-16 LZ4 HC.

A flip of one byte may be harmless: the LZ4 frame then decodes to the very same bytes
(python-lz4 agrees, content checksum included).  Seen with LZ4 1.9: in the small file, xor 0xFF:
none; xor 0x01: 8 of 2811, all match offsets that point at equal bytes (offset 1 -> 0 is read as
an overlap copy of the same zero bytes, 0x0132 -> 0x0133 within a run of equal values...).  In
the many-small-frames file, also a damaged hint tag or skippable magic number (the skippable
frame is then skipped, as LZ4 does, and the next frame read without its hint): xor 0xFF: 16
(4 tags of 4 bytes); xor 0x01: 30 (the tags, the hints' magic numbers, match offsets in every
frame).  Those are unindexed files (``index=False``).  Indexed (the default), a file has one frame
more, which the index record starts, with its hint: in the small file (3123 bytes), xor 0xFF: 4
(the hint's tag), xor 0x01: 19 (the tag, the hint's magic number, match offsets in both frames:
within the bound of the small file's first frame and one more frame); in the many-small-frames
file (6 frames), xor 0xFF: 22, xor 0x01: 41.  Flips inside the seek table that ends an indexed
file are held to the format instead (``CodecContract.check_table``).
"""

from __future__ import annotations

import io
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import xxhash

import brinery
from brinery.format.layout import STREAM_MAGIC
from brinery.testing import HintedFramesCodec, HintedFramesContract

lz4_frame = pytest.importorskip("lz4.frame")
brinery_lz4 = pytest.importorskip("brinery_lz4", reason="brinery-lz4 is not installed")


class Lz4(HintedFramesCodec):
    name = "lz4"
    distribution = "brinery-lz4"
    version = "0.1.0"
    compressor_class = brinery_lz4.Lz4Compressor
    magic = b"\x04\x22\x4d\x18"
    extensions = (".lz4",)
    lowest, default, highest = 0, 0, 16
    checks_integrity = True  # every frame's content checksum
    plugin_selections = ("brinery-lz4", " Brinery_LZ4 ,")

    round_trip_levels = (0, 1, 2, 3, 9, 12, 16)
    invalid_levels = (-1, 17, 100, 2.5, "3", True, None)
    extension_file_names = ("model.pkl.lz4", "X.PKL.LZ4", "Model.Lz4", "a.b.lz4")
    faster_and_smaller = (0, 9)
    sequence_levels = (16, 3)
    pipe_level = 3

    # An LZ4 frame ends with a zero end mark (4 bytes) and the content checksum (4 bytes).
    closing_cuts = (1, 2, 3, 4, 5, 8)
    harmless_flips = 16
    harmless_flips_per_frame = 8
    small_frames_threads = (1, 2)

    tool = "lz4"
    tool_cases: ClassVar = {
        "lowest": ("sample", 0),
        "hc": ("sample", 9),
        "highest": ("small", 16),
        "many-frames": ("many frames", None),
    }
    tool_variants: ClassVar = {
        "default": ["-c"],
        "level-1": ["-1", "-c"],
        "level-9": ["-9", "-c"],
        "level-12": ["-12", "-c"],
        "no-frame-crc": ["--no-frame-crc", "-c"],
        "linked-blocks": ["-BD", "-c"],
        "small-blocks": ["-B4", "-c"],
        "block-checksums": ["-BX", "-c"],
        "content-size": ["--content-size", "-c"],
    }
    tool_inputs = ("file",)  # so that --content-size can write the size
    tool_cuts = (1, 4, 5, 8, 100)
    tool_cut_margin = 20
    checksum_message = r"(?i)checksum"

    def decode(self, data: bytes) -> bytes | None:
        parts = []
        try:
            while data:
                decompressor = lz4_frame.LZ4FrameDecompressor()
                parts.append(decompressor.decompress(data))
                if not decompressor.eof:
                    return None
                data = decompressor.unused_data
        except RuntimeError:
            return None
        return b"".join(parts)

    def checksum_error(self) -> type[BaseException]:
        return brinery_lz4.Lz4FrameError

    def check_closing_bytes(self, data: bytes) -> None:
        assert lz4_frame.get_frame_info(data)["content_checksum"]

    def empty_file(self, data: bytes) -> bytes:
        return lz4_frame.compress(b"")

    def check_tool_output(self, data: bytes, variant: str, tool_input: str, stream: bytes) -> None:
        info = lz4_frame.get_frame_info(data)
        assert info["content_checksum"] == (variant != "no-frame-crc")
        assert info["block_checksum"] == (variant == "block-checksums")
        assert info["content_size"] == (len(stream) if variant == "content-size" else 0)

    def new_decompressor(self) -> Any:
        return lz4_frame.LZ4FrameDecompressor()

    def has_checksum(self, frame: bytes) -> bool:
        return bool(lz4_frame.get_frame_info(frame[:32])["content_checksum"])

    def content_size(self, frame: bytes) -> int | None:
        return int(lz4_frame.get_frame_info(frame[:32])["content_size"]) or None

    def check_frame_listing(self, tool: str, path: Path, data_frames: int, skippable: int) -> None:
        # lz4 --list -v writes its table of frames on standard error.
        done = subprocess.run(
            [tool, "--list", "-v", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=True,
            timeout=120,
        )
        rows = [line.split() for line in done.stdout.splitlines()]
        listed = [row[1] for row in rows if len(row) > 2 and row[0].isdigit()]
        # A hint between each two frames, and the seek table after the last (indexed).
        hints = data_frames - 1
        assert skippable in (hints, hints + 1)
        table = ["SkippableFrame"] * (skippable - hints)
        expected = ["LZ4Frame", "SkippableFrame"] * hints + ["LZ4Frame", *table]
        assert listed == expected, done.stdout
        assert listed.count("LZ4Frame") == data_frames
        assert all("XXH32" in row for row in rows if "LZ4Frame" in row)  # content checksums


class TestLz4(HintedFramesContract):
    codec = Lz4()

    def test_damage_in_the_stream_header_is_reported_as_corruption(self, small_file: bytes) -> None:
        """The brinery stream header (magic, version, flags: 16 bytes) is the start of the
        first LZ4 block's literals, which python-lz4 hands out before it reaches the frame's
        checksum.  Damaged there, the file is still a damaged LZ4 file: CorruptFileError (the
        checksum fails), not "does not hold a brinery stream" nor "written by a newer brinery:
        upgrade"."""
        start = small_file.index(STREAM_MAGIC)
        assert start < 32  # a literal run at the start of the first block (after the header)
        outcomes = {}
        for offset in range(start, start + 16):
            damaged = bytearray(small_file)
            damaged[offset] ^= 0xFF
            try:
                brinery.load(io.BytesIO(bytes(damaged)))
            except brinery.BrineryError as error:
                outcomes[offset] = type(error).__name__
        assert len(outcomes) == 16
        wrong = {offset: kind for offset, kind in outcomes.items() if kind != "CorruptFileError"}
        assert wrong == {}, outcomes

    def test_the_legacy_format_is_not_taken_for_a_frame(
        self,
        sample_stream: tuple[dict[str, Any], bytes],
        compress_with_tool: Callable[..., bytes],
    ) -> None:
        """``lz4 -l`` writes the legacy format (magic 02 21 4C 18), which brinery does not
        read: an unknown format, not a crash."""
        data = compress_with_tool(["-l", "-c"], sample_stream[1])
        assert data.startswith(b"\x02\x21\x4c\x18")
        with pytest.raises(brinery.UnknownFormatError):
            brinery.load(io.BytesIO(data))


JOBLIB_FIXTURES = Path(__file__).parents[2] / "fixtures" / "joblib"


@pytest.mark.parametrize("version", ["0.14.1", "1.1.1", "1.2.0", "1.6.0"])
def test_joblibs_lz4_files_load(version: str, assert_same: Any, joblib_object: Any) -> None:
    """joblib's LZ4 files (from 0.14.1 on): one LZ4 frame around joblib's pickle (its '>i4'
    array as stored: a default load makes it native, as joblib's does)."""
    path = JOBLIB_FIXTURES / f"joblib_{version}_lz4.pkl.lz4"
    assert_same(brinery.load(path, ensure_native_byte_order=False), joblib_object)


def test_what_the_installed_joblib_writes_with_lz4_loads(tmp_path: Path, assert_same: Any) -> None:
    joblib = pytest.importorskip("joblib")
    value = {"a": np.arange(300_000, dtype=np.int32), "f": np.asfortranarray(np.eye(30)), "s": "t"}
    path = tmp_path / "joblib.pkl.lz4"
    joblib.dump(value, path, compress="lz4")
    assert_same(brinery.load(path), value)


def _with_content_size(frame: bytes, size: int) -> bytes:
    """``frame`` (its header recording a content size) recording ``size`` instead, with the
    header checksum that goes with it: magic, FLG, BD, 8-byte content size, HC."""
    assert frame[4] & 0x08  # FLG: a content size follows BD
    descriptor = frame[4:6] + struct.pack("<Q", size)
    check = (xxhash.xxh32_intdigest(descriptor) >> 8) & 0xFF
    return frame[:4] + descriptor + bytes([check]) + frame[15:]


def test_a_frame_holding_more_than_its_header_and_hint_say_is_stopped_there(
    load_limited: Any,
) -> None:
    """A hinted frame whose header and hint both say 4 MiB, and which holds 256 MiB (1 MB of
    LZ4): lz4.frame.decompress sized its output by the header, then grew it to all the frame
    holds.  The frame is now decompressed bounded to its header's content size: the block past
    it (65th of 64 KiB) is refused before it is decoded."""
    hints = brinery.compressors()["lz4"].framing.hints
    assert hints is not None
    first = lz4_frame.compress(b"\x80\x04", content_checksum=True)
    bomb = _with_content_size(lz4_frame.compress(bytes(256 << 20), store_size=True), 4 << 20)
    assert len(bomb) < 2 << 20
    data = first + hints.encode(len(bomb), 4 << 20) + bomb
    for threads in (1, 4):
        load = load_limited(data, threads=threads)
        assert load.error == "CorruptFileError", load
        assert load.message.startswith("the lz4 data is corrupt in frame 2 "), load
        assert load.message.endswith(": LZ4 block 65 holds more than the frame's content size")
        assert load.grew < 48 << 20, load
