"""brinery's exception hierarchy.

Every error brinery raises on purpose derives from :class:`BrineryError`, so a caller can catch
everything with one clause, and each also derives from the built-in type that best describes it,
so code written for that type (``except ValueError``, ``except EOFError``) keeps working.
"""

from __future__ import annotations

import pickle


class BrineryError(Exception):
    """Base class of every error brinery raises on purpose."""


class InvalidArgumentError(BrineryError, ValueError):
    """An argument has a value brinery cannot use (a bad ``compress=``, level or protocol)."""


class RegistrationError(BrineryError, ValueError):
    """A compressor cannot be registered: its name, extension or magic number clashes."""


class UnknownFormatError(BrineryError, ValueError):
    """The data is not a brinery stream, nor compressed data brinery recognises."""


class UnsupportedVersionError(UnknownFormatError):
    """The stream was written by a newer, incompatible brinery format version."""


class CompressorNotInstalledError(BrineryError, LookupError):
    """The compressor a file or argument needs is known but not installed."""

    def __init__(self, message: str, compressor: str, distribution: str | None) -> None:
        super().__init__(message)
        self.compressor = compressor
        self.distribution = distribution


class DependencyMissingError(BrineryError, ImportError):
    """An optional dependency a call needs is not installed (fsspec for a URL)."""


class CorruptFileError(BrineryError, OSError):
    """The data is damaged: a codec or brinery check failed, or a structure is inconsistent.

    Like :class:`gzip.BadGzipFile`, it is an :class:`OSError`.  The codec's own exception, when
    there is one, is chained as ``__cause__``.
    """


class TruncatedFileError(CorruptFileError, EOFError):
    """The data ends before the stream does."""


class SizeLimitError(BrineryError):
    """Loading would produce more than the ``max_bytes`` the caller allowed (a decompression
    bomb, or simply a bigger file than expected)."""


class UntrustedTypesError(BrineryError):
    """A safe load met globals the caller did not trust; :attr:`types` lists them all."""

    def __init__(self, types: list[str]) -> None:
        self.types = types
        super().__init__(
            f"the file needs {len(types)} global(s) that are not trusted: {', '.join(types)}. "
            "Nothing was called. If you trust them, pass them in trusted=[...] "
            "(brinery.untrusted_types(file) lists them without loading)"
        )


class DumpError(BrineryError, pickle.PicklingError):
    """The object cannot be written (it, or something inside it, cannot be pickled)."""
