"""How a plugin describes its codec to the contract: a :class:`Codec` subclass.

The description is written by hand, not read from the plugin: the contract checks that the
registered compressor matches it (name, magic, extensions, levels), and it takes what the
codec's own library says a file holds (:meth:`Codec.decode`) as the truth that brinery's loads
are compared with.  What only some codecs have (a command-line tool, frame hints, a container
header) has defaults that leave those tests out, or skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import brinery
from brinery.known_plugins import KNOWN_PLUGINS, KnownPlugin

__all__ = ["TOOL_ARGUMENTS", "Codec", "HintedFramesCodec"]

#: The contract's arguments that only tests of the command-line tool take.
TOOL_ARGUMENTS = frozenset({"case", "variant", "tool_input"})


class Codec:
    """A plugin's codec, as the contract sees it.

    A subclass sets the attributes without a default (the first group), implements
    :meth:`decode`, and overrides whatever else differs from the defaults.  Attributes shown
    as properties here have defaults computed from the others; a subclass sets them as plain
    class attributes.
    """

    # -- the plugin: required ----------------------------------------------------------------
    #: The compressor's name (``compress="name"``).
    name: ClassVar[str]
    #: The distribution that brings it: what ``brinery plugins`` lists, and what brinery names
    #: when the plugin is missing and the codec is one it knows of.
    distribution: ClassVar[str]
    #: The class of the compressor the plugin registers.
    compressor_class: ClassVar[type[brinery.Compressor]]
    magic: ClassVar[bytes]
    extensions: ClassVar[tuple[str, ...]]
    #: The lowest, default and highest levels.
    lowest: ClassVar[int]
    default: ClassVar[int]
    highest: ClassVar[int]

    # -- the plugin: defaults ----------------------------------------------------------------
    #: The distribution's version, if the test should hold it to one (None: any).
    version: ClassVar[str | None] = None
    #: Whether the compressor says every frame carries a strong check of its content (then
    #: brinery adds no record checksums to the stream inside).
    checks_integrity: ClassVar[bool] = False
    #: Whether brinery writes frame hints (skippable frames) between its frames: see
    #: :class:`HintedFramesCodec`.  Without them, frames are read one after another.
    frame_hints: ClassVar[bool] = False

    @property
    def entry_point(self) -> str:
        """The plugin's entry point name in the ``brinery`` group (default: the codec's)."""
        return self.name

    @property
    def plugin_selections(self) -> tuple[str, ...]:
        """Values of ``BRINERY_LOAD_PLUGINS`` that select this plugin and only it."""
        return (self.distribution,)

    # -- round trips -----------------------------------------------------------------------

    @property
    def round_trip_levels(self) -> tuple[int, ...]:
        """The levels a sample is dumped and loaded at (default: lowest, default, highest)."""
        return tuple(sorted({self.lowest, self.default, self.highest}))

    @property
    def invalid_levels(self) -> tuple[Any, ...]:
        """``compress=(name, level)`` values that are refused, naming the range."""
        return (self.lowest - 1, self.highest + 1, 2.5, str(self.default), True, None)

    @property
    def extension_file_names(self) -> tuple[str, ...]:
        """File names whose extension selects the codec (default: each extension after
        ``.pkl``, and in upper case)."""
        return tuple(
            name
            for extension in self.extensions
            for name in (f"model.pkl{extension}", f"MODEL{extension.upper()}")
        )

    @property
    def faster_and_smaller(self) -> tuple[int, int]:
        """A fast level and one that writes fewer bytes for the sample object."""
        return self.lowest, self.highest

    @property
    def sequence_levels(self) -> tuple[int, int]:
        """The levels of the second and fourth of several objects dumped one after another."""
        return self.highest, self.lowest

    @property
    def pipe_level(self) -> int:
        """The level of the many-frames object dumped into a pipe."""
        return self.default

    # -- damage ----------------------------------------------------------------------------
    #: The small sample compresses to less than this many bytes.
    small_file_limit: ClassVar[int] = 4096
    #: The framed sample in 1 KiB frames compresses to less than this many bytes.
    small_frames_limit: ClassVar[int] = 1500
    #: At most this many offsets of the small file load the original once flipped (the codec
    #: itself decodes the damaged bytes to the same data); likewise per frame of the file cut
    #: into many small frames, and of each frame of the small file after its first (indexed, its
    #: index record starts a frame of its own).  0: every flip is detected.  Flips inside a
    #: seek table are held to what the format says instead (``CodecContract.check_table``).
    #: Measure, then write down the counts and what they are in the test module's docstring.
    harmless_flips: ClassVar[int] = 0
    harmless_flips_per_frame: ClassVar[int] = 0

    @property
    def closing_cuts(self) -> tuple[int, ...]:
        """How many bytes are cut off the end, inside the closing checksum or end mark (see
        :meth:`check_closing_bytes`); default: the last byte."""
        return (1,)

    @property
    def small_frames_threads(self) -> tuple[int | None, ...]:
        """``threads`` for loading the many-small-frames file (None: the default).  Hinted
        frames are read on threads, so 1 and 2; other frames one after another."""
        return (1, 2) if self.frame_hints else (None,)

    # -- the command-line tool -------------------------------------------------------------
    # The tool takes gzip's options (-q quiet, -c to standard output, -d decompress, -t test);
    # the options below come after -q.  A tool input "stdin" pipes the stream in, "file" has
    # the tool read the file stream.bin in its working folder.
    #: The codec's command-line tool (``zstd``, ``lz4``, ``lzop``), or None: its tests skip.
    tool: ClassVar[str | None] = None
    #: Options for the pieces of a stream compressed separately, in turn.
    concatenation_options: ClassVar[tuple[list[str], ...]] = (["-c"],)
    #: Whether the magic number is in a file's header only (or may turn up in its data too).
    magic_once_per_file: ClassVar[bool] = False
    #: The tool file that is cut and damaged: its input and options.
    damaged_tool_file: ClassVar[tuple[str, list[str]]] = ("stdin", ["-c"])
    #: Cuts off its end besides half of it and all but ``tool_cut_margin`` bytes.
    tool_cuts: ClassVar[tuple[int, ...]] = (1, 100)
    tool_cut_margin: ClassVar[int] = 20
    #: What the error for a damaged checksum says (a regular expression), or None.
    checksum_message: ClassVar[str | None] = None

    @property
    def tool_cases(self) -> dict[str, tuple[str, int | None]]:
        """Files brinery writes that the tool must read: case name: (``"sample"``,
        ``"small"`` or ``"many frames"``, the level or None for the default)."""
        if self.tool is None:
            return {}
        return {
            "lowest": ("sample", self.lowest),
            "default": ("sample", None),
            "highest": ("small", self.highest),
            "many-frames": ("many frames", None),
        }

    @property
    def tool_variants(self) -> dict[str, list[str]]:
        """The tool's options (``-c`` included) whose output brinery must load, by name."""
        return {} if self.tool is None else {"default": ["-c"]}

    @property
    def tool_inputs(self) -> tuple[str, ...]:
        """How the tool reads the stream it compresses: ``"stdin"``, ``"file"``."""
        return () if self.tool is None else ("stdin",)

    # -- what the codec library says -------------------------------------------------------

    def decode(self, data: bytes) -> bytes | None:
        """What the codec library itself (not the plugin) decodes ``data`` to, every frame of
        it; None if it refuses the data.  Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement Codec.decode")

    def checksum_error(self) -> type[BaseException] | None:
        """The codec library's exception for a failed checksum, kept as ``__cause__``."""
        return None

    def check_small_file(self, data: bytes) -> None:
        """Checks the small file the damage loops use: the codec's, and small."""
        assert data.startswith(self.magic)
        assert 200 < len(data) < self.small_file_limit, len(data)

    def check_closing_bytes(self, data: bytes) -> None:
        """Checks that ``data`` ends with what :attr:`closing_cuts` cut into (default: no
        check)."""

    def empty_file(self, data: bytes) -> bytes:
        """A valid file holding no data (``data``: a file brinery wrote, for its header).

        The default asks the plugin: its header, one frame of nothing, its trailer."""
        compressor = self.compressor
        framing = compressor.framing
        frame = b"".join(compressor.compress_frame(self.default, b""))
        return framing.header(self.default) + frame + framing.trailer

    def check_tool_output(self, data: bytes, variant: str, tool_input: str, stream: bytes) -> None:
        """Checks that the tool's file for ``stream`` is what its options ask for (default:
        no check)."""

    def check_tool_listing(self, tool: str, path: Path, case: str, stream: bytes) -> None:
        """Checks what the tool lists of ``path``, written by brinery (default: no check)."""

    def tool_damage_offset(self, size: int) -> int:
        """Where a byte of the tool's file is damaged (default: the last, in its checksum)."""
        return size - 1

    # -- for the contract ------------------------------------------------------------------

    @property
    def compressor(self) -> brinery.Compressor:
        """The registered compressor of this name."""
        return brinery.compressors()[self.name]

    @property
    def known_plugin(self) -> KnownPlugin | None:
        """brinery's own entry for this codec, if it is one brinery knows of and ships
        separately (``brinery.known_plugins``): then brinery names the distribution to install
        when the plugin is missing; otherwise the codec is simply unknown."""
        return next((known for known in KNOWN_PLUGINS if known.compressor == self.name), None)

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

    def missing_values_reason(self, argument: str) -> str:
        """Why the tests taking ``argument`` skip, when :meth:`parameters` gives no values."""
        if argument in TOOL_ARGUMENTS and self.tool is None:
            return f"{self.name} has no command-line tool ({type(self).__name__}.tool is None)"
        return f"{type(self).__name__} gives no values for {argument!r}"


class HintedFramesCodec(Codec):
    """A codec whose frames carry brinery's frame hints (zstd's and LZ4's skippable frames,
    :data:`brinery.SKIPPABLE_FRAME_HINTS`): see :class:`~brinery.testing.HintedFramesContract`.
    """

    frame_hints: ClassVar[bool] = True

    def new_decompressor(self) -> Any:
        """The codec library's decompressor for one frame (``decompress``, ``eof``,
        ``unused_data``), for :func:`~brinery.testing.walk_frames`.  Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement new_decompressor")

    def has_checksum(self, frame: bytes) -> bool:
        """Whether the frame that starts ``frame`` carries its content checksum.  Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement has_checksum")

    def content_size(self, frame: bytes) -> int | None:
        """The uncompressed size the header of the frame that starts ``frame`` records (None:
        none recorded).  Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement content_size")

    def check_frame_listing(self, tool: str, path: Path, data_frames: int, skippable: int) -> None:
        """Checks that the tool lists the frames of ``path``: ``data_frames`` of the codec's,
        with their checksum, and ``skippable`` skippable ones: a hint between each two, then
        (``skippable`` is ``data_frames``: an indexed file) the seek table after the last
        (default: no check)."""
