"""``dump`` and ``load``: target -> compressed writer -> stream writer -> pickler, and back."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from . import remote
from .atomic import replacing
from .compress_argument import NOT_GIVEN, Compression, resolve_compression
from .compressor import Compressor
from .errors import (
    BrineryError,
    CorruptFileError,
    DumpError,
    InvalidArgumentError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedVersionError,
)
from .format.copying import copy_records
from .format.layout import STREAM_MAGIC
from .format.reader import StreamReader
from .format.writer import StreamWriter
from .inspection import Inspection
from .joblib_files import PRE_0_10_MESSAGE, starts_a_pickle, starts_a_zfile
from .known_plugins import KNOWN_PLUGINS
from .pickler import BrineryPickler
from .plugins import registry
from .progress import CountingWriter, Reporter, reporter
from .safe_globals import parse_trusted
from .streams.frame_reader import FrameReader
from .streams.prefixed import Prefixed
from .streams.source import Source
from .unpickling import Reading, unpickle_joblib, unpickle_stream

DEFAULT_PROTOCOL = 5
#: Bytes looked at to recognise a stream: enough for the longest magic number in use.
DETECTION_BYTES = 16
#: Read buffer for files brinery opens itself.
FILE_BUFFER_BYTES = 1 << 20


def dump(
    value: Any,
    target: str | os.PathLike[str] | IO[bytes],
    compress: Any = NOT_GIVEN,
    protocol: int | None = None,
    *,
    threads: int | None = None,
    checksums: bool | None = None,
    progress: bool | Callable[[int, int | None], None] = False,
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Write ``value`` to ``target`` (a path or a writable binary file object).

    ``compress``: ``False``/``0`` for none, ``True`` for zlib, an int 1-9 for zlib at that level,
    a compressor name, or ``(name, level)`` in the compressor's own levels.  When not given it
    follows the path's extension (``.gz``, ``.xz``, ``.zst``...).  ``threads`` compress in
    parallel (default: every core).  ``checksums``: brinery's own checksum after every record
    (XXH3-64), by default only where the compressor has no strong check of its own (none, zlib,
    lzma-alone); ``True`` adds them everywhere, ``False`` leaves them out.  ``progress``:
    ``True`` shows the bytes written (tqdm if installed, else a line on standard error), a
    callable is called with ``(done, None)``.  Writing to a path is atomic: on failure the
    previous file is left as it was (for a URL, fsspec's: ``s3://...``, with
    ``storage_options`` for its file system, the upload is committed only when complete).
    Returns ``[path]``, or ``[]`` for a file object.
    """
    options = remote.check_options(target, storage_options)
    report = reporter(progress, None, "brinery dump")
    protocol = _checked_protocol(protocol)
    threads = _checked_threads(threads)
    _check_checksums(checksums)
    if remote.is_url(target):
        assert isinstance(target, str)
        compression = resolve_compression(compress, target)
        with remote.writing(target, options) as file, _reporting(report):
            _write(value, _counted(file, report), compression, protocol, threads, checksums)
        return [target]
    if isinstance(target, (str, os.PathLike)):
        compression = resolve_compression(compress, os.fspath(target))
        with replacing(target) as file, _reporting(report):
            _write(value, _counted(file, report), compression, protocol, threads, checksums)
        return [os.fspath(target)]
    if not callable(getattr(target, "write", None)) or _is_text(target):
        raise InvalidArgumentError(
            f"cannot dump into {target!r}: give a path or a writable binary file object "
            "(opened with 'wb')"
        )
    compression = resolve_compression(compress, None)
    with _reporting(report):
        _write(value, _counted(target, report), compression, protocol, threads, checksums)
    return []


