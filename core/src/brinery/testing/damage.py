"""Loading every damaged variant of a file, and sorting what happened.

A damaged file must never load as something else, nor escape as the codec's own exception: it
raises brinery's errors, or, when the codec itself decodes the damaged bytes to the very same
data (a "harmless" flip), loads the original.  :class:`Damage` loads each variant from a
``BytesIO`` and from a path (the two read differently: buffering, seeking, knowing the size)
and records anything else as a violation, so a test reports every offending offset at once.

The seek table that ends an indexed zstd or LZ4 file (docs/format.md, section 3) is read after
the stream, when it is one: damaged so that it is no longer recognised as one, it is what follows
the stream, which a file object leaves to the caller and a path refuses.  Variants damaged
inside it are sorted accordingly (:attr:`Tally.left`); :func:`seek_table_flips` says which
flips of it give what.
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
    "SEEK_TABLE_UNUSED_BITS",
    "TRUNCATION_ERRORS",
    "Damage",
    "Tally",
    "seek_table_flips",
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
#: The bits of a seek table's descriptor that a reader ignores (the zstd seekable format's
#: ``Unused_Bits``, bits 1-0); bit 7 says entries carry checksums, bits 6-2 must be 0.
SEEK_TABLE_UNUSED_BITS = 0x03
_SEEK_HEADER_SIZE = 8  # the skippable frame's magic and size
_SEEKABLE_MAGIC_SIZE = 4  # the table's last bytes
_DESCRIPTOR_FROM_END = 5  # the descriptor, then the seekable magic


def seek_table_flips(table: range, mask: int) -> tuple[list[int], list[int]]:
    """The offsets of the seek table at ``table`` whose flip (xor ``mask``) makes it no seek
    table, and those whose flip a reader ignores: ``(left, identical)``.

    A seek table is recognised by its skippable frame's magic and size, which must take it to
    the end of the file, and by the seekable magic that ends it: damaged there, it is not one,
    and a file object's load leaves it unread after the stream (:attr:`Tally.left`).  The
    descriptor's unused bits are ignored.  A flip anywhere else (an entry, the count, another
    bit of the descriptor) makes a table that does not list the file's frames, or none the
    format allows: damage, reported as such.
    """
    header = range(table.start, table.start + _SEEK_HEADER_SIZE)
    magic = range(table.stop - _SEEKABLE_MAGIC_SIZE, table.stop)
    descriptor = table.stop - _DESCRIPTOR_FROM_END
    identical = [descriptor] if mask & ~SEEK_TABLE_UNUSED_BITS == 0 else []
    return [*header, *magic], identical


@dataclass
class Tally:
    """What loading damaged variants of a file gave."""

    loads: int = 0
    raised: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Offsets whose variant loaded the original (counted once, for the first way).
    identical: list[int] = field(default_factory=list)
    #: Offsets inside a seek table whose variant is no seek table: a file object loaded the
    #: original and stopped where the table begins (what follows is the caller's), a path
    #: raised CorruptFileError for the data after the end of its stream.
    left: list[int] = field(default_factory=list)
    #: Anything else: another exception, different data, ways that disagree.
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for an assertion message."""
        left = f", left at {self.left}" if self.left else ""
        return (
            f"{self.loads} loads, raised {dict(self.raised)}, identical at {self.identical}{left}"
        )


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
        return [outcome for outcome, _ in self._loads(data, threads, ways)]

    def _loads(
        self, data: bytes, threads: int | None, ways: tuple[str, ...]
    ) -> list[tuple[Any, int | None]]:
        """:meth:`outcomes`, each with where the load left the ``BytesIO`` (None for a path)."""
        found: list[tuple[Any, int | None]] = []
        for way in ways:
            source: Any = io.BytesIO(data)
            if way == "path":
                source = self._path
                # Rewritten in place: replacing a small file each time is slow on some disks.
                with open(self._path, "r+b") as file:
                    file.write(data)
                    file.truncate()
            try:
                outcome = brinery.load(source, threads=threads)
            except Exception as error:  # sorted by the caller
                outcome = error
            found.append((outcome, source.tell() if way == "BytesIO" else None))
        return found

    def _left_before(
        self, loads: list[tuple[Any, int | None]], ways: tuple[str, ...], expected: Any, at: int
    ) -> bool:
        """Whether each way left what begins at ``at`` alone: a ``BytesIO`` loaded ``expected``
        and stopped there, a path raised CorruptFileError for data after the end."""
        for way, (outcome, position) in zip(ways, loads, strict=True):
            if way == "path":
                refused = type(outcome) is brinery.CorruptFileError
                if not refused or "after the end" not in str(outcome):
                    return False
                continue
            if isinstance(outcome, BaseException) or position != at:
                return False
            try:
                self._compare(outcome, expected)
            except AssertionError:
                return False
        return True

    def check(
        self,
        tally: Tally,
        offset: int,
        data: bytes,
        expected: Any,
        allowed: tuple[type[BaseException], ...],
        threads: int | None,
        ways: tuple[str, ...],
        table_start: int | None = None,
    ) -> None:
        """Loads ``data`` (damaged at ``offset``) each of ``ways`` and adds up the outcomes.

        ``table_start``: ``data`` is damaged inside the seek table that begins there, so it may
        also be left unread after the stream (:attr:`Tally.left`); a ``BytesIO`` that loaded
        the original must then have stopped there, or read it to its end."""
        loads = self._loads(data, threads, ways)
        outcomes = [outcome for outcome, _ in loads]
        if table_start is not None:
            if self._left_before(loads, ways, expected, table_start):
                tally.loads += len(ways)
                tally.left.append(offset)
                return
            for way, (outcome, position) in zip(ways, loads, strict=True):
                loaded = not isinstance(outcome, BaseException)
                if way == "BytesIO" and loaded and position != len(data):
                    tally.violations.append(
                        f"offset {offset} (BytesIO): loaded, stopping at byte {position}: "
                        f"neither at the end ({len(data)}) nor where the seek table begins "
                        f"({table_start}) with a path refusing the data after the stream"
                    )
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
        seek_table: range | None = None,
    ) -> Tally:
        """Loads ``data[:n]`` for every ``n`` in ``offsets`` (default: 1 to len - 1).

        ``seek_table``: where the seek table that ends ``data`` lies; cut inside it, a variant
        may also be left unread (:attr:`Tally.left`)."""
        tally = Tally()
        for size in offsets if offsets is not None else range(1, len(data)):
            inside = seek_table is not None and seek_table.start < size < seek_table.stop
            table_start = seek_table.start if seek_table is not None and inside else None
            self.check(
                tally, size, data[:size], expected, TRUNCATION_ERRORS, threads, ways, table_start
            )
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
        seek_table: range | None = None,
    ) -> Tally:
        """Loads ``data`` with byte ``i`` xor ``mask``, for every offset ``i``.

        The first ``magic`` bytes are the magic number: see :data:`MAGIC_DAMAGE_ERRORS` and
        :data:`DATA_DAMAGE_ERRORS` for what a flip there and elsewhere may raise.

        ``foreign(damaged)`` says whether a damaged variant is, for the codec, a valid file
        holding something other than a brinery stream.  A codec without a check of its own
        cannot tell such damage from a file of something else, so those variants may also
        raise :data:`FOREIGN_DATA_ERRORS`.

        ``seek_table``: where the seek table that ends ``data`` lies; flipped inside it, a
        variant may also be left unread (:attr:`Tally.left`).
        """
        tally = Tally()
        for offset in range(len(data)):
            flipped = bytearray(data)
            flipped[offset] ^= mask
            damaged = bytes(flipped)
            allowed = MAGIC_DAMAGE_ERRORS if offset < magic else DATA_DAMAGE_ERRORS
            if offset >= magic and foreign is not None and foreign(damaged):
                allowed = FOREIGN_DATA_ERRORS
            table_start = None
            if seek_table is not None and offset in seek_table:
                table_start = seek_table.start
            self.check(tally, offset, damaged, expected, allowed, threads, ways, table_start)
        return tally
