"""Reading a large payload from a file while the caller checks what has arrived.

A checksummed record loads in two steps per byte: the kernel copies it from the page cache into
the array's memory, then the checksum reads it again.  Done one after the other, the checksum
adds a sixth to the load of an array in the page cache; here a helper thread reads the payload
in pieces (``os.preadv`` leaves the interpreter lock while the kernel copies) and the calling
thread checksums each piece as soon as it is in, while it is still in the CPU's cache.  The
checksum (XXH3) holds the interpreter lock, so the two can only overlap this way round.

Only for a regular file read through its descriptor (the file brinery opened for a load): other
sources read in the caller's thread, piece by piece.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

#: Pieces the helper thread reads at a time: large enough that handing them over costs little,
#: small enough that a piece checksummed right after it arrived is still in the CPU's cache.
PIECE_BYTES = 4 << 20
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
    """One payload read by a helper thread, its progress handed to the caller's thread."""

    def __init__(self, descriptor: int, offset: int, target: memoryview) -> None:
        self._descriptor = descriptor
        self._offset = offset
        self._target = target
        self._arrived = 0  # bytes in target, written by the helper only
        self._finished = False  # the helper stopped (at the end, a short read or an error)
        self._error: BaseException | None = None
        self._stop = False  # the caller gave up: the helper stops at the next piece
        self._progress = threading.Condition()

    def run(self, check: Callable[[memoryview], Any]) -> int:
        helper = threading.Thread(target=self._read, name="brinery-read-ahead", daemon=True)
        helper.start()
        checked = 0
        try:
            while True:
                with self._progress:
                    while self._arrived == checked and not self._finished:
                        self._progress.wait()
                    arrived, finished = self._arrived, self._finished
                if arrived > checked:
                    with self._target[checked:arrived] as piece:
                        check(piece)
                    checked = arrived
                elif finished:
                    break
        finally:
            with self._progress:
                self._stop = True
            helper.join()
        if self._error is not None:
            raise self._error
        return checked

    def _read(self) -> None:
        size = len(self._target)
        done = 0
        try:
            while done < size:
                with self._progress:
                    if self._stop:
                        return
                wanted = min(PIECE_BYTES, size - done)
                got = _pread_into(self._descriptor, self._offset, self._target, done, wanted)
                done += got
                with self._progress:
                    self._arrived = done
                    self._progress.notify()
                if got < wanted:
                    break
        except BaseException as error:  # handed to the caller's thread
            self._error = error
        finally:
            with self._progress:
                self._finished = True
                self._progress.notify()
