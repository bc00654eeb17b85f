"""The functions brinery files call on load to rebuild arrays.

Their module and names are written into every file (pickle refers to them as globals), so they
are part of the format: never rename them, only add new ones.  Each takes plain, checkable data
(a dtype, a shape, an order) and never runs numpy's ``__setstate__``.
"""

from __future__ import annotations

import contextvars
import math
from typing import Any, Literal

import numpy as np

from .dtype_description import build, describe_string, element_count
from .errors import BrineryError, CorruptFileError
from .format.layout import ARRAY_RECORD
from .mapping import FileMapping, as_memmap
from .safe_globals import describe

#: The stream being loaded, for the rebuild functions that take an array record from it.
CURRENT_STREAM: contextvars.ContextVar[Any] = contextvars.ContextVar("brinery_current_stream")


def array(dtype: np.dtype | str, shape: tuple[int, ...], order: str, writeable: bool) -> np.ndarray:
    """Rebuild an array whose memory is the next array record of the stream being loaded."""
    try:
        stream = CURRENT_STREAM.get()
    except LookupError:
        raise BrineryError(
            "brinery.rebuild.array called outside brinery.load: this pickle stream must be "
            "loaded with brinery.load"
        ) from None
    dtype, shape, order = checked_description(dtype, shape, order)
    memory = stream.take_memory(ARRAY_RECORD, bool(writeable), dtype.itemsize)
    if isinstance(memory, np.memmap):
        return _mapped(memory, dtype, shape, order)
    result = view_of(memory, dtype, shape, order)
    if not writeable:
        result.flags.writeable = False
    return result


def array_in_band(
    dtype: np.dtype | str, shape: tuple[int, ...], order: str, data: bytes | bytearray
) -> np.ndarray:
    """Rebuild a small array whose memory is in the pickle (``bytes``: read-only).

    Object-heavy files call this once per small array, so the common case (a cached dtype, a
    tuple shape, ``bytes``/``bytearray`` data) is checked with the few tests numpy's constructor
    does not already make (it refuses non-integer dimensions and too little data, but turns a
    negative dimension into an empty one); anything else takes the thorough path.
    """
    if type(dtype) is str and type(shape) is tuple and (order == "C" or order == "F"):
        resolved = _DTYPES_BY_STRING.get(dtype)
        if resolved is not None and resolved.itemsize and resolved.kind != "U" and type(
            data
        ) in (bytearray, bytes):
            try:
                # frombuffer holds an export on a bytearray (the memo may hand the same one to
                # the caller too: resizing it must fail, not free the array's memory).
                result: np.ndarray = np.frombuffer(data, resolved)
                # A 1-d array with an int length needs no reshape (which costs twice the
                # frombuffer); reshape refuses the other types a file could give.
                if len(shape) != 1 or type(shape[0]) is not int:
                    layout: Literal["C", "F"] = order  # type: ignore[assignment]
                    result = result.reshape(shape, order=layout)
            except (TypeError, ValueError, OverflowError):
                pass  # reported with a clear message by the thorough path below
            else:
                if result.nbytes == len(data) and result.shape == shape:
                    return result
    dtype, shape, order = checked_description(dtype, shape, order)
    return view_of(np.frombuffer(data, dtype=np.uint8), dtype, shape, order)


def mapped_in_band(
    dtype: np.dtype | str,
    shape: tuple[int, ...],
    order: str,
    data: bytes | bytearray,
    mapping: FileMapping,
    offset: int,
) -> np.memmap:
    """What :func:`array_in_band` rebuilds from ``data``, mapped where ``data`` lies in the
    file, at ``offset`` (``load(mmap_mode=)``; writable if ``data`` is a ``bytearray``).

    Not a global files name: :mod:`brinery.safe` calls it instead of :func:`array_in_band`.
    The bytes lie anywhere in the pickle, so items of more than one byte are usually not
    aligned in memory (numpy handles that; ``flags.aligned`` says it).
    """
    dtype, shape, order = checked_description(dtype, shape, order)
    view_of(np.frombuffer(data, dtype=np.uint8), dtype, shape, order)  # (checks sizes and text)
    layout: Literal["C", "F"] = "F" if order == "F" else "C"
    return mapping.array(offset, dtype, shape, layout, type(data) is bytearray)


def subclass_view(cls: type, base: np.ndarray, state: dict[str, Any] | None) -> np.ndarray:
    """Rebuild an ndarray subclass instance as a view of its data, with its attributes."""
    if not (isinstance(cls, type) and issubclass(cls, np.ndarray)):
        raise CorruptFileError(f"{describe(cls)} is not an ndarray subclass")
    result = base.view(cls)
    if state:
        result.__dict__.update(state)
    return result


def masked_array(
    cls: type, data: np.ndarray, mask: Any, fill_value: Any, hard_mask: bool
) -> np.ma.MaskedArray:
    """Rebuild a masked array (or a subclass) from its data and mask, without copying them."""
    if not (isinstance(cls, type) and issubclass(cls, np.ma.MaskedArray)):
        raise CorruptFileError(f"{describe(cls)} is not a MaskedArray subclass")
    return np.ma.MaskedArray.__new__(
        cls, data, mask=mask, fill_value=fill_value, hard_mask=hard_mask, copy=False
    )


def checked_description(
    dtype: np.dtype | str, shape: tuple[int, ...], order: str
) -> tuple[np.dtype, tuple[int, ...], str]:
    """Validate what the file says about an array (cheaply: this runs once per array)."""
    dtype = checked_dtype(dtype)
    if order not in ("C", "F"):
        raise CorruptFileError("the file describes an array whose order is neither 'C' nor 'F'")
    element_count(shape, dtype.itemsize)
    return dtype, shape, order


