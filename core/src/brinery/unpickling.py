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
import pickle
from collections.abc import Callable
from typing import Any

from . import rebuild
from .errors import BrineryError, CorruptFileError, UntrustedTypesError
from .format.layout import BUFFER_RECORD
from .format.reader import StreamReader
from .inspection import Inspection, Inspector
from .joblib_files import JoblibUnpickler
from .safe import SafeUnpickler


@dataclasses.dataclass(frozen=True)
class Reading:
    """How to load: threads, the size limit, and which unpickler (see :mod:`brinery.safe`)."""

    threads: int
    max_bytes: int | None
    trusted: frozenset[tuple[str, str]] | None  # None: the file is trusted (the C unpickler)
    listing: bool = False  # only list the globals (untrusted_types)
    mmap_mode: str | None = None  # map array records of an uncompressed file (load(mmap_mode=))
    inspect: bool = False  # describe the file instead of loading it (brinery info)
    storage_options: dict[str, Any] | None = None  # for a URL, fsspec's (endpoint, credentials)



def unpickle_stream(stream: StreamReader, reading: Reading) -> Any:
    """The object in a brinery stream."""
    token = rebuild.CURRENT_STREAM.set(stream)
    try:
        if reading.inspect:
            inspector = Inspector(stream, _OutOfBandBuffers(stream))
            _load_checked(inspector, stream.check_current_record)
            stream.finish(unused_memory=True)
            return inspector.inspection()
        if reading.trusted is not None or reading.listing:
            unpickler = SafeUnpickler(stream, reading.trusted, _OutOfBandBuffers(stream))
            value = _load_checked(unpickler, stream.check_current_record)
            if reading.listing:
                stream.finish(unused_memory=True)
                return list(unpickler.untrusted)
            _refuse_untrusted(unpickler)
        else:
            value = _load_trusted(stream)
        stream.finish()
        return value
    finally:
        rebuild.CURRENT_STREAM.reset(token)


def unpickle_joblib(stream: Any, reading: Reading, room: int | None = None) -> Any:
    """The object in a joblib file's pickle (:mod:`brinery.joblib_files`), or a plain pickle."""
    unpickler = JoblibUnpickler(stream, reading.trusted, room=room, max_bytes=reading.max_bytes)
    value = _load_checked(unpickler, lambda: None)
    if reading.inspect:
        imports = list(unpickler.untrusted)
        return Inspection("joblib file (or plain pickle)", arrays=unpickler.arrays, imports=imports)
    if reading.listing:
        return list(unpickler.untrusted)
    _refuse_untrusted(unpickler)
    return value


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
    except Exception as error:
        check_record()
        raise CorruptFileError(
            f"the pickle data is invalid: {type(error).__name__}: {error}"
        ) from error


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
