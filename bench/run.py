"""Orchestration: plan the measurements, run each in a fresh worker, write JSON, markdown, plots.

``python -m bench`` (or ``python -m bench.run``) runs everything with the defaults of the issue:
every dataset at 512 MiB, 3 runs, results into ``docs/``.  Runs are interleaved (run 1 of every
strategy, then run 2...) so that a slow period of the shared machine spreads over all strategies
instead of spoiling one.  A failed or invalid measurement is recorded and the run goes on; the
exit status is non-zero if any happened, or if the outputs do not pass :mod:`bench.check`.
Performance targets are reported, never turned into an exit status.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import check, machine, plots, probes, random_access, report
from .datasets import DATASETS, MIB
from .stats import run_metrics, summarize, summarize_probe
from .strategies import SLOW_CODECS, Strategy, main_strategies, sweep_strategies
from .targets import evaluate

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = "bench-results.json"
RESULTS_MD = "bench-results.md"
EMBED_IN = "performance.md"
DEFAULT_SAMPLE_MB = 64.0
#: Fresh interpreters per import-time figure and run (the median counts); ``--smoke``: 3.
IMPORT_REPEATS = 7
SMOKE_IMPORT_REPEATS = 3


@dataclass(frozen=True)
class Job:
    """One (dataset, strategy) pair to measure ``runs`` times."""

    kind: str  # "main" or "sweep"
    dataset: str
    size_mb: float
    strategy: Strategy


@dataclass(frozen=True)
class Probe:
    """A measurement that is not a dump and a load (:mod:`bench.probes`), ``runs`` times."""

    kind: str  # "ceiling" (per dataset), "import" or "random" (random access: issue 15)
    dataset: str | None
    size_mb: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="brinery's benchmark suite (see bench/README.md)."
    )
    parser.add_argument("--size-mb", type=float, default=512.0, help="MiB per dataset (512)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder (docs)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder in which a temporary folder receives the files (default: the system's, "
        "normally /tmp); put it on the disk you want to measure",
    )
    parser.add_argument(
        "--sample-mb",
        type=float,
        default=DEFAULT_SAMPLE_MB,
        help=f"MiB per dataset for the level sweep and the slow codecs ({DEFAULT_SAMPLE_MB:g}; "
        "at most --size-mb)",
    )
    parser.add_argument(
        "--slow-codecs",
        default=",".join(SLOW_CODECS),
        help="comma-separated codecs the main comparison measures on the --sample-mb sample "
        f"rather than the full size ({','.join(SLOW_CODECS)}; '' for none)",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=sorted(DATASETS),
        default=list(DATASETS),
        help="datasets of the main comparison (all)",
    )
    parser.add_argument(
        "--sweep-datasets",
        nargs="*",
        choices=sorted(DATASETS),
        default=["images", "array"],
        help="datasets of the level sweep (images array); none to skip the sweep",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="REGEX",
        help="measure only strategies whose name matches (e.g. 'brinery|pickle')",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: recompute the targets and rewrite the markdown and plots from "
        "OUT/bench-results.json",
    )
    parser.add_argument(
        "--no-probes",
        action="store_true",
        help="skip the codec-ceiling and import-time measurements",
    )
    parser.add_argument(
        "--import-repeats",
        type=int,
        default=None,
        help=f"fresh interpreters per import-time figure and run ({IMPORT_REPEATS}; "
        f"{SMOKE_IMPORT_REPEATS} with --smoke)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="measurements run at once (1; 2 with --smoke, whose timings are not judged: never "
        "for figures anyone reads)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds per worker process (3600)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a check of the outputs (bench_smoke): the targets are computed, not judged (a few "
        "MiB measured once say nothing of them), so no PASS or FAIL is printed",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.size_mb <= 0:
        parser.error("--runs must be >= 1 and --size-mb > 0")
    args.sample_mb = min(args.sample_mb, args.size_mb)
    if args.parallel is None:
        args.parallel = 2 if args.smoke else 1
    if args.import_repeats is None:
        args.import_repeats = SMOKE_IMPORT_REPEATS if args.smoke else IMPORT_REPEATS
    args.slow_codecs = [codec for codec in args.slow_codecs.split(",") if codec]
    return args


def plan(args: argparse.Namespace) -> tuple[list[Job], list[Probe], list[str]]:
    """Every (dataset, strategy) of the main comparison, then those of the level sweep; the
    probes; and a note for each dataset or strategy this machine cannot run (a library missing,
    or a brinery without an argument yet), which is skipped rather than failed."""
    import brinery

    compressors = brinery.compressors()
    defaults = {name: compressor.default_level for name, compressor in compressors.items()}
    levels = {name: compressor.levels for name, compressor in compressors.items()}
    selected = re.compile(args.only) if args.only else None

    def wanted(strategy: Strategy) -> bool:
        return selected is None or bool(selected.search(strategy.name))

    def size(strategy: Strategy) -> float:
        slow = strategy.library == "brinery" and strategy.codec in args.slow_codecs
        return args.sample_mb if slow else args.size_mb

    skipped: list[str] = []
    datasets = []
    for dataset in dict.fromkeys([*args.datasets, *args.sweep_datasets]):
        reason = DATASETS[dataset].missing()
        if reason is None:
            datasets.append(dataset)
        else:
            skipped.append(f"dataset {dataset}: {reason}")
    strategies = []
    for strategy in main_strategies(defaults):
        reason = strategy.missing() if wanted(strategy) else None
        if reason is None:
            strategies.append(strategy)
        else:
            skipped.append(f"{strategy.name}: {reason}")
    jobs = [
        Job("main", dataset, size(strategy), strategy)
        for dataset in args.datasets
        if dataset in datasets
        for strategy in strategies
        if strategy.applies_to(dataset) and wanted(strategy)
    ]
    jobs += [
        Job("sweep", dataset, args.sample_mb, strategy)
        for dataset in args.sweep_datasets
        if dataset in datasets
        for strategy in sweep_strategies(levels, defaults)
        if wanted(strategy)
    ]
    planned = [probe for probe in _probes(args, jobs) if not args.no_probes]
    return jobs, planned, skipped


#: The random-access files are this many times the datasets' size (1 GiB at the default 256).
RANDOM_ACCESS_SCALE = 4


def _probes(args: argparse.Namespace, jobs: list[Job]) -> list[Probe]:
    """The import-time probe, and a codec ceiling for each dataset with a ``durable=False``
    compressed brinery dump to compare with it."""
    ceilings = dict.fromkeys(
        job.dataset
        for job in jobs
        if job.kind == "main" and job.strategy.durable is False and job.strategy.compressed
    )
    return [
        *(Probe("ceiling", dataset, args.size_mb) for dataset in ceilings),
        Probe("import", None, 0.0),
        Probe("random", None, args.size_mb * RANDOM_ACCESS_SCALE),
    ]


def measure(job: Job, folder: Path, timeout: float) -> dict[str, Any]:
    """One run: dump in one fresh process, load in another, compare digests, delete the file
    (in a folder of its own, removed with whatever a failed dump left behind)."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", job.strategy.name)
    own = Path(tempfile.mkdtemp(prefix="m-", dir=folder))
    path = own / f"{job.dataset}-{slug}{job.strategy.suffix}"
    record: dict[str, Any] = {"dump": None, "load": None, "metrics": None, "valid": False}
    try:
        record["dump"] = _worker("dump", job, path, timeout)
        record["load"] = _worker("load", job, path, timeout)
        record["valid"] = record["dump"]["digest"] == record["load"]["digest"]
        if not record["valid"]:
            record["error"] = "the loaded object differs from the dumped one (digest mismatch)"
        record["metrics"] = run_metrics(record["dump"], record["load"])
    except WorkerError as error:
        record["error"] = str(error)
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return record


