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
import functools
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import rebuild
from .byte_order import NativeUnpickler
from .errors import BrineryError, CorruptFileError, SizeLimitError, UntrustedTypesError
from .format.index import CONTAINER_NAMES, Index
from .format.layout import BUFFER_RECORD
from .format.reader import StreamReader
from .mapping import PlainPickle
from .side_files import SideFiles

if TYPE_CHECKING:
    from .inspection import Inspection
    from .joblib_files import JoblibUnpickler
    from .safe import ByteAccount, SafeUnpickler
    from .scan import Scanner


class Mode(enum.Enum):
    """What reading a file is for."""

    LOAD = "load"  # build the object
    MAP = "map"  # build it, the arrays of an uncompressed file mapped (load(mmap_mode=))
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
    #: ensure_native_byte_order (:mod:`brinery.byte_order`): True, False, or None for "auto"
    native_byte_order: bool | None = None
    encoding: str = "ASCII"  # Python 2 str in a pickle, as pickle's own load decodes them

    @property
    def native_arrays(self) -> bool:
        """ensure_native_byte_order=True: every array comes back native."""
        return self.native_byte_order is True

    @property
    def native_joblib_arrays(self) -> bool:
        """Whether the arrays joblib wrote itself (its wrappers') come back native: "auto" is
        joblib's default, native unless the arrays are mapped; brinery's own arrays, and those
        numpy pickled, are then as stored (as pickle returns them)."""
        if self.native_byte_order is None:
            return self.mode is not Mode.MAP
        return self.native_byte_order

    def in_memory(self) -> Reading:
        """This load, ``mmap_mode`` ignored (what cannot be mapped is read): its arrays keep
        their byte order under "auto", as joblib's do when ``mmap_mode`` is given."""
        return dataclasses.replace(
            self, mode=Mode.LOAD, native_byte_order=bool(self.native_byte_order)
        )

    @property
    def as_data(self) -> bool:
        """Whether the pickle is only read as data (nothing imported, called or built)."""
        return self.mode is Mode.LIST or self.mode is Mode.INSPECT


def unpickle_stream(
    stream: StreamReader, reading: Reading, *, codec_checked: bool = False
) -> Any:
    """The object in a brinery stream (or, listing or inspecting, what the pickle names);
    ``codec_checked``: the compressor checks every frame (see :func:`_load_trusted`)."""
    if reading.as_data:
        scanner = _scanner_type()(stream)
        if stream.indexed:
            last = False
            while not last:
                _scan(scanner, stream.check_current_record, paths=False)
                last = not stream.more_parts()
                scanner.end_part(last=last)
        else:
            _scan(scanner, stream.check_current_record)
        stream.finish(unused_memory=True)
        if reading.mode is Mode.LIST:
            return list(scanner.untrusted)
        major, minor, checksums = stream.header
        return _inspection_type()(
            format=f"brinery {major}.{minor}",
            checksums=checksums,
            stream_bytes=stream.offset,
            arrays=scanner.arrays,
            imports=list(scanner.untrusted),
            buffers=scanner.buffers,
            index=None if stream.index is None else _index_summary(stream.index),
        )
    token = rebuild.CURRENT_STREAM.set(stream)
    try:
        # A mapped load runs the pure-Python unpickler (as joblib always does): it knows where
        # each byte payload of the pickle lies, so small arrays map their bytes in the file.
        mapped = stream if reading.mode is Mode.MAP else None
        if reading.trusted is not None:
            unpickler = _safe_unpickler_type()(
                stream,
                reading.trusted,
                _OutOfBandBuffers(stream),
                mapped=mapped,
                native=reading.native_arrays,
                encoding=reading.encoding,
            )
            value = _all_parts(
                stream, lambda: _load_checked(unpickler, stream.check_current_record)
            )
            _refuse_untrusted(unpickler)
        elif mapped is not None:
            unpickler = _safe_unpickler_type()(
                stream, None, _OutOfBandBuffers(stream), mapped=mapped, encoding=reading.encoding
            )
            value = _load_trusted(stream, unpickler)
        else:
            value = _load_trusted(
                stream,
                native=reading.native_arrays,
                encoding=reading.encoding,
                unchecked=not (codec_checked or stream.header[2]),
            )
        stream.finish()
        return value
    finally:
        rebuild.CURRENT_STREAM.reset(token)


