"""The ways of writing and reading a dataset that are compared: pickle, numpy, joblib, brinery.

A :class:`Strategy` is a small frozen value, so the orchestrator can hand it to a fresh worker
process as JSON and the worker rebuilds exactly the same thing.  Libraries are imported inside
the functions: the worker imports what its strategy needs before reading its memory baseline,
and the orchestrator never needs joblib at all.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Libraries and, for the single-purpose ones, the datasets they apply to.
LIBRARIES = ("pickle", "numpy.save", "numpy.savez", "joblib", "blosc2", "brinery")
_ONLY_ON = {
    "numpy.save": ("array", "normal"),
    "numpy.savez": ("images", "many"),
    "blosc2": ("normal",),
}
_SUFFIX = {
    "pickle": ".pkl",
    "numpy.save": ".npy",
    "numpy.savez": ".npz",
    "joblib": ".joblib",
    "blosc2": ".bl2",
    "brinery": ".brn",
}

#: The ``shuffle=`` variants of brinery zstd at its default level measured on each numeric
#: dataset: byte shuffle, bit shuffle, none, and "auto" on the float noise; on the uint8 images
#: (where a byte shuffle changes nothing) "auto", which H4 needs, and bit shuffle.  The plain
#: ``brinery zstd-3`` row is brinery's default, whatever it is.
SHUFFLE_VARIANTS: tuple[bool | str, ...] = (True, "bit", False, "auto")
SHUFFLE_DATASETS: dict[str, tuple[bool | str, ...]] = {
    "normal": SHUFFLE_VARIANTS,
    "images": ("auto", "bit"),
}
#: Codecs whose compressed dump is also measured with ``durable=False``, for the codec ceiling
#: (issue 14: zstd-3 and lz4 within 1.3x of the codec's single-thread speed times the cores).
CEILING_CODECS = ("zstd", "lz4")
#: Datasets measured with those ``durable=False`` compressed dumps: compressible numbers,
#: object-heavy data and float noise, three different loads on a codec.
CEILING_DATASETS = ("images", "records", "normal")

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

    ``threads``, ``checksums`` and ``durable`` only apply to brinery, ``shuffle`` to brinery
    and blosc2 (``None``: the library's default, and the argument is not passed: brinery's
    default threads are every core; its own checksums only where the codec has no strong check;
    durable dumps to paths).
    """

    library: str
    codec: str | None = None
    level: int | None = None
    threads: int | None = None
    checksums: bool | None = None
    durable: bool | None = None
    shuffle: bool | str | None = None

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
        if self.shuffle is not None:
            parts.append(_SHUFFLE_NAMES.get(self.shuffle, f"shuffle-{self.shuffle}"))
        if self.durable is not None:
            parts.append("durable" if self.durable else "nd")
        return " ".join(parts)

    @property
    def compressed(self) -> bool:
        return self.codec is not None

    @property
    def suffix(self) -> str:
        return _SUFFIX[self.library]

    def applies_to(self, dataset: str) -> bool:
        """Whether this strategy is measured on ``dataset``.

        numpy's functions and blosc2 only fit their own datasets.  The datasets added for
        issue 14 measure only what their targets compare (:func:`_focus`): the whole suite on
        each of them would add a quarter of an hour to a full run and say nothing more.
        """
        if dataset not in _ONLY_ON.get(self.library, (dataset,)):
            return False
        if self.library == "brinery" and self.shuffle is not None:
            return self.shuffle in SHUFFLE_DATASETS.get(dataset, ())
        if self.library == "brinery" and self.durable is False and self.compressed:
            return dataset in CEILING_DATASETS
        return _focus(dataset, self)

    def missing(self) -> str | None:
        """Why this strategy cannot run here (a library or an argument missing), or ``None``."""
        if self.library == "blosc2" and importlib.util.find_spec("blosc2") is None:
            return "blosc2 is not installed"
        if (
            self.library == "brinery"
            and self.shuffle is not None
            and not brinery_dump_takes("shuffle")
        ):
            return "brinery.dump has no shuffle argument (yet)"
        if (
            self.library == "brinery"
            and self.durable is not None
            and not brinery_dump_takes("durable")
        ):
            return "brinery.dump has no durable argument"
        return None

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
        elif self.library == "blosc2":
            import blosc2  # noqa: F401
        elif self.library == "brinery":
            import brinery

            if self.codec is not None:
                # Loads the plugins and imports the codec's module, as the peers' codecs are
                # imported first (the first dump's import cost is the import probe's).
                brinery.dump(0, io.BytesIO(), compress=self.codec)

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
        elif self.library == "blosc2":
            self._blosc2_save(value, path)
        else:
            import brinery

            compress: Any = False if self.codec is None else (self.codec, self.level)
            options: dict[str, Any] = {
                name: option
                for name, option in (
                    ("checksums", self.checksums),
                    ("durable", self.durable),
                    ("shuffle", self.shuffle),
                )
                if option is not None
            }
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
        if self.library == "blosc2":
            import blosc2

            return blosc2.load_array(path)
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

    def _blosc2_save(self, value: Any, path: str) -> None:
        """One numpy array to one file, as blosc2 documents it: ``save_array``.

        ``save_array``/``load_array`` is blosc2's pair for "this array, that file" (a
        ``cframe`` file ``blosc2.open`` also reads); ``pack_array2`` builds the same frame as
        bytes in memory, which a user would then write out, one more copy of the compressed
        data.  blosc2's own threads default to the cores, like brinery's.
        """
        import blosc2

        filters = [blosc2.Filter.SHUFFLE if self.shuffle else blosc2.Filter.NOFILTER]
        if self.shuffle == "bit":
            filters = [blosc2.Filter.BITSHUFFLE]
        codec = getattr(blosc2.Codec, (self.codec or "zstd").upper())
        cparams = {"codec": codec, "clevel": self.level, "filters": filters}
        blosc2.save_array(value, path, mode="w", cparams=cparams)

    def _joblib_compress(self) -> Any:
        if self.codec is None:
            return 0
        if self.level is None:
            return self.codec
        return (self.codec, self.level)


