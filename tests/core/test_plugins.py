"""Plugins loaded through the ``brinery`` entry-point group, and the ``brinery plugins`` command.

Each test builds fake distributions (a ``.dist-info`` folder with METADATA and
entry_points.txt, and the module it points to) in a temporary folder put on ``sys.path``, then
loads them with a fresh ``PluginHost`` patched in as ``brinery.plugins.HOST``.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import brinery
import brinery.plugins

GOOD_PLUGIN = '''
import bz2

import brinery

MAGIC = b"FKZ\\x01"
CALLS = 0


class _Compressor:
    """bz2 behind a 4-byte prefix."""

    def __init__(self, level):
        self._bz2, self._prefix = bz2.BZ2Compressor(level), MAGIC

    def compress(self, data):
        prefix, self._prefix = self._prefix, b""
        return prefix + self._bz2.compress(data)

    def flush(self):
        prefix, self._prefix = self._prefix, b""
        return prefix + self._bz2.flush()


class _Decompressor:
    def __init__(self):
        self._skip, self._bz2 = len(MAGIC), bz2.BZ2Decompressor()

    eof = property(lambda self: self._bz2.eof)
    unused_data = property(lambda self: self._bz2.unused_data)
    needs_input = property(lambda self: bool(self._skip) or self._bz2.needs_input)

    def decompress(self, data, max_length=-1):
        data = bytes(data)
        if self._skip:
            skipped, data = data[: self._skip], data[self._skip :]
            self._skip -= len(skipped)
            if self._skip or not data:
                return b""
        return self._bz2.decompress(data, max_length)


class FakeZ(brinery.Compressor):
    name = "fakez"
    magic = MAGIC
    extensions = (".fkz",)
    levels = range(1, 10)
    default_level = 1
    errors = (OSError, EOFError, ValueError)

    def new_compressor(self, level):
        return _Compressor(level)

    def new_decompressor(self):
        return _Decompressor()


@brinery.hookimpl
def register_compressors(register):
    global CALLS
    CALLS += 1
    register(FakeZ())
'''

BROKEN_IMPORT = """
raise ImportError("the codec library is missing")
"""

MISSPELLED_HOOK = """
import brinery


@brinery.hookimpl
def register_compresors(register):
    raise AssertionError("never called")
"""

WRONG_ARGUMENT = """
import brinery


@brinery.hookimpl
def register_compressors(reg):
    raise AssertionError("never called")
"""

FAILING_HOOK = GOOD_PLUGIN.replace(
    "    register(FakeZ())",
    "    register(FakeZ())\n    clash = FakeZ()\n    clash.name = 'clash'\n"
    "    clash.magic = b'\\x1f\\x8b'\n    clash.extensions = ()\n    register(clash)",
)


class Site:
    """A folder on ``sys.path`` holding fake plugin distributions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.token = uuid.uuid4().hex[:8]
        self.modules: list[str] = []

    def add(
        self,
        distribution: str,
        source: str,
        *,
        entry_point: str | None = None,
        version: str = "1.0",
    ) -> str:
        """Create ``distribution`` whose ``brinery`` entry point loads a module of ``source``."""
        stem = distribution.replace("-", "_")
        module = f"{stem}_{self.token}"
        (self.path / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.path / f"{stem}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(
            f"[brinery]\n{entry_point or distribution} = {module}\n"
        )
        self.modules.append(module)
        return module


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    made = Site(folder)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)


