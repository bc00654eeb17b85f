"""The pickler: the C ``pickle.Pickler``, with arrays' memory written around it as records.

``reducer_override`` meets every ndarray before numpy's own reduction (which would copy non-
contiguous arrays and subclasses through ``tobytes``).  A large array's memory is written to the
stream right there, as an aligned raw-memory record, straight from the array (in blocks, for a
non-contiguous array); the pickle only records how to rebuild it (:mod:`brinery.rebuild`).  Small
arrays travel inside the pickle.  Any other out-of-band ``PickleBuffer`` (protocol 5) becomes a
raw-memory record the same way (pyarrow's buffers: its arrays and tables, pandas' arrow-backed
columns), and a pyarrow buffer over the very memory of one already written refers to it.
"""

from __future__ import annotations

import contextlib
import contextvars
import pickle
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from . import rebuild
from .filter_choice import filter_for
from .format.layout import ARRAY_RECORD, BUFFER_RECORD
from .format.writer import StreamWriter

#: Arrays and buffers smaller than this travel inside the pickle: for them a record of their own
#: costs more than the copy it saves (objects full of small arrays load as fast as with pickle).
OUT_OF_BAND_MIN_BYTES = 64 * 1024
#: Non-contiguous arrays are copied to contiguous memory this much at a time.
BLOCK_BYTES = 4 << 20
#: dtype kinds whose memory is self-contained (no object pointers, no out-of-line storage).
_PLAIN_KINDS = frozenset("biufcmMSUV")

Reduction = tuple[Any, ...]


