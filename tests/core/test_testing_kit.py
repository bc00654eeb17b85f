"""brinery.testing, the plugin test kit, beyond what running the contract shows (tests/plugins and
examples/brinery-example/tests run it): its helpers leave the process as they found it, and a
codec description's defaults follow from the required attributes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.testing import Codec, CodecContract, frame_size


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
