"""The project's performance targets, checked against the medians of a run.

Each check yields one row: the measured figure, the limit, PASS/FAIL, and the numbers it was
computed from, so a FAIL can be read without opening the JSON.  Speed comparisons use
throughput (MiB of in-memory data per second), which equals the time ratio when both sides ran
on the same size and stays right when one side ran on the smaller sample.  Nothing here
asserts: targets are reported, not enforced (timings on a shared machine are no test).

The targets of issue 14 ("beat every peer on its own ground") have their own ids: D (durability),
R (raw arrays at page-cache speed), O (object-heavy against pickle), H (shuffle against blosc2),
C (codec ceiling), I (import time), A (arrow-backed frames); they replace the first issue's S1
and S2, whose limits they tighten.  The page-cache targets (R1, O1's first row, C1) compare
``dump_call_s`` of ``durable=False`` dumps: the time a user waits for when the data may stay in
the page cache, which is what ``np.save`` and ``pickle.dump`` give; the ``dump_s`` figures, every
file fsynced, time everyone to the disk.
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

NUMPY_DUMP_TOLERANCE = 1.2
NUMPY_LOAD_TOLERANCE = 1.1
PICKLE_TOLERANCE = 1.0
CEILING_TOLERANCE = 1.3
JOBLIB_OBJECTS_SPEEDUP = 3.0
PARALLEL_DUMP_SPEEDUP = 1.8
ZLIB_SPEEDUP = 1.8
SAME_SIZE_TOLERANCE = 0.02
ZSTD_SPEEDUP = 5.0
PARALLEL_LOAD_SPEEDUP = 1.5
#: X1, X2: what reading one entry of 10 MiB, or 1,000 rows, may read of the file.
RANDOM_ACCESS_READ_MIB = 16

#: The targets as the issue words them, by the id used in the rows.
DEFINITIONS = {
    "D1": "durable=False: an uncompressed dump without the waits for the disk takes no longer "
    "than the durable default (call times; the detail shows what durability costs)",
    "R1": "raw arrays at page-cache speed: uncompressed dump with durable=False within 1.2x of "
    "numpy's (call times; numpy.save for one array, numpy.savez for a dict of many)",
    "R2": "raw arrays: uncompressed load within 1.1x of numpy.load (one array; many)",
    "O1": "object-heavy: brinery dump and load at most pickle 5's time (dump: durable=False "
    "against pickle.dump, call times; and durable against pickle + fsync)",
    "O2": "object-heavy, compressed (zstd, lz4): load peak <= the object's size + 32 MiB",
    "S3": "object-heavy: brinery >= 3x faster than joblib",
    "H1": "normal float64: brinery zstd-3 + shuffle file at most blosc2 zstd-3 + shuffle's size",
    "H2": "normal float64: brinery zstd-3 + shuffle dumps faster than blosc2 zstd-3 + shuffle "
    "(both timed to the disk)",
    "H3": "normal float64: brinery zstd-3 + shuffle dump peak within M1's allowance, i.e. no "
    "copy of the array (blosc2's peak in the detail)",
    "H4": 'smooth images: brinery zstd-3 (shuffle="auto") file smaller than zlib-3\'s without '
    "a filter (joblib zlib-3)",
    "C1": "compressed dump (durable=False, call time) within 1.3x of the codec ceiling: stream "
    "bytes / (the codec's single-thread speed x the cores), zstd and lz4",
    "I1": "import brinery after numpy faster than import joblib after numpy (fresh interpreters)",
    "X1": "random access (issue 15): from a zstd file of 100 entries (1 GiB at the default size), "
    "opened[key] of one entry reads < 16 MiB (rchar) and takes <= 1/20 of load's time",
    "X2": "random access: 1,000 rows of a 1 GiB zstd array read only their frames (< 16 MiB)",
    "X3": "random access: a full load of an indexed file within 1.05x of the same file without "
    "an index, and the index < 0.1% of the file",
    "A1": "arrow-backed DataFrame and pyarrow Table: brinery dump and load no slower than "
    "pickle 5 (their buffers out of band, never copied through the pickle; pandas copies each "
    "column as it pickles it, whoever pickles)",
    "M1": "dump peak memory above baseline <= 32 MiB, plus 2 frames of 4 MiB per compressing "
    "thread when compressed (every brinery strategy)",
    "M2": "load peak memory <= the object's size + 32 MiB (every brinery strategy)",
    "P1": "compressed dump >= 1.8x faster than threads=1 with the same codec (zstd, lz4, zlib)",
    "Z1": "brinery zlib-3 dump >= 1.8x faster than joblib zlib-3",
    "Z2": "brinery zlib-3 file no larger than joblib zlib-3's (+2%; smaller where its filters "
    "apply)",
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

    def has(self, dataset: str, strategy: str) -> bool:
        return (dataset, strategy) in self._by_key

    def size_mb(self, dataset: str, strategy: str) -> float | None:
        result = self._by_key.get((dataset, strategy))
        return None if result is None else float(result["size_mb"])

    def per_mib_ratio(
        self, dataset: str, mine: str, other: str, metric: str
    ) -> tuple[float | None, str]:
        """``mine``'s ``metric`` (a time) / ``other``'s, each per MiB of in-memory data."""
        values = [self.get(dataset, name, metric) for name in (mine, other)]
        sizes = [self.get(dataset, name, "object_bytes") for name in (mine, other)]
        if None in values or None in sizes:
            return None, f"{mine} or {other} not measured"
        a, b = values[0] / sizes[0], values[1] / sizes[1]  # type: ignore[operator]
        detail = f"{mine} {values[0]:.3g} s vs {other} {values[1]:.3g} s ({metric})"
        return a / b, detail

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


#: The datasets of the first performance issue: the targets before issue 14's run on these.
FIRST_DATASETS = ("array", "images", "objects")


def evaluate(
    results: list[dict[str, Any]],
    cpus: int,
    defaults: dict[str, int],
    probes: list[dict[str, Any]] | None = None,
) -> list[Check]:
    """Every target check: issue 14's first, then the earlier ones still standing.

    ``cpus``: the threads brinery uses by default; ``defaults``: each codec's default level
    (the ``t1`` variants run at it); ``probes``: the codec ceilings and import times.
    """
    table = Results(results)
    probes = [probe for probe in probes or [] if probe.get("stats")]
    zstd = f"brinery zstd-{defaults.get('zstd', 3)}"
    return [
        *_durability(table),
        *_raw_arrays(table),
        *_objects(table, defaults),
        *_shuffle(table, cpus, zstd),
        *_ceilings(table, cpus, defaults, probes),
        *_import_time(probes),
        *_random_access(probes),
        *_arrow(table),
        *_memory(table, cpus),
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


def _durability(table: Results) -> Iterator[Check]:
    for dataset in ("array", "many", "records"):
        ratio, detail = table.per_mib_ratio(dataset, "brinery nd", "brinery", "dump_call_s")
        durable_to_disk = table.get(dataset, "brinery", "dump_s")
        if ratio is not None and durable_to_disk is not None:
            detail += f"; durable, to the disk: {durable_to_disk:.3g} s"
        yield Check(
            "D1", "uncompressed dump, durable=False / durable", dataset, ratio, "<=", 1.0, "x",
            detail,
        )  # fmt: skip


def _raw_arrays(table: Results) -> Iterator[Check]:
    for dataset, numpy in (("array", "numpy.save"), ("many", "numpy.savez")):
        ratio, detail = table.per_mib_ratio(dataset, "brinery nd", numpy, "dump_call_s")
        yield Check(
            "R1", f"uncompressed dump, brinery nd / {numpy} (call time)", dataset, ratio, "<=",
            NUMPY_DUMP_TOLERANCE, "x", detail,
        )  # fmt: skip
        ratio, detail = table.per_mib_ratio(dataset, "brinery", numpy, "load_s")
        yield Check(
            "R2", f"uncompressed load, brinery / {numpy}'s np.load", dataset, ratio, "<=",
            NUMPY_LOAD_TOLERANCE, "x", detail,
        )  # fmt: skip


def _objects(table: Results, defaults: dict[str, int]) -> Iterator[Check]:
    for dataset in ("records", "objects"):
        for mine, other, metric, what in (
            ("brinery nd", "pickle", "dump_call_s", "dump, brinery nd / pickle (call time)"),
            ("brinery", "pickle", "dump_s", "dump, brinery / pickle + fsync"),
            ("brinery", "pickle", "load_s", "load, brinery / pickle"),
        ):
            ratio, detail = table.per_mib_ratio(dataset, mine, other, metric)
            yield Check("O1", what, dataset, ratio, "<=", PICKLE_TOLERANCE, "x", detail)
    for codec in ("zstd", "lz4"):
        name = f"brinery {codec}-{defaults.get(codec)}"
        excess = table.get("records", name, "load_peak_minus_object_bytes")
        pickle_excess = table.get("records", "pickle", "load_peak_minus_object_bytes")
        yield Check(
            "O2",
            f"{codec} load peak - object size, MiB",
            "records",
            None if excess is None else excess / MIB,
            "<=",
            BASE_ALLOWANCE_MIB,
            "MiB",
            f"{name}" + ("" if pickle_excess is None else f" (pickle: {pickle_excess / MIB:.0f})"),
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


def _shuffled(table: Results, dataset: str, zstd: str, variant: str) -> tuple[str, str]:
    """The shuffle variant's name if measured, else plain zstd with a note saying so."""
    name = f"{zstd} {variant}"
    if table.has(dataset, name):
        return name, ""
    return zstd, f" ({name} not measured: brinery's default instead)"


