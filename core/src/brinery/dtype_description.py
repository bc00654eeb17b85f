"""dtypes from untrusted files: validated as plain data first, then built by brinery.

numpy pickles a dtype as ``numpy.dtype(code, align, copy)`` followed by a ``BUILD`` whose state
numpy's ``dtype.__setstate__`` applies without checking it against itself: field offsets past
the item, a subarray larger than the item, an object field with its flags cleared, a second
state given to a dtype an array already uses.  Each of those reads or writes memory outside an
array.  So a file's dtype is never built from its state.  :func:`describe_pickled` and
:func:`describe_string` read the pieces as data (no numpy call, no object built) into a
:class:`DtypeDescription`, refusing object dtypes and anything inconsistent; :func:`build`
then makes the dtype with numpy's ordinary constructors from that description and checks the
result against it.

The same descriptions serve ``brinery info`` and :func:`brinery.untrusted_types`, which must not
call numpy at all on a hostile file.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from typing import Any

import numpy as np

from .errors import CorruptFileError

#: The largest item brinery builds from a file (numpy's own limit is the int32 range).
MAX_ITEMSIZE = (1 << 31) - 1
#: Fields, subarray dimensions and nesting of one dtype: far above any real dtype.
MAX_FIELDS = 4096
MAX_SUBARRAY_DIMS = 32
MAX_NESTING = 16
#: Items of size zero cost no memory, so their count is bounded on its own.
MAX_EMPTY_ITEMS = 1 << 24

#: Fixed-size kinds and the item sizes numpy has for them.
_FIXED_SIZES: dict[str, tuple[int, ...]] = {
    "b": (1,),
    "i": (1, 2, 4, 8),
    "u": (1, 2, 4, 8),
    "f": (2, 4, 8, 12, 16),
    "c": (8, 16, 24, 32),
    "M": (8,),
    "m": (8,),
}
_FLEXIBLE = "SUV"
_DATETIME_UNITS = frozenset(
    {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic"}
)
_NATIVE = "<" if sys.byteorder == "little" else ">"
# '<f8', '|b1', '>M8[10s]', '<U5', '|V0': what numpy's dtype.str looks like.
_STRING_FORM = re.compile(r"([<>|=])([biufcMmSUV])(\d{1,10})(?:\[(\d{0,10})([A-Za-z]+)\])?")
# 'f8', 'U5', 'V48', 'M8': the code numpy pickles as the first argument of numpy.dtype.
_PICKLED_CODE = re.compile(r"([biufcMmSUV])(\d{1,10})")


@dataclasses.dataclass(frozen=True)
class DtypeDescription:
    """A dtype as plain, validated data: what :func:`build` makes, or ``brinery info`` shows."""

    kind: str  # one of biufcMmSUV ('V' for structured and subarray dtypes too)
    byteorder: str  # '<', '>' or '|'
    itemsize: int
    unit: tuple[str, int] | None = None  # datetimes: ('D', 1), ('s', 10)...
    fields: tuple[Field, ...] | None = None
    subarray: tuple[DtypeDescription, tuple[int, ...]] | None = None
    aligned: bool = False
    record: bool = False  # numpy.record items (recarrays)
    metadata: tuple[tuple[str, Any], ...] | None = None
    #: How deeply dtypes nest in this one (1: no fields or subarray); building and comparing
    #: descriptions recurse through them.
    depth: int = dataclasses.field(default=1, compare=False)

    @property
    def dtype_str(self) -> str:
        """numpy's ``dtype.str`` for this dtype."""
        if self.kind in "Mm":
            assert self.unit is not None
            unit, count = self.unit
            suffix = "" if unit == "generic" else f"[{'' if count == 1 else count}{unit}]"
            return f"{self.byteorder}{self.kind}8{suffix}"
        size = self.itemsize // 4 if self.kind == "U" else self.itemsize
        return f"{self.byteorder}{self.kind}{size}"

    @property
    def name(self) -> str:
        """A readable name (``float64``, ``str160``, ``void16``), as numpy's ``dtype.name``."""
        names = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}
        if self.kind == "b":
            return "bool"
        if self.kind in names:
            return f"{names[self.kind]}{self.itemsize * 8}"
        if self.kind in "Mm":
            return ("datetime64" if self.kind == "M" else "timedelta64") + self.dtype_str[3:]
        bits = str(self.itemsize * 8) if self.itemsize else ""
        return {"S": "bytes", "U": "str", "V": "void"}[self.kind] + bits


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    dtype: DtypeDescription
    offset: int
    title: str | None


