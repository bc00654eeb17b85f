"""The globals a safe load understands without being told, and what each one may do.

A pickle names globals by ``(module, name)``.  A safe load (and :func:`brinery.untrusted_types`,
and ``brinery info``) gives each known pair a *role*: brinery's own rebuild functions and
numpy's dtype, scalar and array reconstruction are carried out by brinery's code from validated
arguments; numpy's array classes may only be *named* (as the class of an array), never called;
a few builtins rebuild plain data at old protocols.  Everything else is untrusted unless the
caller trusts it by name.
"""

from __future__ import annotations

import _compat_pickle
from collections.abc import Iterable
from typing import Any

from .errors import InvalidArgumentError

Global = tuple[str, str]

#: Roles of the globals brinery handles itself (see :mod:`brinery.safe`).
REBUILD_ARRAY = "array"
REBUILD_IN_BAND = "array_in_band"
SUBCLASS_VIEW = "subclass_view"
MASKED_ARRAY = "masked_array"
DTYPE = "dtype"
SCALAR = "scalar"
RECONSTRUCT = "reconstruct"  # numpy's own array pickles: _reconstruct, then BUILD
FROMBUFFER = "frombuffer"  # numpy's own array pickles at protocol 5: _frombuffer(data, ...)
ARRAY_CLASS = "class"  # named as an array's class; calling it is untrusted
RECORD = "record"  # numpy.record: a recarray's item type, named in its dtype
BUILTIN = "builtin"  # complex, set, frozenset, bytearray, bytes, _codecs.encode

ROLES: dict[Global, str] = {
    ("brinery.rebuild", "array"): REBUILD_ARRAY,
    ("brinery.rebuild", "array_in_band"): REBUILD_IN_BAND,
    ("brinery.rebuild", "subclass_view"): SUBCLASS_VIEW,
    ("brinery.rebuild", "masked_array"): MASKED_ARRAY,
    ("numpy", "dtype"): DTYPE,
    ("numpy._core.multiarray", "scalar"): SCALAR,
    ("numpy.core.multiarray", "scalar"): SCALAR,
    ("numpy._core.multiarray", "_reconstruct"): RECONSTRUCT,
    ("numpy.core.multiarray", "_reconstruct"): RECONSTRUCT,
    ("numpy._core.numeric", "_frombuffer"): FROMBUFFER,
    ("numpy.core.numeric", "_frombuffer"): FROMBUFFER,
    ("numpy", "ndarray"): ARRAY_CLASS,
    ("numpy", "memmap"): ARRAY_CLASS,
    ("numpy.ma", "MaskedArray"): ARRAY_CLASS,
    ("numpy.ma.core", "MaskedArray"): ARRAY_CLASS,
    ("numpy", "matrix"): ARRAY_CLASS,
    ("numpy.matrixlib.defmatrix", "matrix"): ARRAY_CLASS,
    ("numpy.rec", "recarray"): ARRAY_CLASS,
    ("numpy._core.records", "recarray"): ARRAY_CLASS,
    ("numpy.core.records", "recarray"): ARRAY_CLASS,
    ("numpy", "record"): RECORD,
    ("numpy._core.records", "record"): RECORD,
    ("numpy.core.records", "record"): RECORD,
    ("builtins", "complex"): BUILTIN,
    ("builtins", "set"): BUILTIN,
    ("builtins", "frozenset"): BUILTIN,
    ("builtins", "bytearray"): BUILTIN,
    ("builtins", "bytes"): BUILTIN,
    ("_codecs", "encode"): BUILTIN,
}

#: What a safe load trusts without being told.
DEFAULT_TRUSTED: frozenset[Global] = frozenset(ROLES)

#: joblib's array wrapper, under the module paths it has had (scikit-learn once vendored it).
JOBLIB_WRAPPER_MODULES = ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")
JOBLIB_WRAPPER = "NumpyArrayWrapper"
#: The wrappers of joblib < 0.10, whose arrays live in other files.
JOBLIB_OLD_WRAPPERS = ("NDArrayWrapper", "ZNDArrayWrapper")


def python3_name(protocol: int, module: str, name: str) -> Global:
    """The global a pickle names, as pickle resolves it: protocols 0-2 may use Python 2's
    names (``__builtin__``, ``copy_reg``...), mapped to Python 3's."""
    if protocol < 3:
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


def plain_name(name: str) -> bool:
    """A name pickle resolves in one step, and no dunder: the only kind ever trusted."""
    return name.isidentifier() and not name.startswith("__")


def parse_trusted(trusted: Iterable[Any]) -> frozenset[Global]:
    """The caller's ``trusted=``: ``"module.name"`` strings, or the classes and functions."""
    if isinstance(trusted, (str, bytes)):
        raise InvalidArgumentError(
            f"trusted must be a list of names or types, not the single {type(trusted).__name__} "
            f"{trusted!r} (write trusted=[{trusted!r}])"
        )
    pairs = set()
    for item in trusted:
        if isinstance(item, str):
            module, _, name = item.rpartition(".")
        else:
            module = getattr(item, "__module__", None) or ""
            name = getattr(item, "__qualname__", None) or ""
        if not module or not plain_name(name):
            raise InvalidArgumentError(
                f"trusted entry {item!r} is not a 'module.name' of a top-level class or "
                "function (dotted and dunder names are never trusted)"
            )
        pairs.add((module, name))
    return frozenset(pairs)


def describe(value: object) -> str:
    """A file-made object in a message: its type, and its length where it has one cheaply;
    never its ``repr`` (which a hostile object can make huge, slow or recursive)."""
    kind = type(value)
    if kind in (str, bytes, bytearray, tuple, list, dict, set, frozenset):
        return f"a {kind.__name__} of length {len(value)}"  # type: ignore[arg-type]
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if type(module) is str and type(qualname) is str:
            return f"{module}.{qualname}"
    return f"a {kind.__module__}.{kind.__qualname__} object"
