"""The contract every compressor plugin meets, written once for lz4, lzo and zstd.

A plugin's test module (``brinery_<name>/test_<name>.py``) describes its codec as ``CODEC``, an
instance of a :class:`Codec` subclass, and pulls these tests in with ``from codec_contract
import *`` (``tests/plugins/conftest.py`` puts this folder on ``sys.path``); plugins that write
brinery's frame hints pull in ``hinted_frames_contract`` as well.  The ``codec`` fixture is then
that module's ``CODEC``, and ``pytest_generate_tests`` parametrizes these tests over the codec's
own values (levels, file names, tool options, ...).  The module adds what only its codec has.

* Round trips at the codec's levels, by name, tuple, list and extension; refused levels.
* Damage: every truncation and every one-byte flip (xor 0xFF, xor 0x01) of a small file, and of
  a file cut into many 1 KiB frames, is loaded from a BytesIO and from a path: it raises
  brinery's errors, or (a harmless flip, which the codec library itself decodes to the very
  same bytes) loads the original; never the codec's bare exception nor a wrong object.
* Many frames; several objects in one stream, from a file object and from a pipe.
* The command-line tool checks and decompresses exactly the uncompressed brinery stream from
  what brinery writes; brinery loads what the tool compresses (options, concatenated outputs)
  and detects the tool's files cut or damaged.
* Without the plugin, brinery names the distribution; BRINERY_LOAD_PLUGINS; ``brinery plugins``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC


class Codec:
    """A plugin's codec, as the contract sees it.  Subclasses set every attribute."""

    # -- the plugin
    name: ClassVar[str]
    distribution: ClassVar[str]  # the distribution that brings it, named when it is missing
    entry_point: ClassVar[str]
    compressor_class: ClassVar[type]
    magic: ClassVar[bytes]
    extensions: ClassVar[tuple[str, ...]]
    lowest: ClassVar[int]
    default: ClassVar[int]
    highest: ClassVar[int]
    #: Whether brinery writes frame hints (skippable frames) between its frames: see
    #: ``hinted_frames_contract``.  Without them, a file is one run of blocks under one header.
    frame_hints: ClassVar[bool] = False
    #: Values for ``BRINERY_LOAD_PLUGINS`` that select this plugin (and only it).
    plugin_selections: ClassVar[tuple[str, ...]]

    # -- round trips
    round_trip_levels: ClassVar[tuple[int, ...]]
    invalid_levels: ClassVar[tuple[Any, ...]]
    extension_file_names: ClassVar[tuple[str, ...]]  # names that select the codec
    #: A fast level and one that writes fewer bytes for the sample object.
    faster_and_smaller: ClassVar[tuple[int, int]]
    #: The levels of the second and fourth of several objects dumped one after another.
    sequence_levels: ClassVar[tuple[int, int]]
    pipe_level: ClassVar[int]  # of the many-frames object dumped into a pipe

    # -- damage
    small_file_limit: ClassVar[int] = 4096  # the small sample compresses to less
    #: How many bytes are cut off the end, inside the closing checksum or end mark.
    closing_cuts: ClassVar[tuple[int, ...]]
    #: At most this many offsets of the small file load the original once flipped; likewise per
    #: frame of the file cut into many small frames.  0: every flip is detected.
    harmless_flips: ClassVar[int]
    harmless_flips_per_frame: ClassVar[int]
    #: ``threads`` for loading the many-small-frames file (None: the default).
    small_frames_threads: ClassVar[tuple[int | None, ...]]

    # -- the command-line tool (options are after -q; "stdin": the stream is piped in, "file":
    #    the tool reads the file stream.bin in its working folder)
    tool: ClassVar[str]
    #: case: ("sample", "small" or "many frames", level or None for the default).
    tool_cases: ClassVar[dict[str, tuple[str, int | None]]]
    tool_variants: ClassVar[dict[str, list[str]]]  # name: options, -c included
    tool_inputs: ClassVar[tuple[str, ...]]
    #: Options for the pieces of a stream compressed separately, in turn.
    concatenation_options: ClassVar[tuple[list[str], ...]] = (["-c"],)
    #: Whether the magic number is in a file's header only (or may turn up in its data too).
    magic_once_per_file: ClassVar[bool] = False
    #: The tool file that is cut and damaged: its input and options.
    damaged_tool_file: ClassVar[tuple[str, list[str]]] = ("stdin", ["-c"])
    #: Cuts off its end besides half of it and all but ``tool_cut_margin`` bytes.
    tool_cuts: ClassVar[tuple[int, ...]]
    tool_cut_margin: ClassVar[int]
    #: What the error for a damaged checksum says (a regular expression), or None.
    checksum_message: ClassVar[str | None] = None

    def decode(self, data: bytes) -> bytes | None:
        """What the codec library itself (not the plugin) decodes ``data`` to; None: refused."""
        raise NotImplementedError

    def checksum_error(self) -> type[BaseException] | None:
        """The codec library's exception for a failed checksum, kept as ``__cause__``."""
        return None

    def check_small_file(self, data: bytes) -> None:
        assert data.startswith(self.magic)
        assert 200 < len(data) < self.small_file_limit

    def check_closing_bytes(self, data: bytes) -> None:
        """Checks that ``data`` ends with what ``closing_cuts`` cut into."""
        raise NotImplementedError

    def empty_file(self, data: bytes) -> bytes:
        """A valid file holding no data (``data``: a file brinery wrote, for its header)."""
        raise NotImplementedError

    def check_tool_output(self, data: bytes, variant: str, tool_input: str, stream: bytes) -> None:
        """Checks that the tool's file for ``stream`` is what its options ask for."""
        raise NotImplementedError

    def check_tool_listing(self, tool: str, path: Path, case: str, stream: bytes) -> None:
        """Checks what the tool lists of ``path``, written by brinery (default: nothing)."""

    def tool_damage_offset(self, size: int) -> int:
        """Where a byte of the tool's file is damaged (default: the last, in its checksum)."""
        return size - 1

    def parameters(self) -> dict[str, list[Any]]:
        """The values of the contract tests' codec-specific arguments."""
        return {
            "level": list(self.round_trip_levels),
            "invalid_level": list(self.invalid_levels),
            "file_name": list(self.extension_file_names),
            "cut": list(self.closing_cuts),
            "small_frames_threads": list(self.small_frames_threads),
            "case": list(self.tool_cases),
            "variant": list(self.tool_variants),
            "tool_input": list(self.tool_inputs),
            "plugin_selection": list(self.plugin_selections),
        }