def _corrupt(what: str) -> CorruptFileError:
    return CorruptFileError(f"the file describes an invalid dtype: {what}")


def is_int(value: object) -> bool:
    return type(value) is int


# -- reading descriptions ----------------------------------------------------------------------


def describe_string(text: object) -> DtypeDescription:
    """The dtype a string like ``'<f8'`` or ``'<M8[D]'`` names (brinery's own array records)."""
    if type(text) is not str or len(text) > 40:
        raise _corrupt(f"a {type(text).__name__} where a dtype string belongs")
    match = _STRING_FORM.fullmatch(text)
    if match is None:
        raise _corrupt(f"{text[:40]!r} is not a plain dtype (object dtypes are never loaded)")
    order, kind, size, count, unit = match.groups()
    itemsize = int(size)
    if kind in "Mm":
        return _datetime(kind, order, itemsize, unit or "generic", int(count) if count else 1)
    if unit is not None:
        raise _corrupt(f"{text!r} has a unit but is not a datetime")
    return _simple(kind, order, itemsize * 4 if kind == "U" else itemsize)


def describe_pickled(code: object, state: object) -> DtypeDescription:
    """The dtype numpy pickles as ``numpy.dtype(code, align, copy)`` and ``BUILD state``.

    ``code`` is the string (``'f8'``, ``'V16'``) or ``'record'`` for ``numpy.record``; the items
    of ``state`` that are dtypes (fields, subarrays) must already be descriptions.
    """
    record = code == "record"
    if record:
        kind, natural = "V", None
    else:
        match = _PICKLED_CODE.fullmatch(code) if type(code) is str else None
        if match is None:
            raise _corrupt("an unknown type code (object dtypes are never loaded)")
        kind, natural = match.group(1), int(match.group(2))
    if type(state) is not tuple or len(state) not in (8, 9):
        raise _corrupt(f"a state of {type(state).__name__} where numpy writes an 8- or 9-tuple")
    version, order, subarray, names, fields, itemsize, alignment, flags = state[:8]
    extra = state[8] if len(state) == 9 else None
    if version not in (3, 4) or type(version) is not int:
        raise _corrupt("an unknown dtype state version")
    if order not in ("<", ">", "|", "=") or not all(map(is_int, (itemsize, alignment, flags))):
        raise _corrupt("a state whose byte order, size or flags are not what numpy writes")
    order = _NATIVE if order == "=" else order
    metadata, unit = _extra(extra, kind)
    aligned = bool(flags & 0x80)  # NPY_ALIGNED_STRUCT
    if subarray is not None or names is not None or fields is not None or record:
        if kind != "V":
            raise _corrupt("fields or a subarray on a dtype that is not void")
        description = _structured(subarray, names, fields, itemsize, aligned, record)
    elif kind in _FLEXIBLE:
        size = itemsize if itemsize >= 0 else _flexible_size(kind, natural)
        description = _simple(kind, order, size)
    elif kind in "Mm":
        description = _datetime(kind, order, natural or 0, *(unit or ("generic", 1)))
    else:
        if itemsize not in (-1, natural):
            raise _corrupt(f"a {kind}{natural} state declaring {itemsize}-byte items")
        description = _simple(kind, order, natural or 0)
    if metadata is not None:
        description = dataclasses.replace(description, metadata=metadata)
    return description


