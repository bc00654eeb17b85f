"""Remote storage through fsspec: ``dump(obj, "s3://bucket/key.zst")``, ``load("memory://x")``.

fsspec is an optional dependency (``pip install "brinery[fsspec]"``); the protocol's own package
(s3fs, gcsfs...) too.  Data streams through the file objects fsspec opens: no copy of the whole
file in memory or on local disk.  A dump writes with ``autocommit=False`` and commits only when
the stream is complete (an S3 multi-part upload is completed, or aborted on failure), so a
failed dump leaves the previous object in place where the file system supports transactions
(S3, GCS, local files; not ``memory://``).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from typing import IO, Any

from .errors import DependencyMissingError, InvalidArgumentError

#: The protocols taken for URLs when fsspec is not installed (a URL then says to install it):
#: the common ones of fsspec's registry and of its best-known implementations.
COMMON_PROTOCOLS = frozenset(
    {
        "abfs", "abfss", "adl", "az", "blockcache", "dbfs", "file", "filecache", "ftp", "gcs",
        "gdrive", "git", "github", "gs", "hdfs", "hf", "http", "https", "local", "memory", "oci",
        "oss", "reference", "s3", "s3a", "sftp", "simplecache", "smb", "ssh", "tar", "webdav",
        "webhdfs", "zip",
    }
)  # fmt: skip
#: What may stand before ``://``: a URL scheme (RFC 3986), or schemes chained with ``::``.
_PROTOCOLS = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*(::[A-Za-z][A-Za-z0-9+.\-]*)*")


def is_url(target: object) -> bool:
    """Whether ``target`` names a file through a protocol (``s3://``, ``memory://``,
    ``simplecache::s3://``...): one that fsspec knows, or one of :data:`COMMON_PROTOCOLS` when
    fsspec is not installed.  A local path that merely contains ``://`` (``runs/a://b.pkl``,
    ``notes://x``) stays a local path."""
    if not isinstance(target, str):
        return False
    head, separator, _ = target.partition("://")
    if not separator or not _PROTOCOLS.fullmatch(head):
        return False
    known = known_protocols()
    return all(protocol.lower() in known for protocol in head.split("::"))


def known_protocols() -> frozenset[str]:
    """fsspec's registry of protocols (those it knows of, and those registered at run time),
    without importing fsspec when it is not installed."""
    import importlib.util  # (here: only a target that looks like a URL asks)

    if importlib.util.find_spec("fsspec") is None:
        return COMMON_PROTOCOLS
    fsspec = importlib.import_module("fsspec")
    return frozenset(fsspec.available_protocols()) | frozenset(fsspec.registry)


def check_options(target: object, options: object) -> dict[str, Any] | None:
    """``storage_options=``: a dict for a URL (endpoint, credentials...), else ``None``."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise InvalidArgumentError(f"storage_options must be a dict, not {options!r}")
    if not is_url(target):
        raise InvalidArgumentError(
            f"storage_options only apply to a URL (s3://, gcs://...), not to {target!r}"
        )
    return options


def _filesystem(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    try:
        fsspec = importlib.import_module("fsspec")
    except ImportError:
        raise DependencyMissingError(
            f"{url!r} needs fsspec: pip install 'brinery[fsspec]' (and the protocol's package, "
            "e.g. s3fs for s3://)"
        ) from None
    try:
        filesystem, path = fsspec.core.url_to_fs(url, **(options or {}))
    except ImportError as error:
        raise DependencyMissingError(f"{url!r}: {error}") from error
    except ValueError as error:  # "Protocol not known"
        raise InvalidArgumentError(f"{url!r}: {error}") from error
    return filesystem, path


@contextlib.contextmanager
def writing(url: str, options: dict[str, Any] | None = None) -> Iterator[IO[bytes]]:
    """A binary file at ``url``, committed only if the block succeeds."""
    filesystem, path = _filesystem(url, options)
    file = filesystem.open(path, "wb", autocommit=False)
    try:
        yield file
        file.close()
        file.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            file.discard()
        raise


def size(url: str, options: dict[str, Any] | None = None) -> int | None:
    """The size of the file at ``url``, when its file system knows it (``brinery info``)."""
    filesystem, path = _filesystem(url, options)
    found = filesystem.size(path)
    return found if isinstance(found, int) else None


@contextlib.contextmanager
def reading(
    url: str, options: dict[str, Any] | None = None
) -> Iterator[tuple[IO[bytes], int | None]]:
    """A binary file reading ``url``, and its size when the file system knows it."""
    filesystem, path = _filesystem(url, options)
    with filesystem.open(path, "rb") as file:
        size = getattr(file, "size", None)
        yield file, size if isinstance(size, int) else None


def random_reading(url: str, options: dict[str, Any] | None = None) -> IO[bytes]:
    """A binary file reading ``url`` at random (``brinery.open``): without a read-ahead cache
    where the file system takes ``cache_type`` (s3fs, gcsfs...), so that each range read is
    one range request for just those bytes."""
    filesystem, path = _filesystem(url, options)
    try:
        file: IO[bytes] = filesystem.open(path, "rb", cache_type="none")
    except TypeError:  # a file system without caches to choose
        file = filesystem.open(path, "rb")
    return file
