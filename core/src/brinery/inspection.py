"""What a file holds, without loading it: ``brinery info``.

The stream is read to its end (so every checksum is checked) but nothing is built: the pickle
is read as data by :class:`~brinery.scan.Scanner`, which notes each array's dtype, shape and
size where the pickle would rebuild it (an array record's memory is read, checked and
dropped) and its path in the object (:mod:`brinery.array_paths`), and each out-of-band
buffer record's size and path (pyarrow's buffers), and lists the globals the file would import
as :func:`brinery.untrusted_types` does.
"""

from __future__ import annotations

import dataclasses

from .scan import ArrayInfo, BufferInfo

__all__ = ["ArrayInfo", "BufferInfo", "Inspection"]


@dataclasses.dataclass
class Inspection:
    """What :func:`brinery.api.inspect_file` found."""

    format: str  # "brinery 1.1", or "joblib file (or plain pickle)"
    compressor: str = "none"
    checksums: bool | None = None  # brinery's own record checksums (None: not brinery)
    stream_bytes: int | None = None  # uncompressed
    arrays: list[ArrayInfo] = dataclasses.field(default_factory=list)
    imports: list[str] = dataclasses.field(default_factory=list)
    #: Out-of-band buffer records (other libraries' protocol 5 buffers: pyarrow's), in order.
    buffers: list[BufferInfo] = dataclasses.field(default_factory=list)
    #: An indexed stream's index (format 1.4): what the value was cut into, and counts.
    index: dict[str, object] | None = None
