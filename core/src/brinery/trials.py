"""``brinery bench FILE``: the installed compressors on the user's own data.

The file's stream is read once (:mod:`brinery.sampling`: by default a sample spread over the
whole file); then, for each compressor and a few of its levels, the sample's records are
recompressed (as ``brinery convert`` does) and read back with every check (decompression,
checksums), timed.  Nothing is unpickled: the file may come from anyone, and unpickling costs
the same whatever the compressor.

What is tried by default stays quick on any data: the codecs that compress at a few MB/s
(:data:`SLOW_COMPRESSORS`) and each codec's highest levels (above :data:`SLOW_LEVEL_SHARE` of
its range: zstd's 15 to 22, gzip's 7 to 9) are left out unless asked for.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Iterator, Sequence

from .arguments import Compression
from .compressor import Compressor
from .errors import InvalidArgumentError
from .format.copying import copy_records
from .format.reader import StreamReader
from .pipeline import opened_stream, write_stream
from .plugins import registry
from .streams.compressed import has_codec_functions
from .streams.source import Source

#: Codecs that compress at a few MB/s whatever the data: tried only when named, or with --all.
SLOW_COMPRESSORS = frozenset({"bz2", "lzma", "xz"})
#: Levels above this share of a codec's range are its slow ones: tried only with --all.
SLOW_LEVEL_SHARE = 0.75


@dataclasses.dataclass(frozen=True)
class Trial:
    """One compressor at one level on the file's data."""

    compressor: str  # "none" for no compression
    level: int | None
    size: int
    dump_seconds: float
    read_seconds: float


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A compressor at a level to try (``compression`` ``None``: no compression)."""

    name: str
    compression: Compression | None

    @property
    def level(self) -> int | None:
        return None if self.compression is None else self.compression.level


def compressors_to_try(names: Sequence[str] | None, *, slow: bool) -> list[Compressor]:
    """The compressors named (each must exist and be one the core drives), or every installed
    one the core drives, the slow ones only if ``slow``."""
    if names:
        chosen = [registry().by_name(name) for name in names]
        for compressor in chosen:
            if not has_codec_functions(compressor):
                raise InvalidArgumentError(
                    f"the {compressor.name!r} compressor writes its own files: brinery bench "
                    "measures only compressors of frames"
                )
        return chosen
    return [
        compressor
        for name, compressor in sorted(registry().snapshot().items())
        if has_codec_functions(compressor) and (slow or name not in SLOW_COMPRESSORS)
    ]


def fastest_levels(compressor: Compressor) -> range:
    """The levels not counted as slow: up to :data:`SLOW_LEVEL_SHARE` of the range, and the
    default level whatever it is."""
    low, high = compressor.levels.start, compressor.levels.stop - 1
    limit = max(low + math.floor(SLOW_LEVEL_SHARE * (high - low)), compressor.default_level)
    return range(low, limit + 1)


def levels_to_try(compressor: Compressor, *, every: bool, slow: bool = True) -> list[int]:
    """A compressor's fastest, default and a stronger level (or every level); without
    ``slow``, none of its slow levels."""
    if every:
        levels = list(compressor.levels)
    else:
        low, high = compressor.levels.start, compressor.levels.stop - 1
        default = compressor.default_level
        levels = sorted({low, default, (default + high) // 2})
    if slow:
        return levels
    fast = fastest_levels(compressor)
    return [level for level in levels if level in fast]


def candidates(
    compressors: Sequence[Compressor], *, every_level: bool, slow: bool
) -> list[Candidate]:
    """No compression, then each compressor at each level to try."""
    found = [Candidate("none", None)]
    for compressor in compressors:
        for level in levels_to_try(compressor, every=every_level, slow=slow):
            found.append(Candidate(compressor.name, Compression(compressor, level)))
    return found


def left_out(
    compressors: Sequence[Compressor], *, every_level: bool, named: bool = False
) -> list[str]:
    """What ``slow=True`` would add: ``["bz2", "gzip 9", "zstd 16-22"...]`` (only levels when
    the compressors were ``named``)."""
    skipped = []
    if not named:
        skipped = [
            name
            for name, compressor in sorted(registry().snapshot().items())
            if name in SLOW_COMPRESSORS and has_codec_functions(compressor)
        ]
    for compressor in compressors:
        fast = fastest_levels(compressor)
        levels = levels_to_try(compressor, every=every_level)
        slow = [level for level in levels if level not in fast]
        if slow:
            span = str(slow[0]) if len(slow) == 1 else f"{slow[0]}-{slow[-1]}"
            skipped.append(f"{compressor.name} {span}")
    return skipped


def trial(stream: bytes, candidate: Candidate, threads: int) -> Trial:
    """Recompress ``stream``'s records as ``candidate`` says, then read them back, timed."""
    written = io.BytesIO()
    started = time.perf_counter()
    copy = lambda sink: copy_records(StreamReader(io.BytesIO(stream)), sink)  # noqa: E731
    write_stream(written, candidate.compression, threads, None, copy)
    dumped = time.perf_counter()
    data = written.getvalue()
    with opened_stream(Source(io.BytesIO(data)), threads) as reader:
        for _, _, pieces in reader.records():
            for _ in pieces:
                pass
    read = time.perf_counter()
    return Trial(candidate.name, candidate.level, len(data), dumped - started, read - dumped)


def choices(trials: list[Trial]) -> Iterator[tuple[str, Trial]]:
    """The best trial for the smallest file, for speed, and for both (the smallest product of
    size and time), among the trials that compress the data at all."""
    plain = next((trial.size for trial in trials if trial.compressor == "none"), None)
    shrinking = [
        trial
        for trial in trials
        if trial.compressor != "none" and (plain is None or trial.size < 0.95 * plain)
    ]
    if not shrinking:
        return
    yield "smallest file", min(shrinking, key=lambda trial: trial.size)
    yield "fastest", min(shrinking, key=_seconds)
    yield "balanced (size x time)", min(shrinking, key=lambda trial: trial.size * _seconds(trial))


def _seconds(trial: Trial) -> float:
    return trial.dump_seconds + trial.read_seconds
