"""Where a dump goes and a load comes from: a path (written atomically), a URL (through fsspec),
or a caller's binary file object, which is left positioned right after the stream."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

from . import remote
from .arguments import Compression, resolve_compression
from .atomic import replacing
from .errors import InvalidArgumentError
from .mapping import FileMapping, warn_not_mapped
from .pipeline import check_nothing_follows, read_value
from .side_files import SideFiles
from .streams.source import Source
from .unpickling import Mode, Reading

#: Read buffer for files brinery opens itself.
FILE_BUFFER_BYTES = 1 << 20

Target = str | os.PathLike[str] | IO[bytes]


DumpTarget = tuple[IO[bytes], Compression | None, list[str] | None]


def dump_target(
    target: Target,
    compress: object,
    storage_options: dict[str, Any] | None,
    *,
    durable: bool = True,
) -> contextlib.AbstractContextManager[DumpTarget]:
    """The file to write into, the compression asked for (``compress``, or the target's file
    extension), and what ``dump`` returns; a path or URL is replaced only if the dump ends."""
    if isinstance(target, (str, os.PathLike)):
        return _replaced(target, compress, storage_options, durable)
    if not callable(getattr(target, "write", None)) or is_text(target):
        raise InvalidArgumentError(
            f"cannot dump into {target!r}: give a path or a writable binary file object "
            "(opened with 'wb')"
        )
    # (No generator for a file object: many small dumps into buffers are common.)
    return contextlib.nullcontext((target, resolve_compression(compress, None), None))


@contextlib.contextmanager
def _replaced(
    target: str | os.PathLike[str],
    compress: object,
    storage_options: dict[str, Any] | None,
    durable: bool,
) -> Iterator[DumpTarget]:
    name = os.fspath(target)
    compression = resolve_compression(compress, name)
    if remote.is_url(target):
        with remote.writing(name, storage_options) as file:
            yield file, compression, [name]
        return
    with replacing(target, durable=durable) as file:
        yield file, compression, [name]


def size_of(source: Target) -> int | None:
    """The size of a local file (for progress), or None."""
    if isinstance(source, (str, os.PathLike)) and not remote.is_url(source):
        return os.path.getsize(source)
    return None


def read_source(
    source: Target, reading: Reading, on_read: Callable[[int], None] | None = None
) -> Any:
    """What ``reading`` asks of ``source``; a file brinery opens must end with its stream.

    ``load(path, mmap_mode=)`` opens the file once (``"r+b"`` for ``"r+"``) and maps the very
    file it reads (:mod:`brinery.mapping`); what cannot be mapped (a URL, a file object) is
    read, with a warning.
    """
    if remote.is_url(source):
        assert isinstance(source, str)
        if reading.mode is Mode.MAP:
            warn_not_mapped("a URL cannot be mapped (only a local file can)")
            reading = reading.in_memory()
        with remote.reading(source, reading.storage_options) as (file, _):
            return _read_whole_file(file, source, reading, on_read, None)
    if isinstance(source, (str, os.PathLike)):
        mapped = reading.mode is Mode.MAP
        opening = "r+b" if mapped and reading.mmap_access == "r+" else "rb"
        with open(source, opening, buffering=0) as file:
            mapping = FileMapping(file, reading.mmap_access) if mapped else None
            name = os.fspath(source)
            side_files = SideFiles.of(name)  # (joblib < 0.10 kept arrays next to the pickle)
            return _read_whole_file(file, name, reading, on_read, mapping, side_files)
    if not callable(getattr(source, "read", None)) or is_text(source):
        raise InvalidArgumentError(
            f"cannot load from {source!r}: give a path or a readable binary file object "
            "(opened with 'rb')"
        )
    if reading.mode is Mode.MAP:
        warn_not_mapped("a file object cannot be mapped (give the file's path)")
        reading = reading.in_memory()
    input_ = Source(source, on_advance=on_read)
    try:
        return read_value(input_, reading)
    finally:
        input_.release()


def _read_whole_file(
    file: IO[bytes],
    name: str,
    reading: Reading,
    on_read: Callable[[int], None] | None,
    mapping: FileMapping | None,
    side_files: SideFiles | None = None,
) -> Any:
    input_ = Source(file, owned=True, on_advance=on_read)
    value = read_value(input_, reading, mapping, side_files)
    check_nothing_follows(input_, name)
    return value


def is_text(file: object) -> bool:
    return isinstance(file, io.TextIOBase)