def load(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    threads: int | None = None,
    max_bytes: int | None = None,
    trusted: Iterable[str | type | Callable[..., Any]] | bool | None = None,
    mmap_mode: str | None = None,
    progress: bool | Callable[[int, int | None], None] = False,
    storage_options: dict[str, Any] | None = None,
) -> Any:
    """Read one object from ``source`` (a path or a readable binary file object).

    The compressor is recognised from the data's first bytes, never from the file name.  A file
    object is left positioned right after the object's stream, so several objects dumped one
    after another into one stream load one after another.  ``threads`` decompress frames in
    parallel where the format announces them (zstd, lz4; default: every core).  ``max_bytes``
    bounds the uncompressed stream: a file that would produce more (a decompression bomb) raises
    :class:`SizeLimitError` before the memory is allocated.

    By default the file is trusted, as ``pickle.load`` trusts its data: loading can run any
    code the file names.  ``trusted=`` loads a file you do not trust (docs/security.md): only
    plain data, numpy arrays and scalars, plus the globals listed (``"module.name"`` strings,
    or the classes and functions themselves; ``trusted=False`` or ``[]``: none); anything else
    raises :class:`UntrustedTypesError` listing what the file needs, and nothing is called.

    ``mmap_mode`` (``"r"``, ``"r+"`` or ``"c"``, as for ``np.memmap``) maps the arrays of an
    uncompressed file instead of reading them: they come back as ``np.memmap`` views of the
    file, read only when touched (their checksums are then not checked).  ``progress`` as for
    :func:`dump`: bytes of the file read, out of its size when it has one.  A URL is read
    through fsspec, with ``storage_options`` for its file system.
    """
    if mmap_mode not in (None, "r", "r+", "c"):
        raise InvalidArgumentError(
            f"mmap_mode must be 'r', 'r+', 'c' or None, not {mmap_mode!r}"
        )
    if mmap_mode is not None and not isinstance(source, (str, os.PathLike)):
        raise InvalidArgumentError(
            "mmap_mode needs the path of an uncompressed brinery file, not a file object"
        )
    reading = Reading(
        threads=_checked_threads(threads),
        max_bytes=max_bytes,
        trusted=None if trusted is None or trusted is True else parse_trusted(
            () if trusted is False else trusted
        ),
        mmap_mode=mmap_mode,
        storage_options=remote.check_options(source, storage_options),
    )
    local = isinstance(source, (str, os.PathLike)) and not remote.is_url(source)
    total = os.path.getsize(source) if local else None  # type: ignore[arg-type]
    report = reporter(progress, total, "brinery load")
    with _reporting(report):
        return _load(source, reading, None if report is None else report.add)


def inspect_file(source: str | os.PathLike[str] | IO[bytes]) -> Inspection:
    """What a file holds (format, compressor, arrays, the globals it would import), read to its
    end and checked, without building the object (``brinery info``)."""
    reading = Reading(threads=1, max_bytes=None, trusted=frozenset(), inspect=True)
    found: Inspection = _load(source, reading)
    return found


def untrusted_types(source: str | os.PathLike[str] | IO[bytes]) -> list[str]:
    """The globals (``"module.name"``) the file would import that a safe load does not trust by
    default, in the order the file names them (and numpy classes it would call), found by
    reading the pickle as data: nothing is imported, called or built (:mod:`brinery.scan`).

    Pass those you trust to ``load(source, trusted=[...])``.  A file object is read to the end
    of its brinery stream, as ``load`` would.
    """
    reading = Reading(threads=1, max_bytes=None, trusted=frozenset(), listing=True)
    listed: list[str] = _load(source, reading)
    return listed


def _load(
    source: str | os.PathLike[str] | IO[bytes],
    reading: Reading,
    on_read: Callable[[int], None] | None = None,
) -> Any:
    max_bytes = reading.max_bytes
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise InvalidArgumentError(
            f"max_bytes must be a number of bytes (an int >= 0) or None, not {max_bytes!r}"
        )
    if remote.is_url(source):
        assert isinstance(source, str)
        if reading.mmap_mode is not None:
            raise InvalidArgumentError(f"mmap_mode needs a local file, not {source!r}")
        with remote.reading(source, reading.storage_options) as (file, _):
            return _read_whole_file(file, source, reading, on_read, mappable=False)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=FILE_BUFFER_BYTES) as file:
            return _read_whole_file(file, os.fspath(source), reading, on_read, mappable=True)
    if not callable(getattr(source, "read", None)) or _is_text(source):
        raise InvalidArgumentError(
            f"cannot load from {source!r}: give a path or a readable binary file object "
            "(opened with 'rb')"
        )
    input_ = Source(source, on_advance=on_read)
    try:
        return _read(input_, reading)
    finally:
        input_.release()


def _read_whole_file(
    file: IO[bytes],
    name: str,
    reading: Reading,
    on_read: Callable[[int], None] | None,
    *,
    mappable: bool,
) -> Any:
    """Load a file brinery opened: nothing may follow the stream."""
    input_ = Source(file, owned=True, on_advance=on_read)
    value = _read(input_, reading, name if mappable else None)
    _check_nothing_follows(input_, name)
    return value


def _check_nothing_follows(input_: Source, name: str) -> None:
    """A file brinery opened ends with its stream: anything after it is damage."""
    if not input_.at_end():
        raise CorruptFileError(
            f"{name!r} has data after the end of the brinery stream (at byte {input_.position})"
        )


# -- writing ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _reporting(report: Reporter | None) -> Iterator[None]:
    try:
        yield
    finally:
        if report is not None:
            report.close()


def _counted(file: IO[bytes], report: Reporter | None) -> IO[bytes]:
    return file if report is None else CountingWriter(file, report)  # type: ignore[return-value]


