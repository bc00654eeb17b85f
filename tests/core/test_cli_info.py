"""``brinery info``: what a file holds, without loading it; clear exit codes on bad input."""

from __future__ import annotations

import collections
import gzip
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery import array_paths
from brinery.api import inspect_file
from brinery.format.layout import FORMAT_MAJOR, FORMAT_MINOR
from brinery.testing import compressed_stream

BRINERY_FILE = f"brinery {FORMAT_MAJOR}.{FORMAT_MINOR}"  # (indexed: the default)
JOBLIB_FIXTURES = Path(__file__).parents[1] / "fixtures" / "joblib"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "brinery", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


MODEL = {
    "weights": np.zeros((300, 300)),
    "bias": np.arange(5, dtype=">i4"),
    "names": collections.OrderedDict(a=1),
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl.gz"
    brinery.dump(MODEL, path)
    return path


def test_info_describes_a_file(model: Path, dumps: Any) -> None:
    done = _run("info", str(model))
    assert done.returncode == 0, done.stderr
    size = model.stat().st_size
    # What gzip holds: the stream, whose index (the default) lists its compressed frames.
    plain = dumps(MODEL, compress=False, checksums=False, shuffle="byte")
    framing = brinery.compressors()["gzip"].framing
    stream = len(compressed_stream(plain, model.read_bytes(), gzip.decompress, framing))
    assert done.stdout.splitlines() == [
        f"{model}: {BRINERY_FILE}, compressor gzip, {size:,} bytes",
        f"  stream: {stream:,} bytes uncompressed ({stream / size:.2f}x), checked by the codec's "
        "checks",
        # (format 1.4: the dict was written entry by entry, its index before the end)
        "  index: dict of 3 entries, 1 array and buffer records, frames before the index: 1",
        "  arrays: 2, 720,020 bytes",
        # (a compressed file's arrays of numbers are byte-shuffled: shuffle="auto")
        "    float64 (<f8)            (300, 300)           C          720,000 bytes  "
        'byte-shuffled  ["weights"]',
        "    int32 (>i4)              (5,)                 C               20 bytes  in the pickle"
        '  ["bias"]',
        "  imports beyond plain data (trusted=[...] to load them safely): "
        "collections.OrderedDict",
    ]


def test_info_as_json(model: Path) -> None:
    done = _run("info", "--json", str(model), str(JOBLIB_FIXTURES / "joblib_1.2.0_0.pkl"))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["format"] == BRINERY_FILE
    assert first["compressor"] == "gzip"
    assert first["checksums"] is False
    assert [array["shape"] for array in first["arrays"]] == [[300, 300], [5]]
    assert [array["path"] for array in first["arrays"]] == ['["weights"]', '["bias"]']
    assert first["imports"] == ["collections.OrderedDict"]
    assert second["format"] == "joblib file (or plain pickle)"
    assert second["compressor"] == "none"
    # the object array travels as a pickle of its own: its elements are not counted
    assert [array["dtype"] for array in second["arrays"]] == [
        "<f8", ">i4", "|O", "<i8", "<f8", "<f8"
    ]
    assert [array["path"] for array in second["arrays"]] == [
        '["f"]', '["i"]', '["o"]', '["m"]', '["e"]', '["z"]'
    ]


def test_info_on_bad_files(model: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.pkl"
    brinery.dump([np.arange(10_000)], damaged)
    data = bytearray(damaged.read_bytes())
    data[200] ^= 1
    damaged.write_bytes(bytes(data))
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    done = _run("info", str(model), str(tmp_path / "missing.pkl"), str(damaged), str(text))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{model}: {BRINERY_FILE}")
    errors = done.stderr.splitlines()
    assert errors[0] == f"brinery info: {tmp_path / 'missing.pkl'}: No such file or directory"
    assert errors[1].startswith(f"brinery info: {damaged}: the record at byte ")
    assert "checksum does not match" in errors[1]
    assert errors[2].startswith(f"brinery info: {text}: the data is not a brinery stream")


def test_usage_errors_exit_with_2() -> None:
    assert _run("info").returncode == 2
    assert _run("nonsense").returncode == 2


# -- where each array is: its path in the object ---------------------------------------------


class _Model:
    """An object whose arrays are attributes (its state, a dict)."""

    def __init__(self) -> None:
        self.coef_ = np.arange(100_000.0)
        self.classes_ = np.array(["cat", "dog"])


class _Slotted:
    """An object whose state is the pair (None, slots dict)."""

    __slots__ = ("weights",)

    def __init__(self) -> None:
        self.weights = np.ones(4)


_Point = collections.namedtuple("_Point", "x y")


class _Key:
    """An object as a dict key."""


def _everything() -> dict[Any, Any]:
    shared = np.zeros(5)
    return {
        "model": _Model(),
        "list": [1, np.arange(4), [np.ones(2)]],
        3: (np.ones(2), shared, shared),
        "matrix": np.array([[1, 2]]).view(np.matrix),  # (np.matrix() warns)
        "masked": np.ma.masked_array([1, 2], [False, True]),
        "ordered": collections.OrderedDict(a=np.ones(3)),
        "slots": _Slotted(),
        "point": _Point(np.ones(1), 2),
        "big": np.zeros((300, 300)),
    }


EVERYTHING_PATHS = [
    '["model"].coef_',
    '["model"].classes_',
    '["list"][1]',
    '["list"][2][0]',
    "[3][0]",
    "[3][1]",  # (shared: listed once, where the pickle first puts it)
    '["matrix"]',
    '["masked"]',
    '["masked"].mask',
    '["ordered"]["a"]',
    '["slots"].weights',
    '["point"][0]',
    '["big"]',
]


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_each_array_is_listed_with_its_path(protocol: int, dumps: Any) -> None:
    found = inspect_file(io.BytesIO(dumps(_everything(), protocol=protocol)))
    assert [array.path for array in found.arrays] == EVERYTHING_PATHS


@pytest.mark.parametrize("protocol", [2, 5])
def test_paths_in_a_plain_pickle(protocol: int) -> None:
    """numpy's own array pickles (``_reconstruct``, ``_frombuffer``) are found as well."""
    matrix = np.ones((1, 1)).view(np.matrix)
    value = {"model": _Model(), "list": [np.ones(2), (np.arange(3),)], "matrix": matrix}
    found = inspect_file(io.BytesIO(pickle.dumps(value, protocol=protocol)))
    paths = ['["model"].coef_', '["model"].classes_', '["list"][0]', '["list"][1][0]']
    assert [array.path for array in found.arrays] == [*paths, '["matrix"]']


KEYS = {
    "str": ("name", '["name"]'),
    "int": (7, "[7]"),
    "negative": (-2, "[-2]"),
    "huge-int": (10**60, "[<int key>]"),
    "bool": (True, "[True]"),
    "none": (None, "[None]"),
    "escaped": ("caf\u00e9\n\x1b", '["caf\\u00e9\\n\\u001b"]'),
    "long-str": ("x" * 49, "[<str key of 49 characters>]"),
    "longer-str": ("x" * 300, "[<long str or bytes key>]"),
    "bytes": (b"k", "[<bytes key>]"),
    "float": (1.5, "[<float key>]"),
    "tuple": ((0, "a"), '[(0, "a")]'),
    "1-tuple": ((0,), "[(0,)]"),
    "long-tuple": ((1, 2, 3, 4, 5), "[<tuple key>]"),
    "nested-tuple": ((1, (2,)), "[<tuple key>]"),
    "tuple-of-bytes": ((1, b"x"), "[<tuple key>]"),
    "frozenset": (frozenset({1}), "[<object key>]"),
    "object": (_Key(), "[<object key>]"),
    "class": (_Key, "[<object key>]"),
    "numpy-class": (np.ndarray, "[<object key>]"),
}


@pytest.mark.parametrize(("key", "path"), KEYS.values(), ids=KEYS.keys())
def test_keys_are_shown_when_short_plain_data_else_named_by_kind(
    key: Any, path: str, dumps: Any
) -> None:
    found = inspect_file(io.BytesIO(dumps({key: np.ones(1)})))
    assert [array.path for array in found.arrays] == [path]


def test_the_object_itself_and_a_recursive_structure(dumps: Any) -> None:
    assert [array.path for array in inspect_file(io.BytesIO(dumps(np.ones(3)))).arrays] == [""]
    inner: list[Any] = []
    outer = [inner, np.ones(3)]
    inner.append(outer)
    found = inspect_file(io.BytesIO(dumps({"a": inner})))
    assert [array.path for array in found.arrays] == ['["a"][0][1]']


def test_a_long_path_keeps_the_steps_nearest_the_array(dumps: Any) -> None:
    deep: Any = np.ones(1)
    for _ in range(array_paths.MAX_PATH_STEPS + 8):
        deep = [deep]
    key = "k" * array_paths.KEY_CHARS
    wide: Any = np.ones(1)
    for _ in range(10):
        wide = {key: wide}
    found = inspect_file(io.BytesIO(dumps((deep, wide))))
    step = f'["{key}"]'
    fitting = array_paths.MAX_PATH_CHARS // len(step)
    assert [array.path for array in found.arrays] == [
        "..." + "[0]" * array_paths.MAX_PATH_STEPS,
        "..." + step * fitting,
    ]


def test_links_are_bounded(dumps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(array_paths, "MAX_LINKS", 2)
    found = inspect_file(io.BytesIO(dumps([[np.ones(1)], [np.ones(1)], [np.ones(1)]])))
    assert [array.path for array in found.arrays] == ["...[0]", "...[0]", "..."]


def test_a_cycle_of_links_ends(dumps: Any) -> None:
    """A file can put A in B and then B in A (both holding the array): the path is followed
    as far as the bound, not forever."""
    array = pickle.dumps(np.ones(1), protocol=2)[2:-1]  # (no PROTO, no STOP; memo 0 and up)
    put = {name: pickle.LONG_BINPUT + index.to_bytes(4, "little") for name, index in
           (("a", 1000), ("b", 1001))}  # fmt: skip
    get = {name: pickle.LONG_BINGET + index.to_bytes(4, "little") for name, index in
           (("a", 1000), ("b", 1001))}  # fmt: skip
    body = pickle.EMPTY_LIST + put["a"] + pickle.POP + pickle.EMPTY_LIST + put["b"] + pickle.POP
    body += get["a"] + array + pickle.APPEND + pickle.POP  # A = [X]
    body += get["b"] + get["a"] + pickle.APPEND + pickle.POP  # B = [A]
    body += get["a"] + get["b"] + pickle.APPEND + pickle.POP  # A = [X, B]
    body += get["a"] + pickle.TUPLE1  # the object: (A,)
    found = inspect_file(io.BytesIO(pickle.PROTO + b"\x02" + body + pickle.STOP))
    steps = ["[0]"] + ["[0]", "[1]"] * (array_paths.MAX_PATH_STEPS // 2)
    expected = "..." + "".join(reversed(steps[: array_paths.MAX_PATH_STEPS]))
    assert [array.path for array in found.arrays] == [expected]


def test_info_shows_the_object_itself(tmp_path: Path) -> None:
    path = tmp_path / "alone.pkl"
    brinery.dump(np.arange(3), path)
    done = _run("info", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == "  index: one part, 0 array and buffer records"
    assert done.stdout.splitlines()[4] == (
        "    int64 (<i8)              (3,)                 C               24 bytes  in the pickle"
        "  (the object itself)"
    )
