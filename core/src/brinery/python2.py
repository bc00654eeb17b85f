"""Pickles written by Python 2: ``load(encoding=)``, and the error that says how to use it.

Python 2's ``str`` is bytes; its pickles (``STRING``, ``BINSTRING``, ``SHORT_BINSTRING``) do not
say whether those bytes were text.  Python 3's unpicklers decode them with ``encoding``, ASCII by
default, so such a pickle holding any other byte (latin-1 text, a numpy array's data, raw bytes)
cannot load as it is: the caller must choose, as with ``pickle.load`` (whose choices these are).
``"latin1"`` is what numpy asks for: every byte maps to one character, and numpy turns such a
string back into an array's bytes; ``"bytes"`` keeps them all as ``bytes`` (text as well).
joblib files written under Python 2.7 (joblib up to 0.11) are such pickles.
"""

from __future__ import annotations

import codecs

from .errors import InvalidArgumentError, UnsupportedVersionError

DEFAULT_ENCODING = "ASCII"


def checked_encoding(encoding: object) -> str:
    """``encoding`` if pickle can use it: ``"bytes"``, or the name of a text codec."""
    if type(encoding) is not str:
        raise InvalidArgumentError(
            f"encoding must be a str ('ASCII', 'latin1' or 'bytes'), not {type(encoding).__name__}"
        )
    if encoding != "bytes":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvalidArgumentError(
                f"encoding={encoding!r} is not a codec Python knows (use 'ASCII', 'latin1' or "
                "'bytes')"
            ) from None
    return encoding


def python2_error(encoding: str) -> UnsupportedVersionError:
    """The error for a Python 2 ``str`` that ``encoding`` cannot decode."""
    return UnsupportedVersionError(
        f"the file was written by Python 2: its pickle holds a Python 2 str (bytes) that is not "
        f"{encoding} text. Load it with encoding='latin1' (Python 2 str come back as str, numpy "
        "arrays as they were) or encoding='bytes' (every Python 2 str comes back as bytes)"
    )
