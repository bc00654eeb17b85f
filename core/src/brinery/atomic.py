"""Atomic replacement of a file: the old file stays intact until the new one is complete.

The new content goes to a temporary file in the same folder (so ``os.replace`` is a rename on one
file system), which is flushed and ``fsync``-ed before it replaces the target.  Any failure
removes the temporary file.  Its name starts with ``.`` and contains ``.brinery-tmp-`` so that
one left behind by a killed process is recognisable.  It is created with mode 0o666 filtered by
the umask, as ``open()`` would create the target, not ``mkstemp``'s 0o600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

TEMPORARY_MARKER = ".brinery-tmp-"


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a binary file whose content replaces ``path`` when the block succeeds."""
    target = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(target))
    temporary = os.path.join(folder, f".{name}{TEMPORARY_MARKER}{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "wb", buffering=1 << 20) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
