"""brinery demo: what brinery does with a realistic object, in a few seconds.

The object is what a data scientist keeps on disk: float64 sensor readings, a stack of smooth
8-bit images with their labels, and plain Python metadata.  The demo prints each call it makes
with its time, the file's size and whether the object came back exactly: a dump and a load
with no compression and with each installed compressor, then a mapped load, the listing of
what a file would import, and a safe load of a file from someone else.

The slow compressors (bz2, lzma and xz: a few MB/s) are left out unless ``--all`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import brinery

SLOW = ("bz2", "lzma", "xz")


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
        return a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


def timed(call: str, function: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``function``, printing ``call`` first (so a slow call shows what it is doing)."""
    print(f"  {call:<58}", end="", flush=True)
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=64, help="size of the float array")
    parser.add_argument("--all", action="store_true", help="the slow compressors too")
    arguments = parser.parse_args()

    value = realistic_object(arguments.megabytes)
    array_bytes = sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    print(
        f"brinery {brinery.__version__} demo: a dict holding {array_bytes / 1e6:.0f} MB of numpy "
        "arrays (readings, images, labels) and plain Python data\n"
    )
    compressors = brinery.compressors()
    names = sorted(name for name in compressors if arguments.all or name not in SLOW)
    print(f"  {'call':<58}{'seconds':>8}{'file MB':>9}{'ratio':>7}")
    started_in = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the calls shown are the calls made
        try:
            for name in [None, *names]:
                _round_trip(value, None if name is None else compressors[name], array_bytes)
            _the_uncompressed_file_again(value)
        finally:
            os.chdir(started_in)
    print("\nevery round trip loaded back exactly")
    left_out = [name for name in SLOW if name in compressors and name not in names]
    if left_out:
        print(f"(left out as slow, a few MB/s: {', '.join(left_out)}; --all tries them)")


def _round_trip(value: dict[str, Any], compressor: Any, array_bytes: int) -> None:
    """A dump chosen by the file name's extension, and a load found by the magic number."""
    path = "demo.pkl" + ("" if compressor is None else compressor.extensions[0])
    _, seconds = timed(f'brinery.dump(value, "{path}")', lambda: brinery.dump(value, path))
    size = os.path.getsize(path)
    how = "" if compressor is None else f"  ({compressor.name}, level {compressor.default_level})"
    print(f"{seconds:>8.2f}{size / 1e6:>9.1f}{array_bytes / size:>7.2f}{how}")
    loaded, seconds = timed(f'brinery.load("{path}")', lambda: brinery.load(path))
    if not same(value, loaded):
        raise SystemExit(f"the round trip through {path} changed the object")
    print(f"{seconds:>8.2f}  the same object")


def _the_uncompressed_file_again(value: dict[str, Any]) -> None:
    """A mapped load, the imports a file would need, and a safe load."""
    mapped, seconds = timed(
        'brinery.load("demo.pkl", mmap_mode="r")', lambda: brinery.load("demo.pkl", mmap_mode="r")
    )
    print(f"{seconds:>8.2f}  arrays mapped: {type(mapped['readings']).__name__}, read when used")

    def one_entry_and_rows() -> tuple[Any, Any]:
        with brinery.open("demo.pkl") as opened:  # the index only, then what is asked
            return opened["parameters"], opened.array('["readings"]')[10:12]

    call = 'brinery.open("demo.pkl")[key], .array()[10:12]'
    (parameters, rows), seconds = timed(call, one_entry_and_rows)
    if not same(parameters, value["parameters"]) or not same(rows, value["readings"][10:12]):
        raise SystemExit("random access changed the object")
    print(f"{seconds:>8.2f}  one entry and two rows, without the rest")
    needed, seconds = timed(
        'brinery.untrusted_types("demo.pkl")', lambda: brinery.untrusted_types("demo.pkl")
    )
    print(f"{seconds:>8.2f}  {needed}")
    call = f'brinery.load("demo.pkl", trusted={needed})'
    loaded, seconds = timed(call, lambda: brinery.load("demo.pkl", trusted=needed))
    if not same(value, loaded):
        raise SystemExit("the safe load changed the object")
    print(f"{seconds:>8.2f}  the same object, nothing else imported")


if __name__ == "__main__":
    main()