_CONTRACT_MODULES = {__name__, "hinted_frames_contract"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrizes the contract's tests (not the module's own) over the codec's values."""
    if metafunc.function.__module__ not in _CONTRACT_MODULES:
        return
    for argname, values in metafunc.module.CODEC.parameters().items():
        if argname in metafunc.fixturenames:
            metafunc.parametrize(argname, values)


@pytest.fixture(scope="module")
def codec(request: pytest.FixtureRequest) -> Codec:
    """The codec of the test module (its ``CODEC``)."""
    return request.module.CODEC


# -- the plugin -----------------------------------------------------------------------------------


def test_the_plugin_registers_its_compressor(codec: Codec) -> None:
    compressor = brinery.compressors()[codec.name]
    assert isinstance(compressor, codec.compressor_class)
    assert compressor.name == codec.name
    assert compressor.magic == codec.magic
    assert compressor.extensions == codec.extensions
    assert (compressor.levels.start, compressor.levels.stop - 1) == (codec.lowest, codec.highest)
    assert compressor.default_level == codec.default


# -- round trips ----------------------------------------------------------------------------------


def test_round_trip_at_level(
    level: int, codec: Codec, tmp_path: Path, sample_object: Any, assert_same: Any, dumps: Any
) -> None:
    original = sample_object()
    path = tmp_path / "sample.bin"
    assert brinery.dump(original, path, compress=(codec.name, level)) == [str(path)]
    data = path.read_bytes()
    assert data.startswith(codec.magic)
    assert codec.decode(data) == dumps(original, compress=False, checksums=False)
    assert_same(brinery.load(path), original)
    assert_same(brinery.load(io.BytesIO(data)), original)


def test_levels_change_the_output(codec: Codec, sample_object: Any, dumps: Any) -> None:
    original = sample_object()
    faster, smaller = codec.faster_and_smaller
    sizes = {
        level: len(dumps(original, compress=(codec.name, level))) for level in (faster, smaller)
    }
    assert sizes[smaller] < sizes[faster], sizes