def _write(
    value: Any,
    file: IO[bytes],
    compression: Compression | None,
    protocol: int,
    threads: int,
    checksums: bool | None,
) -> None:
    def pickle_into(stream: StreamWriter) -> None:
        try:
            BrineryPickler(stream, protocol).dump(value)
        except (BrineryError, OSError, MemoryError):
            raise
        except Exception as error:
            raise DumpError(
                f"cannot dump {type(value).__name__} object: {type(error).__name__}: {error}"
            ) from error

    write_stream(file, compression, threads, checksums, pickle_into)


def write_stream(
    file: IO[bytes],
    compression: Compression | None,
    threads: int,
    checksums: bool | None,
    fill: Callable[[StreamWriter], None],
) -> None:
    """A brinery stream into ``file``, compressed as asked, its records written by ``fill``."""
    sink: Any = file if compression is None else _open_writer(compression, file, threads)
    if checksums is None:  # brinery's own where the codec has no strong check of its own
        checksums = compression is None or not compression[0].checks_integrity
    try:
        stream = StreamWriter(sink, checksums=checksums)
        fill(stream)
        stream.finish()
    except BaseException:
        if sink is not file:
            abort = getattr(sink, "abort", None)
            if abort is not None:
                abort()
        raise
    if sink is not file:
        sink.close()


def _open_writer(compression: Compression, file: IO[bytes], threads: int) -> IO[bytes]:
    compressor, level = compression
    if type(compressor).open_writer is Compressor.open_writer:
        return compressor.open_writer(file, level, threads=threads)
    return compressor.open_writer(file, level)  # a third party's signature has no threads


# -- reading ---------------------------------------------------------------------------------


