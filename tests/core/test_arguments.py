"""What ``compress=`` and the target's extension select, and how loading detects it by magic."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

import brinery
from brinery.format.layout import STREAM_MAGIC

MAGICS = {
    "zlib": b"\x78",  # the second byte depends on the level, see test_zlib_header_tracks_level
    "gzip": b"\x1f\x8b\x08",
    "bz2": b"BZh",
    "lzma": b"\x5d\x00\x00",
    "xz": b"\xfd7zXZ\x00",
}
EXTENSIONS = {".z": "zlib", ".gz": "gzip", ".bz2": "bz2", ".lzma": "lzma", ".xz": "xz"}
VALUE = {"array": np.arange(50_000, dtype=np.float64), "text": "hello"}


def _loads_back(path: Path) -> None:
    loaded = brinery.load(path)
    assert np.array_equal(loaded["array"], VALUE["array"])
    assert loaded["text"] == "hello"


@pytest.mark.parametrize("extension", list(EXTENSIONS))
@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lower", "upper"])
def test_extension_selects_compressor(extension, case, tmp_path):
    """``.z .gz .bz2 .lzma .xz`` select their compressor, whatever the case (``X.PKL.GZ``)."""
    path = tmp_path / case(f"x.pkl{extension}")
    assert brinery.dump(VALUE, path) == [str(path)]
    assert path.read_bytes().startswith(MAGICS[EXTENSIONS[extension]])
    _loads_back(path)


@pytest.mark.parametrize("name", ["x.pkl", "x.joblib", "x", "x.gz.pkl", "x.tar", "x.zip"])
def test_other_extensions_write_uncompressed(name, tmp_path):
    """A name without a compressor's extension (or with one in the middle) is uncompressed."""
    path = tmp_path / name
    brinery.dump(VALUE, path)
    assert path.read_bytes().startswith(STREAM_MAGIC)
    _loads_back(path)


@pytest.mark.parametrize(
    ("name", "compress", "magic"),
    [
        ("x.pkl.gz", "xz", MAGICS["xz"]),
        ("x.pkl.xz", ("bz2", 9), b"BZh9"),
        ("x.pkl.bz2", True, b"\x78\x5e"),
        ("x.pkl.z", 9, b"\x78\xda"),
        ("x.pkl.gz", False, STREAM_MAGIC),
        ("x.pkl.lzma", 0, STREAM_MAGIC),
        ("x.pkl", "gzip", MAGICS["gzip"]),
    ],
)
def test_explicit_compress_wins_over_extension(name, compress, magic, tmp_path):
    """An explicit ``compress=`` decides, whatever the extension says."""
    path = tmp_path / name
    brinery.dump(VALUE, path, compress=compress)
    assert path.read_bytes().startswith(magic)
    _loads_back(path)


def test_compress_none_means_follow_the_extension(tmp_path):
    """``compress=None`` behaves as not given: the extension decides."""
    path = tmp_path / "x.pkl.bz2"
    brinery.dump(VALUE, path, compress=None)
    assert path.read_bytes().startswith(b"BZh")


@pytest.mark.parametrize("codec", list(MAGICS))
def test_magic_decides_on_load_not_the_name(codec, tmp_path):
    """A file whose name lies about its compressor still loads: detection is by magic only."""
    wrong_name = tmp_path / ("x.pkl.xz" if codec != "xz" else "x.pkl.gz")
    brinery.dump(VALUE, wrong_name, compress=codec)
    assert wrong_name.read_bytes().startswith(MAGICS[codec])
    _loads_back(wrong_name)
    renamed = wrong_name.rename(tmp_path / "no-extension")
    _loads_back(renamed)


def test_gz_name_holding_xz_data_loads(tmp_path):
    """The issue's example: ``.gz`` name, xz data, first bytes are xz's magic, loads fine."""
    path = tmp_path / "model.pkl.gz"
    brinery.dump(VALUE, path, compress="xz")
    assert path.read_bytes()[:6] == b"\xfd7zXZ\x00"
    _loads_back(path)


@pytest.mark.parametrize(
    ("compress", "header"),
    [
        (True, b"\x78\x5e"),  # zlib at its default level 3
        ("zlib", b"\x78\x5e"),
        (1, b"\x78\x01"),
        (3, b"\x78\x5e"),
        (6, b"\x78\x9c"),
        (9, b"\x78\xda"),
        (("zlib", 0), b"\x78\x01"),
        (("zlib", 7), b"\x78\xda"),
    ],
)
def test_zlib_header_tracks_level(compress, header, dumps, loads):
    """``True`` and ints 1-9 select zlib at that level; the zlib header records the level class."""
    data = dumps(VALUE, compress=compress)
    assert data[:2] == header
    assert np.array_equal(loads(data)["array"], VALUE["array"])