def test_name_and_tuple_and_path_give_the_same_bytes(
    codec: Codec, tmp_path: Path, sample_object: Any, assert_same: Any, dumps: Any
) -> None:
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
    file_name: str, codec: Codec, tmp_path: Path, sample_object: Any, assert_same: Any, dumps: Any
) -> None:
    original = sample_object()
    path = tmp_path / file_name
    assert brinery.dump(original, path) == [str(path)]
    assert path.read_bytes() == dumps(original, compress=(codec.name, codec.default))
    assert_same(brinery.load(path), original)


@pytest.mark.parametrize("other_extension", [".xz", ".bz2", ".gz"])
def test_compress_argument_overrides_the_extension(
    other_extension: str, codec: Codec, tmp_path: Path, dumps: Any
) -> None:
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
    invalid_level: Any, codec: Codec, tmp_path: Path
) -> None:
    message = rf"from {codec.lowest} to {codec.highest}"
    compress = (codec.name, invalid_level)
    with pytest.raises(brinery.InvalidArgumentError, match=message) as caught:
        brinery.dump({"a": 1}, io.BytesIO(), compress=compress)
    assert codec.name in str(caught.value)
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.dump({"a": 1}, tmp_path / f"x{codec.extensions[0]}", compress=compress)
    assert list(tmp_path.iterdir()) == [], "a refused dump left a file behind"


# -- damage ---------------------------------------------------------------------------------------


@pytest.fixture
def small_file(codec: Codec, small_sample: Any, dumps: Any) -> bytes:
    data = dumps(small_sample(), compress=codec.name)
    codec.check_small_file(data)
    return data


def test_empty_data_is_an_unknown_format(codec: Codec, tmp_path: Path) -> None:
    path = tmp_path / f"empty{codec.extensions[0]}"
    path.write_bytes(b"")
    for source in (io.BytesIO(b""), path):
        with pytest.raises(brinery.UnknownFormatError):
            brinery.load(source)


def test_every_truncation_is_reported(
    codec: Codec, small_file: bytes, small_sample: Any, damage: Any
) -> None:
    magic = len(codec.magic)
    tally = damage.truncations(small_file, small_sample(), range(magic, len(small_file)))
    assert tally.violations == [], tally.summary()
    assert tally.identical == []
    assert sum(tally.raised.values()) == tally.loads == 2 * (len(small_file) - magic)


def test_truncation_inside_the_magic_number_is_reported(
    codec: Codec, small_file: bytes, small_sample: Any, damage: Any
) -> None:
    # 1 byte to all but one of the magic number: the data ends before it could be recognised.
    tally = damage.truncations(small_file, small_sample(), range(1, len(codec.magic)))
    assert tally.violations == [], tally.summary()


def test_truncation_inside_the_closing_checksum_or_end_mark_is_reported(
    cut: int, codec: Codec, small_file: bytes, tmp_path: Path
) -> None:
    codec.check_closing_bytes(small_file)
    path = tmp_path / f"cut{codec.extensions[0]}"
    path.write_bytes(small_file[:-cut])
    for source in (io.BytesIO(small_file[:-cut]), path):
        with pytest.raises(brinery.TruncatedFileError):
            brinery.load(source)


def assert_harmless(
    codec: Codec, data: bytes, offsets: list[int], mask: int, stream: bytes
) -> None:
    """Flipped at each of ``offsets``, ``data`` still decodes to ``stream`` (the codec says)."""
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= mask
        assert codec.decode(bytes(damaged)) == stream, f"offset {offset} changes the data"


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flipped_byte_is_detected_or_harmless(
    mask: int, codec: Codec, small_file: bytes, small_sample: Any, damage: Any, dumps: Any
) -> None:
    tally = damage.flips(small_file, small_sample(), mask, len(codec.magic))
    assert tally.violations == [], tally.summary()
    assert sum(tally.raised.values()) + len(tally.identical) * 2 == tally.loads
    assert tally.loads == 2 * len(small_file)
    assert len(tally.identical) <= codec.harmless_flips, tally.summary()
    stream = dumps(small_sample(), compress=False, checksums=False)
    assert_harmless(codec, small_file, tally.identical, mask, stream)


