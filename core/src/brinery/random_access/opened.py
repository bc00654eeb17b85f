"""``brinery.open``: one entry of a file, or one slice of one of its arrays, without the rest.

An indexed stream (format 1.4, ``dump(index=True)``) ends with an index saying where each part
of its pickle and each array record lies (docs/format.md, section 5.5).  Opening reads the
stream header, the end record and the index: from the end of an uncompressed file, through
a zstd or lz4 file's seek table, or through the locator a gzip or zlib file ends with, or by
walking back through an xz or bz2 file's last streams or an lzo file's last block
(:mod:`.locate`).  ``opened[key]``
then reads and unpickles only that entry's part; ``opened.array(path)`` gives a
:class:`LazyArray` whose slices on the first axis read only the bytes (or, compressed, the
frames) holding them.

Any other file (older, unindexed, joblib's, another compressor's) opens too, by reading it
through once on first use, as ``load`` does, and then answers from the loaded object.

An entry is read by the pure-Python unpickler, whose memo starts at the entry's first memo
index (:func:`~brinery.unpickling.unpickle_parts`).  What it refers to of an earlier part (one
pickler wrote them all, its memo kept: a class first met in entry 1 is a memo reference in
entry 7) is found there: a global by its name, read from that part's pickle as data, anything
else (the same object in two entries) by reading that part too.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import xxhash

from .. import remote
from ..arguments import checked_threads
from ..array_paths import key_text
from ..compressor import Compressor
from ..errors import CorruptFileError, InvalidArgumentError
from ..format.index import DICT, LIST, NOT_SPLIT, TUPLE, Index, RecordEntry, decode
from ..format.layout import (
    CHECKSUMS_FLAG,
    END_LOCATOR,
    END_RECORD,
    INDEX_RECORD,
    INDEXED_FLAG,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
)
from ..format.reader import MAX_INDEX_BYTES, StreamReader
from ..format.shuffle import declared, unshuffled_pieces
from ..pipeline import Kind, detect_compressor, kind_of
from ..safe_globals import parse_trusted
from ..scan import ArrayInfo, Global, Scanner
from ..streams import seek_table
from ..unpickling import Mode, OffsetMemo, Reading, unpickle_parts
from .access import ByteAccess, FileAccess, FrameAccess, Window, read_exactly
from .locate import frame_table, locate

Source = str | os.PathLike[str] | IO[bytes]


def open_stream(
    source: Source,
    *,
    trusted: Any = None,
    max_bytes: int | None = None,
    threads: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Opened:
    """Open ``source`` (a path, an fsspec URL, or a seekable binary file object positioned at
    the stream's start) for reading entries and array slices; see :class:`Opened`."""
    from ..api import load  # (api imports this package lazily, never the other way round)

    reading = Reading(
        threads=checked_threads(threads),
        max_bytes=max_bytes,
        trusted=_trusted(trusted),
        mode=Mode.LOAD,
    )
    opened = Opened(source, reading, storage_options)
    opened._load_options = {
        "trusted": trusted,
        "max_bytes": max_bytes,
        "threads": threads,
        "storage_options": storage_options,
    }
    opened._loader = load
    return opened


def _trusted(trusted: Any) -> Any:
    """As ``load`` reads ``trusted=``: ``None`` or ``True`` trust the file."""
    if trusted is None or trusted is True:
        return None
    return parse_trusted(() if trusted is False else trusted)


class Opened:
    """An opened brinery file (a context manager; :meth:`close` closes what it opened).

    For a top-level ``dict``, ``list`` or ``tuple``: ``len(opened)``, :meth:`keys`, iteration
    (a dict's keys; a list's or tuple's items, each loaded in turn) and ``opened[key]``, which
    loads just that entry, exactly as :func:`brinery.load` would have built it.
    :meth:`array` gives a lazy array; :meth:`load` the whole object.
    """

    def __init__(
        self, source: Source, reading: Reading, storage_options: dict[str, Any] | None
    ) -> None:
        self._source = source
        self._reading = reading
        self._load_options: dict[str, Any] = {}
        self._loader: Any = None
        self._file, self._owned = _opened_file(source, storage_options)
        self._start = self._file.tell()
        self._value: Any = _NOT_LOADED  # the whole object, when the file has no index
        self._keys: list[Any] | None = None
        self._part_arrays: dict[int, list[tuple[str, ArrayInfo, RecordEntry | None]]] = {}
        self._part_memos: dict[int, dict[int, Any]] = {}  # parts read for what they made
        self._scans: dict[int, Scanner] = {}  # parts' pickles read as data
        self.index: Index | None = None
        self._access: ByteAccess | None = None
        self._header = b""
        try:
            self._read_index()
        except BaseException:
            self.close()
            raise

    # -- the context manager -------------------------------------------------------------

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._file.close()

    # -- finding the index ---------------------------------------------------------------

    def _read_index(self) -> None:
        head = read_exactly(self._file, 16)
        size = self._file.seek(0, os.SEEK_END) - self._start
        kind = kind_of(head)
        if kind is Kind.BRINERY:
            self._access = FileAccess(self._file, self._start, size)
        elif kind is Kind.COMPRESSED and head:
            compressor = detect_compressor(head)
            table = self._seek_table(size)
            if table is None:
                self._locate(size, compressor)
                return
            self._access = FrameAccess(self._file, self._start, table, compressor)
        else:
            return
        self._header = self._access.read(0, STREAM_HEADER.size)
        flags = STREAM_HEADER.unpack(self._header)[3] if len(self._header) == 16 else 0
        if not flags & INDEXED_FLAG:
            self._access = None
            return
        self.index = self._index(flags & CHECKSUMS_FLAG != 0)

    def _locate(self, size: int, compressor: Compressor) -> None:
        """The index of a compressed file without a seek table, through its locator (gzip,
        zlib), by walking back (xz, bz2) or through the end record's own frame (lzo):
        :mod:`.locate`; without one (an older file, lzma-alone, a file cut short), nothing: the
        file is read through on first use."""
        located = locate(self._file, self._start, size, compressor)
        if located is None:
            return
        self._header = located.header
        tail = (located.index_offset, located.tail)
        empty = seek_table.SeekTable(np.zeros(0, np.uint64), np.zeros(0, np.uint64), 0, 0)
        self._access = FrameAccess(self._file, self._start, empty, compressor, tail)
        flags = STREAM_HEADER.unpack(self._header)[3]
        index = self._index(flags & CHECKSUMS_FLAG != 0)
        table = frame_table(index, located)
        trailer = compressor.framing.trailer if located.framing_header else b""
        wrapping = (located.framing_header, trailer)
        # (the table's offsets count from its first frame, after any framing header)
        first_frame = self._start + len(located.framing_header)
        self._access = FrameAccess(self._file, first_frame, table, compressor, tail, wrapping)
        self.index = index

    def _seek_table(self, size: int) -> seek_table.SeekTable | None:
        if size < seek_table.SMALLEST_TABLE:
            return None
        self._file.seek(self._start + size - seek_table.FOOTER.size)
        length = seek_table.table_length(read_exactly(self._file, seek_table.FOOTER.size))
        if length is None:
            return None
        if length > size:
            raise CorruptFileError(
                f"the seek table declares {length} bytes in a file of {size} bytes"
            )
        self._file.seek(self._start + size - length)
        return seek_table.parse(read_exactly(self._file, length), size - length)

    def _index(self, checksums: bool) -> Index:
        assert self._access is not None
        digest_size = RECORD_DIGEST.size if checksums else 0
        end_size = RECORD_HEADER.size + END_LOCATOR.size + digest_size
        end_offset = self._access.size - end_size
        end = self._access.read(end_offset, end_size) if end_offset > 0 else b""
        if len(end) != end_size or end[0] != END_RECORD:
            raise CorruptFileError("the indexed stream does not end with its end record")
        head, payload = end[:16], end[16:32]
        if checksums:
            self._check_digest(self._header + head + payload, end[32:], "the end record")
        if RECORD_HEADER.unpack(head)[4] != END_LOCATOR.size:
            raise CorruptFileError("the end record of the indexed stream is damaged")
        index_offset, _ = END_LOCATOR.unpack(payload)
        index_head = self._access.read(index_offset, RECORD_HEADER.size)
        if len(index_head) != 16 or index_offset >= end_offset or index_head[0] != INDEX_RECORD:
            raise CorruptFileError(
                f"the end record locates the index at byte {index_offset}, where there is none"
            )
        length = RECORD_HEADER.unpack(index_head)[4]
        if length > MAX_INDEX_BYTES or index_offset + 16 + length + digest_size != end_offset:
            raise CorruptFileError(
                f"the index record declares {length} bytes, which do not end where the end "
                "record starts"
            )
        data = self._access.read(index_offset + 16, length + digest_size)
        if checksums:
            self._check_digest(index_head + data[:length], data[length:], "the index record")
        return decode(data[:length], index_offset)

    @staticmethod
    def _check_digest(covered: bytes, stored: bytes, what: str) -> None:
        if RECORD_DIGEST.unpack(stored)[0] != xxhash.xxh3_64_intdigest(covered):
            raise CorruptFileError(f"{what} is damaged: its checksum does not match")

    # -- entries ---------------------------------------------------------------------------

    @property
    def container(self) -> str:
        """``"dict"``, ``"list"`` or ``"tuple"`` when the file's value was stored entry by
        entry; ``"value"`` otherwise (a file without an index says what its value is)."""
        if self.index is not None:
            return {NOT_SPLIT: "value", DICT: "dict", LIST: "list", TUPLE: "tuple"}[
                self.index.container
            ]
        kinds: dict[type, str] = {dict: "dict", list: "list", tuple: "tuple"}
        return kinds.get(type(self._whole()), "value")

    def __len__(self) -> int:
        if self.index is not None and self.index.container != NOT_SPLIT:
            return self.index.entries
        return len(self._whole())

    def keys(self) -> list[Any]:
        """A dict's keys (loaded once, from their own part); a list's or tuple's indices."""
        if self.index is None or self.index.container == NOT_SPLIT:
            value = self._whole()
            return list(value.keys()) if isinstance(value, dict) else list(range(len(value)))
        if self.index.container != DICT:
            return list(range(self.index.entries))
        if self._keys is None:
            keys = self._load_part(0)
            if type(keys) is not list or len(keys) != self.index.entries:
                raise CorruptFileError("the file's list of keys does not match its index")
            self._keys = keys
        return list(self._keys)

    def __iter__(self) -> Iterator[Any]:
        if self.container == "dict":
            return iter(self.keys())
        return (self[number] for number in range(len(self)))

    def __contains__(self, item: object) -> bool:
        """A dict's key, as ``in`` asks of a dict; a list's or tuple's item, as ``in`` asks of
        them (each entry loaded in turn until one is equal)."""
        if self.container == "dict":
            return item in self.keys()
        return any(entry is item or entry == item for entry in self)

    def __getitem__(self, key: Any) -> Any:
        if self.index is None or self.index.container == NOT_SPLIT:
            return self._whole()[key]
        return self._load_entry(self._entry_number(key))

    def _entry_number(self, key: Any) -> int:
        assert self.index is not None
        if self.index.container == DICT:
            keys = self.keys()
            try:
                return keys.index(key)
            except ValueError:
                raise KeyError(key) from None
        if type(key) is not int and not isinstance(key, np.integer):
            raise TypeError(
                f"{self.container} indices must be integers, not {type(key).__name__}"
            )
        number = int(key) + (self.index.entries if key < 0 else 0)
        if not 0 <= number < self.index.entries:
            raise IndexError(f"{self.container} index out of range")
        return number

    def load(self) -> Any:
        """The whole object, exactly as :func:`brinery.load` builds it."""
        if self._value is not _NOT_LOADED:
            return self._value
        return self._load_whole()

    # -- reading parts ---------------------------------------------------------------------

    def _load_entry(self, number: int) -> Any:
        assert self.index is not None
        return self._load_part(self.index.entry_part(number))

    def _load_part(self, part: int) -> Any:
        """What part ``part`` carries, read alone: what it refers to of earlier parts is
        found there (:meth:`_resolve`)."""
        return self._read_part(part)[0]

    def _read_part(self, part: int) -> tuple[Any, dict[int, Any]]:
        assert self.index is not None
        assert self._access is not None
        bounds = self.index.parts[part]
        stream = StreamReader(
            Window(self._access, bounds.start, bounds.end),
            what=f"part {part} of {self._name()}",
            room=bounds.end,
            max_bytes=self._reading.max_bytes,
            part_of=(self._header, bounds.start),
        )
        value, memo = unpickle_parts(stream, self._reading, 1, bounds.memo_start, self._resolve)
        if not stream.part_ended(bounds.end):
            raise CorruptFileError(
                f"part {part} of {self._name()} holds more than its pickle uses, or less than "
                "its index says"
            )
        return value, memo

    def _resolve(self, memo_index: int, asking: Any) -> Any:
        """The object an earlier part made at ``memo_index``, for a part read alone: a global
        (the class an array's rebuild function is, say: the first part that used it made it)
        is looked up by its name, as ``asking`` (the unpickler) allows; anything else comes
        from that part, read once for this opened file (so two entries sharing an object
        share it here too)."""
        assert self.index is not None
        part = self.index.part_of_memo(memo_index)
        symbol = dict.get(self._scanned(part).memo, memo_index, _NOT_LOADED)
        if isinstance(symbol, Global):
            return asking.find_class(symbol.module, symbol.name)
        if type(symbol) in _PLAIN:
            return symbol  # (a string or number the pickle memoized: the same value)
        memo = self._part_memos.get(part)
        if memo is None:
            memo = self._part_memos[part] = self._read_part(part)[1]
        if memo_index not in memo:
            raise CorruptFileError(
                f"the pickle data refers to memo entry {memo_index}, which part {part} of "
                f"{self._name()} never made"
            )
        return memo[memo_index]

    def _scanned(self, part: int) -> Scanner:
        """Part ``part``'s pickle read as data (its raw memory passed over, not read): its
        arrays and its memo, symbols for what it made."""
        found = self._scans.get(part)
        if found is not None:
            return found
        assert self.index is not None
        assert self._access is not None
        bounds = self.index.parts[part]
        window = Window(self._access, bounds.start, bounds.end)
        stream = StreamReader(
            window,
            what=f"part {part} of {self._name()}",
            room=bounds.end,
            skip_payloads=True,
            part_of=(self._header, bounds.start),
            pass_over=window.skip,
        )
        scanner = Scanner(stream, memo=OffsetMemo(bounds.memo_start, self._resolve_symbol))
        scanner.scan(paths=False)
        scanner.end_part(last=True)
        self._scans[part] = scanner
        return scanner

    def _resolve_symbol(self, memo_index: int, asking: Any) -> Any:
        """What an earlier part made at ``memo_index``, as the scanner's symbol."""
        assert self.index is not None
        part = self.index.part_of_memo(memo_index)
        found = dict.get(self._scanned(part).memo, memo_index, _NOT_LOADED)
        if found is _NOT_LOADED:
            raise CorruptFileError(
                f"the pickle data refers to memo entry {memo_index}, which part {part} never made"
            )
        return found

    def _name(self) -> str:
        source = self._source
        return repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "the file"

    def _whole(self) -> Any:
        if self._value is _NOT_LOADED:
            self._value = self._load_whole()
        return self._value

    def _load_whole(self) -> Any:
        if isinstance(self._source, (str, os.PathLike)):
            return self._loader(self._source, **self._load_options)
        self._file.seek(self._start)
        options = {k: v for k, v in self._load_options.items() if k != "storage_options"}
        return self._loader(self._file, **options)

    # -- arrays ----------------------------------------------------------------------------

    def array(self, path: str) -> Any:
        """The array at ``path`` (as ``brinery info`` prints it, e.g. ``'["model"]["coef_"]'``):
        a :class:`LazyArray` over its record, whose first-axis slices read only what holds
        them; an array stored inside the pickle (small ones), or in a file without an index,
        comes back loaded."""
        if self.index is None:
            return _follow(self._whole(), path)
        for found, info, record in self._arrays_under(path):
            if found == path:
                if record is None:
                    break
                return LazyArray(self, record, info)
        else:
            raise KeyError(f"no array at {path} in {self._name()}")
        return _follow(self.load(), path)

    def _arrays_under(self, path: str) -> list[tuple[str, ArrayInfo, RecordEntry | None]]:
        assert self.index is not None
        if self.index.container == NOT_SPLIT:
            return self._part_array_list(0, "")
        for number in range(self.index.entries):
            if self.index.container == DICT:
                prefix = f"[{key_text(self.keys()[number])}]"
            else:
                prefix = f"[{number}]"
            if path.startswith(prefix):
                found = self._part_array_list(self.index.entry_part(number), prefix)
                if any(item[0] == path for item in found):
                    return found
        return []

    def _part_array_list(
        self, part: int, prefix: str
    ) -> list[tuple[str, ArrayInfo, RecordEntry | None]]:
        cached = self._part_arrays.get(part)
        if cached is not None:
            return cached
        assert self.index is not None
        scanner = self._scanned(part)
        records = [r for r in self.index.records_of(part) if r.kind == ord("A")]
        listed: list[tuple[str, ArrayInfo, RecordEntry | None]] = []
        taken = 0
        for info in scanner.arrays:
            record = None
            if not info.in_pickle and taken < len(records):
                record = records[taken]
                taken += 1
            listed.append((prefix + info.path, info, record))
        self._part_arrays[part] = listed
        return listed


_NOT_LOADED = object()
#: What a scanner's memo holds as itself: values whose identity nothing relies on.
_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def _follow(value: Any, path: str) -> Any:
    """``value`` at a path of plain keys and indices (``["a"][0]``), for files read whole."""
    import ast
    import re

    for step in re.findall(r"\[(.*?)\](?=\[|$|\.)", path):
        value = value[ast.literal_eval(step)]
    return value


class LazyArray:
    """An array of an opened file, read only where it is indexed.

    ``a[i]``, ``a[i:j]`` (and a tuple whose first item is one of those) read only the rows
    asked for: the bytes holding them, or, in a compressed file, the frames holding them (each
    checked by the codec).  ``np.asarray(a)`` reads it whole, checked.  In an uncompressed
    file, a slice's bytes are not checked against the record's checksum, which covers the
    whole array (as with ``mmap_mode``).  A Fortran-ordered array is read whole for any slice.
    """

    def __init__(self, opened: Opened, record: RecordEntry, info: ArrayInfo) -> None:
        self._opened = opened
        self._record = record
        self.dtype = np.dtype(info.dtype)
        self.shape = tuple(int(n) for n in info.shape)
        self._order = info.order
        self._shuffle = declared(record.flags, record.reserved) if record.flags else None
        expected = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        if expected != record.length:
            raise CorruptFileError(
                f"the array's record holds {record.length} bytes, its description {expected}"
            )

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self._record.length

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<brinery LazyArray shape={self.shape} dtype={self.dtype}>"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._rows(0, self.shape[0] if self.shape else 1, whole=True)
        return whole if dtype is None else whole.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if not self.shape or (self._order == "F" and self.ndim > 1):
            return np.asarray(self)[key]  # type: ignore[no-any-return]
        if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            row = int(first) + (self.shape[0] if first < 0 else 0)
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"index {first} is out of bounds for axis 0 of {self.shape[0]}")
            result = self._rows(row, row + 1)[0]
        elif isinstance(first, slice):
            start, stop, step = first.indices(self.shape[0])
            low, high = (start, stop) if step > 0 else (stop + 1, start + 1)
            rows = self._rows(low, max(low, high)) if high > low else self._rows(0, 0)
            result = rows[:: step] if step > 0 else rows[::-1][:: -step]
            rest = (slice(None), *rest) if rest else rest  # (the other axes' keys)
        else:
            return np.asarray(self)[key]  # type: ignore[no-any-return]
        found: np.ndarray = result[rest] if rest else result
        return found

    def _rows(self, start: int, stop: int, *, whole: bool = False) -> np.ndarray:
        access = self._opened._access
        assert access is not None
        row = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        shape = (stop - start, *self.shape[1:]) if self.shape else ()
        payload = self._record.payload_offset
        if self._shuffle is None:
            first, last = start * row, stop * row
            data = access.read(payload + first, last - first)
            if whole:
                self._check_whole(data)
        else:  # whole filtered blocks, unfiltered, then cut
            block = self._shuffle.block_bytes
            low = start * row // block * block
            high = min(self._record.length, -(-(stop * row) // block) * block)
            stored = access.read(payload + low, high - low)
            blocks = [stored[i : i + block] for i in range(0, len(stored), block)]
            data = b"".join(unshuffled_pieces(blocks, self._shuffle))
            data = data[start * row - low : stop * row - low]
        if len(data) != (stop - start) * row:
            raise CorruptFileError("the file ends inside an array's record")
        rows: np.ndarray = np.frombuffer(bytearray(data), self.dtype)
        return rows.reshape(shape, order="F" if self._order == "F" else "C")

    def _check_whole(self, payload: bytes) -> None:
        """The record's checksum, when the stream has them, over the whole payload read."""
        opened = self._opened
        if not STREAM_HEADER.unpack(opened._header)[3] & CHECKSUMS_FLAG:
            return
        access = opened._access
        assert access is not None
        record = self._record
        head = access.read(record.offset, RECORD_HEADER.size + record.padding)
        stored = access.read(record.payload_offset + record.length, RECORD_DIGEST.size)
        digest = xxhash.xxh3_64(head)
        digest.update(payload)
        if RECORD_DIGEST.unpack(stored)[0] != digest.intdigest():
            raise CorruptFileError(
                f"the array record at byte {record.offset} is damaged: its checksum does not "
                "match"
            )


def _opened_file(
    source: Source, storage_options: dict[str, Any] | None
) -> tuple[IO[bytes], bool]:
    """A seekable binary file for ``source``, and whether it is ours to close."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if remote.is_url(name):
            return remote.random_reading(name, storage_options), True
        return builtins.open(name, "rb"), True
    if storage_options:
        raise InvalidArgumentError("storage_options apply to URLs only")
    seekable = getattr(source, "seekable", None)
    if not callable(getattr(source, "read", None)) or not (callable(seekable) and seekable()):
        raise InvalidArgumentError(
            "brinery.open needs a path, a URL or a seekable binary file: this file cannot seek "
            "(read it whole with brinery.load)"
        )
    return source, False