def _shuffle(table: Results, cpus: int, zstd: str) -> Iterator[Check]:
    blosc2 = "blosc2 zstd-3 shuffle"
    mine, note = _shuffled(table, "normal", zstd, "shuffle")
    ratio, detail = _size_ratio(table, "normal", mine, blosc2)
    yield Check("H1", f"size, {mine} / {blosc2}", "normal", ratio, "<=", 1.0, "x", detail + note)
    ratio, detail = table.time_ratio("normal", mine, blosc2, "dump")
    yield Check(
        "H2", f"dump time, {mine} / {blosc2}", "normal", ratio, "<", 1.0, "x", detail + note
    )
    peak = table.get("normal", mine, "dump_peak_bytes")
    blosc2_peak = table.get("normal", blosc2, "dump_peak_bytes")
    limit = dump_allowance_mib({"codec": "zstd", "threads": None}, cpus)
    yield Check(
        "H3",
        f"dump peak MiB, {mine}",
        "normal",
        None if peak is None else peak / MIB,
        "<=",
        limit,
        "MiB",
        ("" if blosc2_peak is None else f"{blosc2}: {blosc2_peak / MIB:.0f} MiB; ")
        + f"array {(table.get('normal', mine, 'object_bytes') or 0) / MIB:.0f} MiB"
        + note,
    )
    zlib = "joblib zlib-3"  # zlib-3 without any filter (brinery's own now delta-codes images)
    mine, note = _shuffled(table, "images", zstd, "shuffle-auto")
    ratio, detail = _size_ratio(table, "images", mine, zlib)
    yield Check("H4", f"size, {mine} / {zlib}", "images", ratio, "<", 1.0, "x", detail + note)


