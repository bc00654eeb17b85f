"""The measuring worker: one dump or one load, in a fresh process, reported as JSON on stdout.

A fresh process per measurement is what makes the memory figures mean something: the peak
resident set of a process only ever grows, and a previous measurement's freed memory would
otherwise be reused silently.  Here the peak mark is reset right before the timed call
(``echo 5 > /proc/self/clear_refs`` resets ``VmHWM`` to the current ``VmRSS``), so
``VmHWM - VmRSS(before)`` is exactly the extra memory the call needed at its worst moment.

Usage (the orchestrator, :mod:`bench.run`, builds these command lines)::

    python -m bench.measure dump --dataset array --size-mb 512 \
        --strategy '{"library": "brinery", "codec": "zstd", "level": 3, "threads": null}' \
        --path /tmp/bench-x/file.brn
    python -m bench.measure load ...the same arguments...
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import importlib
import json
import os
import sys
import time
from typing import Any

from .datasets import DATASETS, MIB
from .fingerprint import deep_size, digest
from .strategies import Strategy


def read_status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of this process, in bytes, from ``/proc/self/status``."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def reset_peak() -> None:
    """Reset ``VmHWM`` to the current ``VmRSS`` (Linux >= 4.0; a process may do it to itself)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def settle() -> None:
    """Collect garbage and hand free heap pages back to the kernel before the baseline.

    Without ``malloc_trim``, memory freed while the dataset was built (generation temporaries,
    the digest walk's bookkeeping) stays resident in glibc's heap and the measured call could
    reuse it without raising the peak, under-reporting what it needs.
    """
    gc.collect()
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:  # arrow keeps freed memory in its own pool (jemalloc, mimalloc)
        pyarrow.default_memory_pool().release_unused()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        trim = getattr(ctypes.CDLL(libc_name), "malloc_trim", None)
        if trim is not None:
            trim(0)


def sync_file(path: str) -> None:
    """Write the file's dirty pages to the disk (brinery does it itself; the others do not)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_into_page_cache(path: str) -> None:
    """Read the file once, untimed, so every library's load starts from a file in the page
    cache (the page-cache speed the targets are about).

    The dump just wrote it, but on a shared or virtual machine the kernel may have dropped
    some of its pages since (np.load of the same 256 MiB file took 0.022 to 0.58 s in fresh
    processes here); whoever met evicted pages measured the disk, not the library.  Each file
    and library is treated alike.
    """
    buffer = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as file:
        while file.readinto(buffer):
            pass


def cpu_seconds() -> float:
    """User plus system CPU time of the whole process, every thread included."""
    times = os.times()
    return times.user + times.system


def load_average() -> float:
    """The 1-minute load average: on a shared machine, how busy the CPUs were around a figure."""
    return os.getloadavg()[0]


def measure_dump(dataset: str, size_mb: float, strategy: Strategy, path: str) -> dict[str, Any]:
    """Build the dataset, then dump it once: time, peak memory above baseline, file size."""
    strategy.prepare()
    load_before = load_average()
    started = time.perf_counter()
    value = DATASETS[dataset].build(int(size_mb * MIB))
    build_s = time.perf_counter() - started
    object_bytes = deep_size(value)
    value_digest = digest(value)

    settle()
    reset_peak()
    baseline = read_status()["VmRSS"]
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    strategy.dump(value, path)
    called = time.perf_counter()
    sync_file(path)
    synced = time.perf_counter()
    status = read_status()
    cpu = cpu_seconds() - cpu_before
    return {
        "phase": "dump",
        "dump_s": synced - started,
        "dump_call_s": called - started,
        "cpu_s": cpu,
        "baseline_bytes": baseline,
        "peak_bytes": status["VmHWM"] - baseline,
        "retained_bytes": status["VmRSS"] - baseline,
        "file_bytes": os.path.getsize(path),
        "object_bytes": object_bytes,
        "digest": value_digest,
        "build_s": build_s,
        "load_average": load_before,
    }


def measure_load(strategy: Strategy, path: str, dataset: str) -> dict[str, Any]:
    """Load the file once: time and peak memory above the post-import baseline.

    The peak includes the loaded object itself (it is alive when ``VmHWM`` is read), hence the
    object's own size is reported next to it.  The modules the dataset's objects come from
    (pandas, pyarrow) are imported first: a program loading them has them already.
    """
    strategy.prepare()
    for module in DATASETS[dataset].requires:
        importlib.import_module(module)
    load_before = load_average()
    pinned = None
    if strategy.pins_load:
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    read_into_page_cache(path)
    settle()
    reset_peak()
    baseline = read_status()["VmRSS"]
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    value = strategy.load(path)
    loaded = time.perf_counter()
    status = read_status()
    cpu = cpu_seconds() - cpu_before
    return {
        "phase": "load",
        "load_s": loaded - started,
        "cpu_s": cpu,
        "baseline_bytes": baseline,
        "peak_bytes": status["VmHWM"] - baseline,
        "retained_bytes": status["VmRSS"] - baseline,
        "object_bytes": deep_size(value),
        "digest": digest(value),
        "load_average": load_before,
        "single_thread_by": (
            None if strategy.threads != 1 else "affinity" if pinned is not None else "threads=1"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure", description=__doc__)
    parser.add_argument("phase", choices=("dump", "load"))
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--size-mb", type=float, required=True)
    parser.add_argument("--strategy", required=True, help="the Strategy as JSON")
    parser.add_argument("--path", required=True, help="the file to write or read")
    args = parser.parse_args(argv)
    strategy = Strategy.from_json(json.loads(args.strategy))
    if args.phase == "dump":
        result = measure_dump(args.dataset, args.size_mb, strategy, args.path)
    else:
        result = measure_load(strategy, args.path, args.dataset)
    # The last line of stdout is the result; libraries may print before it.
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
