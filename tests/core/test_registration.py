"""Third-party compressors registered by code, and the rules registration enforces.

Two compressors are defined here, one for each way the interface allows:

* ``PrefixedDeflate`` implements the codec pieces (``new_compressor``/``new_decompressor``):
  raw deflate behind a 3-byte prefix its compressor emits, so brinery frames it, compresses
  frames in threads and detects it by that prefix;
* ``HeaderZlib`` overrides ``open_writer``/``open_reader``: a 4-byte header, then one zlib
  stream, read and written by its own file objects, which brinery treats as opaque.
"""

from __future__ import annotations

import io
import threading
import zlib
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.codec_adapters import ZlibStyleDecompressor
from brinery.format.layout import STREAM_MAGIC

PD_MAGIC = b"PD\x07"
HZ_MAGIC = b"HZL\x01"
VALUE = {
    "array": (np.arange(1_500_000, dtype=np.int64) % 1013).astype(np.int32),  # 6 MB: 2 frames
    "small": np.arange(7.0),
    "text": "third-party",
}


# -- a compressor made of codec pieces -------------------------------------------------------------


class _PrefixedDeflateCompressor:
    """``zlib.compressobj``'s shape: the prefix, then raw deflate."""

    def __init__(self, prefix: bytes, level: int) -> None:
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._prefix = prefix

    def _take_prefix(self) -> bytes:
        prefix, self._prefix = self._prefix, b""
        return prefix

    def compress(self, data: Any) -> bytes:
        return self._take_prefix() + self._zlib.compress(data)

    def flush(self) -> bytes:
        return self._take_prefix() + self._zlib.flush()


class _PrefixedDeflateDecompressor(ZlibStyleDecompressor):
    """``bz2.BZ2Decompressor``'s shape: checks the prefix, then inflates raw deflate through
    the adapter brinery offers codecs shaped like ``zlib.decompressobj``."""

    def __init__(self, prefix: bytes) -> None:
        super().__init__(-15)
        self._expected, self._prefix = prefix, b""

    def decompress(self, data: Any, /, max_length: int = -1) -> bytes:
        data = bytes(data)
        if len(self._prefix) < len(self._expected):
            missing = len(self._expected) - len(self._prefix)
            self._prefix, data = self._prefix + data[:missing], data[missing:]
            if not self._expected.startswith(self._prefix):
                raise ValueError(f"not a PrefixedDeflate frame: it starts with {self._prefix!r}")
            if len(self._prefix) < len(self._expected):
                return b""
        return super().decompress(data, max_length)


class PrefixedDeflate(brinery.Compressor):
    name = "pdeflate"
    magic = PD_MAGIC
    extensions = (".pdz", ".special.gz")
    levels = range(1, 10)
    default_level = 5
    errors = (zlib.error, ValueError)

    def new_compressor(self, level: int) -> Any:
        return _PrefixedDeflateCompressor(self.magic, level)

    def new_decompressor(self) -> Any:
        return _PrefixedDeflateDecompressor(self.magic)


# -- a compressor with its own reader and writer ---------------------------------------------------


class _HeaderZlibWriter(io.RawIOBase):
    def __init__(self, fileobj: Any, magic: bytes, level: int) -> None:
        super().__init__()
        self._fileobj = fileobj
        self._zlib = zlib.compressobj(level)
        fileobj.write(magic)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._fileobj.write(self._zlib.compress(data))
        return memoryview(data).nbytes

    def close(self) -> None:
        if not self.closed:
            self._fileobj.write(self._zlib.flush())  # ends the stream, leaves fileobj open
        super().close()


def _read_some(fileobj: Any, size: int) -> bytes:
    """Up to ``size`` bytes through ``readinto`` only."""
    buffer = bytearray(size)
    got = fileobj.readinto(memoryview(buffer)) or 0
    return bytes(buffer[:got])


