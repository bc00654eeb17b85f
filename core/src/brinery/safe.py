"""Safe loading of untrusted files: only plain data and the types the caller names.

A pickle can call any function it names, so ``load`` trusts its file, as ``pickle.load`` does.
With ``load(source, trusted=[...])`` the pickle runs on :class:`SafeUnpickler` instead, a
subclass of the pure-Python unpickler in which every opcode that calls something is checked:

* a global (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) is resolved only if its exact
  ``(module, name)`` pair is trusted: brinery's own rebuild functions, numpy's dtypes, scalars
  and array classes, the builtins pickle needs for plain data at old protocols, and what the
  caller names.  Dotted names (``os.path.join`` spelled as name ``path.join`` of module ``os``)
  and dunder names are never resolved; copyreg extension codes are refused;
* calls (``REDUCE``, ``NEWOBJ``, ``OBJ``) only reach trusted globals, and brinery's and numpy's
  get their arguments checked first (numpy's ``ndarray.__setstate__`` never runs: arrays come
  from validated ``(dtype, shape, order, bytes)`` records);
* ``BUILD`` sets state only on instances of trusted types (a dtype's state is checked first).

An untrusted global does not stop the load at once: it becomes an inert placeholder, nothing of
the caller's is called any more, and at the end :class:`UntrustedTypesError` lists every untrusted
global the file names.  :func:`untrusted_types` runs the same machine trusting only the defaults.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import pickle
import struct
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from .errors import (
    CorruptFileError,
    InvalidArgumentError,
    TruncatedFileError,
)

Global = tuple[str, str]

#: What a safe load trusts without being told: brinery's rebuild functions, numpy's dtypes,
#: scalars and array classes, and the builtins that plain data needs at pickle protocols 0-4.
DEFAULT_TRUSTED: frozenset[Global] = frozenset(
    {
        ("brinery.rebuild", "array"),
        ("brinery.rebuild", "array_in_band"),
        ("brinery.rebuild", "subclass_view"),
        ("brinery.rebuild", "masked_array"),
        ("numpy", "dtype"),
        ("numpy", "record"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.ma", "MaskedArray"),
        ("numpy.ma.core", "MaskedArray"),
        ("numpy", "matrix"),
        ("numpy.matrixlib.defmatrix", "matrix"),
        ("numpy.rec", "recarray"),
        ("numpy._core.records", "recarray"),
        ("numpy.core.records", "recarray"),
        ("builtins", "complex"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("_codecs", "encode"),
    }
)


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
        if not module or not _plain_name(name):
            raise InvalidArgumentError(
                f"trusted entry {item!r} is not a 'module.name' of a top-level class or "
                "function (dotted and dunder names are never trusted)"
            )
        pairs.add((module, name))
    return frozenset(pairs)


def _plain_name(name: str) -> bool:
    return name.isidentifier() and not name.startswith("__")


class Placeholder:
    """Stands for an untrusted global, and for anything built once one was met: inert."""

    def __init__(self, label: str) -> None:
        self.label = label

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<untrusted {self.label}>"


_INERT = Placeholder("result")


class _ExactReader:
    """The stream as the pure-Python unpickler reads it, but a short read is truncation (that
    unpickler would otherwise keep short data) and nothing is allocated before it is read."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)
        if size >= 0 and len(data) != size:
            if not data and size == 1:
                return data  # the end, between opcodes: the unpickler reports it
            raise TruncatedFileError(
                f"the pickle data ends {size - len(data)} bytes before what it declares"
            )
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        view[:] = self.read(len(view))
        return len(view)

    def readline(self) -> bytes:
        line: bytes = self._stream.readline()
        return line


#: The pure-Python unpickler (its opcode table can be changed; the C one's cannot), typed loosely:
#: typeshed describes it as the C one, without the stack and dispatch it has.
_PurePythonUnpickler: Any = pickle._Unpickler


