"""Loading every damaged variant of a file, and sorting what happened.

A damaged file must never load as something else, nor escape as the codec's own exception: it
raises brinery's errors, or, when the codec itself decodes the damaged bytes to the very same
data (a "harmless" flip), loads the original.  :class:`Damage` loads each variant from a
``BytesIO`` and from a path (the two read differently: buffering, seeking, knowing the size)
and records anything else as a violation, so a test reports every offending offset at once.
"""

from __future__ import annotations

import collections
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brinery

from .objects import assert_same

__all__ = [
    "BOTH_WAYS",
    "DATA_DAMAGE_ERRORS",
    "FOREIGN_DATA_ERRORS",
    "MAGIC_DAMAGE_ERRORS",
    "TRUNCATION_ERRORS",
    "Damage",
    "Tally",
]

#: What a file damaged in its magic number may raise: not recognised (UnknownFormatError), or
#: taken for a known compressor that is not installed (CompressorNotInstalledError), or, when
#: the damaged magic is still recognised, CorruptFileError (TruncatedFileError included).
MAGIC_DAMAGE_ERRORS: tuple[type[brinery.BrineryError], ...] = (
    brinery.CorruptFileError,
    brinery.UnknownFormatError,  # UnsupportedVersionError included
    brinery.CompressorNotInstalledError,
)
#: What a file damaged after its magic number may raise: the compressed data is recognised, so
#: the damage is reported as such, whatever the damaged bytes decode to.
DATA_DAMAGE_ERRORS: tuple[type[brinery.BrineryError], ...] = (brinery.CorruptFileError,)
#: What a file may raise whose damaged data the codec decodes, without an error, to something
#: else than a brinery stream: it is a file of something else, as far as anyone can tell.
FOREIGN_DATA_ERRORS: tuple[type[brinery.BrineryError], ...] = (
    brinery.CorruptFileError,
    brinery.UnknownFormatError,  # UnsupportedVersionError included
)
#: What a file cut short may raise (TruncatedFileError is a CorruptFileError, named for clarity).
TRUNCATION_ERRORS: tuple[type[brinery.BrineryError], ...] = (
    brinery.TruncatedFileError,
    brinery.CorruptFileError,
)
#: The ways a variant is loaded: from a ``BytesIO`` and from a file on disk.
BOTH_WAYS = ("BytesIO", "path")


@dataclass
class Tally:
    """What loading damaged variants of a file gave."""

    loads: int = 0
    raised: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Offsets whose variant loaded the original (counted once, for the first way).
    identical: list[int] = field(default_factory=list)
    #: Anything else: another exception, different data, ways that disagree.
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for an assertion message."""
        return f"{self.loads} loads, raised {dict(self.raised)}, identical at {self.identical}"


class Damage:
    """Loads damaged variants of a file, from a ``BytesIO`` and from a file in ``folder``.

    A variant must raise one of the allowed errors (of the same type every way), or load an
    object that ``compare`` (default: :func:`~brinery.testing.assert_same`) finds identical to
    the expected one.  Anything else is recorded in the :class:`Tally`, with the offset.
    """

    def __init__(self, folder: Path, compare: Callable[[Any, Any], None] = assert_same) -> None:
        self._path = folder / "damaged.bin"
        self._path.write_bytes(b"")
        self._compare = compare

    def outcomes(self, data: bytes, threads: int | None, ways: tuple[str, ...]) -> list[Any]:
        """What loading ``data`` gives (an object or the exception), for each of ``ways``."""
        found = []
        for way in ways:
            source: Any = io.BytesIO(data)
            if way == "path":
                source = self._path
                # Rewritten in place: replacing a small file each time is slow on some disks.
                with open(self._path, "r+b") as file:
                    file.write(data)
                    file.truncate()
            try:
                found.append(brinery.load(source, threads=threads))
            except Exception as error:  # sorted by the caller
                found.append(error)
        return found

    def check(
        self,
        tally: Tally,
        offset: int,
        data: bytes,
        expected: Any,
        allowed: tuple[type[BaseException], ...],
        threads: int | None,
        ways: tuple[str, ...],
    ) -> None:
        """Loads ``data`` (damaged at ``offset``) each of ``ways`` and adds up the outcomes."""
        outcomes = self.outcomes(data, threads, ways)
        for way, outcome in zip(ways, outcomes, strict=True):
            tally.loads += 1
            if isinstance(outcome, allowed):
                tally.raised[type(outcome).__name__] += 1
                continue
            if isinstance(outcome, BaseException):
                tally.violations.append(
                    f"offset {offset} ({way}): {type(outcome).__module__}."
                    f"{type(outcome).__name__}: {outcome}"
                )
                continue
            try:
                self._compare(outcome, expected)
            except AssertionError as error:
                tally.violations.append(f"offset {offset} ({way}): loaded different data: {error}")
                continue
            if way == ways[0]:
                tally.identical.append(offset)
        # Every way must give the same kind of outcome.
        kinds = {way: type(outcome).__name__ for way, outcome in zip(ways, outcomes, strict=True)}
        if len(set(kinds.values())) > 1:
            tally.violations.append(f"offset {offset}: the ways disagree: {kinds}")

    def truncations(
        self,
        data: bytes,
        expected: Any,
        offsets: range | None = None,
        threads: int | None = None,
        ways: tuple[str, ...] = BOTH_WAYS,
    ) -> Tally:
        """Loads ``data[:n]`` for every ``n`` in ``offsets`` (default: 1 to len - 1)."""
        tally = Tally()
        for size in offsets if offsets is not None else range(1, len(data)):
            self.check(tally, size, data[:size], expected, TRUNCATION_ERRORS, threads, ways)
        return tally

    def flips(
        self,
        data: bytes,
        expected: Any,
        mask: int,
        magic: int,
        threads: int | None = None,
        ways: tuple[str, ...] = BOTH_WAYS,
        foreign: Callable[[bytes], bool] | None = None,
    ) -> Tally:
        """Loads ``data`` with byte ``i`` xor ``mask``, for every offset ``i``.

        The first ``magic`` bytes are the magic number: see :data:`MAGIC_DAMAGE_ERRORS` and
        :data:`DATA_DAMAGE_ERRORS` for what a flip there and elsewhere may raise.

        ``foreign(damaged)`` says whether a damaged variant is, for the codec, a valid file
        holding something other than a brinery stream.  A codec without a check of its own
        cannot tell such damage from a file of something else, so those variants may also
        raise :data:`FOREIGN_DATA_ERRORS`.
        """
        tally = Tally()
        for offset in range(len(data)):
            flipped = bytearray(data)
            flipped[offset] ^= mask
            damaged = bytes(flipped)
            allowed = MAGIC_DAMAGE_ERRORS if offset < magic else DATA_DAMAGE_ERRORS
            if offset >= magic and foreign is not None and foreign(damaged):
                allowed = FOREIGN_DATA_ERRORS
            self.check(tally, offset, damaged, expected, allowed, threads, ways)
        return tally
