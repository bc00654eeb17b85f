"""The hostile-file corpus (issue #10): one attack per case, written byte by byte.

Nothing here pickles a real object of the attack: every pickle is assembled from opcodes
(:mod:`pickle`'s opcode constants and :mod:`struct`), as an attacker would write it, then
wrapped in a variant of the container:

* ``stream``: a brinery stream, uncompressed, with its record checksums
  (:class:`brinery.format.writer.StreamWriter`);
* ``stream.gz`` / ``stream.zst``: that stream compressed whole with gzip / zstd (one gzip member,
  one zstd frame with its content checksum: both valid brinery files);
* ``plain-pickle``: the pickle alone (brinery loads plain pickles through its joblib path), and
  ``plain-pickle.gz`` / ``plain-pickle.z``: compressed as joblib compresses (one gzip stream,
  one zlib stream);
* ``joblib`` (``.gz``, ``.z``): a joblib-style pickle whose arrays are
  ``joblib.numpy_pickle.NumpyArrayWrapper`` objects followed by their raw bytes.

Paths written into the files are relative (``written/...``): the harness runs every load in a
fresh directory holding an empty ``written/`` folder, and checks afterwards that nothing
appeared there.  Files are built at test time (:func:`build`), never committed; the large ones
are compressed cheaply (concatenated gzip members, hand-made zstd RLE blocks).

This module is loaded by ``conftest.py`` (by path); it imports brinery's stream writer, and
the optional ``zstandard``/``lz4`` modules only when building variants that need them.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
import struct
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: The folder the harness creates (empty) in each child's working directory.
SENTINEL_DIR = "written"
SENTINEL_FILE = f"{SENTINEL_DIR}/pwned.pth"

#: The harness's entry points (see harness.py): a safe load, a safe load with ``max_bytes``,
#: ``brinery.untrusted_types`` and ``python -m brinery info``.
ENTRIES = ("load", "load_max_bytes", "untrusted_types", "info")

GIB = 1 << 30
MIB = 1 << 20


# -- pickle opcodes ----------------------------------------------------------------------------


def proto(body: bytes, version: int = 5) -> bytes:
    """A whole pickle: ``PROTO version``, ``body``, ``STOP``."""
    return pickle.PROTO + bytes([version]) + body + pickle.STOP


def glob(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    encoded = value.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded


def integer(value: int) -> bytes:
    if 0 <= value < 256:
        return pickle.BININT1 + bytes([value])
    if -(1 << 31) <= value < 1 << 31:
        return pickle.BININT + struct.pack("<i", value)
    encoded = pickle.encode_long(value)
    return pickle.LONG1 + bytes([len(encoded)]) + encoded


def raw_bytes(value: bytes) -> bytes:
    return pickle.BINBYTES + struct.pack("<I", len(value)) + value


def raw_bytearray(value: bytes) -> bytes:
    return pickle.BYTEARRAY8 + struct.pack("<Q", len(value)) + value


def tup(*items: bytes) -> bytes:
    if not items:
        return pickle.EMPTY_TUPLE
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def dictionary(*pairs: tuple[bytes, bytes]) -> bytes:
    body = b"".join(key + value for key, value in pairs)
    return pickle.EMPTY_DICT + (pickle.MARK + body + pickle.SETITEMS if pairs else b"")


def call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)``: the callable, the argument tuple, ``REDUCE``."""
    return func + tup(*args) + pickle.REDUCE


def put(index: int) -> bytes:
    return pickle.LONG_BINPUT + struct.pack("<I", index)


def get(index: int) -> bytes:
    return pickle.LONG_BINGET + struct.pack("<I", index)


def setitem(key: bytes, value: bytes) -> bytes:
    """``top[key] = value`` on whatever is on top of the stack (a dict, or an array)."""
    return key + value + pickle.SETITEM


FALSE, TRUE, NONE = pickle.NEWFALSE, pickle.NEWTRUE, pickle.NONE


# -- numpy's dtype pickle ----------------------------------------------------------------------


def dtype(
    descr: str,
    order: str = "|",
    *,
    subarray: bytes = NONE,
    names: Iterable[str] | None = None,
    fields: Iterable[tuple[str, bytes, int]] | None = None,
    itemsize: int = -1,
    alignment: int = -1,
    flags: int = 0,
) -> bytes:
    """numpy's own dtype pickle: ``numpy.dtype(descr, False, True)`` then ``BUILD`` with the
    state ``(3, order, subarray, names, fields, itemsize, alignment, flags)``; ``fields`` are
    ``(name, field dtype pickle, offset)``."""
    names_op = NONE if names is None else tup(*(text(name) for name in names))
    fields_op = NONE
    if fields is not None:
        fields_op = dictionary(
            *((text(name), tup(field, integer(offset))) for name, field, offset in fields)
        )
    state = tup(
        integer(3),
        text(order),
        subarray,
        names_op,
        fields_op,
        integer(itemsize),
        integer(alignment),
        integer(flags),
    )
    return call(glob("numpy", "dtype"), text(descr), FALSE, TRUE) + state + pickle.BUILD


def simple_dtype(kind: str) -> bytes:
    """A plain dtype the way numpy pickles it (``"<i8"``, ``"|u1"``, ``"|O"``)."""
    order, code = kind[0], kind[1:]
    descr = {"O": "O8"}.get(code, code)
    return dtype(descr, order, flags=63 if code == "O" else 0)


def in_band(dtype_op: bytes, shape: tuple[int, ...], data: bytes) -> bytes:
    """``brinery.rebuild.array_in_band(dtype, shape, "C", data)``."""
    return call(
        glob("brinery.rebuild", "array_in_band"),
        dtype_op,
        tup(*(integer(n) for n in shape)),
        text("C"),
        data,
    )


# -- containers --------------------------------------------------------------------------------


def brinery_stream(pickle_bytes: bytes, arrays: Iterable[bytes] = ()) -> bytes:
    """A brinery stream (record checksums on): ``arrays`` as array records, then the pickle."""
    from brinery.format.layout import ARRAY_RECORD
    from brinery.format.writer import StreamWriter

    buffer = io.BytesIO()
    writer = StreamWriter(buffer, checksums=True)
    for payload in arrays:
        writer.write_memory(ARRAY_RECORD, len(payload), [memoryview(payload)])
    writer.write(pickle_bytes)
    writer.finish()
    return buffer.getvalue()


