"""Reading a pickle as data: the globals it names and the arrays it describes, nothing built.

:func:`brinery.untrusted_types` and ``brinery info`` are what a user runs on a file they do not
trust, before deciding to load it, so they must be the safest code in brinery.  :class:`Scanner`
walks the pickle's opcodes like ``pickletools`` does, but bounded: it imports nothing, calls
nothing (numpy included), builds no object of the file's, hashes nothing the file made, and
allocates only small pieces whatever lengths the file declares (long strings and bytes are
skipped, their length kept).  It keeps a symbolic stack and memo, just detailed enough to:

* list every global the file names that a safe load does not know, and every call of numpy's
  array classes (``numpy.memmap(...)``), as a safe load would refuse them;
* describe the arrays: brinery's rebuild calls (taking array records from the stream in order),
  numpy's own array pickles, and joblib's wrappers (whose raw bytes follow them in the file and
  are read and dropped; joblib < 0.10's name side files, whose headers are read:
  :mod:`brinery.joblib_legacy`), with dtypes read as data (:mod:`brinery.dtype_description`);
* say where each array is in the object (:mod:`brinery.array_paths`): lists, objects and the
  results of calls are symbols of their own (:class:`_Object`) for that, opaque as data.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import struct
from collections.abc import Callable
from typing import Any

from .array_paths import UNKNOWN, ArrayPaths
from .dtype_description import (
    DtypeDescription,
    describe_pickled,
    describe_string,
    element_count,
)
from .errors import CorruptFileError, TruncatedFileError
from .format.layout import ARRAY_RECORD, BUFFER_RECORD
from .joblib_legacy import check_npy_size, check_zfile, npy_wrapper, z_wrapper
from .npy_header import read_header
from .safe import MAX_NESTED_PICKLES, MAX_NESTING, ByteAccount
from .safe_globals import (
    ARRAY_CLASS,
    DTYPE,
    FROMBUFFER,
    JOBLIB_OLD_WRAPPERS,
    JOBLIB_WRAPPER,
    JOBLIB_WRAPPER_MODULES,
    MASKED_ARRAY,
    REBUILD_ARRAY,
    REBUILD_IN_BAND,
    RECONSTRUCT,
    RECORD,
    ROLES,
    SUBCLASS_VIEW,
    plain_name,
    python3_name,
)
from .side_files import SideFiles

#: Strings and bytes up to this length are kept (names, dtype codes, small data); longer ones
#: are read in pieces and dropped.
KEPT_BYTES = 256
#: Items of a tuple or dict kept as data (a structured dtype's fields); past that, opaque.
KEPT_ITEMS = 8192
#: Tuples in tuples kept as data (a dtype state's fields); deeper ones are opaque.
KEPT_DEPTH = 8
#: A text opcode's line: longer ones are read through in pieces and dropped.
LINE_PIECE = 1 << 16
#: Frames (protocol 4) up to this size are read whole; pickle writes 64 KiB ones.
FRAME_KEPT = 1 << 20
_PIECE = 1 << 20


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """One array of the file."""

    dtype: str
    shape: tuple[int, ...]
    order: str
    nbytes: int
    in_pickle: bool  # small arrays travel inside the pickle; large ones in records
    path: str = UNKNOWN  # where it is in the object: '["model"].coef_' ("": the object itself)
    shuffle: str | None = None  # its record's filter, "byte", "bit", "delta" (docs/format.md, 5.4)


@dataclasses.dataclass(frozen=True)
class BufferInfo:
    """One out-of-band buffer of the file: a buffer record that pickle's ``NEXT_BUFFER`` takes
    (another library's protocol 5 ``PickleBuffer``, pyarrow's say; numpy's arrays are
    :class:`ArrayInfo`)."""

    nbytes: int
    path: str = UNKNOWN  # where it is in the object, as an array's: its owner's path first


class _Opaque:
    """Anything the scanner does not follow: data it dropped, objects a call would make."""

    __slots__ = ()


OPAQUE = _Opaque()


class _Object(_Opaque):
    """A list, or an object a call or ``NEWOBJ`` would make: opaque as data, but one of its own,
    so that what is put into it has a place (``length``: a list's items so far)."""

    __slots__ = ("length",)

    def __init__(self, length: int = 0) -> None:
        self.length = length


class _Mark:
    __slots__ = ()


class _Blob:
    """A string or bytes too long to keep: its length."""

    __slots__ = ("length",)

    key_kind = "long str or bytes"

    def __init__(self, length: int) -> None:
        self.length = length


class Global:
    """A global the pickle names (module and name), never imported by the scanner."""

    __slots__ = ("module", "name", "role")

    def __init__(self, module: str, name: str, role: str | None) -> None:
        self.module, self.name, self.role = module, name, role

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


class _Dict:
    """A dict being built: its string-keyed items, in order (no hashing of file data)."""

    __slots__ = ("complete", "items")

    key_kind = "dict"

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.complete = True

    def set(self, key: Any, value: Any) -> None:
        if type(key) is str and len(self.items) < KEPT_ITEMS:
            self.items.append((key, value))
        else:
            self.complete = False

    def get(self, key: str) -> Any:
        for name, value in reversed(self.items):
            if name == key:
                return value
        return None


class _Dtype:
    """``numpy.dtype(code, ...)``; its description once its state came."""

    __slots__ = ("built", "code", "description")

    def __init__(self, code: str) -> None:
        self.code = code
        self.description: DtypeDescription | None = None  # None with built: dtype('O')
        self.built = False


class _Pending:
    """numpy's ``_reconstruct`` or joblib's wrapper, before its state."""

    __slots__ = ("built", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.built = False


_OBJECT_DTYPE_STATE = (3, "|", None, None, None, -1, -1, 63)
#: joblib's array wrappers: 0.10's and later, and the side-file ones of joblib < 0.10.
_LEGACY_ROLES = {"NDArrayWrapper": "joblib_npy", "ZNDArrayWrapper": "joblib_z"}
_WRAPPER_ROLES = frozenset({"joblib", *_LEGACY_ROLES.values()})


class Scanner:
    """One pickle, read as data from ``stream`` (``read``/``readline``; a brinery stream's
    reader, whose records it takes in order, or a joblib file's pickle).

    ``joblib``: joblib's wrappers are followed by their arrays' raw bytes.  ``account``
    bounds what the pickle and those bytes may take.  :attr:`untrusted` and :attr:`arrays`
    hold the result.
    """

    def __init__(
        self,
        stream: Any,
        *,
        joblib: bool = False,
        account: ByteAccount | None = None,
        untrusted: dict[str, None] | None = None,
        arrays: list[ArrayInfo] | None = None,
        nesting: int = 0,
        side_files: SideFiles | None = None,
        memo: dict[int, Any] | None = None,
    ) -> None:
        self._stream = stream
        self._nesting = nesting  # pickles inside pickles (joblib's object arrays)
        self._side_files = side_files or SideFiles(None)  # where joblib < 0.10 kept arrays
        self._joblib = joblib
        self._account = account or ByteAccount()
        self.untrusted: dict[str, None] = {} if untrusted is None else untrusted
        self.arrays: list[ArrayInfo] = [] if arrays is None else arrays
        self.buffers: list[BufferInfo] = []
        self._stack: list[Any] = []
        self._push = self._stack.append  # (the current stack's: MARK starts a new one)
        self._metastack: list[list[Any]] = []
        # (a part of an indexed stream read alone brings a memo that starts where it does)
        self._memo: dict[int, Any] = {} if memo is None else memo
        self._proto = 0
        self._depths: dict[int, tuple[tuple[Any, ...], int]] = {}  # tuples in tuples
        self._frame = io.BytesIO()  # the current protocol 4 frame
        self._paths = ArrayPaths()
        self._root: Any = None  # what the pickle returns

    @property
    def memo(self) -> dict[int, Any]:
        """What the pickle memoized, as symbols (globals as :class:`Global`)."""
        return self._memo

    # -- reading ---------------------------------------------------------------------------

    def scan(self, *, paths: bool = True) -> None:
        """Read the pickle to its ``STOP`` (and, unless told not to, say where each array is
        in what it returns)."""
        dispatch = _DISPATCH
        while True:
            code = self._frame.read(1) or self._read_stream(1)
            handler = dispatch.get(code[0])
            if handler is None:
                raise CorruptFileError(f"the pickle data has an unknown opcode {code[0]:#04x}")
            if handler(self):
                break
        if paths:
            self._find_paths()

    def end_part(self, *, last: bool) -> None:
        """A part of an indexed stream was scanned: what it carries leaves the one-item list
        that wraps it (the container links it where it belongs); after the last part, the
        container it carries is the root of every path."""
        carried = self._paths.release(self._root)
        if last:
            if carried:
                self._root = carried[0]
            self._find_paths()

    def _find_paths(self) -> None:
        for index, path in self._paths.paths(self._root):
            info = self.arrays[index]  # (a replace() of each, without dataclasses' generic one)
            self.arrays[index] = ArrayInfo(
                info.dtype, info.shape, info.order, info.nbytes, info.in_pickle, path, info.shuffle
            )
        for index, path in self._paths.buffer_paths(self._root):
            self.buffers[index] = BufferInfo(self.buffers[index].nbytes, path)

    def _read(self, size: int) -> bytes:
        """``size`` bytes: from the current frame (protocol 4's, read whole), then the stream."""
        data: bytes = self._frame.read(size)
        if len(data) == size:
            return data
        return data + self._read_stream(size - len(data))

    def _read_stream(self, size: int) -> bytes:
        self._account.claim(size, "piece of pickle data")
        data: bytes = self._stream.read(size)
        if len(data) != size:
            raise TruncatedFileError(
                f"the pickle data ends {size - len(data)} bytes before what it declares"
            )
        return data

    def _start_frame(self, size: int) -> None:
        """A ``FRAME``: its bytes are read at once (one read per frame, not per opcode); an
        unusually large one is only a hint."""
        if size <= FRAME_KEPT and self._frame.tell() >= len(self._frame.getbuffer()):
            self._frame = io.BytesIO(self._read_stream(size))

    def _skip(self, size: int) -> None:
        left = size
        while left:
            piece = min(left, _PIECE)
            self._read(piece)
            left -= piece

    def _data(self, size: int) -> bytes | _Blob:
        """Declared data: kept when short, else read through and dropped."""
        if size <= KEPT_BYTES:
            return self._read(size)
        self._skip(size)
        return _Blob(size)

    def _length(self, width: int) -> int:
        (size,) = struct.unpack({1: "<B", 4: "<I", 8: "<Q"}[width], self._read(width))
        return int(size)

    def _line(self) -> bytes | None:
        """A text opcode's line without its newline, or ``None`` if it was too long to keep."""
        line = self._readline()
        if line.endswith(b"\n"):
            return line[:-1]
        while not line.endswith(b"\n"):
            if not line:
                raise TruncatedFileError("the pickle data ends inside a text line")
            line = self._readline()
        return None

    def _readline(self) -> bytes:
        line: bytes = self._frame.readline(LINE_PIECE)
        if line.endswith(b"\n") or len(line) == LINE_PIECE:
            return line
        rest: bytes = self._stream.readline(LINE_PIECE - len(line))
        self._account.claim(len(rest), "text line")
        return line + rest

    def _text(self, line: bytes | None, what: str) -> str:
        if line is None or len(line) > KEPT_BYTES:
            raise CorruptFileError(f"the pickle names a {what} that is too long")
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptFileError(f"the pickle names a {what} that is not text") from None

    # -- the stack -------------------------------------------------------------------------

    def _pop(self) -> Any:
        if not self._stack:
            raise CorruptFileError("the pickle data pops an empty stack")
        return self._stack.pop()

    def _top(self) -> Any:
        if not self._stack:
            raise CorruptFileError("the pickle data uses an empty stack")
        return self._stack[-1]

    def _mark(self) -> None:
        if len(self._metastack) >= MAX_NESTING:
            raise CorruptFileError(f"the pickle nests more than {MAX_NESTING} levels deep")
        self._metastack.append(self._stack)
        self._stack = []
        self._push = self._stack.append

    def _pop_mark(self) -> list[Any]:
        if not self._metastack:
            raise CorruptFileError("the pickle data has no MARK where it needs one")
        items = self._stack
        self._stack = self._metastack.pop()
        self._push = self._stack.append
        return items

    # -- globals and calls -----------------------------------------------------------------

    def _global(self, module: str, name: str) -> Any:
        module, name = python3_name(self._proto, module, name)
        if self._joblib and module in JOBLIB_WRAPPER_MODULES:
            if name == JOBLIB_WRAPPER:
                return Global(module, name, "joblib")
            if name in JOBLIB_OLD_WRAPPERS:
                return Global(module, name, _LEGACY_ROLES[name])
        role = ROLES.get((module, name))
        if role is None or not plain_name(name):
            self.untrusted[f"{module}.{name}"] = None
            return OPAQUE
        return Global(module, name, role)

    def _call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, Global):
            return self._made(args)
        if func.role in _WRAPPER_ROLES:
            raise CorruptFileError("the file calls joblib's array wrapper")
        if func.role in (ARRAY_CLASS, RECORD):
            self.untrusted[func.label] = None  # numpy's classes are named, never called
            return OPAQUE
        if type(args) is not tuple:
            return OPAQUE
        if func.role == DTYPE:
            code = args[0] if args else None
            if isinstance(code, Global) and code.role == RECORD:
                return _Dtype("record")
            return _Dtype(code) if type(code) is str else OPAQUE
        listed = len(self.arrays)
        if func.role == REBUILD_ARRAY:
            take = getattr(self._stream, "take_memory", None)
            if take is None:
                raise CorruptFileError("the pickle rebuilds a brinery array outside a stream")
            record = take(ARRAY_RECORD)  # its record comes whatever the arguments
            # (brinery info's records are skipped ones, which say their filter)
            self._array_info(args, in_pickle=False, shuffle=getattr(record, "shuffle", None))
        elif func.role == REBUILD_IN_BAND:
            self._array_info(args, in_pickle=True)
        elif func.role == RECONSTRUCT:
            return _Pending("reconstruct")
        elif func.role == FROMBUFFER:
            if len(args) == 4 and all(map(_known_data, args[1:])):
                self._add_array(_description(args[1]), args[2], args[3], True)
            elif len(args) == 5 and args[3] == "K" and all(map(_known_data, args[1:])):
                axes, shape = args[4], args[2]  # numpy's 'K' order: C order, axes permuted
                if type(axes) is tuple and type(shape) is tuple and sorted(axes) == list(
                    range(len(shape))
                ):
                    self._add_array(_description(args[1]), shape, "C", True)
                    info = self.arrays.pop()
                    final = tuple(shape[axis] for axis in axes)
                    self.arrays.append(dataclasses.replace(info, shape=final, order="K"))
        elif func.label == "_codecs.encode" and len(args) == 2 and type(args[0]) is str:
            return args[0].encode("latin1", "replace")  # bytes at protocols 0-2 (short: kept)
        if len(self.arrays) > listed:
            return self._listed_array(_Object(), listed)
        made = self._made(args)
        if func.role in _STANDS_FOR:  # brinery's subclass views, masked arrays: their array
            for position, step in enumerate(_STANDS_FOR[func.role]):
                if step is not None and position < len(args):
                    self._paths.move(args[position], args, made, step)
        return made

    # -- where arrays are ------------------------------------------------------------------

    def _listed_array(self, symbol: Any, index: int) -> Any:
        """``symbol`` stands for the array listed at ``index``."""
        self._paths.array(symbol, index)
        return symbol

    def _made(self, args: Any) -> _Object:
        """What a call of something else than numpy's and brinery's array functions makes:
        an object of its own, whose arguments are its ``<args>``."""
        made = _Object()
        if _holds(args):
            self._paths.step(args, made, "<args>")
        return made

    def _put(self, pairs: list[Any], target: Any) -> None:
        """``target[key] = value`` for each key and value of ``pairs`` (``[k, v, k, v...]``)."""
        if _holds(target):
            for index in range(0, len(pairs) - 1, 2):
                self._paths.item(pairs[index + 1], target, pairs[index])

    def _put_items(self, items: list[Any], target: Any, first: int = 0) -> None:
        """``items`` become ``target``'s items from position ``first`` on (a list, a tuple)."""
        if _holds(target):
            self._paths.items(items, target, first)

    def _array_info(
        self, args: tuple[Any, ...], *, in_pickle: bool, shuffle: str | None = None
    ) -> None:
        if len(args) != 4 or not all(map(_known_data, args[:3])):
            return  # something the scanner did not follow (an untrusted object, say)
        description = _description(args[0])
        self._add_array(description, args[1], args[2], in_pickle, shuffle)

    def _add_array(
        self,
        description: DtypeDescription | None,
        shape: Any,
        order: Any,
        in_pickle: bool,
        shuffle: str | None = None,
    ) -> int:
        itemsize = 8 if description is None else description.itemsize
        count = element_count(shape, itemsize)
        if order not in ("C", "F"):
            raise CorruptFileError("the file describes an array whose order is neither 'C' nor 'F'")
        dtype = "|O" if description is None else description.dtype_str
        nbytes = count * itemsize
        self.arrays.append(ArrayInfo(dtype, shape, order, nbytes, in_pickle, shuffle=shuffle))
        return nbytes

    # -- state -----------------------------------------------------------------------------

    def _build(self, target: Any, state: Any) -> None:
        if isinstance(target, _Dtype):
            if target.built:
                raise CorruptFileError("the file gives a dtype its state twice")
            target.built = True
            data = _as_data(state)
            if target.code == "O8":
                if data != _OBJECT_DTYPE_STATE:
                    raise CorruptFileError("an object dtype with a state numpy never writes")
                return
            target.description = describe_pickled(target.code, data)
        elif isinstance(target, _Pending):
            if target.built:
                raise CorruptFileError("the file gives an object its state twice")
            target.built = True
            listed = len(self.arrays)
            if target.kind == "reconstruct":
                self._reconstructed(state)
            elif target.kind == "joblib":
                self._joblib_array(state)
            else:
                self._legacy_array(target.kind, state)
            if len(self.arrays) > listed:
                self._listed_array(target, listed)
        elif isinstance(target, _Object):
            self._object_state(state, target)

    def _object_state(self, state: Any, target: _Object) -> None:
        """An object's state: a dict's items are its attributes (so are those of the
        ``(dict, slots dict)`` pair of an object with ``__slots__``); any other is its
        ``<state>``."""
        parts = state if type(state) is tuple and len(state) == 2 else (state,)
        if all(part is None or isinstance(part, _Dict) for part in parts):
            for part in parts:
                if part is not None:
                    self._paths.attributes(part, target, state if len(parts) == 2 else None)
        elif _holds(state):
            self._paths.step(state, target, "<state>")

    def _reconstructed(self, state: Any) -> None:
        """numpy's array state ``(1, shape, dtype, is_fortran, data)``."""
        if type(state) is not tuple or len(state) != 5:
            raise CorruptFileError("the file gives an array a state numpy never writes")
        _, shape, dtype, fortran, _ = state
        if isinstance(dtype, _Dtype) and dtype.built and type(shape) is tuple:
            self._add_array(dtype.description, _as_data(shape), "F" if fortran else "C", True)

    def _joblib_array(self, state: Any) -> None:
        """A joblib wrapper's state; its array's bytes follow in the file."""
        if not isinstance(state, _Dict) or not state.complete:
            raise CorruptFileError("a joblib array wrapper has an invalid state")
        dtype = state.get("dtype")
        if not (isinstance(dtype, _Dtype) and dtype.built):
            raise CorruptFileError("a joblib array wrapper has an invalid dtype")
        shape, order = _as_data(state.get("shape")), state.get("order")
        if dtype.description is None:  # an object array: a pickle of it follows
            if self._nesting >= MAX_NESTED_PICKLES:
                raise CorruptFileError(
                    f"the file nests pickles more than {MAX_NESTED_PICKLES} levels deep"
                )
            self.arrays.append(ArrayInfo("|O", shape if type(shape) is tuple else (), "C", 0, True))
            Scanner(
                self._stream,
                joblib=True,
                account=self._account,
                untrusted=self.untrusted,
                arrays=[],
                nesting=self._nesting + 1,
            ).scan()
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            self._skip(self._read(1)[0])
        self._skip(self._add_array(dtype.description, shape, order, False))

    def _legacy_array(self, kind: str, state: Any) -> None:
        """A joblib < 0.10 wrapper's state: its array is in the side file it names, whose header
        is read (and, for an array of objects, its pickle scanned)."""
        if not isinstance(state, _Dict) or not state.complete:
            raise CorruptFileError("a joblib < 0.10 array wrapper has an invalid state")
        fields = dict(state.items)
        if kind == "joblib_z":
            z = z_wrapper(fields)
            dtype = z.dtype
            if not (isinstance(dtype, _Dtype) and dtype.built and dtype.description is not None):
                raise CorruptFileError("a joblib ZNDArrayWrapper has an invalid dtype")
            nbytes = self._add_array(dtype.description, _as_data(z.shape), z.order, False)
            file, size = self._side_files.open(z.filename)
            with file:
                check_zfile(file, size, nbytes)
            return
        file, size = self._side_files.open(npy_wrapper(fields).filename)
        with file:
            header = read_header(file, size)
            if header.description is not None:
                check_npy_size(size, header)
                self._add_array(header.description, header.shape, header.order, False)
                return
            if self._nesting >= MAX_NESTED_PICKLES:
                raise CorruptFileError(
                    f"the file nests pickles more than {MAX_NESTED_PICKLES} levels deep"
                )
            self.arrays.append(ArrayInfo("|O", header.shape, header.order, 0, False))
            Scanner(
                file,
                joblib=True,
                account=ByteAccount(size - header.data_offset, self._account.limit),
                untrusted=self.untrusted,
                arrays=[],
                nesting=self._nesting + 1,
                side_files=self._side_files,
            ).scan()

    # -- opcodes ---------------------------------------------------------------------------

    def _memo_get(self, key: int) -> None:
        try:
            value = self._memo[key]  # (a part's memo may find what an earlier part made)
        except KeyError:
            raise CorruptFileError("the pickle data refers to a memo entry it never made") from None
        self._push(value)

    def _memo_put(self, key: int) -> None:
        if not 0 <= key < 1 << 32:
            raise CorruptFileError("the pickle data uses a memo index out of range")
        self._memo[key] = self._top()

    def _tuple(self, items: list[Any]) -> Any:
        """A tuple of symbols, kept while small and shallow (a dtype state, a shape)."""
        if len(items) > KEPT_ITEMS:
            return OPAQUE
        depth = 1
        for item in items:
            if type(item) is tuple:
                depth = max(depth, self._depths.get(id(item), (item, 1))[1] + 1)
        if depth > KEPT_DEPTH:
            return OPAQUE
        made = tuple(items)
        if depth > 1:
            self._depths[id(made)] = (made, depth)
        return made


def _known_data(value: Any) -> bool:
    return not isinstance(value, (_Opaque, _Blob, _Pending))


def _holds(value: Any) -> bool:
    """Whether ``value`` is a container of its own, which what is put into it can be found in
    (not a shared symbol: OPAQUE, the empty tuple, None)."""
    return isinstance(value, (_Object, _Dict)) or (type(value) is tuple and len(value) > 0)


#: Arguments that brinery's array wrappers stand for: a subclass view is its base array, a
#: masked array its data (and its mask is its ``.mask``).
_STANDS_FOR: dict[str, tuple[str | None, ...]] = {
    SUBCLASS_VIEW: (None, ""),
    MASKED_ARRAY: (None, "", ".mask"),
}


def _description(value: Any) -> DtypeDescription | None:
    if type(value) is str:
        return describe_string(value)
    if isinstance(value, _Dtype) and value.built:
        if value.description is None:
            raise CorruptFileError("the file describes an array of objects where brinery "
                                   "writes raw memory")
        return value.description
    raise CorruptFileError("the file gives something else than a dtype as an array's dtype")


def _as_data(value: Any, depth: int = 0) -> Any:
    """Symbols as the plain data a dtype state is checked as (dtypes as descriptions); past a
    few levels (a dict may even hold itself), opaque."""
    if depth > KEPT_DEPTH:
        return OPAQUE
    if isinstance(value, _Dtype):
        return value.description if value.built and value.description is not None else value
    if type(value) is tuple:
        return tuple(_as_data(item, depth + 1) for item in value)
    if isinstance(value, _Dict):
        if not value.complete:
            return value
        return {key: _as_data(item, depth + 1) for key, item in value.items}
    return value


# -- the opcode table --------------------------------------------------------------------------

_DISPATCH: dict[int, Callable[[Scanner], bool | None]] = {}  # filled below


_Handler = Callable[[Scanner], bool | None]


def _op(code: bytes) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        _DISPATCH[code[0]] = handler
        return handler

    return register


def _push_const(code: bytes, value: Any) -> None:
    _DISPATCH[code[0]] = lambda scanner: scanner._push(value)


_push_const(b"N", None)
_push_const(b"\x88", True)
_push_const(b"\x89", False)


@_op(b"\x80")  # PROTO
def _proto(s: Scanner) -> None:
    s._proto = s._read(1)[0]
    if s._proto > 5:
        raise CorruptFileError(f"the pickle uses protocol {s._proto}, which does not exist")


@_op(b"\x95")  # FRAME
def _frame(s: Scanner) -> None:
    s._start_frame(struct.unpack("<Q", s._read(8))[0])


@_op(b".")  # STOP
def _stop(s: Scanner) -> bool:
    s._root = s._pop()
    return True


@_op(b"(")
def _mark(s: Scanner) -> None:
    s._mark()


@_op(b"0")  # POP
def _pop(s: Scanner) -> None:
    if s._stack:
        s._stack.pop()
    else:
        s._pop_mark()


@_op(b"1")  # POP_MARK
def _pop_mark(s: Scanner) -> None:
    s._pop_mark()


@_op(b"2")  # DUP
def _dup(s: Scanner) -> None:
    s._push(s._top())


# -- numbers


@_op(b"J")
def _binint(s: Scanner) -> None:
    s._push(struct.unpack("<i", s._read(4))[0])


@_op(b"K")
def _binint1(s: Scanner) -> None:
    s._push(s._read(1)[0])


@_op(b"M")
def _binint2(s: Scanner) -> None:
    s._push(struct.unpack("<H", s._read(2))[0])


@_op(b"\x8a")  # LONG1
def _long1(s: Scanner) -> None:
    s._push(int.from_bytes(s._read(s._length(1)), "little", signed=True))


@_op(b"\x8b")  # LONG4
def _long4(s: Scanner) -> None:
    size = s._length(4)
    data = s._data(size)
    s._push(OPAQUE if isinstance(data, _Blob) else int.from_bytes(data, "little", signed=True))


@_op(b"I")  # INT (text; 00 and 01 are booleans)
def _int(s: Scanner) -> None:
    line = s._line()
    if line in (b"00", b"01"):
        s._push(line == b"01")
    else:
        s._push(_text_int(line))


@_op(b"L")  # LONG (text)
def _long(s: Scanner) -> None:
    line = s._line()
    s._push(_text_int(line[:-1] if line and line.endswith(b"L") else line))


def _text_int(line: bytes | None) -> Any:
    if line is None or len(line) > 40:
        return OPAQUE
    try:
        return int(line)
    except ValueError:
        raise CorruptFileError("the pickle data has an invalid integer") from None


@_op(b"F")  # FLOAT (text)
def _float(s: Scanner) -> None:
    s._line()
    s._push(OPAQUE)


@_op(b"G")  # BINFLOAT
def _binfloat(s: Scanner) -> None:
    s._push(struct.unpack(">d", s._read(8))[0])


# -- strings and bytes


def _decoded(data: bytes | _Blob, encoding: str = "utf-8") -> Any:
    if isinstance(data, _Blob):
        return data
    try:
        return data.decode(encoding, "surrogatepass")
    except UnicodeDecodeError:
        raise CorruptFileError("the pickle data has a string that is not valid text") from None


@_op(b"X")  # BINUNICODE
def _binunicode(s: Scanner) -> None:
    s._push(_decoded(s._data(s._length(4))))


@_op(b"\x8c")  # SHORT_BINUNICODE
def _short_binunicode(s: Scanner) -> None:
    value = _decoded(s._read(s._read(1)[0]))  # at most 255 bytes: kept
    s._push(value)


@_op(b"\x8d")  # BINUNICODE8
def _binunicode8(s: Scanner) -> None:
    s._push(_decoded(s._data(s._length(8))))


@_op(b"V")  # UNICODE (text, raw-unicode-escape)
def _unicode(s: Scanner) -> None:
    line = s._line()
    short = line is not None and len(line) <= KEPT_BYTES
    s._push(_decoded(line, "raw-unicode-escape") if short else OPAQUE)  # type: ignore[arg-type]


@_op(b"S")  # STRING (text, quoted; Python 2 str)
def _string(s: Scanner) -> None:
    line = s._line()
    if line is None or len(line) > KEPT_BYTES:
        s._push(OPAQUE)
        return
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise CorruptFileError("the pickle data has a STRING opcode without quotes")
    try:
        s._push(_decoded(codecs.escape_decode(line[1:-1])[0], "ascii"))
    except (ValueError, CorruptFileError):
        s._push(OPAQUE)


@_op(b"T")  # BINSTRING (Python 2 str)
def _binstring(s: Scanner) -> None:
    data = s._data(s._length(4))
    s._push(OPAQUE if isinstance(data, _Blob) else _py2_str(data))


@_op(b"U")  # SHORT_BINSTRING
def _short_binstring(s: Scanner) -> None:
    s._push(_py2_str(s._read(s._length(1))))


def _py2_str(data: bytes) -> Any:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return OPAQUE


@_op(b"B")  # BINBYTES
def _binbytes(s: Scanner) -> None:
    s._push(s._data(s._length(4)))


@_op(b"C")  # SHORT_BINBYTES
def _short_binbytes(s: Scanner) -> None:
    s._push(s._read(s._length(1)))


@_op(b"\x8e")  # BINBYTES8
def _binbytes8(s: Scanner) -> None:
    s._push(s._data(s._length(8)))


@_op(b"\x96")  # BYTEARRAY8
def _bytearray8(s: Scanner) -> None:
    data = s._data(s._length(8))
    s._push(data if isinstance(data, _Blob) else _Blob(len(data)))


@_op(b"\x97")  # NEXT_BUFFER
def _next_buffer(s: Scanner) -> None:
    take = getattr(s._stream, "take_memory", None)
    if take is None:
        raise CorruptFileError("the pickle refers to out-of-band data that is not there")
    memory = take(BUFFER_RECORD)
    symbol = _Object()  # (opaque as data, but with a place: brinery info lists it)
    s._paths.buffer(symbol, len(s.buffers))
    s.buffers.append(BufferInfo(int(memory.size)))
    s._push(symbol)


@_op(b"\x98")  # READONLY_BUFFER
def _readonly_buffer(s: Scanner) -> None:
    s._top()


# -- containers


@_op(b")")
def _empty_tuple(s: Scanner) -> None:
    s._push(())


def _push_tuple(s: Scanner, items: list[Any]) -> None:
    made = s._tuple(items)
    s._put_items(items, made)
    s._push(made)


@_op(b"t")
def _tuple(s: Scanner) -> None:
    _push_tuple(s, s._pop_mark())  # (popping the mark changes the stack _push appends to)


@_op(b"\x85")
def _tuple1(s: Scanner) -> None:
    _push_tuple(s, [s._pop()])


@_op(b"\x86")
def _tuple2(s: Scanner) -> None:
    second = s._pop()
    _push_tuple(s, [s._pop(), second])


@_op(b"\x87")
def _tuple3(s: Scanner) -> None:
    third = s._pop()
    second = s._pop()
    _push_tuple(s, [s._pop(), second, third])


@_op(b"]")  # EMPTY_LIST
def _empty_list(s: Scanner) -> None:
    s._push(_Object())


@_op(b"l")  # LIST
def _list(s: Scanner) -> None:
    items = s._pop_mark()
    made = _Object(len(items))
    s._put_items(items, made)
    s._push(made)


def _extend(s: Scanner, target: Any, items: list[Any]) -> None:
    if isinstance(target, _Object):  # a list (or an object that appends: its items too)
        s._put_items(items, target, target.length)
        target.length += len(items)


@_op(b"a")  # APPEND
def _append(s: Scanner) -> None:
    value = s._pop()
    _extend(s, s._top(), [value])


@_op(b"e")  # APPENDS
def _appends(s: Scanner) -> None:
    items = s._pop_mark()
    _extend(s, s._top(), items)


@_op(b"}")  # EMPTY_DICT
def _empty_dict(s: Scanner) -> None:
    s._push(_Dict())


@_op(b"d")  # DICT
def _dict(s: Scanner) -> None:
    items = s._pop_mark()
    made = _Dict()
    if len(items) % 2:
        raise CorruptFileError("the pickle gives a dict an odd number of items")
    for index in range(0, len(items), 2):
        made.set(items[index], items[index + 1])
    s._put(items, made)
    s._push(made)


@_op(b"s")  # SETITEM
def _setitem(s: Scanner) -> None:
    value = s._pop()
    key = s._pop()
    target = s._top()
    if isinstance(target, _Dict):
        target.set(key, value)
    s._put([key, value], target)


@_op(b"u")  # SETITEMS
def _setitems(s: Scanner) -> None:
    items = s._pop_mark()
    if len(items) % 2:
        raise CorruptFileError("the pickle gives a dict an odd number of items")
    target = s._top()
    if isinstance(target, _Dict):
        for index in range(0, len(items), 2):
            target.set(items[index], items[index + 1])
    s._put(items, target)


@_op(b"\x8f")  # EMPTY_SET
def _empty_set(s: Scanner) -> None:
    s._push(OPAQUE)


@_op(b"\x90")  # ADDITEMS
def _additems(s: Scanner) -> None:
    s._pop_mark()
    s._top()


@_op(b"\x91")  # FROZENSET
def _frozenset(s: Scanner) -> None:
    s._pop_mark()
    s._push(OPAQUE)


# -- the memo


@_op(b"g")  # GET
def _get(s: Scanner) -> None:
    s._memo_get(_memo_index(s._line()))


@_op(b"h")  # BINGET
def _binget(s: Scanner) -> None:
    try:
        s._push(s._memo[s._read(1)[0]])
    except KeyError:
        raise CorruptFileError("the pickle data refers to a memo entry it never made") from None


@_op(b"j")  # LONG_BINGET
def _long_binget(s: Scanner) -> None:
    s._memo_get(struct.unpack("<I", s._read(4))[0])


@_op(b"p")  # PUT
def _put(s: Scanner) -> None:
    s._memo_put(_memo_index(s._line()))


@_op(b"q")  # BINPUT
def _binput(s: Scanner) -> None:
    s._memo_put(s._read(1)[0])


@_op(b"r")  # LONG_BINPUT
def _long_binput(s: Scanner) -> None:
    s._memo_put(struct.unpack("<I", s._read(4))[0])


@_op(b"\x94")  # MEMOIZE
def _memoize(s: Scanner) -> None:
    if not s._stack:
        raise CorruptFileError("the pickle data memoizes from an empty stack")
    s._memo[len(s._memo)] = s._stack[-1]


def _memo_index(line: bytes | None) -> int:
    if line is None or not line.isdigit() or len(line) > 10:
        raise CorruptFileError("the pickle data has an invalid memo index")
    return int(line)


# -- globals, calls, state


@_op(b"c")  # GLOBAL
def _global(s: Scanner) -> None:
    module = s._text(s._line(), "module")
    name = s._text(s._line(), "global")
    s._push(s._global(module, name))


@_op(b"\x93")  # STACK_GLOBAL
def _stack_global(s: Scanner) -> None:
    name = s._pop()
    module = s._pop()
    if type(module) is not str or type(name) is not str:
        raise CorruptFileError("the pickle names a global with something else than strings")
    s._push(s._global(module, name))


@_op(b"i")  # INST
def _inst(s: Scanner) -> None:
    module = s._text(s._line(), "module")
    name = s._text(s._line(), "global")
    func = s._global(module, name)
    made = s._call(func, tuple(s._pop_mark()))
    s._push(made)


@_op(b"o")  # OBJ
def _obj(s: Scanner) -> None:
    items = s._pop_mark()
    if not items:
        raise CorruptFileError("the pickle data has an OBJ opcode without a class")
    made = s._call(items[0], tuple(items[1:]))
    s._push(made)


@_op(b"R")  # REDUCE
def _reduce(s: Scanner) -> None:
    args = s._pop()
    func = s._pop()
    s._push(s._call(func, args))


@_op(b"\x81")  # NEWOBJ
def _newobj(s: Scanner) -> None:
    args = s._pop()
    s._push(_new(s, s._pop(), args))


@_op(b"\x92")  # NEWOBJ_EX
def _newobj_ex(s: Scanner) -> None:
    s._pop()
    args = s._pop()
    s._push(_new(s, s._pop(), args))


def _new(s: Scanner, cls: Any, args: Any) -> Any:
    """``cls.__new__(cls, *args)``: its arguments stand for it (a tuple subclass's items: a
    named tuple's fields are its ``[0]``, ``[1]``...)."""
    if isinstance(cls, Global) and cls.role in _WRAPPER_ROLES:
        return _Pending(cls.role)
    made = _Object()
    if _holds(args):
        s._paths.step(args, made, "")
    return made


@_op(b"b")  # BUILD
def _build(s: Scanner) -> None:
    state = s._pop()
    s._build(s._top(), state)


@_op(b"\x82")  # EXT1
def _ext1(s: Scanner) -> None:
    _extension(s, s._read(1)[0])


@_op(b"\x83")  # EXT2
def _ext2(s: Scanner) -> None:
    _extension(s, struct.unpack("<H", s._read(2))[0])


@_op(b"\x84")  # EXT4
def _ext4(s: Scanner) -> None:
    _extension(s, struct.unpack("<i", s._read(4))[0])


def _extension(s: Scanner, code: int) -> None:
    s.untrusted[f"copyreg extension code {code}"] = None
    s._push(OPAQUE)


@_op(b"P")  # PERSID
def _persid(s: Scanner) -> None:
    raise CorruptFileError("the pickle data refers to persistent objects (never in brinery's)")


_DISPATCH[b"Q"[0]] = _persid  # BINPERSID

