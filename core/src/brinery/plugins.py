"""The pluggy plugin manager: loads compressor plugins lazily, once, on first use.

Plugins are distributions with an entry point in the ``brinery`` group.  The environment variable
``BRINERY_LOAD_PLUGINS`` (comma-separated distribution names; empty: none) chooses which load,
which is also how the core's tests run without plugins.  A plugin that fails to import, or whose
hook fails, is named in a warning and skipped; the others still load.  The standard-library
compressors register through the very same hook.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import warnings
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from . import hookspecs
from .codecs import stdlib
from .compressor import Compressor
from .registry import Registry

ENTRY_POINT_GROUP = "brinery"
LOAD_PLUGINS_VARIABLE = "BRINERY_LOAD_PLUGINS"
BUILTIN_PLUGIN_NAME = "brinery.codecs.stdlib"


class PluginWarning(UserWarning):
    """A plugin could not be loaded; brinery goes on without it."""


@dataclass
class PluginInfo:
    """What ``brinery plugins`` shows about one loaded plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str]
    compressors: list[str] = field(default_factory=list)


class PluginHost:
    """Owns the pluggy manager and the compressor registry, loading plugins on first use."""

    def __init__(self) -> None:
        self.registry = Registry()
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._loaded = False
        self._lock = threading.RLock()
        self._plugins: list[PluginInfo] = []

    def ensure_loaded(self) -> Registry:
        """Load the built-ins and the selected plugins if not done yet; return the registry."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._load()
                    self._loaded = True
        return self.registry

    def plugins(self) -> list[PluginInfo]:
        self.ensure_loaded()
        return list(self._plugins)

    def _load(self) -> None:
        builtin_version = _version_of("brinery")
        self._add(stdlib, BUILTIN_PLUGIN_NAME, "brinery", builtin_version)
        selected = _selected_distributions()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            distribution = entry_point.dist.name if entry_point.dist else entry_point.name
            if selected is not None and _normalise(distribution) not in selected:
                continue
            try:
                module = entry_point.load()
            except Exception as error:  # a broken plugin must not break brinery
                _warn(f"brinery plugin {entry_point.name!r} ({distribution}) failed to import: "
                      f"{type(error).__name__}: {error}")
                continue
            version = entry_point.dist.version if entry_point.dist else "unknown"
            self._add(module, entry_point.name, distribution, version)

    def _add(self, module: ModuleType, name: str, distribution: str, version: str) -> None:
        if self._manager.is_registered(module):
            return
        try:
            self._manager.register(module, name=name)
            self._manager.check_pending()
        except (ValueError, pluggy.PluginValidationError) as error:
            if self._manager.is_registered(module):
                self._manager.unregister(module)
            _warn(f"brinery plugin {name!r} ({distribution}) is invalid: {error}")
            return
        info = PluginInfo(name, distribution, version, hooks=[])
        for caller in self._manager.get_hookcallers(module) or []:
            info.hooks.append(caller.name)
        for impl in self._manager.hook.register_compressors.get_hookimpls():
            if impl.plugin is module and not self._call_register_hook(impl, info):
                self._manager.unregister(module)
                return
        self._plugins.append(info)

    def _call_register_hook(self, impl: pluggy.HookImpl, info: PluginInfo) -> bool:
        """Run one plugin's hook; on failure undo what it registered, warn, return false."""
        registered: list[str] = []

        def register(compressor: Compressor, *, force: bool = False) -> None:
            self.registry.register(compressor.name, compressor, force=force)
            registered.append(compressor.name)

        try:
            impl.function(register=register)
        except Exception as error:  # a broken plugin must not break brinery
            for compressor_name in registered:
                self.registry.unregister(compressor_name)
            _warn(f"brinery plugin {info.name!r} ({info.distribution}) failed to register its "
                  f"compressors: {type(error).__name__}: {error}")
            return False
        info.compressors.extend(registered)
        return True


def _selected_distributions() -> set[str] | None:
    """Distribution names chosen by ``BRINERY_LOAD_PLUGINS``; ``None`` means all."""
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {_normalise(name) for name in value.split(",") if name.strip()}


def _normalise(distribution: str) -> str:
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _warn(message: str) -> None:
    # One line: pluggy's messages span several, which reads badly among other warnings.
    warnings.warn(" ".join(message.split()), PluginWarning, stacklevel=4)


HOST = PluginHost()


def registry() -> Registry:
    """The compressor registry, with plugins loaded."""
    return HOST.ensure_loaded()
