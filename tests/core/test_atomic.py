"""Dumps to a path are atomic: whatever happens, the previous file stays as it was, and readers
see the old object or the new one, never a mix.

The failures are real: a file-size limit (``RLIMIT_FSIZE``, how a full disk looks to a process:
``EFBIG`` instead of ``ENOSPC``), a failing ``fsync``, ``KeyboardInterrupt``, and ``SIGKILL`` in the
middle of a dump, each in a child process where it cannot disturb the test run.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery.atomic import TEMPORARY_MARKER, replacing

OLD = {"version": "old", "weights": np.arange(1000, dtype=np.float32)}


def _run_child(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def old_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "model.pkl"
    brinery.dump(OLD, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("compress", ["none", "zlib", "gzip"])
def test_a_file_size_limit_keeps_the_old_file(
    compress: str, old_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    """Past RLIMIT_FSIZE, write() fails with EFBIG (the signal it would send is ignored, as it is
    by most servers): the OSError comes out, the old file is untouched, no temporary is left."""
    path, before = old_file
    child = _run_child(
        """
        import errno, resource, signal, sys
        import numpy as np
        import brinery
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        compress = False if sys.argv[2] == "none" else sys.argv[2]
        big = np.random.default_rng(0).random(1 << 19)  # 4 MiB, incompressible
        try:
            brinery.dump({"version": "new", "weights": big}, sys.argv[1], compress=compress)
        except OSError as error:
            print(type(error).__name__, errno.errorcode[error.errno], error.filename)
            print(error)
        """,
        str(path),
        compress,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        f"OSError EFBIG {path}",  # the target, not the temporary file
        f"[Errno {errno.EFBIG}] File too large: '{path}'",
    ]
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.pkl"]


def test_a_failing_fsync_keeps_the_old_file(
    old_file: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = old_file

    def failing_fsync(descriptor: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error") as raised:
        brinery.dump({"version": "new"}, path)
    assert str(raised.value) == f"[Errno {errno.EIO}] Input/output error: '{path}'"
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.pkl"]


# -- durability --------------------------------------------------------------------------------


def _recorded_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """What ``os.fsync`` is called on: (the path behind the descriptor, whether a folder)."""
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        where = os.readlink(f"/proc/self/fd/{descriptor}")
        synced.append((os.path.basename(where), stat.S_ISDIR(os.fstat(descriptor).st_mode)))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return synced


def test_a_durable_dump_syncs_the_file_then_its_folder(
    old_file: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = old_file
    synced = _recorded_fsyncs(monkeypatch)
    assert brinery.dump({"version": "new"}, path) == [str(path)]
    assert len(synced) == 2
    (file_name, file_is_folder), (folder_name, folder_is_folder) = synced
    assert TEMPORARY_MARKER in file_name  # the new file, before the rename
    assert not file_is_folder
    assert (folder_name, folder_is_folder) == (tmp_path.name, True)  # the rename itself
    assert brinery.load(path) == {"version": "new"}


def test_a_dump_that_is_not_durable_syncs_nothing_and_stays_atomic(
    old_file: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = old_file
    synced = _recorded_fsyncs(monkeypatch)
    brinery.dump({"version": "new"}, path, durable=False)
    assert synced == []
    assert brinery.load(path) == {"version": "new"}
    with pytest.raises(brinery.DumpError):  # a failed dump still leaves the file as it was
        brinery.dump(lambda: None, path, durable=False)
    assert brinery.load(path) == {"version": "new"}
    assert sorted(os.listdir(tmp_path)) == ["model.pkl"]


@pytest.mark.parametrize("durable", [None, 1, "yes"])
def test_durable_must_be_a_bool(durable: Any, tmp_path: Path) -> None:
    with pytest.raises(
        brinery.InvalidArgumentError, match=rf"durable must be True or False, not {durable!r}"
    ):
        brinery.dump(1, tmp_path / "x.pkl", durable=durable)
    assert os.listdir(tmp_path) == []


# -- errors name the target, never the temporary file ----------------------------------------------


def test_a_missing_folder_is_named_by_the_target(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "model.pkl"
    with pytest.raises(FileNotFoundError) as raised:
        brinery.dump(OLD, target)
    assert str(raised.value) == f"[Errno {errno.ENOENT}] No such file or directory: '{target}'"
    assert raised.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_a_folder_in_the_way_is_named_by_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        brinery.dump(OLD, target)
    assert str(raised.value) == f"[Errno {errno.EISDIR}] Is a directory: '{target}'"
    assert os.listdir(tmp_path) == ["model.pkl"]
    assert os.listdir(target) == []


def test_a_permission_refused_is_named_by_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a folder the user may not write to (root may write anywhere: the refusal is
    simulated where the temporary file is created)."""
    real_open = os.open

    def refusing_open(path: str, flags: int, mode: int = 0o777) -> int:
        if TEMPORARY_MARKER in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refusing_open)
    target = tmp_path / "model.pkl"
    with pytest.raises(PermissionError) as raised:
        brinery.dump(OLD, str(target))
    assert str(raised.value) == f"[Errno {errno.EACCES}] Permission denied: '{target}'"


def test_an_error_of_the_callers_own_is_left_as_it_is(tmp_path: Path) -> None:
    """Inside the block, only the file's own writes are about the target."""
    other = tmp_path / "elsewhere.bin"

    def write_then_read_elsewhere() -> None:
        with replacing(tmp_path / "model.pkl") as file:
            file.write(b"partial")
            other.read_bytes()  # the caller's own failure

    with pytest.raises(FileNotFoundError) as raised:
        write_then_read_elsewhere()
    assert raised.value.filename == str(other)
    assert os.listdir(tmp_path) == []


