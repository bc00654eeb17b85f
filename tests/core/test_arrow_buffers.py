"""Other libraries' protocol 5 buffers: pyarrow's arrays and tables, pandas' arrow-backed columns.

pyarrow pickles every ``Buffer`` as a ``PickleBuffer`` (``pyarrow.py_buffer(PickleBuffer)``), so
at protocol 5 the large ones become buffer records, like numpy's arrays: the pickle holds only
types and lengths.  brinery adds one thing: a buffer over exactly the memory of one already met
(the chunks of ``Table.to_batches()`` all hold their parent's buffers) is written once.  These
tests check the round trip, where the bytes went, the mapping of the records in place, the GC's
view of the loaded memory, ``brinery info``, and that a safe load refuses pyarrow's globals.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.api import inspect_file
from brinery.inspection import BufferInfo
from brinery.pickler import OUT_OF_BAND_MIN_BYTES

pa = pytest.importorskip("pyarrow")

N = 100_000  # rows: a float64 column is 800,000 bytes, a buffer record
RNG = np.random.default_rng(14)


@pytest.fixture(scope="module")
def pd() -> Any:
    return pytest.importorskip("pandas")


def _strings(count: int) -> list[str | None]:
    return [None if i % 11 == 0 else f"item {i}" for i in range(count)]


def _table() -> Any:
    """Several columns of several kinds, in two chunks (the second a slice of the first)."""
    batch = pa.record_batch(
        {
            "x": RNG.random(N),
            "n": pa.array(RNG.integers(0, 1 << 40, N), mask=RNG.random(N) < 0.1),
            "s": pa.array(_strings(N)),
            "d": pa.array([f"k{i % 100}" for i in range(N)]).dictionary_encode(),
        }
    )
    return pa.Table.from_batches([batch, batch.slice(3, N // 2)])


def _arrow_values() -> dict[str, Any]:
    floats = pa.array(RNG.random(N))
    return {
        "float64": floats,
        "int64-nulls": pa.array(RNG.integers(-(1 << 60), 1 << 60, N), mask=RNG.random(N) < 0.2),
        "string": pa.array(_strings(N)),
        "large_string": pa.array(_strings(N), type=pa.large_string()),
        "dictionary": pa.array([f"k{i % 300}" for i in range(N)]).dictionary_encode(),
        "timestamp": pa.array(
            np.arange(N, dtype=np.int64) * 10**9, type=pa.timestamp("ns", tz="Europe/Paris")
        ),
        "string_view": pa.array(_strings(N), type=pa.string_view()),  # (variadic buffers)
        "list": pa.array([[i, i + 1] if i % 5 else None for i in range(N)]),
        "run_end_encoded": pa.RunEndEncodedArray.from_arrays(
            pa.array(np.arange(1, N + 1, dtype=np.int32)), floats
        ),
        "extension": pa.FixedShapeTensorArray.from_numpy_ndarray(RNG.random((N, 2, 3))),
        "struct": pa.StructArray.from_arrays([floats, pa.array(_strings(N))], ["f", "s"]),
        "chunked": pa.chunked_array([floats, floats.slice(7, 1000), pa.array(RNG.random(N))]),
        "record_batch": pa.record_batch({"f": floats, "s": pa.array(_strings(N))}),
        "table": _table(),
        "slice": floats.slice(1_001, N // 3),
        "string-slice": pa.array(_strings(N)).slice(5, N - 17),  # (offsets not a multiple of 8)
        "table-slice": _table().slice(13, N),
    }


ARROW_VALUES = _arrow_values()


def _buffers(value: Any) -> Iterator[Any]:
    """Every buffer of an arrow object (children's and dictionaries' included)."""
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        for column in value.columns:
            yield from _buffers(column)
    elif isinstance(value, pa.ChunkedArray):
        for chunk in value.chunks:
            yield from _buffers(chunk)
    else:
        yield from (buffer for buffer in value.buffers() if buffer is not None)
        if isinstance(value, pa.DictionaryArray):
            yield from _buffers(value.dictionary)


def _record_sizes(value: Any) -> list[int]:
    """The buffer records a dump of ``value`` holds: its large buffers, each memory once."""
    memory = {(buffer.address, buffer.size): buffer.size for buffer in _buffers(value)}
    return sorted(size for size in memory.values() if size >= OUT_OF_BAND_MIN_BYTES)


def _in_band_bytes(value: Any) -> int:
    """What a dump of ``value`` keeps inside the pickle: its buffers too small for a record."""
    memory = {(buffer.address, buffer.size): buffer.size for buffer in _buffers(value)}
    return sum(size for size in memory.values() if size < OUT_OF_BAND_MIN_BYTES)


def _pickle_bytes(records: list[Any]) -> int:
    return sum(record.size for record in records if record.kind == "P")


def _sizes(records: list[Any], kind: str) -> list[int]:
    return sorted(record.size for record in records if record.kind == kind)


@pytest.mark.parametrize("name", ARROW_VALUES)
def test_arrow_objects_round_trip_their_buffers_out_of_band(
    name: str, tmp_path: Path, records: Callable[[bytes], list[Any]]
) -> None:
    value = ARROW_VALUES[name]
    path = tmp_path / "value.brn"
    brinery.dump({"value": value}, path, compress=False)
    loaded = brinery.load(path)["value"]
    assert type(loaded) is type(value)
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        assert loaded.schema.equals(value.schema, check_metadata=True)
    else:
        assert loaded.type == value.type
    assert loaded.equals(value)
    found = records(path.read_bytes())
    expected = _record_sizes(value)
    assert expected  # (every value here has a buffer large enough for a record)
    assert _sizes(found, "B") == expected
    assert _sizes(found, "A") == []
    # types, lengths, offsets, and the buffers too small for a record (validity bitmaps)
    assert _pickle_bytes(found) < _in_band_bytes(value) + 4096


def test_a_compressed_file_and_protocol_4(dumps: Any, loads: Any) -> None:
    table = ARROW_VALUES["table"]
    assert loads(dumps(table, compress="gzip")).equals(table)
    # Before protocol 5 pyarrow copies its buffers into the pickle (bytes): still exact.
    assert loads(dumps(table, compress=False, protocol=4)).equals(table)


def test_chunks_over_the_same_buffers_are_written_once(
    dumps: Any, loads: Any, records: Callable[[bytes], list[Any]]
) -> None:
    """``to_batches`` cuts a table into slices of its buffers; pyarrow pickles each slice's
    buffers whole, so without brinery's sharing 10 batches wrote the table 10 times."""
    whole = pa.table({"x": RNG.random(10 * N), "s": pa.array(_strings(10 * N))})
    table = pa.Table.from_batches(whole.to_batches(max_chunksize=N))
    assert table.column("x").num_chunks == 10
    data = dumps(table, compress=False)
    assert _sizes(records(data), "B") == _record_sizes(whole)
    assert len(data) < whole.nbytes + 8192
    loaded = loads(data)
    assert loaded.equals(table)
    assert [chunk.offset for chunk in loaded.column("s").chunks] == [
        chunk.offset for chunk in table.column("s").chunks
    ]
    for column in loaded.columns:  # the chunks share their memory again
        assert len({chunk.buffers()[-1].address for chunk in column.chunks}) == 1