def unpickle_joblib(
    stream: Any,
    reading: Reading,
    room: int | None = None,
    mapped: PlainPickle | None = None,
    side_files: SideFiles | None = None,
) -> Any:
    """The object in a joblib file's pickle (:mod:`brinery.joblib_files`), or a plain pickle;
    ``mapped``: the file, uncompressed, whose arrays ``load(mmap_mode=)`` maps; ``side_files``:
    the folder it was found in (joblib < 0.10 kept arrays in files there)."""
    account = _byte_account_type()(room, reading.max_bytes)
    if reading.as_data:
        scanner = _scanner_type()(stream, joblib=True, account=account, side_files=side_files)
        _scan(scanner, lambda: None)
        if reading.mode is Mode.LIST:
            return list(scanner.untrusted)
        return _inspection_type()(
            "joblib file (or plain pickle)", arrays=scanner.arrays, imports=list(scanner.untrusted)
        )
    unpickler = _joblib_unpickler_type()(
        stream,
        reading.trusted,
        account=account,
        mapped=mapped,
        native=reading.native_arrays,
        native_wrapped=reading.native_joblib_arrays,
        encoding=reading.encoding,
        side_files=side_files,
    )
    value = _load_checked(unpickler, lambda: None)
    _refuse_untrusted(unpickler)
    return value


# The checked unpicklers and the scanner are imported by the first load that uses them: a default
# load (the C unpickler) needs none of them, and they weigh more than the rest of brinery.
# (Cached: an import statement in the functions above would cost every load.)


@functools.cache
def _safe_unpickler_type() -> type[SafeUnpickler]:
    from .safe import SafeUnpickler

    return SafeUnpickler


@functools.cache
def _byte_account_type() -> type[ByteAccount]:
    from .safe import ByteAccount

    return ByteAccount


@functools.cache
def _joblib_unpickler_type() -> type[JoblibUnpickler]:
    from .joblib_files import JoblibUnpickler

    return JoblibUnpickler


@functools.cache
def _scanner_type() -> type[Scanner]:
    from .scan import Scanner

    return Scanner


@functools.cache
def _inspection_type() -> type[Inspection]:
    from .inspection import Inspection

    return Inspection


def _index_summary(index: Index) -> dict[str, object]:
    """What ``brinery info`` says of an index."""
    return {
        "container": CONTAINER_NAMES[index.container],
        "entries": index.entries,
        "parts": len(index.parts),
        "records": len(index.records),
        "frames": len(index.frames),
    }


def _scan(scanner: Scanner, check_record: Callable[[], None], *, paths: bool = True) -> None:
    try:
        scanner.scan(paths=paths)
    except BrineryError:
        raise
    except Exception as error:  # a flaw of the scanner's own: still the file's doing
        check_record()
        raise CorruptFileError(f"the pickle data is invalid ({type(error).__name__})") from error


def _load_trusted(
    stream: StreamReader,
    unpickler: Any = None,
    *,
    native: bool = False,
    encoding: str = "ASCII",
    unchecked: bool = False,
) -> Any:
    """The C unpickler over a trusted stream (or the pure-Python one of a mapped load, which
    reports damage with whatever its opcodes raise: an unknown opcode is a ``KeyError``).  The
    object's own exceptions (a ``__setstate__`` that raises) come out as they are.

    ``unchecked``: nothing checks the stream (no checksums, no codec check), so what the C
    unpickler itself raises (a declared length it cannot allocate, text that is not UTF-8, a
    name it cannot find) may be damage as well as an object that cannot be rebuilt here: it is
    reported as :class:`CorruptFileError` saying so, the original chained.  Exceptions raised in
    code the file called (a class's own) and a module that cannot be imported (most often one
    that is not installed, rather than a damaged name) still come out as they are."""
    pure_python = unpickler is not None
    if unpickler is None:
        kind = NativeUnpickler if native else pickle.Unpickler
        file: Any = _CUnpicklerFile(stream)  # (its read returns any buffer, not only bytes)
        unpickler = kind(file, buffers=_OutOfBandBuffers(stream), encoding=encoding)
    try:
        return _all_parts(stream, unpickler.load)
    except BrineryError:
        raise
    except Exception as error:
        stream.check_current_record()  # a checksummed stream says whether it was damage
        if isinstance(error, (pickle.UnpicklingError, EOFError)) or (
            pure_python and _raised_unpickling(error)
        ):
            raise CorruptFileError(f"the pickle data is corrupt: {_explained(error)}") from error
        if unchecked and not isinstance(error, ImportError) and _raised_unpickling(error):
            raise CorruptFileError(
                "the pickle data is invalid, or holds an object that cannot be rebuilt here "
                f"(the stream has no checksums to tell): {_explained(error)}"
            ) from error
        raise