class _Dump:
    """What one dump remembers besides the pickler's memo, and its buffer callback."""

    def __init__(self, stream: StreamWriter, protocol: int, shuffle: str | None) -> None:
        self.stream = stream
        self.protocol = protocol
        self.shuffle = shuffle  # "byte", "bit", "delta", "auto" or None: array records' filters
        self.dtype_tokens: dict[int, tuple[np.dtype, np.dtype | str]] = {}
        # dtypes (by id, kept alive by dtype_tokens) whose small C-contiguous arrays have gone
        # in band as a PickleBuffer before: their next ones take the fast path.
        self.in_band_tokens: dict[int, np.dtype | str] = {}
        self.in_band_buffer: pickle.PickleBuffer | None = None  # the last one handed out
        # pyarrow's buffer classes and py_buffer, if pyarrow is imported (no pyarrow object
        # exists otherwise: brinery never imports it), and the buffers met, by their memory.
        self.arrow = _arrow_buffers()
        self.arrow_buffers: dict[tuple[int, int, bool], Any] = {}

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        """The buffer callback: a large out-of-band buffer becomes a record; small ones stay
        in the pickle."""
        if buffer is self.in_band_buffer:
            return True  # a small array's, from reduce
        memory = buffer.raw()
        if memory.nbytes < OUT_OF_BAND_MIN_BYTES:
            return True
        self.stream.write_memory(BUFFER_RECORD, memory.nbytes, [memory])
        return False

    def reduce(self, obj: Any) -> Any:
        if type(obj) is np.ndarray:
            # The fast path: objects full of small arrays meet this tens of thousands of times.
            token = self.in_band_tokens.get(id(obj.dtype))
            if token is not None and obj.nbytes < OUT_OF_BAND_MIN_BYTES and obj.flags.c_contiguous:
                try:
                    buffer = pickle.PickleBuffer(obj)  # type: ignore[arg-type]
                except (ValueError, TypeError, BufferError):
                    pass  # a dtype numpy cannot export (datetimes): the thorough path copies
                else:
                    self.in_band_buffer = buffer
                    return (rebuild.array_in_band, (token, obj.shape, "C", buffer))
        if isinstance(obj, np.ndarray):
            return self._reduce_array(obj)
        if type(obj) in self.arrow.types:
            return self._reduce_arrow_buffer(obj)
        return NotImplemented

    def _reduce_arrow_buffer(self, buffer: Any) -> Any:
        """A pyarrow ``Buffer`` over exactly the memory of one met before: rebuilt from that
        one, so the memory is written (and loaded) once.

        pyarrow pickles an array's buffers whole, however sliced the array: the chunks that
        ``Table.to_batches()``, ``slice`` or pandas' row selections make each hold the same
        parent buffers, in new ``Buffer`` objects that the pickler's memo cannot recognise, so
        a table cut into 100 batches would be written 100 times over.  The reduction is
        ``pyarrow.py_buffer(first)``: a zero-copy view, sharing the memory as the dumped
        chunks did, made by the public function pyarrow's own reduction calls.
        """
        if not getattr(buffer, "is_cpu", True):  # (older pyarrow: device memory is CudaBuffer)
            return NotImplemented  # device memory: pyarrow's own reduction says why it cannot
        first = self.arrow_buffers.setdefault(
            (buffer.address, buffer.size, buffer.is_mutable), buffer
        )
        if first is buffer:
            return NotImplemented  # pyarrow's own: a PickleBuffer, a record when large
        return (self.arrow.py_buffer, (first,))

    def _reduce_array(self, array: np.ndarray) -> Any:
        if not _has_plain_memory(array.dtype):
            return NotImplemented  # object arrays and the like: numpy's own pickling
        cls = type(array)
        if cls is np.ndarray or isinstance(array, np.memmap):
            return self._reduce_plain(array)
        if isinstance(array, np.ma.MaskedArray):
            return (
                rebuild.masked_array,
                (
                    cls,
                    np.ma.getdata(array),
                    np.ma.getmask(array),
                    getattr(array, "_fill_value", None),  # None: the default, left unset
                    array.hardmask,
                ),
            )
        if _uses_ndarray_reduction(cls):
            state = getattr(array, "__dict__", None) or None
            return (rebuild.subclass_view, (cls, array.view(np.ndarray), state))
        return NotImplemented  # a subclass with its own reduction: respect it

    def _reduce_plain(self, array: np.ndarray) -> Reduction:
        order = memory_order(array)
        dtype = self._dtype_token(array.dtype)
        if array.nbytes < OUT_OF_BAND_MIN_BYTES:
            # The pickler keeps what it pickles alive until the dump ends (its memo), so the
            # data goes in as a PickleBuffer over the array's own memory, not as a copy; it
            # loads as a bytearray (writable) or bytes (read-only).
            in_band = self._in_band(array, order)
            if self.protocol >= 5 and order == "C" and _has_plain_memory(array.dtype):
                self.in_band_tokens[id(array.dtype)] = dtype
            return (rebuild.array_in_band, (dtype, array.shape, order, in_band))
        self.stream.write_memory(
            ARRAY_RECORD,
            array.nbytes,
            memory_blocks(array, order),
            filter_for(array, order, self.shuffle),
        )
        return (rebuild.array, (dtype, array.shape, order, bool(array.flags.writeable)))

    def _in_band(self, array: np.ndarray, order: str) -> Any:
        if self.protocol >= 5:
            contiguous = array.flags.c_contiguous if order == "C" else array.flags.f_contiguous
            if contiguous:
                # Not every dtype can be exported (datetimes, inside structures too).
                with contextlib.suppress(ValueError, TypeError, BufferError):
                    return pickle.PickleBuffer(array)  # type: ignore[arg-type]
            # A byte array of the elements (a copy when not contiguous), never a memoryview:
            # a PickleBuffer over a temporary memoryview is freed out of order by a cyclic
            # collection on CPython 3.11 (a crash).  Read-only arrays load read-only.
            memory = contiguous_array(array, order)
            if not array.flags.writeable:
                memory = memory.view()
                memory.flags.writeable = False
            return pickle.PickleBuffer(memory)  # type: ignore[arg-type]
        memory = contiguous_array(array, order)  # no PickleBuffer before protocol 5
        return bytearray(memory) if array.flags.writeable else memory.tobytes()

    def _dtype_token(self, dtype: np.dtype) -> np.dtype | str:
        """A dtype's string form where it says everything (``'<f8'``), else the dtype itself."""
        # Keyed by identity: dtypes that differ in metadata or alignment compare (and hash)
        # equal.  The cache holds the dtype, so its id is not reused while it is cached.
        cached = self.dtype_tokens.get(id(dtype))
        if cached is not None:
            return cached[1]
        token: np.dtype | str = dtype
        simple = dtype.fields is None and dtype.subdtype is None and dtype.metadata is None
        if simple and np.dtype(dtype.str) == dtype:
            token = dtype.str
        self.dtype_tokens[id(dtype)] = (dtype, token)
        return token


#: The dump in progress in this context, for :class:`_Reducer`.
_DUMPING: contextvars.ContextVar[_Dump] = contextvars.ContextVar("brinery_dumping")


class _Reducer:
    """The pickler's ``reducer_override``: an object on the class (so the pickler does not keep
    a bound method of itself), handing every object to the dump in progress."""

    def __call__(self, obj: Any) -> Any:
        return _DUMPING.get().reduce(obj)