def zstd_frame(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def joblib_wrapper(
    dtype_op: bytes,
    shape: tuple[int, ...],
    *,
    memo: int | None = None,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """joblib's array wrapper as joblib writes it (``NEWOBJ`` of ``NumpyArrayWrapper``, then
    ``BUILD`` with its state dict); the raw bytes must follow.  ``memo``: memoize the wrapper
    right after ``NEWOBJ`` (before its ``BUILD``); ``extra``: more state items."""
    created = glob("joblib.numpy_pickle", "NumpyArrayWrapper") + pickle.EMPTY_TUPLE
    created += pickle.NEWOBJ + (b"" if memo is None else put(memo))
    state = dictionary(
        (text("subclass"), glob("numpy", "ndarray")),
        (text("shape"), tup(*(integer(n) for n in shape))),
        (text("order"), text("C")),
        (text("dtype"), dtype_op),
        (text("allow_mmap"), FALSE),
        *extra,
    )
    return created + state + pickle.BUILD


def joblib_array(dtype_op: bytes, shape: tuple[int, ...], raw: bytes) -> bytes:
    """A joblib (< 1.2) array: the wrapper, then its raw bytes right after the BUILD opcode."""
    return joblib_wrapper(dtype_op, shape) + raw


# -- cases -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Variant:
    """One file of a case: how to write it, and how to load it."""

    name: str
    write: Callable[[Path], None]
    load_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    skip: dict[str, str] = dataclasses.field(default_factory=dict)  # entry -> reason
    needs: tuple[str, ...] = ()  # compressors that must be installed ("zstd", "lz4")


@dataclasses.dataclass(frozen=True)
class Case:
    """An attack, in several files, and what a safe outcome is.

    ``untrusted``: the globals the file names that a safe load does not trust, which
    ``untrusted_types`` (and ``brinery info``) must name when they do not fail.  ``bounded``:
    the data is plain data, only costly to load: returning it is fine within ``cpu_budget``.
    """

    name: str
    attack: str  # the attack class
    what: str
    variants: tuple[Variant, ...]
    max_bytes: int | None = None  # for the load_max_bytes entry point; None: not applicable
    skip: dict[str, str] = dataclasses.field(default_factory=dict)  # entry -> reason
    untrusted: tuple[str, ...] = ()
    bounded: bool = False
    cpu_budget: float | None = None  # seconds of CPU for the whole child, start-up included


def _bytes_writer(make: Callable[[], bytes]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(make())

    return write


def standard_variants(
    pickle_bytes: Callable[[], bytes],
    *,
    arrays: Callable[[], list[bytes]] | None = None,
    stream: Iterable[str] = ("stream", "stream.gz", "stream.zst"),
    plain: Iterable[str] = ("plain-pickle", "plain-pickle.gz", "plain-pickle.z"),
) -> tuple[Variant, ...]:
    """The pickle in a brinery stream (uncompressed, gzip, zstd) and as a plain pickle
    (uncompressed, and compressed as joblib compresses: gzip, zlib)."""

    def as_stream() -> bytes:
        return brinery_stream(pickle_bytes(), arrays() if arrays else ())

    makers: dict[str, tuple[Callable[[], bytes], tuple[str, ...]]] = {
        "stream": (as_stream, ()),
        "stream.gz": (lambda: gzip.compress(as_stream(), mtime=0), ()),
        "stream.zst": (lambda: zstd_frame(as_stream()), ("zstd",)),
        "plain-pickle": (pickle_bytes, ()),
        "plain-pickle.gz": (lambda: gzip.compress(pickle_bytes(), mtime=0), ()),
        "plain-pickle.z": (lambda: zlib.compress(pickle_bytes()), ()),
    }
    chosen = [*stream, *plain]
    return tuple(
        Variant(name, _bytes_writer(makers[name][0]), needs=makers[name][1]) for name in chosen
    )


def joblib_variants(
    pickle_bytes: Callable[[], bytes],
    names: Iterable[str] = ("joblib", "joblib.gz", "joblib.z"),
) -> tuple[Variant, ...]:
    """A joblib-style pickle, uncompressed and compressed as joblib compresses (gzip, zlib)."""
    makers = {
        "joblib": pickle_bytes,
        "joblib.gz": lambda: gzip.compress(pickle_bytes(), mtime=0),
        "joblib.z": lambda: zlib.compress(pickle_bytes()),
    }
    return tuple(Variant(name, _bytes_writer(makers[name])) for name in names)


CASES: list[Case] = []


def case(
    name: str,
    attack: str,
    what: str,
    variants: tuple[Variant, ...],
    *,
    max_bytes: int | None = None,
    skip: dict[str, str] | None = None,
    untrusted: tuple[str, ...] = (),
    bounded: bool = False,
    cpu_budget: float | None = None,
) -> None:
    CASES.append(
        Case(name, attack, what, variants, max_bytes, skip or {}, untrusted, bounded, cpu_budget)
    )


# 1. Files written (or read) on disk through numpy calls the joblib path trusts --------------

ATTACK_1 = "1 files written on disk"


def _memmap_write() -> bytes:
    opened = call(
        glob("numpy", "memmap"),
        text(SENTINEL_FILE),
        text("uint8"),
        text("w+"),
        integer(0),
        tup(integer(16)),
    )
    return proto(opened + setitem(integer(0), integer(0x41)) + setitem(integer(1), integer(0x42)))


case(
    "memmap-write",
    ATTACK_1,
    "numpy.memmap('written/pwned.pth', 'uint8', 'w+', 0, (16,)) filled with SETITEM",
    standard_variants(_memmap_write),
    untrusted=("numpy.memmap",),
)


def _memmap_read() -> bytes:
    # Any file the loading process can read comes back as an array (here: the interpreter).
    target = str(Path(sys.executable).resolve())
    arguments = (text(target), text("uint8"), text("r"), integer(0), tup(integer(64)))
    return proto(call(glob("numpy", "memmap"), *arguments))


case(
    "memmap-read",
    ATTACK_1,
    "numpy.memmap(<the python executable>, 'uint8', 'r', 0, (64,)): reads any file",
    standard_variants(_memmap_read, stream=("stream",), plain=("plain-pickle",)),
    untrusted=("numpy.memmap",),
)


def _ndarray_huge() -> bytes:
    return proto(call(glob("numpy", "ndarray"), tup(integer(1 << 40)), text("u1")))


case(
    "ndarray-call",
    ATTACK_1,
    "numpy.ndarray((2**40,), 'u1') called directly (a 1 TiB allocation)",
    standard_variants(_ndarray_huge, stream=("stream",), plain=("plain-pickle", "plain-pickle.gz")),
    untrusted=("numpy.ndarray",),
)


def _direct(module: str, name: str, *args: bytes) -> Callable[[], bytes]:
    return lambda: proto(call(glob(module, name), *args))


case(
    "frombuffer-object",
    ATTACK_1,
    "numpy.frombuffer(b'A'*8, 'O') called directly",
    standard_variants(
        _direct("numpy", "frombuffer", raw_bytes(b"A" * 8), text("O")),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
    untrusted=("numpy.frombuffer",),
)
case(
    "fromfile-read",
    ATTACK_1,
    "numpy.fromfile('/etc/passwd', 'u1') called directly",
    standard_variants(
        _direct("numpy", "fromfile", text("/etc/passwd"), text("u1")),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
    untrusted=("numpy.fromfile",),
)
case(
    "save-write",
    ATTACK_1,
    "numpy.save('written/pwned.npy', 'payload') called directly",
    standard_variants(
        _direct("numpy", "save", text(f"{SENTINEL_DIR}/pwned.npy"), text("payload")),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
    untrusted=("numpy.save",),
)


# 2. Object pointers forged from file bytes ---------------------------------------------------

ATTACK_2 = "2 object pointers from file bytes"


def _object_in_band(data: bytes) -> Callable[[], bytes]:
    def make() -> bytes:
        made = in_band(text("|O"), (1,), data)
        # Assigning an element releases the old one: the forged pointer.
        return proto(made + setitem(integer(0), integer(1)))

    return make


case(
    "object-in-band",
    ATTACK_2,
    "array_in_band('|O', (1,), 'C', bytearray(b'A'*8)), then SETITEM [0] = 1",
    standard_variants(_object_in_band(raw_bytearray(b"A" * 8))),
)
case(
    "object-in-band-readonly",
    ATTACK_2,
    "array_in_band('|O', (1,), 'C', b'A'*8) (read-only: the pointer is forged, not used)",
    standard_variants(
        lambda: proto(in_band(text("|O"), (1,), raw_bytes(b"A" * 8))),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
)


def _object_record_pickle() -> bytes:
    made = call(glob("brinery.rebuild", "array"), text("|O"), tup(integer(1)), text("C"), TRUE)
    return proto(made + setitem(integer(0), integer(1)))


case(
    "object-array-record",
    ATTACK_2,
    "brinery.rebuild.array('|O', (1,), 'C', True) over an 8-byte array record b'A'*8, then "
    "SETITEM [0] = 1",
    standard_variants(_object_record_pickle, arrays=lambda: [b"A" * 8], plain=()),
)


def _hidden_objects() -> bytes:
    return dtype(
        "V16",
        names=("a", "b"),
        fields=(("a", simple_dtype("|O"), 0), ("b", simple_dtype("<i8"), 8)),
        itemsize=16,
        alignment=1,
        flags=0,  # numpy's own pickle says 27: "holds objects"
    )


def _object_field_flags0() -> bytes:
    made = in_band(_hidden_objects(), (1,), raw_bytearray(b"A" * 16))
    return proto(made + setitem(text("a"), integer(1)))


def _object_field_flags0_joblib() -> bytes:
    made = joblib_array(_hidden_objects(), (1,), b"A" * 16)
    return proto(made + setitem(text("a"), integer(1)), 4)


case(
    "object-field-flags0",
    ATTACK_2,
    "a [('a', 'O'), ('b', '<i8')] dtype whose BUILD state has flags 0, over bytearray(b'A'*16), "
    "then SETITEM ['a'] = 1",
    standard_variants(_object_field_flags0) + joblib_variants(_object_field_flags0_joblib),
)


# 3. Out of bounds through dtype state -------------------------------------------------------

ATTACK_3 = "3 out of bounds through dtype state"


def _wide(offset: int) -> bytes:
    """An 8-byte struct dtype whose one field, 'a' (<i8), is at ``offset``."""
    fields = (("a", simple_dtype("<i8"), offset),)
    return dtype("V8", names=("a",), fields=fields, itemsize=8, alignment=1, flags=16)


def _field_offset(offset: int, joblib: bool = False) -> Callable[[], bytes]:
    def make() -> bytes:
        if joblib:
            made = joblib_array(_wide(offset), (1,), bytes(8))
        else:
            made = in_band(_wide(offset), (1,), raw_bytearray(bytes(8)))
        return proto(made + setitem(text("a"), integer(0x41414141)), 4 if joblib else 5)

    return make


case(
    "field-offset-oob",
    ATTACK_3,
    "an 8-byte struct dtype whose field 'a' (<i8) is at offset 2**20, then SETITEM ['a'] = ...",
    standard_variants(_field_offset(1 << 20), stream=("stream", "stream.gz"))
    + joblib_variants(_field_offset(1 << 20, joblib=True)),
)
case(
    "field-offset-negative",
    ATTACK_3,
    "an 8-byte struct dtype whose field 'a' (<i8) is at offset -2**20, then SETITEM ['a']",
    standard_variants(_field_offset(-(1 << 20)), stream=("stream",), plain=("plain-pickle",)),
)
case(
    "field-offset-oob-returned",
    ATTACK_3,
    "the same dtype (field at 2**20 in 8 bytes) returned in a read-only array, not written "
    "(whoever reads arr['a'] reads 1 MiB past its memory)",
    standard_variants(
        lambda: proto(in_band(_wide(1 << 20), (1,), raw_bytes(bytes(8)))),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
)

_BIG_STATE = tup(
    integer(3),
    text("|"),
    NONE,
    tup(text("a")),
    dictionary((text("a"), tup(simple_dtype("<i8"), integer(1 << 20)))),
    integer((1 << 20) + 8),
    integer(1),
    integer(16),
)


def _dtype_rebuilt(joblib: bool = False) -> Callable[[], bytes]:
    def make() -> bytes:
        body = _wide(0) + put(1) + pickle.POP  # the dtype, memoized
        if joblib:
            body += joblib_array(get(1), (1,), bytes(8)) + put(2) + pickle.POP
        else:
            body += in_band(get(1), (1,), raw_bytearray(bytes(8))) + put(2) + pickle.POP
        body += get(1) + _BIG_STATE + pickle.BUILD + pickle.POP  # the same dtype, rebuilt
        body += get(2) + setitem(text("a"), integer(0x41414141))
        return proto(body, 4 if joblib else 5)

    return make


case(
    "dtype-second-build",
    ATTACK_3,
    "a dtype memoized (BINPUT), used by an 8-byte array, then BINGET + a second BUILD making "
    "it 1 MiB wide (field 'a' at 2**20); SETITEM ['a'] through the array",
    standard_variants(_dtype_rebuilt(), stream=("stream", "stream.gz"))
    + joblib_variants(_dtype_rebuilt(joblib=True), names=("joblib",)),
)


def _subarray_mismatch() -> bytes:
    sub = tup(simple_dtype("<i8"), tup(integer(1 << 17)))
    lying = dtype("V8", subarray=sub, itemsize=8, alignment=8, flags=0)
    made = in_band(lying, (1,), raw_bytearray(bytes(8)))
    return proto(made + setitem(integer(0), integer(7)))


case(
    "subarray-itemsize",
    ATTACK_3,
    "a dtype ('<i8', (131072,)) whose state says itemsize 8, over 8 bytes, then SETITEM [0] = 7",
    standard_variants(_subarray_mismatch, stream=("stream", "stream.gz")),
)


# 4. Memory allocated before any limit -------------------------------------------------------

ATTACK_4 = "4 memory before any limit"


def _declared(opcode: bytes, size: int) -> Callable[[], bytes]:
    return lambda: pickle.PROTO + b"\x05" + opcode + struct.pack("<Q", size) + b"abc"


for _name, _opcode, _label, _size in (
    ("binbytes8-8gib", pickle.BINBYTES8, "BINBYTES8", 8 * GIB),
    ("binbytes8-16gib", pickle.BINBYTES8, "BINBYTES8", 16 * GIB),
    ("bytearray8-8gib", pickle.BYTEARRAY8, "BYTEARRAY8", 8 * GIB),
    ("binunicode8-8gib", pickle.BINUNICODE8, "BINUNICODE8", 8 * GIB),
):
    case(
        _name,
        ATTACK_4,
        f"a 14-byte pickle: PROTO 5, {_label} declaring {_size >> 30} GiB, 3 bytes of data",
        standard_variants(
            _declared(_opcode, _size),
            stream=("stream",),
            plain=("plain-pickle", "plain-pickle.gz"),
        ),
        max_bytes=1000,
    )

#: 64 MiB of zeros, gzip-compressed once (~64 KiB): the 2 GiB files repeat this member.
_ZEROS_MEMBER: list[bytes] = []


def _zeros_member() -> bytes:
    if not _ZEROS_MEMBER:
        _ZEROS_MEMBER.append(gzip.compress(bytes(64 * MIB), compresslevel=9, mtime=0))
    return _ZEROS_MEMBER[0]


def _gzip_big_bytes(wrapped_in_stream: bool) -> Callable[[Path], None]:
    """A gzip file (concatenated members) holding a pickle whose BINBYTES8 carries 2 GiB."""
    from brinery.format.layout import END_RECORD, PICKLE_RECORD, RECORD_HEADER, STREAM_HEADER

    size = 2 * GIB
    pickle_head = pickle.PROTO + b"\x05" + pickle.BINBYTES8 + struct.pack("<Q", size)
    pickle_tail = pickle.STOP

    def write(path: Path) -> None:
        head = pickle_head
        tail = pickle_tail
        if wrapped_in_stream:  # a stream without checksums (gzip checks its members)
            from brinery.format.layout import STREAM_MAGIC

            total = len(pickle_head) + size + len(pickle_tail)
            head = STREAM_HEADER.pack(STREAM_MAGIC, 1, 1, 0, 0)
            head += RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, total) + pickle_head
            tail = pickle_tail + RECORD_HEADER.pack(END_RECORD, 0, 0, 0, 0)
        with path.open("wb") as file:
            file.write(gzip.compress(head, mtime=0))
            member = _zeros_member()
            for _ in range(size // (64 * MIB)):
                file.write(member)
            file.write(gzip.compress(tail, mtime=0))

    return write


_TOO_BIG = "the file really holds 2 GiB: only a limited load (load_max_bytes) must refuse it"
case(
    "gzip-2gib-bytes",
    ATTACK_4,
    "gzip members (2 MB of file) holding PROTO 5 + BINBYTES8 of 2 GiB of zeros",
    (
        Variant("plain-pickle.gz", _gzip_big_bytes(False)),
        Variant("stream.gz", _gzip_big_bytes(True)),
    ),
    max_bytes=1000,
    skip={"load": _TOO_BIG},
)


def _zstd_block(kind: int, size: int, last: bool, payload: bytes) -> bytes:
    header = int(last) | kind << 1 | size << 3
    return header.to_bytes(3, "little") + payload


def _zstd_rle_frame(prefix: bytes, total: int) -> bytes:
    """A zstd frame (RFC 8878) without content size or checksum: ``prefix`` as a raw block,
    then RLE blocks of 128 KiB of zeros until ``total`` bytes (4 bytes of file each)."""
    block = 128 * 1024
    descriptor = bytes([0x00, 10 << 3])  # no size, no checksum, no dictionary; 1 MiB window
    out = [b"\x28\xb5\x2f\xfd", descriptor, _zstd_block(0, len(prefix), False, prefix)]
    left = total - len(prefix)
    while left > 0:
        size = min(block, left)
        left -= size
        out.append(_zstd_block(1, size, left == 0, b"\x00"))
    return b"".join(out)


def _zstd_bomb(inner: str) -> Callable[[], bytes]:
    from brinery.format.layout import PICKLE_RECORD, RECORD_HEADER, STREAM_HEADER, STREAM_MAGIC

    total = 4 * GIB

    def make() -> bytes:
        pickle_head = pickle.PROTO + b"\x05" + pickle.BINBYTES8 + struct.pack("<Q", total)
        if inner == "stream":
            prefix = STREAM_HEADER.pack(STREAM_MAGIC, 1, 1, 0, 0)
            prefix += RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, total) + pickle_head
        else:
            prefix = pickle_head
        return _zstd_rle_frame(prefix, total)

    return make


case(
    "zstd-rle-bomb",
    ATTACK_4,
    "a 128 KB zstd frame of RLE blocks expanding to 4 GiB, starting like a brinery stream (or a "
    "plain pickle) that declares 4 GiB",
    (
        Variant("stream.zst", _bytes_writer(_zstd_bomb("stream")), needs=("zstd",)),
        Variant("plain-pickle.zst", _bytes_writer(_zstd_bomb("pickle")), needs=("zstd",)),
    ),
    max_bytes=1000,
    skip={"load": _TOO_BIG.replace("2 GiB", "4 GiB")},
)


def _frame_hint(compressed: int, uncompressed: int) -> bytes:
    """brinery's frame hint: a skippable frame (magic 0x184D2A5B, 20 bytes), 'BRFH', sizes."""
    return struct.pack("<II4sQQ", 0x184D2A5B, 20, b"BRFH", compressed, uncompressed)


def _hinted(codec: str, real_frame: bool) -> Callable[[], bytes]:
    """A first frame holding the start of a brinery stream (its pickle wants more bytes), then
    a brinery frame hint announcing a ~1 GiB frame: the announced bytes are truncated
    (``real_frame`` false: the file ends 1 KiB into them) or a real RLE frame of that size."""
    from brinery.format.layout import PICKLE_RECORD, RECORD_HEADER, STREAM_HEADER, STREAM_MAGIC

    announced = GIB - 64

    def make() -> bytes:
        first = STREAM_HEADER.pack(STREAM_MAGIC, 1, 1, 0, 0)
        first += RECORD_HEADER.pack(PICKLE_RECORD, 0, 0, 0, 12) + pickle.PROTO + b"\x05"
        if codec == "zstd":
            head = zstd_frame(first)
        else:
            import lz4.frame

            head = lz4.frame.compress(first, content_checksum=True)
        if real_frame:  # four of them: one per thread of a threads=4 load
            frame = _zstd_rle_frame(b"", announced)
            return head + (_frame_hint(len(frame), announced) + frame) * 4
        return head + _frame_hint(announced, announced) + bytes(1024)

    return make


_ONE_THREAD = "untrusted_types and info read with one thread: the threads=1 variant covers them"
_hint_variants = []
for _codec, _extension in (("zstd", "zst"), ("lz4", "lz4")):
    for _real in (False, True) if _codec == "zstd" else (False,):
        for _threads in (1, 4):
            _label = f"stream.{_extension}{'-rle' if _real else ''}-threads{_threads}"
            _hint_variants.append(
                Variant(
                    _label,
                    _bytes_writer(_hinted(_codec, _real)),
                    load_kwargs={"threads": _threads},
                    skip={}
                    if _threads == 1
                    else dict.fromkeys(("untrusted_types", "info"), _ONE_THREAD),
                    needs=(_codec,),
                )
            )
case(
    "frame-hint-1gib",
    ATTACK_4,
    "a brinery frame hint (skippable frame 0x184D2A5B, 'BRFH') announcing a frame of ~1 GiB "
    "after a first frame that starts a brinery stream",
    tuple(_hint_variants),
    max_bytes=1000,
)


def _masked_v0() -> bytes:
    data = in_band(text("|V0"), (1 << 40,), raw_bytes(b""))
    masked = call(
        glob("brinery.rebuild", "masked_array"),
        glob("numpy.ma", "MaskedArray"),
        data,
        TRUE,
        NONE,
        FALSE,
    )
    return proto(masked)


case(
    "masked-v0-mask",
    ATTACK_4,
    "masked_array(MaskedArray, <'|V0' array of shape (2**40,), 0 bytes>, True, None, False): "
    "numpy allocates a 1 TiB mask",
    standard_variants(_masked_v0, stream=("stream", "stream.gz"), plain=("plain-pickle",)),
    max_bytes=1000,
)


# 5. CPU and stack ----------------------------------------------------------------------------

ATTACK_5 = "5 cpu and stack"
#: CPU seconds a child may take on a class-5 file (start-up, ~0.2 s, included); the files are
#: big enough for main to take 2-3 times more.  Reading a 1,000,000-deep tuple's opcodes one by
#: one takes 1.5-2.5 s of its own, hence a larger budget there.
CPU_BUDGET = 3.0
DEEP_CPU_BUDGET = 5.0
LAUGH_LEVELS = 20
LAUGH_WIDTH = 16


def laughs() -> bytes:
    """A list of 16 references to a list of 16 references to ... (20 levels) to one 1 KiB
    string, in ~1.7 KB: its repr() would be 16**20 KiB.  Leaves it on the stack (memo 0-20)."""
    out = text("x" * 1024) + pickle.BINPUT + b"\x00" + pickle.POP
    for level in range(1, LAUGH_LEVELS + 1):
        refs = (pickle.BINGET + bytes([level - 1])) * LAUGH_WIDTH
        out += pickle.EMPTY_LIST + pickle.MARK + refs + pickle.APPENDS
        out += pickle.BINPUT + bytes([level]) + pickle.POP
    return out + pickle.BINGET + bytes([LAUGH_LEVELS])


case(
    "laughs-reduce",
    ATTACK_5,
    "the 'billion laughs' list used as the callable of a REDUCE (an error message repr()s it)",
    standard_variants(
        lambda: proto(laughs() + pickle.EMPTY_TUPLE + pickle.REDUCE),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
    cpu_budget=CPU_BUDGET,
)
case(
    "laughs-newobj",
    ATTACK_5,
    "the 'billion laughs' list used as the class of a NEWOBJ",
    standard_variants(
        lambda: proto(laughs() + pickle.EMPTY_TUPLE + pickle.NEWOBJ), stream=("stream",), plain=()
    ),
    cpu_budget=CPU_BUDGET,
)
case(
    "laughs-arguments",
    ATTACK_5,
    "array_in_band called with the 'billion laughs' list as its data (refused arguments are "
    "repr()'d)",
    standard_variants(
        lambda: proto(in_band(text("<i8"), (1,), laughs())), stream=(), plain=("plain-pickle",)
    ),
    cpu_budget=CPU_BUDGET,
)
case(
    "laughs-dtype-state",
    ATTACK_5,
    "numpy.dtype('f8') given the 'billion laughs' list as its BUILD state",
    standard_variants(
        lambda: proto(call(glob("numpy", "dtype"), text("f8")) + laughs() + pickle.BUILD),
        stream=("stream",),
        plain=(),
    ),
    cpu_budget=CPU_BUDGET,
)
case(
    "laughs-joblib-state",
    ATTACK_5,
    "a joblib NumpyArrayWrapper given the 'billion laughs' list as its BUILD state",
    joblib_variants(
        lambda: proto(
            glob("joblib.numpy_pickle", "NumpyArrayWrapper")
            + pickle.EMPTY_TUPLE
            + pickle.NEWOBJ
            + laughs()
            + pickle.BUILD,
            4,
        ),
        names=("joblib",),
    ),
    cpu_budget=CPU_BUDGET,
)

DEPTH = 1_000_000


def _deep_tuple() -> bytes:
    return pickle.EMPTY_TUPLE + pickle.TUPLE1 * DEPTH


case(
    "deep-tuple-key",
    ATTACK_5,
    f"a tuple nested {DEPTH:,} deep (EMPTY_TUPLE, then TUPLE1 x {DEPTH:,}) as a dict key (SETITEM)",
    standard_variants(
        lambda: proto(pickle.EMPTY_DICT + _deep_tuple() + integer(0) + pickle.SETITEM),
        stream=("stream", "stream.gz"),
        plain=("plain-pickle", "plain-pickle.gz"),
    ),
    cpu_budget=DEEP_CPU_BUDGET,
)
case(
    "deep-tuple-set",
    ATTACK_5,
    f"the same {DEPTH:,}-deep tuple as a set element (EMPTY_SET, ADDITEMS)",
    standard_variants(
        lambda: proto(pickle.EMPTY_SET + pickle.MARK + _deep_tuple() + pickle.ADDITEMS),
        stream=("stream",),
        plain=("plain-pickle",),
    ),
    cpu_budget=DEEP_CPU_BUDGET,
)
case(
    "deep-tuple-frozenset",
    ATTACK_5,
    f"the same {DEPTH:,}-deep tuple in a frozenset (FROZENSET)",
    standard_variants(
        lambda: proto(pickle.MARK + _deep_tuple() + pickle.FROZENSET),
        stream=("stream",),
        plain=(),
    ),
    cpu_budget=DEEP_CPU_BUDGET,
)

PATH_ARRAYS = 5_000
PATH_LEVELS = 50_000


def _arrays_deep_in_lists() -> bytes:
    """5,000 small arrays (one ``array_in_band`` call each, its function and arguments
    memoized) in one list, nested in 50,000 lists: without bounds, ``brinery info`` would
    keep a link per level and walk 50,000 of them for every array (minutes)."""
    array = glob("brinery.rebuild", "array_in_band") + pickle.BINPUT + b"\x01"
    array += tup(text("<i8"), tup(integer(1)), text("C"), raw_bytes(bytes(8)))
    array += pickle.BINPUT + b"\x02" + pickle.REDUCE
    again = pickle.BINGET + b"\x01" + pickle.BINGET + b"\x02" + pickle.REDUCE
    body = pickle.EMPTY_LIST + array + pickle.APPEND + (again + pickle.APPEND) * (PATH_ARRAYS - 1)
    wrap = pickle.BINPUT + b"\x03" + pickle.POP + pickle.EMPTY_LIST + pickle.BINGET + b"\x03"
    return proto(body + (wrap + pickle.APPEND) * PATH_LEVELS)


case(
    "arrays-deep-in-lists",
    ATTACK_5,
    f"{PATH_ARRAYS:,} arrays in a list nested {PATH_LEVELS:,} lists deep (each array's path in "
    "brinery info: bounded in steps, links and time)",
    standard_variants(_arrays_deep_in_lists, stream=("stream",), plain=("plain-pickle",)),
    skip={"load": "plain lists and arrays: what brinery info and untrusted_types keep is tested"},
    bounded=True,
    cpu_budget=CPU_BUDGET,
)

SHARED_LEVELS = 64


def _shared_tuples() -> bytes:
    """A tuple holding the previous one twice, 64 times over (found by the grammar fuzzer):
    hashing it takes 2**64 steps, CPython caching no tuple's hash."""
    out = pickle.EMPTY_TUPLE + pickle.BINPUT + b"\x00"
    for level in range(SHARED_LEVELS):
        ref = pickle.BINGET + bytes([level])
        out += pickle.POP + ref + ref + pickle.TUPLE2 + pickle.BINPUT + bytes([level + 1])
    return out


case(
    "shared-tuple-key",
    ATTACK_5,
    f"tuples of shared tuples, {SHARED_LEVELS} levels (521 bytes), as a dict key",
    standard_variants(
        lambda: proto(pickle.EMPTY_DICT + _shared_tuples() + pickle.NONE + pickle.SETITEM),
        stream=("stream", "stream.gz"),
        plain=("plain-pickle",),
    ),
    cpu_budget=CPU_BUDGET,
)


def _nested_object_arrays(depth: int) -> bytes:
    """joblib object arrays, each one's elements a pickle holding the next wrapper."""
    object_dtype = (
        glob("numpy", "dtype") + text("O8") + pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3
        + pickle.REDUCE + pickle.MARK + integer(3) + text("|") + pickle.NONE * 3
        + integer(-1) * 2 + integer(63) + pickle.TUPLE + pickle.BUILD
    )  # fmt: skip
    wrapper = proto(
        glob("joblib.numpy_pickle", "NumpyArrayWrapper") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
        + pickle.EMPTY_DICT + pickle.MARK + text("subclass") + glob("numpy", "ndarray")
        + text("shape") + integer(1) + pickle.TUPLE1 + text("order") + text("C")
        + text("dtype") + object_dtype + pickle.SETITEMS + pickle.BUILD,
        4,
    )[:-1]  # (no STOP: the nested pickle follows)
    return wrapper * depth + (pickle.NONE + pickle.STOP) * (depth + 1)


case(
    "nested-object-pickles",
    ATTACK_5,
    "joblib object arrays nested 5,000 deep (each one's elements a pickle holding the next)",
    joblib_variants(lambda: _nested_object_arrays(5000), names=("joblib", "joblib.gz")),
    cpu_budget=CPU_BUDGET,
)

COLLISIONS = 40_000


def _colliding_keys() -> bytes:
    modulus = (1 << 61) - 1  # hash(k * modulus) == 0 for every int k
    items = b"".join(integer(k * modulus) + NONE for k in range(1, COLLISIONS + 1))
    return proto(pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS)


case(
    "int-hash-collisions",
    ATTACK_5,
    f"a dict of {COLLISIONS:,} int keys k * (2**61 - 1), which all hash to 0 (quadratic)",
    standard_variants(_colliding_keys, stream=("stream",), plain=("plain-pickle",)),
    bounded=True,
    cpu_budget=CPU_BUDGET,
)

LINE = 8 * MIB


def _long_line(opcode: bytes, line: bytes) -> Callable[[], bytes]:
    return lambda: proto(opcode + line + b"\n", 2)


case(
    "long-line-int",
    ATTACK_5,
    f"a protocol-0 INT opcode whose line is {LINE >> 20} MiB of digits",
    standard_variants(
        _long_line(pickle.INT, b"1" * LINE), stream=("stream", "stream.gz"), plain=("plain-pickle",)
    ),
    cpu_budget=CPU_BUDGET,
)
case(
    "long-line-unicode",
    ATTACK_5,
    f"a protocol-0 UNICODE opcode whose line is {LINE >> 20} MiB long (plain data: a long str)",
    standard_variants(
        _long_line(pickle.UNICODE, b"a" * LINE), stream=("stream",), plain=("plain-pickle",)
    ),
    bounded=True,
    cpu_budget=CPU_BUDGET,
)


# 6. Checks bypassed --------------------------------------------------------------------------

ATTACK_6 = "6 checks bypassed"


def _wrapper_setstate(function: bytes, argument: bytes) -> bytes:
    """A joblib wrapper memoized before its BUILD, whose state stores ``__setstate__``; then
    BINGET of the wrapper and a second BUILD, which calls it with ``argument``."""
    wrapper = joblib_wrapper(
        simple_dtype("|u1"), (1,), memo=1, extra=[(text("__setstate__"), function)]
    )
    body = wrapper + b"\x07" + pickle.POP  # the array's one raw byte, then drop the array
    body += get(1) + argument + pickle.BUILD + b"\x09"  # the second "array"'s byte
    return proto(body, 4)


_LIST_1_2 = (
    pickle.EMPTY_LIST
    + pickle.MARK
    + pickle.EMPTY_LIST
    + pickle.MARK
    + integer(1)
    + integer(2)
    + pickle.APPENDS
    + pickle.APPENDS
)
case(
    "joblib-setstate-matrix",
    ATTACK_6,
    "a joblib wrapper (memoized before its BUILD) whose state holds '__setstate__': "
    "numpy.matrix; BINGET, second BUILD [[1, 2]]: numpy.matrix([[1, 2]]) is called",
    joblib_variants(lambda: _wrapper_setstate(glob("numpy", "matrix"), _LIST_1_2)),
)
case(
    "joblib-setstate-ndarray",
    ATTACK_6,
    "the same with '__setstate__': numpy.ndarray, second BUILD state (2**40,): a 1 TiB array",
    joblib_variants(
        lambda: _wrapper_setstate(glob("numpy", "ndarray"), tup(integer(1 << 40))),
        names=("joblib",),
    ),
    untrusted=("numpy.ndarray",),
)

#: A file next to the corpus that the memmap variant maps read-write.
VICTIM = "victim.bin"


def _setstate_memmap(path: Path) -> None:
    victim = path.parent / VICTIM
    victim.write_bytes(b"victim, 16 bytes")
    path.write_bytes(_wrapper_setstate(glob("numpy", "memmap"), text(str(victim.resolve()))))


case(
    "joblib-setstate-memmap",
    ATTACK_6,
    "the same with '__setstate__': numpy.memmap, second BUILD state <path of an existing file>: "
    "the file is mapped read-write",
    (Variant("joblib", _setstate_memmap),),
    untrusted=("numpy.memmap",),
)


# 7. Shuffled array records (format 1.3): filters a record cannot have --------------------------

ATTACK_7 = "7 shuffled records"
BYTE_SHUFFLED, BIT_SHUFFLED, DELTA = 0x0002, 0x0004, 0x0008  # record flags (docs/format.md, 5.4)


def _shuffled_stream(
    pickle_bytes: bytes,
    payload: bytes,
    *,
    kind: str,
    flags: int,
    element_size: int,
    announced: bool = True,
    declared: int | None = None,
) -> bytes:
    """A checksummed stream of one record of ``payload`` (kind ``"A"`` or ``"B"``) then the
    pickle, where the headers of the records of ``kind`` (``"P"`` and ``"E"`` too) say
    ``flags`` and ``element_size`` (and ``declared`` bytes, if given), the stream header the
    shuffled-records flag if ``announced``; every checksum recomputed, as an attacker would."""
    from brinery.format.layout import (
        ARRAY_RECORD,
        BUFFER_RECORD,
        CHECKSUMS_FLAG,
        END_RECORD,
        RECORD_DIGEST,
        RECORD_HEADER,
        SHUFFLED_RECORDS_FLAG,
        STREAM_HEADER,
        STREAM_MAGIC,
    )
    from brinery.format.writer import StreamWriter

    buffer = io.BytesIO()
    writer = StreamWriter(buffer, checksums=True)
    record = BUFFER_RECORD if kind == "B" else ARRAY_RECORD
    writer.write_memory(record, len(payload), [memoryview(payload)])
    writer.write(pickle_bytes)
    writer.finish()
    stream = bytearray(buffer.getvalue())
    header_flags = CHECKSUMS_FLAG | (SHUFFLED_RECORDS_FLAG if announced else 0)
    STREAM_HEADER.pack_into(stream, 0, STREAM_MAGIC, 1, 3, header_flags, 0)
    offset = STREAM_HEADER.size
    while True:
        code, padding, _, _, size = RECORD_HEADER.unpack_from(stream, offset)
        end = offset + RECORD_HEADER.size + padding + size
        if code == ord(kind):
            length = size if declared is None else declared
            RECORD_HEADER.pack_into(stream, offset, code, padding, flags, element_size, length)
        covered = bytes(stream[offset:end])
        if code == END_RECORD:
            covered = bytes(stream[: STREAM_HEADER.size]) + covered
        RECORD_DIGEST.pack_into(stream, end, _xxh3(covered))
        if code == END_RECORD:
            return bytes(stream)
        offset = end + RECORD_DIGEST.size


def _xxh3(data: bytes) -> int:
    import xxhash

    return int(xxhash.xxh3_64_intdigest(data))


def _floats_pickle(count: int) -> bytes:
    """``brinery.rebuild.array('<f8', (count,), 'C', True)``."""
    arguments = (text("<f8"), tup(integer(count)), text("C"), TRUE)
    return proto(call(glob("brinery.rebuild", "array"), *arguments))


def _bytes_pickle(rows: int, columns: int) -> bytes:
    """``brinery.rebuild.array('|u1', (rows, columns), 'C', True)``: an image."""
    arguments = (text("|u1"), tup(integer(rows), integer(columns)), text("C"), TRUE)
    return proto(call(glob("brinery.rebuild", "array"), *arguments))


def _shuffled_variants(**forged: Any) -> tuple[Variant, ...]:
    """The forged stream, uncompressed, gzip and zstd (one frame each; ``only``: these)."""
    count = forged.pop("count", 1000)
    pickled = forged.pop("pickled", None)
    only = forged.pop("only", ("stream", "stream.gz", "stream.zst"))

    def make() -> bytes:
        return _shuffled_stream(
            _floats_pickle(count) if pickled is None else pickled,
            bytes(range(256)) * (count * 8 // 256) + bytes(count * 8 % 256),
            **forged,
        )

    variants = (
        Variant("stream", _bytes_writer(make)),
        Variant("stream.gz", _bytes_writer(lambda: gzip.compress(make(), mtime=0))),
        Variant("stream.zst", _bytes_writer(lambda: zstd_frame(make())), needs=("zstd",)),
    )
    return tuple(variant for variant in variants if variant.name in only)


_BUFFER_PICKLE = proto(pickle.NEXT_BUFFER)
for _name, _what, _forged in [
    ("shuffled-pickle-record", "the pickle's records flagged byte-shuffled, element size 8",
     {"kind": "P", "flags": BYTE_SHUFFLED, "element_size": 8}),
    ("shuffled-buffer-record", "an out-of-band buffer record flagged bit-shuffled",
     {"kind": "B", "flags": BIT_SHUFFLED, "element_size": 8, "pickled": _BUFFER_PICKLE}),
    ("shuffled-end-record", "the end record flagged byte-shuffled",
     {"kind": "E", "flags": BYTE_SHUFFLED, "element_size": 8}),
    ("shuffled-both-filters", "an array record flagged byte- and bit-shuffled",
     {"kind": "A", "flags": BYTE_SHUFFLED | BIT_SHUFFLED, "element_size": 8}),
    ("shuffled-element-size-0", "a byte-shuffled array record of 0-byte elements",
     {"kind": "A", "flags": BYTE_SHUFFLED, "element_size": 0}),
    ("shuffled-element-size-1", "a bit-shuffled array record of 1-byte elements",
     {"kind": "A", "flags": BIT_SHUFFLED, "element_size": 1}),
    ("shuffled-element-size-huge", "a bit-shuffled array record of 2**32-1-byte elements",
     {"kind": "A", "flags": BIT_SHUFFLED, "element_size": 2**32 - 1}),
    ("shuffled-unannounced", "a byte-shuffled array record in a stream whose header does not "
     "say it may hold shuffled records", {"kind": "A", "flags": BYTE_SHUFFLED, "element_size": 8,
                                          "announced": False}),
    ("shuffled-element-size-not-the-items", "a <f8 array over a byte-shuffled record of 3-byte "
     "elements (8000 bytes: no whole number of them)",
     {"kind": "A", "flags": BYTE_SHUFFLED, "element_size": 3}),
    ("shuffled-largest-elements", "a <f8 array over a bit-shuffled record of 4096-byte elements "
     "(fewer than 8: copied as they are), the largest valid",
     {"kind": "A", "flags": BIT_SHUFFLED, "element_size": 4096}),
    # (uncompressed only: any array record of a compressed stream declaring 2**40 bytes is
    # refused with a MemoryError as cause, shuffled or not; reported on issue 14)
    ("shuffled-declares-more", "a byte-shuffled array record declaring 2**40 bytes, holding 8000",
     {"kind": "A", "flags": BYTE_SHUFFLED, "element_size": 8, "declared": 1 << 40,
      "only": ("stream",)}),
]:  # fmt: skip
    case(_name, ATTACK_7, _what, _shuffled_variants(**_forged))

# The delta filter (an image's bytes as differences): 1-byte elements, alone on an array record.
_IMAGE = _bytes_pickle(100, 80)  # (8000 bytes: the forged record's payload)
for _name, _what, _forged in [
    ("delta-pickle-record", "the pickle's records flagged delta, element size 1",
     {"kind": "P", "flags": DELTA, "element_size": 1, "pickled": _IMAGE}),
    ("delta-buffer-record", "an out-of-band buffer record flagged delta",
     {"kind": "B", "flags": DELTA, "element_size": 1, "pickled": _BUFFER_PICKLE}),
    ("delta-end-record", "the end record flagged delta",
     {"kind": "E", "flags": DELTA, "element_size": 1, "pickled": _IMAGE}),
    ("delta-with-byte-shuffle", "an image's array record flagged delta and byte-shuffled",
     {"kind": "A", "flags": DELTA | BYTE_SHUFFLED, "element_size": 1, "pickled": _IMAGE}),
    ("delta-with-bit-shuffle", "an image's array record flagged delta and bit-shuffled, "
     "element size 2", {"kind": "A", "flags": DELTA | BIT_SHUFFLED, "element_size": 2,
                        "pickled": _IMAGE}),
    ("delta-with-changed-flag", "an image's array record flagged delta and changed (in a stream "
     "that was never mapped writable)",
     {"kind": "A", "flags": DELTA | 0x0001, "element_size": 1, "pickled": _IMAGE}),
    ("delta-element-size-0", "an image's delta record of 0-byte elements",
     {"kind": "A", "flags": DELTA, "element_size": 0, "pickled": _IMAGE}),
    ("delta-element-size-8", "an image's delta record of 8-byte elements",
     {"kind": "A", "flags": DELTA, "element_size": 8, "pickled": _IMAGE}),
    ("delta-element-size-huge", "an image's delta record of 2**32-1-byte elements",
     {"kind": "A", "flags": DELTA, "element_size": 2**32 - 1, "pickled": _IMAGE}),
    ("delta-unannounced", "an image's delta record in a stream whose header does not say it may "
     "hold filtered records",
     {"kind": "A", "flags": DELTA, "element_size": 1, "announced": False, "pickled": _IMAGE}),
    ("delta-float-items", "a <f8 array over a delta record (of 1-byte elements)",
     {"kind": "A", "flags": DELTA, "element_size": 1}),
    # (uncompressed only, as shuffled-declares-more)
    ("delta-declares-more", "an image's delta record declaring 2**40 bytes, holding 8000",
     {"kind": "A", "flags": DELTA, "element_size": 1, "declared": 1 << 40, "pickled": _IMAGE,
      "only": ("stream",)}),
]:  # fmt: skip
    case(_name, ATTACK_7, _what, _shuffled_variants(**_forged))


# -- access ------------------------------------------------------------------------------------


def find(case_name: str, variant_name: str) -> tuple[Case, Variant]:
    for each in CASES:
        if each.name == case_name:
            for variant in each.variants:
                if variant.name == variant_name:
                    return each, variant
    raise KeyError((case_name, variant_name))


def skip_reason(each: Case, variant: Variant, entry: str) -> str | None:
    """Why ``entry`` does not apply to this file, or None."""
    if entry == "load_max_bytes" and each.max_bytes is None:
        return "the case sets no max_bytes: load covers it"
    return variant.skip.get(entry) or each.skip.get(entry)


def load_kwargs(each: Case, variant: Variant, entry: str) -> dict[str, Any]:
    """The keyword arguments of the entry point for this file."""
    if entry == "load":
        return {"trusted": [], **variant.load_kwargs}
    if entry == "load_max_bytes":
        return {"trusted": False, "max_bytes": each.max_bytes, **variant.load_kwargs}
    return {}


def build(each: Case, variant: Variant, directory: Path) -> Path:
    """Write the file (once: it is reused if already there) and return its path."""
    endings = (".zst", ".lz4", ".gz", ".z")  # longest first: ".z" is in ".zst"
    extension = next((ending for ending in endings if ending in variant.name), ".pkl")
    path = directory / f"{each.name}--{variant.name}{extension}"
    if not path.exists():
        partial = path.with_name(path.name + ".part")
        variant.write(partial)
        partial.rename(path)
    return path
