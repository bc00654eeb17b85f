"""Safe loading of untrusted files: only plain data and the types the caller names.

A pickle can call any function it names, so ``load`` trusts its file, as ``pickle.load`` does.
With ``load(source, trusted=[...])`` the pickle runs on :class:`SafeUnpickler` instead, a
subclass of the pure-Python unpickler in which every opcode that calls, creates, mutates or
allocates is checked:

* a global (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) is resolved only if its exact
  ``(module, name)`` pair is trusted (:mod:`brinery.safe_globals`: brinery's rebuild functions,
  numpy's dtype, scalar and array reconstruction, numpy's array classes as *names*, the
  builtins plain data needs at old protocols, and what the caller names).  Dotted and dunder
  names are never resolved; copyreg extension codes are refused;
* the globals brinery knows are carried out by brinery's own code from arguments checked as
  data (:mod:`brinery.safe_numpy`): dtypes are rebuilt from validated descriptions, never from
  numpy's ``__setstate__``; arrays are made over memory whose size matches; numpy's array
  classes are never called;
* the caller's trusted globals are called as they are, and ``BUILD`` sets state only on their
  instances, through the class's ``__setstate__`` (never one an instance dict supplies) or plain
  attribute names;
* ``SETITEM``/``APPEND``/``ADDITEMS`` reach only containers pickle builds (and the caller's
  trusted types), never an array or a bytearray;
* bounds: lengths are read before anything is allocated for them (in pieces, checked against
  what the source holds and ``max_bytes``), nesting (``MARK``s, tuples in tuples) is limited
  far below the C stack, keys with equal hashes in one dict or set are limited, and messages
  describe file-made objects by type and size, never by ``repr``.

An untrusted global does not stop the load at once: it becomes an inert placeholder, nothing of
the caller's is called any more, and at the end :class:`UntrustedTypesError` lists every untrusted
global the file names.  :func:`brinery.untrusted_types` does not run this machine: it reads the
opcodes as data (:mod:`brinery.scan`).
"""

from __future__ import annotations

import importlib
import pickle
import struct
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from . import rebuild, safe_numpy
from .byte_order import to_native
from .errors import CorruptFileError, SizeLimitError, TruncatedFileError
from .mapping import MappedPayloads, MappedPickle, as_memmap
from .safe_globals import (
    ARRAY_CLASS,
    BUILTIN,
    DEFAULT_TRUSTED,
    DTYPE,
    FROMBUFFER,
    MASKED_ARRAY,
    REBUILD_ARRAY,
    REBUILD_IN_BAND,
    RECONSTRUCT,
    RECORD,
    ROLES,
    SCALAR,
    SUBCLASS_VIEW,
    Global,
    describe,
    parse_trusted,
    plain_name,
    python3_name,
)
from .safe_numpy import ArrayToken, Dtypes, DtypeToken, Pending

__all__ = ["DEFAULT_TRUSTED", "Placeholder", "SafeUnpickler", "parse_trusted"]

#: Open ``MARK``s allowed: the pickler itself cannot nest deeper (Python's recursion limit).
MAX_NESTING = 1000
#: Tuples (and frozensets) inside each other: hashing them recurses in C without a check, and
#: comparing them (equal hashes) recurses up to Python's recursion limit.
MAX_TUPLE_NESTING = 200
#: Keys of one dict (or items of one set) with the same hash: each insertion compares with all
#: the others, so many of them cost quadratic time (20,000 colliding ints: 10-30 s).
MAX_EQUAL_HASHES = 64
#: Pickles inside pickles (a joblib object array's elements follow its wrapper as a pickle).
MAX_NESTED_PICKLES = 32
#: Elements hashed for the keys of one load's dicts and sets (a second or so of hashing).
MAX_HASH_WORK = 1 << 26
#: Reads up to this size are served at once; larger ones in pieces of it, so that a declared
#: length allocates only as much as the data that actually arrived.
READ_PIECE = 1 << 20


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


