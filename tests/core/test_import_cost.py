"""What ``import brinery`` leaves out, and which calls bring it in (issue 14: brinery imports in
less time than joblib).

Each case runs in a fresh interpreter, since this one has imported everything the other tests
needed.  Only which modules are loaded is asserted, never a time: the machine is shared.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import textwrap
from pathlib import Path

import pytest

import brinery
from brinery.testing import run_python

#: The plugin machinery: loaded by the first call that needs a compressor that is not built in.
PLUGIN_MACHINERY = ["pluggy", "importlib.metadata", "brinery.hookspecs"]
#: What only some calls need: safe loads, inspection, joblib's files, URLs, compression, the
#: command line.
FOR_SOME_CALLS = [
    "brinery.safe",
    "brinery.safe_numpy",
    "brinery.scan",
    "brinery.inspection",
    "brinery.array_paths",
    "brinery.joblib_files",
    "brinery.joblib_legacy",
    "brinery.npy_header",
    "brinery.cli",
    "brinery.codecs.stdlib",
    "brinery.streams.frame_reader",
    "brinery.streams.frame_writer",
    "concurrent.futures",
    "fsspec",
    "numpy.ma",
    "secrets",
]
WATCHED = PLUGIN_MACHINERY + FOR_SOME_CALLS


def _loaded_after(code: str, tmp_path: Path, plugins: str = "") -> list[str]:
    """The watched modules loaded after ``import brinery`` and ``code`` (run in ``tmp_path``),
    in a fresh interpreter where ``BRINERY_LOAD_PLUGINS`` is ``plugins``."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import brinery
        {code}
        print(json.dumps([name for name in {watched!r} if name in sys.modules]))
        """
    ).format(code=textwrap.dedent(code), watched=WATCHED)
    done = run_python(script, env={"BRINERY_LOAD_PLUGINS": plugins}, cwd=tmp_path)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_brinery_imports_none_of_what_only_some_calls_need(tmp_path):
    assert _loaded_after("", tmp_path) == []


def test_an_uncompressed_round_trip_loads_no_plugin_machinery(tmp_path):
    """A path ending in ``.pkl``, a file object, and loading both back: the file's first bytes
    say it is a brinery stream, and no plugin may claim ``.pkl``."""
    code = """
        import io
        value = {"weights": np.arange(12.0).reshape(3, 4), "name": "model"}
        brinery.dump(value, "model.pkl")
        assert brinery.load("model.pkl")["name"] == "model"
        buffer = io.BytesIO()
        brinery.dump(value, buffer)
        buffer.seek(0)
        assert (brinery.load(buffer)["weights"] == value["weights"]).all()
    """
    assert _loaded_after(code, tmp_path) == []


def test_a_builtin_compressor_loads_no_plugin_machinery(tmp_path):
    """The standard library's compressors, chosen by extension, name or ``name:level``, and
    found by their magic number on load, answer without the plugins."""
    code = """
        brinery.dump([1, 2, 3], "numbers.pkl.gz")
        brinery.dump([1, 2, 3], "numbers.bin", compress="zlib:9")
        assert brinery.load("numbers.pkl.gz") == brinery.load("numbers.bin") == [1, 2, 3]
    """
    loaded = _loaded_after(code, tmp_path)
    assert not set(PLUGIN_MACHINERY) & set(loaded)
    assert {"brinery.codecs.stdlib", "concurrent.futures"} <= set(loaded)


def test_an_extension_no_builtin_has_loads_the_plugins(tmp_path):
    """``.bin`` may be a plugin's extension: the plugins load to say whether it is."""
    loaded = _loaded_after('brinery.dump([1], "numbers.bin")', tmp_path)
    assert set(PLUGIN_MACHINERY) <= set(loaded)


@pytest.mark.parametrize(
    ("call", "module"),
    [
        ('brinery.load("a.pkl", trusted=[])', "brinery.safe"),
        ('brinery.untrusted_types("a.pkl")', "brinery.scan"),
        ('brinery.api.inspect_file("a.pkl")', "brinery.inspection"),
        ('brinery.load("plain.pkl")', "brinery.joblib_files"),
    ],
    ids=["safe-load", "untrusted-types", "inspect", "plain-pickle"],
)
def test_a_call_imports_the_modules_it_needs(call, module, tmp_path):
    code = f"""
        import pickle
        brinery.dump({{"a": np.zeros(3)}}, "a.pkl")
        with open("plain.pkl", "wb") as file:
            pickle.dump([1, 2], file, protocol=4)
        {call}
    """
    loaded = _loaded_after(code, tmp_path)
    assert module in loaded
    assert not set(PLUGIN_MACHINERY) & set(loaded)


@pytest.mark.skipif(
    importlib.util.find_spec("brinery_zstd") is None,
    reason="the brinery-zstd plugin is not installed",
)
def test_a_zstd_file_loads_the_plugin_by_its_magic_number(tmp_path):
    """A ``.zst`` file renamed to ``.pkl`` still loads, in a process that did nothing else: its
    first bytes name the zstd plugin, which the load then finds."""
    dumped = """
        import os
        brinery.dump({"a": np.arange(5)}, "a.pkl.zst")
        os.rename("a.pkl.zst", "renamed.pkl")
    """
    assert set(PLUGIN_MACHINERY) <= set(_loaded_after(dumped, tmp_path, plugins="brinery-zstd"))
    loaded = """
        found = brinery.load("renamed.pkl")["a"].tolist()
        assert found == [0, 1, 2, 3, 4], found
    """
    assert set(PLUGIN_MACHINERY) <= set(_loaded_after(loaded, tmp_path, plugins="brinery-zstd"))


def test_the_version_is_read_when_asked_for(tmp_path):
    code = """
        assert "importlib.metadata" not in sys.modules
        from brinery import __version__
        print(__version__)
    """
    script = f"import sys, brinery\n{textwrap.dedent(code)}"
    done = run_python(script)
    assert done.stdout.strip() == importlib.metadata.version("brinery") == brinery.__version__


def test_every_public_name_is_listed_and_importable():
    """``dir(brinery)`` lists the names given on first access too, and each is the object its
    module defines."""
    from brinery import hookspecs

    assert set(brinery.__all__) | {"__version__"} <= set(dir(brinery))
    assert dir(brinery) == sorted(dir(brinery))
    for name in brinery.__all__:
        assert getattr(brinery, name) is not None
    assert brinery.hookimpl is hookspecs.hookimpl
    assert brinery.RegisterCompressor is hookspecs.RegisterCompressor


def test_star_import_gives_every_public_name(tmp_path):
    script = "from brinery import *\nprint(hookimpl.project_name, RegisterCompressor.__name__)"
    done = run_python(script)
    assert done.stdout.split() == ["brinery", "RegisterCompressor"]


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match=r"^module 'brinery' has no attribute 'dumps'$"):
        brinery.dumps  # noqa: B018
    assert not hasattr(brinery, "codecs_by_name")
