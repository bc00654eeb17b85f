"""The header of a ``.npy`` file, read as data (the side files of joblib < 0.10 are ``.npy``).

numpy's format: ``\\x93NUMPY``, a version byte pair, the header's length (2 bytes in version 1,
4 in versions 2 and 3), then the header, a Python dict literal such as
``{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`` padded with spaces, then the
array's bytes (or, for an array of objects, a pickle of it).  The literal is parsed by
``ast.literal_eval`` (which builds constants and containers, nothing else) from at most numpy's
own limit of characters, and every piece is checked as data: the dtype through
:mod:`brinery.dtype_description`, the shape through its ``element_count``.  numpy's ``np.load``
is never called on the file.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import math
import re
import struct
import tokenize
from typing import IO, Any

from .dtype_description import (
    MAX_ITEMSIZE,
    DtypeDescription,
    describe_pickled,
    describe_string,
    element_count,
)
from .errors import CorruptFileError, TruncatedFileError
from .safe_globals import describe

MAGIC = b"\x93NUMPY"
#: numpy's own bound on a header (``max_header_size``): longer ones are refused.
MAX_HEADER = 10_000
#: Structures inside structures in a header's ``descr``.
_MAX_DEPTH = 16
_KEYS = frozenset({"descr", "fortran_order", "shape"})
#: numpy's descriptions of objects (``'|O8'`` and ``'|O4'`` from numpy before 1.13).
_OBJECT_DESCR = re.compile(r"[|<>=]?O[48]?")


@dataclasses.dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says of its array."""

    description: DtypeDescription | None  # None: an array of objects (a pickle follows)
    shape: tuple[int, ...]
    order: str  # 'C' or 'F'
    count: int  # elements
    data_offset: int  # where the array's bytes (or pickle) start

    @property
    def nbytes(self) -> int:
        return 0 if self.description is None else self.count * self.description.itemsize


def read_header(file: IO[bytes], size: int) -> NpyHeader:
    """The header at the start of ``file`` (``size`` bytes long), checked; ``file`` is left
    where the data starts."""
    prefix = _read(file, len(MAGIC) + 2)
    if prefix[: len(MAGIC)] != MAGIC:
        raise CorruptFileError("a side file that should be a .npy file does not start like one")
    major = prefix[len(MAGIC)]
    if major not in (1, 2, 3):
        raise CorruptFileError(f"a .npy side file of version {major}, which numpy never wrote")
    width = 2 if major == 1 else 4
    (length,) = struct.unpack("<H" if width == 2 else "<I", _read(file, width))
    offset = len(prefix) + width + length
    if length > MAX_HEADER or offset > size:
        raise CorruptFileError(f"a .npy side file declares a {length}-byte header: refused")
    text = _read(file, length).decode("utf-8" if major == 3 else "latin-1", "replace")
    fields = _literal(text if major == 3 else _without_long_suffixes(text))
    if type(fields) is not dict or set(fields) != _KEYS:
        raise CorruptFileError("a .npy side file whose header is not numpy's dict of three keys")
    order, shape = fields["fortran_order"], fields["shape"]
    if type(order) is not bool:
        raise CorruptFileError("a .npy side file whose fortran_order is not a bool")
    description = describe_descr(fields["descr"])
    count = element_count(shape, 8 if description is None else description.itemsize)
    return NpyHeader(description, shape, "F" if order else "C", count, offset)


def describe_descr(descr: object, depth: int = 0) -> DtypeDescription | None:
    """A ``.npy`` header's ``descr`` as a dtype description (``None``: objects), as numpy's
    ``descr_to_dtype`` reads it: a dtype string, ``(descr, shape)``, or a list of fields."""
    if depth > _MAX_DEPTH:
        raise CorruptFileError("a .npy side file describes structures nested too deeply")
    if type(descr) is str:
        if _OBJECT_DESCR.fullmatch(descr):
            return None if depth == 0 else _no_objects()
        return describe_string(descr)
    if type(descr) is tuple and len(descr) == 2:
        return _subarray(_inner(descr[0], depth), descr[1])
    if type(descr) is not list or not descr:
        raise CorruptFileError(f"a .npy side file whose dtype is {describe(descr)}")
    names: list[str] = []
    fields: dict[str, tuple[Any, ...]] = {}
    offset = 0
    for field in descr:
        if type(field) is not tuple or len(field) not in (2, 3):
            raise CorruptFileError("a .npy side file with a field that is not (name, dtype)")
        name, dtype = field[0], _inner(field[1], depth)
        if len(field) == 3:
            dtype = _subarray(dtype, field[2])
        padding = name == "" and dtype.kind == "V" and dtype.fields is None
        if not padding:
            title, name = name if type(name) is tuple and len(name) == 2 else (None, name)
            if type(name) is not str or name in fields:
                raise CorruptFileError("a .npy side file with a field name that is not new text")
            names.append(name)
            fields[name] = (dtype, offset) if title is None else (dtype, offset, title)
            if title is not None:
                if type(title) is not str or title in fields:
                    raise CorruptFileError("a .npy side file with a field title that is not new")
                fields[title] = fields[name]
        offset += dtype.itemsize
        if offset > MAX_ITEMSIZE:
            raise CorruptFileError("a .npy side file describes items too large")
    if not names:
        return describe_string(f"|V{offset}")
    return describe_pickled(f"V{offset}", (3, "|", None, tuple(names), fields, offset, -1, 0))


def _inner(descr: object, depth: int) -> DtypeDescription:
    found = describe_descr(descr, depth + 1)
    assert found is not None  # (objects are refused below the top)
    return found


def _no_objects() -> DtypeDescription:
    raise CorruptFileError(
        "a .npy side file describes a structure holding objects: brinery reads raw memory only"
    )


def _subarray(base: DtypeDescription, shape: object) -> DtypeDescription:
    dims = (shape,) if type(shape) is int else shape
    if type(dims) is not tuple or not all(type(n) is int and n >= 0 for n in dims):
        raise CorruptFileError("a .npy side file with a subarray shape that is not ints")
    size = base.itemsize * math.prod(dims[:32])
    if len(dims) > 32 or size > MAX_ITEMSIZE:
        raise CorruptFileError("a .npy side file describes a subarray too large")
    return describe_pickled(f"V{size}", (3, "|", (base, dims), None, None, size, -1, 0))


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
        raise CorruptFileError(
            f"a .npy side file whose header is not a Python literal ({type(error).__name__})"
        ) from None


def _without_long_suffixes(text: str) -> str:
    """Python 2's numpy could write a dimension as ``5L``: the ``L`` is dropped, as numpy's own
    reader does for versions 1 and 2 (strings are left as they are)."""
    if "L" not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text  # refused as it is by the literal parser
    kept = [
        token
        for previous, token in zip([None, *tokens], tokens, strict=False)
        if not (
            token.type == tokenize.NAME
            and token.string == "L"
            and previous is not None
            and previous.type == tokenize.NUMBER
        )
    ]
    return str(tokenize.untokenize(kept))


def _read(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise TruncatedFileError("a .npy side file ends inside its header")
    return data
