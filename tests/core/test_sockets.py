"""Objects over a socket between two processes: ``dump`` into ``sock.makefile("wb")``, ``load``
from ``sock.makefile("rb")`` on the other end, several objects in sequence on one connection."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import brinery

RECEIVER = """
    import hashlib, socket, sys
    import numpy as np
    import brinery

    count = int(sys.argv[1])
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as stream:
            for _ in range(count):
                value = brinery.load(stream)
                arrays = value["arrays"]
                digest = hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()
                print(value["name"], [a.dtype.str for a in arrays], digest, flush=True)
            print("left over", len(stream.read()), flush=True)
"""


def _send(objects: list[tuple[dict[str, Any], Any]]) -> list[str]:
    receiver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RECEIVER), str(len(objects))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        connection = socket.create_connection(("127.0.0.1", port))
        with connection, connection.makefile("wb") as stream:
            for value, compress in objects:
                assert brinery.dump(value, stream, compress=compress) is None
        output, errors = receiver.communicate(timeout=300)
    finally:
        receiver.kill()
    assert receiver.returncode == 0, errors
    return output.splitlines()


def _digest(arrays: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(array.tobytes() for array in arrays)).hexdigest()


def test_a_200_mb_object_over_loopback() -> None:
    arrays = [np.arange(25_000_000, dtype=np.int64), np.ones((3, 4), dtype=">f4")]
    lines = _send([({"name": "big", "arrays": arrays}, False)])
    assert lines == [f"big ['<i8', '>f4'] {_digest(arrays)}", "left over 0"]


@pytest.mark.parametrize("compress", [False, "zlib", "gzip", "xz"])
def test_several_objects_in_sequence_on_one_connection(compress: Any) -> None:
    """Each load stops exactly at its object's end: the next one starts there."""
    objects = []
    for index in range(4):
        arrays = [np.arange(index * 50_000, dtype=np.float32), np.full((7, 3), index)]
        objects.append(({"name": f"object-{index}", "arrays": arrays}, compress))
    lines = _send(objects)
    assert lines == [
        *(f"object-{index}" + f" ['<f4', '<i8'] {_digest(value['arrays'])}"
          for index, (value, _) in enumerate(objects)),
        "left over 0",
    ]  # fmt: skip
