"""The files a pickle of joblib < 0.10 names, read only from the folder the pickle is in.

joblib before 0.10 wrote each large array to a file of its own, ``<pickle name>_01.npy`` (or
``..._01.npy.z``), and put its name in the pickle.  The name comes from the file, so it is
hostile until checked: brinery reads a side file only if the name is one plain file name
(no folder, no drive, not ``..``), and only if what it names is a regular file whose real path
lies in the pickle's own folder (a symbolic link to another file there is followed, one leading
out is refused).  A pickle read from a file object or a URL has no folder, so it has no side
files either.
"""

from __future__ import annotations

import io
import os
import stat

from .errors import CorruptFileError
from .safe_globals import describe

#: Longest name of a side file (most file systems' limit for one name).
MAX_NAME = 255


class SideFiles:
    """The folder a pickle was found in: the one place its side files are read from.  ``None``
    for a pickle without one (read from a file object or a URL, or inside compressed data,
    where joblib never put side files)."""

    def __init__(self, folder: str | None) -> None:
        # Resolved when a side file is asked for: nearly every file has none, and every load
        # by path makes one of these.
        self._folder = folder

    @classmethod
    def of(cls, path: str | None) -> SideFiles:
        """Those of the file at ``path`` (``None``: a file object or a URL)."""
        return cls(None if path is None else os.path.dirname(path))

    def open(self, name: object, *, writable: bool = False) -> tuple[io.BufferedReader, int]:
        """The side file ``name``, opened for reading (and writing: a map that writes through),
        and its size."""
        checked = checked_name(name)
        if self._folder is None:
            raise CorruptFileError(
                "the file keeps its arrays in side files, as joblib before 0.10 did, and those "
                "can only be found next to the pickle: load it by its path (not from a file "
                "object or a URL), its side files in the same folder"
            )
        folder = os.path.realpath(self._folder or ".")
        real = os.path.realpath(os.path.join(folder, checked))
        if os.path.dirname(real) != folder:
            raise CorruptFileError(
                f"the side file {checked!r} the file names is a link to a file outside the "
                "pickle's folder: refused"
            )
        flags = os.O_RDWR if writable else os.O_RDONLY
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            descriptor = os.open(real, flags | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise CorruptFileError(
                f"the side file {checked!r} is not in {folder!r}: joblib before 0.10 kept "
                "each array in a file of its own next to the pickle (keep them together)"
            ) from None
        except OSError as error:
            raise CorruptFileError(
                f"the side file {checked!r} cannot be opened ({type(error).__name__})"
            ) from error
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise CorruptFileError(f"the side file {checked!r} is not a regular file")
            raw = io.FileIO(descriptor, "rb+" if writable else "rb", closefd=True)
            return io.BufferedReader(raw, buffer_size=1 << 20), status.st_size
        except BaseException:
            os.close(descriptor)
            raise


def checked_name(name: object) -> str:
    """``name`` if it is one plain file name, else the error (never its ``repr``)."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise CorruptFileError(
            f"a joblib array wrapper names its side file with {describe(name)}, not a file name"
        )
    separators = {"/", "\\", os.sep, os.altsep or "/"}
    if (
        name in (".", "..")
        or any(separator in name for separator in separators)
        or os.path.splitdrive(name)[0]
    ):
        raise CorruptFileError(
            "a joblib array wrapper names a side file by a path, not a file name in the "
            "pickle's folder: refused"
        )
    return name