class _CUnpicklerFile:
    """The stream as the C unpickler reads it: whole pickle frames without a copy into
    ``bytes`` (:meth:`StreamReader.read_for_c_unpickler`).  Holds the stream's bound methods,
    never the other way round (no reference cycle)."""

    __slots__ = ("read", "readinto", "readline")

    def __init__(self, stream: StreamReader) -> None:
        self.read = stream.read_for_c_unpickler
        self.readinto = stream.readinto
        self.readline = stream.readline


def _raised_unpickling(error: BaseException) -> bool:
    """Whether the unpickler raised ``error`` itself (its innermost frame is pickle's or
    brinery's), rather than code the file called."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if traceback is None:
        return False
    module = traceback.tb_frame.f_globals.get("__name__")
    return module == "pickle" or (isinstance(module, str) and module.startswith("brinery."))


def _all_parts(stream: StreamReader, load_part: Callable[[], Any]) -> Any:
    """What the stream's pickle returns: for an indexed stream, its parts unpickled in turn by
    one unpickler (``load_part``), whose memo carries over (docs/format.md, section 5.5), and
    the value is what the last part carries."""
    if not stream.indexed:
        return load_part()
    parts = 0
    while True:
        carried = unwrapped_part(load_part())
        parts += 1
        if not stream.more_parts():
            break
    index = stream.index
    if index is None or len(index.parts) != parts:
        raise CorruptFileError(
            f"the stream holds {parts} pickle parts, but its index lists "
            f"{'none' if index is None else len(index.parts)}"
        )
    return carried


class EarlierPartNeeded(Exception):
    """A part read alone refers (through the memo) to an object an earlier part made."""

    def __init__(self, memo_index: int) -> None:
        super().__init__(memo_index)
        self.memo_index = memo_index


#: What a part read alone asks for an object an earlier part made: the memo index, and the
#: unpickler asking (whose ``find_class`` resolves a global as the load's rules allow).
Resolver = Callable[[int, Any], Any]


class OffsetMemo(dict):  # type: ignore[type-arg]
    """The memo of parts read alone: it starts at the first part's memo index, as if the
    earlier parts had filled it; an entry they made is asked of ``resolver``, or is
    :class:`EarlierPartNeeded`."""

    def __init__(self, start: int, resolver: Resolver | None = None, asking: Any = None) -> None:
        super().__init__()
        self._start = start
        self._resolver = resolver
        self._resolved: dict[int, Any] = {}  # (apart: the memo's length counts its own only)
        self.asking = asking  # the unpickler (or scanner) this memo belongs to

    def __len__(self) -> int:
        return self._start + dict.__len__(self)

    def __missing__(self, key: int) -> Any:
        if type(key) is int and 0 <= key < self._start:
            if key in self._resolved:
                return self._resolved[key]
            if self._resolver is None:
                raise EarlierPartNeeded(key)
            found = self._resolved[key] = self._resolver(key, self.asking)
            return found
        raise KeyError(key)


def unpickle_parts(
    stream: StreamReader,
    reading: Reading,
    count: int,
    memo_start: int,
    resolver: Resolver | None = None,
) -> tuple[Any, dict[int, Any]]:
    """What the last of ``count`` consecutive parts of an indexed stream carries, read alone
    (``brinery.open``) from ``stream`` (positioned at the first), whose memo starts at
    ``memo_start``, by the pure-Python unpickler; and the memo it ends with.  An object an
    earlier part made is asked of ``resolver`` (without one: :class:`EarlierPartNeeded`)."""
    token = rebuild.CURRENT_STREAM.set(stream)
    try:
        unpickler = _safe_unpickler_type()(
            stream,
            reading.trusted,
            _OutOfBandBuffers(stream),
            native=reading.native_arrays,
            encoding=reading.encoding,
        )
        memo = OffsetMemo(memo_start, resolver, unpickler)
        unpickler.memo = memo
        carried = None
        for _ in range(count):
            try:
                carried = unwrapped_part(unpickler.load())
            except (BrineryError, EarlierPartNeeded):
                raise
            except Exception as error:
                stream.check_current_record()
                raise CorruptFileError(
                    f"the pickle data is invalid: {_explained(error)}"
                ) from error
        if reading.trusted is not None:
            _refuse_untrusted(unpickler)
        return carried, memo
    finally:
        rebuild.CURRENT_STREAM.reset(token)


def unwrapped_part(part: Any) -> Any:
    """What a part of an indexed stream carries: each part's pickle returns a one-item list."""
    if type(part) is not list or len(part) != 1:
        raise CorruptFileError(
            f"a part of the indexed stream returned a {type(part).__name__}, not the one-item "
            "list every part returns"
        )
    return part[0]


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
