"""Fuzzing: a hypothesis round-trip property, and a mutation campaign against ``load``.

Both run over every compressor installed (the core's alone in the core's session, the plugins'
too in ``nox -s everything``).  ``BRINERY_FUZZ_SCALE`` multiplies the number of examples and
mutations (``nox -s fuzz`` sets it high); ``BRINERY_FUZZ_REPORT`` names a JSON file that
receives the campaign's counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import brinery

SCALE = int(os.environ.get("BRINERY_FUZZ_SCALE", "1"))
COMPRESSORS = [False, *sorted(brinery.compressors())]
#: Seconds one load may take before the campaign calls it a hang (not a performance check).
HANG_SECONDS = 20

# -- the round-trip property ----------------------------------------------------------------


def _with_layout(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim:
        return array[::2]
    if layout == "transposed":
        return array.T
    if layout == "reversed" and array.ndim:
        return array[::-1]
    if layout == "read-only":
        array = array.copy()
        array.flags.writeable = False
    return array


_DTYPES = st.one_of(
    hnp.scalar_dtypes(),
    hnp.integer_dtypes(endianness=">"),
    hnp.floating_dtypes(endianness=">"),
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
    hnp.array_dtypes(allow_subarrays=True),
)
_LAYOUTS = st.sampled_from(["as-is", "fortran", "strided", "transposed", "reversed", "read-only"])
_SMALL_ARRAYS = st.tuples(
    _DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_side=12))),
    _LAYOUTS,
).map(lambda pair: _with_layout(*pair))
_LARGE_ARRAYS = st.tuples(
    st.integers(2_048, 10_000).map(lambda n: 4 * n),
    st.sampled_from(["<f8", ">i4", "<c16", "u1"]),
    _LAYOUTS,
).map(lambda spec: _with_layout(np.arange(spec[0]).astype(spec[1]).reshape(-1, 4), spec[2]))
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=20),
    st.binary(max_size=20),
    _SMALL_ARRAYS,
    _LARGE_ARRAYS,
)
VALUES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
    ),
    max_leaves=10,
)


@pytest.mark.parametrize("compress", COMPRESSORS, ids=lambda c: c or "none")
def test_round_trip_property(compress: Any, assert_same: Any) -> None:
    @settings(
        max_examples=15 * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(value=VALUES, protocol=st.sampled_from([2, 4, 5]), threads=st.sampled_from([1, 2]))
    def round_trip(value: Any, protocol: int, threads: int) -> None:
        buffer = io.BytesIO()
        brinery.dump(value, buffer, compress=compress, protocol=protocol, threads=threads)
        buffer.seek(0)
        assert_same(brinery.load(buffer, threads=threads), value)
        assert buffer.read() == b""

    round_trip()


# -- the mutation campaign --------------------------------------------------------------------


def _seed_object() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return {
        "record": np.arange(10_000, dtype="<i8") % 97,  # 80 KB: an array record
        "small": rng.standard_normal(30).astype(np.float32),
        "text": "mutation " * 40,
        "nested": [1, 2.5, None, {"k": (b"bytes", 3 + 4j)}],
    }


@contextlib.contextmanager
def _hang_alarm() -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a load took more than {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["flip", "flip", "truncate", "overwrite", "insert", "delete", "random"])
    at = rng.randrange(len(data))
    if kind == "flip":
        return kind, data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1 :]
    if kind == "truncate":
        return kind, data[:at]
    if kind == "overwrite":
        junk = rng.randbytes(rng.randint(1, 16))
        return kind, data[:at] + junk + data[at + len(junk) :]
    if kind == "insert":
        return kind, data[:at] + rng.randbytes(rng.randint(1, 16)) + data[at:]
    if kind == "delete":
        return kind, data[:at] + data[at + rng.randint(1, 64) :]
    return kind, rng.randbytes(rng.randint(0, 200))


REPORT: dict[str, Any] = {}


@pytest.mark.parametrize("compress", COMPRESSORS, ids=lambda c: c or "none")
def test_mutations_raise_only_brinery_errors(
    compress: Any, monkeypatch: pytest.MonkeyPatch, assert_same: Any
) -> None:
    """Every mutated file either raises a BrineryError or loads the very same object; never
    another exception, a hang, or different data."""
    original = _seed_object()
    if compress:  # small frames: many frames, hints and frame boundaries to damage
        compressor = brinery.compressors()[compress]
        if compressor.framing.frame_size is not None:
            small = dataclasses.replace(compressor.framing, frame_size=16 << 10)
            monkeypatch.setattr(compressor, "framing", small)
    buffer = io.BytesIO()
    brinery.dump(original, buffer, compress=compress)
    data = buffer.getvalue()
    rng = random.Random(f"{compress}-{SCALE}")
    outcomes: Counter[str] = Counter()
    violations: list[str] = []
    with _hang_alarm():
        for attempt in range(400 * SCALE):
            kind, mutated = _mutate(data, rng)
            signal.alarm(HANG_SECONDS)
            try:
                loaded = brinery.load(io.BytesIO(mutated), threads=1 + attempt % 2)
            except brinery.BrineryError as error:
                outcomes[type(error).__name__] += 1
                continue
            except Exception as error:  # any other type is what the campaign looks for
                name = f"{type(error).__module__}.{type(error).__name__}"
                violations.append(f"{kind}: {name}: {error}")
                continue
            finally:
                signal.alarm(0)
            try:
                assert_same(loaded, original)
            except AssertionError as error:
                violations.append(f"{kind} loaded different data: {error}")
            else:
                outcomes["loaded the same object"] += 1
    name = compress or "none"
    REPORT[name] = {"file bytes": len(data), "mutations": 400 * SCALE, **outcomes}
    report = os.environ.get("BRINERY_FUZZ_REPORT")
    if report:
        with open(report, "w") as file:
            json.dump({"scale": SCALE, "compressors": REPORT}, file, indent=2)
    assert violations == [], violations[:10]
