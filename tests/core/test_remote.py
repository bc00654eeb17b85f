"""Remote storage through fsspec: ``memory://`` and a real S3 server (moto's) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brinery
from brinery import remote
from brinery.cli import main

fsspec = pytest.importorskip("fsspec")

VALUE = {"weights": np.arange(300_000, dtype=np.float32).reshape(300, 1000), "name": "remote"}
COMPRESSIONS = [False, *sorted(brinery.compressors())]


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=lambda c: c or "none")
def test_memory_file_system(compress: Any, assert_same: Any) -> None:
    url = f"memory://brinery-tests/model-{compress or 'none'}.pkl"
    assert brinery.dump(VALUE, url, compress=compress) == [url]
    assert_same(brinery.load(url), VALUE)


def test_the_extension_chooses_the_compressor(assert_same: Any) -> None:
    brinery.dump(VALUE, "memory://brinery-tests/model.pkl.xz")
    data = fsspec.filesystem("memory").cat("/brinery-tests/model.pkl.xz")
    assert data.startswith(b"\xfd7zXZ\x00")


def test_without_fsspec_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(brinery.DependencyMissingError, match=r"pip install 'brinery\[fsspec\]'"):
        brinery.load("memory://brinery-tests/anything.pkl")
    with pytest.raises(ImportError):  # it is an ImportError too
        brinery.dump(1, "memory://brinery-tests/anything.pkl")


def test_an_unknown_protocol_is_a_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nope://`` is no protocol fsspec knows: the text is a local path (``nope:/bucket``)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as raised:
        brinery.load("nope://bucket/key.pkl")
    assert raised.value.filename == "nope://bucket/key.pkl"


@pytest.mark.parametrize(
    "text",
    [
        "s3://bucket/key.pkl",
        "memory://x.pkl",
        "file:///tmp/x.pkl",
        "simplecache::s3://bucket/key.pkl",
        "zip://inner.pkl::s3://bucket/archive.zip",
        "HTTPS://example.com/x.pkl",
        "dvc://repo/x.pkl",  # known to fsspec, though not among the common protocols
    ],
)
def test_urls_of_protocols_fsspec_knows(text: str) -> None:
    assert remote.is_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "runs/a://b.pkl",
        "/data/notes://b.pkl",
        "notes://b.pkl",
        "s3:/bucket/key.pkl",
        "::s3://bucket/key.pkl",
        "3d://x.pkl",
        "model.pkl",
    ],
)
def test_local_paths_holding_a_separator(text: str) -> None:
    assert not remote.is_url(text)
    assert not remote.is_url(Path(text))


def test_a_protocol_registered_at_run_time() -> None:
    fsspec.register_implementation(
        "brinery-test-registered", fsspec.filesystem("memory").__class__, clobber=True
    )
    assert remote.is_url("brinery-test-registered://x.pkl")
    assert not remote.is_url("brinery-test-unregistered://x.pkl")


def test_without_fsspec_the_common_protocols(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fsspec installed (nor imported), only the common protocols are URLs: they say to
    install fsspec."""
    monkeypatch.setitem(sys.modules, "fsspec", None)
    assert remote.known_protocols() == remote.COMMON_PROTOCOLS
    assert remote.is_url("s3://bucket/key.pkl")
    assert remote.is_url("gs://bucket/key.pkl")
    assert not remote.is_url("dvc://repo/x.pkl")
    assert not remote.is_url("notes://b.pkl")


def test_the_common_protocols_are_fsspecs() -> None:
    assert remote.COMMON_PROTOCOLS - {"abfss"} <= set(fsspec.available_protocols())


def test_a_local_path_holding_a_separator_is_dumped_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, assert_same: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes:").mkdir()
    for target in ["notes://model.pkl", f"{tmp_path}/notes://other.pkl"]:
        assert brinery.dump(VALUE, target) == [target]
        assert_same(brinery.load(target), VALUE)
    assert sorted(os.listdir(tmp_path / "notes:")) == ["model.pkl", "other.pkl"]


# -- brinery info on a URL ----------------------------------------------------------------------


