"""Running the unpickler over what was read: brinery's streams, and joblib's (or plain) pickles.

Three machines, one set of rules for what their failures mean:

* brinery's stream, trusted (the default): the C unpickler, fastest.  A failure is the file's
  damage if the record checksum says so, or a pickle-level complaint; any other exception is
  the object's own (a class that cannot be imported, a ``__setstate__`` that raises) and comes
  out as it is.
* brinery's stream with ``trusted=`` (or listing globals): :class:`~brinery.safe.SafeUnpickler`.
* joblib's files and plain pickles: :class:`~brinery.joblib_files.JoblibUnpickler`, checked or
  not as the caller asked.

On the checked machines, and on pickles that carry no checksum, every failure is reported as
:class:`CorruptFileError` with the original exception chained: nothing else can tell damage from
a hostile or broken object there.
"""

from __future__ import annotations

import dataclasses
import enum
import pickle
from collections.abc import Callable
from typing import Any

from . import rebuild
from .errors import BrineryError, CorruptFileError, SizeLimitError, UntrustedTypesError
from .format.layout import BUFFER_RECORD
from .format.reader import StreamReader
from .inspection import Inspection
from .joblib_files import JoblibUnpickler
from .safe import ByteAccount, SafeUnpickler
from .scan import Scanner


class Mode(enum.Enum):
    """What reading a file is for."""

    LOAD = "load"  # build the object
    MAP = "map"  # build it, the array records of an uncompressed file mapped (load(mmap_mode=))
    LIST = "list"  # list the globals the pickle names (untrusted_types): read as data
    INSPECT = "inspect"  # describe the file (brinery info): read as data, payloads skipped


@dataclasses.dataclass(frozen=True)
class Reading:
    """How to load: threads, the size limit, which unpickler (see :mod:`brinery.safe`), and
    what for."""

    threads: int
    max_bytes: int | None
    #: The caller's trusted globals for a safe load (brinery's own are always known); None:
    #: the file is trusted (the C unpickler).
    trusted: frozenset[tuple[str, str]] | None
    mode: Mode = Mode.LOAD
    mmap_access: str = "r"  # Mode.MAP's: np.memmap's mode ("r", "r+" or "c")
    storage_options: dict[str, Any] | None = None  # for a URL, fsspec's (endpoint, credentials)

    @property
    def as_data(self) -> bool:
        """Whether the pickle is only read as data (nothing imported, called or built)."""
        return self.mode is Mode.LIST or self.mode is Mode.INSPECT


def unpickle_stream(stream: StreamReader, reading: Reading) -> Any:
    """The object in a brinery stream (or, listing or inspecting, what the pickle names)."""
    if reading.as_data:
        scanner = Scanner(stream)
        _scan(scanner, stream.check_current_record)
        stream.finish(unused_memory=True)
        if reading.mode is Mode.LIST:
            return list(scanner.untrusted)
        major, minor, checksums = stream.header
        return Inspection(
            format=f"brinery {major}.{minor}",
            checksums=checksums,
            stream_bytes=stream.offset,
            arrays=scanner.arrays,
            imports=list(scanner.untrusted),
        )
    token = rebuild.CURRENT_STREAM.set(stream)
    try:
        if reading.trusted is not None:
            unpickler = SafeUnpickler(stream, reading.trusted, _OutOfBandBuffers(stream))
            value = _load_checked(unpickler, stream.check_current_record)
            _refuse_untrusted(unpickler)
        else:
            value = _load_trusted(stream)
        stream.finish()
        return value
    finally:
        rebuild.CURRENT_STREAM.reset(token)


def unpickle_joblib(stream: Any, reading: Reading, room: int | None = None) -> Any:
    """The object in a joblib file's pickle (:mod:`brinery.joblib_files`), or a plain pickle."""
    account = ByteAccount(room, reading.max_bytes)
    if reading.as_data:
        scanner = Scanner(stream, joblib=True, account=account)
        _scan(scanner, lambda: None)
        if reading.mode is Mode.LIST:
            return list(scanner.untrusted)
        return Inspection(
            "joblib file (or plain pickle)", arrays=scanner.arrays, imports=list(scanner.untrusted)
        )
    unpickler = JoblibUnpickler(stream, reading.trusted, account=account)
    value = _load_checked(unpickler, lambda: None)
    _refuse_untrusted(unpickler)
    return value


def _scan(scanner: Scanner, check_record: Callable[[], None]) -> None:
    try:
        scanner.scan()
    except BrineryError:
        raise
    except Exception as error:  # a flaw of the scanner's own: still the file's doing
        check_record()
        raise CorruptFileError(f"the pickle data is invalid ({type(error).__name__})") from error


def _load_trusted(stream: StreamReader) -> Any:
    unpickler = pickle.Unpickler(stream, buffers=_OutOfBandBuffers(stream))
    try:
        return unpickler.load()
    except BrineryError:
        raise
    except Exception as error:
        stream.check_current_record()  # a checksummed stream says whether it was damage
        if isinstance(error, (pickle.UnpicklingError, EOFError)):
            raise CorruptFileError(f"the pickle data is corrupt: {error}") from error
        raise


def _load_checked(unpickler: SafeUnpickler, check_record: Callable[[], None]) -> Any:
    try:
        return unpickler.load()
    except BrineryError:
        raise
    except MemoryError as error:
        raise SizeLimitError(
            "the file's objects need more memory than this process may take (a safe load "
            "builds them in Python: load in a process with more memory, or with max_bytes)"
        ) from error
    except Exception as error:
        check_record()
        raise CorruptFileError(f"the pickle data is invalid: {_explained(error)}") from error


def _explained(error: Exception) -> str:
    """An exception in a message, without asking file-made objects for their ``repr`` (a
    KeyError's text is its key's)."""
    if isinstance(error, (KeyError, RecursionError)):
        return type(error).__name__
    text = str(error)
    return f"{type(error).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


def _refuse_untrusted(unpickler: SafeUnpickler) -> None:
    if unpickler.untrusted:
        raise UntrustedTypesError(list(unpickler.untrusted))


class _OutOfBandBuffers:
    """The ``buffers=`` iterator: hands ``NEXT_BUFFER`` the stream's buffer records in order."""

    def __init__(self, stream: StreamReader) -> None:
        self._stream = stream

    def __iter__(self) -> _OutOfBandBuffers:
        return self

    def __next__(self) -> Any:
        return self._stream.take_memory(BUFFER_RECORD)
