"""Loading the files joblib 0.10 to 1.6 writes, without joblib.

A joblib file is one pickle (compressed as a whole, or not), in which each numpy array is a
``joblib.numpy_pickle.NumpyArrayWrapper`` (its subclass, shape, order and dtype); right after
the wrapper's ``BUILD`` opcode, outside any pickle frame, come the array's raw bytes: from joblib
1.2 on, after one byte giving a padding length and that many padding bytes; for object arrays,
a nested pickle of the array instead.  The raw bytes are the elements in the wrapper's order
(``'F'``: Fortran order).

brinery reads them with its checked unpickler (:class:`~brinery.safe.SafeUnpickler`), which
stands its own :class:`JoblibArray` in for the wrapper and reads the bytes straight into the
new array.  The same rules apply as for brinery's files: a default load trusts the file, and
``trusted=`` loads only plain data (the wrapper is plain data; object arrays are not).  Arrays
keep their subclass (joblib loses ``np.matrix`` under numpy 2) and come back in the native
byte order unless ``ensure_native_byte_order`` says otherwise, as joblib's do
(:mod:`brinery.byte_order`; ``True`` also swaps the arrays numpy pickled inside the file).

Files from joblib before 0.10 name their arrays' side files in wrappers of their own, read by
:mod:`brinery.joblib_legacy`; pickles written by Python 2 need ``encoding=``
(:mod:`brinery.python2`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np

from .byte_order import to_native
from .dtype_description import build, element_count
from .errors import CorruptFileError, TruncatedFileError
from .joblib_legacy import map_npy_data, npy_wrapper, read_npy_data, read_zfile_data, z_wrapper
from .mapping import PlainPickle, warn
from .npy_header import NpyHeader, read_header
from .python2 import python2_error
from .rebuild import check_text, checked_dtype
from .safe import MAX_NESTED_PICKLES, ByteAccount, Placeholder, SafeUnpickler, set_state
from .safe_globals import (
    JOBLIB_OLD_WRAPPERS,
    JOBLIB_WRAPPER,
    JOBLIB_WRAPPER_MODULES,
    describe,
)
from .safe_numpy import OBJECT_DTYPE, Pending, array_class_ok
from .side_files import SideFiles

#: The attributes joblib's wrapper has had (0.10 to 1.6).
_WRAPPER_KEYS = frozenset(
    {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
)
#: Array bytes are read (and skipped) this much at a time.
_PIECE = 1 << 20
#: numpy's functions that make arrays from a pickle's arguments (how numpy reduces an array).
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]


class JoblibArray(Pending):
    """Stands in for ``NumpyArrayWrapper``: created empty, given its state once, by brinery."""

    __slots__ = ()


class NpyFileArray(Pending):
    """Stands in for joblib < 0.10's ``NDArrayWrapper``: the array is a ``.npy`` side file."""

    __slots__ = ()


class ZFileArray(Pending):
    """Stands in for joblib < 0.10's ``ZNDArrayWrapper``: the array's bytes are a z-file."""

    __slots__ = ()


#: The stand-ins, by the name of the wrapper they stand in for.
_STAND_INS: dict[str, type[Pending]] = {
    JOBLIB_WRAPPER: JoblibArray,
    "NDArrayWrapper": NpyFileArray,
    "ZNDArrayWrapper": ZFileArray,
}


def _stand_in(value: object) -> bool:
    return any(value is cls for cls in _STAND_INS.values())