@pytest.mark.parametrize(
    "trailer",
    [b"\x00", b"garbage!", "stream", "empty file"],
    ids=["zero", "text", "second-stream", "empty-file"],
)
def test_data_after_the_file_is_corrupt(
    trailer: Any,
    codec: Codec,
    small_file: bytes,
    small_sample: Any,
    tmp_path: Path,
    assert_same: Any,
) -> None:
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


# -- many small frames ----------------------------------------------------------------------------
#
# brinery's frames hold 4 MiB of stream, too big for every-byte loops; with the compressor's
# frame_size lowered to 1 KiB, a small object is cut into five frames, so the loops cover frame
# boundaries: with frame hints, each frame but the first is announced by a hint (a skippable
# frame with the next frame's sizes), and the loops cover hints and the reading of hinted frames
# straight into an array; without, the frames are runs of blocks under the one header.  With
# threads=2 hinted frames are read on a thread pool; as each load then starts threads, those
# loops load from a BytesIO only (a path differs in buffering only, which threads=1 covers).
# The lowered frame_size stays in force while the file is loaded.

SMALL_FRAMES = 1024
WAYS = {None: ("BytesIO", "path"), 1: ("BytesIO", "path"), 2: ("BytesIO",)}


@pytest.fixture
def small_frames_file(
    codec: Codec,
    monkeypatch: pytest.MonkeyPatch,
    framed_sample: Any,
    dumps: Any,
    walk_frames: Any,
) -> tuple[bytes, list[Any]]:
    """The framed sample in 1 KiB frames, and its hints (none without frame hints)."""
    monkeypatch.setattr(brinery.compressors()[codec.name], "frame_size", SMALL_FRAMES)
    data = dumps(framed_sample(), compress=codec.name)
    if codec.frame_hints:
        frames = walk_frames(data, codec.new_decompressor)
        hints = [frame for frame in frames if frame.hint is not None]
        assert len(hints) == 4, frames
        assert [frame.kind for frame in frames] == ["data", "skippable"] * 4 + ["data"]
    else:
        hints = []
        assert data.count(codec.magic) == 1
    assert len(data) < 1500
    return data, hints


def test_many_small_frames_load(
    small_frames_threads: int | None,
    small_frames_file: Any,
    framed_sample: Any,
    assert_same: Any,
) -> None:
    data, _ = small_frames_file
    source = io.BytesIO(data)
    assert_same(brinery.load(source, threads=small_frames_threads), framed_sample())
    assert source.tell() == len(data)


def test_every_truncation_of_many_small_frames_is_reported(
    small_frames_threads: int | None, small_frames_file: Any, framed_sample: Any, damage: Any
) -> None:
    data, _ = small_frames_file
    threads = small_frames_threads
    tally = damage.truncations(data, framed_sample(), range(1, len(data)), threads, WAYS[threads])
    assert tally.violations == [], tally.summary()
    assert tally.identical == []


@pytest.mark.parametrize("mask", [0xFF, 0x01], ids=["xor-ff", "xor-01"])
def test_every_flip_in_many_small_frames_is_detected_or_harmless(
    mask: int,
    small_frames_threads: int | None,
    codec: Codec,
    small_frames_file: Any,
    framed_sample: Any,
    damage: Any,
    dumps: Any,
) -> None:
    data, hints = small_frames_file
    threads = small_frames_threads
    tally = damage.flips(data, framed_sample(), mask, len(codec.magic), threads, WAYS[threads])
    assert tally.violations == [], tally.summary()
    bound = codec.harmless_flips_per_frame * (len(hints) + 1)
    assert len(tally.identical) <= bound, tally.summary()
    stream = dumps(framed_sample(), compress=False, checksums=False)
    assert_harmless(codec, data, tally.identical, mask, stream)


# -- many frames ----------------------------------------------------------------------------------


def big_object() -> dict[str, Any]:
    """About 20 MB, mildly compressible: repeated random blocks, a range, small objects."""
    rng = np.random.default_rng(5)
    block = rng.integers(0, 40, size=1 << 16, dtype=np.uint8)
    return {
        "tiles": np.tile(block, 240).reshape(-1, 1024),  # 15.7 MB
        "range": np.arange(600_000, dtype=np.int64),  # 4.8 MB
        "words": [f"word{i}" for i in range(20_000)],
    }


