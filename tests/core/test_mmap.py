"""``load(path, mmap_mode=...)``: arrays of uncompressed files come back as ``np.memmap`` views
of the file, read only when touched."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery

VALUE = {
    "c": np.arange(1 << 17, dtype="<f8").reshape(256, 512),  # 1 MiB: an array record
    "f": np.asfortranarray(np.arange(120_000, dtype=">i4").reshape(300, 400)),
    "read_only": np.frombuffer(bytes(range(256)) * 400, dtype=np.uint8),
    "small": np.arange(10),  # inside the pickle: a plain array
    "empty": np.zeros((0, 20_000)),
    "text": "mapped",
}


@pytest.fixture
def mapped_file(tmp_path: Path) -> Path:
    path = tmp_path / "mapped.pkl"
    brinery.dump(VALUE, path)
    return path


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
def test_arrays_come_back_as_memmaps_of_the_file(mode: str, mapped_file: Path) -> None:
    loaded = brinery.load(mapped_file, mmap_mode=mode)
    for key in ("c", "f", "read_only"):
        array = loaded[key]
        assert type(array) is np.memmap, key
        assert array.filename == str(mapped_file.resolve())
        assert array.offset % 64 == 0, "payloads are 64-byte aligned in the file"
        assert array.dtype == VALUE[key].dtype
        assert array.ctypes.data % 64 == 0
        np.testing.assert_array_equal(array, VALUE[key])
    assert loaded["f"].flags.f_contiguous
    assert loaded["c"].flags.writeable is (mode != "r")
    assert not loaded["read_only"].flags.writeable  # dumped read-only: stays so
    assert type(loaded["small"]) is np.ndarray
    assert loaded["empty"].shape == (0, 20_000)
    assert loaded["text"] == "mapped"


def test_r_plus_writes_through_and_c_does_not(mapped_file: Path) -> None:
    copy_on_write = brinery.load(mapped_file, mmap_mode="c")
    copy_on_write["c"][0, 0] = -1.0
    assert brinery.load(mapped_file)["c"][0, 0] == 0.0
    read_write = brinery.load(mapped_file, mmap_mode="r+")
    read_write["c"][0, 0] = -2.0
    read_write["c"].flush()
    del read_write
    # the payload changed under its checksum: a normal load says so, a mapped one trusts it
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        brinery.load(mapped_file)
    assert brinery.load(mapped_file, mmap_mode="r")["c"][0, 0] == -2.0


def test_a_mapped_load_reads_no_array_data(tmp_path: Path) -> None:
    """200 MB of arrays: the load's peak memory stays small (nothing is read up front)."""
    path = tmp_path / "big.pkl"
    brinery.dump([np.ones((25, 1 << 20)), np.zeros(1 << 20)], path)
    code = """
        import sys, brinery
        def status(key):
            with open("/proc/self/status") as file:
                return next(int(line.split()[1]) for line in file if line.startswith(key))
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        before = status("VmRSS:")
        loaded = brinery.load(sys.argv[1], mmap_mode="r")
        print((status("VmHWM:") - before) // 1024, loaded[0].shape, float(loaded[0][-1, -1]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    peak_mib, *rest = done.stdout.split(maxsplit=1)
    assert rest == ["(25, 1048576) 1.0\n"]
    assert int(peak_mib) < 16, f"a mapped load of 208 MB took {peak_mib} MiB"


def test_damage_outside_the_arrays_is_still_detected(mapped_file: Path) -> None:
    data = bytearray(mapped_file.read_bytes())
    data[data.index(b"mapped")] ^= 0x20
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(brinery.CorruptFileError, match="checksum does not match"):
        brinery.load(mapped_file, mmap_mode="r")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: io.BytesIO(path.read_bytes()), "needs the path of an uncompressed brinery "
         "file, not a file object"),
        (lambda path: path.with_suffix(".gz"), "needs an uncompressed brinery file; '.*' is not "
         "one"),
    ],
    ids=["file object", "compressed"],
)
def test_what_cannot_be_mapped(make: Any, message: str, mapped_file: Path) -> None:
    brinery.dump(VALUE, mapped_file.with_suffix(".gz"))
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.load(make(mapped_file), mmap_mode="r")


@pytest.mark.parametrize("mode", ["w+", "readonly", 1, True])
def test_modes(mode: Any, mapped_file: Path) -> None:
    with pytest.raises(brinery.InvalidArgumentError, match="mmap_mode must be 'r', 'r\\+', 'c'"):
        brinery.load(mapped_file, mmap_mode=mode)