class WorkerError(RuntimeError):
    """A worker process failed, timed out, or printed no result."""


def _worker(phase: str, job: Job, path: Path, timeout: float) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.measure", phase,
        "--dataset", job.dataset,
        "--size-mb", repr(job.size_mb),
        "--strategy", json.dumps(job.strategy.to_json()),
        "--path", str(path),
    ]  # fmt: skip
    return _run_json(command, phase, timeout)


def _run_json(command: list[str], phase: str, timeout: float) -> dict[str, Any]:
    """Run a worker; its last line of output is its JSON result."""
    try:
        completed = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{phase} timed out after {timeout:g} s") from None
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        tail = completed.stderr.strip().splitlines()[-3:]
        raise WorkerError(f"{phase} failed (exit {completed.returncode}): {' / '.join(tail)}")
    try:
        return json.loads(lines[-1])  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        raise WorkerError(f"{phase} printed no JSON result: {lines[-1][:200]!r}") from None


def measure_probe(probe: Probe, folder: Path, timeout: float, repeats: int) -> dict[str, Any]:
    """One run of a probe: a ceiling in a fresh worker, or the import-time interpreters."""
    record: dict[str, Any] = {"figures": None}
    own = Path(tempfile.mkdtemp(prefix="p-", dir=folder))
    try:
        if probe.kind == "import":
            record["figures"] = probes.import_times(own, repeats, timeout)
        elif probe.kind == "random":
            command = [
                sys.executable, "-m", "bench.random_access", "--size-mb", repr(probe.size_mb),
            ]  # fmt: skip
            record["figures"] = _run_json(command, probe.kind, timeout)
        else:
            command = [
                sys.executable, "-m", "bench.probes", probe.kind,
                "--dataset", str(probe.dataset), "--size-mb", repr(probe.size_mb),
            ]  # fmt: skip
            record["figures"] = _run_json(command, probe.kind, timeout)
    except (WorkerError, RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
        record["error"] = str(error)
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return record


def run_all(
    jobs: list[Job],
    runs: int,
    folder: Path,
    timeout: float,
    planned: Sequence[Probe] = (),
    repeats: int = IMPORT_REPEATS,
    parallel: int = 1,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measure every job and probe ``runs`` times, interleaved; progress goes to stderr.

    A measurement the sweep shares with the main comparison (same dataset, size and strategy,
    e.g. a slow codec at its default level) is made once and reported in both.  ``parallel``
    above 1 runs that many measurements at once: only for ``--smoke``, whose timings are not
    judged (memory figures stay per process, so they hold).
    """
    unique = list(dict.fromkeys(_measurement(job) for job in jobs))
    records: dict[Job, list[dict[str, Any]]] = {job: [] for job in unique}
    probe_records: dict[Probe, list[dict[str, Any]]] = {probe: [] for probe in planned}
    total = (len(unique) + len(planned)) * runs
    started = time.monotonic()
    done = 0

    def progress(run: int, what: str, brief: str) -> None:
        nonlocal done
        done += 1
        elapsed = time.monotonic() - started
        remaining = elapsed / done * (total - done)
        print(
            f"[{done}/{total} {elapsed / 60:.1f} min, ~{remaining / 60:.1f} left] "
            f"run {run + 1} {what}: {brief}",
            file=sys.stderr,
            flush=True,
        )

    def one_job(run: int, job: Job) -> None:
        record = measure(job, folder, timeout)
        records[job].append(record)
        progress(run, f"{job.dataset} {job.size_mb:g} MiB {job.strategy.name}", _brief(record))

    def one_probe(run: int, probe: Probe) -> None:
        record = measure_probe(probe, folder, timeout, repeats)
        probe_records[probe].append(record)
        progress(run, _probe_name(probe), _probe_brief(record))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for run in range(runs):
            tasks = [pool.submit(one_job, run, job) for job in unique]
            tasks += [pool.submit(one_probe, run, probe) for probe in planned]
            for task in tasks:
                task.result()  # a run ends before the next starts, and errors surface here
    results = [_result(job, records[_measurement(job)]) for job in jobs]
    return results, [_probe_result(probe, probe_records[probe]) for probe in planned]


def _probe_name(probe: Probe) -> str:
    if probe.kind == "import":
        return "import time"
    if probe.kind == "random":
        return f"random access, {probe.size_mb:g} MiB zstd"
    return f"{probe.dataset} {probe.size_mb:g} MiB codec ceiling"


def _probe_brief(record: dict[str, Any]) -> str:
    figures = record["figures"]
    if figures is None:
        return "FAILED " + record.get("error", "")
    if figures["phase"] == "import":
        return (
            f"import brinery {figures['brinery_import_s'] * 1000:.0f} ms, joblib "
            f"{figures['joblib_import_s'] * 1000:.0f} ms, first .zst dump "
            f"{figures['first_zst_dump_s'] * 1000:.0f} ms"
        )
    if figures["phase"] == "random":
        return (
            f"load {figures['load_s']:.3g} s, one entry {figures['entry_s']:.3g} s reading "
            f"{figures['entry_read_bytes'] / MIB:.1f} MiB, {random_access.ROWS_READ} rows "
            f"{figures['slice_s']:.3g} s reading {figures['slice_read_bytes'] / MIB:.1f} MiB"
        )
    return ", ".join(
        f"{codec} {figures[f'{codec}_mib_s']:.0f} MiB/s"
        for codec in probes.CEILING_CODECS
        if f"{codec}_mib_s" in figures
    )


def _probe_result(probe: Probe, runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [run["error"] for run in runs if run.get("error")]
    return {
        "kind": probe.kind,
        "dataset": probe.dataset,
        "size_mb": probe.size_mb,
        "runs": runs,
        "stats": summarize_probe(runs),
        "valid": not errors,
        "errors": errors,
    }


def _measurement(job: Job) -> Job:
    """The job without its kind: what identifies a measurement."""
    return Job("", job.dataset, job.size_mb, job.strategy)


def _brief(record: dict[str, Any]) -> str:
    if record["metrics"] is None:
        return "FAILED " + record.get("error", "")
    metrics = record["metrics"]
    text = (
        f"dump {metrics['dump_s']:.3f} s, load {metrics['load_s']:.3f} s, "
        f"ratio {metrics['ratio']:.2f}, peaks {metrics['dump_peak_bytes'] / 2**20:.1f} / "
        f"{metrics['load_peak_minus_object_bytes'] / 2**20:.1f} MiB"
    )
    return text if record["valid"] else text + " INVALID"


def _result(job: Job, runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [run["error"] for run in runs if run.get("error")]
    return {
        "kind": job.kind,
        "dataset": job.dataset,
        "size_mb": job.size_mb,
        "strategy": job.strategy.name,
        "spec": job.strategy.to_json(),
        "runs": runs,
        "stats": summarize(runs),
        "valid": not errors and all(run["valid"] for run in runs),
        "errors": errors,
    }


def write_outputs(data: dict[str, Any], out: Path) -> None:
    """JSON, markdown, plots; and the generated section of ``performance.md`` if present."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_JSON).write_text(json.dumps(data, indent=1) + "\n")
    (out / RESULTS_MD).write_text(report.standalone(data))
    plots.write_all(data, out / "img")
    if report.embed(out / EMBED_IN, report.fragment(data, level=3)):
        print(f"updated the generated section of {out / EMBED_IN}", file=sys.stderr)


def print_targets(checks: list[dict[str, Any]], *, judged: bool = True) -> None:
    if not judged:
        print(f"\nTargets: {len(checks)} computed, not judged (--smoke: see {RESULTS_JSON})")
        return
    print("\nTargets (medians):")
    for item in checks:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[item["pass"]]
        measured = "-" if item["measured"] is None else f"{item['measured']:.3g}"
        print(
            f"  {verdict}  [{item['dataset']}] {item['target']}: {measured} {item['op']} "
            f"{item['limit']:g} {item['unit']}  ({item['detail']})"
        )


def rerender(out: Path) -> int:
    """Rewrite the targets, markdown and plots of an earlier run from its JSON."""
    data = json.loads((out / RESULTS_JSON).read_text())
    data.setdefault("probes", [])
    data.setdefault("skipped", [])
    checks = _evaluate(data["results"], data["machine"], data["probes"])
    data["targets"] = [c.to_json() for c in checks]
    write_outputs(data, out)
    print_targets(data["targets"])
    problems = check.validate(out)
    for problem in problems:
        print(f"output check: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    if args.rerender:
        return rerender(out)
    jobs, planned, skipped = plan(args)
    for note in skipped:
        print(f"skipped: {note}", file=sys.stderr)
    base = args.workdir.resolve() if args.workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="brinery-bench-", dir=base))
    started = time.monotonic()
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        description = machine.describe(folder)
        print(
            f"{len(jobs)} measurements and {len(planned)} probes x {args.runs} runs, files in "
            f"{folder}",
            file=sys.stderr,
        )
        results, probe_results = run_all(
            jobs, args.runs, folder, args.timeout, planned, args.import_repeats, args.parallel
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    warnings = _warnings(results, description, probe_results)
    checks = [c.to_json() for c in _evaluate(results, description, probe_results)]
    data = {
        "schema": 1,
        "created": created,
        "duration_s": time.monotonic() - started,
        "command": [sys.executable, "-m", "bench", *(argv if argv is not None else sys.argv[1:])],
        "config": {
            "size_mb": args.size_mb,
            "runs": args.runs,
            "sample_mb": args.sample_mb,
            "slow_codecs": args.slow_codecs,
            "datasets": args.datasets,
            "sweep_datasets": args.sweep_datasets,
            "only": args.only,
            "probes": not args.no_probes,
            "import_repeats": args.import_repeats,
            "parallel": args.parallel,
            "environment": {
                key: value
                for key, value in os.environ.items()
                if key.startswith(("OPENBLAS", "OMP", "MKL", "BRINERY"))
            },
        },
        "machine": description,
        "warnings": warnings,
        "skipped": skipped,
        "targets": checks,
        "results": results,
        "probes": probe_results,
    }
    write_outputs(data, out)
    print_targets(checks, judged=not args.smoke)
    problems = check.validate(out, expect_plots=True)
    for problem in problems:
        print(f"output check: {problem}", file=sys.stderr)
    failed = [r for r in results if not r["valid"]]
    for result in failed:
        print(
            f"FAILED {result['kind']} {result['dataset']} {result['strategy']}: "
            f"{'; '.join(result['errors'])}",
            file=sys.stderr,
        )
    failed_probes = [p for p in probe_results if not p["valid"]]
    for probe in failed_probes:
        print(
            f"FAILED {probe['kind']} {probe['dataset']}: {'; '.join(probe['errors'])}",
            file=sys.stderr,
        )
    print(
        f"\nwrote {out / RESULTS_JSON}, {out / RESULTS_MD}, {out / 'img'} "
        f"in {data['duration_s'] / 60:.1f} min"
    )
    return 1 if failed or failed_probes or problems else 0


def _evaluate(
    results: list[dict[str, Any]], description: dict[str, Any], probe_results: list[dict[str, Any]]
) -> list[Any]:
    """The target checks, with the codec defaults and CPU count the run itself recorded."""
    defaults = {
        name: codec["default_level"] for name, codec in description["brinery_compressors"].items()
    }
    return evaluate(results, description["cpus_usable"], defaults, probe_results)


def _warnings(
    results: list[dict[str, Any]], description: dict[str, Any], probe_results: list[dict[str, Any]]
) -> list[str]:
    warnings = []
    if machine.source_digest() != description["brinery_source_digest"]:
        warnings.append(
            "brinery's source files changed during the run: the measurements may mix versions."
        )
    invalid = [f"{r['dataset']} {r['strategy']}" for r in results if not r["valid"]]
    invalid += [
        f"{probe['kind']} {probe['dataset'] or ''}".strip()
        for probe in probe_results
        if not probe["valid"]
    ]
    if invalid:
        warnings.append("failed or invalid measurements: " + ", ".join(invalid))
    return warnings


if __name__ == "__main__":
    raise SystemExit(main())
