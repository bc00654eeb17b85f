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

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .errors import CorruptFileError, SizeLimitError, TruncatedFileError, UnsupportedVersionError
from .inspection import ArrayInfo
from .safe import SafeUnpickler

#: Module paths joblib's wrapper has had (scikit-learn once vendored joblib).
_WRAPPER_MODULES = ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")
#: The wrappers of joblib < 0.10, whose arrays live in other files.
_OLD_WRAPPERS = ("NDArrayWrapper", "ZNDArrayWrapper")

PRE_0_10_MESSAGE = (
    "was written by joblib before 0.10, which kept arrays in separate files (or in 'ZF' "
    "z-files): brinery cannot read it; load it with joblib < 0.10 and dump it again"
)


def starts_a_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle of protocol 2 or later (``PROTO n``)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def starts_a_zfile(head: bytes) -> bool:
    """joblib < 0.10's compressed files: ``ZF`` then the length in hexadecimal."""
    return head[:4] == b"ZF0x"


class JoblibArray:
    """Stands in for ``NumpyArrayWrapper``: the state joblib pickled, nothing else."""

    subclass: Any
    shape: Any
    order: Any
    dtype: Any

    def __setstate__(self, state: Any) -> None:
        if type(state) is not dict:
            raise CorruptFileError(f"a joblib array wrapper has an invalid state: {state!r}")
        self.__dict__.update(state)


class JoblibUnpickler(SafeUnpickler):
    """The checked unpickler, reading joblib's arrays from the stream after their wrapper."""

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(SafeUnpickler.dispatch)

    builtin_types = (JoblibArray,)

    def __init__(
        self,
        stream: Any,
        trusted: frozenset[tuple[str, str]] | None,
        *,
        room: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if trusted is not None:  # the wrapper's subclass is named, never called
            trusted = trusted | {("numpy", "ndarray"), ("numpy", "memmap")}
        super().__init__(stream, trusted)
        self._raw = stream
        self.arrays: list[ArrayInfo] = []  # what was read, for brinery info
        self._room = room  # bytes the file can still hold (uncompressed files)
        self._max_bytes = max_bytes  # what the caller allows the arrays to take

    def find_class(self, module: str, name: str) -> Any:
        if module in _WRAPPER_MODULES:
            if name == "NumpyArrayWrapper":
                return JoblibArray
            if name in _OLD_WRAPPERS:
                raise UnsupportedVersionError(f"the file {PRE_0_10_MESSAGE}")
        return super().find_class(module, name)

    def load_build(self) -> None:
        super().load_build()
        wrapper = self.stack[-1]
        if type(wrapper) is JoblibArray:
            self.stack[-1] = self._read_array(wrapper)

    dispatch[0x62] = load_build  # BUILD

    def _read_array(self, wrapper: JoblibArray) -> Any:
        dtype, shape, order = _checked(wrapper)  # even after an untrusted global: the bytes
        # must be read for the pickle that follows them
        if dtype.hasobject:
            nested = JoblibUnpickler(self._raw, self._trusted, max_bytes=self._max_bytes)
            nested.untrusted = self.untrusted  # one list for the whole file
            return nested.load()
        if "numpy_array_alignment_bytes" in wrapper.__dict__:  # joblib >= 1.2
            padding = self._read_exactly(1)[0]
            self._read_exactly(padding)
        count = math.prod(shape)
        self._claim(count * dtype.itemsize)
        self.arrays.append(ArrayInfo(dtype.str, shape, order, count * dtype.itemsize, False))
        array = np.empty(count, dtype=dtype)
        if count:
            self._fill(array)
        array = array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
        subclass = wrapper.subclass
        if subclass is not np.ndarray and isinstance(subclass, type):
            if issubclass(subclass, np.memmap) or not issubclass(subclass, np.ndarray):
                return array
            return array.view(subclass)
        return array

    def _claim(self, size: int) -> None:
        """Refuse an array the file cannot hold, or the caller does not allow, before
        allocating it."""
        if self._room is not None:
            if size > self._room:
                raise TruncatedFileError(
                    f"the joblib file declares a {size}-byte array where at most {self._room} "
                    "bytes are left: the file is truncated or damaged"
                )
            self._room -= size
        if self._max_bytes is not None:
            if size > self._max_bytes:
                raise SizeLimitError(
                    f"the joblib file's arrays need more than max_bytes={self._max_bytes} more "
                    f"bytes (the next one {size} bytes)"
                )
            self._max_bytes -= size

    def _read_exactly(self, size: int) -> bytes:
        data: bytes = self._raw.read(size)
        if len(data) != size:
            raise TruncatedFileError("the joblib file ends in the middle of an array")
        return data

    def _fill(self, target: np.ndarray) -> None:
        view = memoryview(target.view(np.uint8).data)  # bytes: datetimes cannot be exported
        filled = 0
        while filled < len(view):
            got = self._raw.readinto(view[filled:])
            if not got:
                raise TruncatedFileError("the joblib file ends in the middle of an array")
            filled += got


def _checked(wrapper: JoblibArray) -> tuple[np.dtype, tuple[int, ...], str]:
    state = wrapper.__dict__
    dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order")
    if not isinstance(dtype, np.dtype) or order not in ("C", "F"):
        raise CorruptFileError(f"a joblib array wrapper is invalid: {dtype!r}, {order!r}")
    if type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape):
        raise CorruptFileError(f"a joblib array wrapper has an invalid shape {shape!r}")
    return dtype, shape, order
