"""The pipeline between a file and the pickler, both ways.

Writing: pickler -> :class:`~brinery.format.writer.StreamWriter` (records, checksums) ->
the compressed writer (:mod:`brinery.streams.compressed`) -> the file.  Reading: the file's first
bytes say what it holds (:func:`kind_of`); a compressed one goes through the compressed reader,
found by its magic number; then the format reader and one of the unpicklers
(:mod:`brinery.unpickling`).  Detection and dispatch happen here only, for ``load``,
``convert`` and ``brinery bench`` alike.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator
from typing import IO, Any

from .arguments import Compression
from .compressor import Compressor
from .errors import (
    BrineryError,
    CorruptFileError,
    DumpError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedVersionError,
)
from .format.layout import STREAM_MAGIC
from .format.reader import StreamReader
from .format.writer import StreamWriter
from .known_plugins import KNOWN_PLUGINS
from .mapping import FileMapping, PlainPickle, warn_not_mapped
from .parts import dump_parts
from .pickler import BrineryPickler
from .plugins import registry
from .registry import magics_of
from .side_files import SideFiles
from .streams.compressed import (
    DecompressedReader,
    open_compressed_writer,
    open_decompressed_reader,
)
from .streams.prefixed import Prefixed
from .streams.source import Source
from .unpickling import Mode, Reading, unpickle_joblib, unpickle_stream

#: Bytes looked at to recognise a stream: enough for the longest magic number in use.
DETECTION_BYTES = 16


class Kind(enum.Enum):
    """What a file's first bytes say it holds."""

    BRINERY = "a brinery stream"
    PICKLE = "a joblib file or a plain pickle"
    JOBLIB_PRE_0_10 = "a file of joblib before 0.10"
    COMPRESSED = "compressed data (a compressor's magic number, or unknown)"


def kind_of(head: bytes) -> Kind:
    if head.startswith(STREAM_MAGIC):
        return Kind.BRINERY
    if starts_a_pickle(head):
        return Kind.PICKLE
    if starts_a_zfile(head):
        return Kind.JOBLIB_PRE_0_10
    return Kind.COMPRESSED


def starts_a_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle of protocol 2 or later (``PROTO n``)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def starts_a_zfile(head: bytes) -> bool:
    """joblib < 0.10's compressed files: ``ZF`` then the length in hexadecimal."""
    return head[:4] == b"ZF0x"


# -- writing ---------------------------------------------------------------------------------


def write_value(
    value: Any,
    file: IO[bytes],
    compression: Compression | None,
    protocol: int,
    threads: int,
    checksums: bool | None,
    shuffle: str | None = None,
    index: bool = True,
) -> None:
    """``value``, pickled, as a brinery stream into ``file``; ``shuffle``: ``"byte"``,
    ``"bit"``, ``"delta"``, ``"auto"`` (a filter chosen for each array, when compressed) or
    ``None`` (:func:`.filter_choice.filter_for`); ``index``: an indexed stream, in parts
    (:mod:`.parts`), which ``brinery.open`` reads at random."""
    if shuffle == "auto" and compression is None:
        shuffle = None  # (uncompressed files stay mappable)

    def pickle_into(stream: StreamWriter) -> tuple[int, list[int]] | None:
        try:
            pickler = BrineryPickler(stream, protocol, shuffle)
            if stream.indexed:
                return dump_parts(pickler, stream, value)
            pickler.dump(value)
            return None
        except (BrineryError, OSError, MemoryError):
            raise
        except Exception as error:
            raise DumpError(
                f"cannot dump {type(value).__name__} object: {type(error).__name__}: {error}"
            ) from error

    write_stream(
        file,
        compression,
        threads,
        checksums,
        pickle_into,
        shuffles=shuffle is not None,
        indexed=index,
    )