def test_info_on_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "memory://brinery-tests/info.pkl.gz"
    brinery.dump(VALUE, url)
    size = fsspec.filesystem("memory").size("/brinery-tests/info.pkl.gz")
    assert main(["info", url]) == 0
    version = brinery.api.inspect_file(url).format  # "brinery 1.1"
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{url}: {version}, compressor gzip, {size:,} bytes"
    )
    assert main(["info", "--json", url]) == 0
    described = json.loads(capsys.readouterr().out)
    assert (described["file"], described["file_bytes"]) == (url, size)


def test_info_on_a_missing_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "memory://brinery-tests/missing.pkl"
    assert main(["info", url]) == 1
    assert capsys.readouterr().err == f"brinery info: {url}: No such file or directory\n"


def test_info_on_a_file_url_from_the_command(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    brinery.dump(VALUE, path)
    done = subprocess.run(
        [sys.executable, "-m", "brinery", "info", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "BRINERY_LOAD_PLUGINS": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    size = path.stat().st_size
    version = brinery.api.inspect_file(path).format
    assert done.stdout.splitlines()[0] == (
        f"{path.as_uri()}: {version}, compressor none, {size:,} bytes"
    )


# -- S3 ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """moto's S3 server on 127.0.0.1, and an s3fs file system talking to it."""
    s3fs = pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        s3fs.S3FileSystem.clear_instance_cache()
        filesystem = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
        filesystem.mkdir("brinery-tests")
        yield filesystem
    finally:
        server.terminate()
        server.wait(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=lambda c: c or "none")
def test_s3_round_trips(compress: Any, s3: Any, assert_same: Any) -> None:
    url = f"s3://brinery-tests/model-{compress or 'none'}.pkl"
    brinery.dump(VALUE, url, compress=compress)
    assert s3.exists(url)
    assert_same(brinery.load(url), VALUE)


def test_s3_multi_part_upload_of_a_large_object(s3: Any, assert_same: Any) -> None:
    """120 MB, more than s3fs's 50 MiB block: a multi-part upload (its ETag says how many
    parts), streamed (the dump holds no copy of the file)."""
    value = {"big": np.arange(15_000_000, dtype=np.int64), "tail": "end"}
    url = "s3://brinery-tests/big.pkl"
    brinery.dump(value, url)
    etag = s3.info(url)["ETag"].strip('"')
    assert int(etag.rsplit("-", 1)[1]) >= 2, etag
    assert_same(brinery.load(url), value)


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("no, thank you")


def test_s3_a_failed_dump_leaves_the_old_object(s3: Any) -> None:
    url = "s3://brinery-tests/precious.pkl"
    brinery.dump({"version": 1}, url)
    before = s3.cat(url)
    with pytest.raises(brinery.DumpError, match="no, thank you"):
        brinery.dump([np.arange(10_000_000), _Unpicklable()], url)  # 80 MB first: parts sent
    s3.invalidate_cache()
    assert s3.cat(url) == before
    assert brinery.load(url) == {"version": 1}


def test_s3_with_storage_options_instead_of_the_environment(
    s3: Any, monkeypatch: pytest.MonkeyPatch, assert_same: Any
) -> None:
    """Endpoint and credentials passed to dump and load (here the environment says nothing)."""
    options = {
        "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
        "key": "testing",
        "secret": "testing",
        "skip_instance_cache": True,
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    url = "s3://brinery-tests/with-options.pkl.gz"
    brinery.dump(VALUE, url, storage_options=options)
    assert_same(brinery.load(url, storage_options=options), VALUE)


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        ("model.pkl", {"anon": True}, "storage_options only apply to a URL"),
        ("memory://x/model.pkl", ["anon"], "storage_options must be a dict"),
    ],
)
def test_storage_options_are_checked(
    target: str, options: Any, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.dump(1, target, storage_options=options)
    with pytest.raises(brinery.InvalidArgumentError, match=message):
        brinery.load(target, storage_options=options)


def test_s3_random_access_reads_one_entry(s3: Any, assert_same: Any) -> None:
    """``brinery.open`` on an S3 URL: range requests for the index and the entry asked for."""
    value = {f"block{i}": np.full((500, 100), i, dtype=np.float64) for i in range(8)}
    url = "s3://brinery-tests/indexed.brn"
    brinery.dump(value, url, index=True)
    with brinery.open(url) as opened:
        assert opened.index is not None
        assert opened.keys() == list(value)
        assert_same(opened["block5"], value["block5"])
        np.testing.assert_array_equal(opened.array('["block2"]')[10:12], value["block2"][10:12])
