"""``load(ensure_native_byte_order=)``: arrays in the byte order of this machine.

joblib 1.5 added the option: an array whose dtype is in the other byte order (``'>i4'`` on a
little-endian machine, or a structure all of whose fields are) comes back byte-swapped, with
the same values in the native dtype, because much compiled code (BLAS, Cython, PyTorch) takes
native data only.  brinery applies joblib's rule, array by array, to the arrays it builds while
loading, before anything else can hold them: the copy made by a swap is never seen, and two
references to one array still load as one array.

``"auto"`` (the default) does what joblib does: the arrays joblib wrote itself (its wrappers')
come back native unless they are mapped (``mmap_mode``: their bytes are the file's), anything
else as pickle returns it.  So brinery's own files keep their stored byte order under
``"auto"``: a brinery dump followed by a load gives back exactly what was dumped, as pickle and
``np.save`` do.  ``True`` makes every array native, wherever it is in the object; ``False``
swaps none (docs/joblib.md).
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import numpy as np

from . import rebuild
from .errors import InvalidArgumentError

#: The byte order that needs swapping here.
_FOREIGN = ">" if sys.byteorder == "little" else "<"


def checked_choice(value: object, mapping: bool) -> bool | None:
    """``ensure_native_byte_order`` as :class:`~brinery.unpickling.Reading` keeps it: ``True``
    or ``False``, or ``None`` for ``"auto"``; ``mapping``: whether ``mmap_mode`` was given."""
    if value == "auto" and type(value) is str:
        return None
    if type(value) is not bool:
        raise InvalidArgumentError(
            f"ensure_native_byte_order must be True, False or 'auto', not {value!r}"
        )
    if value and mapping:
        raise InvalidArgumentError(
            "ensure_native_byte_order=True cannot be used with mmap_mode: a mapped array is "
            "the file's own bytes, in the file's byte order (leave it 'auto', or set it False)"
        )
    return value


def needs_swap(dtype: np.dtype) -> bool:
    """joblib's rule: the dtype is in the other byte order, or is a structure all of whose
    fields are (a structure mixing both, or holding objects, is left as it is)."""
    if dtype.byteorder == _FOREIGN:
        return True
    fields = dtype.fields
    return (
        dtype.byteorder == "|"
        and bool(fields)
        and all(
            entry[0].byteorder == _FOREIGN
            for entry in fields.values()  # type: ignore[union-attr]
        )
    )


def to_native(array: np.ndarray) -> np.ndarray:
    """``array`` with the same values in the native byte order: swapped in place when its
    memory is writable (the caller made it and nothing else holds it), else a swapped copy;
    same class, shape, order and writability."""
    if not needs_swap(array.dtype):
        return array
    native = array.dtype.newbyteorder("=")
    if array.flags.writeable:
        array.byteswap(inplace=True)
        result: np.ndarray = array.view(native)
        return result
    swapped = array.byteswap()  # (keeps the memory order: F arrays stay F)
    result = swapped.view(native)
    result.flags.writeable = False
    return result


# -- brinery's rebuild functions, for the C unpickler ------------------------------------------


def native_array(
    dtype: np.dtype | str, shape: tuple[int, ...], order: str, writeable: bool
) -> np.ndarray:
    """:func:`brinery.rebuild.array`, swapped in place (its memory is a fresh record)."""
    result = to_native(rebuild.array(dtype, shape, order, True))
    if not writeable:
        result.flags.writeable = False
    return result


def native_array_in_band(
    dtype: np.dtype | str, shape: tuple[int, ...], order: str, data: bytes | bytearray
) -> np.ndarray:
    """:func:`brinery.rebuild.array_in_band`, swapped (a copy when its data is ``bytes``)."""
    return to_native(rebuild.array_in_band(dtype, shape, order, data))


_NATIVE_REBUILDS = {
    ("brinery.rebuild", "array"): native_array,
    ("brinery.rebuild", "array_in_band"): native_array_in_band,
}


class NativeUnpickler(pickle.Unpickler):
    """The C unpickler of a trusted load of a brinery stream with
    ``ensure_native_byte_order=True``: brinery's rebuild functions are swapped for ones that
    return native arrays (subclasses and masked arrays are rebuilt over those)."""

    def find_class(self, module: str, name: str) -> Any:
        found = _NATIVE_REBUILDS.get((module, name))
        return found if found is not None else super().find_class(module, name)
