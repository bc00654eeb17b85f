"""The contract every brinery compressor plugin meets, as a test kit for the plugin's own tests.

brinery does the hard parts of a compressor (frames, threads, hints, bounded memory, errors), so
a plugin is small; whether it fits the core is what this kit checks, with the very tests the
plugins shipped with brinery run.  A plugin's test module describes its codec and subclasses the
contract (needs pytest: ``pip install "brinery[testing]"``)::

    from brinery.testing import Codec, CodecContract

    class MyCodec(Codec):
        name = "mycodec"
        distribution = "brinery-mycodec"
        compressor_class = MyCompressor
        magic = b"MYC1"
        extensions = (".myc",)
        lowest, default, highest = 1, 3, 9

        def decode(self, data: bytes) -> bytes | None:
            ...  # what the codec's own library decompresses data to (None: it refuses it)

    class TestMyCodec(CodecContract):
        codec = MyCodec()

Codecs whose frames carry brinery's frame hints (zstd's and LZ4's skippable frames) use
:class:`HintedFramesCodec` and :class:`HintedFramesContract`.  No conftest is needed: the
contract's fixtures are methods of the contract class, and the helpers it is built from are
plain functions, exported here for a plugin's own tests.

Importing this module imports pytest; ``import brinery`` never does.
"""

from __future__ import annotations

import pytest

# The contract's assertions live in these modules, not in the test module that subclasses it:
# without this, a failing assert would report no values.  (Named one by one: this package is
# already imported, and pytest warns about a name it can no longer rewrite.)
_MODULES = (
    "codec",
    "contract",
    "damage",
    "frames",
    "hinted_frames",
    "indexed",
    "objects",
    "processes",
    "records",
)
pytest.register_assert_rewrite(*(f"{__name__}.{module}" for module in _MODULES))

from .codec import Codec, HintedFramesCodec  # noqa: E402
from .contract import BigFiles, CodecContract, SmallFrames  # noqa: E402
from .damage import (  # noqa: E402
    DATA_DAMAGE_ERRORS,
    FOREIGN_DATA_ERRORS,
    MAGIC_DAMAGE_ERRORS,
    Damage,
    Tally,
)
from .frames import (  # noqa: E402
    SEEK_TABLE,
    Frame,
    Streamed,
    decompress_in_pieces,
    frame_size,
    seek_table_entries,
    seek_table_span,
    walk_frames,
)
from .hinted_frames import HintedFramesContract, lying_hints  # noqa: E402
from .indexed import (  # noqa: E402
    CountingFile,
    compressed_stream,
    index_frames,
    is_indexed,
    with_frames,
    wrong_when_opened,
    zlib_streams,
)
from .objects import (  # noqa: E402
    assert_same,
    big_object,
    dumps,
    framed_sample,
    loads,
    many_frames_object,
    sample_object,
    small_sample,
)
from .processes import (  # noqa: E402
    LimitedLoad,
    find_tool,
    load_limited,
    pipe_roundtrip,
    run_python,
    run_tool,
)
from .records import RecordHeader, record_headers  # noqa: E402

__all__ = [
    "CountingFile",
    "DATA_DAMAGE_ERRORS",
    "FOREIGN_DATA_ERRORS",
    "MAGIC_DAMAGE_ERRORS",
    "SEEK_TABLE",
    "BigFiles",
    "Codec",
    "CodecContract",
    "Damage",
    "Frame",
    "HintedFramesCodec",
    "HintedFramesContract",
    "LimitedLoad",
    "RecordHeader",
    "SmallFrames",
    "Streamed",
    "Tally",
    "assert_same",
    "big_object",
    "compressed_stream",
    "decompress_in_pieces",
    "zlib_streams",
    "dumps",
    "find_tool",
    "frame_size",
    "framed_sample",
    "index_frames",
    "is_indexed",
    "load_limited",
    "loads",
    "lying_hints",
    "many_frames_object",
    "pipe_roundtrip",
    "record_headers",
    "run_python",
    "run_tool",
    "sample_object",
    "seek_table_entries",
    "seek_table_span",
    "small_sample",
    "walk_frames",
    "with_frames",
    "wrong_when_opened",
]
