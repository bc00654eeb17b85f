"""numpy objects in a safe load: made by brinery's code, from arguments checked as data.

The file only ever supplies descriptions: a dtype's code and state, an array's shape, order and
bytes.  Nothing here calls a numpy function with the file's arguments as they come: dtypes are
rebuilt from a validated description (:mod:`brinery.dtype_description`), arrays are made over
memory whose size was checked against the description, object arrays only from elements the
unpickler already built, and subclasses only as views with plain attributes.

Pending objects (a dtype before its state, numpy's array before its state) are tokens: the
state is applied once, by brinery, and the memo entries that held the token are pointed at the
result, so a second ``BUILD`` through the memo meets a finished object and is refused.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Literal

import numpy as np

from . import rebuild
from .byte_order import to_native
from .dtype_description import DtypeDescription, build, describe_pickled, element_count
from .errors import CorruptFileError
from .safe_globals import describe

#: The byte order numpy swaps when it unpickles its own arrays.
_FOREIGN = ">" if sys.byteorder == "little" else "<"
#: A dtype state numpy writes for ``dtype('O')``: allowed only for numpy's own array pickles,
#: whose elements are pickled objects (never pointers read from bytes).
_OBJECT_STATE = (3, "|", None, None, None, -1, -1, 63)


class Pending:
    """An object whose ``BUILD`` brinery carries out itself; the memo keys that hold it."""

    __slots__ = ("done", "memo_keys")

    def __init__(self) -> None:
        self.memo_keys: list[Any] = []
        self.done = False


class DtypeToken(Pending):
    """``numpy.dtype(code, align, copy)``: the dtype is made when its state comes."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


class ObjectDtype:
    """``dtype('O')`` from numpy's own array pickles: usable only as their element type."""

    __slots__ = ()


OBJECT_DTYPE = ObjectDtype()