class SafeUnpickler(_PurePythonUnpickler):  # type: ignore[misc]
    """The pure-Python unpickler, with every call checked (see the module docstring).

    ``trusted``: the globals that may be resolved, brinery's defaults included; ``None`` trusts
    the file (no checks, as ``pickle`` does: joblib's files in a default load).  The untrusted
    globals met are collected in :attr:`untrusted` and stand as inert placeholders.  brinery's
    and numpy's own functions keep running after that (they are safe, and they keep the stream
    in step: a joblib array's bytes follow its wrapper), but nothing of the caller's runs any
    more, nor anything that received a placeholder.
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(_PurePythonUnpickler.dispatch)
    #: Types whose instances brinery itself creates and fills (a subclass's stand-ins).
    builtin_types: ClassVar[tuple[type, ...]] = ()

    def __init__(
        self, stream: Any, trusted: frozenset[Global] | None, buffers: Any = None
    ) -> None:
        super().__init__(_ExactReader(stream), buffers=buffers)
        self._trusted = trusted
        self._checked = trusted is not None
        self.untrusted: dict[str, None] = {}  # labels, in the order met
        # What the caller's trusted globals resolved to: only these may be called unchecked,
        # and only the types among them may be created (NEWOBJ) and given state (BUILD).
        self._callers: dict[int, Any] = {}
        self._types: tuple[type, ...] = ()

    # -- globals ---------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # Python 2 names, which pickle writes at protocols 0-2
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if not self._checked:
            return super().find_class(module, name)
        label = f"{module}.{name}"
        pair = (module, name)
        if self._trusted is None or pair not in self._trusted or not _plain_name(name):
            self.untrusted[label] = None
            return Placeholder(label)
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise CorruptFileError(f"the file names {label}, which cannot be found") from error
        if pair not in DEFAULT_TRUSTED:
            self._callers[id(found)] = found
            if isinstance(found, type):
                self._types = (*self._types, found)
        return found

    def get_extension(self, code: int) -> None:
        label = f"copyreg extension code {code}"
        self.untrusted[label] = None
        self.append(Placeholder(label))

    # -- calls -----------------------------------------------------------------------------

    def _call(self, func: Any, args: Any) -> Any:
        if not self._checked:
            return func(*args)
        if type(args) is not tuple:
            raise CorruptFileError("the pickle calls something with arguments that are not a tuple")
        if isinstance(func, Placeholder) or any(isinstance(arg, Placeholder) for arg in args):
            return _INERT
        try:
            check = _ARGUMENT_CHECKS.get(func)
        except TypeError:  # unhashable: not a global at all
            check = None
        if check is None:
            if id(func) not in self._callers:
                raise CorruptFileError(f"the file calls {_short(func)}, which is not trusted")
            if self.untrusted:
                return _INERT  # the load fails anyway: run none of the caller's code
        elif not check(args):
            if self.untrusted:
                return _INERT
            raise CorruptFileError(
                f"the file calls {_name(func)} with arguments it never takes: {_short(args)}"
            )
        try:
            return func(*args)
        except (TypeError, ValueError, OverflowError, KeyError, IndexError) as error:
            if self.untrusted:
                return _INERT
            raise CorruptFileError(f"the file's data is invalid: {error}") from error

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(self._call(klass, tuple(args)))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls: Any, args: Any, kwargs: Any) -> Any:
        if not self._checked:
            return cls.__new__(cls, *args, **kwargs)
        if isinstance(cls, Placeholder):
            return _INERT
        builtin = any(cls is known for known in self.builtin_types)
        if not builtin and not any(cls is trusted for trusted in self._types):
            raise CorruptFileError(f"the file creates a {_short(cls)}, which is not a trusted type")
        if type(args) is not tuple or type(kwargs) is not dict:
            raise CorruptFileError("the pickle creates an object with invalid arguments")
        if self.untrusted and not builtin:
            return _INERT
        try:
            return cls.__new__(cls, *args, **kwargs)
        except (TypeError, ValueError) as error:
            raise CorruptFileError(f"the file's data is invalid: {error}") from error

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not self._checked:
            _set_state(inst, state)
            return
        if isinstance(inst, Placeholder):
            return
        if isinstance(inst, np.dtype):
            if not _dtype_state_ok(state):
                if self.untrusted:
                    self.stack[-1] = _INERT
                    return
                raise CorruptFileError(f"the file gives a dtype an invalid state: {_short(state)}")
        elif isinstance(inst, self.builtin_types):
            pass
        elif not isinstance(inst, self._types):
            raise CorruptFileError(
                f"the file sets the state of a {type(inst).__qualname__}, which is not a "
                "trusted type"
            )
        elif self.untrusted:
            self.stack[-1] = _INERT
            return
        try:
            _set_state(inst, state)
        except (TypeError, ValueError, AttributeError) as error:
            raise CorruptFileError(f"the file's data is invalid: {error}") from error

    # -- data the pure-Python unpickler would allocate before reading it -------------------

    def load_bytearray8(self) -> None:
        (size,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(size)))

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _set_state(inst: Any, state: Any) -> None:
    """What ``BUILD`` does (``__setstate__``, else the ``__dict__`` and slots), for the trusted
    instances it may touch."""
    setstate = getattr(inst, "__setstate__", None)
    if setstate is not None:
        setstate(state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    if state:
        inst.__dict__.update(state)
    if slots:
        for key, value in slots.items():
            setattr(inst, key, value)


def _name(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _dtype_state_ok(state: Any) -> bool:
    """numpy's dtype state: (version, byte order, subarray, names, fields, itemsize, alignment,
    flags[, metadata]), checked for shape and types before numpy's C code sees it."""
    if not (isinstance(state, tuple) and len(state) in (8, 9)):
        return False
    version, order, subarray, names, fields, itemsize, alignment, flags = state[:8]
    return (
        type(version) is int
        and order in ("<", ">", "|", "=")
        and (subarray is None or _subarray_ok(subarray))
        and (names is None or (type(names) is tuple and all(type(n) is str for n in names)))
        and (fields is None or _fields_ok(fields, names))
        and all(type(n) is int for n in (itemsize, alignment, flags))
        and (len(state) == 8 or _dtype_extra_ok(state[8]))
    )


