"""brinery loads the files of joblib 0.9 and earlier: a pickle plus one side file per array
(brinery.joblib_legacy, brinery.side_files, brinery.npy_header).

The fixtures were written by joblib 0.9.4's own code (tests/fixtures/joblib/README.md); hostile
variants are made here from them, the side files treated as the hostile input they can be.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.api import inspect_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "joblib"
NPY = "joblib_0.9.4_0.pkl"  # arrays in .npy side files
ZF = "joblib_0.9.4_zlib.pkl"  # a z-file, arrays in z-file side files
#: The side files of both (the object array is in the pickle: joblib 0.9.4 pickled it).
SIDE = {"f": "_01", "i": "_02", "m": "_03", "e": "_04", "z": "_05"}


def native(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "i": value["i"].astype(np.int32)}


def copied(name: str, folder: Path) -> Path:
    """The fixture ``name`` and its side files, copied into ``folder``."""
    for path in FIXTURES.glob(f"{name}*"):
        shutil.copy(path, folder / path.name)
    return folder / name


def side(name: str, key: str) -> str:
    return f"{name}{SIDE[key]}.npy" + (".z" if name == ZF else "")


# -- the files joblib 0.9.4 wrote ----------------------------------------------------------------


@pytest.mark.parametrize("name", [NPY, ZF])
def test_joblib_0_9_files_load_exactly(name: str, assert_same: Any, joblib_object: Any) -> None:
    """Every array, from its side file (a .npy file or a z-file) or from the pickle; '>i4'
    native by default, as joblib 1.6 loads these files, or as stored; the matrix a matrix."""
    path = FIXTURES / name
    assert_same(brinery.load(path), native(joblib_object))
    assert_same(brinery.load(path, ensure_native_byte_order=False), joblib_object)
    assert_same(brinery.load(path, trusted=[]), native(joblib_object))


@pytest.mark.parametrize("name", [NPY, ZF])
def test_joblib_0_9_files_read_as_data(name: str) -> None:
    """``untrusted_types`` and ``brinery info`` read the side files' headers too."""
    path = FIXTURES / name
    assert brinery.untrusted_types(path) == []
    arrays = {(a.dtype, a.shape, a.order, a.nbytes, a.in_pickle) for a in inspect_file(path).arrays}
    assert arrays == {
        ("<f8", (20, 30), "F", 4800, False),
        (">i4", (1000,), "C", 4000, False),
        ("|O", (3,), "C", 24, True),
        ("<i8", (2, 2), "C", 32, False),
        ("<f8", (0, 3), "C", 0, False),
        ("<f8", (), "C", 8, False),
    }


@pytest.mark.parametrize("name", [NPY, ZF])
def test_side_files_need_the_pickle_s_path(name: str) -> None:
    """From a file object, there is no folder to find side files in: the error says so."""
    message = r"keeps its arrays in side files.*load it by its path"
    with (
        open(FIXTURES / name, "rb") as file,
        pytest.raises(brinery.CorruptFileError, match=message),
    ):
        brinery.load(file)
    with (
        open(FIXTURES / name, "rb") as file,
        pytest.raises(brinery.CorruptFileError, match=message),
    ):
        brinery.untrusted_types(file)


def test_a_z_file_without_side_files_loads_from_a_file_object(assert_same: Any) -> None:
    """joblib 0.9 kept arrays under its cache_size (100 MB) in the compressed pickle."""
    value = {"a": np.arange(10.0), "t": "text"}
    data = pickle.dumps(value, protocol=2)
    zfile = b"ZF" + hex(len(data)).encode().ljust(19) + zlib.compress(data)
    assert_same(brinery.load(io.BytesIO(zfile)), value)
    # Python 2's joblib up to 0.8.4 wrote one more space before the zlib data
    older = b"ZF" + hex(len(data)).encode().ljust(20) + zlib.compress(data)
    assert_same(brinery.load(io.BytesIO(older)), value)


