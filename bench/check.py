"""Checks that a run's outputs exist and are well-formed (the CI smoke test's assertion).

It checks shape, not speed: every measurement and probe present, valid and complete, the
targets block computed (in a run of the whole suite, every target with a figure), the markdown
naming every strategy and linking existing images, the images real PNGs.
``python -m bench.check OUT`` exits non-zero listing the problems.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from .probes import IMPORT_METRICS
from .report import PLOTS
from .stats import METRICS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MACHINE_KEYS = ("cpu_model", "cpus_usable", "memory_bytes", "kernel", "python", "versions")
TARGET_KEYS = ("id", "target", "dataset", "measured", "op", "limit", "pass", "detail")
POSITIVE = ("dump_s", "load_s", "file_bytes", "object_bytes", "ratio")
#: Targets every run reports, measured or not (the others depend on the datasets measured).
ALWAYS_REPORTED = ("D1", "R1", "R2", "O1", "O2", "H1", "H2", "H3", "H4", "I1", "A1")


def validate(out: Path, *, expect_plots: bool = True) -> list[str]:
    """Problems found in the outputs in ``out`` (empty when everything is in order)."""
    json_path = out / "bench-results.json"
    try:
        data = json.loads(json_path.read_text())
    except (OSError, ValueError) as error:
        return [f"{json_path}: cannot read: {error}"]
    problems = _check_data(data)
    problems += _check_markdown(out / "bench-results.md", data)
    if expect_plots:
        problems += _check_plots(out / "img")
    return problems


def _check_data(data: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("schema", "created", "config", "machine", "targets", "results"):
        if key not in data:
            problems.append(f"JSON: missing {key!r}")
    if problems:
        return problems
    problems += [
        f"JSON machine: missing {key!r}" for key in MACHINE_KEYS if key not in data["machine"]
    ]
    if not data["targets"]:
        problems.append("JSON: no targets computed")
    for item in data["targets"]:
        problems += [f"JSON target: missing {key!r}" for key in TARGET_KEYS if key not in item]
    reported = {item.get("id") for item in data["targets"]}
    problems += [
        f"JSON: target {key} not reported" for key in ALWAYS_REPORTED if key not in reported
    ]
    results = data["results"]
    skipped = {note.split(":")[0] for note in data.get("skipped", [])}
    main_datasets = {r["dataset"] for r in results if r["kind"] == "main"}
    for dataset in data["config"]["datasets"]:
        if dataset not in main_datasets and f"dataset {dataset}" not in skipped:
            problems.append(f"JSON: no results for dataset {dataset!r}")
    for result in results:
        problems += _check_result(result, data["config"]["runs"])
    problems += _check_probes(data, main_datasets)
    if data["config"].get("only") is None and data["config"].get("probes"):
        problems += [
            f"JSON target {item['id']} [{item['dataset']}] {item['target']}: no figure "
            f"({item['detail']})"
            for item in data["targets"]
            if item.get("measured") is None and item.get("dataset") in {*main_datasets, "-"}
        ]
    return problems


def _check_probes(data: dict[str, Any], main_datasets: set[str]) -> list[str]:
    """The codec ceilings and the import time: present when asked for, valid, finite."""
    if not data["config"].get("probes"):
        return []
    probes = data.get("probes", [])
    problems = []
    if not any(probe["kind"] == "import" for probe in probes):
        problems.append("JSON: no import-time probe")
    if not any(probe["kind"] == "random" for probe in probes):
        problems.append("JSON: no random-access probe")
    if not any(probe["kind"] == "ceiling" for probe in probes) and main_datasets:
        problems.append("JSON: no codec-ceiling probe")
    for probe in probes:
        where = f"probe {probe['kind']} {probe.get('dataset') or ''}".strip()
        if not probe.get("valid"):
            problems.append(f"{where}: failed: {probe.get('errors')}")
            continue
        if len(probe["runs"]) != data["config"]["runs"]:
            problems.append(
                f"{where}: {len(probe['runs'])} runs, expected {data['config']['runs']}"
            )
        wanted = {
            "import": IMPORT_METRICS,
            "random": ("file_bytes", "load_s", "entry_s", "entry_read_bytes", "slice_s"),
        }.get(probe["kind"], ("stream_bytes", "zstd_s"))
        for metric in wanted:
            figures = probe["stats"].get(metric)
            if not figures or not all(
                isinstance(figures.get(k), (int, float)) and math.isfinite(figures[k]) and
                figures[k] > 0 for k in ("median", "min", "max")
            ):  # fmt: skip
                problems.append(f"{where}: {metric} missing or not a positive number")
    return problems


def _check_result(result: dict[str, Any], runs: int) -> list[str]:
    where = f"{result['kind']} {result['dataset']} {result['strategy']}"
    if not result.get("valid"):
        return [f"{where}: invalid or failed: {result.get('errors')}"]
    if len(result["runs"]) != runs:
        return [f"{where}: {len(result['runs'])} runs, expected {runs}"]
    problems = []
    for metric in METRICS:
        figures = result["stats"].get(metric)
        if not figures or any(
            not isinstance(figures.get(k), (int, float)) or not math.isfinite(figures[k])
            for k in ("median", "min", "max")
        ):
            problems.append(f"{where}: {metric} missing or not a finite number")
        elif not figures["min"] <= figures["median"] <= figures["max"]:
            problems.append(f"{where}: {metric} median outside [min, max]")
        elif metric in POSITIVE and figures["median"] <= 0:
            problems.append(f"{where}: {metric} is not positive")
    return problems


def _check_markdown(path: Path, data: dict[str, Any]) -> list[str]:
    try:
        text = path.read_text()
    except OSError as error:
        return [f"{path}: cannot read: {error}"]
    problems = []
    if "## Targets" not in text:
        problems.append(f"{path}: no Targets section")
    kinds = {probe["kind"] for probe in data.get("probes", []) if probe.get("stats")}
    for kind, section in (("ceiling", "## Codec ceilings"), ("import", "## Import time")):
        if kind in kinds and section not in text:
            problems.append(f"{path}: no {section[3:]} section")
    for result in data["results"]:
        if result["kind"] == "main" and not re.search(
            rf"^\| {re.escape(result['strategy'])}( \(| \|)", text, re.MULTILINE
        ):
            problems.append(f"{path}: no table row for {result['dataset']} {result['strategy']}")
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        if not (path.parent / link).is_file():
            problems.append(f"{path}: image link {link} points to no file")
    return problems


def _check_plots(folder: Path) -> list[str]:
    problems = []
    for name in PLOTS:
        path = folder / name
        try:
            head = path.read_bytes()[:8]
            size = path.stat().st_size
        except OSError as error:
            problems.append(f"{path}: {error}")
            continue
        if head != PNG_SIGNATURE or size < 1000:
            problems.append(f"{path}: not a PNG image of a plausible size ({size} bytes)")
    return problems


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m bench.check OUTPUT_FOLDER", file=sys.stderr)
        return 2
    problems = validate(Path(arguments[0]))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{arguments[0]}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