def test_buffers_are_shared_only_over_the_very_same_memory(
    dumps: Any, loads: Any, records: Callable[[bytes], list[Any]]
) -> None:
    size = 4 * OUT_OF_BAND_MIN_BYTES
    mutable = pa.py_buffer(bytearray(RNG.integers(0, 256, size, dtype=np.uint8).tobytes()))
    frozen = pa.py_buffer(bytes(mutable))
    value = [
        frozen,
        pa.foreign_buffer(frozen.address, frozen.size, base=frozen),  # the same memory
        frozen.slice(0, size // 2),  # part of it: another record
        mutable,
        pa.foreign_buffer(mutable.address, mutable.size, base=mutable),  # read-only over it
    ]
    data = dumps(value, compress=False)
    assert _sizes(records(data), "B") == sorted([size, size // 2, size, size])
    loaded = loads(data)
    assert [buffer.to_pybytes() for buffer in loaded] == [buffer.to_pybytes() for buffer in value]
    assert [buffer.is_mutable for buffer in loaded] == [False, False, False, True, False]
    assert loaded[1].address == loaded[0].address
    assert loaded[2].address != loaded[0].address
    assert loaded[4].address != loaded[3].address


def test_arrow_backed_data_frames(
    pd: Any, tmp_path: Path, records: Callable[[bytes], list[Any]]
) -> None:
    frame = pd.DataFrame(
        {
            "float": pd.array(RNG.random(N), dtype="float64[pyarrow]"),
            "string": pd.array(_strings(N), dtype="string[pyarrow]"),
            "int32": pd.array(RNG.integers(0, 1000, N), dtype=pd.ArrowDtype(pa.int32())),
            "when": pd.array(
                pa.array(np.arange(N) * 10**6, type=pa.timestamp("us", tz="UTC")),
                dtype=pd.ArrowDtype(pa.timestamp("us", tz="UTC")),
            ),
            "numpy": RNG.random(N),
        }
    )
    value = {"frame": frame, "rows": frame.iloc[10 : N // 2], "weights": np.arange(N)}
    path = tmp_path / "frame.brn"
    brinery.dump(value, path, compress=False)
    loaded = brinery.load(path)
    for key in ("frame", "rows"):
        pd.testing.assert_frame_equal(loaded[key], value[key], check_exact=True)
        assert list(loaded[key].dtypes) == list(value[key].dtypes)
    assert np.array_equal(loaded["weights"], value["weights"])
    found = records(path.read_bytes())
    arrow_columns = ["float", "string", "int32", "when"]
    # (pandas pickles each arrow column combined into one array: the row selection compacted)
    expected = [
        size
        for key in ("frame", "rows")
        for column in arrow_columns
        for size in _record_sizes(value[key][column].array.__arrow_array__().combine_chunks())
    ]
    assert _sizes(found, "B") == sorted(expected)
    assert len(_sizes(found, "A")) == 3  # the numpy column of each frame, and "weights"
    assert _pickle_bytes(found) < 8192 + sum(
        _in_band_bytes(value[key][column].array.__arrow_array__().combine_chunks())
        for key in ("frame", "rows")
        for column in arrow_columns
    )


def test_mapped_loads_map_the_buffer_records_in_place(
    tmp_path: Path, records: Callable[[bytes], list[Any]]
) -> None:
    table = ARROW_VALUES["table"]
    path = tmp_path / "mapped.brn"
    brinery.dump({"anchor": np.arange(N), "table": table}, path, compress=False)
    payloads = {record.start for record in records(path.read_bytes()) if record.kind == "B"}
    for mode in ("r", "c"):
        loaded = brinery.load(path, mmap_mode=mode)
        anchor = loaded["anchor"]
        assert isinstance(anchor, np.memmap)
        start_of_file = anchor.ctypes.data - anchor.offset  # the map of the whole file
        mapped = loaded["table"]
        assert mapped.equals(table)
        large = [buffer for buffer in _buffers(mapped) if buffer.size >= OUT_OF_BAND_MIN_BYTES]
        assert large
        assert {buffer.address - start_of_file for buffer in large} == payloads
        # As for numpy's arrays: read-only maps, or copy on write as writable as dumped.
        original = [
            buffer.is_mutable for buffer in _buffers(table) if buffer.size >= OUT_OF_BAND_MIN_BYTES
        ]
        assert [buffer.is_mutable for buffer in large] == (
            [False] * len(large) if mode == "r" else original
        )


def test_a_safe_load_refuses_pyarrow(tmp_path: Path, pd: Any) -> None:
    path = tmp_path / "table.brn"
    brinery.dump({"table": ARROW_VALUES["table"]}, path)
    needed = brinery.untrusted_types(path)
    assert {"pyarrow.lib._reconstruct_table", "pyarrow.lib.py_buffer"} <= set(needed)
    assert all(name.startswith("pyarrow.lib.") for name in needed)
    for kwargs in ({"trusted": []}, {"trusted": False}, {"trusted": [], "mmap_mode": "r"}):
        with pytest.raises(brinery.UntrustedTypesError, match="Nothing was called") as raised:
            brinery.load(path, **kwargs)
        assert raised.value.types == needed
    frame = pd.DataFrame({"s": pd.array(_strings(N), dtype="string[pyarrow]")})
    brinery.dump(frame, path)
    with pytest.raises(brinery.UntrustedTypesError) as raised:
        brinery.load(path, trusted=["pandas.DataFrame"])
    assert "pyarrow.lib._restore_array" in raised.value.types


def test_info_lists_the_buffer_records_with_their_paths(tmp_path: Path) -> None:
    table = ARROW_VALUES["table"]
    path = tmp_path / "info.brn"
    brinery.dump({"weights": np.zeros(N), "table": table}, path, compress=False)
    found = inspect_file(path)
    assert [array.path for array in found.arrays] == ['["weights"]']
    sizes = [buffer.nbytes for buffer in found.buffers]
    assert sorted(sizes) == _record_sizes(table)
    # pyarrow rebuilds a table from its columns' chunks' buffers: '["table"]<args>[0][0]...'
    assert all(buffer.path.startswith('["table"]<args>[0][') for buffer in found.buffers)
    assert len({buffer.path for buffer in found.buffers}) == len(found.buffers)
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "info", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    heading = lines.index(f"  out-of-band buffers: {len(sizes)}, {sum(sizes):,} bytes")
    listed = lines[heading + 1 : heading + 1 + len(sizes)]
    for number, (buffer, line) in enumerate(zip(found.buffers, listed, strict=True), 1):
        assert line == (
            f"    buffer {number:<17}{'':<25}{buffer.nbytes:>15,} bytes  record         "
            f"{buffer.path}"
        )
    assert lines[heading + 1 + len(sizes)].startswith("  imports beyond plain data")


def test_info_lists_any_out_of_band_buffer(tmp_path: Path) -> None:
    path = tmp_path / "plain.brn"
    brinery.dump({"weights": np.zeros(N)}, path)
    assert inspect_file(path).buffers == []
    # A PickleBuffer of a bytearray: out of band, and loaded as the reader hands it.
    value = {"weights": np.zeros(N), "raw": [pickle.PickleBuffer(bytearray(b"ab" * N))]}
    brinery.dump(value, path)
    assert inspect_file(path).buffers == [BufferInfo(2 * N, '["raw"][0]')]
    assert bytes(brinery.load(path)["raw"][0]) == b"ab" * N


GC_STRESS = """
    import gc, io, os, sys
    import numpy as np, pyarrow as pa
    import brinery

    rows = 200_000
    whole = pa.table({"x": np.arange(rows, dtype=np.float64),
                      "s": pa.array([f"v{i}" for i in range(rows)])})
    table = pa.Table.from_batches(whole.to_batches(max_chunksize=30_000))
    expected = table.to_pydict()
    gc.set_threshold(1)
    path = sys.argv[1]
    brinery.dump({"table": table, "n": np.ones(rows)}, path, compress=False)
    with open(path, "rb") as file:
        data = file.read()
    loaded = []
    for source, mode in ((io.BytesIO(data), None), (path, None), (path, "r"), (path, "c")):
        value = brinery.load(source, mmap_mode=mode)
        loaded.append(value.pop("table"))
        del value, source
        gc.collect()
    os.unlink(path)  # (the maps keep the file's pages)
    del data, table, whole
    gc.collect()
    junk = [bytearray(1 << 20) for _ in range(64)]  # reuse what was freed
    for value in loaded:
        assert value.to_pydict() == expected
        assert len(value.column("x").chunks) == 7
    print("ok")
"""


def test_loaded_buffers_keep_their_memory_alive(tmp_path: Path) -> None:
    """Python's development mode and a collection at every allocation: the loaded arrow
    objects hold the reader's memory (or the file's map) through pyarrow's buffer exports."""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(GC_STRESS), str(tmp_path / "a.brn")],
        capture_output=True, text=True, timeout=300, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin", "PYTHONMALLOC": "debug"},
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def test_dumping_other_objects_never_imports_pyarrow() -> None:
    code = """
        import io, pickle, sys
        import numpy as np
        import brinery
        from brinery.api import inspect_file
        file = io.BytesIO()
        value = {"a": np.ones(100_000), "b": [pickle.PickleBuffer(bytearray(70_000))]}
        brinery.dump(value, file)
        file.seek(0)
        brinery.load(file)
        file.seek(0)
        inspect_file(file)
        print(sorted(name for name in sys.modules if name.split(".")[0] in ("pyarrow", "pandas")))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
