"""The figures of the report, as PNG files (matplotlib's Agg backend: no display needed).

Times span three orders of magnitude (lz4 to xz), so time and speed axes are logarithmic; memory
figures stay linear, as the limits they are read against are.  Rows measured on the smaller
sample say so in their label, their times being for less data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from .stats import MIB
from .targets import BASE_ALLOWANCE_MIB

DUMP_COLOUR = "#1f77b4"
LOAD_COLOUR = "#ff7f0e"


def write_all(data: dict[str, Any], folder: Path) -> list[Path]:
    """Write every plot into ``folder``; returns their paths (names as in report.PLOTS)."""
    folder.mkdir(parents=True, exist_ok=True)
    results = [r for r in data["results"] if r.get("stats")]
    full_size = data["config"]["size_mb"]
    main = [r for r in results if r["kind"] == "main"]
    sweep = [r for r in results if r["kind"] == "sweep"]
    return [
        _bars(
            main,
            folder / "bench-time.png",
            ("dump_s", "load_s"),
            ("dump", "load"),
            "seconds (log scale)",
            scale=1.0,
            log=True,
            full_size=full_size,
        ),
        _bars(
            main,
            folder / "bench-memory.png",
            ("dump_peak_bytes", "load_peak_minus_object_bytes"),
            ("dump peak above baseline", "load peak above object size"),
            f"MiB (dashed: the {BASE_ALLOWANCE_MIB} MiB allowance)",
            scale=1 / MIB,
            log=False,
            limit=BASE_ALLOWANCE_MIB,
            full_size=full_size,
        ),
        _sweep(sweep, folder / "bench-sweep.png", data["config"]["sample_mb"]),
        _shuffle(main, folder / "bench-shuffle.png"),
    ]


def _by_dataset(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        grouped.setdefault(result["dataset"], []).append(result)
    return grouped


def _bars(
    results: list[dict[str, Any]],
    path: Path,
    metrics: tuple[str, str],
    labels: tuple[str, str],
    axis_label: str,
    *,
    scale: float,
    log: bool,
    full_size: float,
    limit: float | None = None,
) -> Path:
    """Grouped horizontal bars: one panel per dataset, two bars (``metrics``) per strategy."""
    grouped = _by_dataset(results)
    rows = max((len(group) for group in grouped.values()), default=1)
    figure, axes = plt.subplots(
        1,
        max(1, len(grouped)),
        figsize=(5.5 * max(1, len(grouped)), 1.2 + 0.32 * rows),
        squeeze=False,
    )
    for axis, (dataset, group) in zip(axes[0], grouped.items(), strict=False):
        positions = range(len(group))
        for offset, metric, label, colour in zip(
            (-0.2, 0.2), metrics, labels, (DUMP_COLOUR, LOAD_COLOUR), strict=True
        ):
            medians = [r["stats"][metric]["median"] * scale for r in group]
            lows = [
                m - r["stats"][metric]["min"] * scale for m, r in zip(medians, group, strict=True)
            ]
            highs = [
                r["stats"][metric]["max"] * scale - m for m, r in zip(medians, group, strict=True)
            ]
            axis.barh(
                [p + offset for p in positions],
                medians,
                height=0.4,
                xerr=[lows, highs],
                color=colour,
                label=label,
                error_kw={"elinewidth": 0.8, "capsize": 1.5},
            )
        names = [
            r["strategy"] + ("" if r["size_mb"] == full_size else f" ({r['size_mb']:g} MiB)")
            for r in group
        ]
        axis.set_yticks(list(positions), names, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(dataset)
        axis.set_xlabel(axis_label)
        if log:
            axis.set_xscale("log")
        if limit is not None:
            axis.axvline(limit, color="grey", linestyle="--", linewidth=0.8)
        axis.grid(axis="x", alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _sweep(results: list[dict[str, Any]], path: Path, size_mb: float) -> Path:
    """Ratio against dump speed, one line per codec through its levels, one panel per dataset."""
    grouped = _by_dataset(results)
    figure, axes = plt.subplots(
        1, max(1, len(grouped)), figsize=(6.5 * max(1, len(grouped)), 4.8), squeeze=False
    )
    for axis, (dataset, group) in zip(axes[0], grouped.items(), strict=False):
        _sweep_panel(axis, group)
        axis.set_title(f"{dataset} ({size_mb:g} MiB sample)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


#: The datasets of the shuffle plot, and what it shows of them: compressed strategies only.
SHUFFLE_PLOT_DATASETS = ("normal", "images")


def _shuffle(results: list[dict[str, Any]], path: Path) -> Path:
    """Ratio against dump speed of every compressed strategy on the numeric datasets: where
    shuffling moves a codec (brinery's variants are labelled), next to blosc2 and joblib."""
    grouped = {
        dataset: [r for r in group if r["spec"].get("codec") is not None]
        for dataset, group in _by_dataset(results).items()
        if dataset in SHUFFLE_PLOT_DATASETS
    }
    figure, axes = plt.subplots(
        1, max(1, len(grouped)), figsize=(6.5 * max(1, len(grouped)), 4.8), squeeze=False
    )
    for axis, (dataset, group) in zip(axes[0], grouped.items(), strict=False):
        for result in group:
            spec = result["spec"]
            # squares: blosc2; dots: brinery shuffling explicitly; crosses: everything else
            marker = "s" if spec["library"] == "blosc2" else "o" if spec.get("shuffle") else "x"
            x = result["stats"]["dump_mib_s"]["median"]
            y = result["stats"]["ratio"]["median"]
            axis.scatter([x], [y], marker=marker, s=28, label=result["strategy"])
        axis.set_xscale("log")
        axis.set_title(dataset)
        axis.legend(fontsize=7, loc="best")  # the points cluster: a legend, not labels
        axis.set_xlabel("dump speed, MiB/s of in-memory data (log scale)")
        axis.set_ylabel("compression ratio (in-memory size / file size)")
        axis.grid(alpha=0.3)
    if not grouped:
        axes[0][0].text(0.5, 0.5, "no numeric dataset measured", ha="center", va="center")
        axes[0][0].set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _sweep_panel(axis: Axes, group: list[dict[str, Any]]) -> None:
    codecs: dict[str, list[dict[str, Any]]] = {}
    for result in group:
        codecs.setdefault(result["spec"]["codec"], []).append(result)
    for codec, members in sorted(codecs.items()):
        members.sort(key=lambda r: r["spec"]["level"])
        speeds = [r["stats"]["dump_mib_s"]["median"] for r in members]
        ratios = [r["stats"]["ratio"]["median"] for r in members]
        (line,) = axis.plot(speeds, ratios, marker="o", markersize=4, label=codec)
        for result, x, y in zip(members, speeds, ratios, strict=True):
            axis.annotate(
                str(result["spec"]["level"]),
                (x, y),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=7,
                color=line.get_color(),
            )
    axis.set_xscale("log")
    axis.set_xlabel("dump speed, MiB/s of in-memory data (log scale)")
    axis.set_ylabel("compression ratio (in-memory size / file size)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
