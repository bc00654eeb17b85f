"""The project's performance targets, checked against the medians of a run.

Each check yields one row: the measured figure, the limit, PASS/FAIL, and the numbers it was
computed from, so a FAIL can be read without opening the JSON.  Speed comparisons use
throughput (MiB of in-memory data per second), which equals the time ratio when both sides ran
on the same size and stays right when one side ran on the smaller sample.  Nothing here
asserts: targets are reported, not enforced (timings on a shared machine are no test).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .stats import MIB, median

#: Memory any dump or load may use beyond its object, and per compressing thread, two frames.
BASE_ALLOWANCE_MIB = 32
FRAME_MIB = 4
FRAMES_PER_THREAD = 2

TIE_TOLERANCE = 1.10  # "at least as fast (within 10%)"
PICKLE_TOLERANCE = 1.2
JOBLIB_OBJECTS_SPEEDUP = 3.0
PARALLEL_DUMP_SPEEDUP = 1.8
ZLIB_SPEEDUP = 1.8
SAME_SIZE_TOLERANCE = 0.02
ZSTD_SPEEDUP = 5.0
PARALLEL_LOAD_SPEEDUP = 1.5

#: The targets as the issue words them, by the id used in the rows.
DEFINITIONS = {
    "M1": "dump peak memory above baseline <= 32 MiB, plus 2 frames of 4 MiB per compressing "
    "thread when compressed (every brinery strategy)",
    "M2": "load peak memory <= the object's size + 32 MiB (every brinery strategy)",
    "S1": "uncompressed large array: brinery dump and load at least as fast as joblib and "
    "numpy.save/numpy.load (time ratio <= 1.10)",
    "S2": "object-heavy: brinery within 1.2x of pickle's time",
    "S3": "object-heavy: brinery >= 3x faster than joblib",
    "P1": "compressed dump >= 1.8x faster than threads=1 with the same codec (zstd, lz4, zlib)",
    "Z1": "brinery zlib-3 dump >= 1.8x faster than joblib zlib-3",
    "Z2": "brinery zlib-3 file the same size as joblib zlib-3's, +-2%",
    "Z3": "brinery zstd-3 file smaller than joblib zlib-3's",
    "Z4": "brinery zstd-3 dump >= 5x faster than joblib zlib-3",
    "P2": "zstd and lz4 load >= 1.5x faster than single-threaded",
}


@dataclass
class Check:
    """One row of the targets block."""

    id: str
    target: str
    dataset: str
    measured: float | None
    op: str
    limit: float
    unit: str
    detail: str

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        if self.op == "<=":
            return self.measured <= self.limit
        if self.op == "<":
            return self.measured < self.limit
        return self.measured >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "pass": self.passed}


class Results:
    """Look-up of main-comparison results by dataset and strategy name."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        self._by_key = {
            (result["dataset"], result["strategy"]): result
            for result in results
            if result["kind"] == "main" and result.get("stats")
        }
        self.datasets = sorted({dataset for dataset, _ in self._by_key}, key=_dataset_order)

    def get(self, dataset: str, strategy: str, metric: str) -> float | None:
        return median(self._by_key.get((dataset, strategy)), metric)

    def brinery(self, dataset: str) -> list[dict[str, Any]]:
        return [
            result
            for (name, _), result in self._by_key.items()
            if name == dataset and result["spec"]["library"] == "brinery"
        ]

    def time_ratio(
        self, dataset: str, mine: str, other: str, phase: str
    ) -> tuple[float | None, str]:
        """``mine``'s time / ``other``'s for the same amount of data, and the figures."""
        mine_rate = self.get(dataset, mine, f"{phase}_mib_s")
        other_rate = self.get(dataset, other, f"{phase}_mib_s")
        if mine_rate is None or other_rate is None:
            return None, f"{mine} or {other} not measured"
        detail = f"{self._figure(dataset, mine, phase)} vs {self._figure(dataset, other, phase)}"
        best_mine = self._best_rate(dataset, mine, phase)
        best_other = self._best_rate(dataset, other, phase)
        if best_mine and best_other:
            detail += f"; fastest runs: {best_mine / best_other:.2f}x the speed"
        return other_rate / mine_rate, detail

    def speedup(self, dataset: str, mine: str, other: str, phase: str) -> tuple[float | None, str]:
        """How many times faster ``mine`` is than ``other``."""
        ratio, detail = self.time_ratio(dataset, mine, other, phase)
        return (None if ratio is None else 1 / ratio), detail

    def _best_rate(self, dataset: str, name: str, phase: str) -> float | None:
        """The fastest run's MiB/s: on a busy machine, the closest to the undisturbed speed."""
        result = self._by_key.get((dataset, name))
        return None if result is None else result["stats"][f"{phase}_mib_s"]["max"]

    def _figure(self, dataset: str, name: str, phase: str) -> str:
        seconds = self.get(dataset, name, f"{phase}_s")
        result = self._by_key[(dataset, name)]
        cpu = self.get(dataset, name, f"{phase}_cpu_s")
        return f"{name} {seconds:.3g} s (CPU {cpu:.3g} s, {result['size_mb']:g} MiB)"


