"""The public functions: ``dump``, ``load``, ``untrusted_types``, ``inspect_file`` and ``convert``.

Each checks its arguments (:mod:`brinery.arguments`) and hands over to where the work is
done: :mod:`brinery.targets` (paths, URLs, file objects) and :mod:`brinery.pipeline`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from . import remote
from .arguments import (
    NOT_GIVEN,
    check_checksums,
    check_durable,
    check_flag,
    check_max_bytes,
    check_mmap_mode,
    checked_protocol,
    checked_shuffle,
    checked_threads,
    resolve_compression,
)
from .atomic import replacing
from .byte_order import checked_choice
from .format.copying import copy_records
from .format.writer import StreamWriter
from .pipeline import check_nothing_follows, opened_stream, write_stream, write_value
from .progress import CountingWriter, Reporter, arrays_bytes, reporter
from .python2 import DEFAULT_ENCODING, checked_encoding
from .safe_globals import parse_trusted
from .streams.source import Source
from .targets import FILE_BUFFER_BYTES, dump_target, read_source, size_of
from .unpickling import Mode, Reading

if TYPE_CHECKING:  # (brinery.inspection is imported by the calls that inspect)
    from .inspection import Inspection


def dump(
    value: Any,
    target: str | os.PathLike[str] | IO[bytes],
    compress: Any = NOT_GIVEN,
    protocol: int | None = None,
    *,
    threads: int | None = None,
    checksums: bool | None = None,
    shuffle: bool | str = "auto",
    progress: bool | Callable[[int, int | None], None] = False,
    storage_options: dict[str, Any] | None = None,
    durable: bool = True,
    index: bool = True,
) -> list[str] | None:
    """Write ``value`` to ``target`` (a path or a writable binary file object).

    ``compress``: ``False``/``0`` for none, ``True`` for zlib, an int 1-9 for zlib at that level,
    a compressor name, or ``(name, level)`` in the compressor's own levels.  When not given it
    follows the path's extension (``.gz``, ``.xz``, ``.zst``...).  ``threads`` compress in
    parallel (default: every core).  ``checksums``: brinery's own checksum after every record
    (XXH3-64), by default only where the compressor has no strong check of its own (none, zlib,
    lzma-alone); ``True`` adds them everywhere, ``False`` leaves them out.  ``shuffle``: how
    the memory of large arrays of numbers is filtered before compression: ``"byte"`` (or
    ``True``) groups the bytes of numbers of 2 bytes or more (ints, floats, complex, datetimes)
    by position, block by block, which compresses floats better (blosc's shuffle); ``"bit"``
    groups their bits, slower; ``"delta"`` stores each byte of 1-byte integer arrays (uint8,
    int8) as its difference from the previous one, which compresses smooth images better;
    ``"auto"`` (the default), when compressing, delta for 1-byte integer arrays of 2 dimensions
    or more (images, masks) and ``"byte"`` for larger numbers, and nothing otherwise, so
    uncompressed files stay mappable; ``False``: never (then readers of format 1.2 read the
    file too: filters are format 1.3's, docs/format.md).  ``progress``:
    ``True`` shows the bytes written (tqdm if installed, else a line on standard error), a
    callable is called with ``(done, total)``: ``total`` is ``None``, or for an uncompressed
    file the arrays' memory it will hold at least (dropped if ``done`` passes it).  Writing to
    a path is atomic: on failure the previous file is left as it was (for a URL, fsspec's:
    ``s3://...``, with ``storage_options`` for its file system, the upload is committed only
    when complete).  ``durable`` (paths): the file, and its rename, are on disk before ``dump``
    returns (``fsync``), so a power cut leaves the old file or the new one; ``False`` keeps the
    replacement atomic for other processes and skips the waits for the disk (caches, scratch
    work: see docs/performance.md).  ``index`` (format 1.4): a top-level ``dict``, ``list``
    or ``tuple`` (of at most 4,096 entries) is written entry by entry, and an index at the end
    says where each entry and each array lies, so :func:`brinery.open` reads one entry, or one
    slice of one array, without the rest (a zstd or lz4 file ends with a seek table the zstd
    and lz4 tools skip); ``False`` writes one pickle without an index, which readers of format
    1.3 (brinery before issue 15) read.
    Returns ``[path]``, or ``None`` for a file object (as ``joblib.dump`` does).
    """
    options = remote.check_options(target, storage_options)
    report = reporter(progress, None, "brinery dump")
    protocol = checked_protocol(protocol)
    threads = checked_threads(threads)
    check_checksums(checksums)
    check_durable(durable)
    check_flag("index", index)
    shuffle_mode = checked_shuffle(shuffle)
    with dump_target(target, compress, options, durable=durable) as (
        file,
        compression,
        written,
    ), _reporting(report):
        if report is not None and compression is None:  # the file is the stream: its arrays
            report.expect(arrays_bytes(value))
        write_value(
            value,
            _counted(file, report),
            compression,
            protocol,
            threads,
            checksums,
            shuffle_mode,
            index=index,
        )
    return written


def load(
    source: str | os.PathLike[str] | IO[bytes],
    mmap_mode: str | None = None,
    *,
    threads: int | None = None,
    max_bytes: int | None = None,
    trusted: Iterable[str | type | Callable[..., Any]] | bool | None = None,
    progress: bool | Callable[[int, int | None], None] = False,
    storage_options: dict[str, Any] | None = None,
    ensure_native_byte_order: bool | str = "auto",
    encoding: str = DEFAULT_ENCODING,
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

    ``mmap_mode`` (``"r"``, ``"r+"`` or ``"c"``, as for ``np.memmap``; the second argument, as
    in ``joblib.load``) maps the arrays of an uncompressed file instead of reading them, small
    ones included: every array of plain memory comes back as an ``np.memmap`` view of the file,
    read only when touched (the checksums of their data are then not checked).  ``"r+"``
    writes reach the file, which keeps loading (the records written through are flagged, their
    checksums no longer apply: docs/format.md).  What cannot be mapped (a compressed file, a
    file object, a URL) is loaded into memory, after a ``UserWarning`` saying why, as joblib
    does; docs/joblib.md says which arrays stay in memory.  ``progress`` as for
    :func:`dump`: bytes of the file read, out of its size when it has one.  A URL is read
    through fsspec, with ``storage_options`` for its file system.

    ``ensure_native_byte_order`` (joblib's): ``True`` returns every array in this machine's
    byte order (same values, byte-swapped), ``False`` as stored; ``"auto"``, the default, is
    joblib's choice for joblib's files (native unless ``mmap_mode`` is given) and keeps the
    stored order for brinery's files (:mod:`brinery.byte_order`, docs/joblib.md).
    ``encoding`` (pickle's): how the Python 2 ``str`` of a pickle written by Python 2 are
    decoded, ``"ASCII"`` (the default), ``"latin1"`` or ``"bytes"`` (:mod:`brinery.python2`).
    """
    check_mmap_mode(mmap_mode)
    check_max_bytes(max_bytes)
    reading = Reading(
        threads=checked_threads(threads),
        max_bytes=max_bytes,
        trusted=None if trusted is None or trusted is True else parse_trusted(
            () if trusted is False else trusted
        ),
        mode=Mode.LOAD if mmap_mode is None else Mode.MAP,
        mmap_access=mmap_mode or "r",
        storage_options=remote.check_options(source, storage_options),
        native_byte_order=checked_choice(ensure_native_byte_order, mmap_mode is not None),
        encoding=checked_encoding(encoding),
    )
    report = reporter(progress, size_of(source) if progress else None, "brinery load")
    with _reporting(report):
        return read_source(source, reading, None if report is None else report.add)


def inspect_file(source: str | os.PathLike[str] | IO[bytes]) -> Inspection:
    """What a file holds (format, compressor, arrays, the globals it would import), read to its
    end and checked, without building the object (``brinery info``)."""
    found: Inspection = read_source(source, _as_data(Mode.INSPECT))
    return found


def untrusted_types(source: str | os.PathLike[str] | IO[bytes]) -> list[str]:
    """The globals (``"module.name"``) the file would import that a safe load does not trust by
    default, in the order the file names them (and numpy classes it would call), found by
    reading the pickle as data: nothing is imported, called or built (:mod:`brinery.scan`).

    Pass those you trust to ``load(source, trusted=[...])``.  A file object is read to the end
    of its brinery stream, as ``load`` would.
    """
    listed: list[str] = read_source(source, _as_data(Mode.LIST))
    return listed


def convert(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    compress: Any = NOT_GIVEN,
    *,
    threads: int | None = None,
    checksums: bool | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    add_index: bool = False,
) -> None:
    """Recompress a brinery file without unpickling it (``brinery convert``).

    The records are copied as they are read, each checked (checksums, the codec's checks) on
    the way, into ``target``, written atomically; ``compress``, ``threads`` and ``checksums``
    as for :func:`dump` (``compress`` follows ``target``'s extension when not given).  Filtered
    array records (shuffled, delta-coded) stay filtered in a compressed ``target`` and are
    unfiltered in an uncompressed one (which can then be mapped); records are never newly
    filtered (the dtypes are in the pickle, which is not read).  An indexed file
    (``dump(index=True)``) stays indexed: the same parts, with a new index.
    ``on_progress(done, total)`` is told how many bytes of ``source`` were read.

    ``add_index``: the target is an indexed stream (format 1.4) whatever ``source`` is (an
    older brinery file, a joblib file): splitting a value into entries needs the value, so the
    object is loaded (the file trusted, as :func:`load` trusts it by default) and dumped anew.
    """
    threads = checked_threads(threads)
    check_checksums(checksums)
    check_flag("add_index", add_index)
    if add_index:
        value = load(source, threads=threads)
        dump(value, target, compress, threads=threads, checksums=checksums, index=True)
        if on_progress is not None:
            size = os.path.getsize(source)
            on_progress(size, size)
        return
    compression = resolve_compression(compress, os.fspath(target))
    total = os.path.getsize(source)
    with open(source, "rb", buffering=FILE_BUFFER_BYTES) as file:
        input_ = Source(file, owned=True)

        def report() -> None:
            if on_progress is not None:
                on_progress(input_.position, total)

        # (the source is opened first: its header says whether the target is indexed; the
        # target is replaced only once the source was read to its end and checked)
        with replacing(target) as output:
            with opened_stream(input_, threads) as records:

                def copy_into(stream: StreamWriter) -> tuple[int, list[int]] | None:
                    return copy_records(records, stream, report)

                write_stream(
                    output,
                    compression,
                    threads,
                    checksums,
                    copy_into,
                    shuffles=compression is not None,
                    indexed=records.indexed,
                )
            report()
            check_nothing_follows(input_, os.fspath(source))


def _as_data(mode: Mode) -> Reading:
    """Reading the pickle as data, whoever wrote it: nothing imported, called or built."""
    return Reading(threads=1, max_bytes=None, trusted=frozenset(), mode=mode)


@contextlib.contextmanager
def _reporting(report: Reporter | None) -> Iterator[None]:
    try:
        yield
    finally:
        if report is not None:
            report.close()


def _counted(file: IO[bytes], report: Reporter | None) -> IO[bytes]:
    return file if report is None else CountingWriter(file, report)  # type: ignore[return-value]
