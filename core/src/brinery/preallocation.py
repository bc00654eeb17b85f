"""Reserving a file's disk blocks before a large write, as ``numpy.save`` does.

On a file system that allocates blocks as dirty pages are written back (ext4, xfs: "delayed
allocation"), a large write into a growing file spends a third of its time on bookkeeping that
one ``fallocate`` call beforehand does at once.  The reservation keeps the file's size
(``FALLOC_FL_KEEP_SIZE``): a dump that fails halfway leaves no zeros behind, and nothing changes
for readers.  It is only a hint: where the call does not exist or the file system refuses it,
the write goes on as it would have.  (``os.posix_fallocate`` is no substitute: where the file
system cannot reserve, glibc emulates it by writing every block, which doubles the work.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable

#: fallocate's mode: reserve the blocks, leave the file's size alone.
FALLOC_FL_KEEP_SIZE = 0x01

_Fallocate = Callable[[int, int, int, int], int]
_fallocate: _Fallocate | None = None
_looked_up = False


def reserve(descriptor: int, offset: int, size: int) -> None:
    """Ask the file system for the blocks of ``size`` bytes at ``offset`` of the open file
    ``descriptor``, without changing its size; silently nothing where that is not possible."""
    fallocate = _function()
    if fallocate is not None and size > 0:
        fallocate(descriptor, FALLOC_FL_KEEP_SIZE, offset, size)  # (its failure is harmless)


def _function() -> _Fallocate | None:
    """The C library's ``fallocate64``, looked up once (Linux only)."""
    global _fallocate, _looked_up
    if not _looked_up:
        _looked_up = True
        if sys.platform.startswith("linux"):
            import ctypes  # (only dumps of large arrays into files pay for it)

            try:
                function = ctypes.CDLL(None, use_errno=True).fallocate64
            except (AttributeError, OSError):
                return None
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            function.restype = ctypes.c_int
            _fallocate = function
    return _fallocate