@pytest.mark.parametrize(
    ("compress", "check"),
    [
        (("gzip", 1), lambda data: data[:3] == b"\x1f\x8b\x08" and data[8] == 4),  # XFL: fastest
        (("gzip", 9), lambda data: data[8] == 2),  # XFL: maximum compression
        ("gzip", lambda data: data[8] == 0),
        (("bz2", 1), lambda data: data[:4] == b"BZh1"),
        (("bz2", 9), lambda data: data[:4] == b"BZh9"),
        ("bz2", lambda data: data[:4] == b"BZh3"),
        (("lzma", 0), lambda data: data[:5] == b"\x5d\x00\x00\x04\x00"),  # 256 KiB dictionary
        (("lzma", 9), lambda data: data[:5] == b"\x5d\x00\x00\x00\x04"),  # 64 MiB dictionary
        ("lzma", lambda data: data[:5] == b"\x5d\x00\x00\x40\x00"),  # 4 MiB: preset 3
        (("xz", 0), lambda data: data[:6] == MAGICS["xz"]),
        (("xz", 9), lambda data: data[:6] == MAGICS["xz"]),
        (["gzip", 5], lambda data: data[:2] == b"\x1f\x8b"),  # a list works as a pair too
    ],
)
def test_name_and_level_forms(compress, check, dumps, loads):
    """``"name"`` uses the default level 3, ``("name", level)`` the codec's own level."""
    data = dumps(VALUE, compress=compress)
    assert check(data)
    assert np.array_equal(loads(data)["array"], VALUE["array"])


@pytest.mark.parametrize("compress", [False, 0])
def test_no_compression_forms(compress, dumps):
    """``False`` and ``0`` write a plain brinery stream."""
    assert dumps(VALUE, compress=compress).startswith(STREAM_MAGIC)


def _case_id(value: object) -> str:
    """A test id that is the same in every process (pytest-xdist's workers must agree): no
    address, as ``repr(object())`` would give."""
    if type(value) is object:
        return "object()"
    return repr(value) if not isinstance(value, str) or len(value) < 20 else ""


@pytest.mark.parametrize(
    ("compress", "message"),
    [
        (
            10,
            r"compress=10 is not valid: use False or 0 \(no compression\), True \(zlib\), an int "
            r"from 1 to 9 \(zlib at that level\), a compressor name \(bz2, gzip, lzma, xz, zlib\)",
        ),
        (-1, r"compress=-1 is not valid: .*an int from 1 to 9"),
        ("nope", r"unknown compressor 'nope'; available: bz2, gzip, lzma, xz, zlib"),
        (("nope", 3), r"unknown compressor 'nope'; available: bz2, gzip, lzma, xz, zlib"),
        (("gzip", 42), r"compression level 42 is not valid for 'gzip': use an int from 0 to 9"),
        (("bz2", 0), r"compression level 0 is not valid for 'bz2': use an int from 1 to 9"),
        (("xz", -1), r"level -1 is not valid for 'xz': use an int from 0 to 9"),
        (("gzip", True), r"level True is not valid for 'gzip'"),
        (("gzip", "3"), r"level '3' is not valid for 'gzip'"),
        (("gzip", 3.0), r"level 3.0 is not valid for 'gzip'"),
        (("gzip",), r"compress=\('gzip',\) is not valid: .*\(name, level\)"),
        (("gzip", 3, 4), r"compress=\('gzip', 3, 4\) is not valid"),
        ((3, "gzip"), r"compress=\(3, 'gzip'\) is not valid"),
        (3.5, r"compress=3.5 is not valid: .*a compressor name \(bz2, gzip, lzma, xz, zlib\)"),
        (b"gzip", r"compress=b'gzip' is not valid"),
        (object(), r"compress=<object object at .*> is not valid"),
    ],
    ids=_case_id,
)
def test_invalid_compress_is_rejected_before_writing(compress, message, tmp_path, builtin_only):
    """Invalid ``compress=`` raises InvalidArgumentError (a ValueError) naming the valid choices,
    and no file is created."""
    path = tmp_path / "never.pkl"
    with pytest.raises(brinery.InvalidArgumentError, match=message) as raised:
        brinery.dump(VALUE, path, compress=compress)
    assert isinstance(raised.value, ValueError)
    assert os.listdir(tmp_path) == []


def test_dump_to_path_returns_the_path(tmp_path):
    """A str path comes back as given; a PathLike as its str form."""
    as_str = str(tmp_path / "a.pkl")
    assert brinery.dump(1, as_str) == [as_str]
    as_path = tmp_path / "b.pkl.gz"
    result = brinery.dump(1, as_path)
    assert result == [str(as_path)]
    assert type(result[0]) is str