@pytest.fixture
def fresh_host(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``fresh_host(selection)``: set BRINERY_LOAD_PLUGINS (None: unset) and patch in a new
    PluginHost, not loaded yet."""

    def make(selection: str | None) -> brinery.plugins.PluginHost:
        if selection is None:
            monkeypatch.delenv("BRINERY_LOAD_PLUGINS", raising=False)
        else:
            monkeypatch.setenv("BRINERY_LOAD_PLUGINS", selection)
        host = brinery.plugins.PluginHost()
        monkeypatch.setattr(brinery.plugins, "HOST", host)
        return host

    return make


def _plugin_names(host: brinery.plugins.PluginHost) -> list[str]:
    return [plugin.name for plugin in host.plugins()]


def test_plugin_compressor_is_registered_and_usable(site, fresh_host, tmp_path, assert_same):
    """A plugin's compressor is registered on first use and works by extension and by magic."""
    module = site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez", version="1.2.3")
    host = fresh_host("brinery-fakez")
    assert module not in sys.modules  # plugins load lazily, on first use
    assert "fakez" in brinery.compressors()
    info = host.plugins()[-1]
    assert (info.name, info.distribution, info.version) == ("fakez", "brinery-fakez", "1.2.3")
    assert info.hooks == ["register_compressors"]
    assert info.compressors == ["fakez"]
    assert _plugin_names(host) == ["brinery.codecs.stdlib", "fakez"]

    value = {"data": list(range(1000)), "text": "via plugin"}
    path = tmp_path / "x.pkl.fkz"
    brinery.dump(value, path)
    assert path.read_bytes()[:4] == b"FKZ\x01"
    assert_same(brinery.load(path.rename(tmp_path / "renamed.bin")), value)

    host.ensure_loaded()
    assert sys.modules[module].CALLS == 1  # loaded once


@pytest.mark.parametrize(
    ("selection", "loaded"),
    [
        (None, True),  # unset: every installed plugin
        ("brinery-fakez", True),
        ("other-plugin, Brinery_Fakez ", True),  # names are normalised
        ("brinery.fakez", True),
        ("", False),  # empty: none
        ("other-plugin", False),
        (",", False),
    ],
    ids=["unset", "exact", "list-normalised", "dots", "empty", "other", "comma"],
)
def test_environment_selects_plugins(selection, loaded, site, fresh_host):
    """BRINERY_LOAD_PLUGINS chooses which plugin distributions load; built-ins always do."""
    site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez")
    host = fresh_host(selection)
    names = set(brinery.compressors())
    assert {"zlib", "gzip", "bz2", "lzma", "xz"} <= names
    assert ("fakez" in names) is loaded
    assert ("fakez" in _plugin_names(host)) is loaded


def test_plugin_that_fails_to_import_is_skipped_with_warning(site, fresh_host):
    """A plugin whose import fails is named in a PluginWarning; the others still load."""
    site.add("brinery-broken", BROKEN_IMPORT)
    site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez")
    host = fresh_host("brinery-broken,brinery-fakez")
    with pytest.warns(
        brinery.PluginWarning,
        match=r"brinery plugin 'brinery-broken' \(brinery-broken\) failed to import: "
        r"ImportError: the codec library is missing",
    ):
        host.ensure_loaded()
    assert "fakez" in brinery.compressors()
    assert "brinery-broken" not in _plugin_names(host)


@pytest.mark.parametrize(
    ("source", "detail"),
    [(MISSPELLED_HOOK, r"register_compresors"), (WRONG_ARGUMENT, r"register_compressors.*reg")],
    ids=["misspelled-hook", "wrong-argument"],
)
def test_plugin_with_invalid_hook_is_rejected_with_warning(source, detail, site, fresh_host):
    """A hook the spec does not know (or with arguments it does not have) is refused, with a
    warning naming the plugin; the other plugins still load."""
    site.add("brinery-typo", source)
    site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez")
    host = fresh_host("brinery-typo,brinery-fakez")
    with pytest.warns(
        brinery.PluginWarning,
        match=rf"brinery plugin 'brinery-typo' \(brinery-typo\) is invalid: .*{detail}",
    ):
        host.ensure_loaded()
    assert _plugin_names(host) == ["brinery.codecs.stdlib", "fakez"]
    assert set(brinery.compressors()) == {"zlib", "gzip", "bz2", "lzma", "xz", "fakez"}


def test_plugin_whose_registration_fails_is_rolled_back(site, fresh_host):
    """A hook that fails half-way leaves none of its compressors registered, with a warning."""
    site.add("brinery-clash", FAILING_HOOK, entry_point="clash")
    host = fresh_host("brinery-clash")
    with pytest.warns(
        brinery.PluginWarning,
        match=r"brinery plugin 'clash' \(brinery-clash\) failed to register its compressors: "
        r"RegistrationError: .*overlaps 'gzip'",
    ):
        host.ensure_loaded()
    assert "fakez" not in brinery.compressors()
    assert "clash" not in brinery.compressors()


def test_plugin_whose_registration_failed_is_not_listed(site, fresh_host):
    """A plugin whose hook failed is skipped, like one that failed to import: ``brinery plugins``
    must not list it as loaded."""
    site.add("brinery-clash", FAILING_HOOK, entry_point="clash")
    host = fresh_host("brinery-clash")
    with pytest.warns(brinery.PluginWarning, match="failed to register its compressors"):
        host.ensure_loaded()
    assert _plugin_names(host) == ["brinery.codecs.stdlib"]


def test_two_plugins_with_the_same_entry_point_name(site, fresh_host):
    """A second plugin reusing an entry-point name is skipped with a warning, not a crash."""
    site.add("brinery-fakez", GOOD_PLUGIN, entry_point="dup")
    site.add(
        "brinery-second",
        GOOD_PLUGIN.replace("fakez", "second").replace("FKZ", "SEC"),
        entry_point="dup",
    )
    host = fresh_host("brinery-fakez,brinery-second")
    with pytest.warns(brinery.PluginWarning, match=r"brinery plugin 'dup' \(brinery-\w+\)"):
        host.ensure_loaded()
    names = set(brinery.compressors())
    assert len({"fakez", "second"} & names) == 1


# -- loading the plugins only when the built-in compressors cannot answer -------------------------


def test_plugins_load_when_the_builtins_cannot_answer(site, fresh_host, tmp_path, assert_same):
    """A ``.pkl`` path, a built-in chosen by extension or ``name:level``, and files those write,
    need no plugin; a plugin's extension loads them, and so does its magic number on load."""
    module = site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez")
    host = fresh_host("brinery-fakez")
    value = {"data": list(range(100))}
    for name, compress in [("a.pkl", None), ("a.pkl.gz", None), ("a.bin", "bz2:9")]:
        path = tmp_path / name
        brinery.dump(value, path, **({"compress": compress} if compress else {}))
        assert_same(brinery.load(path), value)
    assert not host.loaded
    assert module not in sys.modules

    brinery.dump(value, tmp_path / "a.fkz")
    assert host.loaded
    assert sys.modules[module].CALLS == 1

    renamed = (tmp_path / "a.fkz").rename(tmp_path / "fkz.pkl")
    again = fresh_host("brinery-fakez")
    assert_same(brinery.load(renamed), value)  # the magic number asks for the plugin
    assert again.loaded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "fake.name = 'gzip'\n    register(fake, force=True)",
            r"cannot register compressor 'gzip': a plugin cannot replace a built-in compressor, "
            r"even with force=True \(the name 'gzip' is taken\)",
        ),
        (
            "fake.magic = b'BZh9'\n    register(fake, force=True)",
            r"cannot register compressor 'fakez': a plugin cannot replace a built-in compressor, "
            r"even with force=True \(the magic number 42 5a 68 39 overlaps 'bz2''s 42 5a 68\)",
        ),
        (
            "fake.extensions = ('.tar.gz',)\n    register(fake)",
            r"cannot register compressor 'fakez': a plugin's extension cannot end with '\.gz' "
            r"\('\.tar\.gz' does\), which means a built-in's files before the plugins load",
        ),
        (
            "fake.extensions = ('.pkl',)\n    register(fake)",
            r"cannot register compressor 'fakez': a plugin's extension cannot end with '\.pkl' "
            r"\('\.pkl' does\), which means no compression before the plugins load",
        ),
        (
            "fake.name = 'fakez:fast'\n    register(fake)",
            r"cannot register compressor 'fakez:fast': a plugin's compressor name cannot hold "
            r"':' \(compress='name:level' reads what follows it as a level\)",
        ),
    ],
    ids=["force-over-a-name", "force-over-a-magic", "builtin-ending", "pkl", "colon"],
)
def test_a_plugin_cannot_change_what_the_builtins_answer(change, message, site, fresh_host):
    """What the built-ins answer before the plugins load must stay the answer after: a plugin
    that would change it is refused, with a warning, and the built-ins stay as they were."""
    hook = f"    fake = FakeZ()\n    {change}"
    site.add("brinery-over", GOOD_PLUGIN.replace("    register(FakeZ())", hook))
    host = fresh_host("brinery-over")
    builtins = host.builtins().snapshot()
    with pytest.warns(
        brinery.PluginWarning,
        match=r"brinery plugin 'brinery-over' \(brinery-over\) failed to register its "
        rf"compressors: RegistrationError: {message}$",
    ):
        host.ensure_loaded()
    assert brinery.compressors() == builtins


