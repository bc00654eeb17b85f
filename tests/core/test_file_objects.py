"""Dumping to and loading from file objects: files, BytesIO, GzipFile, pipes, odd file objects.

A file object is never seeked by ``dump``, and ``load`` leaves it right after the object's
stream, so objects dumped one after another into one stream load one after another.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import brinery

OBJECTS = [
    {"array": np.arange(100_000, dtype=np.int64), "name": "first"},  # 800 KB: out of band
    [np.ones(5), "second", (1, 2)],  # small: in band only
    {"third": np.arange(120_000, dtype=np.float64).reshape(400, 300).T, "blob": bytes(300_000)},
]


class Unseekable(io.RawIOBase):
    """A raw file whose ``seek`` and ``tell`` raise."""

    def seekable(self) -> bool:
        return False

    def seek(self, *args: Any) -> int:
        raise io.UnsupportedOperation("seek")

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


class UnseekableWriter(Unseekable):
    """A write-only file whose ``seek`` and ``tell`` raise, like a socket or a pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.data += view
        return len(view)


class ShortWriter(UnseekableWriter):
    """A raw file that, as ``RawIOBase.write`` may, writes at most 1000 bytes per call."""

    def write(self, data: Any) -> int:
        return super().write(memoryview(data).cast("B")[:1000])


class UnseekableReader(Unseekable):
    """A read-only file with neither ``peek`` nor a working ``seek``/``tell``."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        size = min(len(target), len(self._data) - self._position, 5000)  # short reads too
        target[:size] = self._data[self._position : self._position + size]
        self._position += size
        return size


@contextlib.contextmanager
def pipe_fed_by(write: Callable[[io.BufferedWriter], None]) -> Iterator[io.BufferedReader]:
    """The read end of an OS pipe that a thread fills with ``write(writer)`` and then closes."""
    read_fd, write_fd = os.pipe()
    failures: list[BaseException] = []

    def feed() -> None:
        try:
            with open(write_fd, "wb") as writer:
                write(writer)
        except BaseException as error:  # reported in the main thread
            failures.append(error)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        # Closing the reader (even on failure) unblocks a writer stuck on a full pipe.
        with open(read_fd, "rb") as reader:
            yield reader
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


def _check_objects(loaded: list[Any], assert_same: Callable[[Any, Any], None]) -> None:
    assert len(loaded) == len(OBJECTS)
    for got, want in zip(loaded, OBJECTS, strict=True):
        assert_same(got, want)


# -- ordinary files and BytesIO --------------------------------------------------------------------


def test_open_file_roundtrip(tmp_path, compress, assert_same):
    """Dump into an open file returns []; loading from an open file stops at the stream's end."""
    path = tmp_path / "data.bin"
    with open(path, "wb") as file:
        assert brinery.dump(OBJECTS[0], file, compress=compress) is None
        assert not file.closed
    with open(path, "rb") as file:
        assert_same(brinery.load(file), OBJECTS[0])
        assert file.tell() == path.stat().st_size
        assert not file.closed


@pytest.mark.parametrize("stream", ["bytesio", "open_file"])
def test_load_stops_at_the_end_of_the_stream(stream, tmp_path, compress, assert_same):
    """Bytes before and after the stream belong to the caller: load reads only the stream."""
    buffer = io.BytesIO()
    buffer.write(b"HEAD")
    brinery.dump(OBJECTS[0], buffer, compress=compress)
    end = buffer.tell()
    buffer.write(b"TAIL and more")
    path = tmp_path / "framed.bin"
    path.write_bytes(buffer.getvalue())
    with contextlib.ExitStack() as stack:
        source = buffer if stream == "bytesio" else stack.enter_context(open(path, "rb"))
        source.seek(4)
        assert_same(brinery.load(source), OBJECTS[0])
        assert source.tell() == end
        assert source.read() == b"TAIL and more"


@pytest.mark.parametrize("count", [2, 3])
def test_objects_one_after_another_in_bytesio(count, compress, assert_same):
    """Two or three objects dumped into one BytesIO load back one after another."""
    buffer = io.BytesIO()
    for value in OBJECTS[:count]:
        brinery.dump(value, buffer, compress=compress)
    buffer.seek(0)
    for value in OBJECTS[:count]:
        assert_same(brinery.load(buffer), value)
    assert buffer.read() == b""


def test_objects_with_different_compressors_in_one_stream(assert_same):
    """Each object in a stream is detected on its own: none, gzip, xz, bz2, lzma, zlib in turn."""
    compressors = [False, "gzip", "xz", "bz2", "lzma", "zlib"]
    buffer = io.BytesIO()
    for index, compress in enumerate(compressors):
        brinery.dump(OBJECTS[index % 3], buffer, compress=compress)
    buffer.seek(0)
    for index in range(len(compressors)):
        assert_same(brinery.load(buffer), OBJECTS[index % 3])
    assert buffer.read() == b""


