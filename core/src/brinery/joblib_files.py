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
keep their stored byte order and subclass (joblib itself converts byte order, and loses
``np.matrix`` under numpy 2).

Files from joblib before 0.10 (one file per array next to the pickle, or zlib "ZF" files) are
refused with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .dtype_description import element_count
from .errors import CorruptFileError, TruncatedFileError, UnsupportedVersionError
from .rebuild import check_text
from .safe import MAX_NESTED_PICKLES, ByteAccount, Placeholder, SafeUnpickler
from .safe_globals import (
    JOBLIB_OLD_WRAPPERS,
    JOBLIB_WRAPPER,
    JOBLIB_WRAPPER_MODULES,
    describe,
)
from .safe_numpy import OBJECT_DTYPE, Pending, array_class_ok

PRE_0_10_MESSAGE = (
    "was written by joblib before 0.10, which kept arrays in separate files (or in 'ZF' "
    "z-files): brinery cannot read it; load it with joblib < 0.10 and dump it again"
)
#: The attributes joblib's wrapper has had (0.10 to 1.6).
_WRAPPER_KEYS = frozenset(
    {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
)
#: Array bytes are read (and skipped) this much at a time.
_PIECE = 1 << 20


def starts_a_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle of protocol 2 or later (``PROTO n``)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def starts_a_zfile(head: bytes) -> bool:
    """joblib < 0.10's compressed files: ``ZF`` then the length in hexadecimal."""
    return head[:4] == b"ZF0x"


class JoblibArray(Pending):
    """Stands in for ``NumpyArrayWrapper``: created empty, given its state once, by brinery."""

    __slots__ = ()


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
    ) -> None:
        self._account = account or ByteAccount()
        self._pickle_depth = nesting  # pickles inside pickles (object arrays)
        super().__init__(stream, trusted, account=self._account)
        self._raw = stream

    def find_class(self, module: str, name: str) -> Any:
        if module in JOBLIB_WRAPPER_MODULES:
            if name == JOBLIB_WRAPPER:
                return JoblibArray
            if name in JOBLIB_OLD_WRAPPERS:
                raise UnsupportedVersionError(f"the file {PRE_0_10_MESSAGE}")
        return super().find_class(module, name)

    def _new_known(self, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if cls is JoblibArray:
            if args or kwargs:
                raise CorruptFileError("the file creates a joblib array wrapper with arguments")
            return JoblibArray()
        return super()._new_known(cls, args, kwargs)

    def _call(self, func: Any, args: Any) -> Any:
        if func is JoblibArray:
            raise CorruptFileError("the file calls joblib's array wrapper")
        return super()._call(func, args)

    def _build_pending(self, pending: Pending, state: Any) -> Any:
        if not isinstance(pending, JoblibArray):
            return super()._build_pending(pending, state)
        if pending.done:
            raise CorruptFileError("the file gives a joblib array wrapper its state twice")
        return self._read_array(state)

    def _read_array(self, state: Any) -> Any:
        """The array whose bytes follow its wrapper (read even after an untrusted global: the
        pickle goes on after them)."""
        subclass, dtype, shape, order, aligned = self._checked_wrapper(state)
        if dtype is OBJECT_DTYPE or (not self._checked and dtype.hasobject):
            if self._pickle_depth >= MAX_NESTED_PICKLES:
                raise CorruptFileError(
                    f"the file nests pickles more than {MAX_NESTED_PICKLES} levels deep"
                )
            nested = JoblibUnpickler(
                self._raw, self._trusted, account=self._account, nesting=self._pickle_depth + 1
            )
            nested.untrusted = self.untrusted  # one list for the whole file
            return nested.load()
        if aligned:  # joblib >= 1.2: one byte giving the padding, then the padding
            padding = self._read_exactly(1)[0]
            self._read_exactly(padding)
        count = element_count(shape, dtype.itemsize)
        self._account.claim(count * dtype.itemsize, "array")
        array = np.empty(count, dtype=dtype)
        if count and dtype.itemsize:
            self._fill(array)
            check_text(array.view(np.uint8), dtype)
        array = array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
        if isinstance(subclass, Placeholder):
            return subclass
        if subclass is np.ndarray or issubclass(subclass, np.memmap):
            return array  # a memory map loads as an array: a file never opens another file
        return array.view(subclass)

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
        aligned = "numpy_array_alignment_bytes" in state
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