class ByteAccount:
    """The bytes a pickle may still take: what its source holds (``room``, when known) and what
    the caller allows (``limit``: ``max_bytes``)."""

    def __init__(self, room: int | None = None, limit: int | None = None) -> None:
        self.room = room
        self.limit = limit
        self._given = limit

    def claim(self, size: int, what: str) -> None:
        if self.room is not None:
            if size > self.room:
                raise TruncatedFileError(
                    f"the file declares a {size}-byte {what} where at most {self.room} bytes "
                    "are left: it is truncated or damaged"
                )
            self.room -= size
        self.claim_elsewhere(size, what)

    def claim_elsewhere(self, size: int, what: str) -> None:
        """Bytes read from another file (a side file of joblib < 0.10): counted against
        ``max_bytes`` only, the room being that file's."""
        if self.limit is not None:
            if size > self.limit:
                raise SizeLimitError(
                    f"the file holds more than max_bytes={self._given} bytes (the next "
                    f"{what} declares {size} bytes)"
                )
            self.limit -= size


class ExactReader:
    """The stream as the pure-Python unpickler reads it: a short read is truncation (that
    unpickler would otherwise keep short data), and a declared length is read in pieces, so
    nothing is allocated before the data that fills it has arrived."""

    def __init__(self, stream: Any, account: ByteAccount | None = None) -> None:
        self._stream = stream
        self._account = account

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise CorruptFileError("the pickle asks to read all that follows")
        if self._account is not None:
            self._account.claim(size, "piece of pickle data")
        if size <= READ_PIECE:
            data: bytes = self._stream.read(size)
            if len(data) == size or (not data and size == 1):
                return data  # (no byte at all before an opcode: the unpickler reports it)
            self._short(size, len(data))
        pieces = []
        left = size
        while left:
            piece = self._stream.read(min(left, READ_PIECE))
            if not piece:
                self._short(size, size - left)
            pieces.append(piece)
            left -= len(piece)
        return b"".join(pieces)

    @staticmethod
    def _short(size: int, got: int) -> None:
        raise TruncatedFileError(f"the pickle data ends {size - got} bytes before what it declares")

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        view[:] = self.read(len(view))
        return len(view)

    def readline(self) -> bytes:
        line: bytes = self._stream.readline()
        if self._account is not None:
            self._account.claim(len(line), "text line")
        return line


#: The pure-Python unpickler (its opcode table can be changed; the C one's cannot), typed loosely:
#: typeshed describes it as the C one, without the stack and dispatch it has.
_PurePythonUnpickler: Any = pickle._Unpickler

#: The containers pickle's own opcodes fill (APPEND(S), SETITEM(S), ADDITEMS).
_FILLABLE = (list, dict, set)


