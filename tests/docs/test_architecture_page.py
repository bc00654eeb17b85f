"""docs/architecture.md's module map names every module of the core: it cannot fall behind."""

from __future__ import annotations

from pathlib import Path

import brinery

PAGE = Path(__file__).parents[2] / "docs" / "architecture.md"
PACKAGE = Path(brinery.__file__).parent


def _modules() -> set[str]:
    """Dotted names below ``brinery``: plain modules, and the ``testing`` package as one."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] == "testing":
            names.add("testing")
        elif parts[-1] not in ("__init__", "__main__"):
            names.add(".".join(parts))
    return names


def test_the_module_map_names_every_module() -> None:
    modules = _modules()
    assert {"api", "pipeline", "streams.frame_reader", "codecs.stdlib"} <= modules
    page = PAGE.read_text()
    missing = sorted(name for name in modules if f"`{name}`" not in page)
    assert missing == [], f"docs/architecture.md does not name {missing}"
