"""From raw runs to the figures reported: per-run metrics, then median, min and max.

The median of the runs is the reported figure (robust to one disturbed run on a shared machine);
min and max are kept so a reader can see how noisy each figure was.
"""

from __future__ import annotations

import statistics
from typing import Any

MIB = 1 << 20

#: The metrics of a run (see :func:`run_metrics`); ``loadavg_*`` is the machine's 1-minute load
#: average as the worker started, to tell a quiet measurement from a disturbed one.
METRICS = (
    "dump_s",
    "dump_call_s",
    "dump_cpu_s",
    "load_s",
    "load_cpu_s",
    "file_bytes",
    "object_bytes",
    "ratio",
    "dump_mib_s",
    "load_mib_s",
    "dump_peak_bytes",
    "load_peak_bytes",
    "load_object_bytes",
    "load_peak_minus_object_bytes",
    "loadavg_dump",
    "loadavg_load",
)


def run_metrics(dump: dict[str, Any], load: dict[str, Any]) -> dict[str, float]:
    """The metrics of one run, from the two workers' reports."""
    object_bytes = dump["object_bytes"]
    return {
        "dump_s": dump["dump_s"],
        "dump_call_s": dump["dump_call_s"],
        "dump_cpu_s": dump["cpu_s"],
        "load_s": load["load_s"],
        "load_cpu_s": load["cpu_s"],
        "file_bytes": dump["file_bytes"],
        "object_bytes": object_bytes,
        "ratio": object_bytes / dump["file_bytes"],
        "dump_mib_s": object_bytes / MIB / dump["dump_s"],
        "load_mib_s": object_bytes / MIB / load["load_s"],
        "dump_peak_bytes": dump["peak_bytes"],
        "load_peak_bytes": load["peak_bytes"],
        "load_object_bytes": load["object_bytes"],
        "load_peak_minus_object_bytes": load["peak_bytes"] - load["object_bytes"],
        "loadavg_dump": dump["load_average"],
        "loadavg_load": load["load_average"],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: {"median", "min", "max"}}`` over the runs that produced metrics."""
    measured = [run["metrics"] for run in runs if run.get("metrics")]
    if not measured:
        return {}
    return {metric: _spread([metrics[metric] for metrics in measured]) for metric in METRICS}


def median(result: dict[str, Any] | None, metric: str) -> float | None:
    """A result's median of ``metric``, or ``None`` when the result or the metric is missing."""
    if not result or not result.get("stats"):
        return None
    return result["stats"][metric]["median"]


def summarize_probe(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The same summary for a probe's runs: every number its runs all reported."""
    measured = [run["figures"] for run in runs if run.get("figures")]
    if not measured:
        return {}
    names = [
        name
        for name, value in measured[0].items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        and all(isinstance(figures.get(name), (int, float)) for figures in measured)
    ]  # fmt: skip
    return {name: _spread([figures[name] for figures in measured]) for name in names}


def _spread(values: list[float]) -> dict[str, float]:
    """The median of several runs' figures, and their extremes."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
