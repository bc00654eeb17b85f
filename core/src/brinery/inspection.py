"""What a file holds, without loading it: ``brinery info``.

The stream is read to its end (so every checksum is checked) but no object is built: an
:class:`Inspector` runs the pickle like a safe load that trusts only the defaults, and where the
pickle would rebuild an array it notes the array's dtype, shape and size instead, the array's
raw memory having been read and dropped.  The globals the file would import are listed as
:func:`brinery.untrusted_types` lists them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from . import rebuild
from .format.layout import ARRAY_RECORD
from .format.reader import StreamReader
from .safe import DEFAULT_TRUSTED, Placeholder, SafeUnpickler


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """One array of the file."""

    dtype: str
    shape: tuple[int, ...]
    order: str
    nbytes: int
    in_pickle: bool  # small arrays travel inside the pickle; large ones in records


@dataclasses.dataclass
class Inspection:
    """What :func:`brinery.api.inspect_file` found."""

    format: str  # "brinery 1.1", or "joblib file (or plain pickle)"
    compressor: str = "none"
    checksums: bool | None = None  # brinery's own record checksums (None: not brinery)
    stream_bytes: int | None = None  # uncompressed
    arrays: list[ArrayInfo] = dataclasses.field(default_factory=list)
    imports: list[str] = dataclasses.field(default_factory=list)


class Inspector(SafeUnpickler):
    """A safe unpickler trusting only the defaults, noting arrays instead of building them."""

    def __init__(self, stream: StreamReader, buffers: Any) -> None:
        super().__init__(stream, DEFAULT_TRUSTED, buffers)
        self._stream = stream
        self.arrays: list[ArrayInfo] = []

    def _call(self, func: Any, args: Any) -> Any:
        rebuilds = func is rebuild.array or func is rebuild.array_in_band
        if rebuilds and type(args) is tuple and len(args) == 4:
            dtype, shape, order = rebuild.checked_description(args[0], args[1], args[2])
            if func is rebuild.array:
                self._stream.take_memory(ARRAY_RECORD)  # read and dropped
            nbytes = math.prod(shape) * dtype.itemsize
            self.arrays.append(
                ArrayInfo(dtype.str, shape, order, nbytes, func is rebuild.array_in_band)
            )
            return Placeholder("array")
        return super()._call(func, args)

    def inspection(self) -> Inspection:
        major, minor, checksums = self._stream.header
        return Inspection(
            format=f"brinery {major}.{minor}",
            checksums=checksums,
            stream_bytes=self._stream.offset,
            arrays=self.arrays,
            imports=list(self.untrusted),
        )