def test_mapped_side_files(tmp_path: Path, joblib_object: Any) -> None:
    """``mmap_mode`` maps the .npy side files, as joblib does (their byte order as stored);
    ``"r+"`` writes through to them."""
    path = copied(NPY, tmp_path)
    loaded = brinery.load(path, mmap_mode="r")
    assert type(loaded["f"]) is np.memmap
    assert not loaded["f"].flags.writeable
    assert loaded["i"].dtype == np.dtype(">i4")
    np.testing.assert_array_equal(loaded["f"], joblib_object["f"])
    assert loaded["f"].flags.f_contiguous
    writable = brinery.load(path, mmap_mode="r+")
    writable["i"][:3] = -1
    del writable
    assert list(brinery.load(path)["i"][:4]) == [-1, -1, -1, 3]


# -- side files are hostile input ----------------------------------------------------------------


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def wrapper_pickle(filename: str, *, wrapper: str = "NDArrayWrapper") -> bytes:
    """What joblib 0.9 pickled for one array in a side file (protocol 2)."""
    return (
        b"\x80\x02cjoblib.numpy_pickle\n" + wrapper.encode() + b"\n)\x81}("
        + _text("filename") + _text(filename) + _text("subclass") + b"cnumpy\nndarray\n"
        + b"ub."
    )  # fmt: skip


def npy(header: str, data: bytes = b"", version: int = 1) -> bytes:
    text = header.encode("latin-1")
    width = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(width, len(text)) + text + data


@pytest.mark.parametrize(
    "filename",
    ["../a.npy", "/etc/hostname", "sub/a.npy", "..", ".", "a\\b.npy", "", "a\nb.npy"],
    ids=["parent", "absolute", "subfolder", "dotdot", "dot", "backslash", "empty", "newline"],
)
def test_side_file_names_that_are_paths_are_refused(filename: str, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "a.npy", np.arange(3))
    path = tmp_path / "p.pkl"
    path.write_bytes(wrapper_pickle(filename))
    with pytest.raises(brinery.CorruptFileError, match="side file") as caught:
        brinery.load(path)
    assert filename not in str(caught.value) or filename in ("", ".")
    with pytest.raises(brinery.CorruptFileError, match="side file"):
        brinery.untrusted_types(path)


def test_a_side_file_that_is_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "secret.npy", np.arange(3))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.npy").symlink_to(outside / "secret.npy")
    (folder / "p.pkl").write_bytes(wrapper_pickle("a.npy"))
    with pytest.raises(brinery.CorruptFileError, match="link to a file outside the pickle's"):
        brinery.load(folder / "p.pkl")


def test_a_side_file_linked_within_the_folder_is_read(tmp_path: Path, assert_same: Any) -> None:
    np.save(tmp_path / "real.npy", np.arange(3))
    (tmp_path / "a.npy").symlink_to("real.npy")
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("a.npy"))
    assert_same(brinery.load(tmp_path / "p.pkl"), np.arange(3))