def write_stream(
    file: IO[bytes],
    compression: Compression | None,
    threads: int,
    checksums: bool | None,
    fill: Callable[[StreamWriter], tuple[int, list[int]] | None],
    *,
    shuffles: bool = False,
    indexed: bool = False,
) -> None:
    """A brinery stream into ``file``, compressed as asked, its records written by ``fill``;
    ``shuffles``: it may hold filtered array records (its header says so); ``indexed``: it is
    written in parts with an index, ``fill`` returning the container kind and the parts' first
    memo indices (docs/format.md, section 5.5)."""
    if checksums is None:  # brinery's own where the codec has no strong check of its own
        checksums = compression is None or not compression.compressor.checks_integrity
    if compression is None:
        stream = StreamWriter(file, checksums=checksums, shuffles=shuffles, indexed=indexed)
        _finish(stream, fill(stream))
        return
    compressed = open_compressed_writer(
        compression.compressor, file, compression.level, threads=threads, seek_table=indexed
    )
    try:
        stream = StreamWriter(
            compressed,
            checksums=checksums,
            frames=compressed,
            shuffles=shuffles,
            indexed=indexed,
            end_record_frame=compression.compressor.framing.end_frame is not None,
        )
        _finish(stream, fill(stream))
    except BaseException:
        compressed.abort()
        raise
    compressed.close()


def _finish(stream: StreamWriter, parts: tuple[int, list[int]] | None) -> None:
    if parts is None:
        stream.finish()
    else:
        stream.finish(*parts)


# -- reading ---------------------------------------------------------------------------------


def read_value(
    source: Source,
    reading: Reading,
    mapping: FileMapping | None = None,
    side_files: SideFiles | None = None,
) -> Any:
    """What ``reading`` asks of the data in ``source`` (the object, its globals, or a
    description); ``mapping``: the file's maps, for ``load(path, mmap_mode=)`` (``source`` reads
    that file from its first byte); ``side_files``: the folder of a file given by its path, where
    a pickle of joblib < 0.10 keeps its arrays."""
    head = source.peek(DETECTION_BYTES)
    kind = kind_of(head)
    if reading.mode is Mode.MAP and kind is not Kind.BRINERY and kind is not Kind.PICKLE:
        if head:
            warn_not_mapped("the file is compressed (dump it with compress=False to map it)")
        reading, mapping = reading.in_memory(), None
    assert reading.mode is not Mode.MAP or mapping is not None  # (targets sees to it)
    if kind is Kind.BRINERY:
        stream = StreamReader(
            source,
            room=source.remaining(),
            max_bytes=reading.max_bytes,
            mapping=mapping if reading.mode is Mode.MAP else None,
            skip_payloads=reading.mode is Mode.INSPECT,
        )
        return unpickle_stream(stream, reading)
    if kind is Kind.PICKLE:
        mapped = PlainPickle(source, mapping) if reading.mode is Mode.MAP and mapping else None
        return unpickle_joblib(
            Prefixed(b"", source),
            reading,
            room=source.remaining(),
            mapped=mapped,
            side_files=side_files,
        )
    if kind is Kind.JOBLIB_PRE_0_10:
        return _read_zfile(source, reading, side_files)
    with _decompressed(source, head, reading.threads, reading.max_bytes) as (
        compressor,
        data,
        ending,
    ):
        value = _read_decompressed(data, compressor, reading, ending)
    if reading.mode is Mode.INSPECT:
        value.compressor = compressor.name
    return value


@contextlib.contextmanager
def opened_stream(source: Source, threads: int) -> Iterator[StreamReader]:
    """The brinery stream in ``source``, decompressed, to copy its records; its frames finished
    at the end."""
    head = source.peek(DETECTION_BYTES)
    kind = kind_of(head)
    if kind is Kind.BRINERY:
        yield StreamReader(source, room=source.remaining())
        return
    if kind is not Kind.COMPRESSED:
        raise UnknownFormatError(
            "the data is a joblib file (or a plain pickle), not a brinery stream: load it and "
            "dump it to convert it"
        )
    with _decompressed(source, head, threads, None) as (compressor, data, ending):
        stream = _inner_stream(data, compressor)
        yield stream
        ending.indexed = stream.indexed


def check_nothing_follows(source: Source, name: str) -> None:
    """A file brinery opened ends with its stream: anything after it is damage."""
    if not source.at_end():
        raise CorruptFileError(
            f"{name!r} has data after the end of the brinery stream (at byte {source.position})"
        )