class _Interrupting:
    def __reduce__(self) -> Any:
        raise KeyboardInterrupt


@pytest.mark.parametrize("compress", [False, "gzip"])
def test_an_interrupted_dump_keeps_the_old_file(
    compress: Any, old_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, before = old_file
    with pytest.raises(KeyboardInterrupt):
        brinery.dump([np.arange(1 << 20), _Interrupting()], path, compress=compress, threads=2)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.pkl"]


def test_a_killed_dump_keeps_the_old_file_and_leaves_a_recognisable_temporary(
    old_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    """SIGKILL cannot be cleaned up after: the temporary file stays, named
    ``.model.pkl.brinery-tmp-<8 hex digits>`` next to the untouched old file."""
    path, before = old_file
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, numpy as np, brinery\n"
            "big = np.random.default_rng(0).random(16 << 20)\n"  # 128 MiB, slow at xz-6
            "print('dumping', flush=True)\n"
            "brinery.dump(big, sys.argv[1], compress=('xz', 6), threads=1)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "dumping"
        deadline = time.monotonic() + 60
        temporaries: list[str] = []
        while not temporaries and time.monotonic() < deadline:
            temporaries = [name for name in os.listdir(tmp_path) if TEMPORARY_MARKER in name]
            time.sleep(0.01)
        time.sleep(0.3)  # well into the dump
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    left = sorted(os.listdir(tmp_path))
    assert len(left) == 2, left
    assert left[0].startswith(".model.pkl.brinery-tmp-"), left
    assert len(left[0]) == len(".model.pkl.brinery-tmp-") + 8
    assert left[1] == "model.pkl"


def test_readers_see_the_old_or_the_new_object_while_a_writer_replaces_it(
    tmp_path: Path,
) -> None:
    """A writer process dumps two objects in turn to one path; this process loads it as fast as
    it can meanwhile: every load is complete, and one of the two."""
    path = tmp_path / "shared.pkl.gz"
    objects = [
        {"generation": 0, "data": np.full(1 << 18, 0, dtype=np.int64)},
        {"generation": 1, "data": np.full(1 << 18, 1, dtype=np.int64)},
    ]
    brinery.dump(objects[1], path)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, numpy as np, brinery\n"
            "for i in range(60):\n"
            "    g = i % 2\n"
            "    brinery.dump({'generation': g, 'data': np.full(1 << 18, g, dtype=np.int64)},"
            " sys.argv[1])\n",
            str(path),
        ],
    )
    seen = [0, 0]
    try:
        while writer.poll() is None:
            loaded = brinery.load(path)
            generation = loaded["generation"]
            np.testing.assert_array_equal(loaded["data"], objects[generation]["data"])
            seen[generation] += 1
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert min(seen) >= 1, seen
    assert [name for name in os.listdir(tmp_path) if TEMPORARY_MARKER in name] == []


# -- what the replaced file was: its permission bits, a symbolic link ----------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_dump_keeps_the_permission_bits_of_the_file_it_replaces(
    mode: int, old_file: tuple[Path, bytes]
) -> None:
    """A file of secrets made 0600 stays 0600 (it became 0644, world-readable)."""
    path, _ = old_file
    path.chmod(mode)
    brinery.dump({"version": "new"}, path)
    assert _mode(path) == mode
    assert brinery.load(path) == {"version": "new"}


def test_a_new_file_gets_the_mode_open_gives(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        brinery.dump({"version": "new"}, tmp_path / "new.pkl")
    finally:
        os.umask(umask)
    assert _mode(tmp_path / "new.pkl") == 0o640


def test_a_dump_through_a_symbolic_link_replaces_its_target(
    old_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    """The link stays a link, to the same file, which holds the new object and keeps its mode;
    the temporary file is made next to the target, not next to the link."""
    path, _ = old_file
    path.chmod(0o600)
    links = tmp_path / "links"
    links.mkdir()
    link = links / "current.pkl"
    link.symlink_to(os.path.relpath(path, links))
    brinery.dump({"version": "new"}, link)
    assert link.is_symlink()
    assert os.readlink(link) == os.path.relpath(path, links)
    assert brinery.load(path) == {"version": "new"}
    assert _mode(path) == 0o600
    assert sorted(os.listdir(links)) == ["current.pkl"]
    assert sorted(os.listdir(tmp_path)) == ["links", "model.pkl"]


def test_a_killed_dump_through_a_symbolic_link_leaves_its_temporary_next_to_the_target(
    old_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, before = old_file
    links = tmp_path / "links"
    links.mkdir()
    (links / "current.pkl").symlink_to(path)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, brinery\n"
            "class Slow:\n"
            "    def __reduce__(self):\n"
            "        print('dumping', flush=True)\n"
            "        import time; time.sleep(60)\n"
            "brinery.dump(Slow(), sys.argv[1])\n",
            str(links / "current.pkl"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "dumping"
        left = sorted(os.listdir(tmp_path))
    finally:
        child.kill()
        child.wait(timeout=60)
    assert len(left) == 3, left
    assert left[0].startswith(f".model.pkl{TEMPORARY_MARKER}"), left
    assert left[1:] == ["links", "model.pkl"]
    assert path.read_bytes() == before


def test_a_dump_through_a_dangling_symbolic_link_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.pkl"
    link.symlink_to("target.pkl")
    brinery.dump({"version": "new"}, link)
    assert link.is_symlink()
    assert brinery.load(tmp_path / "target.pkl") == {"version": "new"}