def test_missing_and_irregular_side_files(tmp_path: Path) -> None:
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("gone.npy"))
    with pytest.raises(brinery.CorruptFileError, match=r"'gone.npy' is not in .*keep them"):
        brinery.load(tmp_path / "p.pkl")
    (tmp_path / "dir.npy").mkdir()
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("dir.npy"))
    with pytest.raises(brinery.CorruptFileError, match=r"'dir.npy' (is not a regular|cannot be)"):
        brinery.load(tmp_path / "p.pkl")
    os.mkfifo(tmp_path / "fifo.npy")  # (opened without blocking, then refused)
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("fifo.npy"))
    with pytest.raises(brinery.CorruptFileError, match=r"'fifo.npy' is not a regular file"):
        brinery.load(tmp_path / "p.pkl")


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"not npy at all", brinery.CorruptFileError, "does not start like one"),
        (npy("{}")[:9], brinery.TruncatedFileError, "ends inside its header"),
        (npy("x" * 20_000, version=2), brinery.CorruptFileError, "20000-byte header: refused"),
        (npy("__import__('os')"), brinery.CorruptFileError, "not a Python literal"),
        (npy("{'descr': '<f8', 'shape': (1,)}"), brinery.CorruptFileError, "dict of three keys"),
        (
            npy("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}"),
            brinery.CorruptFileError,
            "fortran_order is not a bool",
        ),
        (
            npy("{'descr': 'O!', 'fortran_order': False, 'shape': (1,)}"),
            brinery.CorruptFileError,
            "not a plain dtype",
        ),
        (
            npy("{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (1,)}"),
            brinery.CorruptFileError,
            "a structure holding objects",
        ),
        (
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}"),
            brinery.CorruptFileError,
            "invalid dimension",
        ),
        (
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", bytes(8)),
            brinery.TruncatedFileError,
            "holds 8 bytes for an array of 16 bytes",
        ),
        (
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", bytes(9)),
            brinery.CorruptFileError,
            "holds 9 bytes for an array of 8 bytes",
        ),
        (
            npy("{'descr': '<U1', 'fortran_order': False, 'shape': (1,)}", b"\xff" * 4),
            brinery.CorruptFileError,
            "not Unicode",
        ),
        (
            npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", b"\x80\x02K\x01."),
            brinery.CorruptFileError,
            "holds a builtins.int object, not its array",
        ),
    ],
    ids=[
        "magic",
        "short",
        "long-header",
        "code",
        "keys",
        "order",
        "dtype",
        "object-field",
        "negative",
        "truncated",
        "trailing",
        "text",
        "objects",
    ],
)
def test_hostile_npy_side_files(content: bytes, error: type, message: str, tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(content)
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("a.npy"))
    with pytest.raises(error, match=message):
        brinery.load(tmp_path / "p.pkl")
    with pytest.raises(error, match=message):
        brinery.load(tmp_path / "p.pkl", trusted=[])


def test_npy_headers_numpy_wrote_load(tmp_path: Path, assert_same: Any) -> None:
    """Structured dtypes (padding, titles, subarrays), version 2 and 3 headers, Python 2's
    '5L' dimensions, and numpy's own object pickle (read by the same unpickler as the file)."""
    structured = np.zeros(
        3,
        dtype=np.dtype(
            {
                "names": ["a", "b"],
                "formats": ["<i2", (">f8", (2,))],
                "offsets": [0, 8],
                "itemsize": 32,
                "titles": ["A", None],
            }
        ),
    )
    structured["b"] = [[1, 2], [3, 4], [5, 6]]
    cases: list[tuple[bytes, Any]] = []
    for value in (structured, np.arange(6.0).reshape(2, 3).T, np.array(["é"])):
        buffer = io.BytesIO()
        np.save(buffer, value)
        cases.append((buffer.getvalue(), value))
    text = "{'descr': '<i2', 'fortran_order': False, 'shape': (3L,), }"
    cases.append((npy(text, np.arange(3, dtype="<i2").tobytes()), np.arange(3, dtype="<i2")))
    cases.append((npy(text.replace("3L", "3"), bytes(6), version=3), np.zeros(3, dtype="<i2")))
    objects = np.array([1, "x", None], dtype=object)
    buffer = io.BytesIO()
    np.save(buffer, objects, allow_pickle=True)
    cases.append((buffer.getvalue(), objects))
    for content, value in cases:
        (tmp_path / "a.npy").write_bytes(content)
        (tmp_path / "p.pkl").write_bytes(wrapper_pickle("a.npy"))
        assert_same(brinery.load(tmp_path / "p.pkl", ensure_native_byte_order=False), value)
        assert_same(
            brinery.load(tmp_path / "p.pkl", trusted=[], ensure_native_byte_order=False), value
        )


def test_objects_in_a_side_file_are_safe_loaded(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.array([Path("x")], dtype=object), allow_pickle=True)
    (tmp_path / "p.pkl").write_bytes(wrapper_pickle("a.npy"))
    expected = [f"{type(Path()).__module__}.{type(Path()).__qualname__}"]
    assert brinery.untrusted_types(tmp_path / "p.pkl") == expected
    with pytest.raises(brinery.UntrustedTypesError) as caught:
        brinery.load(tmp_path / "p.pkl", trusted=[])
    assert caught.value.types == expected


