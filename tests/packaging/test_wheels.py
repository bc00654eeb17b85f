"""The built wheels install into a clean virtual environment and run the demo there.

Run by the nox ``build`` session, which builds the wheels and sdists of all four distributions
into the folder named by ``BRINERY_DIST``; skipped elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

DIST = os.environ.get("BRINERY_DIST")
DISTRIBUTIONS = ("brinery", "brinery-lz4", "brinery-lzo", "brinery-zstd")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not DIST, reason="run by the nox build session (BRINERY_DIST)")


def test_every_distribution_has_a_wheel_and_an_sdist() -> None:
    names = sorted(path.name for path in Path(DIST or ".").iterdir())
    for distribution in DISTRIBUTIONS:
        stem = distribution.replace("-", "_")
        assert any(name.startswith(f"{stem}-0.1.0-") and name.endswith(".whl") for name in names)
        assert f"{stem}-0.1.0.tar.gz" in names, names


def test_wheels_install_into_a_clean_environment_and_run_the_demo(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    wheels = sorted(str(path) for path in Path(DIST or ".").glob("*.whl"))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *wheels],
        check=True,
    )
    # Run from an empty folder so nothing from the checkout can be imported by accident.
    result = subprocess.run(
        [python, str(ROOT / "examples" / "demo.py"), "--megabytes", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {line.split()[0] for line in result.stdout.splitlines()[3:-1]}
    expected = {"none", "bz2", "gzip", "lz4", "lzma", "lzo", "xz", "zlib", "zstd"}
    assert rows == expected, result.stdout
    assert "every round trip loaded back exactly" in result.stdout
    listed = subprocess.run(
        [environment / "bin" / "brinery", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    for distribution in DISTRIBUTIONS:
        assert distribution in listed, listed
    imported = subprocess.run(
        [python, "-c", "import brinery; print(brinery.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout
    assert Path(imported.strip()).is_relative_to(environment), imported
