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
from .pipeline import check_nothing_follows, read_value
from .streams.source import Source
from .unpickling import Mode, Reading

#: Read buffer for files brinery opens itself.
FILE_BUFFER_BYTES = 1 << 20

Target = str | os.PathLike[str] | IO[bytes]


DumpTarget = tuple[IO[bytes], "Compression | None", list[str]]


def dump_target(
    target: Target, compress: object, storage_options: dict[str, Any] | None
) -> contextlib.AbstractContextManager[DumpTarget]:
    """The file to write into, the compression asked for (``compress``, or the target's file
    extension), and what ``dump`` returns; a path or URL is replaced only if the dump ends."""
    if isinstance(target, (str, os.PathLike)):
        return _replaced(target, compress, storage_options)
    if not callable(getattr(target, "write", None)) or is_text(target):
        raise InvalidArgumentError(
            f"cannot dump into {target!r}: give a path or a writable binary file object "
            "(opened with 'wb')"
        )
    # (No generator for a file object: many small dumps into buffers are common.)
    return contextlib.nullcontext((target, resolve_compression(compress, None), []))


@contextlib.contextmanager
def _replaced(
    target: str | os.PathLike[str], compress: object, storage_options: dict[str, Any] | None
) -> Iterator[DumpTarget]:
    name = os.fspath(target)
    compression = resolve_compression(compress, name)
    if remote.is_url(target):
        with remote.writing(name, storage_options) as file:
            yield file, compression, [name]
        return
    with replacing(target) as file:
        yield file, compression, [name]


def size_of(source: Target) -> int | None:
    """The size of a local file (for progress), or None."""
    if isinstance(source, (str, os.PathLike)) and not remote.is_url(source):
        return os.path.getsize(source)
    return None


def read_source(
    source: Target, reading: Reading, on_read: Callable[[int], None] | None = None
) -> Any:
    """What ``reading`` asks of ``source``; a file brinery opens must end with its stream."""
    if remote.is_url(source):
        assert isinstance(source, str)
        if reading.mode is Mode.MAP:
            raise InvalidArgumentError(f"mmap_mode needs a local file, not {source!r}")
        with remote.reading(source, reading.storage_options) as (file, _):
            return _read_whole_file(file, source, reading, on_read, mappable=False)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=FILE_BUFFER_BYTES) as file:
            return _read_whole_file(file, os.fspath(source), reading, on_read, mappable=True)
    if not callable(getattr(source, "read", None)) or is_text(source):
        raise InvalidArgumentError(
            f"cannot load from {source!r}: give a path or a readable binary file object "
            "(opened with 'rb')"
        )
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
    *,
    mappable: bool,
) -> Any:
    input_ = Source(file, owned=True, on_advance=on_read)
    value = read_value(input_, reading, name if mappable else None)
    check_nothing_follows(input_, name)
    return value


def is_text(file: object) -> bool:
    return isinstance(file, io.TextIOBase)
