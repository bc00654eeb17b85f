"""The arrays of joblib before 0.10, read from their side files by brinery's code.

joblib 0.9 and earlier wrote a pickle in which each large array is a wrapper naming a file of
its own, next to the pickle (:mod:`brinery.side_files` finds it there, and only there):

* ``NDArrayWrapper`` (``filename``, ``subclass``, from 0.9 ``allow_mmap``): the array is the
  ``.npy`` file ``<pickle>_01.npy``... (:mod:`brinery.npy_header` reads its header as data; an
  array of objects is a pickle there, read by the same unpickler as the file);
* ``ZNDArrayWrapper`` (``filename``, ``init_args``, ``state``), with ``compress=``: the array's
  class, shape, dtype and order are in the pickle, its bytes in the z-file ``..._01.npy.z``.

A z-file (``ZF``) is ``b"ZF"``, the length of the data as ``0x...`` in hexadecimal padded with
spaces to 19 characters (one more space under Python 2 before joblib 0.8.4), then the data
compressed with zlib; a compressed pickle of those versions is itself a z-file, its small arrays
pickled by numpy inside it.  Sizes are checked before anything is allocated: a ``.npy`` file
must hold exactly its array, and a z-file cannot declare more than zlib can expand its data to.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zlib
from typing import Any, Literal

import numpy as np

from .errors import CorruptFileError, TruncatedFileError
from .npy_header import NpyHeader
from .rebuild import check_text
from .safe import ByteAccount
from .safe_globals import describe

ZFILE_MAGIC = b"ZF"
#: joblib's width of the length field: ``len(hex(2 ** 64))``.
ZFILE_LENGTH_WIDTH = 19
ZFILE_HEADER = len(ZFILE_MAGIC) + ZFILE_LENGTH_WIDTH
#: Deflate cannot expand data more than this (258 bytes from 2 bits, plus block overhead).
MAX_DEFLATE_RATIO = 1032
_LENGTH = re.compile(rb"0x([0-9a-fA-F]{1,16})L?")
_NPY_KEYS = frozenset({"filename", "subclass", "allow_mmap"})
_Z_KEYS = frozenset({"filename", "init_args", "state"})
_PIECE = 1 << 20


def read_zfile_header(stream: Any) -> int:
    """The length of the data a z-file declares, its header consumed from ``stream`` (which
    has ``read`` and ``peek``: the zlib data never starts with the space Python 2 added)."""
    head = stream.read(ZFILE_HEADER)
    if len(head) < ZFILE_HEADER:
        raise TruncatedFileError("the data ends inside the header of a joblib z-file ('ZF')")
    match = _LENGTH.fullmatch(head[len(ZFILE_MAGIC) :].rstrip(b" "))
    if head[: len(ZFILE_MAGIC)] != ZFILE_MAGIC or match is None:
        raise CorruptFileError("a joblib z-file ('ZF') whose header does not give its length")
    if stream.peek(1)[:1] == b" ":
        stream.read(1)
    return int(match.group(1), 16)


@dataclasses.dataclass(frozen=True)
class NpyWrapper:
    """An ``NDArrayWrapper``'s state."""

    filename: object
    subclass: object
    allow_mmap: bool


@dataclasses.dataclass(frozen=True)
class ZWrapper:
    """A ``ZNDArrayWrapper``'s state: numpy's reduction of the array, its data elsewhere."""

    filename: object
    subclass: object
    shape: Any  # (checked where it is used)
    dtype: Any
    order: str


def npy_wrapper(state: object) -> NpyWrapper:
    if type(state) is not dict or "filename" not in state or not set(state) <= _NPY_KEYS:
        raise CorruptFileError(f"a joblib NDArrayWrapper has an invalid state ({describe(state)})")
    allow_mmap = state.get("allow_mmap", True)
    if type(allow_mmap) is not bool:
        raise CorruptFileError("a joblib NDArrayWrapper whose allow_mmap is not a bool")
    return NpyWrapper(state["filename"], state.get("subclass"), allow_mmap)


def z_wrapper(state: object) -> ZWrapper:
    if type(state) is not dict or set(state) != _Z_KEYS:
        raise CorruptFileError(f"a joblib ZNDArrayWrapper has an invalid state ({describe(state)})")
    init_args, reduced = state["init_args"], state["state"]
    if (
        type(init_args) is not tuple
        or len(init_args) != 3
        or init_args[1:]
        not in (
            ((0,), b"b"),
            ((0,), "b"),
        )
    ):
        raise CorruptFileError("a joblib ZNDArrayWrapper whose init_args numpy never wrote")
    if type(reduced) is not tuple or len(reduced) != 4 or reduced[0] != 1:
        raise CorruptFileError("a joblib ZNDArrayWrapper whose array state numpy never wrote")
    _, shape, dtype, fortran = reduced
    if type(fortran) not in (bool, int) or fortran not in (0, 1):
        raise CorruptFileError("a joblib ZNDArrayWrapper whose array order is not a bool")
    return ZWrapper(state["filename"], init_args[0], shape, dtype, "F" if fortran else "C")