def _flexible_size(kind: str, natural: int | None) -> int:
    return (natural or 0) * (4 if kind == "U" else 1)


def _simple(kind: str, order: str, itemsize: int) -> DtypeDescription:
    if kind in _FIXED_SIZES:
        if itemsize not in _FIXED_SIZES[kind]:
            raise _corrupt(f"{kind}{itemsize} is not a numpy type")
        if itemsize == 1:
            order = "|"
    else:
        if not 0 <= itemsize <= MAX_ITEMSIZE or (kind == "U" and itemsize % 4):
            raise _corrupt(f"{kind} items of {itemsize} bytes")
        if kind != "U":
            order = "|"
    if order not in "<>|" or (order == "|" and itemsize > 1 and kind not in "SV"):
        raise _corrupt(f"byte order {order!r} for {kind}{itemsize}")
    return DtypeDescription(kind, order, itemsize)


def _datetime(kind: str, order: str, size: int, unit: str, count: int) -> DtypeDescription:
    if size != 8 or unit not in _DATETIME_UNITS or not 1 <= count <= (1 << 31) - 1:
        raise _corrupt(f"a {kind}8 with an invalid unit")
    if order not in "<>":
        raise _corrupt(f"byte order {order!r} for a datetime")
    return DtypeDescription(kind, order, 8, unit=(unit, count))


def _extra(extra: object, kind: str) -> tuple[tuple[tuple[str, Any], ...] | None, Any]:
    """The ninth item of a dtype state: metadata, or for datetimes (metadata, unit)."""
    if extra is None:
        return None, None
    unit = None
    if kind in "Mm":
        if type(extra) is not tuple or len(extra) != 2:
            raise _corrupt("a datetime state without its unit")
        extra, described = extra
        if type(described) is not tuple or len(described) != 4:
            raise _corrupt("a datetime unit that is not what numpy writes")
        name, count, denominator, events = described
        if type(name) is not bytes or not all(map(is_int, (count, denominator, events))):
            raise _corrupt("a datetime unit that is not what numpy writes")
        if denominator != 1 or events != 1:
            raise _corrupt("a datetime unit with a denominator or events")
        unit = (name.decode("ascii", "replace"), count)
    if extra is None:
        return None, unit
    if type(extra) is not dict or len(extra) > 64:
        raise _corrupt("dtype metadata that is not a small dict")
    for key, value in extra.items():
        if type(key) is not str or type(value) not in (str, int, float, bool, bytes, type(None)):
            raise _corrupt("dtype metadata that is not plain data")
    return tuple(extra.items()), unit