@pytest.fixture(scope="module")
def big(codec: Codec) -> dict[str, Any]:
    """The big object, its file written with 1 and 2 threads, and its uncompressed stream."""
    original = big_object()
    files = {}
    for threads in (1, 2):
        buffer = io.BytesIO()
        brinery.dump(original, buffer, compress=codec.name, threads=threads)
        files[threads] = buffer.getvalue()
    raw = io.BytesIO()
    brinery.dump(original, raw, compress=False, checksums=False)
    return {"object": original, "files": files, "raw": raw.getvalue()}


def test_many_frames_do_not_depend_on_threads(big: dict[str, Any]) -> None:
    assert big["files"][1] == big["files"][2]


@pytest.mark.parametrize("threads", [1, 2, None])
def test_many_frames_load_back(threads: int | None, big: dict[str, Any], assert_same: Any) -> None:
    source = io.BytesIO(big["files"][2])
    assert_same(brinery.load(source, threads=threads), big["object"])
    assert source.tell() == len(big["files"][2])


# -- several objects in one stream ----------------------------------------------------------------


def test_objects_dumped_one_after_another_load_one_after_another(
    codec: Codec, sample_object: Any, small_sample: Any, assert_same: Any
) -> None:
    objects = [sample_object(), small_sample(), {"after": "plain"}, big_object()["range"], "end"]
    second, fourth = codec.sequence_levels
    arguments = [
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
def test_objects_load_one_after_another_from_a_pipe(
    threads: int, codec: Codec, sample_object: Any, pipe_roundtrip: Any, assert_same: Any
) -> None:
    many_frames = np.arange(1_300_000, dtype=np.int64)  # 10.4 MB: three frames
    objects = [sample_object(), many_frames, {"last": [1, 2, 3]}, {"uncompressed": True}]
    name = codec.name
    arguments = [{"compress": name}, {"compress": (name, codec.pipe_level)}, {"compress": name}, {}]
    loaded = pipe_roundtrip(objects, arguments, threads=threads)
    for got, want in zip(loaded, objects, strict=True):
        assert_same(got, want)


# -- the command-line tool ------------------------------------------------------------------------


def many_frames_object(name: str) -> dict[str, Any]:
    """About 13 MB: four of brinery's 4 MiB frames."""
    rng = np.random.default_rng(11)
    return {
        "tiles": np.tile(rng.integers(0, 30, size=1 << 16, dtype=np.uint8), 130),
        "range": np.arange(500_000, dtype=np.int64),
        "text": [name] * 1000,
    }


def tool_case(codec: Codec, case: str, sample_object: Any, small_sample: Any) -> tuple[Any, Any]:
    """The object and the ``compress=`` value of one of ``codec.tool_cases``."""
    kind, level = codec.tool_cases[case]
    value = {"sample": sample_object, "small": small_sample}.get(kind)
    compress = codec.name if level is None else (codec.name, level)
    return (many_frames_object(codec.name) if value is None else value()), compress


@pytest.fixture
def sample_stream(sample_object: Any, dumps: Any) -> tuple[dict[str, Any], bytes]:
    """A fresh sample object, and its uncompressed brinery stream (for the tool to compress)."""
    original = sample_object()
    return original, dumps(original, compress=False, checksums=False)


@pytest.fixture
def compress_with_tool(
    codec: Codec, tool: Any, run_tool: Any, tmp_path: Path
) -> Callable[..., bytes]:
    """``compress_with_tool(options, stream, tool_input="stdin")``: the tool's output."""
    program = tool(codec.tool)

    def run(options: list[str], stream: bytes, tool_input: str = "stdin") -> bytes:
        if tool_input == "stdin":
            return run_tool([program, "-q", *options], stream)
        (tmp_path / "stream.bin").write_bytes(stream)
        return run_tool([program, "-q", *options, "stream.bin"], cwd=tmp_path)

    return run


def test_the_tool_checks_and_decompresses_what_brinery_writes(
    case: str,
    codec: Codec,
    tmp_path: Path,
    sample_object: Any,
    small_sample: Any,
    tool: Any,
    run_tool: Any,
    dumps: Any,
) -> None:
    program = tool(codec.tool)
    value, compress = tool_case(codec, case, sample_object, small_sample)
    path = tmp_path / f"brinery{codec.extensions[0]}"
    brinery.dump(value, path, compress=compress)
    run_tool([program, "-t", "-q", str(path)])
    stream = dumps(value, compress=False, checksums=False)
    assert run_tool([program, "-d", "-c", "-q", str(path)]) == stream
    codec.check_tool_listing(program, path, case, stream)


def test_brinery_loads_what_the_tool_compresses(
    variant: str,
    tool_input: str,
    codec: Codec,
    tmp_path: Path,
    sample_stream: Any,
    compress_with_tool: Any,
    assert_same: Any,
) -> None:
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
    parts: int,
    codec: Codec,
    sample_stream: Any,
    compress_with_tool: Any,
    assert_same: Any,
) -> None:
    """``cat a b``: pieces of one stream compressed separately, cut anywhere."""
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
    codec: Codec, sample_stream: Any, compress_with_tool: Any
) -> None:
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


