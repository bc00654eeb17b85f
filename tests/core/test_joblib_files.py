"""brinery loads the files joblib 0.10 to 1.6 writes, without joblib (brinery.joblib_files).

Two sources: files written by six joblib releases (tests/fixtures/joblib/), and files written
here by the installed joblib (a test-only dependency) from objects of every kind.  joblib 0.9's
files: test_joblib_legacy.py; byte order: test_byte_order.py; Python 2: test_python2.py.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

joblib = pytest.importorskip("joblib")

JOBLIB_FIXTURES = Path(__file__).parents[1] / "fixtures" / "joblib"

VERSIONS = ["0.10.3", "0.11", "0.14.1", "1.1.1", "1.2.0", "1.6.0"]
STANDARD = {"0": "pkl", "zlib": "pkl.z", "gzip": "pkl.gz", "bz2": "pkl.bz2", "lzma": "pkl.lzma",
            "xz": "pkl.xz"}


def native(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as joblib's default load returns it: its big-endian array made native."""
    return {**value, "i": value["i"].astype(np.int32)}


@pytest.mark.parametrize("compressor", list(STANDARD))
@pytest.mark.parametrize("version", VERSIONS)
def test_files_of_every_joblib_release_load_exactly(
    version: str, compressor: str, assert_same: Any, joblib_object: Any
) -> None:
    """Fortran order and the matrix subclass come back (joblib itself turns the matrix into an
    ndarray under numpy 2); '>i4' comes back native, as joblib's default does, or as stored."""
    path = JOBLIB_FIXTURES / f"joblib_{version}_{compressor}.{STANDARD[compressor]}"
    assert_same(brinery.load(path), native(joblib_object))
    assert_same(brinery.load(path, ensure_native_byte_order=False), joblib_object)


@pytest.mark.parametrize("version", ["0.10.3", "1.6.0"])
def test_safe_mode_on_joblib_files(version: str, assert_same: Any) -> None:
    """The wrapper is plain data, and so is the object array: numpy's own pickle of it is read
    by brinery, its elements plain data (a list, a string, numbers)."""
    path = JOBLIB_FIXTURES / f"joblib_{version}_0.pkl"
    assert brinery.untrusted_types(path) == []
    assert_same(brinery.load(path, trusted=[]), brinery.load(path))
    stored = brinery.load(path, trusted=[], ensure_native_byte_order=False)
    assert_same(stored, brinery.load(path, ensure_native_byte_order=False))
    assert stored["i"].dtype == np.dtype(">i4")


def test_joblib_object_arrays_of_untrusted_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.pkl"
    joblib.dump({"o": np.array([datetime.date(2024, 1, 2), None], dtype=object)}, path)
    assert brinery.untrusted_types(path) == ["datetime.date"]
    with pytest.raises(brinery.UntrustedTypesError) as caught:
        brinery.load(path, trusted=[])
    assert caught.value.types == ["datetime.date"]
    loaded = brinery.load(path, trusted=["datetime.date"])
    assert loaded["o"].dtype == object
    assert list(loaded["o"]) == [datetime.date(2024, 1, 2), None]


# -- files written here by the installed joblib --------------------------------------------------


def _rich_object() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return {
        "strided": rng.random(60_000)[::3],
        "fortran": np.asfortranarray(rng.random((300, 70)).astype(np.float32)),
        "structured": np.zeros(10, dtype=[("a", "<i4"), ("b", ">f8", (2,)), ("c", "S5")]),
        "bool": rng.random(1000) > 0.5,
        "complex": rng.random(100) + 1j,
        "dates": np.arange("2024-01-01", "2024-02-01", dtype="datetime64[D]"),
        "unicode": np.array(["é", "ß✓"]),
        "objects": np.array([{"k": 1}, None, "s"], dtype=object),
        "scalars": [np.float16(1.5), np.int8(-3)],
        "masked": np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "nested": {"list": [np.arange(5), (np.zeros(0), "x")], "none": None},
    }


@pytest.fixture(scope="module")
def rich() -> dict[str, Any]:
    return _rich_object()


@pytest.mark.parametrize("compress", [0, ("zlib", 3), ("gzip", 1), ("bz2", 1), ("lzma", 1),
                                      ("xz", 1)], ids=str)
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_what_the_installed_joblib_writes_loads(
    compress: Any, protocol: int, rich: dict[str, Any], tmp_path: Path, assert_same: Any
) -> None:
    path = tmp_path / "joblib.pkl"
    joblib.dump(rich, path, compress=compress, protocol=protocol)
    loaded = brinery.load(path)
    expected = dict(rich)
    # joblib stores non-contiguous arrays contiguously (so does brinery): compare as such
    assert_same(loaded["strided"].copy(), rich["strided"].copy())
    del expected["strided"], loaded["strided"]
    assert_same(loaded, expected)
    with open(path, "rb") as file:  # from a file object too, which is left at the end
        assert_same(brinery.load(file)["fortran"], rich["fortran"])
        assert file.read() == b""


@pytest.mark.parametrize("compress", [0, ("zlib", 1)], ids=str)
def test_arrays_larger_than_joblibs_buffer(compress: Any, tmp_path: Path, assert_same: Any) -> None:
    """joblib writes arrays in 16 MiB pieces: 17.6 MB come back whole."""
    big = np.random.default_rng(4).random(2_200_000)
    path = tmp_path / "big.pkl"
    joblib.dump([big, "after"], path, compress=compress)
    assert_same(brinery.load(path), [big, "after"])


def test_a_truncated_joblib_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    joblib.dump({"a": np.arange(100_000)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 40):
        path.write_bytes(data[:cut])
        with pytest.raises(brinery.CorruptFileError):  # TruncatedFileError mostly
            brinery.load(path)


def test_a_joblib_array_larger_than_the_file_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "big.pkl"
    joblib.dump({"a": np.zeros(1000)}, path)
    data = path.read_bytes()
    crafted = data.replace(b"M\xe8\x03", b"J\x00\xca\x9a\x3b", 1)  # shape (1000,) -> (10**9,)
    assert crafted != data
    with pytest.raises(brinery.TruncatedFileError, match="declares a 8000000000-byte array"):
        brinery.load(io.BytesIO(crafted))


def test_max_bytes_bounds_joblib_files(tmp_path: Path) -> None:
    path = tmp_path / "big.pkl.gz"
    joblib.dump({"a": np.zeros(1_000_000)}, path, compress=("gzip", 1))
    with pytest.raises(brinery.SizeLimitError, match=r"more than max_bytes=100000 bytes"):
        brinery.load(path, max_bytes=100_000)