class _HeaderZlibReader(io.RawIOBase):
    def __init__(self, fileobj: Any, magic: bytes, *, with_read: bool) -> None:
        super().__init__()
        if with_read:
            self._read = fileobj.read
        else:
            self._read = lambda size: _read_some(fileobj, size)
        header = self._read(len(magic))
        if header != magic:
            raise ValueError(f"not HeaderZlib data: {header!r}")
        self._zlib = zlib.decompressobj()
        self._input = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while not self._zlib.eof:
            if not self._input:
                self._input = self._read(1 << 16)
                if not self._input:
                    raise EOFError("the HeaderZlib data is truncated")
            output = self._zlib.decompress(self._input, len(target))
            self._input = self._zlib.unconsumed_tail
            if output:
                target[: len(output)] = output
                return len(output)
        return 0


class HeaderZlib(brinery.Compressor):
    """Reads its input with ``readinto`` only; records the ``threads`` its writers are given."""

    name = "headerzlib"
    magic = HZ_MAGIC
    extensions = (".hz",)
    levels = range(10)
    default_level = 6
    reads_with_read = False

    def __init__(self) -> None:
        self.threads_given: list[int] = []

    def open_writer(self, fileobj: Any, level: int, *, threads: int) -> Any:
        self.threads_given.append(threads)
        return _HeaderZlibWriter(fileobj, self.magic, level)

    def open_reader(self, fileobj: Any) -> Any:
        return _HeaderZlibReader(fileobj, self.magic, with_read=self.reads_with_read)


class ReadingHeaderZlib(HeaderZlib):
    """The same format, read as most file code reads: ``fileobj.read(size)``."""

    name = "readingzlib"
    magic = b"RZL\x01"
    extensions = (".rz",)
    reads_with_read = True


@pytest.fixture
def pdeflate() -> PrefixedDeflate:
    """PrefixedDeflate registered for one test (conftest's registry_guard removes it)."""
    compressor = PrefixedDeflate()
    brinery.register_compressor("pdeflate", compressor)
    return compressor


@pytest.fixture
def headerzlib() -> HeaderZlib:
    compressor = HeaderZlib()
    brinery.register_compressor("headerzlib", compressor)
    return compressor


def _frame_sizes(data: bytes) -> list[int]:
    """The uncompressed size of each frame of PrefixedDeflate data."""
    sizes = []
    while data:
        assert data.startswith(PD_MAGIC)
        inflater = zlib.decompressobj(-15)
        sizes.append(len(inflater.decompress(data[len(PD_MAGIC) :])))
        assert inflater.eof
        data = inflater.unused_data
    return sizes


# -- using registered compressors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "compress"),
    [
        ("x.bin", "pdeflate"),
        ("x.bin", ("pdeflate", 1)),
        ("x.bin", ("pdeflate", 9)),
        ("x.pdz", None),
        ("X.PDZ", None),
        ("x.special.gz", None),  # the longest matching extension wins over gzip's ".gz"
    ],
)
def test_codec_pieces_compressor(target, compress, pdeflate, tmp_path, assert_same):
    """Dump by name, by (name, level) or by extension; load detects the prefix."""
    path = tmp_path / target
    brinery.dump(VALUE, path, compress=compress, threads=2)
    data = path.read_bytes()
    assert data.startswith(PD_MAGIC)
    sizes = _frame_sizes(data)  # 6 MB in frames of at most 4 MiB, each with its own prefix
    assert len(sizes) >= 2
    assert max(sizes) <= PrefixedDeflate.framing.frame_size
    assert_same(brinery.load(path), VALUE)
    renamed = path.rename(tmp_path / "renamed.gz")  # a lying extension does not matter
    assert_same(brinery.load(renamed), VALUE)


def test_code_may_give_uncompressed_pickles_extension_to_a_compressor(tmp_path, assert_same):
    """Unlike a plugin's, a compressor registered by code may take ``.pkl``: the plugins are
    loaded by then, and a ``.pkl`` path is looked up from then on."""

    class PklDeflate(PrefixedDeflate):
        extensions = (".pkl",)

    brinery.register_compressor("pdeflate", PklDeflate())
    path = tmp_path / "x.pkl"
    brinery.dump([1, 2], path)
    assert path.read_bytes().startswith(PD_MAGIC)
    assert_same(brinery.load(path), [1, 2])