# -- the command line ------------------------------------------------------------------------------

HEADER = ["plugin", "distribution", "version", "hooks", "compressors"]
BUILTIN_ROW = [
    "brinery.codecs.stdlib",
    "brinery",
    importlib.metadata.version("brinery"),
    "register_compressors",
    "zlib (.z), gzip (.gz), bz2 (.bz2), lzma (.lzma), xz (.xz)",
]


def _console_script() -> str:
    script = shutil.which("brinery", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("brinery is not installed with its console script next to this Python")
    return script


def _run(
    command: list[str], selection: str, pythonpath: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRINERY_LOAD_PLUGINS": selection}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _table(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in output.splitlines()
    ]


@pytest.mark.parametrize("how", ["module", "console-script"])
def test_cli_lists_builtin_plugin(how):
    """``python -m brinery plugins`` and ``brinery plugins`` show the built-in plugin's row."""
    command = [sys.executable, "-m", "brinery"] if how == "module" else [_console_script()]
    result = _run([*command, "plugins"], selection="")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert _table(result.stdout) == [HEADER, BUILTIN_ROW]


def test_cli_lists_entry_point_plugin(site):
    """A plugin found through its entry point gets a row with its version and compressors."""
    site.add("brinery-fakez", GOOD_PLUGIN, entry_point="fakez", version="1.2.3")
    result = _run([sys.executable, "-m", "brinery", "plugins"], "brinery-fakez", str(site.path))
    assert result.returncode == 0, result.stderr
    assert _table(result.stdout) == [
        HEADER,
        BUILTIN_ROW,
        ["fakez", "brinery-fakez", "1.2.3", "register_compressors", "fakez (.fkz)"],
    ]


def test_cli_without_command_shows_usage():
    """No subcommand: usage on stderr and exit status 2 (argparse's)."""
    result = _run([sys.executable, "-m", "brinery"], selection="")
    assert result.returncode == 2
    assert "usage: brinery" in result.stderr
    assert "plugins" in result.stderr
