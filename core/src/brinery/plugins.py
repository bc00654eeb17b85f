"""The plugin host: the built-in compressors, then the plugins, each loaded when first needed.

Plugins are distributions with an entry point in the ``brinery`` group.  The environment variable
``BRINERY_LOAD_PLUGINS`` (comma-separated distribution names; empty: none) chooses which load,
which is also how the core's tests run without plugins.  A plugin that fails to import, or whose
hook fails, is named in a warning and skipped; the others still load.  The standard-library
compressors register through the very same hook.

Finding the plugins costs more than importing all of brinery (``importlib.metadata`` and
pluggy), so it waits for the first question the built-in compressors cannot settle
(:class:`LazyRegistry`): a dump or load of an uncompressed file, or of one compressed by the
standard library, never loads them.  For that to give the same answers before and after, a
plugin cannot change what a built-in answers (:func:`_check_plugin_compressor`).
"""

from __future__ import annotations

import os
import threading
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from .compressor import Compressor
from .errors import RegistrationError
from .registry import Registry, check_definition

if TYPE_CHECKING:
    import pluggy

ENTRY_POINT_GROUP = "brinery"
LOAD_PLUGINS_VARIABLE = "BRINERY_LOAD_PLUGINS"
BUILTIN_PLUGIN_NAME = "brinery.codecs.stdlib"
#: The extensions of uncompressed pickles: a path ending in one is never compressed by a plugin,
#: so dumping to it needs no plugin (no compressor may end its extensions with one).
UNCOMPRESSED_EXTENSIONS = (".pkl", ".pickle", ".joblib")


class PluginWarning(UserWarning):
    """A plugin could not be loaded; brinery goes on without it."""


class PluginInfo(NamedTuple):
    """What ``brinery plugins`` shows about one loaded plugin.  (A named tuple: making a
    dataclass takes longer than importing most modules, for a listing few processes show.)"""

    name: str
    distribution: str
    version: str
    hooks: list[str]
    compressors: list[str]


class PluginHost:
    """Owns the compressor registry: the built-in compressors go in on the first question, the
    plugins (through pluggy) when a question needs them."""

    def __init__(self) -> None:
        self.registry = Registry()
        #: The registry as the core asks it (see :func:`registry`).
        self.lookup = LazyRegistry(self)
        self.loaded = False
        self._manager: pluggy.PluginManager  # (made by _load)
        self._builtins: tuple[Compressor, ...] = ()
        self._builtins_registered = False
        self._lock = threading.RLock()
        self._plugins: list[PluginInfo] = []

    def builtins(self) -> Registry:
        """The registry with the built-in compressors in it, the plugins loaded or not."""
        if not self._builtins_registered:
            with self._lock:
                if not self._builtins_registered:
                    self._register_builtins()
                    self._builtins_registered = True
        return self.registry

    def ensure_loaded(self) -> Registry:
        """Load the built-ins and the selected plugins if not done yet; return the registry."""
        if not self.loaded:
            with self._lock:
                if not self.loaded:
                    self.builtins()
                    self._load()
                    self.loaded = True
        return self.registry

    def plugins(self) -> list[PluginInfo]:
        self.ensure_loaded()
        return list(self._plugins)

    def _register_builtins(self) -> None:
        """The standard library's hook, called as pluggy would call it (without pluggy)."""
        from .codecs import stdlib

        registered: list[Compressor] = []

        def register(compressor: Compressor, *, force: bool = False) -> None:
            self.registry.register(compressor.name, compressor, force=force)
            registered.append(compressor)

        stdlib.register_compressors(register=register)
        self._builtins = tuple(registered)

    def _load(self) -> None:
        import importlib.metadata

        import pluggy

        from . import hookspecs
        from .codecs import stdlib

        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        hookspecs.hookimpl(stdlib.register_compressors)  # its mark (stdlib does not import pluggy)
        self._add(stdlib, BUILTIN_PLUGIN_NAME, "brinery", _version_of("brinery"), builtin=True)
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

    def _add(
        self,
        module: ModuleType,
        name: str,
        distribution: str,
        version: str,
        *,
        builtin: bool = False,
    ) -> None:
        """Register ``module`` with pluggy and call its hook (the built-ins' was called already,
        by :meth:`builtins`)."""
        import pluggy

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
        hooks = [caller.name for caller in self._manager.get_hookcallers(module) or []]
        info = PluginInfo(name, distribution, version, hooks=hooks, compressors=[])
        if builtin:
            info.compressors.extend(compressor.name for compressor in self._builtins)
        for impl in self._manager.hook.register_compressors.get_hookimpls():
            if impl.plugin is module and not builtin and not self._call_register_hook(impl, info):
                self._manager.unregister(module)
                return
        self._plugins.append(info)

    def _call_register_hook(self, impl: pluggy.HookImpl, info: PluginInfo) -> bool:
        """Run one plugin's hook; on failure undo what it registered, warn, return false."""
        registered: list[str] = []

        def register(compressor: Compressor, *, force: bool = False) -> None:
            _check_plugin_compressor(compressor, self._builtins, force=force)
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


