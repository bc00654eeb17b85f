"""Delta-coded array records (docs/format.md, section 5.4) and ``dump(shuffle="delta"/"auto")``.

The filter is checked against a reference written from the format document's text, then through
every path that writes it (in the main thread or on the compression threads, with and without
checksums, whole or from the pieces of a non-contiguous array), every stdlib codec and the
standard tool, mapped loads, ``brinery info``, ``brinery convert``, "auto"'s choice of the arrays
it codes, and record headers that declare delta where it cannot be.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.api import convert, inspect_file
from brinery.filter_choice import _window, delta_pays, filter_for
from brinery.format.layout import (
    ARRAY_RECORD,
    BUFFER_RECORD,
    CHECKSUMS_FLAG,
    END_RECORD,
    INDEXED_FLAG,
    PICKLE_RECORD,
    SHUFFLED_RECORDS_FLAG,
)
from brinery.format.shuffle import Shuffle, shuffled_blocks, unshuffled_pieces
from brinery.framing import ZLIB_LOCATOR
from brinery.testing import assert_same, compressed_stream, dumps, record_headers

BYTE, BIT, DELTA = 0x0002, 0x0004, 0x0008  # the record flags, as docs/format.md gives them
CODECS = ["zlib", "gzip", "bz2", "xz", "lzma"]


def _reference(data: bytes) -> bytes:
    """docs/format.md, section 5.4, as written: blocks of 4194304 bytes (E = 1), each storing
    d[0] = x[0] and d[k] = (x[k] - x[k-1]) mod 256."""
    out = bytearray()
    for start in range(0, len(data), 4194304):
        block = data[start : start + 4194304]
        out.append(block[0])
        out += bytes((block[k] - block[k - 1]) % 256 for k in range(1, len(block)))
    return bytes(out)


def _filters(stream: bytes) -> list[tuple[int, int]]:
    """(flags, element size) of each array record of an uncompressed stream."""
    return [(r.flags, r.element_size) for r in record_headers(stream)[1] if r.kind == ARRAY_RECORD]


def _zlib_stream(data: bytes) -> bytes:
    """The stream inside a zlib file (frames concatenated)."""
    parts = []
    while data and ZLIB_LOCATOR.parse(data) is None:  # (an indexed file's locator)
        decompressor = zlib.decompressobj()
        parts.append(decompressor.decompress(data))
        data = decompressor.unused_data
    return b"".join(parts)


# -- the filter --------------------------------------------------------------------------------


def test_the_examples_of_the_format_document() -> None:
    delta = Shuffle("delta", 1)
    assert (delta.flag, delta.block_bytes, delta.description) == (DELTA, 4 << 20, "delta")
    assert bytes(delta.shuffled(bytes.fromhex("0a0c0f0f0e00ff"))).hex(" ") == "0a 02 03 00 ff f2 ff"
    stored = bytes(delta.shuffled(b"\x07" * 4194305))
    assert stored == b"\x07" + bytes(4194303) + b"\x07"  # (the second block starts afresh)


def test_the_filter_follows_the_documented_layout() -> None:
    """Over a whole block and a part: as the reference says, undone exactly (in place, and from
    stored blocks), and the same when the payload comes in pieces that are not blocks."""
    delta = Shuffle("delta", 1)
    size = (4 << 20) + 100_003
    data = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    stored = bytes(delta.shuffled(data))
    head, tail = stored[:4194304], stored[4194304:]
    assert tail == _reference(data[4194304:])
    assert head[:70_000] == _reference(data[:70_000])  # (the pure-Python reference is slow)
    assert head[-50_000:] == bytes(np.diff(np.frombuffer(data[4144303:4194304], np.uint8)))
    memory = np.frombuffer(stored, np.uint8).copy()
    delta.unshuffle_in_place(memory)
    assert memory.tobytes() == data
    pieces = [memoryview(data)[start : start + 999_999] for start in range(0, size, 999_999)]
    assert b"".join(map(bytes, shuffled_blocks(pieces, delta))) == stored
    assert b"".join(unshuffled_pieces([head, tail], delta)) == data


# -- which arrays get it -----------------------------------------------------------------------


def test_explicit_delta_codes_one_byte_integers_only(
    smooth_images: Callable[..., np.ndarray],
) -> None:
    image = smooth_images(3)
    assert filter_for(image, "C", "delta") == Shuffle("delta", 1)
    assert filter_for(image.view(np.int8), "C", "delta") == Shuffle("delta", 1)
    assert filter_for(image.reshape(-1), "C", "delta") == Shuffle("delta", 1)  # (1-d too)
    noise = np.random.default_rng(2).integers(0, 256, (300, 300), dtype=np.uint8)
    assert filter_for(noise, "C", "delta") == Shuffle("delta", 1)  # (asked: even where it costs)
    for other in (image.astype(bool), image.view("S1"), image.astype("<u2"), image * 1.0):
        assert filter_for(other, "C", "delta") is None
    assert filter_for(image, "C", None) is None
    assert filter_for(image, "C", "byte") is None  # (nothing to regroup in 1-byte items)
    assert filter_for(image.astype("<u2"), "C", "auto") == Shuffle("byte", 2)


def test_auto_codes_the_arrays_whose_sample_says_it_pays(
    smooth_images: Callable[..., np.ndarray],
) -> None:
    """Images (C, F, strided, int8) and masks with runs; not 1-d bytes, random bytes, quantized
    weights, random small codes or interleaved RGB pixels, which delta makes larger."""
    rng = np.random.default_rng(3)
    image = smooth_images(400)
    rows, columns = np.mgrid[0:600, 0:700]
    mask = ((rows // 97 * 31 + columns // 131 * 17) % 5).astype(np.uint8)
    rgb = np.stack([smooth_images(1, seed=4, height=600, width=700)[0]] * 3, axis=-1)
    rgb[..., 1] = 255 - rgb[..., 1]
    rgb[..., 2] //= 3
    coded = {
        "faces": image,
        "fortran": np.asfortranarray(image.reshape(-1, 47)),
        # (smooth in its memory, F order; its C order hops from an image to one 3 images on)
        "hopping": image.reshape(-1)[: 8743 * 133].reshape((8743, 133), order="F"),
        "strided": image[:, ::2],
        "signed": (image.astype(np.int16) - 128).astype(np.int8),
        "mask": mask,
        "tall": image.reshape(-1, 1),
        "wide": image.reshape(1, -1),
    }
    left = {
        "flat": image.reshape(-1),
        "random": rng.integers(0, 256, (600, 700), dtype=np.uint8),
        "weights": np.clip(np.round(rng.normal(0, 20, (600, 700))), -128, 127).astype(np.int8),
        "codes": rng.integers(0, 4, (600, 700), dtype=np.uint8),
        "rgb": rgb,
        "constant": np.zeros((600, 700), np.uint8),
    }
    for name, array in {**coded, **left}.items():
        order = "F" if name in ("fortran", "hopping") else "C"
        expected = Shuffle("delta", 1) if name in coded else None
        assert filter_for(array, order, "auto") == expected, name
    assert not delta_pays(coded["hopping"], "C")  # (sampled in the order it is written)
    assert delta_pays(smooth_images(5), "C")  # (14 KiB: sampled whole)
    assert not delta_pays(np.empty((0, 5), np.uint8), "C")


@pytest.mark.parametrize(
    "shape", [(5, 100_000), (100_000, 5), (3, 7, 50_000), (300, 41, 29), (2, 2, 2, 40_000)]
)
def test_the_sample_windows_are_runs_of_the_memory_in_order(shape: tuple[int, ...]) -> None:
    """Each window is ``count`` consecutive items of the C-order memory, moved back to fit in
    one index of an axis when that index holds at least as many."""
    array = np.arange(np.prod(shape), dtype=np.int64).reshape(shape)
    flat = array.reshape(-1)
    for start in (0, 1, 4095, 99_999, 123_457, flat.size - 4096):
        window = _window(array, start, 4096)
        first = int(window[0])
        assert window.tolist() == flat[first : first + 4096].tolist()
        assert start - 4096 < first <= start


@pytest.mark.parametrize("shape", [(1000, 3000), (40, 150_000)])
def test_a_strided_array_is_sampled_without_copying_it(shape: tuple[int, ...]) -> None:
    """Rows shorter or longer than a window: runs of the view's C order, copying a few short
    rows at most (traced: numpy reports its allocations to tracemalloc)."""
    strided = np.arange(np.prod(shape), dtype=np.int64).reshape(shape)[::2, ::3]  # 8 MB
    flat = np.ravel(strided)  # (increasing: a run is found by its first item)
    starts = (0, 49_900, 123_457, flat.size - 4096)  # (49_900: across rows of 50k items)
    tracemalloc.start()
    try:
        windows = [_window(strided, start, 4096) for start in starts]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 << 10, peak
    for window in windows:
        first = int(np.searchsorted(flat, window[0]))
        assert window.tolist() == flat[first : first + 4096].tolist()


# -- dump(shuffle="delta"/"auto") --------------------------------------------------------------


def _images(smooth_images: Callable[..., np.ndarray]) -> dict[str, Any]:
    """1-byte integer arrays of every layout: a payload of a whole block and a part, int8,
    F order, non-contiguous (written in pieces), a size that is no multiple of anything, the
    empty, 0-d and small ones that stay in the pickle."""
    stack = smooth_images(1500)  # 4.37 MB
    return {
        "faces": stack,
        "signed": (stack[:400].astype(np.int16) - 128).astype(np.int8),
        "fortran": np.asfortranarray(stack[:500].reshape(-1, 47)),
        "strided": stack[:, ::2],
        "odd": stack.reshape(-1)[: 1001 * 1061].reshape(1001, 1061),
        "empty": np.empty((0, 62, 47), np.uint8),
        "scalar": np.array(200, np.uint8),
        "small": stack[:3].copy(),
        "labels": np.arange(1500, dtype="<i8"),
    }


RECORDS = [(DELTA, 1)] * 5  # faces, signed, fortran, strided, odd (the rest in the pickle)


@pytest.mark.parametrize("mode", ["delta", "auto"])
def test_every_layout_loads_exactly_on_any_path(
    mode: str, smooth_images: Callable[..., np.ndarray]
) -> None:
    """On one thread or two, checksummed (filtered in the main thread) or not (on the
    compression threads): exact, each array record delta-coded, the same bytes either way."""
    value = _images(smooth_images)
    streams, files = set(), set()
    for threads in (1, 2):
        for checksums in (None, True, False):
            data = dumps(value, compress="gzip", shuffle=mode, threads=threads, checksums=checksums)
            assert_same(brinery.load(io.BytesIO(data), threads=threads), value)
            stream = gzip.decompress(data)
            assert _filters(stream) == RECORDS
            if checksums is False:
                streams.add(stream)
                files.add(data)
    plain = dumps(value, compress=False, shuffle="delta", checksums=False)
    # (indexed, the default: the gzip file's stream is plain with its index listing the frames)
    (file,) = files
    gzipped = compressed_stream(plain, file, gzip.decompress, brinery.compressors()["gzip"].framing)
    assert streams == {gzipped}  # threads change nothing, nor does the path
    assert_same(brinery.load(io.BytesIO(plain)), value)


#: Each codec's size at level 3 with delta over without, at most (measured on the images below:
#: zlib and gzip 0.734, xz and lzma 0.816, bz2 0.942: its block sorting finds more of the
#: repeats by itself).
DELTA_RATIOS = {"zlib": 0.8, "gzip": 0.8, "bz2": 0.97, "xz": 0.88, "lzma": 0.88}


@pytest.mark.parametrize("codec", CODECS)
def test_every_stdlib_codec_compresses_smooth_images_smaller(
    codec: str, smooth_images: Callable[..., np.ndarray]
) -> None:
    """Deterministic images (sizes, not times): "auto" delta-codes them and every codec writes
    a smaller file than without a filter, on one thread with checksums or on two without; all
    load exactly."""
    value = {"faces": smooth_images(400), "labels": np.arange(400, dtype="<i8")}
    coded = dumps(value, compress=(codec, 3), threads=2, checksums=False)
    checked = dumps(value, compress=(codec, 3), threads=1, checksums=True)
    plain = dumps(value, compress=(codec, 3), shuffle=False, threads=2, checksums=False)
    assert len(coded) < DELTA_RATIOS[codec] * len(plain), (len(coded), len(plain))
    for data in (coded, checked, plain):
        assert_same(brinery.load(io.BytesIO(data)), value)
    if codec == "zlib":
        assert _filters(_zlib_stream(coded)) == _filters(_zlib_stream(checked)) == [(DELTA, 1)]


def test_auto_leaves_one_dimensional_bytes_and_uncompressed_files_alone(
    smooth_images: Callable[..., np.ndarray],
) -> None:
    stack = smooth_images(400)
    value = {"flat": stack.reshape(-1), "faces": stack}
    stream = gzip.decompress(dumps(value, compress="gzip"))
    assert _filters(stream) == [(0, 0), (DELTA, 1)]
    plain = dumps(value, compress=False)
    assert record_headers(plain)[0] == CHECKSUMS_FLAG | INDEXED_FLAG  # (indexed: the default)
    assert _filters(plain) == [(0, 0), (0, 0)]
    asked = dumps(value, compress=False, shuffle="delta")
    assert record_headers(asked)[0] == CHECKSUMS_FLAG | SHUFFLED_RECORDS_FLAG | INDEXED_FLAG
    assert _filters(asked) == [(DELTA, 1), (DELTA, 1)]
    assert_same(brinery.load(io.BytesIO(asked)), value)


def test_explicit_delta_leaves_other_arrays_alone(smooth_images: Callable[..., np.ndarray]) -> None:
    value = {"floats": np.arange(200_000.0), "images": smooth_images(400)}
    stream = gzip.decompress(dumps(value, compress="gzip", shuffle="delta"))
    assert _filters(stream) == [(0, 0), (DELTA, 1)]
    auto = gzip.decompress(dumps(value, compress="gzip"))
    assert _filters(auto) == [(BYTE, 8), (DELTA, 1)]


@pytest.mark.parametrize("shuffle", ["Delta", "deltas", "diff", b"delta"], ids=repr)
def test_an_invalid_mode_is_refused_before_writing(
    shuffle: Any, tmp_path: Path, smooth_images: Callable[..., np.ndarray]
) -> None:
    path = tmp_path / "refused.pkl.gz"
    with pytest.raises(brinery.InvalidArgumentError) as raised:
        brinery.dump({"a": smooth_images(1)}, path, shuffle=shuffle)
    assert str(raised.value) == (
        f"shuffle={shuffle!r} is not valid: use 'auto' (when compressing: delta for images, byte "
        "shuffle for other numbers), True or 'byte', 'bit', 'delta', or False"
    )
    assert not path.exists()


# -- reading -----------------------------------------------------------------------------------


def test_the_standard_tool_decompresses_a_delta_file(
    tmp_path: Path, smooth_images: Callable[..., np.ndarray]
) -> None:
    """``gzip -dc`` gives the brinery stream, whose record says delta, and it loads."""
    if shutil.which("gzip") is None:
        pytest.skip("the gzip command-line tool is not installed")
    value = {"faces": smooth_images(800), "names": ["a", "b"]}
    path = tmp_path / "faces.pkl.gz"
    brinery.dump(value, path, threads=2)
    done = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True)
    assert record_headers(done.stdout)[0] & SHUFFLED_RECORDS_FLAG
    assert _filters(done.stdout) == [(DELTA, 1)]
    assert_same(brinery.load(io.BytesIO(done.stdout)), value)


def test_a_mapped_load_reads_delta_arrays_into_memory(
    tmp_path: Path, smooth_images: Callable[..., np.ndarray]
) -> None:
    """Read, summed back, with the warning; converted to an unfiltered file, mapped."""
    value = {"faces": smooth_images(400), "floats": np.arange(100_000.0)}
    path = tmp_path / "asked.brn"
    brinery.dump(value, path, compress=False, shuffle="delta")
    with pytest.warns(UserWarning, match=r"the file's filtered arrays \(shuffled or delta-coded\)"):
        loaded = brinery.load(path, mmap_mode="r")
    assert type(loaded["faces"]) is np.ndarray
    assert type(loaded["floats"]) is np.memmap
    np.testing.assert_array_equal(loaded["faces"], value["faces"])
    unfiltered = tmp_path / "unfiltered.brn"
    convert(path, unfiltered, compress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mapped = brinery.load(unfiltered, mmap_mode="r")
    assert type(mapped["faces"]) is np.memmap
    assert_same(brinery.load(unfiltered), value)


def test_info_and_convert(tmp_path: Path, smooth_images: Callable[..., np.ndarray]) -> None:
    """``brinery info`` says "delta"; convert keeps it into a compressed file, and removes it
    into an uncompressed one."""
    value = {
        "faces": smooth_images(400),
        "floats": np.arange(20_000.0),
        "flat": smooth_images(400).reshape(-1),
    }
    source = tmp_path / "source.gz"
    brinery.dump(value, source)
    assert [array.shuffle for array in inspect_file(source).arrays] == ["delta", "byte", None]
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "info", str(source)],
        capture_output=True, text=True, timeout=120, check=True,
        env={"BRINERY_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    rows = [line.split() for line in done.stdout.splitlines() if "bytes  " in line]
    assert [(row[0], row[-2]) for row in rows] == [
        ("uint8", "delta"), ("float64", "byte-shuffled"), ("uint8", "record"),
    ]  # fmt: skip
    target = tmp_path / "target.z"
    convert(source, target, compress="zlib")
    assert _filters(_zlib_stream(target.read_bytes())) == [(DELTA, 1), (BYTE, 8), (0, 0)]
    assert_same(brinery.load(target), value)
    plain = tmp_path / "plain.brn"
    convert(target, plain, compress=False)
    assert record_headers(plain.read_bytes())[0] == CHECKSUMS_FLAG | INDEXED_FLAG  # (kept)
    assert _filters(plain.read_bytes()) == [(0, 0)] * 3
    assert_same(brinery.load(plain), value)


# -- damaged and hostile headers ---------------------------------------------------------------


@pytest.fixture
def forged(forge_filter_headers: Callable[..., bytes]) -> Callable[..., bytes]:
    """A stream of ``value`` dumped with the delta filter, its ``kind`` record headers
    rewritten (``tests/conftest.py``'s ``forge_filter_headers``)."""

    def forge(
        kind: int,
        flags: int,
        element_size: int,
        *,
        stream_flags: int = SHUFFLED_RECORDS_FLAG,
        value: Any,
    ) -> bytes:
        return forge_filter_headers(value, "delta", kind, flags, element_size, stream_flags)

    return forge


def test_the_forger_makes_a_valid_file(
    smooth_images: Callable[..., np.ndarray], forged: Callable[..., bytes]
) -> None:
    value = {"faces": smooth_images(50)}
    stream = forged(ARRAY_RECORD, DELTA, 1, value=value)
    assert_same(brinery.load(io.BytesIO(stream), trusted=[]), value)


DAMAGED = {
    "on a pickle record": (PICKLE_RECORD, DELTA, 1, SHUFFLED_RECORDS_FLAG),
    "on a buffer record": (BUFFER_RECORD, DELTA, 1, SHUFFLED_RECORDS_FLAG),
    "on the end record": (END_RECORD, DELTA, 1, SHUFFLED_RECORDS_FLAG),
    "with byte shuffle": (ARRAY_RECORD, DELTA | BYTE, 1, SHUFFLED_RECORDS_FLAG),
    "with bit shuffle": (ARRAY_RECORD, DELTA | BIT, 2, SHUFFLED_RECORDS_FLAG),
    "with the changed flag": (ARRAY_RECORD, DELTA | 1, 1, SHUFFLED_RECORDS_FLAG),
    "element size 0": (ARRAY_RECORD, DELTA, 0, SHUFFLED_RECORDS_FLAG),
    "element size 2": (ARRAY_RECORD, DELTA, 2, SHUFFLED_RECORDS_FLAG),
    "element size 2**32-1": (ARRAY_RECORD, DELTA, 2**32 - 1, SHUFFLED_RECORDS_FLAG),
    "byte shuffle of 1-byte elements": (ARRAY_RECORD, BYTE, 1, SHUFFLED_RECORDS_FLAG),
    "not announced by the stream": (ARRAY_RECORD, DELTA, 1, 0),
}


@pytest.mark.parametrize("entry", ["load", "safe", "info", "untrusted_types"])
@pytest.mark.parametrize("case", list(DAMAGED))
def test_delta_where_a_record_cannot_have_it_is_damage(
    case: str, entry: str, smooth_images: Callable[..., np.ndarray], forged: Callable[..., bytes]
) -> None:
    kind, flags, element_size, stream_flags = DAMAGED[case]
    value = {"faces": smooth_images(50)}
    stream = io.BytesIO(forged(kind, flags, element_size, stream_flags=stream_flags, value=value))
    read = {
        "load": brinery.load,
        "safe": lambda source: brinery.load(source, trusted=[]),
        "info": inspect_file,
        "untrusted_types": brinery.untrusted_types,
    }[entry]
    with pytest.raises(
        brinery.CorruptFileError,
        match=rf"the record header at byte \d+ of the data is damaged: it declares a filter it "
        rf"cannot have \(kind {kind:#04x}, flags {flags:#x}, element size {element_size}; "
        r"filtered records are array records of a stream that says it holds them, with one "
        r"filter: a shuffle of elements of 2 to 4096 bytes, or delta, of 1-byte elements\)",
    ):
        read(stream)


@pytest.mark.parametrize("dtype", ["<u2", "<f8", "<c16"])
def test_a_delta_record_claimed_by_wider_items_is_damage(
    dtype: str, forged: Callable[..., bytes]
) -> None:
    """The reference reader requires 1-byte items of the array that claims a delta record: a
    delta flag forged on the record of wider items is refused."""
    array = np.ones(50_000, dtype=dtype)  # (a record: 100 KB or more)
    stream = forged(ARRAY_RECORD, DELTA, 1, value={"a": array})
    itemsize = np.dtype(dtype).itemsize
    for kwargs in ({}, {"trusted": []}):
        with pytest.raises(
            brinery.CorruptFileError,
            match=rf"asks for an array of {itemsize}-byte items, but the next record in the data "
            r"was filtered \(delta\) as 1-byte elements",
        ):
            brinery.load(io.BytesIO(stream), **kwargs)
