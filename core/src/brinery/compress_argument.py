"""What ``dump``'s ``compress=`` argument (or the target's file extension) asks for."""

from __future__ import annotations

import os
from typing import NamedTuple

from .compressor import Compressor
from .errors import InvalidArgumentError
from .plugins import registry

ZLIB_LEVELS = range(1, 10)


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
        compressor = _by_name(compress)
        return Compression(compressor, compressor.default_level)
    if isinstance(compress, (tuple, list)) and len(compress) == 2:
        name, level = compress
        if isinstance(name, str):
            compressor = _by_name(name)
            return Compression(compressor, compressor.check_level(level))
    raise _invalid(compress)


def _by_name(name: str) -> Compressor:
    return registry().by_name(name)


def _invalid(compress: object) -> InvalidArgumentError:
    names = ", ".join(sorted(registry().snapshot()))
    return InvalidArgumentError(
        f"compress={compress!r} is not valid: use False or 0 (no compression), True (zlib), "
        f"an int from 1 to 9 (zlib at that level), a compressor name ({names}) or "
        "(name, level) with the compressor's own level"
    )