class BrineryPickler(pickle.Pickler):
    """``pickle.Pickler`` writing to a :class:`StreamWriter`, arrays' memory out of band.

    No reference cycle: the C pickler keeps its ``reducer_override`` and ``buffer_callback``,
    and a bound method of itself there would keep it, its memo (the dumped value) and the
    target file alive until a cyclic collection.  So ``reducer_override`` is a callable stored
    on the class (:class:`_Reducer`), which finds the dump in progress in a context variable,
    and the buffer callback is that dump's :class:`_Dump`, which knows nothing of the pickler.

    ``shuffle`` (``"byte"``, ``"bit"``, ``"delta"``, ``"auto"`` or ``None``) filters the array
    records of numbers (:func:`~brinery.filter_choice.filter_for`; the stream must be one that
    may hold them).
    """

    reducer_override = _Reducer()  # (not bound: see above)

    def __init__(self, stream: StreamWriter, protocol: int, shuffle: str | None = None) -> None:
        self._dump = _Dump(stream, protocol, shuffle)
        callback = self._dump if protocol >= 5 else None
        super().__init__(stream, protocol=protocol, buffer_callback=callback)

    def dump(self, obj: Any) -> None:
        token = _DUMPING.set(self._dump)
        try:
            super().dump(obj)
        finally:
            _DUMPING.reset(token)


class _ArrowBuffers(NamedTuple):
    types: tuple[type, ...]  # pyarrow.Buffer and its subclass ResizableBuffer
    py_buffer: Any


def _arrow_buffers() -> _ArrowBuffers:
    """pyarrow's buffer classes if pyarrow is imported, else none.

    Looked up, never imported: a pyarrow object exists only once pyarrow is imported, and
    ``import brinery`` and the dumps of everything else must not pay for pyarrow's import.
    Exact classes only: a subclass of another library may reduce in its own way.
    """
    lib = sys.modules.get("pyarrow.lib")
    found = tuple(
        cls
        for cls in (getattr(lib, "Buffer", None), getattr(lib, "ResizableBuffer", None))
        if isinstance(cls, type)
    )
    py_buffer = getattr(lib, "py_buffer", None)
    return _ArrowBuffers(found if py_buffer is not None else (), py_buffer)


def _has_plain_memory(dtype: np.dtype) -> bool:
    return dtype.kind in _PLAIN_KINDS and not dtype.hasobject and type(dtype).__module__.startswith(
        "numpy"
    )


def _uses_ndarray_reduction(cls: type) -> bool:
    """Whether ``cls`` pickles as ndarray does (so its data plus ``__dict__`` is all of it)."""
    return all(
        getattr(cls, name) is getattr(np.ndarray, name)
        for name in ("__reduce__", "__reduce_ex__", "__setstate__")
    )


def memory_order(array: np.ndarray) -> str:
    """'C' or 'F': the order the loaded array will have, the array's own where it has one.

    A broadcast array (a stride of 0 along an axis longer than 1) has no order of its own: its
    increasing strides (``(0, 8)``) would read as Fortran order, but it loads in C order, as
    pickle loads it.
    """
    if array.flags.c_contiguous:
        return "C"
    if array.flags.f_contiguous:
        return "F"
    strides = [abs(stride) for stride, n in zip(array.strides, array.shape, strict=True) if n > 1]
    if 0 in strides:
        return "C"
    return "F" if strides and strides == sorted(strides) and strides[0] < strides[-1] else "C"


def contiguous_array(array: np.ndarray, order: str) -> np.ndarray:
    """The array's bytes in ``order`` as a 1-d ``uint8`` array (a copy only if not contiguous
    that way)."""
    flat = np.ravel(array, order=order)  # type: ignore[call-overload]
    if not flat.dtype.itemsize:
        return np.empty(0, dtype=np.uint8)
    result: np.ndarray = flat.view(np.uint8)
    return result


def contiguous_bytes(array: np.ndarray, order: str) -> memoryview:
    """The array's bytes in ``order`` as a byte view (a copy only if not contiguous that way)."""
    return memoryview(contiguous_array(array, order))  # type: ignore[arg-type]


def memory_blocks(array: np.ndarray, order: str) -> Iterator[memoryview]:
    """The array's bytes in ``order``, as views of its memory or as copies of bounded size."""
    contiguous = array.flags.c_contiguous if order == "C" else array.flags.f_contiguous
    if contiguous or array.nbytes <= BLOCK_BYTES or array.ndim == 0:
        yield contiguous_bytes(array, order)
        return
    axis = 0 if order == "C" else array.ndim - 1
    length = array.shape[axis]
    step = max(1, BLOCK_BYTES // max(1, array.nbytes // length))
    for start in range(0, length, step):
        block = array[start : start + step] if axis == 0 else array[..., start : start + step]
        if step == 1 and block.nbytes > BLOCK_BYTES:
            # One slice is still too big: go one axis deeper.
            yield from memory_blocks(block[0] if axis == 0 else block[..., 0], order)
        else:
            yield contiguous_bytes(block, order)