@pytest.mark.parametrize(
    ("compress", "level"),
    [("gzip:9", 9), ("gzip:0", 0), ("xz:-0", 0), ("zlib:1", 1), ("bz2", 3)],
)
def test_name_colon_level_as_on_the_command_line(compress, level, dumps, loads):
    """``compress="name:level"`` is ``("name", level)``, as ``--compress name:level`` is."""
    name = compress.partition(":")[0]
    data = dumps(VALUE, compress=compress)
    assert data == dumps(VALUE, compress=(name, level))
    assert np.array_equal(loads(data)["array"], VALUE["array"])


@pytest.mark.parametrize(
    ("compress", "message"),
    [
        ("gzip:x", "compression level 'x' is not valid for 'gzip': use an int from 0 to 9"),
        ("gzip:", "compression level '' is not valid for 'gzip': use an int from 0 to 9"),
        ("gzip: 3", "compression level ' 3' is not valid for 'gzip': use an int from 0 to 9"),
        ("gzip:10", "compression level 10 is not valid for 'gzip': use an int from 0 to 9"),
        (
            "gzp:3",
            "unknown compressor 'gzp' (did you mean 'gzip'?); available: bz2, gzip, lzma, xz, "
            "zlib",
        ),
    ],
)
def test_a_bad_name_colon_level(compress, message, tmp_path, builtin_only):
    with pytest.raises(brinery.InvalidArgumentError) as raised:
        brinery.dump(VALUE, tmp_path / "never.pkl", compress=compress)
    assert str(raised.value) == message
    assert os.listdir(tmp_path) == []


def test_a_registered_name_with_a_colon_is_a_name(tmp_path):
    """Registration accepts any name: one holding a colon is still found whole."""
    gzip = brinery.compressors()["gzip"]
    renamed = type("Renamed", (type(gzip),), {"name": "my:gzip", "magic": b"\x1f\x8b\x08\x00"})()
    brinery.register_compressor("my:gzip", renamed, force=True)  # replaces gzip, until the
    # registry_guard fixture puts it back
    path = tmp_path / "x.pkl"
    brinery.dump(VALUE, path, compress="my:gzip")
    _loads_back(path)


@pytest.mark.parametrize(
    ("name", "closest"),
    [("zstandard", "zstd"), ("GZIP", "gzip"), ("lz-4", "lz4"), ("xzz", "xz"), ("bzip2", "bz2")],
)
def test_an_unknown_name_suggests_the_closest(name, closest, builtin_only):
    """Installed compressors and brinery's own plugins (installed or not) are suggested."""
    with pytest.raises(brinery.InvalidArgumentError) as raised:
        brinery.dump(VALUE, io.BytesIO(), compress=name)
    assert str(raised.value) == (
        f"unknown compressor {name!r} (did you mean {closest!r}?); available: bz2, gzip, lzma, "
        "xz, zlib"
    )


CLONE_HINT = (
    "pip install brinery-lz4 (or, from a clone of brinery's repository: pip install "
    "./plugins/brinery-lz4)"
)


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (
            lambda folder: brinery.dump(VALUE, folder / "x.pkl", compress="lz4"),
            f"the 'lz4' compressor comes with the brinery-lz4 plugin, which is not installed: "
            f"{CLONE_HINT}",
        ),
        (
            lambda folder: brinery.dump(VALUE, folder / "x.pkl", compress="lz4:3"),
            f"the 'lz4' compressor comes with the brinery-lz4 plugin, which is not installed: "
            f"{CLONE_HINT}",
        ),
        (
            lambda folder: brinery.dump(VALUE, folder / "x.pkl.lz4"),
            f"the file name '{{folder}}/x.pkl.lz4' asks for the 'lz4' compressor, and the "
            f"brinery-lz4 plugin that brings it is not installed: {CLONE_HINT}",
        ),
        (
            lambda folder: brinery.load(io.BytesIO(b"\x04\x22\x4d\x18" + bytes(20))),
            "this file was written with the 'lz4' compressor, and the brinery-lz4 plugin that "
            f"brings it is not installed: {CLONE_HINT}",
        ),
    ],
    ids=["name", "name:level", "extension", "magic"],
)
def test_a_missing_plugin_says_how_to_install_it(attempt, message, tmp_path, builtin_only):
    """The published name, and the folder of a clone, where a newcomer following the README is."""
    with pytest.raises(brinery.CompressorNotInstalledError) as raised:
        attempt(tmp_path)
    assert str(raised.value) == message.format(folder=tmp_path)
    assert os.listdir(tmp_path) == []