def test_codec_pieces_compressor_frames_are_deterministic(pdeflate, dumps):
    """Frames compressed on 1 or 3 threads give the same bytes."""
    assert dumps(VALUE, compress="pdeflate", threads=1) == dumps(
        VALUE, compress="pdeflate", threads=3
    )


def test_codec_pieces_compressor_objects_in_turn(pdeflate, assert_same):
    """Objects compressed with a registered codec load one after another from one stream."""
    buffer = io.BytesIO()
    for value in (VALUE, [1, 2], VALUE):
        brinery.dump(value, buffer, compress="pdeflate")
    buffer.seek(0)
    for value in (VALUE, [1, 2], VALUE):
        assert_same(brinery.load(buffer), value)


def test_codec_pieces_compressor_corruption(pdeflate, dumps):
    """The codec's own exception (listed in ``errors``) becomes CorruptFileError, chained."""
    data = bytearray(dumps(VALUE, compress="pdeflate"))
    data[len(PD_MAGIC)] |= 0b110  # deflate block type 3: reserved, invalid
    with pytest.raises(
        brinery.CorruptFileError, match="pdeflate data is corrupt in frame 1"
    ) as raised:
        brinery.load(io.BytesIO(bytes(data)))
    assert isinstance(raised.value.__cause__, zlib.error)


@pytest.mark.parametrize(
    ("target", "compress"),
    [("x.bin", "headerzlib"), ("x.bin", ("headerzlib", 9)), ("x.hz", None)],
)
def test_opaque_compressor(target, compress, headerzlib, tmp_path, assert_same):
    """A compressor with its own writer and reader: dump by name, level or extension; load by
    magic from a path and from a file object."""
    path = tmp_path / target
    brinery.dump(VALUE, path, compress=compress)
    data = path.read_bytes()
    assert data.startswith(HZ_MAGIC)
    assert zlib.decompress(data[len(HZ_MAGIC) :]).startswith(STREAM_MAGIC)
    assert_same(brinery.load(path), VALUE)
    assert_same(brinery.load(io.BytesIO(data)), VALUE)


@pytest.mark.parametrize("threads", [1, 3])
def test_an_opaque_writer_is_given_threads(threads, headerzlib, assert_same):
    """``open_writer`` gets the ``threads`` the dump was given, like the core's own writer."""
    buffer = io.BytesIO()
    brinery.dump(VALUE, buffer, compress="headerzlib", threads=threads)
    assert headerzlib.threads_given == [threads]
    buffer.seek(0)
    assert_same(brinery.load(buffer), VALUE)