class _Ending:
    """What the caller of :func:`_decompressed` learnt of the stream that says how its
    compressed data ends: an indexed stream's zstd or lz4 frames are followed by a seek
    table (docs/format.md, section 3), which only then is looked for (looking waits for
    bytes: a socket's peer may be waiting itself)."""

    indexed = False


@contextlib.contextmanager
def _decompressed(
    source: Source, head: bytes, threads: int, max_bytes: int | None
) -> Iterator[tuple[Compressor, DecompressedReader, _Ending]]:
    """The compressed data in ``source``, decompressed by the compressor its magic number names.

    The frames are finished once the caller is done; if the caller fails, the codec checks the
    frame being read first: decompressed bytes reach the format and the unpickler before the
    frame's own checksum is read, so when the codec finds the frame damaged, that is the error.
    """
    compressor = _detect(head)
    reader = open_decompressed_reader(compressor, source, threads=threads, max_bytes=max_bytes)
    ending = _Ending()
    try:
        try:
            yield compressor, reader, ending
        except Exception as error:
            try:
                reader.check_current_frame()
            except BrineryError as damage:
                raise damage from error
            raise
        reader.finish(seek_table=ending.indexed)
    finally:
        reader.close()


def detect_compressor(head: bytes) -> Compressor:
    """The compressor whose magic number starts ``head`` (``brinery.open``), or a clear
    error."""
    return _detect(head)


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


def _read_zfile(source: Source, reading: Reading, side_files: SideFiles | None) -> Any:
    """A compressed pickle of joblib < 0.10: a z-file (:mod:`brinery.joblib_legacy`), whose
    header gives the pickle's length, then zlib data."""
    from .joblib_legacy import read_zfile_header  # (here: joblib's modules for its files only)

    length = read_zfile_header(source)
    head = source.peek(DETECTION_BYTES)
    with _decompressed(source, head, 1, reading.max_bytes) as (compressor, data, _):
        if compressor.name != "zlib":
            raise CorruptFileError("a joblib z-file ('ZF') whose data is not zlib data")
        value = unpickle_joblib(Prefixed(b"", data), reading, room=length, side_files=side_files)
    if reading.mode is Mode.INSPECT:
        value.compressor = "zlib"  # (a joblib z-file)
    return value


def _read_decompressed(
    data: DecompressedReader, compressor: Compressor, reading: Reading, ending: _Ending
) -> Any:
    """Load from decompressed data: a brinery stream, or a joblib file's pickle."""
    head = _read_head(data, len(STREAM_MAGIC))
    inner = Prefixed(head, data)
    if starts_a_pickle(head):
        return unpickle_joblib(inner, reading)
    stream = _inner_stream(
        inner,
        compressor,
        reading.max_bytes,
        skip_payloads=reading.mode is Mode.INSPECT,
        threads=reading.threads,
    )
    value = unpickle_stream(stream, reading, codec_checked=compressor.checks_integrity)
    ending.indexed = stream.indexed
    return value


def _read_head(data: DecompressedReader, size: int) -> bytes:
    head = bytearray(size)
    view = memoryview(head)
    filled = 0
    while filled < size:
        try:
            got = data.readinto(view[filled:])
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


def _inner_stream(
    data: Any,
    compressor: Compressor,
    max_bytes: int | None = None,
    *,
    skip_payloads: bool = False,
    threads: int = 1,
) -> StreamReader:
    what = f"the {compressor.name} data"
    try:
        return StreamReader(
            data, what=what, max_bytes=max_bytes, skip_payloads=skip_payloads, threads=threads
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
    magics += [magic for c in registry().snapshot().values() for magic in magics_of(c)]
    return any(magic.startswith(head) for magic in magics)


def _describe_unknown(head: bytes) -> str:
    return (
        f"the data is not a brinery stream: it starts with {head[:8].hex(' ')}, which is "
        "neither brinery's magic number nor that of an installed compressor "
        f"({', '.join(sorted(registry().snapshot()))})"
    )
