"""A digest and an in-memory size of a dataset object, for validation and memory figures.

The dumping process reports the digest of the original, the loading process that of what it
loaded; equal digests mean equal objects, without ever holding both in one process (which would
double the memory and spoil the peak figures).  Both walks run outside the timed regions.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np


def digest(value: Any) -> str:
    """SHA-256 over the object's structure, types, dtypes, shapes and exact array bytes.

    SHA-256 (hardware-accelerated on current CPUs) hashes well over 1 GB/s, so a 512 MiB array
    costs a fraction of a second; the object-heavy dataset costs one walk over its records.
    """
    hasher = hashlib.sha256()
    _feed(hasher, value)
    return hasher.hexdigest()


def _feed(hasher: Any, value: Any) -> None:
    update = hasher.update
    if isinstance(value, np.ndarray):
        update(f"A{value.dtype.str}{value.shape}".encode())
        contiguous = np.ascontiguousarray(value)
        if contiguous.nbytes:
            update(memoryview(contiguous).cast("B"))
    elif isinstance(value, dict):
        update(f"D{len(value)}".encode())
        for key, item in value.items():
            _feed(hasher, key)
            _feed(hasher, item)
    elif isinstance(value, (list, tuple)):
        update(f"{type(value).__name__[0]}{len(value)}".encode())
        for item in value:
            _feed(hasher, item)
    elif isinstance(value, str):
        encoded = value.encode()
        update(f"S{len(encoded)}:".encode())
        update(encoded)
    elif isinstance(value, (bool, int, float)) or value is None:
        update(f"{type(value).__name__}:{value!r};".encode())
    elif _is_data_frame(value):
        update(f"F{value.shape}{list(map(str, value.dtypes))!r}".encode())
        update(repr(value.index).encode())
        _feed_columns(hasher, list(value.columns), [value[name].array for name in value.columns])
    elif _is_arrow_table(value):
        update(f"T{value.schema}".encode())
        _feed_columns(hasher, value.column_names, value.columns)
    else:
        raise TypeError(f"cannot digest a {type(value).__name__}: extend bench.fingerprint")


def _is_data_frame(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas when it is not."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _is_arrow_table(value: Any) -> bool:
    pyarrow = sys.modules.get("pyarrow")
    return pyarrow is not None and isinstance(value, pyarrow.Table)


def _feed_columns(hasher: Any, names: list[Any], columns: list[Any]) -> None:
    """Column names and every column's values, as arrow sees them (a DataFrame's arrow-backed
    columns or a Table's).

    Hashing through arrow, not ``DataFrame.values``, keeps the string column from becoming
    millions of Python objects; its offsets are rebased so a sliced column hashes as a whole one.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    update = hasher.update
    update(f"C{names!r}".encode())
    for values in columns:
        column = pa.array(values) if not isinstance(values, pa.ChunkedArray) else values
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        update(f"N{column.null_count}".encode())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            wide = pc.cast(column, pa.large_string())
            _, offsets, data = wide.buffers()
            bounds = np.frombuffer(offsets, np.int64)[wide.offset : wide.offset + len(wide) + 1]
            update(memoryview(np.ascontiguousarray(bounds - bounds[0])).cast("B"))
            update(memoryview(data)[bounds[0] : bounds[-1]])
        else:
            update(memoryview(column.to_numpy(zero_copy_only=False)).cast("B"))


def deep_size(value: Any) -> int:
    """Bytes the object occupies in memory: containers, scalars and array headers plus data.

    ``sys.getsizeof`` counts an array's data only when the array owns it; arrays loaded by some
    libraries view a buffer instead, so the data is added explicitly to make all loaders
    comparable.  Shared objects (interned strings, small ints) are counted once.
    """
    if _is_data_frame(value):  # its columns' arrow buffers, index included
        return int(value.memory_usage(deep=True, index=True).sum())
    if _is_arrow_table(value):
        return int(value.nbytes)
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            total += sys.getsizeof(item) + (0 if item.flags.owndata else item.nbytes)
            continue
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total