def test_opaque_reader_errors_become_brinery_errors(headerzlib, dumps):
    """Whatever an opaque reader raises on damaged data surfaces as a CorruptFileError."""
    data = dumps(VALUE, compress="headerzlib")
    with pytest.raises(
        brinery.CorruptFileError, match="EOFError: the HeaderZlib data is truncated"
    ) as raised:
        brinery.load(io.BytesIO(data[: len(data) // 2]))
    assert isinstance(raised.value.__cause__, EOFError)
    damaged = bytearray(data)
    damaged[len(HZ_MAGIC) + 2] |= 0b110  # deflate block type 3: reserved, invalid
    with pytest.raises(brinery.CorruptFileError, match="cannot be read") as raised:
        brinery.load(io.BytesIO(bytes(damaged)))
    assert isinstance(raised.value.__cause__, zlib.error)


def test_open_reader_gets_a_file_with_read(tmp_path, assert_same):
    """``open_reader(fileobj)`` is documented to get a readable binary file: ``read`` works."""
    brinery.register_compressor("readingzlib", ReadingHeaderZlib())
    path = tmp_path / "x.rz"
    brinery.dump(VALUE, path)
    assert path.read_bytes().startswith(b"RZL\x01")
    assert_same(brinery.load(path), VALUE)


def test_compressors_lists_registered_ones(pdeflate, headerzlib):
    """``brinery.compressors()`` is a snapshot including what code registered."""
    listed = brinery.compressors()
    assert listed["pdeflate"] is pdeflate
    assert listed["headerzlib"] is headerzlib
    assert {"zlib", "gzip", "bz2", "lzma", "xz"} <= set(listed)
    listed.clear()
    assert "pdeflate" in brinery.compressors()


def test_invalid_level_for_registered_compressor(pdeflate):
    """Levels are checked against the compressor's own range."""
    with pytest.raises(
        brinery.InvalidArgumentError,
        match="level 0 is not valid for 'pdeflate': use an int from 1 to 9",
    ):
        brinery.dump(1, io.BytesIO(), compress=("pdeflate", 0))


# -- registration rules ----------------------------------------------------------------------------


def _compressor(base: type = PrefixedDeflate, **attributes: Any) -> brinery.Compressor:
    attributes.setdefault("name", "custom")
    attributes.setdefault("magic", b"CU\x01")
    attributes.setdefault("extensions", (".cu",))
    return type("Custom", (base,), attributes)()


class NoCodec(brinery.Compressor):
    name, magic, extensions, levels, default_level = "nocodec", b"NC\x01", (), range(1), 0


class OnlyWriter(NoCodec):
    def open_writer(self, fileobj: Any, level: int, *, threads: int = 1) -> Any:
        return fileobj


class OnlyCompressorPiece(NoCodec):
    def new_compressor(self, level: int) -> Any:
        return zlib.compressobj(level)


class CodecWithOnlyAReader(PrefixedDeflate):
    def open_reader(self, fileobj: Any) -> Any:
        return fileobj


class WriterWithoutThreads(HeaderZlib):
    def open_writer(self, fileobj: Any, level: int) -> Any:  # type: ignore[override]
        return _HeaderZlibWriter(fileobj, self.magic, level)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("gzip", lambda: _compressor(name="gzip"), r"the name 'gzip' is taken"),
        ("custom", lambda: _compressor(extensions=(".gz",)), r"'gzip' has the extension '.gz'"),
        (
            "custom",
            lambda: _compressor(magic=b"\x1f\x8b"),
            r"magic number 1f 8b overlaps 'gzip''s 1f 8b",
        ),
        (
            "custom",
            lambda: _compressor(magic=b"BZ"),
            r"magic number 42 5a overlaps 'bz2''s 42 5a 68",
        ),
        (
            "custom",
            lambda: _compressor(magic=b"BZh9!"),
            r"42 5a 68 39 21 overlaps 'bz2''s 42 5a 68",
        ),
        (
            "custom",
            lambda: _compressor(alternative_magics=(b"\x78\x9c\x01",)),
            r"magic number 78 9c 01 overlaps 'zlib''s 78 9c",
        ),
        (
            "custom",
            lambda: _compressor(magic=b"\x01"),
            r"magic number b'\\x01' must be bytes of at least 2",
        ),
        (
            "custom",
            lambda: _compressor(magic=b""),
            r"magic number b'' must be bytes of at least 2 bytes",
        ),
        ("custom", lambda: _compressor(magic="CU"), r"magic number 'CU' must be bytes"),
        (
            "custom",
            lambda: _compressor(alternative_magics=(b"Z",)),
            r"b'Z' must be bytes of at least 2",
        ),
        (
            "custom",
            lambda: _compressor(magic=b"\x89BR"),
            r"89 42 52 overlaps brinery's own stream magic",
        ),
        (
            "custom",
            lambda: _compressor(magic=STREAM_MAGIC + b"!"),
            r"overlaps brinery's own stream magic",
        ),
        ("other", lambda: _compressor(), r"as 'other': its name attribute says 'custom'"),
        ("", lambda: _compressor(name=""), r"a compressor name must be a non-empty str, not ''"),
        (
            "custom",
            lambda: _compressor(extensions=(".CU",)),
            r"extension '.CU' must be lower case and start",
        ),
        (
            "custom",
            lambda: _compressor(extensions=("cu",)),
            r"extension 'cu' must be lower case and start with a dot",
        ),
        (
            "custom",
            lambda: _compressor(default_level=0),
            r"default_level 0 is not in its levels range\(1, 10\)",
        ),
        ("custom", lambda: _compressor(levels=range(0)), r"default_level 5 is not in its levels"),
        (
            "nocodec",
            NoCodec,
            r"implement new_compressor\(\) and new_decompressor\(\), or open_writer\(\) and",
        ),
        (
            "nocodec",
            OnlyWriter,
            r"implement new_compressor\(\) and new_decompressor\(\), or open_writer",
        ),
        ("nocodec", OnlyCompressorPiece, r"implement new_compressor\(\) and new_decompressor\(\)"),
        (
            "pdeflate",
            CodecWithOnlyAReader,
            r"'pdeflate': override both open_writer\(\) and open_reader\(\), or neither",
        ),
        (
            "headerzlib",
            WriterWithoutThreads,
            r"'headerzlib': its open_writer\(\) must take the keyword argument threads",
        ),
        (
            "custom",
            object,
            r"cannot register <object object at .*> as 'custom': it is not a brinery.Compressor",
        ),
    ],
)
def test_registration_is_refused(name, make, message):
    """Clashing or unusable definitions raise RegistrationError (a ValueError); nothing changes."""
    before = brinery.compressors()
    with pytest.raises(brinery.RegistrationError, match=message) as raised:
        brinery.register_compressor(name, make())
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, brinery.BrineryError)
    assert brinery.compressors() == before


