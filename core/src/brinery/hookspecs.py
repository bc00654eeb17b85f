"""The hooks a brinery plugin implements, and what it needs to implement them.

A plugin imports only this (through ``brinery``: ``brinery.hookimpl``,
``brinery.RegisterCompressor``), never the plugin host that loads it.
"""

from __future__ import annotations

from typing import Protocol

import pluggy

from .compressor import Compressor

PROJECT_NAME = "brinery"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class RegisterCompressor(Protocol):
    """The callback a ``register_compressors`` hook receives."""

    def __call__(self, compressor: Compressor, *, force: bool = False) -> None: ...


@hookspec
def register_compressors(register: RegisterCompressor) -> None:
    """Register compressors by calling ``register(compressor)`` for each.

    ``register`` also takes ``force=True`` to replace a compressor registered before under the
    same name, extension or magic number.
    """