def test_huge_side_file_arrays_are_refused_before_allocating(
    tmp_path: Path, load_limited: Any
) -> None:
    """A .npy header and a z-file declaring terabytes, in a process limited to 1 GiB."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}"
    (tmp_path / "a.npy").write_bytes(npy(header))
    result = load_limited(wrapper_pickle("a.npy"))
    assert (result.error, result.grew < 50 << 20) == ("TruncatedFileError", True)
    assert "holds 0 bytes for an array of 8000000000000 bytes" in result.message
    zpath = copied(ZF, tmp_path)
    data = zpath.read_bytes()
    source = zpath.with_name(side(ZF, "i"))
    compressed = source.read_bytes()
    source.write_bytes(b"ZF" + hex(1 << 40).encode().ljust(19) + compressed[21:])
    result = load_limited(data)
    assert result.error == "CorruptFileError"
    assert "more than zlib can expand them to" in result.message or "holds" in result.message


def test_max_bytes_counts_side_files(tmp_path: Path) -> None:
    path = copied(NPY, tmp_path)
    with pytest.raises(brinery.SizeLimitError, match="more than max_bytes=5000 bytes"):
        brinery.load(path, max_bytes=5000)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda data: data[:30], brinery.TruncatedFileError, "ends inside its zlib data"),
        (lambda data: data[:21] + b"\x00" + data[22:], brinery.CorruptFileError, "damaged"),
        (lambda data: data + b"more", brinery.CorruptFileError, "data after its zlib data"),
        (
            lambda data: b"ZF" + b"0x7".ljust(19) + data[21:],
            brinery.CorruptFileError,
            "holds 7 bytes for an array of 4000 bytes",
        ),
        (lambda data: b"ZFzz" + data[4:], brinery.CorruptFileError, "does not give its length"),
    ],
    ids=["truncated", "damaged", "trailing", "length", "header"],
)
def test_hostile_z_side_files(change: Any, error: type, message: str, tmp_path: Path) -> None:
    path = copied(ZF, tmp_path)
    source = path.with_name(side(ZF, "i"))
    source.write_bytes(change(source.read_bytes()))
    with pytest.raises(error, match=message):
        brinery.load(path)


def test_a_z_file_pickle_longer_than_it_declares_is_refused(tmp_path: Path) -> None:
    data = (FIXTURES / ZF).read_bytes()
    crafted = b"ZF" + b"0x10".ljust(19) + data[21:]
    with pytest.raises(brinery.TruncatedFileError, match="where at most"):
        brinery.load(io.BytesIO(crafted))
    with pytest.raises(brinery.CorruptFileError, match="does not give its length"):
        brinery.load(io.BytesIO(b"ZF0xg" + data[5:]))


def test_wrappers_with_states_joblib_never_wrote(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(3))
    bad_class = wrapper_pickle("a.npy").replace(b"cnumpy\nndarray\n", b"cbuiltins\nint\n")
    (tmp_path / "p.pkl").write_bytes(bad_class)
    with pytest.raises(brinery.CorruptFileError, match=r"a joblib array of class builtins\.int"):
        brinery.load(tmp_path / "p.pkl")
    assert brinery.untrusted_types(tmp_path / "p.pkl") == ["builtins.int"]
    extra = wrapper_pickle("a.npy").replace(b"ub.", _text("evil") + b"Nub.")
    (tmp_path / "p.pkl").write_bytes(extra)
    with pytest.raises(brinery.CorruptFileError, match="NDArrayWrapper has an invalid state"):
        brinery.load(tmp_path / "p.pkl")
    z = wrapper_pickle("a.npy", wrapper="ZNDArrayWrapper")
    (tmp_path / "p.pkl").write_bytes(z)
    with pytest.raises(brinery.CorruptFileError, match="ZNDArrayWrapper has an invalid state"):
        brinery.load(tmp_path / "p.pkl")