class ArrayToken(Pending):
    """numpy's ``_reconstruct(cls, (0,), b'b')``: the array is made when its state comes."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.cls = cls


class Dtypes:
    """The dtypes brinery built during one load, and their descriptions: only these (and
    brinery's own dtype strings) reach numpy as an array's dtype."""

    def __init__(self) -> None:
        self._built: dict[int, tuple[np.dtype, DtypeDescription]] = {}

    def add(self, dtype: np.dtype, description: DtypeDescription) -> None:
        self._built[id(dtype)] = (dtype, description)

    def _description(self, value: Any) -> DtypeDescription | None:
        """The description of ``value`` if it is a dtype this load built."""
        found = self._built.get(id(value))
        return found[1] if found is not None and found[0] is value else None

    def description_of(self, value: Any) -> Any:
        """The description of a dtype this load built (anything else is returned as it is,
        and refused by the description's checks)."""
        description = self._description(value)
        return value if description is None else description

    def resolve(self, value: Any) -> np.dtype | str:
        """An array's dtype argument: brinery's dtype strings, or a dtype this load built."""
        if type(value) is str or self._description(value) is not None:
            return value  # type: ignore[no-any-return]
        if value is OBJECT_DTYPE:
            raise CorruptFileError(
                "the file describes an array of objects where brinery writes raw memory"
            )
        raise CorruptFileError(f"the file gives {describe(value)} where a dtype belongs")


# -- dtypes ------------------------------------------------------------------------------------


def dtype_token(args: tuple[Any, ...]) -> DtypeToken:
    """``numpy.dtype(code, align, copy)`` as numpy pickles it."""
    # (numpy pickled the flags as the ints 0 and 1 under Python 2)
    if not 1 <= len(args) <= 3 or not all(type(flag) in (bool, int) for flag in args[1:]):
        raise CorruptFileError("the file calls numpy.dtype with arguments numpy never writes")
    code = args[0]
    if code is np.record:
        return DtypeToken("record")
    if type(code) is bytes:  # a Python 2 str, kept as bytes by load(encoding="bytes")
        code = code.decode("latin-1")
    if type(code) is not str or len(code) > 16:
        raise CorruptFileError(f"the file calls numpy.dtype with {describe(code)}")
    return DtypeToken(code)


def build_dtype(token: DtypeToken, state: Any, dtypes: Dtypes) -> np.dtype | ObjectDtype:
    """A dtype token's ``BUILD``: the dtype made from its validated description."""
    if token.code == "O8":
        if state != _OBJECT_STATE or type(state) is not tuple:
            raise CorruptFileError("the file gives an object dtype a state numpy never writes")
        return OBJECT_DTYPE
    if type(state) is tuple and len(state) > 1 and type(state[1]) is bytes:  # (Python 2's)
        state = (state[0], state[1].decode("latin-1"), *state[2:])
    description = describe_pickled(token.code, _described_state(state, dtypes))
    dtype = build(description)
    dtypes.add(dtype, description)
    return dtype


def _described_state(state: Any, dtypes: Dtypes) -> Any:
    """``state`` with the dtypes inside it (subarray base, fields) replaced by descriptions."""
    if type(state) is not tuple or len(state) not in (8, 9):
        return state
    items = list(state)
    subarray, fields = items[2], items[4]
    if type(subarray) is tuple and len(subarray) == 2:
        items[2] = (dtypes.description_of(subarray[0]), subarray[1])
    if type(fields) is dict:
        described = {}
        for name, entry in fields.items():
            if type(entry) is tuple and 2 <= len(entry) <= 3:
                entry = (dtypes.description_of(entry[0]), *entry[1:])
            described[name] = entry
        items[4] = described
    return tuple(items)


# -- arrays ------------------------------------------------------------------------------------

#: What brinery's rebuild functions make: a plain array, or under ``load(mmap_mode=)`` a view of
#: the file brinery mapped itself (a file never calls ``numpy.memmap``).
_PLAIN_ARRAYS = (np.ndarray, np.memmap)


def array_class_ok(cls: Any, trusted_types: tuple[type, ...]) -> bool:
    """An array class a file may name: numpy's own, or an ndarray subclass the caller
    trusts (memory maps load as plain arrays: a file never opens another file)."""
    if cls is np.ndarray or cls is np.matrix or cls is np.recarray:
        return True
    return (
        isinstance(cls, type)
        and any(cls is known for known in trusted_types)
        and issubclass(cls, np.ndarray)
        and not issubclass(cls, np.memmap)
    )


def array_token(args: tuple[Any, ...], trusted_types: tuple[type, ...]) -> ArrayToken:
    """numpy's ``_reconstruct(cls, (0,), b'b')``: nothing is made until the state comes."""
    if len(args) != 3 or args[1] != (0,) or args[2] not in (b"b", "b"):  # ('b': Python 2)
        raise CorruptFileError("the file calls numpy's _reconstruct with arguments it never writes")
    cls = args[0]
    if cls is np.memmap:
        cls = np.ndarray  # as brinery's own files: a memory map loads as an array
    if not array_class_ok(cls, trusted_types):
        raise CorruptFileError(f"the file makes an array of class {describe(cls)}, not trusted")
    return ArrayToken(cls)


def build_array(token: ArrayToken, state: Any, dtypes: Dtypes) -> np.ndarray:
    """numpy's array state ``(1, shape, dtype, is_fortran, data)``, read by brinery."""
    if type(state) is not tuple or len(state) != 5 or state[0] != 1 or type(state[0]) is not int:
        raise CorruptFileError("the file gives an array a state numpy never writes")
    _, shape, dtype, fortran, data = state
    if type(fortran) is not bool:
        raise CorruptFileError("the file gives an array a state numpy never writes")
    order: Literal["C", "F"] = "F" if fortran else "C"
    result: np.ndarray
    if dtype is OBJECT_DTYPE:
        count = element_count(shape, 8)
        if type(data) is not list or len(data) != count:
            raise CorruptFileError(
                f"an object array of {count} elements whose state holds {describe(data)}"
            )
        flat = np.fromiter(data, dtype=object, count=count)
        result = flat.reshape(shape, order=order)
    else:
        checked = rebuild.checked_dtype(dtypes.resolve(dtype))
        element_count(shape, checked.itemsize)
        memory = _byte_memory(data)
        if type(data) in (bytes, str):
            memory = memory.copy()  # numpy's own arrays load writable
        result = rebuild.view_of(memory, checked, shape, order)  # (sizes checked there)
        if checked.byteorder == _FOREIGN:
            # numpy's own __setstate__ swaps such data into the native order (its pickles
            # before protocol 5): a safe load returns what pickle returns
            result = to_native(result if result.flags.writeable else result.copy())
    return result if token.cls is np.ndarray else result.view(token.cls)


def _byte_memory(data: Any) -> np.ndarray:
    """An array's data as numpy pickles it (bytes, a bytearray, or an out-of-band buffer
    record) as a 1-d ``uint8`` array over it; its size is checked where it is viewed."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            raise CorruptFileError("an array whose data is not a byte buffer")
        return data
    if type(data) is str:
        data = python2_bytes(data)
    if type(data) not in (bytes, bytearray):
        raise CorruptFileError(f"an array whose data is {describe(data)}")
    return np.frombuffer(data, dtype=np.uint8)


def python2_bytes(data: bytes | str) -> bytes:
    """Bytes that Python 2 pickled as a ``str`` and ``load(encoding='latin1')`` decoded: numpy
    encodes them back the same way."""
    if isinstance(data, bytes):
        return data
    try:
        return data.encode("latin1")
    except UnicodeEncodeError:
        raise CorruptFileError("numpy data given as text that is not latin-1 bytes") from None


def frombuffer(args: tuple[Any, ...], dtypes: Dtypes) -> np.ndarray:
    """numpy's ``_frombuffer(data, dtype, shape, order)`` (its protocol 5 pickles)."""
    if len(args) not in (4, 5) or args[3] not in ("C", "F", "K") or type(args[3]) is not str:
        raise CorruptFileError("the file calls numpy's _frombuffer with arguments it never writes")
    data, dtype, shape, order = args[:4]
    axes = args[4] if len(args) == 5 else None
    if (order == "K") != (axes is not None) or (
        axes is not None
        and (
            type(axes) is not tuple
            or not all(type(axis) is int for axis in axes)
            or sorted(axes) != list(range(len(shape)))
        )
    ):
        raise CorruptFileError("the file calls numpy's _frombuffer with an invalid axis order")
    checked = rebuild.checked_dtype(dtypes.resolve(dtype))
    element_count(shape, checked.itemsize)
    memory = _byte_memory(data)
    if axes is None:
        return rebuild.view_of(memory, checked, shape, order)
    # numpy's K order: the memory in C order of the stored shape, then its axes permuted
    result: np.ndarray = rebuild.view_of(memory, checked, shape, "C").transpose(axes)
    return result


def rebuild_array(args: tuple[Any, ...], dtypes: Dtypes) -> np.ndarray:
    if len(args) != 4 or type(args[2]) is not str or type(args[3]) is not bool:
        raise CorruptFileError("the file calls brinery.rebuild.array with invalid arguments")
    return rebuild.array(dtypes.resolve(args[0]), args[1], args[2], args[3])


def rebuild_in_band(args: tuple[Any, ...], dtypes: Dtypes) -> np.ndarray:
    if len(args) != 4 or type(args[2]) is not str or type(args[3]) not in (bytes, bytearray):
        raise CorruptFileError(
            "the file calls brinery.rebuild.array_in_band with invalid arguments"
        )
    return rebuild.array_in_band(dtypes.resolve(args[0]), args[1], args[2], args[3])


def subclass_view(args: tuple[Any, ...], trusted_types: tuple[type, ...]) -> np.ndarray:
    if len(args) != 3 or type(args[1]) not in _PLAIN_ARRAYS:
        raise CorruptFileError(
            "the file calls brinery.rebuild.subclass_view with invalid arguments"
        )
    cls, base, state = args
    if cls is np.ndarray or not array_class_ok(cls, trusted_types):
        raise CorruptFileError(f"the file makes an array of class {describe(cls)}, not trusted")
    return rebuild.subclass_view(cls, base, plain_attributes(state))


def masked_array(args: tuple[Any, ...], trusted_types: tuple[type, ...]) -> np.ma.MaskedArray:
    if len(args) != 5 or type(args[1]) not in _PLAIN_ARRAYS or type(args[4]) is not bool:
        raise CorruptFileError(
            "the file calls brinery.rebuild.masked_array with invalid arguments"
        )
    cls, data, mask, fill_value, hard_mask = args
    known = cls is np.ma.MaskedArray or (
        isinstance(cls, type)
        and any(cls is trusted for trusted in trusted_types)
        and issubclass(cls, np.ma.MaskedArray)
    )
    if not known:
        raise CorruptFileError(f"the file makes a masked array of class {describe(cls)}")
    if mask is not np.ma.nomask:
        expected = np.ma.make_mask_descr(data.dtype)
        if type(mask) not in _PLAIN_ARRAYS or mask.shape != data.shape or mask.dtype != expected:
            raise CorruptFileError("a masked array whose mask does not match its data")
    if fill_value is not None and not _plain_scalar(fill_value):
        raise CorruptFileError(f"a masked array whose fill value is {describe(fill_value)}")
    return rebuild.masked_array(cls, data, mask, fill_value, hard_mask)


def _plain_scalar(value: Any) -> bool:
    """A fill value: a Python or numpy scalar, or the 0-d array numpy keeps it as."""
    if type(value) in (bool, int, float, complex, str, bytes):
        return True
    if type(value) is np.ndarray and value.ndim == 0:
        return not value.dtype.hasobject
    return isinstance(value, np.generic) and not value.dtype.hasobject


def plain_attributes(state: Any) -> dict[str, Any] | None:
    """An array subclass's ``__dict__`` from a file: string names, no dunders."""
    if state is None:
        return None
    if type(state) is not dict:
        raise CorruptFileError(f"an array's attributes are {describe(state)}, not a dict")
    for key in state:
        if type(key) is not str or key.startswith("__"):
            raise CorruptFileError("an array's attributes have a name that is not plain")
    return state


# -- scalars and builtins ----------------------------------------------------------------------


def _numpy_scalar_function() -> Any:
    module = importlib.import_module("numpy._core.multiarray")
    found = getattr(module, "scalar", None)
    return found if found is not None else importlib.import_module("numpy.core.multiarray").scalar


_SCALAR = _numpy_scalar_function()


def scalar(args: tuple[Any, ...], dtypes: Dtypes) -> Any:
    """numpy's ``scalar(dtype, bytes)``, for a dtype this load built."""
    if len(args) != 2 or type(args[1]) not in (bytes, str):
        raise CorruptFileError("the file makes a numpy scalar from something else than bytes")
    dtype, data = args[0], python2_bytes(args[1])
    checked = rebuild.checked_dtype(dtypes.resolve(dtype))
    if len(data) != checked.itemsize:
        raise CorruptFileError(
            f"a numpy scalar of {checked.itemsize} bytes made from {len(data)} bytes"
        )
    rebuild.check_text(np.frombuffer(data, dtype=np.uint8), checked)
    return _SCALAR(checked, data)


def builtin(func: Any, args: tuple[Any, ...]) -> Any:
    """The builtins plain data needs at protocols 0-4, with the arguments pickle writes."""
    if func is complex:
        if len(args) <= 2 and all(type(arg) in (int, float) for arg in args):
            return complex(*args)
    elif func is set or func is frozenset:
        if args == ():
            return func()
        if len(args) == 1 and type(args[0]) is list:
            return func(args[0])
    elif func is bytes:
        if args == ():
            return b""  # empty bytes at protocols 0-2
    elif func is bytearray:
        if args == ():
            return bytearray()
        if len(args) == 1 and type(args[0]) is bytes:
            return bytearray(args[0])
        if _latin1(args):
            return bytearray(args[0], "latin1")
    elif _latin1(args):  # _codecs.encode
        return args[0].encode("latin1")
    raise CorruptFileError(f"the file calls {describe(func)} with arguments pickle never writes")


def _latin1(args: tuple[Any, ...]) -> bool:
    return len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1")


