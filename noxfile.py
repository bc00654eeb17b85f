"""Test, lint and build sessions for the brinery monorepo (core/ and plugins/*).

`nox` runs them all: lint, the core alone, each plugin with the core, and everything installed
together re-running every test to prove no plugin breaks the core.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(path.parent.name for path in (ROOT / "plugins").glob("*/pyproject.toml"))
TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100", "joblib>=1.3"]  # joblib: its files are tested
#: Remote storage tests: fsspec (brinery's extra), s3fs, and moto's S3 server on 127.0.0.1.
REMOTE_TOOLS = ["./core[fsspec]", "s3fs>=2024.2", "moto[server]>=5"]


def _install(session: nox.Session, *distributions: str) -> None:
    session.install(*TEST_TOOLS, "./core", *distributions)
    session.run("python", "-c", "import brinery; print('brinery', brinery.__name__, 'imports')")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything, mypy (strict) over the core."""
    session.install("ruff>=0.6", "mypy>=1.10", "./core", *TEST_TOOLS)
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The core alone, with no plugin loaded."""
    _install(session, *REMOTE_TOOLS)
    session.run("pytest", "tests/core", *session.posargs, env={"BRINERY_LOAD_PLUGINS": ""})


@nox.session
def memcheck(session: nox.Session) -> None:
    """Memory safety: round trips, file objects, damaged and hostile files and the memory-safety
    tests under ``python -X dev`` with ``PYTHONMALLOC=debug`` and a collection at every
    allocation (``gc.set_threshold(1)``), which exposes buffers freed while still exported."""
    _install(session)
    env = {"PYTHONMALLOC": "debug", "BRINERY_GC_THRESHOLD": "1", "BRINERY_LOAD_PLUGINS": ""}
    tests = ["roundtrip", "file_objects", "errors", "checksums", "memory_safety", "safe_checks"]
    paths = [f"tests/core/test_{name}.py" for name in tests]
    session.run("python", "-X", "dev", "-m", "pytest", *paths, "-q", *session.posargs, env=env)


@nox.session
@nox.parametrize("plugin", PLUGINS)
def plugin(session: nox.Session, plugin: str) -> None:
    """The core plus one plugin: the plugin's own tests."""
    _install(session, f"./plugins/{plugin}")
    module = plugin.replace("-", "_")
    session.run("python", "-c", f"import {module}")
    session.run("pytest", f"tests/plugins/{module}", *session.posargs)


@nox.session
def everything(session: nox.Session) -> None:
    """Every distribution installed together: every test, the core's included."""
    _install(session, *REMOTE_TOOLS, *(f"./plugins/{name}" for name in PLUGINS))
    session.run("pytest", "tests", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Wheels and sdists of all four distributions; then install them in a clean environment."""
    session.install("build>=1.0", *TEST_TOOLS, "./core")
    dist = Path(session.create_tmp()) / "dist"
    session.run("rm", "-rf", str(dist), external=True)
    for project in ["core", *(f"plugins/{name}" for name in PLUGINS)]:
        session.run("python", "-m", "build", "--outdir", str(dist), project)
    session.run("pytest", "tests/packaging", env={"BRINERY_DIST": str(dist)})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs, Material theme) built with --strict, every Python example
    in the docs and the README run, and the example plugin of docs/writing-a-plugin.md installed
    and used."""
    _install(session, "./core[fsspec]", "./examples/brinery-example", "mkdocs-material>=9.5")
    site = Path(session.create_tmp()) / "site"
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=quiet)
    session.run("pytest", "tests/docs", *session.posargs)


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """The long fuzzing run: tests/fuzz at BRINERY_FUZZ_SCALE (default 25: 10,000 mutations per
    compressor), every plugin installed; the counts go to fuzz-report.json."""
    _install(session, *(f"./plugins/{name}" for name in PLUGINS))
    env = {
        "BRINERY_FUZZ_SCALE": os.environ.get("BRINERY_FUZZ_SCALE", "25"),
        "BRINERY_FUZZ_REPORT": str(ROOT / "fuzz-report.json"),
    }
    session.run("pytest", "tests/fuzz", "-q", *session.posargs, env=env)


# -- benchmarks (bench/): outside the test run ---------------------------------------------------

BENCH_TOOLS = ["joblib>=1.3", "lz4>=4", "matplotlib>=3.7"]


def _install_bench(session: nox.Session) -> None:
    session.install("./core", *(f"./plugins/{name}" for name in PLUGINS), *BENCH_TOOLS)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """The benchmark suite: results into docs/ (tens of minutes; `nox -s bench -- --help`)."""
    _install_bench(session)
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """The benchmark suite in a tiny mode, checking that its outputs are produced and sound."""
    _install_bench(session)
    out = Path(session.create_tmp()) / "bench-smoke"
    session.run("rm", "-rf", str(out), external=True)
    session.run(
        "python", "-m", "bench", "--size-mb", "4", "--runs", "1", "--out", str(out),
        "--sample-mb", "1", "--sweep-datasets", "images", *session.posargs,
    )  # fmt: skip
    session.run("python", "-m", "bench.check", str(out))
