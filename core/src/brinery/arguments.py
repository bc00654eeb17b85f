"""The checks of ``dump``'s and ``load``'s arguments, and what ``compress=`` (or the target's file
extension) asks for: a bad argument is refused before any file is touched, saying what is valid.
"""

from __future__ import annotations

import os
import pickle
import re
from typing import NamedTuple

from .compressor import Compressor
from .errors import InvalidArgumentError
from .plugins import registry

ZLIB_LEVELS = range(1, 10)
#: The level in ``"name:level"``: an int as written in decimal (no spaces, ``+`` or ``_``).
LEVEL_TEXT = re.compile(r"-?[0-9]+")
DEFAULT_PROTOCOL = 5
MMAP_MODES = ("r", "r+", "c")


class NotGiven:
    """The default of ``compress=``: infer the compressor from the target's file extension."""

    def __repr__(self) -> str:
        return "<not given>"


NOT_GIVEN = NotGiven()


class Compression(NamedTuple):
    compressor: Compressor
    level: int


def resolve_compression(compress: object, path: str | None) -> Compression | None:
    """The compressor and level to write with; ``None`` for an uncompressed stream."""
    if compress is NOT_GIVEN or compress is None:
        if path is None:
            return None
        compressor = registry().by_extension(os.fspath(path))
        return None if compressor is None else Compression(compressor, compressor.default_level)
    if compress is False or compress is True:
        return Compression(_by_name("zlib"), _by_name("zlib").default_level) if compress else None
    if isinstance(compress, int):
        if compress == 0:
            return None
        if compress in ZLIB_LEVELS:
            return Compression(_by_name("zlib"), compress)
        raise _invalid(compress)
    if isinstance(compress, str):
        return _named(compress)
    if isinstance(compress, (tuple, list)) and len(compress) == 2:
        name, level = compress
        if isinstance(name, str):
            compressor = _by_name(name)
            return Compression(compressor, checked_level(compressor, level))
    raise _invalid(compress)


def _named(spec: str) -> Compression:
    """``"name"``, or ``"name:level"`` as the command line's ``--compress`` takes it (so that
    ``compress="zstd:9"`` works in Python too); a registered name holding a colon wins."""
    name, colon, level = spec.partition(":")
    if not colon or spec in registry():
        compressor = _by_name(spec)
        return Compression(compressor, compressor.default_level)
    compressor = _by_name(name)
    as_int = int(level) if LEVEL_TEXT.fullmatch(level) else level
    return Compression(compressor, checked_level(compressor, as_int))


def _by_name(name: str) -> Compressor:
    return registry().by_name(name)


def _invalid(compress: object) -> InvalidArgumentError:
    names = ", ".join(sorted(registry().snapshot()))
    return InvalidArgumentError(
        f"compress={compress!r} is not valid: use False or 0 (no compression), True (zlib), "
        f"an int from 1 to 9 (zlib at that level), a compressor name ({names}), "
        "'name:level' or (name, level) with the compressor's own level"
    )


def checked_level(compressor: Compressor, level: object) -> int:
    """``level`` if ``compressor`` accepts it; otherwise an error naming its range."""
    levels = compressor.levels
    if isinstance(level, bool) or not isinstance(level, int) or level not in levels:
        raise InvalidArgumentError(
            f"compression level {level!r} is not valid for {compressor.name!r}: "
            f"use an int from {levels.start} to {levels.stop - 1}"
        )
    return level


def checked_protocol(protocol: int | None) -> int:
    if protocol is None:
        return DEFAULT_PROTOCOL
    if isinstance(protocol, bool) or not isinstance(protocol, int) or not (
        0 <= protocol <= pickle.HIGHEST_PROTOCOL
    ):
        raise InvalidArgumentError(
            f"protocol={protocol!r} is not valid: use a pickle protocol from 0 to "
            f"{pickle.HIGHEST_PROTOCOL}, or None for {DEFAULT_PROTOCOL}"
        )
    return protocol


def check_durable(durable: object) -> None:
    check_flag("durable", durable)


def check_flag(name: str, value: object) -> None:
    """A yes-or-no option must be ``True`` or ``False`` (not a truthy string or number)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, not {value!r}")


def check_checksums(checksums: object) -> None:
    if checksums is not None and not isinstance(checksums, bool):
        raise InvalidArgumentError(f"checksums must be True, False or None, not {checksums!r}")


def checked_shuffle(shuffle: object) -> str | None:
    """``dump(shuffle=)`` as ``"byte"``, ``"bit"``, ``"delta"``, ``"auto"``, or ``None`` for no
    filter (``True`` is ``"byte"``)."""
    if shuffle is False:
        return None
    if shuffle is True:
        return "byte"
    if type(shuffle) is str and shuffle in ("byte", "bit", "delta", "auto"):
        return shuffle
    raise InvalidArgumentError(
        f"shuffle={shuffle!r} is not valid: use 'auto' (when compressing: delta for images, byte "
        "shuffle for other numbers), True or 'byte', 'bit', 'delta', or False"
    )


def checked_threads(threads: int | None) -> int:
    """``threads``, or every core this process may run on when it is ``None``."""
    if threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1
        )
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidArgumentError(f"threads={threads!r} is not valid: use an int of at least 1")
    return threads


def check_max_bytes(max_bytes: object) -> None:
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise InvalidArgumentError(
            f"max_bytes must be a number of bytes (an int >= 0) or None, not {max_bytes!r}"
        )


def check_mmap_mode(mmap_mode: object) -> None:
    """A mode ``np.memmap`` reads with.  Any source may be given one: what cannot be mapped (a
    file object, a URL, a compressed file) is loaded into memory with a warning, as joblib
    does."""
    if mmap_mode is not None and (type(mmap_mode) is not str or mmap_mode not in MMAP_MODES):
        raise InvalidArgumentError(
            f"mmap_mode must be 'r', 'r+', 'c' or None, not {mmap_mode!r}"
        )