# -- without the plugin ---------------------------------------------------------------------------

WITHOUT_PLUGIN = textwrap.dedent(
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


def written_file(codec: Codec, folder: Path) -> Path:
    """A small file the plugin writes, chosen by its extension."""
    path = folder / f"written{codec.extensions[0]}"
    brinery.dump({"a": np.arange(10), "s": codec.name}, path)
    return path


def run_without_plugin(
    codec: Codec, run_python: Any, tmp_path: Path, selection: str
) -> dict[str, Any]:
    path = written_file(codec, tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    # The first extension, and the last in upper case (.zstd for zstd).
    names = [f"x.pkl{codec.extensions[0]}", f"Y{codec.extensions[-1].upper()}"]
    arguments = [str(path), str(folder), codec.name, *names]
    code = f"import sys; sys.argv[1:] = {arguments!r}\n" + WITHOUT_PLUGIN
    done = run_python(code, env={"BRINERY_LOAD_PLUGINS": selection})
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def builtin_compressors(run_python: Any) -> set[str]:
    """The compressors of a process that loads no plugin."""
    done = run_python(
        "import brinery; print(' '.join(brinery.compressors()))",
        env={"BRINERY_LOAD_PLUGINS": ""},
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("selection", ["", "brinery-none-such"])
def test_without_the_plugin_brinery_names_the_distribution(
    selection: str, codec: Codec, run_python: Any, tmp_path: Path
) -> None:
    found = run_without_plugin(codec, run_python, tmp_path, selection)
    assert codec.name not in found["compressors"]
    for key in [
        "load path",
        "load file object",
        "dump by extension",
        "dump by upper case",
        "dump by name",
        "dump by tuple",
    ]:
        assert found[key] is not None, f"{key}: no error"
        kind, message, distribution, compressor = found[key]
        assert kind == "CompressorNotInstalledError", (key, found[key])
        assert codec.distribution in message, (key, message)
        assert distribution == codec.distribution, (key, found[key])
        assert compressor == codec.name, (key, found[key])
    assert found["files"] == [], "a refused dump left a file behind"


def test_load_plugins_variable_loads_only_the_named_plugin(
    plugin_selection: str,
    codec: Codec,
    run_python: Any,
    tmp_path: Path,
    builtin_compressors: set[str],
) -> None:
    path = written_file(codec, tmp_path)
    code = textwrap.dedent(
        f"""
        import json, brinery
        loaded = brinery.load({str(path)!r})
        print(json.dumps({{"compressors": sorted(brinery.compressors()),
                           "a": loaded["a"].tolist(), "s": loaded["s"]}}))
        """
    )
    found = json.loads(run_python(code, env={"BRINERY_LOAD_PLUGINS": plugin_selection}).stdout)
    assert set(found["compressors"]) == builtin_compressors | {codec.name}
    assert (found["a"], found["s"]) == (list(range(10)), codec.name)


# -- the command line -----------------------------------------------------------------------------


def plugin_rows(env: dict[str, str] | None = None) -> dict[str, list[str]]:
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


def test_the_plugins_command_lists_the_plugin(codec: Codec) -> None:
    rows = plugin_rows()
    assert rows[codec.entry_point] == [
        codec.entry_point,
        codec.distribution,
        "0.1.0",
        "register_compressors",
        f"{codec.name} ({', '.join(codec.extensions)})",
    ]
    assert metadata.version(codec.distribution) == "0.1.0"


def test_the_plugins_command_without_the_plugin(codec: Codec) -> None:
    rows = plugin_rows({"BRINERY_LOAD_PLUGINS": ""})
    assert codec.entry_point not in rows
    assert all(codec.distribution not in row for row in rows.values())
