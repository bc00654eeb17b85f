"""The shape of the core: no import cycle, declarative interface modules, nothing imported that
a user does not need.

The import graph is read from the source with ``ast`` (imports under ``TYPE_CHECKING`` and inside
functions count: a cycle hidden there is still a cycle to whoever reads the code).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import brinery

PACKAGE = Path(brinery.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                imported = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    member = f"{imported}.{alias.name}"
                    graph[name].add(member if member in modules else imported)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
        graph[name] = {target for target in graph[name] if target in modules and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_graph_is_read():
    """The reader finds what it must (a test of the test): the API facade's own imports."""
    graph = _import_graph()
    assert {"brinery.pipeline", "brinery.targets", "brinery.arguments"} <= graph["brinery.api"]
    assert "brinery.codecs.stdlib" in graph["brinery.plugins"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_has_no_import_cycle():
    assert _cycles(_import_graph()) == []


def test_the_interface_modules_only_declare():
    """What a plugin imports (the compressor interface, framing, the hooks) imports none of the
    machinery: a plugin depends on declarations, never on the plugin host or the streams."""
    graph = _import_graph()
    assert graph["brinery.framing"] == set()
    assert graph["brinery.compressor"] == {"brinery.framing"}
    assert graph["brinery.hookspecs"] == {"brinery.compressor"}
    assert "brinery.plugins" not in graph["brinery.codecs.stdlib"]


def test_importing_brinery_imports_neither_pytest_nor_the_test_kit_nor_joblib():
    optional = "{'pytest', 'brinery.testing', 'joblib', 'brinery.joblib_store'}"
    code = f"import sys, brinery; print(sorted({optional} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
