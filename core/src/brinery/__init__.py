"""brinery: persist Python objects holding big numpy arrays into one file, fast and exactly.

``dump(obj, "model.pkl.zst")`` streams the arrays' memory straight into the file (compressed on
every core if asked), and ``load(path)`` reads it straight back into the new arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from .framing import SKIPPABLE_FRAME_HINTS, EndFrameFinder, FrameHint, FrameHints, Framing
from .plugins import PluginWarning, registry

if TYPE_CHECKING:
    from .hookspecs import RegisterCompressor, hookimpl

    __version__: str

#: Names given on first access (:func:`__getattr__`): what only plugins and ``--version`` need
#: would otherwise cost more to import than the rest of brinery.
_LAZY = {
    "RegisterCompressor": "hookspecs",
    "hookimpl": "hookspecs",
    "LazyArray": "random_access",
    "Opened": "random_access",
}


def open(  # (brinery.open, as tarfile.open: open a file of this kind)
    source: Any,
    *,
    trusted: Any = None,
    max_bytes: int | None = None,
    threads: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Any:
    """Open a brinery file to load one entry (``opened[key]``), or read one slice of one
    array (``opened.array(path)[i:j]``), without the rest: see
    :class:`brinery.random_access.Opened`.  ``source``: a path, an fsspec URL or a seekable
    binary file; the options as for :func:`load`.  A context manager."""
    from .random_access import open_stream

    return open_stream(
        source,
        trusted=trusted,
        max_bytes=max_bytes,
        threads=threads,
        storage_options=storage_options,
    )


def __getattr__(name: str) -> Any:
    """``hookimpl`` and ``RegisterCompressor`` (pluggy's, for plugins), and ``__version__``
    (importlib.metadata's), imported the first time they are asked for."""
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


def _installed_version() -> str:
    """The installed distribution's version: core/pyproject.toml says it, once."""
    import importlib.metadata

    try:
        return importlib.metadata.version("brinery")
    except importlib.metadata.PackageNotFoundError:  # the source tree on sys.path, not installed
        return "0+unknown"


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
    "EndFrameFinder",
    "FrameHint",
    "FrameHints",
    "Framing",
    "InvalidArgumentError",
    "LazyArray",
    "Opened",
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
    "open",
    "register_compressor",
    "untrusted_types",
]
