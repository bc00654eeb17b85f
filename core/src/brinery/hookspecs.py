"""The hooks a brinery plugin can implement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .plugins import RegisterCompressor

hookspec = pluggy.HookspecMarker("brinery")


@hookspec
def register_compressors(register: RegisterCompressor) -> None:
    """Register compressors by calling ``register(compressor)`` for each.

    ``register`` also takes ``force=True`` to replace a compressor registered before under the
    same name, extension or magic number.
    """