def test_clash_between_two_registered_compressors(pdeflate):
    """A magic that is a prefix of a code-registered compressor's is refused too, both ways."""
    with pytest.raises(brinery.RegistrationError, match="50 44 overlaps 'pdeflate''s 50 44 07"):
        brinery.register_compressor("custom", _compressor(magic=b"PD"))
    with pytest.raises(brinery.RegistrationError, match=r"'pdeflate' has the extension '\.pdz'"):
        brinery.register_compressor("custom", _compressor(extensions=(".pdz",)))


def test_force_replaces_same_name(pdeflate):
    """``force=True`` replaces the compressor registered under the same name."""
    replacement = _compressor(name="pdeflate", magic=b"P2\x01")
    brinery.register_compressor("pdeflate", replacement, force=True)
    assert brinery.compressors()["pdeflate"] is replacement


def test_force_replaces_what_it_clashes_with(tmp_path):
    """``force=True`` takes over a clashing extension: the compressor that had it is replaced."""
    takeover = _compressor(name="gzlike", extensions=(".gz",))
    brinery.register_compressor("gzlike", takeover, force=True)
    assert "gzip" not in brinery.compressors()
    path = tmp_path / "x.gz"
    brinery.dump([1, 2], path)
    assert path.read_bytes().startswith(b"CU\x01")
    assert brinery.load(path) == [1, 2]


# -- the least a compressor gives: a name, a magic, extensions, levels and two functions ----------


class Minimal(brinery.Compressor):
    name = "minimal"
    magic = b"MN\x01"
    extensions = (".mn",)
    levels = range(1, 10)

    def new_compressor(self, level: int) -> Any:
        return _PrefixedDeflateCompressor(self.magic, level)

    def new_decompressor(self) -> Any:
        return _PrefixedDeflateDecompressor(self.magic)


class HintedMinimal(Minimal):
    """The same codec with frames of 1 MiB announced by hints: the reader hands whole frames to
    threads.  Records the threads its decompressors were made on."""

    framing = brinery.Framing(frame_size=1 << 20, hints=brinery.SKIPPABLE_FRAME_HINTS)

    def __init__(self) -> None:
        self.decompressed_on: list[str] = []

    def new_decompressor(self) -> Any:
        self.decompressed_on.append(threading.current_thread().name)
        return super().new_decompressor()


class OneCallMinimal(HintedMinimal):
    """With the optional one-call pieces; ``lie`` is added to the content size it reports, or
    to what its one call returns."""

    def __init__(self, size_lie: int = 0, output_lie: int = 0) -> None:
        super().__init__()
        self.size_lie, self.output_lie = size_lie, output_lie
        self.one_calls = 0

    def frame_content_size(self, frame: memoryview) -> int | None:
        return len(zlib.decompress(frame[len(self.magic) :], -15)) + self.size_lie

    def decompress_frame(self, frame: memoryview, size: int) -> bytes:
        self.one_calls += 1
        data = zlib.decompress(frame[len(self.magic) :], -15)
        return data + bytes(self.output_lie) if self.output_lie >= 0 else data[: self.output_lie]


