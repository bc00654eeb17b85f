"""``brinery bench FILE``: every installed compressor on the user's own data.

The file's brinery stream is decompressed once into memory; then, for each compressor and a few
of its levels, the stream's records are recompressed (as ``brinery convert`` does) and read back
with every check (decompression, checksums), timed.  Nothing is unpickled: the file may come
from anyone, and unpickling costs the same whatever the compressor.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator

from .api import convert
from .arguments import Compression
from .compressor import Compressor
from .format.copying import copy_records
from .format.reader import StreamReader
from .pipeline import opened_stream, write_stream
from .plugins import registry
from .streams.compressed import has_codec_functions
from .streams.source import Source


@dataclasses.dataclass(frozen=True)
class Trial:
    """One compressor at one level on the file's data."""

    compressor: str  # "none" for no compression
    level: int | None
    size: int
    dump_seconds: float
    read_seconds: float


def levels_to_try(compressor: Compressor, *, every: bool) -> list[int]:
    """A compressor's fastest, default and a stronger level (or every level)."""
    if every:
        return list(compressor.levels)
    low, high = compressor.levels.start, compressor.levels.stop - 1
    default = compressor.default_level
    return sorted({low, default, (default + high) // 2})


def run_trials(
    path: str | os.PathLike[str],
    *,
    threads: int,
    every_level: bool = False,
    report: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Every installed compressor (and no compression) on the data of the file at ``path``."""
    with tempfile.TemporaryDirectory(prefix="brinery-bench-") as folder:
        plain = os.path.join(folder, "plain.brn")
        convert(path, plain, False, threads=threads, checksums=True)
        with open(plain, "rb") as file:
            stream = file.read()
    trials = []
    candidates: list[tuple[Compression | None, int | None]] = [(None, None)]
    for _, compressor in sorted(registry().snapshot().items()):
        if has_codec_functions(compressor):
            for level in levels_to_try(compressor, every=every_level):
                candidates.append((Compression(compressor, level), level))
    for compression, chosen in candidates:
        trial = _trial(stream, compression, chosen, threads)
        trials.append(trial)
        if report is not None:
            report(trial)
    return trials


def _trial(
    stream: bytes, compression: Compression | None, level: int | None, threads: int
) -> Trial:
    written = io.BytesIO()
    started = time.perf_counter()
    copy = lambda sink: copy_records(StreamReader(io.BytesIO(stream)), sink)  # noqa: E731
    write_stream(written, compression, threads, None, copy)
    dumped = time.perf_counter()
    with opened_stream(Source(io.BytesIO(written.getvalue())), threads) as reader:
        for _, _, pieces in reader.records():
            for _ in pieces:
                pass
    read = time.perf_counter()
    name = "none" if compression is None else compression.compressor.name
    return Trial(name, level, len(written.getvalue()), dumped - started, read - dumped)


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