class SafeUnpickler(_PurePythonUnpickler):  # type: ignore[misc]
    """The pure-Python unpickler, with every call checked (see the module docstring).

    ``trusted``: the caller's trusted globals (brinery's own are always known); ``None`` trusts
    the file (its globals are imported and called as pickle would: joblib's files and plain
    pickles in a default load), though brinery's nesting and size bounds still hold.  The
    untrusted globals met are collected in :attr:`untrusted` and stand as inert placeholders.
    brinery's own handling keeps running after that (it keeps the stream in step: a joblib
    array's bytes follow its wrapper), but nothing of the caller's runs any more.
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(_PurePythonUnpickler.dispatch)

    def __init__(
        self,
        stream: Any,
        trusted: frozenset[Global] | None,
        buffers: Any = None,
        *,
        account: ByteAccount | None = None,
        native: bool = False,
        encoding: str = "ASCII",
        mapped: MappedPickle | None = None,
    ) -> None:
        super().__init__(ExactReader(stream, account), buffers=buffers, encoding=encoding)
        # load(mmap_mode=): the byte payloads read, and where they lie in the mapped file
        self._payloads = None if mapped is None else MappedPayloads(mapped)
        self._trusted = trusted
        self._native = native  # ensure_native_byte_order: the arrays built here made native
        self._checked = trusted is not None
        self.untrusted: dict[str, None] = {}  # labels, in the order met
        # What the caller's trusted globals resolved to: only these may be called as they are,
        # and only the types among them may be created (NEWOBJ) and given state (BUILD).
        self._callers: dict[int, Any] = {}
        self._types: tuple[type, ...] = ()
        self._labels: dict[int, str] = {}  # how the file named the globals brinery knows
        self._dtypes = Dtypes()
        # tuples/frozensets nested > 1 deep: (the object, its depth, what hashing it costs)
        self._nesting: dict[int, tuple[Any, int, int]] = {}
        self._hash_work = 0  # elements hashed for the keys of dicts and sets so far
        self._hashes: dict[int, tuple[Any, Counter[int]]] = {}  # per dict/set filled

    # -- globals ---------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        pair = module, name = python3_name(self.proto, module, name)
        label = f"{module}.{name}"
        known = _OBJECT_BY_PAIR.get(pair)
        if known is not None:
            if self._trusted is not None and pair in self._trusted and ROLES[pair] in (
                ARRAY_CLASS,
                RECORD,
            ):
                self._callers[id(known)] = known  # a numpy class the caller lets the file call
            self._labels.setdefault(id(known), label)
            return known
        if self._trusted is None:
            return super().find_class(module, name)  # the file is trusted
        if pair not in self._trusted or not plain_name(name):
            self.untrusted[label] = None
            return Placeholder(label)
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise CorruptFileError(f"the file names {label}, which cannot be found") from error
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
        if type(args) is not tuple:
            raise CorruptFileError(f"the pickle calls something with {describe(args)} as arguments")
        if self._payloads is not None and (
            func is bytearray or _role(func) in (REBUILD_IN_BAND, FROMBUFFER)
        ):
            return self._call_mapped(func, args)
        return self._call_in_memory(func, args)

    def _call_in_memory(self, func: Any, args: tuple[Any, ...]) -> Any:
        if not self._checked:
            return func(*args)  # the file is trusted
        if isinstance(func, Placeholder) or any(isinstance(arg, Placeholder) for arg in args):
            return _INERT
        role = _role(func)
        trusted = self._callers.get(id(func)) is func
        if role is not None and not trusted:
            return self._call_known(func, role, args)
        if not trusted:
            raise CorruptFileError(f"the file calls {describe(func)}, which is not trusted")
        if self.untrusted:
            return _INERT  # the load fails anyway: run none of the caller's code
        try:
            return func(*args)
        except (TypeError, ValueError, OverflowError, KeyError, IndexError) as error:
            raise CorruptFileError(
                f"the file's data is invalid for {describe(func)} ({type(error).__name__})"
            ) from error

    def _call_mapped(self, func: Any, args: tuple[Any, ...]) -> Any:
        """``load(mmap_mode=)``: an array made from bytes of the pickle (a small array's, or
        numpy's own pickle's) or from a mapped buffer record views the file instead."""
        assert self._payloads is not None
        if self._checked and any(isinstance(arg, Placeholder) for arg in args):
            return _INERT
        if func is bytearray:  # bytearray(data): how protocols 3 and 4 pickle a bytearray
            made = self._call_in_memory(func, args)
            if len(args) == 1:
                self._payloads.note_copy(made, args[0])
            return made
        if _role(func) == REBUILD_IN_BAND:
            offset = self._payloads.locate(args[3]) if len(args) == 4 else None
            if offset is None or type(args[2]) is not str:
                return self._call_in_memory(func, args)  # (refused there if invalid)
            dtype = self._dtypes.resolve(args[0]) if self._checked else args[0]
            mapping = self._payloads.mapping
            return rebuild.mapped_in_band(dtype, args[1], args[2], args[3], mapping, offset)
        memory = self._payloads.memory(args[0]) if args else None
        if memory is None:
            return self._call_in_memory(func, args)
        made = self._call_in_memory(func, (memory, *args[1:]))  # numpy's _frombuffer
        if type(made) is np.ndarray and np.may_share_memory(made, memory):
            return as_memmap(made, memory)
        return made

    def _call_known(self, func: Any, role: str, args: tuple[Any, ...]) -> Any:
        """brinery's own handling of the globals it knows, from checked arguments."""
        if role in (ARRAY_CLASS, RECORD):
            # numpy's classes may be named (an array's class), not called by an untrusted
            # file: numpy.memmap would open any file for writing.
            self.untrusted[self._labels.get(id(func), describe(func))] = None
            return _INERT
        if role == DTYPE:
            return safe_numpy.dtype_token(args)
        if role == SCALAR:
            return safe_numpy.scalar(args, self._dtypes)
        if role == RECONSTRUCT:
            return safe_numpy.array_token(args, self._types)
        if role == FROMBUFFER:
            return self._made(safe_numpy.frombuffer(args, self._dtypes))
        if role == REBUILD_ARRAY:
            return self._made(safe_numpy.rebuild_array(args, self._dtypes))
        if role == REBUILD_IN_BAND:
            return self._made(safe_numpy.rebuild_in_band(args, self._dtypes))
        if role == SUBCLASS_VIEW:
            return safe_numpy.subclass_view(args, self._types)
        if role == MASKED_ARRAY:
            return safe_numpy.masked_array(args, self._types)
        assert role == BUILTIN
        if len(args) == 1 and type(args[0]) is list and (func is set or func is frozenset):
            self._check_hashes(None, args[0])
            if func is frozenset:
                return self._nested(frozenset(args[0]), args[0])
        return safe_numpy.builtin(func, args)

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
        if isinstance(cls, Placeholder):
            return _INERT
        if type(args) is not tuple or type(kwargs) is not dict:
            raise CorruptFileError("the pickle creates an object with invalid arguments")
        made = self._new_known(cls, args, kwargs)
        if made is not None:
            return made
        if self._checked and not any(cls is trusted for trusted in self._types):
            raise CorruptFileError(f"the file creates {describe(cls)}, which is not a trusted type")
        if self.untrusted:
            return _INERT
        try:
            return cls.__new__(cls, *args, **kwargs)
        except (TypeError, ValueError) as error:
            raise CorruptFileError(
                f"the file's data is invalid for {describe(cls)} ({type(error).__name__})"
            ) from error

    def _new_known(self, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Objects brinery creates itself (joblib's array wrapper): ``None`` for others."""
        if _role(cls) is not None:
            raise CorruptFileError(f"the file creates {describe(cls)} directly")
        return None

    # -- state -----------------------------------------------------------------------------

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Placeholder):
            return
        if isinstance(inst, Pending):
            self._finish(inst, self._build_pending(inst, state))
            return
        if self._checked and not isinstance(inst, self._types):
            raise CorruptFileError(
                f"the file sets the state of {describe(inst)}, which is not a trusted type"
            )
        if self.untrusted or isinstance(state, Placeholder):
            self.stack[-1] = _INERT
            return
        set_state(inst, state, checked=self._checked)

    def _build_pending(self, pending: Pending, state: Any) -> Any:
        if pending.done:
            raise CorruptFileError("the file gives an object its state twice")
        if isinstance(state, Placeholder):
            return _INERT
        if isinstance(pending, DtypeToken):
            return safe_numpy.build_dtype(pending, state, self._dtypes)
        assert isinstance(pending, ArrayToken)
        return self._made(safe_numpy.build_array(pending, state, self._dtypes))

    def _made(self, array: np.ndarray) -> np.ndarray:
        """An array built here, before anything holds it: native if the caller asked."""
        return to_native(array) if self._native else array

    def _finish(self, pending: Pending, value: Any) -> None:
        """The object a pending one became replaces it on the stack and in the memo."""
        pending.done = True
        self.stack[-1] = value
        for key in pending.memo_keys:
            if self.memo.get(key) is pending:
                self.memo[key] = value

    def _remember(self, key: int) -> None:
        value = self.stack[-1]
        self.memo[key] = value
        if isinstance(value, Pending):
            value.memo_keys.append(key)

    def load_put(self) -> None:
        line = self.readline()[:-1]
        if not line.isdigit() or len(line) > 20:
            raise CorruptFileError("a PUT opcode without a valid index")
        self._remember(int(line))

    def load_binput(self) -> None:
        self._remember(self.read(1)[0])

    def load_long_binput(self) -> None:
        (key,) = struct.unpack("<I", self.read(4))
        self._remember(key)

    def load_memoize(self) -> None:
        self._remember(len(self.memo))

    # -- containers ------------------------------------------------------------------------

    def load_mark(self) -> None:
        if len(self.metastack) >= MAX_NESTING:
            raise CorruptFileError(f"the pickle nests more than {MAX_NESTING} levels deep")
        super().load_mark()

    def _nested(self, made: Any, items: Any) -> Any:
        """Record how deep tuples and frozensets nest (hashing them recurses in C), and what
        hashing a tuple costs: CPython does not cache a tuple's hash, so a tuple made of the
        same tuple twice, 64 times over, takes 2**64 steps to hash."""
        depth = 1
        cost = len(made) if type(made) is tuple else 1  # (a frozenset caches its hash)
        for item in items:
            if type(item) is tuple or type(item) is frozenset:
                found = self._nesting.get(id(item))
                if found is not None and found[0] is item:
                    depth = max(depth, found[1] + 1)
                    item_cost = found[2]
                else:
                    depth = max(depth, 2)
                    item_cost = len(item) if type(item) is tuple else 1
                if type(made) is tuple:
                    cost = min(cost + item_cost, MAX_HASH_WORK + 1)
        if depth > 1:
            if depth > MAX_TUPLE_NESTING:
                raise CorruptFileError(
                    f"the pickle nests tuples more than {MAX_TUPLE_NESTING} levels deep"
                )
            self._nesting[id(made)] = (made, depth, cost)
        return made

    def _hash_cost(self, key: Any) -> int:
        if type(key) is not tuple:
            return 1
        found = self._nesting.get(id(key))
        return found[2] if found is not None and found[0] is key else len(key)

    def load_tuple(self) -> None:
        items = self.pop_mark()
        self.append(self._nested(tuple(items), items))

    def load_tuple1(self) -> None:
        self.stack[-1] = self._nested((self.stack[-1],), self.stack[-1:])

    def load_tuple2(self) -> None:
        made = (self.stack[-2], self.stack[-1])
        self.stack[-2:] = [self._nested(made, made)]

    def load_tuple3(self) -> None:
        made = (self.stack[-3], self.stack[-2], self.stack[-1])
        self.stack[-3:] = [self._nested(made, made)]

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self._check_hashes(None, items)
        self.append(self._nested(frozenset(items), items))

    def _target(self, kinds: type | tuple[type, ...]) -> Any:
        """The object APPEND/SETITEM/ADDITEMS fill: a container pickle built, a placeholder, or
        a trusted type's instance; never an array, a bytearray or anything else."""
        target = self.stack[-1]
        if isinstance(target, kinds) and type(target) in _FILLABLE:
            return target
        if isinstance(target, Placeholder):
            return target
        if not self._checked or isinstance(target, self._types):
            return None if self.untrusted and self._checked else target
        raise CorruptFileError(f"the pickle fills {describe(target)}, which it never does")

    def load_append(self) -> None:
        value = self.stack.pop()
        target = self._target(list)
        if target is not None:
            target.append(value)

    def load_appends(self) -> None:
        items = self.pop_mark()
        target = self._target(list)
        if target is None:
            return
        if type(target) is list:
            target.extend(items)
            return
        extend = getattr(type(target), "extend", None)
        if extend is not None:
            extend(target, items)
            return
        for item in items:
            type(target).append(target, item)

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        target = self._target(dict)
        if target is not None:
            self._check_hashes(target, (key,))
            target[key] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        _check_pairs(items)
        target = self._target(dict)
        if target is None:
            return
        self._check_hashes(target, items[::2])
        for index in range(0, len(items) - 1, 2):
            target[items[index]] = items[index + 1]

    def load_dict(self) -> None:
        items = self.pop_mark()
        _check_pairs(items)
        made: dict[Any, Any] = {}
        self._check_hashes(None, items[::2])
        for index in range(0, len(items) - 1, 2):
            made[items[index]] = items[index + 1]
        self.append(made)

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self._target(set)
        if target is None:
            return
        self._check_hashes(target, items)
        if type(target) is set:
            target.update(items)
        else:
            for item in items:
                type(target).add(target, item)

    def _check_hashes(self, container: Any, keys: Any) -> None:
        """Refuse many keys with one hash in one container (quadratic insertion time); keys
        of types whose hashes are randomised per process (str, bytes) cannot be aimed.
        ``container`` is ``None`` for one made at once from ``keys`` (DICT, FROZENSET)."""
        counted: Counter[int] | None = None
        for key in keys:
            if type(key) is str or type(key) is bytes:
                continue
            if counted is None:
                counted = self._hash_counter(container)
            self._hash_work += self._hash_cost(key)
            if self._hash_work > MAX_HASH_WORK:
                raise CorruptFileError(
                    f"hashing the pickle's keys would take more than {MAX_HASH_WORK} steps "
                    "(tuples made of the same tuples over and over)"
                )
            try:
                value = hash(key)
            except TypeError:
                continue  # the container refuses it with its own error
            counted[value] += 1
            if counted[value] > MAX_EQUAL_HASHES:
                raise CorruptFileError(
                    f"the pickle puts more than {MAX_EQUAL_HASHES} keys with the same hash into "
                    "one dict or set (a hash-collision attack)"
                )

    def _hash_counter(self, container: Any) -> Counter[int]:
        if container is None:
            return Counter()
        entry = self._hashes.get(id(container))
        if entry is None or entry[0] is not container:
            entry = (container, Counter())
            self._hashes[id(container)] = entry
        return entry[1]

    # -- data the pure-Python unpickler would allocate before reading it -------------------

    def load_bytearray8(self) -> None:
        (size,) = struct.unpack("<Q", self.read(8))
        position = 0 if self._payloads is None else self._payload_position()
        data = bytearray(self.read(size))
        self.append(data)
        if self._payloads is not None:
            self._payloads.note(data, position)

    def load_binbytes(self) -> None:
        self._load_bytes(struct.unpack("<I", self.read(4))[0])

    def load_short_binbytes(self) -> None:
        self._load_bytes(self.read(1)[0])

    def load_binbytes8(self) -> None:
        self._load_bytes(struct.unpack("<Q", self.read(8))[0])

    def _load_bytes(self, size: int) -> None:
        position = 0 if self._payloads is None else self._payload_position()
        data = self.read(size)
        self.append(data)
        if self._payloads is not None:
            # (CPython shares its empty and 1-byte bytes: such a payload may be taken for
            # another one with the same content, which only ever loads read-only)
            self._payloads.note(data, position)

    def _payload_position(self) -> int:
        """Where in the pickle the bytes read next lie: a frame was read whole, ahead."""
        assert self._payloads is not None
        position = self._payloads.pickle_position
        frame = self._unframer.current_frame
        if frame is not None:
            with frame.getbuffer() as whole:
                position -= whole.nbytes - frame.tell()
        return position

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.SHORT_BINBYTES[0]] = load_short_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.PUT[0]] = load_put
    dispatch[pickle.BINPUT[0]] = load_binput
    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput
    dispatch[pickle.MEMOIZE[0]] = load_memoize
    dispatch[pickle.MARK[0]] = load_mark
    dispatch[pickle.TUPLE[0]] = load_tuple
    dispatch[pickle.TUPLE1[0]] = load_tuple1
    dispatch[pickle.TUPLE2[0]] = load_tuple2
    dispatch[pickle.TUPLE3[0]] = load_tuple3
    dispatch[pickle.FROZENSET[0]] = load_frozenset
    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.ADDITEMS[0]] = load_additems


