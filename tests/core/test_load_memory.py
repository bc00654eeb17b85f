"""The memory an object-heavy compressed load holds besides the object (issue 14, target O2).

An object-heavy file's pickle data is read in small pieces (records of at most 1 MiB), far less
than a compressed frame (4 MiB).  Those frames are streamed through the codec, not decompressed
whole aside: whole, each one was held twice (its compressed bytes and its output) next to the
frame being read, once more per frame read ahead on a thread, and the codec's own output was a
third copy.  Of these 48 MiB of records, a load peaked 10 to 16 MiB above the same file's
uncompressed load; streamed, under 3 MiB (a zstd context keeps a window as large as a frame;
brinery-lz4 now keeps a frame's output to hash it in one call: 6 MiB).

Each figure comes from a fresh interpreter, as the benchmark takes it (``VmHWM`` reset before
the load, read after it): freed memory an earlier load left in the heap would hide the peak.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from brinery.testing import run_python

#: Records of the benchmark's ``records`` dataset (an 8 KB array, an int, a str, a small dict):
#: about 48 MiB, a dozen 4 MiB frames.
RECORDS = 5600
#: How much more than the uncompressed load's peak a compressed load may take: a streamed
#: frame's pieces and a codec's buffer for a frame (zstd's window, 4 MiB; brinery-lz4 gathers a
#: frame's output, 4 MiB, to hash it in one call; measured: 0.2 MiB more for the deflate codec
#: below, 2.4 for zstd, 6.0 for LZ4, which took 0.4 while hashing as it went, 0.1 s slower per
#: 256 MiB), with room for the noise of a heap, and under what whole frames aside took (16.5,
#: 9.8 and 11.5 MiB).
ALLOWANCE = 8 << 20

#: A codec of the core's frame machinery with brinery's frame hints, as zstd and LZ4 have:
#: raw deflate behind a prefix, in frames of 4 MiB (the default), each announced by a hint.
CODEC = """
import zlib
import brinery
from brinery.codec_adapters import ZlibStyleDecompressor

class _Compressor:
    def __init__(self, level):
        self._zlib, self._prefix = zlib.compressobj(level, zlib.DEFLATED, -15), b"HD\\x01"

    def compress(self, data):
        prefix, self._prefix = self._prefix, b""
        return prefix + self._zlib.compress(data)

    def flush(self):
        prefix, self._prefix = self._prefix, b""
        return prefix + self._zlib.flush()

class _Decompressor(ZlibStyleDecompressor):
    def __init__(self):
        super().__init__(-15)
        self._prefix = 3

    def decompress(self, data, /, max_length=-1):
        data = bytes(data)
        if self._prefix:
            skipped, self._prefix = min(self._prefix, len(data)), self._prefix - len(data[:3])
            data = data[skipped:]
            if self._prefix:
                return b""
        return super().decompress(data, max_length)

class HintedDeflate(brinery.Compressor):
    name = "hdeflate"
    magic = b"HD\\x01"
    extensions = (".hdz",)
    levels = range(1, 10)
    errors = (zlib.error,)
    framing = brinery.Framing(hints=brinery.SKIPPABLE_FRAME_HINTS)

    def new_compressor(self, level):
        return _Compressor(level)

    def new_decompressor(self):
        return _Decompressor()

brinery.register_compressor("hdeflate", HintedDeflate())
"""

DUMP = (
    CODEC
    + """
import sys
import numpy as np

rng = np.random.default_rng(5)
values = rng.standard_normal((RECORDS, 1000))
value = [
    {"values": values[i].copy(), "id": i, "name": f"item-{i:08d}",
     "meta": {"label": i % 1000, "source": "camera", "weight": i / 7}}
    for i in range(RECORDS)
]
for path, compress in zip(sys.argv[1::2], sys.argv[2::2]):
    brinery.dump(value, path, compress=compress if compress != "none" else False)
"""
)

LOAD = (
    CODEC
    + """
import ctypes, gc, io, json, sys

if sys.argv[2] != "none":  # (the codec's plugin and modules loaded first, as a program has them)
    warm = io.BytesIO()
    brinery.dump(0, warm, compress=sys.argv[2])
    brinery.load(io.BytesIO(warm.getvalue()))

def status():
    with open("/proc/self/status") as lines:
        return {k: int(v.split()[0]) << 10 for k, _, v in (line.partition(":") for line in lines)
                if k in ("VmRSS", "VmHWM")}

with open(sys.argv[1], "rb") as file:  # (in the page cache, as the benchmark has it)
    while file.read(1 << 20):
        pass
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = status()["VmRSS"]
value = brinery.load(sys.argv[1], threads=2)
after = status()
print(json.dumps({"peak": after["VmHWM"] - before, "records": len(value)}))
"""
)

CODECS = ["hdeflate", "zstd", "lz4"]


def _has_peak_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _has_peak_reset(), reason="needs Linux's peak-RSS reset (/proc/self/clear_refs)"
)

# The codecs' plugins load in the child processes, whatever this run chose for itself.
PLUGINS = {"BRINERY_LOAD_PLUGINS": None}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The records dumped uncompressed and with each codec whose plugin is installed."""
    folder = tmp_path_factory.mktemp("load-memory")
    wanted = ["none"] + [
        codec
        for codec in CODECS
        if codec == "hdeflate" or importlib.util.find_spec(f"brinery_{codec}") is not None
    ]
    paths = {codec: folder / f"records.{codec}" for codec in wanted}
    arguments = [str(item) for codec in wanted for item in (paths[codec], codec)]
    run_python(_with_arguments(DUMP.replace("RECORDS", str(RECORDS)), arguments), env=PLUGINS)
    return paths


def _with_arguments(code: str, arguments: list[str]) -> str:
    return f"import sys\nsys.argv[1:] = {arguments!r}\n" + code


def _load_peak(path: Path, codec: str) -> int:
    done = run_python(_with_arguments(LOAD, [str(path), codec]), env=PLUGINS)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["records"] == RECORDS
    return int(result["peak"])


@pytest.fixture(scope="module")
def uncompressed_peak(files: dict[str, Path]) -> int:
    return _load_peak(files["none"], "none")


@pytest.mark.parametrize("codec", CODECS)
def test_a_compressed_object_heavy_load_holds_little_more_than_an_uncompressed_one(
    codec: str, files: dict[str, Path], uncompressed_peak: int
) -> None:
    if codec not in files:
        pytest.skip(f"the {codec} plugin is not installed")
    peak = _load_peak(files[codec], codec)
    more = peak - uncompressed_peak
    assert more < ALLOWANCE, (
        f"a {codec} load peaked {more / (1 << 20):.1f} MiB above the uncompressed load's "
        f"({uncompressed_peak / (1 << 20):.1f} MiB above its baseline)"
    )