def checked_dtype(dtype: np.dtype | str) -> np.dtype:
    """An array's dtype as the file gives it, checked.

    A dtype string is read as data first (:func:`~brinery.dtype_description.describe_string`);
    a dtype object is one the unpickler made.  Object dtypes never pass: brinery writes object
    arrays through numpy's own pickling, so in these calls they could only turn the file's
    bytes into object pointers.
    """
    if type(dtype) is str:
        resolved = _DTYPES_BY_STRING.get(dtype)
        if resolved is None:
            resolved = build(describe_string(dtype))
            if len(_DTYPES_BY_STRING) < _DTYPE_CACHE_SIZE:
                _DTYPES_BY_STRING[dtype] = resolved
        return resolved
    if not isinstance(dtype, np.dtype):
        raise CorruptFileError(f"the file gives {describe(dtype)} where a dtype belongs")
    if dtype.hasobject or not type(dtype).__module__.startswith("numpy"):
        raise CorruptFileError(
            "the file describes an array of objects where brinery writes raw memory"
        )
    return dtype


#: dtypes by their string form, so each is parsed once per process (a few hundred at most: the
#: strings come from files).
_DTYPES_BY_STRING: dict[str, np.dtype] = {}
_DTYPE_CACHE_SIZE = 512


def _mapped(memory: np.memmap, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.memmap:
    """The array over its record's payload mapped in the file (``load(mmap_mode=)``; text is
    not checked: that would read it)."""
    expected = math.prod(shape) * dtype.itemsize
    if memory.nbytes != expected:
        raise CorruptFileError(
            f"an array of {len(shape)} dimensions and {dtype.itemsize}-byte items needs "
            f"{expected} bytes, but its record has {memory.nbytes}"
        )
    layout: Literal["C", "F"] = "F" if order == "F" else "C"
    return as_memmap(np.ndarray(shape, dtype=dtype, buffer=memory, order=layout), memory)


def view_of(memory: np.ndarray, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.ndarray:
    """``memory`` (bytes) as an array of ``dtype``, ``shape`` and ``order``, sizes agreeing."""
    expected = math.prod(shape) * dtype.itemsize
    if memory.nbytes != expected:
        raise CorruptFileError(
            f"an array of {len(shape)} dimensions and {dtype.itemsize}-byte items needs "
            f"{expected} bytes, but its data has {memory.nbytes}"
        )
    check_text(memory, dtype)
    layout: Literal["C", "F"] = "F" if order == "F" else "C"
    result: np.ndarray = np.ndarray(shape, dtype=dtype, buffer=memory, order=layout)
    return result


def check_text(memory: np.ndarray, dtype: np.dtype) -> None:
    """Refuse ``str`` items (numpy's UCS-4) holding code points past U+10FFFF: numpy builds such
    arrays, but reading an item raises ``SystemError`` (and so do ``repr`` and ``print``).
    ``memory``: the items' bytes, a contiguous ``uint8`` array."""
    if dtype.kind not in "UV" or not memory.nbytes:
        return
    segments = _text_segments(dtype)
    if not segments:
        return
    items = memory.reshape(-1, dtype.itemsize)
    for offset, size, byteorder in segments:
        codes = np.ascontiguousarray(items[:, offset : offset + size]).view(byteorder + "u4")
        if codes.size and int(codes.max()) > 0x10FFFF:
            raise CorruptFileError(
                "the file holds text that is not Unicode (a code point past U+10FFFF)"
            )


def _text_segments(dtype: np.dtype) -> list[tuple[int, int, str]]:
    """Where the UCS-4 text of one item lies: ``(offset, bytes, byte order)``."""
    found = _TEXT_SEGMENTS.get(dtype)
    if found is None:
        found = []
        _collect_text(dtype, 0, found)
        if len(_TEXT_SEGMENTS) < _DTYPE_CACHE_SIZE:
            _TEXT_SEGMENTS[dtype] = found
    return found


def _collect_text(dtype: np.dtype, base: int, found: list[tuple[int, int, str]]) -> None:
    if dtype.kind == "U":
        found.append((base, dtype.itemsize, _byteorder(dtype)))
    elif dtype.subdtype is not None:
        inner, shape = dtype.subdtype
        if inner.kind == "U":  # the elements of a subarray are contiguous
            found.append((base, dtype.itemsize, _byteorder(inner)))
        elif inner.kind == "V":
            for index in range(min(math.prod(shape), _MAX_TEXT_SEGMENTS)):
                _collect_text(inner, base + index * inner.itemsize, found)
    elif dtype.names is not None:
        for name in dtype.names:
            inner, offset = dtype.fields[name][:2]  # type: ignore[index]
            _collect_text(inner, base + offset, found)
    if len(found) > _MAX_TEXT_SEGMENTS:
        raise CorruptFileError("the file describes a dtype with too many text fields")


def _byteorder(dtype: np.dtype) -> str:
    if dtype.byteorder in "<>":
        return dtype.byteorder
    return "<" if np.little_endian else ">"


#: str fields checked per dtype (subarrays of structures multiply them).
_MAX_TEXT_SEGMENTS = 4096
#: (Keyed by dtype equality: dtypes that compare equal place their text alike.)
_TEXT_SEGMENTS: dict[np.dtype, list[tuple[int, int, str]]] = {}
