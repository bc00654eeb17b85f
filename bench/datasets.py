"""The benchmark datasets, generated deterministically from a seed.

Each dataset is built inside the measuring process (never pickled across processes): sending it
would cost as much as what is measured, and would leave pickle's buffers in the worker's memory
before the baseline is read.  Generation is seeded, so every process of every run builds the same
bytes, which is what lets a loading process check its result against the dumping one's digest.

Sizes are in MiB (2**20 bytes) of in-memory data; the generators aim at that size and land within
a fraction of a percent of it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MIB = 1 << 20

#: LFW faces as scikit-learn's ``fetch_lfw_people`` returns them by default (``resize=0.5``).
IMAGE_SHAPE = (62, 47)
#: Images generated per batch: bounds the float temporaries used while drawing them.
IMAGE_BATCH = 2048
#: Gaussian blobs per image (a face-like arrangement of light and dark patches).
BLOBS_PER_IMAGE = 5
#: Distinct people in the label array (LFW has 5,749).
PEOPLE = 5749

#: Per record of the object-heavy dataset: two small arrays and a handful of scalars.
RECORD_FEATURES = 300  # float64: 2,400 bytes
RECORD_WINDOW = 200  # float32: 800 bytes
#: Measured in-memory size of one record (arrays, dict, strings, ints, float), used to pick the
#: record count for a requested size; :func:`deep_size` reports the exact figure.
RECORD_BYTES = 3842
RECORD_SOURCES = ("camera-a", "camera-b", "scanner", "archive", "web")

#: The arrays of the ``many`` dataset (a dict of equal float64 arrays).
MANY_ARRAYS = 64

#: Per record of the ``records`` dataset (issue 14's object-heavy case: 32k dicts at 256 MB):
#: one float64 array of 1,000, an int, a str and a small dict.
ITEM_VALUES = 1000
#: Measured in-memory size of one such record (see :func:`deep_size`).
ITEM_BYTES = 8643

#: Columns of the ``arrow`` frame: float64 columns, then an int64 and a string column.
ARROW_FLOAT_COLUMNS = 6
#: In-memory bytes per row: 7 eight-byte values, ~12 string bytes and a 4-byte string offset.
ARROW_ROW_BYTES = 72


@dataclass(frozen=True)
class Dataset:
    """A named generator: ``build(size_bytes)`` returns the object to dump."""

    name: str
    title: str
    description: str
    build: Callable[[int], Any]
    #: Modules the dataset needs; where one is missing the dataset is skipped, with a note.
    requires: tuple[str, ...] = ()

    def missing(self) -> str | None:
        """Why the dataset cannot be built here, or ``None`` when it can."""
        absent = [name for name in self.requires if importlib.util.find_spec(name) is None]
        return f"needs {' and '.join(absent)}, not installed" if absent else None


def build_array(size_bytes: int) -> np.ndarray:
    """One large float64 array of uniform random numbers: as good as incompressible.

    Random mantissas leave codecs only the few repeated exponent bits, the worst case for
    compression and the case where a compressor's speed, not its ratio, decides.
    """
    columns = 1024
    rows = max(1, size_bytes // (8 * columns))
    rng = np.random.default_rng(1)
    return rng.random((rows, columns), dtype=np.float64)


def build_images(size_bytes: int) -> dict[str, np.ndarray]:
    """A stack of smooth, low-entropy greyscale uint8 images with one int64 label each.

    Mimics face data sets such as LFW: each image is a gradient background plus a few Gaussian
    blobs, with one grey level of noise, so neighbouring pixels are close and codecs find
    structure (unlike :func:`build_array`).  Drawn in batches with a batched matrix product (the
    blobs are separable), which keeps generation to a couple of seconds per 512 MiB.
    """
    height, width = IMAGE_SHAPE
    count = max(1, size_bytes // (height * width + 8))
    rng = np.random.default_rng(2)
    images = np.empty((count, height, width), dtype=np.uint8)
    ys = np.arange(height, dtype=np.float32)
    xs = np.arange(width, dtype=np.float32)
    for start in range(0, count, IMAGE_BATCH):
        batch = min(IMAGE_BATCH, count - start)
        images[start : start + batch] = _draw_images(rng, batch, ys, xs)
    labels = rng.integers(0, PEOPLE, size=count, dtype=np.int64)
    return {"images": images, "labels": labels}


def _draw_images(
    rng: np.random.Generator, batch: int, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    shape = (batch, BLOBS_PER_IMAGE)
    centre_y = rng.uniform(0, len(ys), shape).astype(np.float32)
    centre_x = rng.uniform(0, len(xs), shape).astype(np.float32)
    spread_y = rng.uniform(4, 18, shape).astype(np.float32)
    spread_x = rng.uniform(4, 14, shape).astype(np.float32)
    amplitude = rng.uniform(-70, 90, shape).astype(np.float32)
    # (batch, height, blobs) @ (batch, blobs, width): each blob is an outer product.
    profile_y = np.exp(-(((ys[None, :, None] - centre_y[:, None, :]) / spread_y[:, None, :]) ** 2))
    profile_x = np.exp(-(((xs[None, None, :] - centre_x[:, :, None]) / spread_x[:, :, None]) ** 2))
    picture = np.matmul(profile_y * amplitude[:, None, :], profile_x)
    slope_y = rng.uniform(-1.0, 1.0, batch).astype(np.float32)
    slope_x = rng.uniform(-1.0, 1.0, batch).astype(np.float32)
    level = rng.uniform(60, 170, batch).astype(np.float32)
    picture += level[:, None, None]
    picture += (
        slope_y[:, None, None] * ys[None, :, None] + slope_x[:, None, None] * xs[None, None, :]
    )
    picture += rng.integers(-1, 2, picture.shape, dtype=np.int8)
    return np.clip(picture, 0, 255).astype(np.uint8)


def build_objects(size_bytes: int) -> list[dict[str, Any]]:
    """Many small dicts, each holding small arrays, strings and ints: pickle's home ground.

    Per-object overhead dominates here (arrays of a few hundred floats stay below the size where
    out-of-band buffers pay off), which is where a pure-Python pickler such as joblib's falls far
    behind the C pickler.  Rows are copied out of per-batch blocks so every array owns its memory,
    as it would after any real computation.
    """
    count = max(1, size_bytes // RECORD_BYTES)
    rng = np.random.default_rng(3)
    records: list[dict[str, Any]] = []
    batch_size = 4096
    for start in range(0, count, batch_size):
        batch = min(batch_size, count - start)
        features = rng.standard_normal((batch, RECORD_FEATURES))
        window = rng.random((batch, RECORD_WINDOW), dtype=np.float32)
        labels = rng.integers(0, 1000, batch).tolist()
        sources = rng.integers(0, len(RECORD_SOURCES), batch).tolist()
        quality = rng.random(batch).tolist()
        for row in range(batch):
            index = start + row
            records.append(
                {
                    "id": index,
                    "name": f"subject-{index:08d}",
                    "source": RECORD_SOURCES[sources[row]],
                    "label": labels[row],
                    "quality": quality[row],
                    "features": features[row].copy(),
                    "window": window[row].copy(),
                }
            )
    return records


def build_many(size_bytes: int) -> dict[str, np.ndarray]:
    """:data:`MANY_ARRAYS` incompressible float64 arrays in a dict: raw arrays, many of them.

    The per-array costs (a record's header, its alignment, a checksum started and finished)
    show here and not in :func:`build_array`; ``numpy.savez`` is what a numpy user writes for
    a dict of arrays, so it is this dataset's reference.
    """
    length = max(1, size_bytes // (8 * MANY_ARRAYS))
    rng = np.random.default_rng(4)
    return {f"a{index:02d}": rng.random(length) for index in range(MANY_ARRAYS)}


def build_records(size_bytes: int) -> list[dict[str, Any]]:
    """Issue 14's object-heavy case: dicts of a 1,000-float array, an int, a str, a small dict.

    Larger arrays than :func:`build_objects` (8 KB each, ~31k records at 256 MiB): the arrays
    go out of band, so what is measured is the per-record overhead next to pickle 5's.
    """
    count = max(1, size_bytes // ITEM_BYTES)
    rng = np.random.default_rng(5)
    records: list[dict[str, Any]] = []
    batch_size = 1024
    for start in range(0, count, batch_size):
        batch = min(batch_size, count - start)
        values = rng.standard_normal((batch, ITEM_VALUES))
        labels = rng.integers(0, 1000, batch).tolist()
        sources = rng.integers(0, len(RECORD_SOURCES), batch).tolist()
        weights = rng.random(batch).tolist()
        for row in range(batch):
            index = start + row
            records.append(
                {
                    "values": values[row].copy(),
                    "id": index,
                    "name": f"item-{index:08d}",
                    "meta": {"label": labels[row], "source": RECORD_SOURCES[sources[row]],
                             "weight": weights[row]},
                }
            )  # fmt: skip
    return records


def build_normal(size_bytes: int) -> np.ndarray:
    """One float64 array of standard-normal numbers: issue 14's case for byte shuffling.

    Random mantissas, but signs and exponents take few values: gathering each byte position
    of the 8-byte values together (what blosc2's SHUFFLE filter does) lets a codec squeeze the
    high bytes, which it cannot while they sit between random ones.
    """
    columns = 1024
    rows = max(1, size_bytes // (8 * columns))
    return np.random.default_rng(6).standard_normal((rows, columns))


def build_arrow(size_bytes: int) -> Any:
    """A pandas DataFrame of arrow-backed columns (float64, int64, string ``[pyarrow]``).

    Such columns reach pickle as pyarrow buffers, which protocol 5 can take out of band
    (``PickleBuffer``), like numpy arrays.  pandas itself copies each column as it pickles it
    (its ``__getstate__`` combines the column's chunks into a new array, even a single one), so
    every library's dump peak includes that copy: :func:`build_table` measures without it.
    """
    import pandas as pd

    return build_table(size_bytes).to_pandas(types_mapper=pd.ArrowDtype)


def build_table(size_bytes: int) -> Any:
    """A ``pyarrow.Table`` of the same columns as :func:`build_arrow`'s DataFrame.

    Strings are made by pyarrow itself: millions of Python strings would take longer to build
    than the measurement.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = max(1, size_bytes // ARROW_ROW_BYTES)
    rng = np.random.default_rng(7)
    columns: dict[str, Any] = {
        f"x{index}": pa.array(rng.standard_normal(rows)) for index in range(ARROW_FLOAT_COLUMNS)
    }
    columns["count"] = pa.array(rng.integers(0, 1_000_000, rows))
    numbers = pc.cast(pa.array(rng.integers(0, 10**8, rows)), pa.string())
    columns["name"] = pc.binary_join_element_wise("row-", numbers, "")
    return pa.table(columns)


DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            "array",
            "Large incompressible float64 array",
            "one C-contiguous float64 array of uniform random numbers, shape (n, 1024)",
            build_array,
        ),
        Dataset(
            "images",
            "Image stack (LFW-like faces) with labels",
            f"dict of a uint8 image stack (n, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}): smooth "
            "gradient + Gaussian blobs + ±1 noise, and an int64 label array (n,)",
            build_images,
        ),
        Dataset(
            "objects",
            "Object-heavy structure",
            f"list of dicts, each with a float64 array ({RECORD_FEATURES}), a float32 array "
            f"({RECORD_WINDOW}), two strings, two ints and a float",
            build_objects,
        ),
        Dataset(
            "many",
            "Many raw arrays",
            f"dict of {MANY_ARRAYS} float64 arrays of uniform random numbers, 1/{MANY_ARRAYS} "
            "of the size each",
            build_many,
        ),
        Dataset(
            "records",
            "Records: dicts of a 1,000-float array, an int, a str and a small dict",
            f"list of dicts, each with a float64 array ({ITEM_VALUES}), an int, a str and a dict "
            "of an int, a str and a float (about 31k records at 256 MiB)",
            build_records,
        ),
        Dataset(
            "normal",
            "Normal-distributed float64 array",
            "one C-contiguous float64 array of standard-normal numbers, shape (n, 1024)",
            build_normal,
        ),
        Dataset(
            "arrow",
            "pandas DataFrame with arrow-backed columns",
            f"pandas DataFrame of {ARROW_FLOAT_COLUMNS} float64[pyarrow] columns (standard "
            "normal), an int64[pyarrow] and a string[pyarrow] column ('row-' and a number)",
            build_arrow,
            requires=("pandas", "pyarrow"),
        ),
        Dataset(
            "table",
            "pyarrow Table",
            "pyarrow.Table of the same columns as `arrow`'s DataFrame",
            build_table,
            requires=("pyarrow",),
        ),
    )
}
