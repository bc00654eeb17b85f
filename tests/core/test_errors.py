"""Every error brinery raises on purpose: exact type, the built-in type it also is, and a
message that helps.  No codec's bare exception (EOFError, zlib.error, LZMAError...) escapes."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import stat
import sys
import threading
import zlib

import numpy as np
import pytest
import xxhash

import brinery
import brinery.rebuild
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    END_LOCATOR,
    END_RECORD,
    PICKLE_RECORD,
    RECORD_DIGEST,
    RECORD_HEADER,
    STREAM_HEADER,
    STREAM_MAGIC,
    padding_before_payload,
)
from brinery.testing import record_headers

VALUE = {
    "array": np.repeat(np.random.default_rng(5).integers(0, 99, 75_000), 2).reshape(150, 1000),
    "small": np.arange(10.0),
    "text": "error cases",
}
MAGIC_LENGTHS = {False: len(STREAM_MAGIC), "zlib": 2, "gzip": 2, "bz2": 3, "lzma": 3, "xz": 6}
CODEC_ERRORS = {
    "zlib": zlib.error,
    "gzip": zlib.error,
    "bz2": OSError,
    "lzma": lzma.LZMAError,
    "xz": lzma.LZMAError,
}


def _stream(
    *records: tuple[int, bytes], major: int = 1, minor: int = 0, flags: int = 0, reserved: int = 0
) -> bytes:
    """A hand-made brinery stream: a header, then (kind, payload) records, aligned as specified."""
    data = bytearray(STREAM_HEADER.pack(STREAM_MAGIC, major, minor, flags, reserved))
    for kind, payload in records:
        padding = padding_before_payload(len(data)) if kind in (ARRAY_RECORD, BUFFER_RECORD) else 0
        data += RECORD_HEADER.pack(kind, padding, 0, 0, len(payload)) + bytes(padding) + payload
    return bytes(data)


def _load_bytes(data: bytes):
    return brinery.load(io.BytesIO(data))


# -- not a brinery stream --------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["path", "bytesio"])
def test_empty_input(via, tmp_path):
    """Empty data is UnknownFormatError, saying it is empty."""
    path = tmp_path / "empty.pkl"
    path.write_bytes(b"")
    with pytest.raises(brinery.UnknownFormatError, match="the data is empty"):
        brinery.load(path if via == "path" else io.BytesIO(b""))


def test_random_bytes_show_their_first_bytes(tmp_path, builtin_only):
    """Unknown data: the message shows its first bytes and the compressors that were tried."""
    path = tmp_path / "random.bin"
    path.write_bytes(bytes([0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6]) + os.urandom(100))
    with pytest.raises(
        brinery.UnknownFormatError,
        match=r"it starts with de ad be ef 01 02 03 04, which is neither brinery's magic number "
        r"nor that of an installed compressor \(bz2, gzip, lzma, xz, zlib\)",
    ) as raised:
        brinery.load(path)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_pickle_loads(protocol, tmp_path, assert_same):
    """A plain pickle (protocol 2 or later) loads, as joblib's files do (test_joblib_files.py);
    trailing data after it is still an error."""
    value = {"a": np.arange(3), "b": [1.5, "x"]}
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    assert_same(brinery.load(path), value)
    path.write_bytes(pickle.dumps(value, protocol=protocol) + b"junk")
    with pytest.raises(brinery.CorruptFileError, match="has data after the end"):
        brinery.load(path)


NOT_BRINERY = {
    "zlib": zlib.compress,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
    "xz": lzma.compress,
}


def test_a_compressed_plain_pickle_loads(codec):
    """A compressed pickle is what joblib writes: it loads (see test_joblib_files.py)."""
    assert _load_bytes(NOT_BRINERY[codec](pickle.dumps(list(range(100)), protocol=4))) == list(
        range(100)
    )


@pytest.mark.parametrize(
    "payload", [b"just some text\n" * 20, b"hi", b""], ids=["text", "short", "empty"]
)
def test_compressed_data_that_is_not_brinery(codec, payload):
    """Compressed data holding something else: UnknownFormatError naming the compressor."""
    data = NOT_BRINERY[codec](payload)
    with pytest.raises(
        brinery.UnknownFormatError, match=rf"the {codec} data does not hold a brinery stream"
    ):
        _load_bytes(data)


# -- versions and unknown features -----------------------------------------------------------------


def _compressed(codec: str | bool, data: bytes) -> bytes:
    return data if codec is False else NOT_BRINERY[codec](data)


@pytest.mark.parametrize("codec_or_none", [False, *NOT_BRINERY], ids=lambda c: c or "none")
def test_newer_major_version_asks_to_upgrade(codec_or_none):
    """A stream from a newer major format version: UnsupportedVersionError saying to upgrade,
    compressed or not."""
    data = _compressed(codec_or_none, _stream((END_RECORD, b""), major=2, minor=3))
    with pytest.raises(
        brinery.UnsupportedVersionError,
        match=r"brinery format 2\.3, newer than the 1\.x .*upgrade brinery",
    ) as raised:
        _load_bytes(data)
    assert isinstance(raised.value, brinery.UnknownFormatError)


@pytest.mark.parametrize(("flags", "reserved"), [(0x10, 0), (0x8000, 0), (0, 7)])
def test_unknown_header_features_ask_to_upgrade(flags, reserved):
    """Unknown stream flags (or reserved bits) mean a feature this version lacks."""
    data = _stream((END_RECORD, b""), flags=flags, reserved=reserved)
    with pytest.raises(brinery.UnsupportedVersionError, match=r"does not know .* upgrade brinery"):
        _load_bytes(data)


@pytest.mark.parametrize("index", [True, False], ids=["indexed", "unindexed"])
@pytest.mark.parametrize("checksums", [False, True])
def test_newer_minor_version_loads(checksums, index, dumps):
    """A newer minor version of format 1 is compatible: it loads."""
    data = bytearray(dumps([1, "two"], checksums=checksums, index=index))
    data[9] = 7  # minor version
    if checksums:  # the end record's checksum covers the stream header
        end = record_headers(bytes(data))[1][-1]  # (indexed: a 16-byte payload, the locator)
        assert end.size == (END_LOCATOR.size if index else 0)
        record = data[end.start - RECORD_HEADER.size : -RECORD_DIGEST.size]
        covered = bytes(data[: STREAM_HEADER.size] + record)
        data[-RECORD_DIGEST.size :] = RECORD_DIGEST.pack(xxhash.xxh3_64_intdigest(covered))
    assert _load_bytes(bytes(data)) == [1, "two"]


def test_a_changed_minor_version_is_damage_when_checksummed(dumps):
    """The stream header is under the end record's checksum: changed afterwards, it is damage
    (without checksums nothing could tell, as the test above shows)."""
    data = bytearray(dumps([1, "two"], checksums=True))
    data[9] = 7
    with pytest.raises(
        brinery.CorruptFileError,
        match=r"the record at byte \d+ of the data is damaged: its checksum does not match "
        r"\(stored 0x",
    ):
        _load_bytes(bytes(data))


# -- truncated and corrupt data --------------------------------------------------------------------


def test_truncated_files(compress, tmp_path, dumps):
    """A file cut anywhere after its magic number: TruncatedFileError, also an EOFError and (as a
    CorruptFileError) an OSError."""
    data = dumps(VALUE, compress=compress)
    magic = MAGIC_LENGTHS[compress]
    cuts = sorted(
        {
            magic,
            magic + 1,
            16,
            40,
            100,
            len(data) // 3,
            len(data) // 2,
            len(data) - 20,
            len(data) - 1,
        }
    )
    path = tmp_path / "cut.bin"
    for cut in cuts:
        path.write_bytes(data[:cut])
        for source in (path, io.BytesIO(data[:cut])):
            with pytest.raises(brinery.TruncatedFileError, match="ends in the middle of") as raised:
                brinery.load(source)
            assert isinstance(raised.value, EOFError)
            assert isinstance(raised.value, OSError)
            assert isinstance(raised.value, brinery.CorruptFileError)


# Where flipping bits of the first frame breaks the codec itself.
HEADER_DAMAGE = {
    "zlib": (2, 0b110),  # deflate block type 3 (reserved)
    "gzip": (10, 0b110),  # the same, after gzip's 10-byte header
    "bz2": (4, 0xFF),  # the block magic 31 41 59 26 53 59
    "lzma": (13, 0xFF),  # the range coder's first byte, which must be 0
    "xz": (8, 0xFF),  # the stream header's CRC32
}


def test_corrupt_frame_start_chains_codec_error(codec, dumps):
    """Damage the codec detects: CorruptFileError naming the frame, the codec's error as cause."""
    data = bytearray(dumps(VALUE, compress=codec))
    offset, bits = HEADER_DAMAGE[codec]
    data[offset] ^= bits
    with pytest.raises(
        brinery.CorruptFileError,
        match=rf"the {codec} data is corrupt in frame 1 \(which starts at byte 0 of the file\)",
    ) as raised:
        _load_bytes(bytes(data))
    assert isinstance(raised.value.__cause__, CODEC_ERRORS[codec])
    assert not isinstance(raised.value, brinery.TruncatedFileError)


