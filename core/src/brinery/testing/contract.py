"""The contract every compressor plugin meets: :class:`CodecContract`.

A plugin's test module describes its codec with a :class:`~brinery.testing.Codec` and runs the
contract by subclassing it (the subclass's name starts with ``Test``, so pytest collects it)::

    class TestMyCodec(CodecContract):
        codec = MyCodec()

The class's ``pytest_generate_tests`` parametrizes the contract's tests over the codec's own
values (levels, file names, tool options...); tests the subclass adds are left alone.

* Round trips at the codec's levels, by name, tuple, list and extension; refused levels.
* Damage: every truncation and every one-byte flip (xor 0xFF, xor 0x01) of a small file, and of
  a file cut into many 1 KiB frames, each indexed (the default) and not, is loaded from a
  BytesIO and from a path: it raises brinery's errors, or (a harmless flip, which the codec
  library itself decodes to the very same bytes) loads the original; never the codec's bare
  exception nor a wrong object.  The seek table that ends an indexed file of a hinted codec
  is held to what the format says of it, byte by byte (see :meth:`CodecContract.check_table`).
* Many frames; several objects in one stream, from a file object and from a pipe.
* The command-line tool checks and decompresses exactly the uncompressed brinery stream from
  what brinery writes; brinery loads what the tool compresses (options, concatenated outputs)
  and detects the tool's files cut or damaged.  Skipped for a codec without a tool.
* Without the plugin, brinery names the distribution (a codec brinery knows of) or reports an
  unknown format and compressor; BRINERY_LOAD_PLUGINS; ``brinery plugins``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_HEADER, STREAM_MAGIC

from .codec import Codec, HintedFramesCodec
from .damage import BOTH_WAYS, Damage, Tally, seek_table_flips
from .frames import (
    SEEK_TABLE,
    Frame,
    frame_size,
    seek_table_entries,
    seek_table_span,
    walk_frames,
)
from .indexed import compressed_stream, index_frames, is_indexed, wrong_when_opened
from .objects import (
    assert_same,
    big_object,
    dumps,
    framed_sample,
    many_frames_object,
    sample_object,
    small_sample,
)
from .processes import find_tool, pipe_roundtrip, run_python, run_tool

__all__ = ["BigFiles", "CodecContract", "SmallFrames"]

#: The modules whose tests the codec's values parametrize (a subclass's own tests are not).
CONTRACT_MODULES = frozenset({__name__, "brinery.testing.hinted_frames"})

# -- many small frames
#
# brinery's frames hold 4 MiB of stream, too big for every-byte loops; with the compressor's
# frame size lowered to 1 KiB, a small object is cut into five frames (six when indexed: the
# index record starts a frame of its own), so the loops cover frame boundaries: with frame
# hints, each frame but the first is announced by a hint (a skippable frame with the next
# frame's sizes), and an indexed file ends with a seek table, so the loops cover hints, the
# table and the reading of hinted frames straight into an array; without, the frames are runs
# of blocks under the one header, or each starts with the magic number.  With threads=2 hinted
# frames are read on a thread pool; as each load then starts threads, those loops load from a
# BytesIO only (a path differs in buffering only, which threads=1 covers).  The lowered frame
# size stays in force while the file is loaded.

SMALL_FRAMES = 1024
#: How many frames the framed sample takes in 1 KiB frames (unindexed; indexed, one more).
SMALL_FRAME_COUNT = 5
#: The files the damage loops load are dumped with ``index=`` each of these (the default, True,
#: first): both layouts are written and read, so damage to either must be detected.
INDEX_LAYOUTS = [pytest.param(True, id="indexed"), pytest.param(False, id="unindexed")]
WAYS: dict[int | None, tuple[str, ...]] = {None: BOTH_WAYS, 1: BOTH_WAYS, 2: ("BytesIO",)}


class SmallFrames(NamedTuple):
    """The framed sample written in 1 KiB frames (indexed or not: ``small_frames_index``)."""

    data: bytes
    hints: list[Frame]  # the hints between the frames (none without frame hints)
    frames: int  # how many frames of the codec's format the file holds


@dataclass(frozen=True)
class BigFiles:
    """The big object, its file written with 1 and 2 threads, and the stream they hold."""

    value: dict[str, Any]
    files: dict[int, bytes]
    raw: bytes


def _plugin_rows(env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """``python -m brinery plugins`` as {plugin name: its columns}."""
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "plugins"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["plugin", "distribution", "version", "hooks", "compressors"]
    return {line.split()[0]: re.split(r"\s{2,}", line.strip()) for line in lines[1:]}


_WITHOUT_PLUGIN = textwrap.dedent(
    """
    import io, json, os, sys
    import brinery

    path, folder, name, lower, upper = sys.argv[1:]
    found = {"compressors": sorted(brinery.compressors())}

    def attempt(key, action):
        try:
            action()
        except Exception as error:
            found[key] = [type(error).__name__, str(error), getattr(error, "distribution", None),
                          getattr(error, "compressor", None)]
        else:
            found[key] = None

    attempt("load path", lambda: brinery.load(path))
    attempt("load file object", lambda: brinery.load(io.BytesIO(open(path, "rb").read())))
    attempt("dump by extension", lambda: brinery.dump({"a": 1}, os.path.join(folder, lower)))
    attempt("dump by upper case", lambda: brinery.dump({"a": 1}, os.path.join(folder, upper)))
    attempt("dump by name", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress=name))
    attempt("dump by tuple", lambda: brinery.dump({"a": 1}, io.BytesIO(), compress=(name, 3)))
    found["files"] = sorted(os.listdir(folder))
    print(json.dumps(found))
    """
)
_LOADS = ("load path", "load file object")
_DUMPS_BY_FILE_NAME = ("dump by extension", "dump by upper case")
_DUMPS_BY_NAME = ("dump by name", "dump by tuple")


def _frame_count(stream: bytes) -> int:
    """How many frames a compressed file holding ``stream``, of less than one frame's size,
    has: one, and when it is indexed, the one the index record starts (the frames before it
    are those the index lists)."""
    if not is_indexed(stream):
        return 1
    listed = index_frames(stream)
    return len(listed) + 1 if listed else 1


class CodecContract:
    """The tests every compressor plugin passes; a subclass sets :attr:`codec`.

    Fixtures the contract uses are methods here, so a subclass's own tests can ask for them
    too: ``small_file``, ``damage``, ``small_frames_file``, ``big``, ``sample_stream``,
    ``compress_with_tool``, ``builtin_compressors``.  No conftest is involved: the kit works
    in a plugin's own repository as it does in brinery's.
    """

    codec: ClassVar[Codec]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrizes the contract's tests (not the subclass's own) over the codec's values;
        an argument without values gives one skipped case that says why."""
        if metafunc.function.__module__ not in CONTRACT_MODULES:
            return
        codec = getattr(self, "codec", None)
        if not isinstance(codec, Codec):
            raise TypeError(f"{type(self).__name__}.codec must be a brinery.testing.Codec")
        for argname, values in codec.parameters().items():
            if argname not in metafunc.fixturenames:
                continue
            if values:
                metafunc.parametrize(argname, values)
            else:
                skip = pytest.mark.skip(reason=codec.missing_values_reason(argname))
                metafunc.parametrize(argname, [pytest.param(None, marks=skip)], ids=["none"])

    # -- helpers ---------------------------------------------------------------------------

    @classmethod
    def stream_of(cls, value: Any, *, index: bool = True) -> bytes:
        """The uncompressed brinery stream of ``value`` that a compressed file of it (written
        with ``index=``) holds, but for the frames an index lists (see :meth:`stream_in`): with
        record checksums unless the codec checks its frames itself, and its arrays of numbers
        byte-shuffled (``shuffle="auto"`` shuffles compressed files only)."""
        return dumps(
            value,
            compress=False,
            checksums=not cls.codec.checks_integrity,
            shuffle="byte",
            index=index,
        )

    @classmethod
    def stream_in(cls, value: Any, data: bytes, *, index: bool = True) -> bytes:
        """The uncompressed brinery stream that ``data``, a compressed file of ``value`` written
        with ``index=``, holds: :meth:`stream_of`, and for an indexed file, its index listing the
        file's frames, each checked with the codec library
        (:func:`~brinery.testing.indexed.compressed_stream`)."""
        codec = cls.codec
        plain = cls.stream_of(value, index=index)
        return compressed_stream(plain, data, codec.decode, codec.compressor.framing)

    def check_table(self, tally: Tally, data: bytes, mask: int | None = None) -> list[int]:
        """Checks what loading the variants of ``data`` damaged inside the seek table that ends
        it (if it does) gave; returns the offsets outside the table whose variant loaded the
        original.

        Truncated (``mask`` None): the file without its table loads the original (a table is
        not needed to load the stream: it is read when there, checked against the frames); cut
        inside it, the table is not one, so a file object loads the stream and stops before it,
        leaving it to the caller, and a path, which must end with its stream, raises
        CorruptFileError (:attr:`~brinery.testing.Tally.left`).  Flipped: a table whose header
        or closing magic is damaged is not one either (left); damage to its entries, count or
        descriptor is reported as such, but for the descriptor's two unused bits, which a
        reader ignores (:func:`~brinery.testing.damage.seek_table_flips`)."""
        table = seek_table_span(data) if self.codec.frame_hints else None
        if table is None:
            assert tally.left == [], tally.summary()
            return tally.identical
        if mask is None:
            left, identical = list(range(table.start + 1, table.stop)), [table.start]
            inside = [offset for offset in tally.identical if offset >= table.start]
        else:
            left, identical = seek_table_flips(table, mask)
            inside = [offset for offset in tally.identical if offset in table]
        assert tally.left == left, tally.summary()
        assert inside == identical, tally.summary()
        return [offset for offset in tally.identical if offset not in inside]

    def foreign_stream(self, original: Any) -> Callable[[bytes], bool] | None:
        """For a codec without a check of its own: whether a damaged file of ``original`` starts
        with a valid frame (the plugin's decompressor finds its end) that the codec library
        decodes to data whose stream header is not brinery's.  brinery judges the stream by
        its header, so such a file is, as far as anyone can tell, a file of something else,
        and loading it may say so (:data:`~brinery.testing.damage.FOREIGN_DATA_ERRORS`).  None
        for a codec that checks its frames: its damage is always reported as such."""
        if self.codec.checks_integrity:
            return None
        compressor = self.codec.compressor
        header = self.stream_of(original)[: STREAM_HEADER.size]

        def foreign(damaged: bytes) -> bool:
            decompressor = compressor.new_decompressor()
            try:
                decompressor.decompress(damaged)
            except compressor.errors:
                return False
            if not decompressor.eof:
                return False
            decoded = self.codec.decode(damaged[: len(damaged) - len(decompressor.unused_data)])
            return decoded is not None and decoded[: len(header)] != header

        return foreign

    def tool_program(self) -> str:
        """The path of the codec's command-line tool; skips the test without one."""
        if self.codec.tool is None:
            pytest.skip(self.codec.missing_values_reason("case"))
        return find_tool(self.codec.tool)

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture(params=INDEX_LAYOUTS)
    def small_file_index(self, request: pytest.FixtureRequest) -> bool:
        """``index=`` of the small file (both layouts, the default first)."""
        return bool(request.param)

    @pytest.fixture
    def small_file(self, small_file_index: bool) -> bytes:
        """The small sample, compressed at the default level: what the every-byte loops damage."""
        data = dumps(small_sample(), compress=self.codec.name, index=small_file_index)
        self.codec.check_small_file(data)
        return data

    @pytest.fixture
    def damage(self, tmp_path: Path) -> Damage:
        """A :class:`~brinery.testing.Damage` writing its files into this test's ``tmp_path``."""
        return Damage(tmp_path)

    @pytest.fixture(params=INDEX_LAYOUTS)
    def small_frames_index(self, request: pytest.FixtureRequest) -> bool:
        """``index=`` of the many-small-frames file (both layouts, the default first)."""
        return bool(request.param)

    @pytest.fixture
    def small_frames_file(self, small_frames_index: bool) -> Iterator[SmallFrames]:
        """The framed sample in 1 KiB frames (the frame size stays lowered during the test)."""
        codec = self.codec
        compressor = codec.compressor
        indexed = small_frames_index
        with frame_size(compressor, SMALL_FRAMES):
            data = dumps(framed_sample(), compress=codec.name, index=indexed)
            if isinstance(codec, HintedFramesCodec):
                found = walk_frames(data, codec.new_decompressor)
                hints = [frame for frame in found if frame.hint is not None]
                assert len(hints) == SMALL_FRAME_COUNT - 1 + indexed, found
                kinds = [frame.kind for frame in found]
                table = [SEEK_TABLE] if indexed else []
                assert kinds == ["data", "skippable"] * len(hints) + ["data", *table]
                if indexed:  # listing every frame before it, hints as frames of nothing
                    listed = [(frame.length, frame.output) for frame in found[:-1]]
                    assert seek_table_entries(data) == listed
                frames = len(hints) + 1
            elif compressor.framing.header(codec.default):
                # A container: one header, then every frame's blocks.
                hints, frames = [], 1
                assert data.count(codec.magic) == 1
            else:
                # Frames one after another, each starting with the magic number.
                hints, frames = [], data.count(codec.magic)
                assert frames >= SMALL_FRAME_COUNT
            assert len(data) < codec.small_frames_limit, len(data)
            yield SmallFrames(data, hints, frames)

    @pytest.fixture(scope="class")
    @classmethod
    def big(cls) -> BigFiles:
        """The big object, its file written with 1 and 2 threads, and its uncompressed stream."""
        original = big_object()
        files = {
            threads: dumps(original, compress=cls.codec.name, threads=threads) for threads in (1, 2)
        }
        return BigFiles(original, files, cls.stream_in(original, files[1]))

    @pytest.fixture
    def sample_stream(self) -> tuple[dict[str, Any], bytes]:
        """A fresh sample object, and its uncompressed brinery stream (for the tool to
        compress)."""
        original = sample_object()
        return original, dumps(original, compress=False, checksums=False)

    @pytest.fixture
    def compress_with_tool(self, tmp_path: Path) -> Callable[..., bytes]:
        """``compress_with_tool(options, stream, tool_input="stdin")``: the tool's output."""
        program = self.tool_program()

        def run(options: list[str], stream: bytes, tool_input: str = "stdin") -> bytes:
            if tool_input == "stdin":
                return run_tool([program, "-q", *options], stream)
            (tmp_path / "stream.bin").write_bytes(stream)
            return run_tool([program, "-q", *options, "stream.bin"], cwd=tmp_path)

        return run

    @pytest.fixture(scope="class")
    @classmethod
    def builtin_compressors(cls) -> set[str]:
        """The compressors of a process that loads no plugin."""
        done = run_python(
            "import brinery; print(' '.join(brinery.compressors()))",
            env={"BRINERY_LOAD_PLUGINS": ""},
        )
        return set(done.stdout.split())

    # -- the plugin ------------------------------------------------------------------------

    def test_the_plugin_registers_its_compressor(self) -> None:
        codec = self.codec
        compressor = brinery.compressors()[codec.name]
        assert isinstance(compressor, codec.compressor_class)
        assert compressor.name == codec.name
        assert compressor.magic == codec.magic
        assert compressor.extensions == codec.extensions
        levels = (compressor.levels.start, compressor.levels.stop - 1)
        assert levels == (codec.lowest, codec.highest)
        assert compressor.default_level == codec.default
        assert compressor.checks_integrity == codec.checks_integrity
        assert (compressor.framing.hints is not None) == codec.frame_hints

    # -- round trips -----------------------------------------------------------------------

    def test_round_trip_at_level(self, level: int, tmp_path: Path) -> None:
        codec = self.codec
        original = sample_object()
        path = tmp_path / "sample.bin"
        assert brinery.dump(original, path, compress=(codec.name, level)) == [str(path)]
        data = path.read_bytes()
        assert data.startswith(codec.magic)
        assert codec.decode(data) == self.stream_in(original, data)
        assert_same(brinery.load(path), original)
        assert_same(brinery.load(io.BytesIO(data)), original)

    def test_levels_change_the_output(self) -> None:
        codec = self.codec
        original = sample_object()
        faster, smaller = codec.faster_and_smaller
        sizes = {
            level: len(dumps(original, compress=(codec.name, level))) for level in (faster, smaller)
        }
        assert sizes[smaller] < sizes[faster], sizes

    def test_name_and_tuple_and_path_give_the_same_bytes(self, tmp_path: Path) -> None:
        codec = self.codec
        original = sample_object()
        by_name = dumps(original, compress=codec.name)
        assert by_name.startswith(codec.magic)
        assert dumps(original, compress=(codec.name, codec.default)) == by_name
        assert dumps(original, compress=[codec.name, codec.default]) == by_name
        assert dumps(original, compress=codec.name, threads=1) == by_name
        path = tmp_path / "sample.bin"
        brinery.dump(original, path, compress=codec.name)
        assert path.read_bytes() == by_name
        assert_same(brinery.load(io.BytesIO(by_name)), original)
        assert_same(brinery.load(io.BytesIO(by_name), threads=1), original)

    def test_extension_selects_the_codec_at_its_default_level(
        self, file_name: str, tmp_path: Path
    ) -> None:
        codec = self.codec
        original = sample_object()
        path = tmp_path / file_name
        assert brinery.dump(original, path) == [str(path)]
        assert path.read_bytes() == dumps(original, compress=(codec.name, codec.default))
        assert_same(brinery.load(path), original)

    @pytest.mark.parametrize("other_extension", [".xz", ".bz2", ".gz"])
    def test_compress_argument_overrides_the_extension(
        self, other_extension: str, tmp_path: Path
    ) -> None:
        codec = self.codec
        value = {"a": np.arange(10)}
        plain = tmp_path / f"plain{codec.extensions[0]}"
        brinery.dump(value, plain, compress=False, checksums=False)
        assert plain.read_bytes().startswith(STREAM_MAGIC)
        other = tmp_path / f"other{other_extension}"
        brinery.dump(value, other, compress=codec.name)
        assert other.read_bytes() == dumps(value, compress=codec.name)
        # Loading looks at the magic number only, never at the name.
        assert brinery.load(other)["a"].tolist() == list(range(10))

    def test_invalid_level_is_refused_naming_the_range(
        self, invalid_level: Any, tmp_path: Path
    ) -> None:
        codec = self.codec
        message = rf"from {codec.lowest} to {codec.highest}"
        compress = (codec.name, invalid_level)
        with pytest.raises(brinery.InvalidArgumentError, match=message) as caught:
            brinery.dump({"a": 1}, io.BytesIO(), compress=compress)
        assert codec.name in str(caught.value)
        with pytest.raises(brinery.InvalidArgumentError, match=message):
            brinery.dump({"a": 1}, tmp_path / f"x{codec.extensions[0]}", compress=compress)
        assert list(tmp_path.iterdir()) == [], "a refused dump left a file behind"

    # -- damage ----------------------------------------------------------------------------

    def test_empty_data_is_an_unknown_format(self, tmp_path: Path) -> None:
        path = tmp_path / f"empty{self.codec.extensions[0]}"
        path.write_bytes(b"")
        for source in (io.BytesIO(b""), path):
            with pytest.raises(brinery.UnknownFormatError):
                brinery.load(source)

    def test_every_truncation_is_reported(self, small_file: bytes, damage: Damage) -> None:
        magic = len(self.codec.magic)
        table = seek_table_span(small_file) if self.codec.frame_hints else None
        tally = damage.truncations(
            small_file, small_sample(), range(magic, len(small_file)), seek_table=table
        )
        assert tally.violations == [], tally.summary()
        assert self.check_table(tally, small_file) == []
        assert tally.loads == 2 * (len(small_file) - magic)
        loaded = len(tally.identical) + len(tally.left)  # (the table cut off, or cut into)
        assert sum(tally.raised.values()) + 2 * loaded == tally.loads

    def test_truncation_inside_the_magic_number_is_reported(
        self, small_file: bytes, damage: Damage
    ) -> None:
        # 1 byte to all but one of the magic number: the data ends before it could be recognised.
        tally = damage.truncations(small_file, small_sample(), range(1, len(self.codec.magic)))
        assert tally.violations == [], tally.summary()

    def test_truncation_inside_the_closing_checksum_or_end_mark_is_reported(
        self, cut: int, small_file: bytes, tmp_path: Path
    ) -> None:
        """Cut inside the last frame's closing bytes (those of an indexed file's frame are
        before its seek table, cut off too: see test_every_truncation_is_reported for cuts
        inside the table)."""
        codec = self.codec
        table = seek_table_span(small_file) if codec.frame_hints else None
        last_frame = small_file if table is None else small_file[: table.start]
        codec.check_closing_bytes(last_frame)
        path = tmp_path / f"cut{codec.extensions[0]}"
        path.write_bytes(last_frame[:-cut])
        for source in (io.BytesIO(last_frame[:-cut]), path):
            with pytest.raises(brinery.TruncatedFileError):
                brinery.load(source)

    def assert_harmless(self, data: bytes, offsets: list[int], mask: int, stream: bytes) -> None:
        """Flipped at each of ``offsets``, ``data`` still decodes to ``stream`` (the codec
        library says so): what loaded the original was harmless, not a missed damage."""
        for offset in offsets:
            damaged = bytearray(data)
            damaged[offset] ^= mask
            assert self.codec.decode(bytes(damaged)) == stream, f"offset {offset} changes the data"

    @pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
    def test_every_flipped_byte_is_detected_or_harmless(
        self, mask: int, small_file_index: bool, small_file: bytes, damage: Damage
    ) -> None:
        codec = self.codec
        foreign = self.foreign_stream(small_sample())
        table = seek_table_span(small_file) if codec.frame_hints else None
        tally = damage.flips(
            small_file, small_sample(), mask, len(codec.magic), foreign=foreign, seek_table=table
        )
        assert tally.violations == [], tally.summary()
        loaded = len(tally.identical) + len(tally.left)
        assert sum(tally.raised.values()) + loaded * 2 == tally.loads
        assert tally.loads == 2 * len(small_file)
        harmless = self.check_table(tally, small_file, mask)
        stream = self.stream_in(small_sample(), small_file, index=small_file_index)
        bound = codec.harmless_flips + codec.harmless_flips_per_frame * (_frame_count(stream) - 1)
        assert len(harmless) <= bound, tally.summary()
        self.assert_harmless(small_file, tally.identical, mask, stream)

    @pytest.mark.parametrize(
        "trailer",
        [b"\x00", b"garbage!", "stream", "empty file"],
        ids=["zero", "text", "second-stream", "empty-file"],
    )
    def test_data_after_the_file_is_corrupt(
        self, trailer: Any, small_file: bytes, tmp_path: Path
    ) -> None:
        codec = self.codec
        if trailer == "stream":
            trailer = small_file
        elif trailer == "empty file":
            trailer = codec.empty_file(small_file)
        path = tmp_path / f"trailing{codec.extensions[0]}"
        path.write_bytes(small_file + trailer)
        with pytest.raises(brinery.CorruptFileError, match="after the end") as caught:
            brinery.load(path)
        assert type(caught.value) is brinery.CorruptFileError
        # From a file object, the stream ends where it ends and what follows is the caller's.
        source = io.BytesIO(small_file + trailer)
        assert_same(brinery.load(source), small_sample())
        assert source.tell() == len(small_file)

    # -- many small frames (see SMALL_FRAMES) ----------------------------------------------

    def test_many_small_frames_load(
        self, small_frames_threads: int | None, small_frames_file: SmallFrames
    ) -> None:
        data = small_frames_file.data
        source = io.BytesIO(data)
        assert_same(brinery.load(source, threads=small_frames_threads), framed_sample())
        assert source.tell() == len(data)

    def test_every_truncation_of_many_small_frames_is_reported(
        self, small_frames_threads: int | None, small_frames_file: SmallFrames, damage: Damage
    ) -> None:
        data = small_frames_file.data
        threads = small_frames_threads
        table = seek_table_span(data) if self.codec.frame_hints else None
        tally = damage.truncations(
            data, framed_sample(), range(1, len(data)), threads, WAYS[threads], seek_table=table
        )
        assert tally.violations == [], tally.summary()
        assert self.check_table(tally, data) == []

    @pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
    def test_every_flip_in_many_small_frames_is_detected_or_harmless(
        self,
        mask: int,
        small_frames_threads: int | None,
        small_frames_index: bool,
        small_frames_file: SmallFrames,
        damage: Damage,
    ) -> None:
        codec = self.codec
        data = small_frames_file.data
        threads = small_frames_threads
        foreign = self.foreign_stream(framed_sample())
        table = seek_table_span(data) if codec.frame_hints else None
        tally = damage.flips(
            data, framed_sample(), mask, len(codec.magic), threads, WAYS[threads], foreign, table
        )
        assert tally.violations == [], tally.summary()
        harmless = self.check_table(tally, data, mask)
        bound = codec.harmless_flips_per_frame * small_frames_file.frames
        assert len(harmless) <= bound, tally.summary()
        stream = self.stream_in(framed_sample(), data, index=small_frames_index)
        self.assert_harmless(data, tally.identical, mask, stream)

    # -- random access (brinery.open) ------------------------------------------------------

    def finds_index_from_the_end(self) -> bool:
        """Whether an indexed file of this codec leads from its end to its index: a seek table
        after hinted frames, a locator, or the end record's own frame (its framing says)."""
        framing = self.codec.compressor.framing
        return any(way is not None for way in (framing.hints, framing.locator, framing.end_frame))

    def test_open_reads_each_entry_as_load_builds_it(
        self, small_frames_index: bool, small_frames_file: SmallFrames
    ) -> None:
        """``brinery.open`` works for every codec: an indexed file opens through its index
        when the codec's framing leads there from the end of the file, any other file by
        reading it through; either way each entry, a slice of the array and the whole value are
        what ``load`` builds."""
        data = small_frames_file.data
        loaded = brinery.load(io.BytesIO(data))
        with brinery.open(io.BytesIO(data)) as opened:
            found = opened.index is not None
            assert found == (small_frames_index and self.finds_index_from_the_end())
            assert opened.keys() == list(loaded)
            for key, value in loaded.items():
                assert_same(opened[key], value)
            np.testing.assert_array_equal(opened.array('["a"]')[40:90], loaded["a"][40:90])
            assert_same(opened.load(), loaded)

    @pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
    def test_every_flip_of_an_opened_file_is_refused_or_harmless(
        self, mask: int, small_frames_index: bool, small_frames_file: SmallFrames
    ) -> None:
        """Each byte of the many-frames file flipped: opening it and reading every entry and
        a slice raise brinery's errors, or give exactly what the intact file holds (a flip in
        a frame no entry read, or one the codec decodes to the same bytes) — never a wrong
        value, nor a codec's or Python's own exception."""
        data = small_frames_file.data
        wrong = {}
        for offset in range(len(data)):
            damaged = bytearray(data)
            damaged[offset] ^= mask
            found = wrong_when_opened(bytes(damaged), framed_sample())
            if found:
                wrong[offset] = found
        assert wrong == {}, f"wrong values, no error, for flips at {wrong}"

    def test_every_truncation_of_an_opened_file_is_refused_or_read_through(
        self, small_frames_index: bool, small_frames_file: SmallFrames
    ) -> None:
        """The many-frames file cut anywhere: opening it and reading it raise brinery's
        errors, or (cut right after the stream, before what follows it to lead to the index:
        then it is a file without one) give exactly the intact file's entries."""
        data = small_frames_file.data
        wrong = {}
        for length in range(1, len(data)):
            found = wrong_when_opened(data[:length], framed_sample())
            if found:
                wrong[length] = found
        assert wrong == {}, f"wrong values, no error, for cuts at {wrong}"

    # -- many frames -----------------------------------------------------------------------

    def test_many_frames_do_not_depend_on_threads(self, big: BigFiles) -> None:
        assert big.files[1] == big.files[2]

    def test_a_kept_frame_compressor_makes_every_frame_as_compress_frame_does(self) -> None:
        """``Compressor.new_frame_compressor``: a compression thread keeps one for a whole
        dump, so it must carry nothing from one frame to the next: frame after frame (large,
        empty, small, the same again), it makes what ``compress_frame`` makes of each alone."""
        compressor = self.codec.compressor
        level = self.codec.default
        stream = self.stream_of(framed_sample())
        pieces = [stream, b"", stream[:1000], stream[1000:], stream]
        kept = compressor.new_frame_compressor(level)
        made = [b"".join(kept(piece)) for piece in pieces]
        alone = [b"".join(compressor.compress_frame(level, piece)) for piece in pieces]
        assert made == alone

    @pytest.mark.parametrize("threads", [1, 2, None])
    def test_many_frames_load_back(self, threads: int | None, big: BigFiles) -> None:
        source = io.BytesIO(big.files[2])
        assert_same(brinery.load(source, threads=threads), big.value)
        assert source.tell() == len(big.files[2])

    # -- several objects in one stream -----------------------------------------------------

    def test_objects_dumped_one_after_another_load_one_after_another(self) -> None:
        codec = self.codec
        objects = [
            sample_object(),
            small_sample(),
            {"after": "plain"},
            big_object()["range"],
            "end",
        ]
        second, fourth = codec.sequence_levels
        arguments: list[dict[str, Any]] = [
            {"compress": codec.name},
            {"compress": (codec.name, second)},
            {"compress": False},
            {"compress": (codec.name, fourth)},
            {"compress": codec.name},
        ]
        buffer = io.BytesIO()
        for value, kwargs in zip(objects, arguments, strict=True):
            brinery.dump(value, buffer, **kwargs)
        size = buffer.tell()
        buffer.seek(0)
        for value in objects:
            assert_same(brinery.load(buffer), value)
        assert buffer.tell() == size
        with pytest.raises(brinery.UnknownFormatError):
            brinery.load(buffer)  # nothing left

    @pytest.mark.parametrize("threads", [1, 2])
    def test_objects_load_one_after_another_from_a_pipe(self, threads: int) -> None:
        codec = self.codec
        many_frames = np.arange(1_300_000, dtype=np.int64)  # 10.4 MB: three frames
        objects = [sample_object(), many_frames, {"last": [1, 2, 3]}, {"uncompressed": True}]
        name = codec.name
        arguments: list[dict[str, Any]] = [
            {"compress": name},
            {"compress": (name, codec.pipe_level)},
            {"compress": name},
            {},
        ]
        loaded = pipe_roundtrip(objects, arguments, threads=threads)
        for got, want in zip(loaded, objects, strict=True):
            assert_same(got, want)

    # -- the command-line tool -------------------------------------------------------------

    def tool_case(self, case: str) -> tuple[Any, Any]:
        """The object and the ``compress=`` value of one of ``codec.tool_cases``."""
        codec = self.codec
        kind, level = codec.tool_cases[case]
        make = {"sample": sample_object, "small": small_sample}.get(kind)
        compress = codec.name if level is None else (codec.name, level)
        return (many_frames_object(codec.name) if make is None else make()), compress

    def test_the_tool_checks_and_decompresses_what_brinery_writes(
        self, case: str, tmp_path: Path
    ) -> None:
        codec = self.codec
        program = self.tool_program()
        value, compress = self.tool_case(case)
        path = tmp_path / f"brinery{codec.extensions[0]}"
        brinery.dump(value, path, compress=compress)
        run_tool([program, "-t", "-q", str(path)])
        stream = self.stream_in(value, path.read_bytes())
        assert run_tool([program, "-d", "-c", "-q", str(path)]) == stream
        codec.check_tool_listing(program, path, case, stream)

    def test_brinery_loads_what_the_tool_compresses(
        self,
        variant: str,
        tool_input: str,
        tmp_path: Path,
        sample_stream: tuple[dict[str, Any], bytes],
        compress_with_tool: Callable[..., bytes],
    ) -> None:
        codec = self.codec
        original, stream = sample_stream
        data = compress_with_tool(codec.tool_variants[variant], stream, tool_input)
        assert data.startswith(codec.magic)
        codec.check_tool_output(data, variant, tool_input, stream)
        assert_same(brinery.load(io.BytesIO(data)), original)
        path = tmp_path / f"tool{codec.extensions[0]}"
        path.write_bytes(data)
        assert_same(brinery.load(path), original)

    @pytest.mark.parametrize("parts", [2, 3])
    def test_brinery_loads_concatenated_tool_files(
        self,
        parts: int,
        sample_stream: tuple[dict[str, Any], bytes],
        compress_with_tool: Callable[..., bytes],
    ) -> None:
        """``cat a b``: pieces of one stream compressed separately, cut anywhere."""
        codec = self.codec
        original, stream = sample_stream
        cuts = [len(stream) * index // parts for index in range(parts + 1)]
        options = codec.concatenation_options
        data = b"".join(
            compress_with_tool(options[index % len(options)], stream[cuts[index] : cuts[index + 1]])
            for index in range(parts)
        )
        if codec.magic_once_per_file:
            assert data.count(codec.magic) == parts
        else:
            assert data.count(codec.magic) >= parts
        assert_same(brinery.load(io.BytesIO(data)), original)

    def test_a_tool_file_cut_anywhere_or_damaged_is_detected(
        self,
        sample_stream: tuple[dict[str, Any], bytes],
        compress_with_tool: Callable[..., bytes],
    ) -> None:
        codec = self.codec
        tool_input, options = codec.damaged_tool_file
        data = compress_with_tool(options, sample_stream[1], tool_input)
        for cut in [*codec.tool_cuts, len(data) // 2, len(data) - codec.tool_cut_margin]:
            with pytest.raises(brinery.TruncatedFileError):
                brinery.load(io.BytesIO(data[:-cut]))
        damaged = bytearray(data)
        damaged[codec.tool_damage_offset(len(data))] ^= 0x10
        with pytest.raises(brinery.CorruptFileError, match=codec.checksum_message) as caught:
            brinery.load(io.BytesIO(bytes(damaged)))
        cause = codec.checksum_error()
        if cause is not None:
            assert isinstance(caught.value.__cause__, cause)

    # -- without the plugin ----------------------------------------------------------------

    def written_file(self, folder: Path) -> Path:
        """A small file the plugin writes, chosen by its extension."""
        path = folder / f"written{self.codec.extensions[0]}"
        brinery.dump({"a": np.arange(10), "s": self.codec.name}, path)
        return path

    @pytest.mark.parametrize("selection", ["", "brinery-none-such"])
    def test_without_the_plugin_brinery_names_the_distribution(
        self, selection: str, tmp_path: Path
    ) -> None:
        """Without the plugin, a file it wrote, a name or an extension that selects it is
        refused naming the distribution to install, if the codec is one brinery knows of
        (``brinery.known_plugins``).  Otherwise brinery cannot tell: the file is of an unknown
        format, the name an unknown compressor, and the extension selects nothing (a plain
        brinery stream is written)."""
        codec = self.codec
        path = self.written_file(tmp_path)
        folder = tmp_path / "out"
        folder.mkdir()
        # The first extension, and the last in upper case (.zstd for zstd).
        names = [f"x.pkl{codec.extensions[0]}", f"Y{codec.extensions[-1].upper()}"]
        arguments = [str(path), str(folder), codec.name, *names]
        code = f"import sys; sys.argv[1:] = {arguments!r}\n" + _WITHOUT_PLUGIN
        found = json.loads(run_python(code, env={"BRINERY_LOAD_PLUGINS": selection}).stdout)
        assert codec.name not in found["compressors"]
        if codec.known_plugin is None:
            for key in _LOADS:
                assert found[key] is not None, f"{key}: no error"
                assert found[key][0] == "UnknownFormatError", (key, found[key])
            for key in _DUMPS_BY_NAME:
                assert found[key] is not None, f"{key}: no error"
                kind, message, _, _ = found[key]
                assert kind == "InvalidArgumentError", (key, found[key])
                assert codec.name in message, (key, message)
            for key in _DUMPS_BY_FILE_NAME:
                assert found[key] is None, (key, found[key])
            assert found["files"] == sorted(names)
            for name in names:
                assert (folder / name).read_bytes().startswith(STREAM_MAGIC), name
            return
        for key in [*_LOADS, *_DUMPS_BY_FILE_NAME, *_DUMPS_BY_NAME]:
            assert found[key] is not None, f"{key}: no error"
            kind, message, distribution, compressor = found[key]
            assert kind == "CompressorNotInstalledError", (key, found[key])
            assert codec.distribution in message, (key, message)
            assert distribution == codec.distribution, (key, found[key])
            assert compressor == codec.name, (key, found[key])
        assert found["files"] == [], "a refused dump left a file behind"

    def test_load_plugins_variable_loads_only_the_named_plugin(
        self, plugin_selection: str, tmp_path: Path, builtin_compressors: set[str]
    ) -> None:
        codec = self.codec
        path = self.written_file(tmp_path)
        code = textwrap.dedent(
            f"""
            import json, brinery
            loaded = brinery.load({str(path)!r})
            print(json.dumps({{"compressors": sorted(brinery.compressors()),
                               "a": loaded["a"].tolist(), "s": loaded["s"]}}))
            """
        )
        done = run_python(code, env={"BRINERY_LOAD_PLUGINS": plugin_selection})
        found = json.loads(done.stdout)
        assert set(found["compressors"]) == builtin_compressors | {codec.name}
        assert (found["a"], found["s"]) == (list(range(10)), codec.name)

    # -- the command line ------------------------------------------------------------------

    def test_the_plugins_command_lists_the_plugin(self) -> None:
        codec = self.codec
        version = metadata.version(codec.distribution)
        rows = _plugin_rows()
        assert rows[codec.entry_point] == [
            codec.entry_point,
            codec.distribution,
            version,
            "register_compressors",
            f"{codec.name} ({', '.join(codec.extensions)})",
        ]
        if codec.version is not None:
            assert version == codec.version

    def test_the_plugins_command_without_the_plugin(self) -> None:
        codec = self.codec
        rows = _plugin_rows({"BRINERY_LOAD_PLUGINS": ""})
        assert codec.entry_point not in rows
        assert all(codec.distribution not in row for row in rows.values())


