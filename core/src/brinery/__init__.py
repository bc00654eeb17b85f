"""brinery: persist Python objects holding big numpy arrays into one file, fast and exactly.

``dump(obj, "model.pkl.zst")`` streams the arrays' memory straight into the file (compressed on
every core if asked), and ``load(path)`` reads it straight back into the new arrays.
"""

from __future__ import annotations

import importlib.metadata

from .api import dump, load, untrusted_types
from .compressor import Compressor, StreamCompressor, StreamDecompressor
from .errors import (
    BrineryError,
    CompressorNotInstalledError,
    CorruptFileError,
    DependencyMissingError,
    DumpError,
    InvalidArgumentError,
    RegistrationError,
    SizeLimitError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedVersionError,
    UntrustedTypesError,
)
from .framing import SKIPPABLE_FRAME_HINTS, FrameHint, FrameHints, Framing
from .hookspecs import RegisterCompressor, hookimpl
from .plugins import PluginWarning, registry


def _installed_version() -> str:
    """The installed distribution's version: core/pyproject.toml says it, once."""
    try:
        return importlib.metadata.version("brinery")
    except importlib.metadata.PackageNotFoundError:  # the source tree on sys.path, not installed
        return "0+unknown"


__version__ = _installed_version()


def register_compressor(name: str, compressor: Compressor, force: bool = False) -> None:
    """Make ``compressor`` available as ``compress=name``, by its extensions and its magic.

    A name, extension or magic number that is taken (or a magic that is a prefix of another's,
    or shorter than 2 bytes) raises :class:`RegistrationError` unless ``force`` is true.
    """
    registry().register(name, compressor, force=force)


def compressors() -> dict[str, Compressor]:
    """The registered compressors by name (built-in, from plugins, and registered by code)."""
    return registry().snapshot()


__all__ = [
    "BrineryError",
    "Compressor",
    "CompressorNotInstalledError",
    "CorruptFileError",
    "DependencyMissingError",
    "DumpError",
    "FrameHint",
    "FrameHints",
    "Framing",
    "InvalidArgumentError",
    "PluginWarning",
    "RegisterCompressor",
    "RegistrationError",
    "SKIPPABLE_FRAME_HINTS",
    "SizeLimitError",
    "StreamCompressor",
    "StreamDecompressor",
    "TruncatedFileError",
    "UnknownFormatError",
    "UnsupportedVersionError",
    "UntrustedTypesError",
    "compressors",
    "dump",
    "hookimpl",
    "load",
    "register_compressor",
    "untrusted_types",
]
