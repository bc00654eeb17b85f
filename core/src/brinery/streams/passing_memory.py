"""Memory for data that only passes through a load (decompressed frames on their way to the
unpickler), allocated so that freeing it gives it back to the system.

glibc serves a large ``malloc`` with a memory map of its own, but the first time such a block is
freed it raises that threshold above its size: the next frames come from the heap, between the
small objects the unpickler is building, and once freed leave holes the heap cannot return.  An
object-heavy compressed load then kept tens of MiB more than the object it built.  An anonymous
map (``mmap``) is returned to the system as soon as its last view goes, whatever malloc does.
"""

from __future__ import annotations

import mmap

import numpy as np

#: From this size on, passing memory is mapped anonymously (below it, the heap serves well).
MAPPED_MIN_BYTES = 256 << 10


def passing_memory(size: int) -> memoryview:
    """``size`` writable bytes, not initialised (an anonymous map's pages are only touched as
    data fills them), freed back to the system with the last view of them."""
    if size < MAPPED_MIN_BYTES:
        return np.empty(size, np.uint8).data
    return memoryview(mmap.mmap(-1, size))