def _ceilings(
    table: Results, cpus: int, defaults: dict[str, int], probes: list[dict[str, Any]]
) -> Iterator[Check]:
    for probe in probes:
        if probe["kind"] != "ceiling":
            continue
        dataset, stats = probe["dataset"], probe["stats"]
        for codec in ("zstd", "lz4"):
            if codec not in defaults or f"{codec}_s" not in stats:
                continue
            name = f"brinery {codec}-{defaults[codec]} nd"
            seconds = table.get(dataset, name, "dump_call_s")
            size = table.size_mb(dataset, name)
            single = stats[f"{codec}_s"]["median"]
            if seconds is None or size is None:
                ratio, detail = None, f"{name} not measured"
            else:
                ceiling = single / cpus * size / probe["size_mb"]
                ratio = seconds / ceiling
                detail = (
                    f"{name} {seconds:.3g} s vs ceiling {ceiling:.3g} s ({codec} on one thread "
                    f"{stats[f'{codec}_mib_s']['median']:.0f} MiB/s x {cpus} cores)"
                )
            yield Check(
                "C1", f"{codec} dump / codec ceiling", dataset, ratio, "<=", CEILING_TOLERANCE,
                "x", detail,
            )  # fmt: skip


def _import_time(probes: list[dict[str, Any]]) -> Iterator[Check]:
    stats = next((p["stats"] for p in probes if p["kind"] == "import"), None)
    if stats is None:
        yield Check("I1", "import time, brinery / joblib", "-", None, "<", 1.0, "x", "not run")
        return
    brinery, joblib = (stats[f"{name}_import_s"]["median"] for name in ("brinery", "joblib"))
    yield Check(
        "I1",
        "import time, brinery / joblib (after numpy)",
        "-",
        brinery / joblib,
        "<",
        1.0,
        "x",
        f"brinery {brinery * 1000:.0f} ms ({stats['brinery_modules']['median']:.0f} modules) "
        f"vs joblib {joblib * 1000:.0f} ms ({stats['joblib_modules']['median']:.0f}); first "
        f"dump to .zst in a fresh process {stats['first_zst_dump_s']['median'] * 1000:.0f} ms",
    )


