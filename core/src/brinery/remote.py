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
from collections.abc import Iterator
from typing import IO, Any

from .errors import DependencyMissingError, InvalidArgumentError


def is_url(target: object) -> bool:
    """Whether ``target`` names a file through a protocol (``s3://``, ``memory://``...)."""
    return isinstance(target, str) and "://" in target


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


@contextlib.contextmanager
def reading(
    url: str, options: dict[str, Any] | None = None
) -> Iterator[tuple[IO[bytes], int | None]]:
    """A binary file reading ``url``, and its size when the file system knows it."""
    filesystem, path = _filesystem(url, options)
    with filesystem.open(path, "rb") as file:
        size = getattr(file, "size", None)
        yield file, size if isinstance(size, int) else None
