"""brinery.testing, the plugin test kit, beyond what running the contract shows (tests/plugins and
examples/brinery-example/tests run it): its helpers leave the process as they found it, a
codec description's defaults follow from the required attributes, and its helpers for indexed
files (the stream a compressed file holds, the seek table) find what they are for."""

from __future__ import annotations

import gzip
import io
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.streams import seek_table
from brinery.testing import (
    SEEK_TABLE,
    Codec,
    CodecContract,
    assert_same,
    compressed_stream,
    dumps,
    frame_size,
    index_frames,
    is_indexed,
    seek_table_entries,
    seek_table_span,
    walk_frames,
    with_frames,
)
from brinery.testing.damage import seek_table_flips


def test_frame_size_lowers_the_frame_size_for_the_block_only() -> None:
    gzip = brinery.compressors()["gzip"]
    framing = gzip.framing
    assert "framing" not in vars(gzip)  # the class's
    with frame_size("gzip", 1024) as compressor:
        assert compressor is gzip
        assert gzip.framing.frame_size == 1024
        assert gzip.framing.hints == framing.hints
        buffer = io.BytesIO()
        brinery.dump(np.arange(2000, dtype=np.int64), buffer, compress="gzip")
        assert buffer.getvalue().count(b"\x1f\x8b\x08") >= 16  # 16 KB in 1 KiB frames
    assert gzip.framing is framing
    assert "framing" not in vars(gzip)


def _fail_with_one_frame(compressor: brinery.Compressor) -> None:
    with frame_size(compressor, None):
        assert compressor.framing.frame_size is None
        raise RuntimeError("the block failed")


def test_frame_size_puts_back_a_framing_the_instance_had_even_on_failure() -> None:
    compressor = brinery.compressors()["gzip"]
    own = brinery.Framing(frame_size=2048)
    compressor.framing = own
    try:
        with pytest.raises(RuntimeError, match="the block failed"):
            _fail_with_one_frame(compressor)
        assert compressor.framing is own
    finally:
        del compressor.framing


class _Described(Codec):
    name = "described"
    distribution = "brinery-described"
    compressor_class = brinery.Compressor
    magic = b"DSC1"
    extensions = (".dsc", ".desc")
    lowest, default, highest = 1, 4, 9


def test_a_codec_description_defaults_from_its_required_attributes() -> None:
    codec = _Described()
    assert codec.entry_point == "described"
    assert codec.plugin_selections == ("brinery-described",)
    assert codec.round_trip_levels == (1, 4, 9)
    assert codec.invalid_levels == (0, 10, 2.5, "4", True, None)
    names = ("model.pkl.dsc", "MODEL.DSC", "model.pkl.desc", "MODEL.DESC")
    assert codec.extension_file_names == names
    assert codec.small_frames_threads == (None,)
    assert codec.known_plugin is None
    parameters = codec.parameters()
    assert parameters["case"] == parameters["variant"] == parameters["tool_input"] == []
    assert codec.missing_values_reason("variant") == (
        "described has no command-line tool (_Described.tool is None)"
    )


def test_a_known_codec_is_found_among_the_known_plugins() -> None:
    class Zstd(_Described):
        name = "zstd"

    known: Any = Zstd().known_plugin
    assert (known.compressor, known.distribution) == ("zstd", "brinery-zstd")


def test_the_contract_is_not_collected_by_itself() -> None:
    """No ``Test`` prefix and no ``__init__``: pytest collects only the subclasses."""
    assert not CodecContract.__name__.startswith("Test")
    assert "__init__" not in vars(CodecContract)


# -- indexed files: the stream a compressed file holds, and the seek table ---------------------


def test_compressed_stream_is_what_an_indexed_gzip_file_holds() -> None:
    value = {"a": np.arange(300_000, dtype=np.int64), "b": ["x"] * 10}
    gzipped = brinery.compressors()["gzip"]
    with frame_size(gzipped, 1 << 18):  # (several frames)
        data = dumps(value, compress="gzip", checksums=True)
    plain = dumps(value, compress=False, checksums=True, shuffle="byte")
    stream = compressed_stream(plain, data, gzip.decompress, gzipped.framing)
    assert stream == gzip.decompress(data) != plain
    assert is_indexed(stream)
    frames = index_frames(stream)
    assert len(frames) > 4
    assert with_frames(plain, frames) == stream
    assert_same(brinery.load(io.BytesIO(stream)), value)  # (its checksums hold)
    unindexed = dumps(value, compress=False, shuffle="byte", index=False)
    assert compressed_stream(unindexed, b"not read", gzip.decompress, gzipped.framing) == unindexed


def test_compressed_stream_checks_the_frames_the_index_lists() -> None:
    """An index listing frames the file does not have (here: the first frame said to take one
    byte more, and the next one byte less) is found."""
    value = {"a": np.arange(300_000, dtype=np.int64)}
    gzipped = brinery.compressors()["gzip"]
    with frame_size(gzipped, 1 << 18):
        data = dumps(value, compress="gzip", checksums=False)
    plain = dumps(value, compress=False, checksums=False, shuffle="byte")
    frames = index_frames(gzip.decompress(data))
    (start, offset, length), (next_start, next_offset, next_length) = frames[:2]
    lying = [(start, offset, length + 1), (next_start, next_offset + 1, next_length - 1)]
    lied = with_frames(plain, lying + frames[2:])

    def decode(file: bytes) -> bytes | None:  # (as Codec.decode: None for what it refuses)
        if file == data:
            return lied
        try:
            return gzip.decompress(file)
        except (OSError, EOFError):
            return None

    with pytest.raises(AssertionError, match="frame 0"):
        compressed_stream(plain, data, decode, gzipped.framing)


def test_walk_frames_tells_the_seek_table_from_hints() -> None:
    """A hint, then the table that ends the file (no data frame: no decompressor needed)."""
    hint = brinery.SKIPPABLE_FRAME_HINTS.encode(100, 200)
    table = seek_table.encode([(28, 0), (100, 200)])
    data = hint + table
    assert seek_table_span(data) == range(len(hint), len(data))
    assert seek_table_entries(data) == [(28, 0), (100, 200)]
    frames = walk_frames(data, lambda: pytest.fail("no data frame"))
    assert [(frame.kind, frame.hint) for frame in frames] == [
        ("skippable", (100, 200)),
        (SEEK_TABLE, None),
    ]
    assert frames[1] == (len(hint), len(table), SEEK_TABLE, 0, None)
    # A table that is not the last bytes is no seek table: a skippable frame like any other.
    assert seek_table_span(data + b"\x00") is None
    assert seek_table_span(data[:-1]) is None


def test_seek_table_flips_follow_the_table_layout() -> None:
    table = range(100, 141)  # 8-byte header, 3 entries, 9-byte footer
    header, magic = list(range(100, 108)), list(range(137, 141))
    assert seek_table_flips(table, 0xFF) == ([*header, *magic], [])
    assert seek_table_flips(table, 0x01) == ([*header, *magic], [136])  # the descriptor
