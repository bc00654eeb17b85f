"""Random access to indexed brinery files: ``brinery.open`` (docs/format.md, section 5.5)."""

from __future__ import annotations

from .opened import LazyArray, Opened, open_stream

__all__ = ["LazyArray", "Opened", "open_stream"]