class _Reconstructed(Pending):
    """numpy's ``_reconstruct`` in a trusted load asked for native arrays: the array is made
    native once its state is set (before anything else holds it)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        super().__init__()
        self.array = array


class JoblibUnpickler(SafeUnpickler):
    """The checked unpickler, reading joblib's arrays from the stream after their wrapper.

    ``account`` holds what the file can still hold and what ``max_bytes`` still allows: the
    pickle's own bytes and the arrays' are counted against it alike.
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(SafeUnpickler.dispatch)

    def __init__(
        self,
        stream: Any,
        trusted: frozenset[tuple[str, str]] | None,
        *,
        account: ByteAccount | None = None,
        nesting: int = 0,
        mapped: PlainPickle | None = None,
        native: bool = False,
        native_wrapped: bool = False,
        encoding: str = "ASCII",
        side_files: SideFiles | None = None,
    ) -> None:
        self._account = account or ByteAccount()
        self._pickle_depth = nesting  # pickles inside pickles (object arrays)
        super().__init__(
            stream, trusted, account=self._account, mapped=mapped, native=native, encoding=encoding
        )
        self._raw = stream
        self._side_files = side_files or SideFiles(None)  # joblib < 0.10's arrays
        # (native: every array made native; native_wrapped: those joblib wrapped, as joblib)
        self._native_wrapped = native or native_wrapped
        self._mapped_file = mapped  # load(mmap_mode=) of an uncompressed file: arrays mapped
        self._warned_unaligned = False

    def find_class(self, module: str, name: str) -> Any:
        if module in JOBLIB_WRAPPER_MODULES and (
            name == JOBLIB_WRAPPER or name in JOBLIB_OLD_WRAPPERS
        ):
            return _STAND_INS[name]
        return super().find_class(module, name)

    def _decode_string(self, value: bytes) -> Any:
        """A Python 2 ``str`` (``STRING``, ``BINSTRING``): the error says how to load it."""
        try:
            return super()._decode_string(value)
        except UnicodeDecodeError:
            raise python2_error(self.encoding) from None

    def _new_known(self, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _stand_in(cls):
            if args or kwargs:
                raise CorruptFileError("the file creates a joblib array wrapper with arguments")
            return cls()
        return super()._new_known(cls, args, kwargs)

    def _call(self, func: Any, args: Any) -> Any:
        if _stand_in(func):
            raise CorruptFileError("the file calls joblib's array wrapper")
        if self._checked or not self._native or not (func is _RECONSTRUCT or func is _FROMBUFFER):
            return super()._call(func, args)
        made = super()._call(func, args)  # numpy's own array pickle, trusted: made native
        if func is _RECONSTRUCT and type(made) is not Placeholder:
            return _Reconstructed(made)
        return to_native(made) if isinstance(made, np.ndarray) else made

    def _build_pending(self, pending: Pending, state: Any) -> Any:
        if type(pending) not in (JoblibArray, NpyFileArray, ZFileArray, _Reconstructed):
            return super()._build_pending(pending, state)
        if pending.done:
            raise CorruptFileError("the file gives a joblib array wrapper its state twice")
        if isinstance(pending, _Reconstructed):
            set_state(pending.array, state, checked=False)
            return to_native(pending.array)
        if isinstance(pending, JoblibArray):
            return self._read_array(state)
        if isinstance(pending, NpyFileArray):
            return self._read_npy_file(state)
        return self._read_zfile(state)

    def _read_array(self, state: Any) -> Any:
        """The array whose bytes follow its wrapper (read even after an untrusted global: the
        pickle goes on after them)."""
        subclass, dtype, shape, order, aligned = self._checked_wrapper(state)
        if dtype is OBJECT_DTYPE or (not self._checked and dtype.hasobject):
            return self._inner_unpickler(self._raw, self._account).load()
        if aligned:  # joblib >= 1.2: one byte giving the padding, then the padding
            padding = self._read_exactly(1)[0]
            self._read_exactly(padding)
        count = element_count(shape, dtype.itemsize)
        self._account.claim(count * dtype.itemsize, "array")
        if self._mapped_file is not None and state.get("allow_mmap") is not False:
            return self._loaded(self._mapped_array(dtype, shape, order, count), subclass)
        array = np.empty(count, dtype=dtype)
        if count and dtype.itemsize:
            self._fill(array)
            check_text(array.view(np.uint8), dtype)
        array = array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
        return self._loaded(array, subclass)

    def _loaded(self, array: np.ndarray, subclass: Any) -> Any:
        """A joblib array as it loads: native if asked, of its class."""
        if self._native_wrapped:
            array = to_native(array)
        if isinstance(subclass, Placeholder):
            return subclass
        if subclass is np.ndarray or issubclass(subclass, np.memmap):
            return array  # a memory map loads as an array: a file never opens another file
        return array.view(subclass)

    def _inner_unpickler(self, stream: Any, account: ByteAccount) -> JoblibUnpickler:
        """The unpickler of a pickle inside the file (an array of objects)."""
        if self._pickle_depth >= MAX_NESTED_PICKLES:
            raise CorruptFileError(
                f"the file nests pickles more than {MAX_NESTED_PICKLES} levels deep"
            )
        nested = JoblibUnpickler(
            stream,
            self._trusted,
            account=account,
            nesting=self._pickle_depth + 1,
            native=self._native,
            native_wrapped=self._native_wrapped,
            encoding=self.encoding,
            side_files=self._side_files,
        )
        nested.untrusted = self.untrusted  # one list for the whole file
        return nested

    # -- joblib < 0.10: arrays in side files ----------------------------------------------

    def _read_npy_file(self, state: Any) -> Any:
        """An ``NDArrayWrapper``: the array is the ``.npy`` file it names."""
        wrapper = npy_wrapper(state)
        subclass = self._array_class(wrapper.subclass)
        mapping = None  # load(mmap_mode=): np.memmap's mode, as joblib maps side files
        if self._mapped_file is not None and wrapper.allow_mmap:
            mapping = self._mapped_file.mapping.mode
        file, size = self._side_files.open(wrapper.filename, writable=mapping == "r+")
        with file:
            header = read_header(file, size)
            if header.description is None:
                array = self._npy_objects(file, size - header.data_offset, header)
            elif mapping is not None and header.nbytes:
                dtype = build(header.description)
                array = map_npy_data(file, size, header, dtype, mapping)
            else:
                dtype = build(header.description)
                array = read_npy_data(file, size, header, dtype, self._account)
        return self._loaded(array, subclass)

    def _npy_objects(self, file: Any, room: int, header: NpyHeader) -> Any:
        """An array of objects in a ``.npy`` side file: numpy's pickle of it, read by this
        unpickler's kind (checked or not, as the file)."""
        account = ByteAccount(room, self._account.limit)
        array = self._inner_unpickler(file, account).load()
        self._account.claim_elsewhere(room - (account.room or 0), "array of objects")
        if file.read(1):
            raise CorruptFileError("a .npy side file has data after its array's pickle")
        if isinstance(array, Placeholder):
            return array
        if type(array) is not np.ndarray or array.dtype != object or array.shape != header.shape:
            raise CorruptFileError(
                f"a .npy side file of objects holds {describe(array)}, not its array"
            )
        return array

    def _read_zfile(self, state: Any) -> Any:
        """A ``ZNDArrayWrapper``: numpy's reduction of the array, its bytes in a z-file."""
        wrapper = z_wrapper(state)
        subclass = self._array_class(wrapper.subclass)
        dtype = checked_dtype(
            self._dtypes.resolve(wrapper.dtype) if self._checked else wrapper.dtype
        )
        count = element_count(wrapper.shape, dtype.itemsize)
        file, size = self._side_files.open(wrapper.filename)
        with file:
            array = read_zfile_data(
                file, size, dtype, wrapper.shape, count, wrapper.order, self._account
            )
        return self._loaded(array, subclass)

    def _array_class(self, subclass: Any) -> Any:
        """The class a wrapper gives its array: numpy's (or a trusted one) in a safe load, an
        ndarray subclass in a trusted one; a placeholder for an untrusted global."""
        if self._checked:
            known = subclass is np.memmap or array_class_ok(subclass, self._types)
            if not known and not isinstance(subclass, Placeholder):
                raise CorruptFileError(
                    f"a joblib array of class {describe(subclass)}, which is not trusted"
                )
        elif not (isinstance(subclass, type) and issubclass(subclass, np.ndarray)):
            raise CorruptFileError(f"a joblib array of class {describe(subclass)}")
        return subclass

    def _mapped_array(
        self, dtype: np.dtype, shape: tuple[int, ...], order: str, count: int
    ) -> np.memmap:
        """The array's bytes mapped where they lie in the file, passed over (as joblib maps
        them; their text is not checked: that would read them).  joblib before 1.2 did not
        align them: mapped anyway, as joblib does, with a warning."""
        assert self._mapped_file is not None
        offset = self._mapped_file.pickle_position
        self._mapped_file.skip(count * dtype.itemsize)
        if offset % dtype.alignment and not self._warned_unaligned:
            self._warned_unaligned = True
            warn(
                "arrays of this joblib file (written before joblib 1.2) are mapped where they "
                "lie, not aligned for their dtype: numpy handles that, some libraries (BLAS, "
                "PyTorch) may copy or refuse such arrays; dump the object again to align them"
            )
        layout: Literal["C", "F"] = "F" if order == "F" else "C"
        return self._mapped_file.mapping.array(offset, dtype, shape, layout, True)

    def _checked_wrapper(self, state: Any) -> tuple[Any, Any, tuple[int, ...], str, bool]:
        if type(state) is not dict or not all(key in _WRAPPER_KEYS for key in state):
            raise CorruptFileError(
                f"a joblib array wrapper has an invalid state ({describe(state)})"
            )
        subclass, dtype = state.get("subclass"), state.get("dtype")
        shape, order = state.get("shape"), state.get("order")
        if order not in ("C", "F") or type(order) is not str or type(shape) is not tuple:
            raise CorruptFileError("a joblib array wrapper has an invalid shape or order")
        if self._checked:
            if dtype is not OBJECT_DTYPE:
                dtype = self._dtypes.resolve(dtype)
            known = subclass is np.memmap or array_class_ok(subclass, self._types)
            if not known and not isinstance(subclass, Placeholder):
                raise CorruptFileError(
                    f"a joblib array of class {describe(subclass)}, which is not trusted"
                )
        elif not isinstance(dtype, np.dtype) or not (
            isinstance(subclass, type) and issubclass(subclass, np.ndarray)
        ):
            raise CorruptFileError("a joblib array wrapper has an invalid dtype or class")
        # (joblib >= 1.2 writes None where it could not tell its position: no padding then)
        aligned = state.get("numpy_array_alignment_bytes") is not None
        return subclass, dtype, shape, order, aligned

    def _read_exactly(self, size: int) -> bytes:
        self._account.claim(size, "array padding")
        data: bytes = self._raw.read(size)
        if len(data) != size:
            raise TruncatedFileError("the joblib file ends in the middle of an array")
        return data

    def _fill(self, target: np.ndarray) -> None:
        flat: Any = target.view(np.uint8).reshape(-1)  # bytes: datetimes cannot be exported
        view = memoryview(flat)
        try:
            filled = 0
            while filled < len(view):
                got = self._raw.readinto(view[filled : filled + _PIECE])
                if not got:
                    raise TruncatedFileError("the joblib file ends in the middle of an array")
                filled += got
        finally:
            view.release()
