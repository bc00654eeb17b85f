"""The registry of compressors: by name for ``compress=``, by extension for paths, by magic on load.

Registration is strict (numcodecs' registry silently replaces a codec registered under the same
id; brinery refuses): a name, an extension or a magic number already taken is an error unless
``force=True``, and so is a magic number that is a prefix of another (it would swallow the
other's files on detection) or shorter than two bytes.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable

from .compressor import Compressor
from .errors import CompressorNotInstalledError, InvalidArgumentError, RegistrationError
from .format.layout import STREAM_MAGIC
from .known_plugins import KNOWN_PLUGINS, KnownPlugin
from .streams.compressed import brings_own_files, has_codec_functions

MIN_MAGIC_LENGTH = 2


class Registry:
    """Compressors by name, with checks that keep names, extensions and magics unambiguous."""

    def __init__(self) -> None:
        self._by_name: dict[str, Compressor] = {}
        self._lock = threading.RLock()

    def register(self, name: str, compressor: Compressor, *, force: bool = False) -> None:
        """Add ``compressor`` under ``name``; see the module docstring for what is refused."""
        check_definition(name, compressor)
        with self._lock:
            clashes = self._clashes(name, compressor)
            if clashes and not force:
                raise RegistrationError(
                    f"cannot register compressor {name!r}: "
                    + "; ".join(reason for _, reason in clashes)
                    + " (pass force=True to replace)"
                )
            for other, _ in clashes:
                self._by_name.pop(other, None)
            self._by_name[name] = compressor

    def unregister(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)

    def snapshot(self) -> dict[str, Compressor]:
        with self._lock:
            return dict(self._by_name)

    def get(self, name: str) -> Compressor | None:
        """The compressor registered as ``name``, if any."""
        return self._by_name.get(name)

    def by_name(self, name: str) -> Compressor:
        """The compressor registered as ``name``; an error naming what exists otherwise."""
        compressor = self._by_name.get(name)
        if compressor is not None:
            return compressor
        known = _known_plugin(lambda plugin: plugin.compressor == name)
        if known is not None:
            raise _not_installed(known)
        raise InvalidArgumentError(
            f"unknown compressor {name!r}{_closest(name, self._by_name)}; available: "
            f"{', '.join(sorted(self._by_name)) or 'none'}"
        )

    def by_extension(self, path: str) -> Compressor | None:
        """The compressor a file name's ending selects, if any (case-insensitive)."""
        found = self.registered_for_extension(path)
        if found is not None:
            return found
        lowered = path.lower()
        known = _known_plugin(lambda plugin: any(map(lowered.endswith, plugin.extensions)))
        if known is not None:
            raise _not_installed(known, f"the file name {path!r} asks for")
        return None

    def registered_for_extension(self, path: str) -> Compressor | None:
        """:meth:`by_extension` among the registered compressors only: the longest matching
        extension wins; no error for a known plugin's."""
        lowered = path.lower()
        candidates = [
            (extension, compressor)
            for compressor in self._by_name.values()
            for extension in compressor.extensions
            if lowered.endswith(extension)
        ]
        return max(candidates, key=lambda pair: len(pair[0]))[1] if candidates else None

    def detect(self, head: bytes) -> Compressor | None:
        """The compressor whose magic number ``head`` starts with, if any."""
        found = self.registered_for_magic(head)
        if found is not None:
            return found
        known = _known_plugin(lambda plugin: head.startswith(plugin.magic))
        if known is not None:
            raise _not_installed(known, "this file was written with")
        return None

    def registered_for_magic(self, head: bytes) -> Compressor | None:
        """:meth:`detect` among the registered compressors only (the longest magic wins)."""
        matches = [
            (len(magic), compressor)
            for compressor in self._by_name.values()
            for magic in magics_of(compressor)
            if head.startswith(magic)
        ]
        return max(matches, key=lambda pair: pair[0])[1] if matches else None

    def clashes(self, name: str, compressor: Compressor) -> list[str]:
        """Why registering ``compressor`` (a valid definition) as ``name`` would be refused
        without ``force``; nothing if it would not."""
        with self._lock:
            return [reason for _, reason in self._clashes(name, compressor)]

    def _clashes(self, name: str, compressor: Compressor) -> list[tuple[str, str]]:
        clashes = []
        for other_name, other in self._by_name.items():
            if other_name == name:
                clashes.append((other_name, f"the name {name!r} is taken"))
                continue
            shared = set(compressor.extensions) & set(other.extensions)
            if shared:
                clashes.append((other_name, f"{other_name!r} has the extension {min(shared)!r}"))
            for magic in magics_of(compressor):
                for other_magic in magics_of(other):
                    if magic.startswith(other_magic) or other_magic.startswith(magic):
                        clashes.append(
                            (
                                other_name,
                                f"the magic number {magic.hex(' ')} overlaps {other_name!r}'s "
                                f"{other_magic.hex(' ')}",
                            )
                        )
        return clashes