def brinery_load_takes_threads() -> bool:
    import brinery

    return "threads" in inspect.signature(brinery.load).parameters


def brinery_dump_takes(argument: str) -> bool:
    """Whether ``brinery.dump`` has ``argument`` (features of issue 14 land one at a time)."""
    import brinery

    return argument in inspect.signature(brinery.dump).parameters


_SHUFFLE_NAMES: dict[bool | str, str] = {
    True: "shuffle",
    False: "no-shuffle",
    "bit": "bitshuffle",
    "auto": "shuffle-auto",
}


def _focus(dataset: str, strategy: Strategy) -> bool:
    """What the datasets of issue 14 measure; the first three datasets measure everything.

    ``many``: the raw-array targets (uncompressed, durable or not, against numpy.savez).
    ``records``: object-heavy against pickle, and the compressed loads' memory.
    ``normal``: the shuffle targets against blosc2, and the codec ceiling.
    ``arrow``, ``table``: pickle against brinery, plain and zstd.
    """
    plain = strategy.threads is None and strategy.checksums is None
    codec = strategy.codec
    if dataset == "many":
        return codec is None and (
            strategy.library in ("pickle", "numpy.savez", "joblib")
            or (strategy.library == "brinery" and plain)
        )
    if dataset == "records":
        return (strategy.library == "pickle") or (
            strategy.library == "brinery" and plain and codec in (None, "zstd", "lz4")
        )
    if dataset == "normal":  # lz4 only with durable=False (for the ceiling)
        return strategy.library in ("numpy.save", "blosc2") or (
            strategy.library == "brinery" and plain and codec in (None, "zstd", "zlib")
        )
    if dataset in ("arrow", "table"):
        return strategy.library == "pickle" or (
            strategy.library == "brinery" and plain and strategy.durable is None
            and codec in (None, "zstd")
        )  # fmt: skip
    if dataset == "images":  # its durable=False row would repeat array's
        return strategy.durable is None
    return True


def main_strategies(codecs: Mapping[str, int]) -> list[Strategy]:
    """The main comparison: every library, brinery with every codec at its default level.

    ``codecs`` maps each installed brinery compressor to its default level.
    """
    strategies = [
        Strategy("pickle"),
        Strategy("numpy.save"),
        Strategy("numpy.savez"),
        *(Strategy("joblib", codec, level) for codec, level in JOBLIB_VARIANTS),
        Strategy("blosc2", "zstd", 3, shuffle=True),  # issue 14's best-of-its-kind peer
        Strategy("brinery"),
        Strategy("brinery", durable=False),  # what the fsync and folder sync cost
        Strategy("brinery", checksums=False),  # what brinery's own checksums cost
    ]
    for codec, level in sorted(codecs.items()):
        strategies.append(Strategy("brinery", codec, level))
        if codec in SINGLE_THREAD_CODECS:
            strategies.append(Strategy("brinery", codec, level, threads=1))
        if codec in CEILING_CODECS:
            strategies.append(Strategy("brinery", codec, level, durable=False))
        if codec == "zstd":  # a strong codec check, plus brinery's checksums on top
            strategies.append(Strategy("brinery", codec, level, checksums=True))
            strategies.extend(
                Strategy("brinery", codec, level, shuffle=shuffle) for shuffle in SHUFFLE_VARIANTS
            )
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
