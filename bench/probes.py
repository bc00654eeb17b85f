"""Measurements that are not a dump and a load: the codec ceiling and the import time.

**Codec ceiling** (``python -m bench.probes ceiling``, one fresh process per run): the dataset
is dumped uncompressed into memory (the bytes a compressed dump without filters hands its
codec), then compressed frame by frame, on this one thread, by the frame compressor a dump's
thread keeps (:meth:`~brinery.Compressor.new_frame_compressor`, frames of the codec's
``framing.frame_size``): the codec's single-thread speed on this data, best of two passes. The
ceiling of a dump on ``n`` cores is that time divided by ``n``: what the dump would take if
compressing were all it did, perfectly spread over the cores.

The same is measured on the frames a default dump really hands the codec (``*_dumped_*``:
recorded by wrapping ``new_frame_compressor`` during a one-thread dump), for information: a
filter changes the codec's work (zstd-3 goes 2.7x faster over byte-shuffled normal floats, lz4
slower over delta-coded images, where it finds matches to write), and the filter's own work is
in neither figure.

**Import time** (:func:`import_times`, from the orchestrator): fresh interpreters that import
numpy, then time ``import brinery`` (or ``import joblib``) with ``perf_counter``; another times
the first ``brinery.dump`` of a tiny object to a ``.zst`` file, which pays for loading the
plugins.  Each figure is the median over several interpreters, as one start-up is noisy.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .datasets import DATASETS, MIB
from .measure import load_average

#: Codecs whose ceiling is measured, at their default level: zstd and lz4 are issue 14's
#: targets, zlib is reported for information.
CEILING_CODECS = ("zstd", "lz4", "zlib")
#: Compression passes per codec in one process; the fastest counts (the codec's own speed).
PASSES = 2

_IMPORT = (
    "import sys, time\n"
    "import numpy\n"
    "before = len(sys.modules)\n"
    "started = time.perf_counter()\n"
    "import {module}\n"
    "print(time.perf_counter() - started, len(sys.modules) - before)\n"
)
_FIRST_DUMP = (
    "import sys, time\n"
    "import numpy, brinery\n"
    "value = {{'weights': numpy.arange(10.0), 'name': 'tiny'}}\n"
    "started = time.perf_counter()\n"
    "brinery.dump(value, {path!r})\n"
    "print(time.perf_counter() - started, 0)\n"
)
#: The import-time figures, in the order :func:`import_times` reports them.
IMPORT_METRICS = (
    "brinery_import_s",
    "joblib_import_s",
    "brinery_modules",
    "joblib_modules",
    "first_zst_dump_s",
)


def ceiling(dataset: str, size_mb: float, codecs: list[str]) -> dict[str, Any]:
    """Single-thread compression time of each codec (at its default level) on the frames a
    dump of the dataset hands it, and on the dataset's unfiltered stream."""
    import brinery

    compressors = brinery.compressors()
    load_before = load_average()
    value = DATASETS[dataset].build(int(size_mb * MIB))
    buffer = io.BytesIO()
    brinery.dump(value, buffer, compress=False)
    stream = buffer.getbuffer()
    figures: dict[str, Any] = {
        "phase": "ceiling",
        "stream_bytes": len(stream),
        "load_average": load_before,
    }
    for name in codecs:
        if name not in compressors:
            continue
        compressor = compressors[name]
        level = compressor.default_level
        frame = compressor.framing.frame_size or len(stream)  # None: the stream is one frame
        plain = [stream[start : start + frame] for start in range(0, len(stream), frame)]
        dumped = _frames_of_dump(value, compressor, level)
        for key, frames in (("", plain), ("_dumped", dumped)):
            seconds, compressed = _compress_frames(compressor, level, frames)
            uncompressed = sum(len(data) for data in frames)
            figures[f"{name}{key}_s"] = seconds
            figures[f"{name}{key}_mib_s"] = uncompressed / MIB / seconds
            figures[f"{name}{key}_ratio"] = uncompressed / compressed
        figures[f"{name}_level"] = level
        figures[f"{name}_frame_bytes"] = frame
        del dumped
    return figures


def _frames_of_dump(value: Any, compressor: Any, level: int) -> list[bytes]:
    """What a dump of ``value`` (default options, one thread) hands ``compressor``, frame by
    frame: its ``new_frame_compressor`` is wrapped on the instance for the dump."""
    import brinery

    frames: list[bytes] = []
    original = compressor.new_frame_compressor

    def recording(level: int) -> Any:
        compress = original(level)

        def record(data: Any) -> Any:
            frames.append(bytes(data))
            return compress(data)

        return record

    compressor.new_frame_compressor = recording
    try:
        brinery.dump(value, io.BytesIO(), compress=(compressor.name, level), threads=1)
    finally:
        del compressor.new_frame_compressor  # (the class's own again)
    if not frames:
        raise RuntimeError(f"{compressor.name} compresses through its own writer: no frames seen")
    return frames


def _compress_frames(compressor: Any, level: int, frames: list[Any]) -> tuple[float, int]:
    """The best time of :data:`PASSES` compressions of ``frames``, and their compressed size."""
    best = float("inf")
    compressed = 0
    compress = compressor.new_frame_compressor(level)  # (as a dump's thread keeps it)
    for _ in range(PASSES):
        started = time.perf_counter()
        compressed = sum(len(part) for data in frames for part in compress(data))
        best = min(best, time.perf_counter() - started)
    return best, compressed


def import_times(folder: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """Medians over ``repeats`` fresh interpreters of each import and of a first ``.zst`` dump."""
    samples: dict[str, list[float]] = {name: [] for name in IMPORT_METRICS}
    path = folder / "tiny.pkl.zst"
    load_before = load_average()
    for module in ("brinery", "joblib"):  # warm-up: compiled modules cached, as in real use
        _child(_IMPORT.format(module=module), folder, timeout)
    for _ in range(repeats):  # interleaved, so a busy moment spreads over all three
        for module in ("brinery", "joblib"):
            seconds, modules = _child(_IMPORT.format(module=module), folder, timeout)
            samples[f"{module}_import_s"].append(seconds)
            samples[f"{module}_modules"].append(modules)
        seconds, _ = _child(_FIRST_DUMP.format(path=str(path)), folder, timeout)
        samples["first_zst_dump_s"].append(seconds)
        path.unlink(missing_ok=True)
    return {
        "phase": "import",
        "repeats": repeats,
        "load_average": load_before,
        **{name: statistics.median(values) for name, values in samples.items()},
    }


def _child(code: str, folder: Path, timeout: float) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter (in ``folder``, away from the repository's modules);
    it prints two numbers."""
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        tail = " / ".join(completed.stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"import probe failed (exit {completed.returncode}): {tail}")
    seconds, count = completed.stdout.split()[-2:]
    return float(seconds), float(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probes", description=__doc__)
    parser.add_argument("phase", choices=("ceiling",))
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--size-mb", type=float, required=True)
    parser.add_argument("--codecs", default=",".join(CEILING_CODECS))
    args = parser.parse_args(argv)
    result = ceiling(args.dataset, args.size_mb, [c for c in args.codecs.split(",") if c])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