class LazyRegistry:
    """The registry as the core asks it: the built-in compressors answer what they settle, and
    anything else loads the plugins first.

    Until the plugins load, the registry holds the built-ins and nothing else (registering, or
    listing, loads the plugins first), and no plugin can take a built-in's name, magic number or
    extension, nor end an extension with one or with an uncompressed pickle's, nor name itself
    with a colon (:func:`_check_plugin_compressor`): so a built-in found, a path ending in
    ``.pkl``, or a ``"name:level"`` that is not a registered name, is the answer the whole
    registry would give.
    """

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def by_name(self, name: str) -> Compressor:
        found = self._host.builtins().get(name)
        return found if found is not None else self._host.ensure_loaded().by_name(name)

    def by_extension(self, path: str) -> Compressor | None:
        uncompressed = path.lower().endswith(UNCOMPRESSED_EXTENSIONS)
        if uncompressed and not self._host.loaded:
            return None  # (no built-in's extension ends so, and no plugin's may)
        found = self._host.builtins().registered_for_extension(path)
        if found is not None or uncompressed:
            return found
        return self._host.ensure_loaded().by_extension(path)

    def detect(self, head: bytes) -> Compressor | None:
        found = self._host.builtins().registered_for_magic(head)
        return found if found is not None else self._host.ensure_loaded().detect(head)

    def __contains__(self, name: str) -> bool:
        """Whether a compressor is registered as ``name`` (which the plugins cannot take if it
        holds a colon)."""
        registry = self._host.builtins()
        if ":" not in name and registry.get(name) is None:
            registry = self._host.ensure_loaded()
        return registry.get(name) is not None

    def snapshot(self) -> dict[str, Compressor]:
        return self._host.ensure_loaded().snapshot()

    def register(self, name: str, compressor: Compressor, *, force: bool = False) -> None:
        self._host.ensure_loaded().register(name, compressor, force=force)

    def unregister(self, name: str) -> None:
        self._host.ensure_loaded().unregister(name)


def _check_plugin_compressor(
    compressor: Compressor, builtins: tuple[Compressor, ...], *, force: bool
) -> None:
    """Refuse a plugin's compressor that would change what the built-ins answer before the
    plugins load (:class:`LazyRegistry`), after what the registry refuses of anyone."""
    name = compressor.name
    check_definition(name, compressor)
    if ":" in name:
        raise RegistrationError(
            f"cannot register compressor {name!r}: a plugin's compressor name cannot hold ':' "
            "(compress='name:level' reads what follows it as a level)"
        )
    builtin_extensions = {extension for other in builtins for extension in other.extensions}
    for extension in compressor.extensions:
        # (one equal to a built-in's is a clash: the registry refuses it, or the check below)
        endings = [taken for taken in sorted(builtin_extensions) if extension.endswith(taken)]
        endings = [taken for taken in endings if taken != extension]
        endings += [taken for taken in UNCOMPRESSED_EXTENSIONS if extension.endswith(taken)]
        if endings:
            what = "a built-in's files" if endings[0] in builtin_extensions else "no compression"
            raise RegistrationError(
                f"cannot register compressor {name!r}: a plugin's extension cannot end with "
                f"{endings[0]!r} ({extension!r} does), which means {what} before the plugins load"
            )
    if force:
        probe = Registry()
        for builtin in builtins:
            probe.register(builtin.name, builtin)
        clashes = probe.clashes(name, compressor)
        if clashes:
            raise RegistrationError(
                f"cannot register compressor {name!r}: a plugin cannot replace a built-in "
                f"compressor, even with force=True ({clashes[0]})"
            )


def _selected_distributions() -> set[str] | None:
    """Distribution names chosen by ``BRINERY_LOAD_PLUGINS``; ``None`` means all."""
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {_normalise(name) for name in value.split(",") if name.strip()}


def _normalise(distribution: str) -> str:
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def _version_of(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _warn(message: str) -> None:
    # One line: pluggy's messages span several, which reads badly among other warnings.
    warnings.warn(" ".join(message.split()), PluginWarning, stacklevel=4)


HOST = PluginHost()


def registry() -> LazyRegistry:
    """The compressor registry, which loads the plugins when a question needs them."""
    return HOST.lookup