def check_definition(name: str, compressor: Compressor) -> None:
    """Refuse definitions that could never work, whatever else is registered."""
    if not isinstance(compressor, Compressor):
        raise RegistrationError(
            f"cannot register {compressor!r} as {name!r}: it is not a brinery.Compressor"
        )
    if not isinstance(name, str) or not name:
        raise RegistrationError(f"a compressor name must be a non-empty str, not {name!r}")
    if compressor.name and compressor.name != name:
        raise RegistrationError(
            f"cannot register {compressor!r} as {name!r}: its name attribute says "
            f"{compressor.name!r}"
        )
    for magic in magics_of(compressor):
        if not isinstance(magic, bytes) or len(magic) < MIN_MAGIC_LENGTH:
            raise RegistrationError(
                f"cannot register compressor {name!r}: its magic number {magic!r} must be "
                f"bytes of at least {MIN_MAGIC_LENGTH} bytes"
            )
        if magic.startswith(STREAM_MAGIC[: len(magic)]):
            raise RegistrationError(
                f"cannot register compressor {name!r}: its magic number {magic.hex(' ')} "
                "overlaps brinery's own stream magic"
            )
    for extension in compressor.extensions:
        if not extension.startswith(".") or extension != extension.lower():
            raise RegistrationError(
                f"cannot register compressor {name!r}: extension {extension!r} must be lower "
                "case and start with a dot"
            )
    if not len(compressor.levels) or compressor.default_level not in compressor.levels:
        raise RegistrationError(
            f"cannot register compressor {name!r}: default_level {compressor.default_level!r} "
            f"is not in its levels {compressor.levels!r}"
        )
    _check_functions(name, compressor)


def _check_functions(name: str, compressor: Compressor) -> None:
    """Refuse a compressor the core could not drive: the two codec functions, or both general
    entries (an ``open_writer`` that takes the ``threads`` it is given)."""
    own_writer = type(compressor).open_writer is not Compressor.open_writer
    own_reader = brings_own_files(compressor)
    if own_writer != own_reader and has_codec_functions(compressor):
        raise RegistrationError(
            f"cannot register compressor {name!r}: override both open_writer() and "
            "open_reader(), or neither"
        )
    if not has_codec_functions(compressor) and not (own_writer and own_reader):
        raise RegistrationError(
            f"cannot register compressor {name!r}: implement new_compressor() and "
            "new_decompressor(), or open_writer() and open_reader()"
        )
    if own_writer:
        try:
            inspect.signature(compressor.open_writer).bind(None, 0, threads=1)
        except TypeError:
            raise RegistrationError(
                f"cannot register compressor {name!r}: its open_writer() must take the keyword "
                "argument threads (how many threads it may use)"
            ) from None


def magics_of(compressor: Compressor) -> tuple[bytes, ...]:
    """Every byte sequence a stream of ``compressor``'s format may start with."""
    return (compressor.magic, *compressor.alternative_magics)


def _known_plugin(predicate: Callable[[KnownPlugin], bool]) -> KnownPlugin | None:
    return next((plugin for plugin in KNOWN_PLUGINS if predicate(plugin)), None)


def _not_installed(plugin: KnownPlugin, context: str = "") -> CompressorNotInstalledError:
    """The compressor (which ``context`` asks for) comes with a plugin that is not installed:
    the error says which, and how to install it."""
    compressor = f"the {plugin.compressor!r} compressor"
    if context:
        problem = f"{context} {compressor}, and the {plugin.distribution} plugin that brings it"
    else:
        problem = f"{compressor} comes with the {plugin.distribution} plugin, which"
    return CompressorNotInstalledError(
        f"{problem} is not installed: {plugin.install_hint}",
        plugin.compressor,
        plugin.distribution,
    )


def _closest(name: str, registered: Iterable[str]) -> str:
    """`` (did you mean 'zstd'?)`` for the registered or known compressor name closest to a
    mistyped one (``zstandard``, ``GZIP``, ``lz-4``), else nothing (difflib is imported here:
    only a mistake needs it)."""
    import difflib

    candidates = {
        candidate.lower(): candidate
        for candidate in [*(plugin.compressor for plugin in KNOWN_PLUGINS), *registered]
    }
    close = difflib.get_close_matches(name.lower(), candidates, n=1)
    return f" (did you mean {candidates[close[0]]!r}?)" if close else ""
