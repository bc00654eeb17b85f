"""Random access (issue 15): one entry, or one slice, of a big indexed zstd file.

``python -m bench.random_access --size-mb 1024`` (one run; the orchestrator repeats it):

* ``entries``: a dict of 100 entries of ``size / 100`` each (float64 arrays, normal noise), dumped
  with zstd-3 twice, indexed (the default) and not (``index=False``);
* ``array``: one float64 array of ``size`` (rows of 128), zstd-3, indexed.

Each of these is then timed in a fresh interpreter (the libraries imported first, the file read
into the page cache first, as the main comparison does), which also reports the bytes it read
through system calls (``rchar`` of ``/proc/self/io``, what reading the file costs whether the
page cache serves it or the disk):

* ``load`` of the indexed and the unindexed ``entries`` file (a full load with an index should
  take the same time);
* ``brinery.open`` then ``opened[key]`` of the middle entry;
* ``brinery.open`` then ``opened.array("")[i:i + 1000]`` of the ``array`` file.

The index's own share of the file is reported too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import MIB
from .measure import read_into_page_cache

ENTRIES = 100
ROWS_READ = 1000
_CHILD = r"""
import json, sys, time
import numpy as np
import brinery
brinery.dump(0, __import__("io").BytesIO(), compress="zstd")  # (the codec imported first)
sys.path.insert(0, {bench!r})
from bench.measure import read_into_page_cache
what, path, key = sys.argv[1], sys.argv[2], sys.argv[3]
read_into_page_cache(path)
def rchar():
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("rchar")).split()[1])
before = rchar()
started = time.perf_counter()
if what == "load":
    value = brinery.load(path)
elif what == "entry":
    with brinery.open(path) as opened:
        value = opened[key]
else:
    with brinery.open(path) as opened:
        lazy = opened.array("")
        start = int(key)
        value = lazy[start : start + {rows}]
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "read_bytes": rchar() - before}}))
"""


def build(folder: Path, size_mb: float) -> dict[str, Any]:
    """Write the three files; return their names and sizes, and the index's size."""
    import brinery

    rng = np.random.default_rng(15)
    entry_rows = max(1, int(size_mb * MIB / ENTRIES / 8 / 128))
    entries = {
        f"entry{n:03d}": rng.normal(size=(entry_rows, 128)) for n in range(ENTRIES)
    }
    files = {
        "indexed": folder / "entries.pkl.zst",
        "unindexed": folder / "entries-unindexed.pkl.zst",
        "array": folder / "array.pkl.zst",
    }
    brinery.dump(entries, files["indexed"])
    brinery.dump(entries, files["unindexed"], index=False)
    del entries
    rows = max(ROWS_READ * 2, int(size_mb * MIB / 8 / 128))
    brinery.dump(rng.normal(size=(rows, 128)), files["array"])
    with brinery.open(files["indexed"]) as opened:
        index = opened.index
        assert index is not None
        index_bytes = 24 + 24 * (len(index.parts) + len(index.records) + len(index.frames))
    return {
        "files": {name: str(path) for name, path in files.items()},
        "file_bytes": {name: path.stat().st_size for name, path in files.items()},
        "index_bytes": index_bytes,
        "entry_bytes": entry_rows * 128 * 8,
        "array_rows": rows,
    }


def measure(size_mb: float, timeout: float = 600) -> dict[str, Any]:
    """One run: the files written, and each access timed in a fresh interpreter."""
    bench = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="random-access-") as folder:
        built = build(Path(folder), size_mb)
        files = built["files"]

        def child(what: str, path: str, key: str) -> dict[str, float]:
            read_into_page_cache(path)
            code = _CHILD.format(bench=bench, rows=ROWS_READ)
            done = subprocess.run(
                [sys.executable, "-c", code, what, path, key],
                capture_output=True, text=True, timeout=timeout, check=True,
            )  # fmt: skip
            figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
            return figures

        middle = f"entry{ENTRIES // 2:03d}"
        loaded = child("load", files["indexed"], "")
        unindexed = child("load", files["unindexed"], "")
        entry = child("entry", files["indexed"], middle)
        rows = child("slice", files["array"], str(built["array_rows"] // 2))
    return {
        "phase": "random",
        "file_bytes": built["file_bytes"]["indexed"],
        "array_file_bytes": built["file_bytes"]["array"],
        "index_bytes": built["index_bytes"],
        "index_share": built["index_bytes"] / built["file_bytes"]["indexed"],
        "entry_bytes": built["entry_bytes"],
        "load_s": loaded["seconds"],
        "load_read_bytes": loaded["read_bytes"],
        "unindexed_load_s": unindexed["seconds"],
        "entry_s": entry["seconds"],
        "entry_read_bytes": entry["read_bytes"],
        "slice_s": rows["seconds"],
        "slice_read_bytes": rows["read_bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.random_access", description=__doc__)
    parser.add_argument("--size-mb", type=float, default=1024)
    args = parser.parse_args(argv)
    sys.stdout.write("\n" + json.dumps(measure(args.size_mb)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
