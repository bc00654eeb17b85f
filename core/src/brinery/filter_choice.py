"""Which filter (docs/format.md, section 5.4) each array record gets in a dump: ``dump(shuffle=)``.

An explicit mode applies its filter wherever it can: a shuffle to numbers of 2 bytes or more,
delta to integers of 1 byte.  ``"auto"`` byte-shuffles the former, and delta-codes the latter
only where a sample says that it pays.  Delta pays on images and masks, whose neighbouring
bytes are close; it costs on 1-byte data whose neighbours are unrelated: the difference of two
independent values spreads wider than either (int8-quantized weights N(0, 20): zstd-3 1.08x
larger; random codes 0-3: 1.15x), and an interleaved RGB image's previous byte is another
channel (1.10x).  So "auto" measures, on 16 windows of 4 KiB spread over the array's memory in
the order it is written, the order-0 entropy of the bytes and of their differences, and
delta-codes when the differences take at least a quarter fewer bits (LFW-like faces: 3.7 bits
against 7.6; a label mask: 0.1 against 2.3; quantized weights 6.9 against 6.4; random bytes
8.0 and 8.0).  The choice depends on the array's bytes only, so a dump is the same on any
number of threads, and it costs two 64 KiB histograms per large array of bytes.
"""

from __future__ import annotations

import numpy as np

from .format.shuffle import DELTA_ELEMENT_SIZE, MAX_ELEMENT_SIZE, MIN_ELEMENT_SIZE, Shuffle

#: The dtype kinds shuffled (numbers: integers, floats, complex, times) when their items are of
#: 2 bytes or more; booleans, bytes, text and structures are left as they are.
SHUFFLED_KINDS = frozenset("iufcmM")
#: The dtype kinds delta-coded when their items are of 1 byte: pixels, labels.
DELTA_KINDS = frozenset("iu")
#: "auto" delta-codes when the differences' entropy is below this share of the bytes'.
DELTA_GAIN = 0.75
#: The sample "auto" measures: this many windows of this many bytes.
_WINDOWS = 16
_WINDOW_BYTES = 4096


def filter_for(array: np.ndarray, order: str, mode: str | None) -> Shuffle | None:
    """The filter of the record of ``array``'s memory in ``order`` (``"C"`` or ``"F"``) in a
    dump whose ``shuffle=`` is ``mode`` (``"byte"``, ``"bit"``, ``"delta"``, ``"auto"`` or
    ``None``); ``None`` for none.  "auto" delta-codes 1-byte integers of 2 dimensions or more
    (a 1-d array of bytes is rarely an image) when :func:`delta_pays`."""
    dtype = array.dtype
    if mode is None:
        return None
    if dtype.kind in DELTA_KINDS and dtype.itemsize == DELTA_ELEMENT_SIZE:
        if mode == "delta" or (mode == "auto" and array.ndim >= 2 and delta_pays(array, order)):
            return Shuffle("delta", DELTA_ELEMENT_SIZE)
        return None
    if mode == "delta" or dtype.kind not in SHUFFLED_KINDS:
        return None
    if not MIN_ELEMENT_SIZE <= dtype.itemsize <= MAX_ELEMENT_SIZE:
        return None
    return Shuffle("bit" if mode == "bit" else "byte", dtype.itemsize)


def delta_pays(array: np.ndarray, order: str) -> bool:
    """Whether the differences of neighbouring bytes of ``array`` (1-byte items, in ``order``)
    take at least a quarter fewer bits than the bytes, over a sample of its memory."""
    windows = _sample(array.T if order == "F" else array)  # (F order: the transpose's C order)
    values = np.concatenate(windows)
    differences = np.concatenate([np.diff(window) for window in windows])  # (uint8: mod 256)
    return _entropy(differences) < DELTA_GAIN * _entropy(values)


def _sample(array: np.ndarray) -> list[np.ndarray]:
    """Windows of ``array``'s bytes in C order, as ``uint8`` arrays: all of them if they are
    few, else :data:`_WINDOWS` windows spread evenly from the first byte to the last."""
    size = array.size
    if size <= _WINDOWS * _WINDOW_BYTES:
        return [np.ravel(array).view(np.uint8)]
    last = size - _WINDOW_BYTES
    starts = [index * last // (_WINDOWS - 1) for index in range(_WINDOWS)]
    return [_window(array, start, _WINDOW_BYTES).view(np.uint8) for start in starts]


def _window(array: np.ndarray, start: int, count: int) -> np.ndarray:
    """``count`` consecutive items of ``array`` in C order from about ``start``, copying at
    most a few of its rows: within one index of the first axis, the window is taken from that
    sub-array (moved back to fit in it when that index holds ``count`` items or more)."""
    while array.ndim > 1:
        row = array[0].size  # items per index of the first axis
        first = start // row
        end = (first + 1) * row
        if start + count > end and row >= count:
            start = end - count
        if start + count > end:  # (rows shorter than the window: copy the few it spans)
            last = -(-(start + count) // row)
            return np.ravel(array[first:last])[start - first * row :][:count]
        array, start = array[first], start - first * row
    return np.ravel(array[start : start + count])


def _entropy(data: np.ndarray) -> float:
    """The order-0 entropy of ``data`` (``uint8``), in bits per byte."""
    counts = np.bincount(data, minlength=256)
    shares = counts[counts > 0] / data.size
    return float(-(shares * np.log2(shares)).sum())