def evaluate(results: list[dict[str, Any]], cpus: int, defaults: dict[str, int]) -> list[Check]:
    """Every target check, in the order of the issue.

    ``cpus``: the threads brinery uses by default; ``defaults``: each codec's default level
    (the ``t1`` variants run at it).
    """
    table = Results(results)
    return [
        *_memory(table, cpus),
        *_uncompressed_array(table),
        *_objects(table),
        *_parallel(table, defaults, "dump", ("zstd", "lz4", "zlib"), "P1", PARALLEL_DUMP_SPEEDUP),
        *_zlib_versus_joblib(table),
        *_zstd_versus_joblib(table),
        *_parallel(table, defaults, "load", ("zstd", "lz4"), "P2", PARALLEL_LOAD_SPEEDUP),
    ]


def dump_allowance_mib(spec: dict[str, Any], cpus: int) -> float:
    """The dump memory limit of a brinery strategy (M1)."""
    if spec["codec"] is None:
        return BASE_ALLOWANCE_MIB
    return BASE_ALLOWANCE_MIB + FRAMES_PER_THREAD * FRAME_MIB * (spec["threads"] or cpus)


def _memory(table: Results, cpus: int) -> Iterator[Check]:
    for dataset in table.datasets:
        members = table.brinery(dataset)
        if not members:
            continue
        dumps = [
            (
                r["stats"]["dump_peak_bytes"]["median"] / MIB,
                dump_allowance_mib(r["spec"], cpus),
                r["strategy"],
            )
            for r in members
        ]
        peak, limit, name = max(dumps, key=lambda item: item[0] - item[1])
        over = [f"{n} {p:.0f}" for p, lim, n in sorted(dumps, reverse=True) if p > lim]
        yield Check(
            "M1",
            "dump peak MiB (worst brinery strategy against its limit)",
            dataset,
            peak,
            "<=",
            limit,
            "MiB",
            f"{name}; over the limit: {', '.join(over) or 'none'}"
            + _pickle_reference(table, dataset, "dump_peak_bytes"),
        )
        loads = [
            (r["stats"]["load_peak_minus_object_bytes"]["median"] / MIB, r["strategy"])
            for r in members
        ]
        excess, name = max(loads)
        over = [f"{n} {e:.0f}" for e, n in sorted(loads, reverse=True) if e > BASE_ALLOWANCE_MIB]
        yield Check(
            "M2",
            "load peak - object size, MiB (worst brinery strategy)",
            dataset,
            excess,
            "<=",
            BASE_ALLOWANCE_MIB,
            "MiB",
            f"{name}; over the limit: {', '.join(over) or 'none'}"
            + _pickle_reference(table, dataset, "load_peak_minus_object_bytes"),
        )


def _pickle_reference(table: Results, dataset: str, metric: str) -> str:
    """Plain pickle's figure, as a yardstick (the object-heavy load costs pickle a lot too)."""
    value = table.get(dataset, "pickle", metric)
    return "" if value is None else f" (pickle: {value / MIB:.0f})"


