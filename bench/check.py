"""Checks that a run's outputs exist and are well-formed (the CI smoke test's assertion).

It checks shape, not speed: every measurement present, valid and complete, the targets block
computed, the markdown naming every strategy and linking existing images, the images real PNGs.
``python -m bench.check OUT`` exits non-zero listing the problems.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from .report import PLOTS
from .stats import METRICS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MACHINE_KEYS = ("cpu_model", "cpus_usable", "memory_bytes", "kernel", "python", "versions")
TARGET_KEYS = ("id", "target", "dataset", "measured", "op", "limit", "pass", "detail")
POSITIVE = ("dump_s", "load_s", "file_bytes", "object_bytes", "ratio")


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
    results = data["results"]
    main_datasets = {r["dataset"] for r in results if r["kind"] == "main"}
    for dataset in data["config"]["datasets"]:
        if dataset not in main_datasets:
            problems.append(f"JSON: no results for dataset {dataset!r}")
    for result in results:
        problems += _check_result(result, data["config"]["runs"])
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
