"""Every Python example in the documentation runs (``nox -s docs``): the docs cannot rot."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _examples(page: Path) -> list[str]:
    """The page's ``python`` blocks, but those that include a file (``--8<--``)."""
    return [code for code in BLOCK.findall(page.read_text()) if "--8<--" not in code]


PAGES_WITH_EXAMPLES = [page for page in PAGES if _examples(page)]


def test_the_pages_have_examples() -> None:
    names = {page.name for page in PAGES_WITH_EXAMPLES}
    assert {"README.md", "index.md", "compressors.md", "joblib.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda page: page.name)
def test_a_pages_examples_run_in_order(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's blocks share one namespace, in a fresh folder, as a reader would type them."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(_examples(page), start=1):
        compiled = compile(code, f"{page.name} example {number}", "exec")
        exec(compiled, namespace)  # the documentation's own examples
    assert os.getcwd() == str(tmp_path)
