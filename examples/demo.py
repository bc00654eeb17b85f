"""brinery demo: dump and load a realistic object with every installed compressor.

The object is what a data scientist keeps on disk: ~100 MB of float64 sensor readings, a stack
of smooth 8-bit images with their labels, and plain Python metadata.  For each compressor (and
none) the demo prints the file size, the dump and load times, and checks the round trip.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import brinery


def realistic_object(megabytes: float) -> dict[str, Any]:
    rng = np.random.default_rng(2016)
    count = int(megabytes * 1e6 / 8)
    # Readings: a slow random walk plus sensor noise, as float64 (little to gain by compression).
    readings = np.cumsum(rng.normal(0, 0.01, count)) + rng.normal(0, 0.1, count)
    # Images: smooth blobs on a gradient, quantised to 8 bits (compress well).
    y, x = np.mgrid[0:96, 0:96]
    centres = rng.uniform(20, 76, size=(600, 2))
    images = (
        255 * np.exp(-((x - centres[:, :1, None]) ** 2 + (y - centres[:, 1:, None]) ** 2) / 300)
    ).astype(np.uint8)
    return {
        "readings": readings.reshape(-1, 1000),
        "images": images,
        "labels": rng.integers(0, 10, size=len(images)),
        "label_names": [f"class-{index}" for index in range(10)],
        "created": datetime.datetime(2026, 11, 25, 12, 0),
        "parameters": {"learning_rate": 0.01, "layers": (64, 32, 10), "seed": 2016},
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100, help="size of the float array")
    arguments = parser.parse_args()

    value = realistic_object(arguments.megabytes)
    array_bytes = sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    print(f"brinery demo: a dict holding {array_bytes / 1e6:.0f} MB of arrays")
    choices: list[tuple[str, str, Any]] = [("none", "", False)]
    for name, compressor in sorted(brinery.compressors().items()):
        choices.append((name, compressor.extensions[0], (name, compressor.default_level)))

    header = f"{'compressor':<12}{'level':>6}{'size MB':>10}{'ratio':>8}{'dump s':>9}{'load s':>9}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for name, extension, compress in choices:
            path = Path(folder) / f"demo.pkl{extension}"
            started = time.perf_counter()
            brinery.dump(value, path, compress=compress)
            dumped = time.perf_counter()
            loaded_value = brinery.load(path)
            loaded = time.perf_counter()
            if not same(value, loaded_value):
                raise SystemExit(f"round trip with {name} changed the object")
            size = path.stat().st_size
            level = "" if compress is False else str(compress[1])
            print(
                f"{name:<12}{level:>6}{size / 1e6:>10.1f}{array_bytes / size:>8.2f}"
                f"{dumped - started:>9.2f}{loaded - dumped:>9.2f}"
            )
            path.unlink()
    print("every round trip loaded back exactly")


if __name__ == "__main__":
    main()
