"""Memory maps of the file a load reads, for ``load(path, mmap_mode=...)``.

Every array such a load maps is an ``np.memmap`` view of one of at most two maps of the whole
file, both made from the descriptor of the file the load opened, never by opening its name
again: a file renamed, replaced or swapped for a symlink during the load cannot mix two versions
or take ``r+`` writes meant for another.  Arrays that load read-only view a read-only map (they
cannot be made writable again, so they never change the file); the others view a map of the
load's own access (``"r+"``: writes reach the file; ``"c"``: copy on write).

One map for all the arrays, not one each (as ``np.memmap(path)`` per array would make): a file
of 200,000 small arrays would pass the kernel's limit on mappings per process
(``vm.max_map_count``, 65,530 by default) and hold a descriptor per array.  The map lives as
long as any array viewing it.
"""

from __future__ import annotations

import math
import mmap
import os
import sys
import warnings
from typing import IO, Any, Literal, Protocol

import numpy as np

from .errors import CorruptFileError, TruncatedFileError

#: ``mmap_mode`` values and the access of their maps.
_ACCESS = {"r": mmap.ACCESS_READ, "r+": mmap.ACCESS_WRITE, "c": mmap.ACCESS_COPY}
_BYTES = np.dtype(np.uint8)


class FileMapping:
    """The maps of one file being loaded with ``mmap_mode`` (made when first needed).

    ``file``: the file object the load reads, opened ``"r+b"`` for ``mode="r+"`` (a writable map
    needs a descriptor open for writing), ``"rb"`` otherwise.  Its position is never moved: the
    maps are made from its descriptor, which ``mmap`` duplicates, so they outlive it.
    """

    def __init__(self, file: IO[bytes], mode: str) -> None:
        self._file = file
        self.mode = mode
        self._maps: dict[str, mmap.mmap] = {}
        name = getattr(file, "name", None)
        self.filename = os.path.abspath(name) if isinstance(name, str) else None

    @property
    def writes_through(self) -> bool:
        """Whether writes to the arrays reach the file (``"r+"``)."""
        return self.mode == "r+"

    def memory(self, offset: int, size: int, writeable: bool) -> np.memmap:
        """The file's ``size`` bytes at ``offset`` as a 1-d ``uint8`` ``np.memmap``, writable when
        ``writeable`` and the mode allows it."""
        return self.array(offset, _BYTES, (size,), "C", writeable)

    def array(
        self,
        offset: int,
        dtype: np.dtype,
        shape: tuple[int, ...],
        order: Literal["C", "F"],
        writeable: bool,
    ) -> np.memmap:
        """An array of ``dtype``, ``shape`` and ``order`` (sizes checked by the caller) over the
        file's bytes at ``offset``: one ``np.memmap`` made at once, as ``np.memmap`` makes it."""
        mode = self.mode if writeable else "r"
        whole = self._map(mode)
        size = math.prod(shape) * dtype.itemsize
        if offset < 0 or offset + size > len(whole):
            raise TruncatedFileError(
                f"the file holds {len(whole)} bytes, fewer than the {size} bytes at byte "
                f"{offset} that it describes: it was truncated during the load"
            )
        result: np.memmap = np.ndarray.__new__(
            np.memmap, shape, dtype=dtype, buffer=whole, offset=offset, order=order
        )
        _describe(result, whole, self.filename, offset, mode)
        return result

    def holds(self, offset: int, data: bytes | bytearray, writeable: bool) -> bool:
        """Whether the file holds ``data`` at ``offset`` (read through the map it is about to be
        mapped with)."""
        whole = self._map(self.mode if writeable else "r")
        return whole[offset : offset + len(data)] == data

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` into the file at ``offset`` through the writable map (``"r+"``)."""
        assert self.writes_through
        self._map("r+")[offset : offset + len(data)] = data

    def flush(self) -> None:
        """Write what was written through the writable map to the disk (``msync``)."""
        whole = self._maps.get("r+")
        if whole is not None:
            whole.flush()

    def _map(self, mode: str) -> mmap.mmap:
        found = self._maps.get(mode)
        if found is None:
            try:
                found = mmap.mmap(self._file.fileno(), 0, access=_ACCESS[mode])
            except ValueError as error:  # an empty file (mmap cannot map nothing)
                raise TruncatedFileError(f"the file cannot be mapped: {error}") from error
            self._maps[mode] = found
        return found


def as_memmap(array: np.ndarray, memory: np.memmap) -> np.memmap:
    """``array``, a view of ``memory``'s bytes, as an ``np.memmap`` of the same map (its
    ``offset``, ``filename``, ``mode``; ``flush`` reaches the map through ``memory``)."""
    start = _address(array) - _address(memory)
    if array.nbytes and not 0 <= start < memory.nbytes:
        raise CorruptFileError("an array does not lie in the memory mapped for it")
    result: np.memmap = np.ndarray.__new__(
        np.memmap,
        array.shape,
        dtype=array.dtype,
        buffer=memory,
        offset=start if array.nbytes else 0,
        strides=array.strides,
    )
    source: Any = memory
    _describe(result, source._mmap, memory.filename, memory.offset + start, memory.mode)
    if not array.flags.writeable:
        result.flags.writeable = False
    return result


def _describe(
    array: np.memmap, whole: mmap.mmap, filename: str | None, offset: int, mode: str
) -> None:
    """What ``np.memmap`` itself sets on the arrays it makes."""
    mapped: Any = array
    mapped._mmap = whole
    array.filename = filename
    array.offset = offset
    array.mode = mode


def _address(array: np.ndarray) -> int:
    address: int = array.__array_interface__["data"][0]
    return address


class MappedPickle(Protocol):
    """A pickle read from a mapped file, and where its bytes lie there."""

    @property
    def mapping(self) -> FileMapping:
        """The maps of the file."""

    @property
    def pickle_position(self) -> int:
        """How many bytes of the pickle were handed to the unpickler."""

    def locate_pickle_bytes(self, position: int, size: int, writeable: bool) -> int | None:
        """Where in the file the pickle's ``size`` bytes at ``position`` lie (to be mapped
        writable if ``writeable``), or ``None`` when not in one run of the file's bytes."""


class PlainPickle:
    """A pickle that is the file itself from its first byte (joblib's uncompressed files)."""

    def __init__(self, source: Any, mapping: FileMapping) -> None:
        self._source = source  # a Source over the file, which it reads from its start
        self.mapping = mapping

    @property
    def pickle_position(self) -> int:
        position: int = self._source.position
        return position

    def locate_pickle_bytes(self, position: int, size: int, writeable: bool) -> int:
        return position

    def skip(self, size: int) -> None:
        """Pass over bytes that are mapped instead of read."""
        self._source.skip(size)


class MappedPayloads:
    """The bytes and bytearrays an unpickler read from a mapped file, and where each lies: an
    array made from one of them maps those bytes of the file instead of holding a copy.

    Each is kept (alive, so that its ``id`` stays its own) until the load ends.
    """

    def __init__(self, pickle: MappedPickle) -> None:
        self._pickle = pickle
        self._positions: dict[int, tuple[object, int]] = {}

    @property
    def pickle_position(self) -> int:
        return self._pickle.pickle_position

    def note(self, payload: bytes | bytearray, position: int) -> None:
        """``payload`` was read from the pickle's bytes at ``position``."""
        self._positions[id(payload)] = (payload, position)

    def note_copy(self, made: object, payload: object) -> None:
        """``made`` is a copy of ``payload`` (``bytearray(payload)``, pickle protocols 3-4)."""
        found = self._positions.get(id(payload))
        if found is not None and found[0] is payload and type(made) is bytearray:
            self._positions[id(made)] = (made, found[1])

    @property
    def mapping(self) -> FileMapping:
        return self._pickle.mapping

    def locate(self, data: object) -> int | None:
        """Where in the file ``data`` lies, if it is a payload noted here (flagged first when
        it will be mapped writable: a ``bytearray``), else ``None``."""
        found = self._positions.get(id(data))
        if found is None or found[0] is not data:
            return None
        payload: Any = data
        writeable = type(payload) is bytearray
        offset = self._pickle.locate_pickle_bytes(found[1], len(payload), writeable)
        if offset is not None and not self.mapping.holds(offset, payload, writeable):
            raise CorruptFileError(
                f"the {len(payload)} bytes at byte {found[1]} of the pickle differ in the mapped "
                "file from what was read: the file changed during the load"
            )
        return offset

    def memory(self, data: object) -> np.memmap | None:
        """The mapped memory of ``data``: a payload noted here (writable if it is a
        ``bytearray``), or memory already mapped (a buffer record, maybe behind a read-only
        ``memoryview``); ``None`` for anything else."""
        if isinstance(data, memoryview):
            viewed: Any = data.obj
            if type(viewed) is np.memmap and data.readonly and viewed.flags.writeable:
                viewed = viewed.view()
                viewed.flags.writeable = False
            data = viewed
        if type(data) is np.memmap:
            return data
        offset = self.locate(data)
        if offset is None:
            return None
        payload: Any = data
        return self.mapping.memory(offset, len(payload), type(payload) is bytearray)


def warn_not_mapped(reason: str) -> None:
    """``mmap_mode`` cannot apply: say why, then the load goes on in memory (as joblib does)."""
    warn(f"mmap_mode is ignored: {reason}; the arrays are loaded into memory")


def warn(message: str) -> None:
    """A ``UserWarning`` pointing at the caller of ``load``."""
    warnings.warn(message, UserWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside brinery (the caller of ``load``)."""
    level = 2  # (the frame of warn's caller: brinery's)
    frame = sys._getframe(2)
    while frame is not None and _in_brinery(frame.f_globals.get("__name__")):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _in_brinery(module: object) -> bool:
    return isinstance(module, str) and (module == "brinery" or module.startswith("brinery."))