def convert(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    compress: Any = NOT_GIVEN,
    *,
    threads: int | None = None,
    checksums: bool | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Recompress a brinery file without unpickling it (``brinery convert``).

    The records are copied as they are read, each checked (checksums, the codec's checks) on
    the way, into ``target``, written atomically; ``compress``, ``threads`` and ``checksums``
    as for :func:`dump` (``compress`` follows ``target``'s extension when not given).
    ``on_progress(done, total)`` is told how many bytes of ``source`` were read.
    """
    threads = _checked_threads(threads)
    _check_checksums(checksums)
    compression = resolve_compression(compress, os.fspath(target))
    total = os.path.getsize(source)
    with open(source, "rb", buffering=FILE_BUFFER_BYTES) as file:
        input_ = Source(file, owned=True)

        def report() -> None:
            if on_progress is not None:
                on_progress(input_.position, total)

        def copy_into(stream: StreamWriter) -> None:
            with opened_stream(input_, threads) as records:
                copy_records(records, stream, report)
            report()

        with replacing(target) as output:
            write_stream(output, compression, threads, checksums, copy_into)
            _check_nothing_follows(input_, os.fspath(source))


@contextlib.contextmanager
def opened_stream(source: Source, threads: int) -> Iterator[StreamReader]:
    """The brinery stream in ``source``, decompressed; its frames finished at the end."""
    head = source.peek(DETECTION_BYTES)
    if head.startswith(STREAM_MAGIC):
        yield StreamReader(source, room=source.remaining())
        return
    if starts_a_pickle(head) or starts_a_zfile(head):
        raise UnknownFormatError(
            "the data is a joblib file (or a plain pickle), not a brinery stream: load it and "
            "dump it to convert it"
        )
    compressor = _detect(head)
    plain = Reading(threads=threads, max_bytes=None, trusted=None)
    if type(compressor).open_reader is not Compressor.open_reader:
        opaque = compressor.open_reader(source)  # type: ignore[arg-type]
        yield _inner_stream(opaque, compressor, plain)
        return
    with FrameReader(source, compressor, threads=threads) as frames:
        yield _inner_stream(frames, compressor, plain)
        frames.finish()


def _detect(head: bytes) -> Compressor:
    """The compressor whose magic number starts ``head``, or a clear error."""
    if not head:
        raise UnknownFormatError("the data is empty: there is no brinery stream in it")
    compressor = registry().detect(head)
    if compressor is None:
        if len(head) < DETECTION_BYTES and _begins_a_magic(head):
            raise TruncatedFileError(
                f"the data ends after {len(head)} bytes, inside a magic number: the file is "
                "truncated"
            )
        raise UnknownFormatError(_describe_unknown(head))
    return compressor


def _read(source: Source, reading: Reading, path: str | None = None) -> Any:
    max_bytes = reading.max_bytes
    head = source.peek(DETECTION_BYTES)
    if head.startswith(STREAM_MAGIC):
        mapped = None if reading.mmap_mode is None or path is None else (path, reading.mmap_mode)
        stream = StreamReader(
            source,
            room=source.remaining(),
            max_bytes=max_bytes,
            mapped=mapped,
            skip_payloads=reading.inspect,
        )
        return unpickle_stream(stream, reading)
    if reading.mmap_mode is not None and head:
        raise InvalidArgumentError(
            f"mmap_mode needs an uncompressed brinery file; {path!r} is not one (a compressed "
            "or joblib file): dump it with compress=False to map it"
        )
    if starts_a_pickle(head):  # joblib's files (or a plain pickle)
        return unpickle_joblib(Prefixed(b"", source), reading, room=source.remaining())
    if starts_a_zfile(head):
        raise UnsupportedVersionError(f"the data {PRE_0_10_MESSAGE}")
    compressor = _detect(head)
    if type(compressor).open_reader is Compressor.open_reader:
        with FrameReader(
            source, compressor, threads=reading.threads, max_bytes=reading.max_bytes
        ) as frames:
            try:
                value = _read_inner(frames, compressor, reading)
            except Exception as error:
                # Decompressed bytes reach the format and the unpickler before the frame's
                # checksum is read: if the codec finds the frame damaged, that is the error.
                try:
                    frames.check_current_frame()
                except BrineryError as damage:
                    raise damage from error
                raise
            frames.finish()
        if reading.inspect:
            value.compressor = compressor.name
        return value
    # A compressor with its own reader: it may read ahead, so nothing can follow its stream.
    return _read_inner(compressor.open_reader(source), compressor, reading)  # type: ignore[arg-type]


def _read_inner(stream: Any, compressor: Compressor, reading: Reading) -> Any:
    """Load from decompressed data: a brinery stream, or a joblib file's pickle."""
    head = _read_head(stream, len(STREAM_MAGIC))
    inner = Prefixed(head, stream)
    if starts_a_pickle(head):
        return unpickle_joblib(inner, reading)
    return unpickle_stream(_inner_stream(inner, compressor, reading), reading)


def _read_head(stream: Any, size: int) -> bytes:
    head = bytearray(size)
    view = memoryview(head)
    filled = 0
    while filled < size:
        try:
            got = stream.readinto(view[filled:])
        except BrineryError:
            raise
        except Exception as error:  # an opaque codec's own exception
            message = f"the data cannot be read: {type(error).__name__}: {error}"
            raise CorruptFileError(message) from error
        if not got:
            break
        filled += got
    del view
    return bytes(head[:filled])


def _inner_stream(stream: Any, compressor: Compressor, reading: Reading) -> StreamReader:
    what = f"the {compressor.name} data"
    try:
        return StreamReader(
            stream, what=what, max_bytes=reading.max_bytes, skip_payloads=reading.inspect
        )
    except UnsupportedVersionError:
        raise
    except UnknownFormatError:
        raise UnknownFormatError(
            f"the {compressor.name} data does not hold a brinery stream (a file compressed with "
            f"{compressor.name} from something else?)"
        ) from None


def _begins_a_magic(head: bytes) -> bool:
    """Whether ``head`` is the start of brinery's magic or a compressor's (known or not)."""
    magics = [STREAM_MAGIC, *(plugin.magic for plugin in KNOWN_PLUGINS)]
    magics += [magic for c in registry().snapshot().values() for magic in c.all_magics]
    return any(magic.startswith(head) for magic in magics)


def _describe_unknown(head: bytes) -> str:
    return (
        f"the data is not a brinery stream: it starts with {head[:8].hex(' ')}, which is "
        "neither brinery's magic number nor that of an installed compressor "
        f"({', '.join(sorted(registry().snapshot()))})"
    )


def _is_text(file: object) -> bool:
    return isinstance(file, io.TextIOBase)


def _checked_protocol(protocol: int | None) -> int:
    if protocol is None:
        return DEFAULT_PROTOCOL
    if isinstance(protocol, bool) or not isinstance(protocol, int) or not (
        0 <= protocol <= pickle.HIGHEST_PROTOCOL
    ):
        raise InvalidArgumentError(
            f"protocol={protocol!r} is not valid: use a pickle protocol from 0 to "
            f"{pickle.HIGHEST_PROTOCOL}, or None for {DEFAULT_PROTOCOL}"
        )
    return protocol


def _check_checksums(checksums: object) -> None:
    if checksums is not None and not isinstance(checksums, bool):
        raise InvalidArgumentError(f"checksums must be True, False or None, not {checksums!r}")


def _checked_threads(threads: int | None) -> int:
    if threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1
        )
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidArgumentError(f"threads={threads!r} is not valid: use an int of at least 1")
    return threads