# -- GzipFile --------------------------------------------------------------------------------------


def test_gzipfile_handles(tmp_path, assert_same):
    """Dump into a GzipFile('wb'); load through GzipFile('rb'), the path, and a plain open()."""
    path = tmp_path / "inside.gz"
    with gzip.GzipFile(path, "wb") as file:
        assert brinery.dump(OBJECTS[0], file) is None  # file object: no extension inference
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    with gzip.GzipFile(path, "rb") as file:
        assert_same(brinery.load(file), OBJECTS[0])
        assert file.read() == b""
    assert_same(brinery.load(path), OBJECTS[0])
    with open(path, "rb") as file:
        assert_same(brinery.load(file), OBJECTS[0])


def test_several_objects_through_gzipfile(tmp_path, assert_same):
    """Objects written one after another into one GzipFile load one after another from it."""
    path = tmp_path / "several.gz"
    with gzip.GzipFile(path, "wb") as file:
        for value in OBJECTS:
            brinery.dump(value, file, compress="bz2" if value is OBJECTS[1] else False)
    with gzip.GzipFile(path, "rb") as file:
        _check_objects([brinery.load(file) for _ in OBJECTS], assert_same)
        assert file.read() == b""


# -- pipes and unseekable file objects -------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
def test_objects_one_after_another_through_a_pipe(count, compress, assert_same):
    """Over an OS pipe (a BufferedReader that cannot seek), objects load one after another."""

    def write(writer: io.BufferedWriter) -> None:
        for value in OBJECTS[:count]:
            assert brinery.dump(value, writer, compress=compress) is None

    with pipe_fed_by(write) as reader:
        assert not reader.seekable()
        for value in OBJECTS[:count]:
            assert_same(brinery.load(reader), value)
        assert reader.read() == b""


def test_dump_never_seeks(compress, loads, assert_same):
    """Dumping into a file whose seek and tell raise works, and leaves it open."""
    writer = UnseekableWriter()
    assert brinery.dump(OBJECTS[2], writer, compress=compress, threads=2) is None
    assert not writer.closed
    assert_same(loads(bytes(writer.data)), OBJECTS[2])


def test_unseekable_unpeekable_reader_loads_objects_in_turn(compress, assert_same):
    """A reader without peek or seek still yields each object of a stream in turn."""
    buffer = io.BytesIO()
    for value in OBJECTS:
        brinery.dump(value, buffer, compress=compress)
    reader = UnseekableReader(buffer.getvalue())
    _check_objects([brinery.load(reader) for _ in OBJECTS], assert_same)


@pytest.mark.parametrize("compress_short", [False, "gzip", "lzma"], ids=["none", "gzip", "lzma"])
def test_raw_writer_with_short_writes(compress_short, loads, assert_same):
    """A raw file may write less than asked (``RawIOBase.write``); nothing may be lost."""
    writer = ShortWriter()
    brinery.dump(OBJECTS[0], writer, compress=compress_short)
    assert_same(loads(bytes(writer.data)), OBJECTS[0])


CHILD_DUMPS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import brinery
    compress = False if sys.argv[1] == "none" else sys.argv[1]
    out = sys.stdout.buffer
    brinery.dump({"array": np.arange(400_000), "name": "first"}, out, compress=compress)
    brinery.dump(["second", np.ones(3)], out, compress=compress)
    out.flush()
    """
)

CHILD_LOADS = textwrap.dedent(
    """
    import sys
    import brinery
    first = brinery.load(sys.stdin.buffer)
    second = brinery.load(sys.stdin.buffer)
    rest = sys.stdin.buffer.read()
    print(int(first["array"].sum()), first["name"], second[0], len(rest))
    """
)


@pytest.mark.parametrize("compress_child", [False, "gzip", "xz"], ids=["none", "gzip", "xz"])
def test_load_from_a_subprocess_stdout(compress_child):
    """Objects a child process dumps to its stdout load from the pipe one after another."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD_DUMPS, compress_child or "none"], stdout=subprocess.PIPE
    ) as child:
        first = brinery.load(child.stdout)
        second = brinery.load(child.stdout)
        assert child.stdout.read() == b""
    assert child.returncode == 0
    assert np.array_equal(first["array"], np.arange(400_000))
    assert first["name"] == "first"
    assert second[0] == "second"
    assert np.array_equal(second[1], np.ones(3))


def test_dump_into_a_subprocess_stdin():
    """Objects dumped into a child's stdin load there one after another."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD_LOADS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as child:
        brinery.dump({"array": np.arange(400_000), "name": "first"}, child.stdin, compress="gzip")
        brinery.dump(["second"], child.stdin, compress=False)
        child.stdin.close()
        output = child.stdout.read().decode()
    assert child.returncode == 0
    assert output.split() == [str(sum(range(400_000))), "first", "second", "0"]
