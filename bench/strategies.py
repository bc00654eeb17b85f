"""The ways of writing and reading a dataset that are compared: pickle, numpy, joblib, brinery.

A :class:`Strategy` is a small frozen value, so the orchestrator can hand it to a fresh worker
process as JSON and the worker rebuilds exactly the same thing.  Libraries are imported inside
the functions: the worker imports what its strategy needs before reading its memory baseline,
and the orchestrator never needs joblib at all.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Libraries and, for numpy, the dataset each of its two functions applies to.
LIBRARIES = ("pickle", "numpy.save", "numpy.savez", "joblib", "brinery")
_NUMPY_DATASET = {"numpy.save": "array", "numpy.savez": "images"}
_SUFFIX = {
    "pickle": ".pkl",
    "numpy.save": ".npy",
    "numpy.savez": ".npz",
    "joblib": ".joblib",
    "brinery": ".brn",
}

#: joblib's compressed variants of the issue.  joblib treats a level of 0 as "no compression"
#: whatever the method, so ``compress=("lz4", 0)`` would write an uncompressed file; the lz4
#: variant therefore passes ``compress="lz4"``, which uses lz4.frame's default level (0, the
#: fast mode, the same as brinery's lz4 default).
JOBLIB_VARIANTS: tuple[tuple[str | None, int | None], ...] = (
    (None, None),
    ("zlib", 3),
    ("lz4", None),
)

#: Codecs dumped a second time with ``threads=1``, for the parallel-speedup ratios.
SINGLE_THREAD_CODECS = ("zstd", "lz4", "zlib")

#: Codecs too slow at their default level to run on the full size in reasonable time (xz and
#: lzma manage 0.5-3 MiB/s per core on these datasets, bz2 about 10): the main comparison
#: measures them on the smaller sample of the level sweep (``--sample-mb``), and says so.
SLOW_CODECS = ("bz2", "lzma", "xz")

#: Levels of the level sweep, per codec; a codec not listed gets its min, default and max level.
SWEEP_LEVELS: dict[str, tuple[int, ...]] = {
    "zlib": (1, 3, 6, 9),
    "zstd": (-5, 1, 3, 9, 19),
    "lz4": (0, 3, 9),
    "xz": (0, 3, 6),
    "bz2": (1, 9),
    "lzo": (1, 9),
    "gzip": (1, 6),
    "lzma": (0, 3),
}


@dataclass(frozen=True)
class Strategy:
    """One way to dump and load: a library, and for compressors a codec, level and threads.

    ``threads`` and ``checksums`` only apply to brinery (``None``: brinery's default: every
    core; its own checksums only where the codec has no strong check).
    """

    library: str
    codec: str | None = None
    level: int | None = None
    threads: int | None = None
    checksums: bool | None = None

    @property
    def name(self) -> str:
        """Short display name, e.g. ``brinery zstd-3 t1`` or ``joblib lz4``."""
        parts = [self.library]
        if self.codec is not None:
            parts.append(self.codec if self.level is None else f"{self.codec}-{self.level}")
        if self.threads is not None:
            parts.append(f"t{self.threads}")
        if self.checksums is not None:
            parts.append("checksums" if self.checksums else "no-checksums")
        return " ".join(parts)

    @property
    def compressed(self) -> bool:
        return self.codec is not None

    @property
    def suffix(self) -> str:
        return _SUFFIX[self.library]

    def applies_to(self, dataset: str) -> bool:
        """numpy's functions only fit their own dataset; everything else fits every dataset."""
        return _NUMPY_DATASET.get(self.library, dataset) == dataset

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Strategy:
        if data.get("library") not in LIBRARIES:
            raise ValueError(f"unknown library in strategy {dict(data)!r}")
        return cls(**data)

    # -- the work ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Import the library, so the import is not part of the timing or the memory figures."""
        if self.library == "joblib":
            import joblib  # noqa: F401

            if self.codec == "lz4":
                import lz4.frame  # noqa: F401
        elif self.library == "brinery":
            import brinery

            if self.codec is not None:
                brinery.compressors()  # loads the plugins

    def dump(self, value: Any, path: str) -> None:
        """Write ``value`` to ``path`` the way this strategy's library is meant to be used."""
        if self.library == "pickle":
            with open(path, "wb") as file:
                pickle.dump(value, file, protocol=5)
        elif self.library == "numpy.save":
            import numpy as np

            np.save(path, value, allow_pickle=False)
        elif self.library == "numpy.savez":
            import numpy as np

            np.savez(path, **value)
        elif self.library == "joblib":
            import joblib

            joblib.dump(value, path, compress=self._joblib_compress())
        else:
            import brinery

            compress: Any = False if self.codec is None else (self.codec, self.level)
            options = {} if self.checksums is None else {"checksums": self.checksums}
            brinery.dump(value, path, compress=compress, threads=self.threads, **options)

    def load(self, path: str) -> Any:
        """Read the object back, fully materialised (numpy's npz is lazy otherwise)."""
        if self.library == "pickle":
            with open(path, "rb") as file:
                return pickle.load(file)
        if self.library == "numpy.save":
            import numpy as np

            return np.load(path, allow_pickle=False)
        if self.library == "numpy.savez":
            import numpy as np

            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        if self.library == "joblib":
            import joblib

            return joblib.load(path)
        import brinery

        if self.threads is not None and brinery_load_takes_threads():
            return brinery.load(path, threads=self.threads)
        return brinery.load(path)

    @property
    def pins_load(self) -> bool:
        """Whether a single-threaded load must be forced by CPU affinity.

        ``brinery.load`` has no ``threads`` argument (yet); the ``t1`` variants then load in a
        process pinned to one CPU, which is what "single-threaded load" means for any reader
        that might use threads internally.
        """
        return self.library == "brinery" and self.threads == 1 and not brinery_load_takes_threads()

    def _joblib_compress(self) -> Any:
        if self.codec is None:
            return 0
        if self.level is None:
            return self.codec
        return (self.codec, self.level)


def brinery_load_takes_threads() -> bool:
    import brinery

    return "threads" in inspect.signature(brinery.load).parameters


def main_strategies(codecs: Mapping[str, int]) -> list[Strategy]:
    """The main comparison: every library, brinery with every codec at its default level.

    ``codecs`` maps each installed brinery compressor to its default level.
    """
    strategies = [
        Strategy("pickle"),
        Strategy("numpy.save"),
        Strategy("numpy.savez"),
        *(Strategy("joblib", codec, level) for codec, level in JOBLIB_VARIANTS),
        Strategy("brinery"),
        Strategy("brinery", checksums=False),  # what brinery's own checksums cost
    ]
    for codec, level in sorted(codecs.items()):
        strategies.append(Strategy("brinery", codec, level))
        if codec in SINGLE_THREAD_CODECS:
            strategies.append(Strategy("brinery", codec, level, threads=1))
        if codec == "zstd":  # a strong codec check, plus brinery's checksums on top
            strategies.append(Strategy("brinery", codec, level, checksums=True))
    return strategies


def sweep_strategies(
    codecs: Mapping[str, Iterable[int]], defaults: Mapping[str, int]
) -> list[Strategy]:
    """brinery with each codec at several levels (``codecs``: each codec's valid levels)."""
    strategies = []
    for codec in sorted(codecs):
        valid = list(codecs[codec])
        wanted = SWEEP_LEVELS.get(codec) or (valid[0], defaults[codec], valid[-1])
        levels = sorted({level for level in wanted if level in valid})
        strategies.extend(Strategy("brinery", codec, level) for level in levels)
    return strategies