def _uncompressed_array(table: Results) -> Iterator[Check]:
    for other in ("joblib", "numpy.save"):
        for phase in ("dump", "load"):
            ratio, detail = table.time_ratio("array", "brinery", other, phase)
            yield Check(
                "S1",
                f"uncompressed {phase} time, brinery / {other}",
                "array",
                ratio,
                "<=",
                TIE_TOLERANCE,
                "x",
                detail,
            )


def _objects(table: Results) -> Iterator[Check]:
    for phase in ("dump", "load"):
        ratio, detail = table.time_ratio("objects", "brinery", "pickle", phase)
        yield Check(
            "S2",
            f"{phase} time, brinery / pickle",
            "objects",
            ratio,
            "<=",
            PICKLE_TOLERANCE,
            "x",
            detail,
        )
    for phase in ("dump", "load"):
        speedup, detail = table.speedup("objects", "brinery", "joblib", phase)
        yield Check(
            "S3",
            f"{phase} speed-up, brinery over joblib",
            "objects",
            speedup,
            ">=",
            JOBLIB_OBJECTS_SPEEDUP,
            "x",
            detail,
        )


def _parallel(
    table: Results,
    defaults: dict[str, int],
    phase: str,
    codecs: tuple[str, ...],
    target: str,
    limit: float,
) -> Iterator[Check]:
    for codec in codecs:
        if codec not in defaults:
            continue
        name = f"brinery {codec}-{defaults[codec]}"
        for dataset in table.datasets:
            speedup, detail = table.speedup(dataset, name, f"{name} t1", phase)
            yield Check(
                target,
                f"{codec} {phase} speed-up, all threads over threads=1",
                dataset,
                speedup,
                ">=",
                limit,
                "x",
                detail,
            )


def _size_ratio(table: Results, dataset: str, mine: str, other: str) -> tuple[float | None, str]:
    """File size ratio, as the ratio of compression ratios (right across sample sizes too)."""
    a, b = table.get(dataset, mine, "ratio"), table.get(dataset, other, "ratio")
    if a is None or b is None:
        return None, f"{mine} or {other} not measured"
    sizes = [table.get(dataset, name, "file_bytes") or 0 for name in (mine, other)]
    return b / a, f"{mine} {sizes[0] / MIB:.2f} MiB vs {other} {sizes[1] / MIB:.2f} MiB"


def _zlib_versus_joblib(table: Results) -> Iterator[Check]:
    for dataset in table.datasets:
        speedup, detail = table.speedup(dataset, "brinery zlib-3", "joblib zlib-3", "dump")
        yield Check(
            "Z1",
            "zlib-3 dump speed-up, brinery over joblib",
            dataset,
            speedup,
            ">=",
            ZLIB_SPEEDUP,
            "x",
            detail,
        )
        ratio, detail = _size_ratio(table, dataset, "brinery zlib-3", "joblib zlib-3")
        yield Check(
            "Z2",
            "zlib-3 size difference, |brinery / joblib - 1|",
            dataset,
            None if ratio is None else abs(ratio - 1),
            "<=",
            SAME_SIZE_TOLERANCE,
            "",
            detail,
        )


def _zstd_versus_joblib(table: Results) -> Iterator[Check]:
    for dataset in table.datasets:
        ratio, detail = _size_ratio(table, dataset, "brinery zstd-3", "joblib zlib-3")
        yield Check(
            "Z3",
            "size, brinery zstd-3 / joblib zlib-3",
            dataset,
            ratio,
            "<",
            1.0,
            "x",
            detail,
        )
        speedup, detail = table.speedup(dataset, "brinery zstd-3", "joblib zlib-3", "dump")
        yield Check(
            "Z4",
            "dump speed-up, brinery zstd-3 over joblib zlib-3",
            dataset,
            speedup,
            ">=",
            ZSTD_SPEEDUP,
            "x",
            detail,
        )


def _dataset_order(name: str) -> int:
    order = ("array", "images", "objects")
    return order.index(name) if name in order else len(order)
