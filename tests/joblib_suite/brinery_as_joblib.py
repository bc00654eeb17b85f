"""A pytest plugin: joblib's own persistence tests, run with brinery's ``dump`` and ``load``.

A joblib user moves to brinery by changing an import (``joblib.dump`` -> ``brinery.dump``,
``joblib.load`` -> ``brinery.load``).  The ``joblib_suite`` nox session downloads joblib 1.6's
sdist (its tests and their data files are not in the wheel; they are never committed here) and
runs its ``joblib/test/test_numpy_pickle.py`` with this plugin, which puts brinery's two
functions where the tests find joblib's: every call the tests make reaches brinery's own
functions as they are.

The tests brinery fails on purpose, or for a reason outside it, are marked as expected failures
(strict: one that starts passing fails the run, so this list and docs/joblib.md, which gives
the same reasons, are kept true).
"""

from __future__ import annotations

import joblib
import joblib.numpy_pickle
import pytest

import brinery

_MESSAGES = "exact message: brinery raises its own error (the same ValueError type) in its words"
_MMAP_WARNING = "exact message: brinery warns in its words that mmap_mode is ignored"
_SIDE = "joblib warns (DeprecationWarning) about files of joblib < 0.10; brinery reads them as"
KNOWN_FAILURES = {
    "test_compress_level_error[-1]": _MESSAGES,
    "test_compress_level_error[10]": _MESSAGES,
    "test_compress_level_error[wrong_compress2]": _MESSAGES,
    "test_compress_tuple_argument_exception[compress_tuple0-"
    "Compress argument tuple should contain exactly 2 elements]": _MESSAGES,
    "test_compress_tuple_argument_exception[compress_tuple1-"
    'Non valid compression method given: "wrong"]': _MESSAGES,
    "test_compress_tuple_argument_exception[compress_tuple2-"
    'Non valid compress level given: "wrong"]': _MESSAGES,
    "test_invalid_parameters_raise": _MESSAGES,
    "test_joblib_pickle_across_python_versions": (
        f"{_MESSAGES} (Python 2 files); and {_SIDE} files of any other version"
    ),
    "test_joblib_pickle_across_python_versions_with_mmap": f"{_SIDE} files of any version",
    "test_compress_mmap_mode_warning": _MMAP_WARNING,
    "test_file_handle_persistence_compressed_mmap": _MMAP_WARNING,
    "test_compressed_pickle_dump_and_load": (
        "brinery's own files keep their arrays' stored byte order under 'auto' (a round trip "
        "is exact); ensure_native_byte_order=True gives joblib's"
    ),
    "test_in_memory_persistence": (
        "joblib reads a file object from its start (it seeks back to 0); brinery reads from "
        "where the file object is, so that objects dumped one after another load in turn"
    ),
    "test_file_handle_persistence_in_memory_mmap": (
        "joblib reads a file object from its start; brinery from where it is"
    ),
    "test_object_array_inner_stream_uses_caller_find_class": (
        "joblib internals: runs joblib's own NumpyUnpickler on a file brinery wrote"
    ),
    "test_memmap_persistence": "mmap_mode='w+' (joblib maps it as 'r+'): brinery refuses it",
    "test_memmap_alignment_padding[4]": (
        "mmap_mode: small arrays travel inside brinery's pickle, mapped where they lie, "
        "not aligned to 16 bytes"
    ),
    "test_memmap_alignment_padding[5]": (
        "mmap_mode: small arrays travel inside brinery's pickle, mapped where they lie, "
        "not aligned to 16 bytes"
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    for module in (joblib, joblib.numpy_pickle):
        module.dump = brinery.dump  # type: ignore[attr-defined]
        module.load = brinery.load  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        reason = KNOWN_FAILURES.get(item.name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