def _registered(compressor: brinery.Compressor) -> Any:
    brinery.register_compressor(compressor.name, compressor)
    return compressor


def test_a_minimal_compressor_defaults_to_its_first_level(tmp_path, dumps):
    _registered(Minimal())
    assert brinery.compressors()["minimal"].default_level == 1
    brinery.dump(VALUE, tmp_path / "value.mn")
    by_level = dumps(VALUE, compress=("minimal", 1))
    assert (tmp_path / "value.mn").read_bytes() == dumps(VALUE, compress="minimal") == by_level
    assert by_level != dumps(VALUE, compress=("minimal", 9))


@pytest.mark.parametrize("threads", [1, 3])
def test_a_minimal_compressor_works_on_threads(threads, tmp_path, dumps, assert_same):
    """Frames of 4 MiB, compressed on threads, the same bytes whatever their number."""
    _registered(Minimal())
    path = tmp_path / "value.mn"
    brinery.dump(VALUE, path, threads=threads)
    data = path.read_bytes()
    assert data == dumps(VALUE, compress="minimal", threads=1)
    assert data.count(b"MN\x01") >= 2  # 6 MB: two frames at least
    assert_same(brinery.load(path, threads=threads), VALUE)


def _hints(data: bytes) -> list[tuple[int, int]]:
    hints, start = [], 0
    while (start := data.find(b"BRFH", start)) >= 0:
        hint = brinery.SKIPPABLE_FRAME_HINTS.parse(data[start - 8 : start + 24])
        assert hint is not None
        hints.append((hint.compressed_size, hint.uncompressed_size))
        start += 4
    return hints


def test_a_minimal_compressor_with_hints_decompresses_whole_frames_on_threads(assert_same):
    compressor = _registered(HintedMinimal())
    buffer = io.BytesIO()
    brinery.dump(VALUE, buffer, compress="minimal", threads=2)
    hints = _hints(buffer.getvalue())
    assert len(hints) == buffer.getvalue().count(b"MN\x01") - 1 >= 5
    assert max(uncompressed for _, uncompressed in hints) == 1 << 20
    buffer.seek(0)
    assert_same(brinery.load(buffer, threads=3), VALUE)
    on_threads = [name for name in compressor.decompressed_on if name.startswith("brinery-inflate")]
    assert len(on_threads) >= len(hints) - 1


def test_one_call_decompression_is_used_when_the_sizes_agree(assert_same, dumps):
    compressor = _registered(OneCallMinimal())
    data = dumps(VALUE, compress="minimal", threads=2)
    assert_same(brinery.load(io.BytesIO(data), threads=2), VALUE)
    assert compressor.one_calls == len(_hints(data))  # every hinted frame, in one call


def test_a_frame_whose_recorded_size_disagrees_is_streamed(assert_same, dumps):
    """The core calls decompress_frame only when the frame's own size is the hint's; otherwise
    the streaming decompressor fills the target, bounded to it."""
    compressor = _registered(OneCallMinimal(size_lie=1))
    data = dumps(VALUE, compress="minimal", threads=2)
    assert_same(brinery.load(io.BytesIO(data), threads=2), VALUE)
    assert compressor.one_calls == 0
    assert len(compressor.decompressed_on) == data.count(b"MN\x01")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("output_lie", "message"),
    [
        (1, r"it holds more data than its hint announced \(1048576 bytes\)"),
        (-1, r"it does not match its hint \(1048575 of 1048576 bytes\)"),
    ],
)
def test_a_one_call_that_returns_more_or_less_is_corruption(threads, output_lie, message, dumps):
    _registered(OneCallMinimal(output_lie=output_lie))
    data = dumps(VALUE, compress="minimal", threads=2)
    with pytest.raises(
        brinery.CorruptFileError,
        match=rf"minimal frame \d+: {message}",
    ):
        brinery.load(io.BytesIO(data), threads=threads)
