"""Reading a large payload from a file on two threads while the caller checks what has arrived.

A checksummed record loads in two steps per byte: the kernel copies it from the page cache into
the array's memory, then the checksum reads it again.  Done one after the other on one thread,
the checksum adds a sixth to the load of an array in the page cache, and the copy alone is
about ``np.load``'s time (its single ``read``).  Here the payload is cut into pieces and read
on two threads at once (``os.preadv`` leaves the interpreter lock while the kernel copies): the
caller's thread reads every other piece, a helper thread the ones between, and the caller
checksums each piece, in order, as soon as it is in, while it is still in the CPU's cache (its
own piece right after reading it; the helper's right after the helper wrote it, from the shared
cache).  On the 2-core benchmark machine, 256 MiB from the page cache: one ``preadv`` 22.6 ms,
``np.load`` 21.5, read and checksummed this way 18 to 19 (a helper reading everything while the
caller only checksummed: 24.5, with long stalls in one load out of three).

Only for a regular file read through its descriptor (the file brinery opened for a load): other
sources read in the caller's thread, piece by piece.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

#: Pieces each thread reads at a time: large enough that handing them over costs little, small
#: enough that a piece checksummed right after it arrived is still in the CPU's cache (2 MiB, a
#: core's L2 on the benchmark machine: 256 MiB in a median 20.4 ms, 21.5 with 4 MiB pieces).
PIECE_BYTES = 2 << 20
#: Below this, a record is read in the caller's thread (the hand-over would cost more).
THREADED_MIN_BYTES = 4 * PIECE_BYTES


def fill_checking(
    descriptor: int, offset: int, target: memoryview, check: Callable[[memoryview], Any]
) -> int:
    """Fill ``target`` from the file ``descriptor`` at ``offset``, calling ``check`` on every
    piece, in order, in the caller's thread, once the piece is in; return the bytes read (fewer
    only where the file ends).

    The helper thread always finishes before this returns or raises: ``target`` is never
    written after its caller has moved on (a failed load frees the memory).
    """
    if len(target) < THREADED_MIN_BYTES or not hasattr(os, "preadv"):
        return _fill_in_caller(descriptor, offset, target, check)
    return _Ahead(descriptor, offset, target).run(check)


def _fill_in_caller(
    descriptor: int, offset: int, target: memoryview, check: Callable[[memoryview], Any]
) -> int:
    filled = 0
    while filled < len(target):
        wanted = min(PIECE_BYTES, len(target) - filled)
        got = _pread_into(descriptor, offset, target, filled, wanted)
        if got:
            with target[filled : filled + got] as arrived:
                check(arrived)
        filled += got
        if got < wanted:
            break
    return filled


def _pread_into(descriptor: int, offset: int, target: memoryview, start: int, size: int) -> int:
    """Fill ``target[start:start + size]`` from the file at ``offset + start``, as far as the
    file goes (a read may return less than asked)."""
    got = 0
    while got < size:
        with target[start + got : start + size] as rest:
            count = os.preadv(descriptor, [rest], offset + start + got)
        if not count:
            break
        got += count
    return got


class _Ahead:
    """One payload read on two threads, the caller's and a helper: the caller reads the even
    pieces (0, 2, ...), the helper the odd ones, and the caller checks them all, in order."""

    def __init__(self, descriptor: int, offset: int, target: memoryview) -> None:
        self._descriptor = descriptor
        self._offset = offset
        self._target = target
        self._count = -(-len(target) // PIECE_BYTES)  # pieces, the last maybe shorter
        self._arrived: dict[int, int] = {}  # odd piece -> bytes the helper read into it
        self._finished = False  # the helper stopped (at the end, a short read or an error)
        self._error: BaseException | None = None
        self._stop = False  # the caller gave up: the helper stops at the next piece
        self._progress = threading.Condition()

    def run(self, check: Callable[[memoryview], Any]) -> int:
        helper = threading.Thread(target=self._read_odd, name="brinery-read-ahead", daemon=True)
        helper.start()
        checked = 0
        try:
            for index in range(self._count):
                start, wanted = self._piece(index)
                if index % 2 == 0:
                    got = _pread_into(self._descriptor, self._offset, self._target, start, wanted)
                else:
                    helpers = self._helpers_piece(index)
                    if helpers is None:
                        break  # (the helper failed: its error is raised below)
                    got = helpers
                if got:
                    with self._target[start : start + got] as piece:
                        check(piece)
                checked += got
                if got < wanted:
                    break  # the file ends here
        finally:
            with self._progress:
                self._stop = True
            helper.join()
        if self._error is not None:
            raise self._error
        return checked

    def _piece(self, index: int) -> tuple[int, int]:
        """Where piece ``index`` starts in the target, and its size."""
        start = index * PIECE_BYTES
        return start, min(PIECE_BYTES, len(self._target) - start)

    def _helpers_piece(self, index: int) -> int | None:
        """Wait for the helper to read piece ``index``: the bytes it read, or ``None`` if it
        stopped before (an error; a short read stops both at the same piece)."""
        with self._progress:
            while index not in self._arrived and not self._finished:
                self._progress.wait()
            return self._arrived.get(index)

    def _read_odd(self) -> None:
        try:
            for index in range(1, self._count, 2):
                with self._progress:
                    if self._stop:
                        return
                start, wanted = self._piece(index)
                got = _pread_into(self._descriptor, self._offset, self._target, start, wanted)
                with self._progress:
                    self._arrived[index] = got
                    self._progress.notify()
                if got < wanted:
                    break
        except BaseException as error:  # handed to the caller's thread
            self._error = error
        finally:
            with self._progress:
                self._finished = True
                self._progress.notify()
