"""Atomic replacement of a file: the old file stays intact until the new one is complete.

The new content goes to a temporary file in the same folder (so ``os.replace`` is a rename on one
file system), which replaces the target once complete.  Durable (the default), the file is
``fsync``-ed before the rename and its folder after it, so that after a power cut the target is
the old file or the new one, whole; not durable (caches, scratch work), the rename stays atomic
for every other process, but what reached the disk is the operating system's choice.  Any
failure removes the temporary file.  Its name starts with ``.`` and contains ``.brinery-tmp-``
so that one left behind by a killed process is recognisable.

The new file keeps the permission bits of the file it replaces (a ``0o600`` file of secrets
stays ``0o600``); a new file gets mode 0o666 filtered by the umask, as ``open()`` would create
it, not ``mkstemp``'s 0o600.  A symbolic link is followed: the file it points to is replaced,
next to which the temporary file is made, and the link stays a link.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterator
from typing import IO, Any

from .preallocation import reserve

TEMPORARY_MARKER = ".brinery-tmp-"
BUFFER_BYTES = 1 << 20


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file whose content replaces ``path`` when the block succeeds (on disk
    before this returns if ``durable``).

    An error of the file itself (a missing folder, a permission refused, a full disk or a
    file-size limit) names ``path`` as given, not the temporary file the user never asked
    for; errors of the caller's own work inside the block come out as they are.
    """

    named = os.fspath(path)
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}{TEMPORARY_MARKER}{os.urandom(4).hex()}")
    with _naming(named):
        mode = _kept_mode(target)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with _ReplacementFile(_TargetFile(descriptor, named), BUFFER_BYTES) as file:
            with _naming(named):
                if mode is not None:
                    os.chmod(file.fileno(), mode)
            yield file
            with _naming(named):
                file.flush()
                if durable:
                    os.fsync(file.fileno())
        with _naming(named):
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable.  Some file systems cannot sync a folder (they say
    EINVAL or ENOTSUP): the file's own data is on disk by then, which is what they offer."""
    descriptor = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(descriptor)


class _ReplacementFile(io.BufferedWriter):
    """The buffered temporary file, which can reserve disk blocks ahead of a large write."""

    def reserve(self, size: int) -> None:
        """Reserve the disk blocks of the next ``size`` bytes (:mod:`brinery.preallocation`)."""
        reserve(self.fileno(), self.tell(), size)


class _TargetFile(io.FileIO):
    """The temporary file's descriptor, whose write errors (``ENOSPC``, ``EFBIG``...) name the
    target: they reach the caller through the buffered file's ``write``."""

    def __init__(self, descriptor: int, named: str) -> None:
        super().__init__(descriptor, "wb")
        self._named = named

    def write(self, data: Any, /) -> int:
        with _naming(self._named):
            return super().write(data)


@contextlib.contextmanager
def _naming(named: str) -> Iterator[None]:
    """Re-raise an ``OSError`` as the same error about ``named``: same type, errno and text."""
    try:
        yield
    except OSError as error:
        if error.errno is None or error.filename == named:
            raise
        renamed = OSError(error.errno, error.strerror, named)
        if type(renamed) is not type(error):  # a subclass the errno does not select
            renamed = type(error)(error.errno, error.strerror, named)
        raise renamed from None


def _kept_mode(target: str) -> int | None:
    """The permission bits (not set-user-ID and the like) of the regular file at ``target``, if
    there is one."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(status.st_mode) & 0o777 if stat.S_ISREG(status.st_mode) else None
