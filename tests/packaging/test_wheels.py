"""The built wheels install into a clean virtual environment and run the demo there.

Run by the nox ``build`` session, which builds the wheels and sdists of all four distributions
into the folder named by ``BRINERY_DIST``; skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import venv
import zipfile
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


def test_the_core_wheel_ships_the_plugin_test_kit() -> None:
    """brinery.testing is for plugins' own test suites: it ships in the brinery wheel, and its
    pytest comes with the ``testing`` extra."""
    wheel = next(Path(DIST or ".").glob("brinery-0.1.0-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
        fields = archive.read(metadata).decode().splitlines()
    assert {"brinery/testing/__init__.py", "brinery/testing/contract.py"} <= names
    assert "Provides-Extra: testing" in fields
    assert "Requires-Dist: pytest>=8; extra == 'testing'" in fields


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
        [python, str(ROOT / "examples" / "demo.py"), "--megabytes", "4", "--all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    dumped = re.findall(r'^  brinery\.dump\(value, "demo\.pkl(\.\w+)?"\)', result.stdout, re.M)
    # none, bz2, gzip, lz4, lzma, lzo, xz, zlib, zstd: each compressor chosen by its extension
    expected = ["", ".bz2", ".gz", ".lz4", ".lzma", ".lzo", ".xz", ".z", ".zst"]
    assert sorted(dumped) == expected, result.stdout
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