def _structured(
    subarray: object,
    names: object,
    fields: object,
    itemsize: object,
    aligned: bool,
    record: bool,
) -> DtypeDescription:
    if type(itemsize) is not int or not 0 <= itemsize <= MAX_ITEMSIZE:
        raise _corrupt("a structured item size out of range")
    if subarray is not None:
        if names is not None or fields is not None:
            raise _corrupt("both fields and a subarray")
        if type(subarray) is not tuple or len(subarray) != 2:
            raise _corrupt("a subarray that is not (dtype, shape)")
        base, shape = subarray
        if not isinstance(base, DtypeDescription):
            raise _corrupt("a subarray whose base is not a dtype")
        if type(shape) is not tuple or len(shape) > MAX_SUBARRAY_DIMS:
            raise _corrupt("a subarray shape that is not a short tuple")
        if not all(is_int(n) and 0 <= n <= MAX_ITEMSIZE for n in shape):
            raise _corrupt("a subarray shape with a dimension out of range")
        if base.itemsize * math.prod(shape) != itemsize:
            raise _corrupt(
                f"a subarray of {math.prod(shape)} items of {base.itemsize} bytes declared as "
                f"{itemsize} bytes"
            )
        return DtypeDescription(
            "V", "|", itemsize, subarray=(base, shape), record=record, depth=_depth(base.depth)
        )
    if names is None and fields is None:
        return DtypeDescription("V", "|", itemsize, record=record)
    if type(names) is not tuple or type(fields) is not dict or not names:
        raise _corrupt("fields that are not a names tuple and a fields dict")
    if len(names) > MAX_FIELDS or len(fields) > 2 * MAX_FIELDS:
        raise _corrupt("too many fields")
    described = []
    titles = set()
    for name in names:
        if type(name) is not str or name not in fields:
            raise _corrupt("a field name that is not a string of the fields")
        entry = fields[name]
        if type(entry) is not tuple or len(entry) not in (2, 3):
            raise _corrupt("a field that is not (dtype, offset[, title])")
        dtype, offset = entry[:2]
        title = entry[2] if len(entry) == 3 else None
        if not isinstance(dtype, DtypeDescription) or not is_int(offset):
            raise _corrupt("a field that is not (dtype, offset[, title])")
        if offset < 0 or offset + dtype.itemsize > itemsize:
            raise _corrupt(
                f"a field of {dtype.itemsize} bytes at offset {offset} in a {itemsize}-byte item"
            )
        if title is not None:
            if type(title) is not str or title in names or fields.get(title) != entry:
                raise _corrupt("a field title that is not what numpy writes")
            titles.add(title)
        described.append(Field(name, dtype, offset, title))
    if len(fields) != len(names) + len(titles) or len(set(names)) != len(names):
        raise _corrupt("fields that do not match the names")
    depth = _depth(max(field.dtype.depth for field in described))
    return DtypeDescription(
        "V", "|", itemsize, fields=tuple(described), aligned=aligned, record=record, depth=depth
    )


def _depth(inner: int) -> int:
    if inner >= MAX_NESTING:
        raise _corrupt(f"dtypes nested more than {MAX_NESTING} levels deep")
    return inner + 1


# -- building ----------------------------------------------------------------------------------


def build(description: DtypeDescription) -> np.dtype:
    """The numpy dtype of a validated description, made with numpy's constructors."""
    try:
        built: np.dtype = _construct(description)
    except (TypeError, ValueError, OverflowError) as error:
        raise _corrupt(f"numpy refuses it ({type(error).__name__})") from error
    if built.itemsize != description.itemsize or built.hasobject:
        raise _corrupt("numpy built something else than the description")
    return built


def _construct(description: DtypeDescription) -> np.dtype:
    if description.fields is not None:
        fields = description.fields
        spec: dict[str, Any] = {
            "names": [field.name for field in fields],
            "formats": [build(field.dtype) for field in fields],
            "offsets": [field.offset for field in fields],
            "itemsize": description.itemsize,
        }
        if any(field.title is not None for field in fields):
            spec["titles"] = [field.title for field in fields]
        dtype: np.dtype = np.dtype(spec, align=description.aligned)  # type: ignore[call-overload]
    elif description.subarray is not None:
        base, shape = description.subarray
        dtype = np.dtype((build(base), shape))
    else:
        dtype = np.dtype(description.dtype_str)
    if description.record:
        dtype = np.dtype((np.record, dtype))
    if description.metadata is not None:
        dtype = np.dtype(dtype, metadata=dict(description.metadata))
    return dtype


def element_count(shape: object, itemsize: int) -> int:
    """The number of elements of an array of ``shape``, checked: a tuple of ints >= 0 whose
    product fits in memory; items of size zero are counted against their own bound."""
    if type(shape) is not tuple or len(shape) > 64:
        raise CorruptFileError(
            f"the file describes an array shape that is a {type(shape).__name__}"
        )
    count = 1
    for n in shape:
        if type(n) is not int or not 0 <= n < 1 << 62:
            raise CorruptFileError("the file describes an array shape with an invalid dimension")
        count *= n
        if count >= 1 << 62:
            break
    if count * max(itemsize, 1) >= 1 << 62 or (not itemsize and count > MAX_EMPTY_ITEMS):
        raise CorruptFileError(
            f"the file describes an array of {count} elements of {itemsize} bytes: too many"
        )
    return count