def read_npy_data(
    file: io.BufferedReader, size: int, header: NpyHeader, dtype: np.dtype, account: ByteAccount
) -> np.ndarray:
    """The array of a ``.npy`` side file whose header was read."""
    check_npy_size(size, header)
    account.claim_elsewhere(header.nbytes, "array")
    array = np.empty(header.count, dtype=dtype)
    _fill(array, file.readinto)
    return _shaped(array, dtype, header.shape, header.order)


def map_npy_data(
    file: io.BufferedReader, size: int, header: NpyHeader, dtype: np.dtype, mode: str
) -> np.memmap:
    """The array of a ``.npy`` side file mapped (``load(mmap_mode=)``, as joblib maps them):
    ``mode`` is ``np.memmap``'s (the file opened for writing for ``"r+"``)."""
    check_npy_size(size, header)
    access: Literal["r", "r+", "c"] = mode  # type: ignore[assignment]  # (checked by load)
    mapped: np.memmap = np.memmap(
        file,
        dtype=dtype,
        mode=access,
        offset=header.data_offset,
        shape=header.shape,
        order="F" if header.order == "F" else "C",
    )
    return mapped


def read_zfile_data(
    file: io.BufferedReader,
    size: int,
    dtype: np.dtype,
    shape: tuple[int, ...],
    count: int,
    order: str,
    account: ByteAccount,
) -> np.ndarray:
    """The array whose bytes a z-file side file holds (``count`` elements of ``dtype``)."""
    nbytes = count * dtype.itemsize
    check_zfile(file, size, nbytes)
    account.claim_elsewhere(nbytes, "array")
    array = np.empty(count, dtype=dtype)
    inflater = zlib.decompressobj()
    with _bytes_of(array) as target:
        filled = 0
        try:
            while not inflater.eof:
                data = inflater.unconsumed_tail or file.read(_PIECE)
                if not data:
                    raise TruncatedFileError("a z-file side file ends inside its zlib data")
                out = inflater.decompress(data, max(nbytes - filled, 1))
                if filled + len(out) > nbytes:
                    raise CorruptFileError("a z-file side file holds more than it declares")
                target[filled : filled + len(out)] = out
                filled += len(out)
        except zlib.error as error:
            raise CorruptFileError(f"a z-file side file is damaged (zlib: {error})") from None
    if filled != nbytes:
        raise TruncatedFileError("a z-file side file holds less than it declares")
    if inflater.unused_data or file.read(1):
        raise CorruptFileError("a z-file side file has data after its zlib data")
    return _shaped(array, dtype, shape, order)


def _bytes_of(array: np.ndarray) -> memoryview:
    """The array's memory as bytes to fill (through uint8: datetimes cannot be exported)."""
    if not array.nbytes:
        return memoryview(bytearray())
    return memoryview(array.view(np.uint8).reshape(-1))  # type: ignore[arg-type]


def check_npy_size(size: int, header: NpyHeader) -> None:
    """A ``.npy`` side file holds exactly its array's bytes after its header."""
    left = size - header.data_offset
    if left != header.nbytes:
        error = TruncatedFileError if left < header.nbytes else CorruptFileError
        raise error(f"a .npy side file holds {left} bytes for an array of {header.nbytes} bytes")


def check_zfile(file: io.BufferedReader, size: int, nbytes: int) -> None:
    """A z-file side file's header, read: it declares ``nbytes``, which its compressed data
    (``size`` bytes the file has in all) can hold."""
    declared = read_zfile_header(file)
    if declared != nbytes:
        raise CorruptFileError(
            f"a z-file side file holds {declared} bytes for an array of {nbytes} bytes"
        )
    compressed = size - file.tell()
    if nbytes > compressed * MAX_DEFLATE_RATIO:
        raise CorruptFileError(
            f"a z-file side file of {compressed} compressed bytes declares {nbytes} bytes, "
            "more than zlib can expand them to"
        )


def _fill(array: np.ndarray, readinto: Any) -> None:
    with _bytes_of(array) as view:
        filled = 0
        while filled < len(view):
            got = readinto(view[filled : filled + _PIECE])
            if not got:
                raise TruncatedFileError("a .npy side file ends in the middle of its array")
            filled += got


def _shaped(array: np.ndarray, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.ndarray:
    if array.nbytes:
        check_text(array.view(np.uint8), dtype)
    return array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