@pytest.mark.parametrize("from_end", [1, 4])
def test_corrupt_checksum_at_the_end(codec, from_end, dumps):
    """Damage in the last frame's trailer (checksum, end marker) is caught by the codec too."""
    data = bytearray(dumps(VALUE, compress=codec))
    locator = brinery.compressors()[codec].framing.locator
    if locator is not None:  # (an indexed gzip or zlib file ends with it: tests/core/test_locators)
        assert locator.parse(bytes(data[-locator.size :])) is not None
        from_end += locator.size
    data[-from_end] ^= 0xFF
    with pytest.raises(
        brinery.CorruptFileError, match=rf"the {codec} data is corrupt in frame \d+"
    ) as raised:
        _load_bytes(bytes(data))
    assert isinstance(raised.value.__cause__, CODEC_ERRORS[codec])


DAMAGE_SAMPLE = {"small": np.arange(50), "array": np.arange(20_000) % 13, "s": "t" * 500}


def _errors_escaping_damage(data: bytes) -> dict[int, Exception]:
    """Loads ``data`` with one byte flipped: each of the first 64, then about 150 spread over the
    rest.  Returns what was raised other than a BrineryError, by offset."""
    escaped = {}
    step = max(1, len(data) // 150)
    for offset in [*range(min(64, len(data))), *range(64, len(data), step)]:
        damaged = bytearray(data)
        damaged[offset] ^= 0x5A
        try:
            _load_bytes(bytes(damaged))
        except brinery.BrineryError:
            pass
        except Exception as error:
            escaped[offset] = error
    return escaped


def test_damage_never_leaks_codec_errors(compress, dumps):
    """Whatever byte is damaged, no bare codec exception (zlib.error, LZMAError, EOFError,
    OSError) escapes: loading succeeds (an ignored field, raw array bytes) or raises something
    else, a BrineryError where brinery noticed (for other exceptions, see
    test_damage_in_checksummed_frames_is_corrupt_file_error)."""
    codec_errors = (zlib.error, lzma.LZMAError, EOFError, OSError)
    escaped = _errors_escaping_damage(dumps(DAMAGE_SAMPLE, compress=compress))
    leaked = {
        offset: f"a bare {type(error).__name__} escaped: {error}"
        for offset, error in escaped.items()
        if isinstance(error, codec_errors)
    }
    assert leaked == {}


@pytest.mark.parametrize("checked_codec", ["zlib", "gzip", "bz2", "xz"])
def test_damage_in_checksummed_frames_is_corrupt_file_error(checked_codec, dumps):
    """These formats checksum every frame, so any damage is detectable: it must surface as a
    BrineryError (CorruptFileError), not as whatever the unpickler makes of damaged bytes
    (ModuleNotFoundError for a damaged module name, UnicodeDecodeError...)."""
    escaped = _errors_escaping_damage(dumps(DAMAGE_SAMPLE, compress=checked_codec))
    assert {offset: f"{type(error).__name__}: {error}" for offset, error in escaped.items()} == {}


@pytest.mark.parametrize("garbage", [b"\x00", b"junk after the stream", b"\x1f\x8b\x08"])
def test_trailing_garbage_in_a_path(compress, garbage, tmp_path, dumps):
    """A file must end with its stream: anything after it is CorruptFileError."""
    path = tmp_path / "trailing.bin"
    path.write_bytes(dumps(VALUE, compress=compress) + garbage)
    with pytest.raises(
        brinery.CorruptFileError, match="has data after the end of the brinery stream"
    ):
        brinery.load(path)


def test_unknown_record_kind():
    """A record kind the format does not define: CorruptFileError giving kind and offset."""
    with pytest.raises(brinery.CorruptFileError, match=r"unknown record kind 0x5a at byte 16"):
        _load_bytes(_stream((ord("Z"), b"")))


def test_damaged_record_header():
    """Non-zero reserved fields in a record header: CorruptFileError."""
    data = bytearray(_stream((END_RECORD, b"")))
    data[STREAM_HEADER.size + 2] = 1  # the record's flags
    with pytest.raises(
        brinery.CorruptFileError, match=r"the record header at byte 16 .* is damaged"
    ):
        _load_bytes(bytes(data))


class _ArrayCall:
    """Pickles as a call to brinery.rebuild.array, which claims the next array record."""

    def __reduce__(self):
        return (brinery.rebuild.array, ("<f8", (10,), "C", True))


def test_missing_array_record():
    """The pickle asks for array data the stream does not hold: CorruptFileError."""
    data = _stream((PICKLE_RECORD, pickle.dumps(_ArrayCall(), protocol=4)), (END_RECORD, b""))
    with pytest.raises(
        brinery.CorruptFileError, match="asks for array data that the data does not hold"
    ):
        _load_bytes(data)


def test_array_record_of_the_wrong_size():
    """An array record whose size does not match the array: CorruptFileError."""
    data = _stream(
        (ARRAY_RECORD, bytes(8)),
        (PICKLE_RECORD, pickle.dumps(_ArrayCall(), protocol=4)),
        (END_RECORD, b""),
    )
    with pytest.raises(brinery.CorruptFileError, match=r"needs 80 bytes, but its data has 8"):
        _load_bytes(data)


def test_unused_array_record():
    """A raw memory record the pickle never claims: CorruptFileError."""
    data = _stream((ARRAY_RECORD, bytes(64)), (PICKLE_RECORD, pickle.dumps(1)), (END_RECORD, b""))
    with pytest.raises(
        brinery.CorruptFileError, match=r"1 raw memory record\(s\) that the pickle never used"
    ):
        _load_bytes(data)


def test_rebuild_outside_load():
    """brinery's rebuild functions cannot run from a plain pickle.loads."""
    with pytest.raises(brinery.BrineryError, match=r"called outside brinery\.load"):
        pickle.loads(pickle.dumps(_ArrayCall()))


def test_corrupt_pickle_data():
    """Pickle bytes that end early: CorruptFileError with pickle's error chained."""
    data = _stream((PICKLE_RECORD, pickle.dumps([1, 2, 3], protocol=2)[:-3]), (END_RECORD, b""))
    with pytest.raises(brinery.CorruptFileError, match="the pickle data is corrupt") as raised:
        _load_bytes(data)
    assert isinstance(raised.value.__cause__, (pickle.UnpicklingError, EOFError))


# -- compressors known but not installed -----------------------------------------------------------

NOT_INSTALLED = [
    ("zstd", "brinery-zstd", b"\x28\xb5\x2f\xfd", ".zst"),
    ("zstd", "brinery-zstd", b"\x28\xb5\x2f\xfd", ".zstd"),
    ("lz4", "brinery-lz4", b"\x04\x22\x4d\x18", ".lz4"),
    ("lzo", "brinery-lzo", b"\x89LZO\x00\r\n\x1a\n", ".lzo"),
]


@pytest.mark.parametrize(("name", "distribution", "magic", "extension"), NOT_INSTALLED)
def test_file_of_a_compressor_not_installed(
    name, distribution, magic, extension, tmp_path, builtin_only
):
    """A file with a known plugin's magic: CompressorNotInstalledError naming the distribution."""
    path = tmp_path / "model.bin"
    path.write_bytes(magic + bytes(range(40)))
    for source in (path, io.BytesIO(path.read_bytes())):
        with pytest.raises(
            brinery.CompressorNotInstalledError, match=rf"pip install {distribution}"
        ) as raised:
            brinery.load(source)
        assert (raised.value.compressor, raised.value.distribution) == (name, distribution)
        assert isinstance(raised.value, LookupError)


@pytest.mark.parametrize(("name", "distribution", "magic", "extension"), NOT_INSTALLED)
def test_dump_with_a_compressor_not_installed(
    name, distribution, magic, extension, tmp_path, builtin_only
):
    """Asking for a known plugin's compressor by extension, name or (name, level) says what to
    install, before any file is created."""
    attempts = [
        lambda: brinery.dump(1, tmp_path / f"x.pkl{extension}"),
        lambda: brinery.dump(1, tmp_path / f"X.PKL{extension.upper()}"),
        lambda: brinery.dump(1, tmp_path / "x.pkl", compress=name),
        lambda: brinery.dump(1, tmp_path / "x.pkl", compress=(name, 1)),
        lambda: brinery.dump(1, io.BytesIO(), compress=name),
    ]
    for attempt in attempts:
        with pytest.raises(
            brinery.CompressorNotInstalledError,
            match=rf"'{name}' compressor.*pip install {distribution}",
        ) as raised:
            attempt()
        assert raised.value.distribution == distribution
    assert os.listdir(tmp_path) == []


def test_explicit_compress_avoids_missing_compressor(tmp_path):
    """An explicit compress= wins over a known plugin's extension."""
    path = tmp_path / "x.pkl.zst"
    brinery.dump([1], path, compress=False)
    assert path.read_bytes().startswith(STREAM_MAGIC)


# -- failed dumps ----------------------------------------------------------------------------------


def _generator():
    yield 1


UNPICKLABLE = {
    "lambda": lambda: [lambda x: x],
    "lock": lambda: {"ok": np.arange(10), "lock": threading.Lock()},
    "generator": lambda: _generator(),
    "after_large_array": lambda: [np.arange(2_000_000), threading.Lock()],
}


@pytest.mark.parametrize("kind", list(UNPICKLABLE))
def test_unpicklable_object_is_dump_error(kind):
    """An object pickle refuses: DumpError, which is a pickle.PicklingError, cause chained."""
    with pytest.raises(brinery.DumpError, match="cannot dump") as raised:
        brinery.dump(UNPICKLABLE[kind](), io.BytesIO())
    assert isinstance(raised.value, pickle.PicklingError)
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize("compress_failed", [False, "gzip", "xz"], ids=["none", "gzip", "xz"])
def test_failed_dump_keeps_old_file(compress_failed, tmp_path):
    """A failed dump to an existing path leaves it byte-identical and leaves no temporary file."""
    path = tmp_path / "model.pkl"
    brinery.dump({"old": np.arange(1000)}, path)
    before = path.read_bytes()
    with pytest.raises(brinery.DumpError):
        brinery.dump(UNPICKLABLE["after_large_array"](), path, compress=compress_failed, threads=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pkl"]


def test_failed_dump_to_new_path_leaves_nothing(tmp_path):
    """A failed dump to a new path creates no file at all."""
    with pytest.raises(brinery.DumpError):
        brinery.dump(UNPICKLABLE["after_large_array"](), tmp_path / "new.pkl.gz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_file_permissions_follow_umask(umask, tmp_path):
    """A file created by dump has mode 0o666 & ~umask, as open() would give it."""
    previous = os.umask(umask)
    try:
        path = tmp_path / "perm.pkl.gz"
        brinery.dump([1], path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_dump_replaces_existing_file(tmp_path):
    """A successful dump replaces the previous file's content."""
    path = tmp_path / "model.pkl"
    brinery.dump("old", path)
    brinery.dump("new", path)
    assert brinery.load(path) == "new"
    assert os.listdir(tmp_path) == ["model.pkl"]


# -- invalid arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [-1, 6, True, 2.0, "5"])
def test_invalid_protocol(protocol, tmp_path):
    """Protocols outside 0-5 (or not ints): InvalidArgumentError naming the range."""
    with pytest.raises(
        brinery.InvalidArgumentError,
        match=r"protocol=.* is not valid: use a pickle protocol from 0 to 5",
    ):
        brinery.dump(1, tmp_path / "x.pkl", protocol=protocol)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("threads", [0, -1, True, 1.5, "2"])
def test_invalid_threads(threads, tmp_path):
    """Threads must be an int of at least 1, for dump and for load."""
    message = r"threads=.* is not valid: use an int of at least 1"
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.dump(1, tmp_path / "x.pkl.gz", threads=threads)
    assert os.listdir(tmp_path) == []
    data = io.BytesIO()
    brinery.dump(1, data, compress="gzip")
    data.seek(0)
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.load(data, threads=threads)


@pytest.mark.parametrize("source", [123, None, b"bytes are not a path", object(), ["x.pkl"]])
def test_load_from_something_that_is_not_a_file(source):
    """load needs a path or a readable binary file object."""
    with pytest.raises(
        brinery.InvalidArgumentError, match="give a path or a readable binary file object"
    ):
        brinery.load(source)


@pytest.mark.parametrize("target", [123, None, object(), b"bytes"])
def test_dump_into_something_that_is_not_a_file(target):
    """dump needs a path or a writable binary file object."""
    with pytest.raises(
        brinery.InvalidArgumentError, match="give a path or a writable binary file object"
    ):
        brinery.dump(1, target)


def test_text_mode_files_are_refused(tmp_path):
    """A file opened in text mode is refused with a hint about binary mode."""
    path = tmp_path / "text.txt"
    with (
        open(path, "w") as file,
        pytest.raises(brinery.InvalidArgumentError, match="opened with 'wb'"),
    ):
        brinery.dump(1, file)
    with open(path) as file, pytest.raises(brinery.InvalidArgumentError, match="opened with 'rb'"):
        brinery.load(file)
    with pytest.raises(brinery.InvalidArgumentError, match="opened with 'rb'"):
        brinery.load(io.StringIO("text"))


def test_missing_file_is_file_not_found(tmp_path):
    """A path that does not exist is the usual FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        brinery.load(tmp_path / "missing.pkl")


def test_error_hierarchy():
    """Each error is a BrineryError and the built-in type that describes it."""
    assert issubclass(brinery.InvalidArgumentError, ValueError)
    assert issubclass(brinery.RegistrationError, ValueError)
    assert issubclass(brinery.UnknownFormatError, ValueError)
    assert issubclass(brinery.UnsupportedVersionError, brinery.UnknownFormatError)
    assert issubclass(brinery.CompressorNotInstalledError, LookupError)
    assert issubclass(brinery.CorruptFileError, OSError)
    assert issubclass(brinery.TruncatedFileError, brinery.CorruptFileError)
    assert issubclass(brinery.TruncatedFileError, EOFError)
    assert issubclass(brinery.DumpError, pickle.PicklingError)
    for error in (
        brinery.InvalidArgumentError,
        brinery.RegistrationError,
        brinery.UnknownFormatError,
        brinery.CompressorNotInstalledError,
        brinery.CorruptFileError,
        brinery.DumpError,
    ):
        assert issubclass(error, brinery.BrineryError)


# -- streams without checksums: what the C unpickler raises ----------------------------------------


class _Unbuildable:
    """Its state cannot be set: the object's own error, not the file's."""

    def __init__(self):
        self.x = 1

    def __setstate__(self, state):
        raise ValueError("this object refuses its state")


def test_damage_to_an_unchecksummed_pickle_is_a_brinery_error(dumps, records):
    """With checksums=False nothing checks the pickle bytes; what the C unpickler raises on
    damage (a declared length it cannot allocate, text that is not UTF-8, a name it cannot
    find, a call with other arguments) is still a brinery error, never MemoryError & co."""
    value = {"small": [np.arange(n, dtype=np.float32) for n in (1, 5, 9)], "s": "tèxt", "b": b"y"}
    data = dumps(value, compress=False, checksums=False)
    pickle_bytes = [
        offset
        for record in records(data)
        if record.kind == "P"
        for offset in range(record.start, record.start + record.size)
    ]
    assert len(pickle_bytes) > 200
    escaped = []
    for offset in pickle_bytes:
        for mask in (0xFF, 0x01):
            damaged = bytearray(data)
            damaged[offset] ^= mask
            try:
                brinery.load(io.BytesIO(bytes(damaged)))
            except (brinery.BrineryError, ModuleNotFoundError):
                pass  # a damaged module name reads as a module that is not installed
            except Exception as error:
                escaped.append(f"{offset}^{mask:#x}: {type(error).__name__}")
    assert escaped == []


def test_a_huge_declared_length_in_an_unchecksummed_pickle_is_corruption(dumps, records):
    data = bytearray(dumps({"b": bytearray(b"x" * 100)}, compress=False, checksums=False))
    at = bytes(data).index(b"\x96" + (100).to_bytes(8, "little"))  # BYTEARRAY8, its length
    data[at + 1 : at + 9] = (1 << 62).to_bytes(8, "little")
    with pytest.raises(
        brinery.CorruptFileError,
        match=r"invalid, or holds an object that cannot be rebuilt here \(the stream has no "
        r"checksums to tell\): MemoryError",
    ) as raised:
        brinery.load(io.BytesIO(bytes(data)))
    assert isinstance(raised.value.__cause__, MemoryError)


@pytest.mark.parametrize("checksums", [False, True])
def test_an_objects_own_error_comes_out_as_it_is_without_checksums(checksums, dumps):
    data = dumps([_Unbuildable()], compress=False, checksums=checksums)
    with pytest.raises(ValueError, match="this object refuses its state"):
        brinery.load(io.BytesIO(data))


def test_a_missing_module_comes_out_as_it_is_without_checksums(dumps):
    """An import that fails is most likely a module that is not installed, checksums or not."""
    data = dumps([_Unbuildable()], compress=False, checksums=False)
    assert data.count(b"test_errors") == 1
    with pytest.raises(ModuleNotFoundError, match="test_ErRors"):
        brinery.load(io.BytesIO(data.replace(b"test_errors", b"test_ErRors")))


class _Removed:
    """Dumped, then taken out of this module: a name the C unpickler cannot find."""


@pytest.mark.parametrize(
    ("compress", "checksums", "reported"),
    [
        (False, False, brinery.CorruptFileError),  # nothing tells damage from a missing class
        (False, True, AttributeError),  # the checksum says the bytes are as written
        ("gzip", False, AttributeError),  # so does gzip's CRC
    ],
)
def test_a_name_the_unpickler_cannot_find(compress, checksums, reported, dumps, monkeypatch):
    data = dumps([_Removed()], compress=compress, checksums=checksums)
    monkeypatch.delattr(sys.modules[__name__], "_Removed")
    with pytest.raises(reported) as raised:
        brinery.load(io.BytesIO(data))
    if reported is brinery.CorruptFileError:
        assert "cannot be rebuilt here (the stream has no checksums to tell)" in str(raised.value)
        assert isinstance(raised.value.__cause__, AttributeError)
    else:
        assert "_Removed" in str(raised.value)
