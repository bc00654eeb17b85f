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
    else:
        raise TypeError(f"cannot digest a {type(value).__name__}: extend bench.fingerprint")


def deep_size(value: Any) -> int:
    """Bytes the object occupies in memory: containers, scalars and array headers plus data.

    ``sys.getsizeof`` counts an array's data only when the array owns it; arrays loaded by some
    libraries view a buffer instead, so the data is added explicitly to make all loaders
    comparable.  Shared objects (interned strings, small ints) are counted once.
    """
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