def _random_access(probes: list[dict[str, Any]]) -> Iterator[Check]:
    stats = next((p["stats"] for p in probes if p["kind"] == "random"), None)
    if stats is None:
        return

    def figure(name: str) -> float:
        return float(stats[name]["median"])

    size = f"{figure('file_bytes') / MIB:.0f} MiB file"
    entry = f"{figure('entry_bytes') / MIB:.1f} MiB entry"
    yield Check(
        "X1", "opened[key], bytes read", "-", figure("entry_read_bytes") / MIB, "<",
        RANDOM_ACCESS_READ_MIB, "MiB", f"{entry} of a {size}",
    )  # fmt: skip
    yield Check(
        "X1", "opened[key] / load, time", "-", figure("entry_s") / figure("load_s"), "<=",
        1 / 20, "x", f"{figure('entry_s'):.3g} s vs load {figure('load_s'):.3g} s ({size})",
    )  # fmt: skip
    yield Check(
        "X2", "1,000 rows of an array, bytes read", "-", figure("slice_read_bytes") / MIB, "<",
        RANDOM_ACCESS_READ_MIB, "MiB",
        f"{figure('slice_s'):.3g} s, of a {figure('array_file_bytes') / MIB:.0f} MiB file",
    )  # fmt: skip
    yield Check(
        "X3", "full load, indexed / unindexed", "-",
        figure("load_s") / figure("unindexed_load_s"), "<=", 1.05, "x",
        f"{figure('load_s'):.3g} s vs {figure('unindexed_load_s'):.3g} s",
    )  # fmt: skip
    yield Check(
        "X3", "index / file size", "-", figure("index_share") * 100, "<", 0.1, "%",
        f"{figure('index_bytes'):.0f} bytes of a {size}",
    )  # fmt: skip


def _arrow(table: Results) -> Iterator[Check]:
    for dataset in ("arrow", "table"):
        for phase, memory in (
            ("dump", "dump_peak_bytes"),
            ("load", "load_peak_minus_object_bytes"),
        ):
            ratio, detail = table.time_ratio(dataset, "brinery", "pickle", phase)
            peak = table.get(dataset, "brinery", memory)
            if peak is not None:
                detail += f"; brinery {phase} peak {peak / MIB:.0f} MiB ({memory})"
            yield Check(
                "A1", f"{phase} time, brinery / pickle", dataset, ratio, "<=", 1.0, "x", detail
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
        for dataset in _first(table):
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
    for dataset in _first(table):
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
            "zlib-3 size, brinery / joblib",
            dataset,
            ratio,
            "<=",
            1 + SAME_SIZE_TOLERANCE,
            "x",
            detail,
        )


def _zstd_versus_joblib(table: Results) -> Iterator[Check]:
    for dataset in _first(table):
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


def _first(table: Results) -> list[str]:
    """The measured datasets the first issue's targets apply to."""
    return [dataset for dataset in table.datasets if dataset in FIRST_DATASETS]


def _dataset_order(name: str) -> int:
    order = ("array", "images", "objects", "many", "records", "normal", "arrow", "table")
    return order.index(name) if name in order else len(order)