def _dtype_extra_ok(extra: Any) -> bool:
    """A dtype state's last item: its metadata, or for datetimes (metadata, (unit, number,
    denominator, events))."""
    if extra is None or type(extra) is dict:
        return True
    return (
        type(extra) is tuple
        and len(extra) == 2
        and (extra[0] is None or type(extra[0]) is dict)
        and type(extra[1]) is tuple
        and len(extra[1]) == 4
        and type(extra[1][0]) is bytes
        and all(type(n) is int for n in extra[1][1:])
    )


def _subarray_ok(subarray: Any) -> bool:
    return (
        type(subarray) is tuple
        and len(subarray) == 2
        and isinstance(subarray[0], np.dtype)
        and type(subarray[1]) is tuple
        and all(type(n) is int and n >= 0 for n in subarray[1])
    )


def _fields_ok(fields: Any, names: Any) -> bool:
    if type(fields) is not dict or names is None or set(fields) != set(names):
        return False
    return all(
        type(value) is tuple
        and len(value) in (2, 3)
        and isinstance(value[0], np.dtype)
        and type(value[1]) is int
        for value in fields.values()
    )


def _args(*types: type) -> Callable[[tuple[Any, ...]], bool]:
    return lambda args: len(args) == len(types) and all(
        isinstance(arg, kind) for arg, kind in zip(args, types, strict=True)
    )


def _scalar_args(args: tuple[Any, ...]) -> bool:
    return (
        len(args) == 2
        and isinstance(args[0], np.dtype)
        and not args[0].hasobject
        and type(args[1]) is bytes
        and len(args[1]) == args[0].itemsize
    )


def _numbers(args: tuple[Any, ...]) -> bool:
    return len(args) <= 2 and all(type(arg) in (int, float) for arg in args)


def _collection(args: tuple[Any, ...]) -> bool:
    return args == () or (len(args) == 1 and type(args[0]) is list)


def _latin1(args: tuple[Any, ...]) -> bool:
    return (
        len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1")
    ) or args == ()


def _dtype_args(args: tuple[Any, ...]) -> bool:
    return (
        1 <= len(args) <= 3
        and (type(args[0]) is str or args[0] is np.record)  # np.record: recarrays' dtypes
        and all(type(flag) is bool for flag in args[1:])
    )


def _subclass_view_args(args: tuple[Any, ...]) -> bool:
    return (
        len(args) == 3
        and isinstance(args[0], type)
        and isinstance(args[1], np.ndarray)
        and (args[2] is None or type(args[2]) is dict)
    )


def _array_args(args: tuple[Any, ...]) -> bool:
    return len(args) == 4 and type(args[2]) is str and type(args[3]) is bool


def _in_band_args(args: tuple[Any, ...]) -> bool:
    return len(args) == 4 and type(args[2]) is str and type(args[3]) in (bytes, bytearray)


def _masked_args(args: tuple[Any, ...]) -> bool:
    return (
        len(args) == 5
        and isinstance(args[0], type)
        and isinstance(args[1], np.ndarray)
        and type(args[4]) is bool
    )


def _argument_checks() -> dict[Any, Callable[[tuple[Any, ...]], bool]]:
    from . import rebuild

    checks: dict[Any, Callable[[tuple[Any, ...]], bool]] = {
        rebuild.array: _array_args,
        rebuild.array_in_band: _in_band_args,
        rebuild.subclass_view: _subclass_view_args,
        rebuild.masked_array: _masked_args,
        np.dtype: _dtype_args,
        complex: _numbers,
        set: _collection,
        frozenset: _collection,
        bytearray: lambda args: args == () or (len(args) == 1 and type(args[0]) is bytes)
        or _latin1(args),
        np.ma.MaskedArray: lambda args: False,  # only through rebuild.masked_array
        np.matrix: lambda args: False,  # only through rebuild.subclass_view
        np.recarray: lambda args: False,
        np.record: lambda args: False,
    }
    scalar = getattr(importlib.import_module("numpy._core.multiarray"), "scalar", None)
    if scalar is None:  # numpy 1
        scalar = importlib.import_module("numpy.core.multiarray").scalar
    checks[scalar] = _scalar_args
    checks[importlib.import_module("_codecs").encode] = _latin1
    return checks


_ARGUMENT_CHECKS = _argument_checks()