def _role(func: Any) -> str | None:
    """The role of a global brinery knows (by identity: a file cannot forge these objects)."""
    found = _ROLE_BY_OBJECT.get(id(func))
    return found[1] if found is not None and found[0] is func else None


def _check_pairs(items: list[Any]) -> None:
    if len(items) % 2:
        raise CorruptFileError("the pickle gives a dict an odd number of items")


def set_state(inst: Any, state: Any, *, checked: bool) -> None:
    """What ``BUILD`` does for a trusted type's instance: the class's ``__setstate__`` (looked
    up on the type: an instance dict never supplies it), else the ``__dict__`` and slots, whose
    names must be plain strings when the file is not trusted."""
    setstate = getattr(type(inst), "__setstate__", None)
    if setstate is not None:
        setstate(inst, state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for names in (state, slots):
        if names and (type(names) is not dict or (checked and not all(map(_attribute, names)))):
            raise CorruptFileError(f"the file sets attributes from {describe(names)}")
    try:
        if state:
            inst.__dict__.update(state)
        if slots:
            for key, value in slots.items():
                setattr(inst, key, value)
    except (TypeError, ValueError, AttributeError) as error:
        raise CorruptFileError(
            f"the file's state is invalid for {describe(type(inst))} ({type(error).__name__})"
        ) from error


def _attribute(name: Any) -> bool:
    return type(name) is str and not name.startswith("__")


def _known_objects() -> dict[Global, Any]:
    found: dict[Global, Any] = {}
    for module, name in ROLES:
        if module == "brinery.rebuild":
            found[module, name] = getattr(rebuild, name)
            continue
        try:
            with warnings.catch_warnings():  # numpy 2 warns on its numpy 1 module paths
                warnings.simplefilter("ignore", DeprecationWarning)
                found[module, name] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue  # numpy 1's or 2's module paths
    return found


_OBJECT_BY_PAIR = _known_objects()
_ROLE_BY_OBJECT = {id(target): (target, ROLES[pair]) for pair, target in _OBJECT_BY_PAIR.items()}
