"""Test, lint and build sessions for the brinery monorepo (core/ and plugins/*).

`nox` runs them all: lint, the core alone, each plugin with the core, every plugin installed
together (the tests that need them all, and the core's tests in which plugins take part, to
prove that no plugin breaks the core), packaging, the docs and the benchmark's smoke test.  The
longer runs use every core (pytest-xdist).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(path.parent.name for path in (ROOT / "plugins").glob("*/pyproject.toml"))
#: joblib: its files are tested; pytest-xdist: the longer runs use every core (PARALLEL).
TEST_TOOLS = ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "joblib>=1.3"]
#: pytest-xdist's workers: one per core this process may use (BRINERY_TEST_WORKERS overrides;
#: 0 runs in one process).
WORKERS = os.environ.get("BRINERY_TEST_WORKERS") or str(
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
PARALLEL = ["-n", WORKERS if WORKERS != "1" else "0"]
#: Remote storage tests: fsspec (brinery's extra), s3fs, and moto's S3 server on 127.0.0.1.
REMOTE_TOOLS = ["./core[fsspec]", "s3fs>=2024.2", "moto[server]>=5"]
#: joblib.Memory on brinery: a scikit-learn Pipeline caching with it (skipped where absent).
JOBLIB_STORE_TOOLS = ["scikit-learn>=1.5"]
#: Other libraries' protocol 5 buffers: pyarrow's arrays and tables, pandas' arrow-backed columns
#: (tests/core/test_arrow_buffers.py, skipped where absent).
ARROW_TOOLS = ["pyarrow>=16", "pandas>=2.1"]


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
    _install(session, *REMOTE_TOOLS, *JOBLIB_STORE_TOOLS, *ARROW_TOOLS)
    env = {"BRINERY_LOAD_PLUGINS": ""}
    session.run("pytest", "tests/core", *PARALLEL, *session.posargs, env=env)


@nox.session
def memcheck(session: nox.Session) -> None:
    """Memory safety: round trips, file objects, damaged and hostile files and the memory-safety
    tests in Python's development mode with ``PYTHONMALLOC=debug`` and a collection at every
    allocation (``gc.set_threshold(1)``), which exposes buffers freed while still exported (the
    environment, unlike ``-X dev``, reaches pytest-xdist's workers)."""
    _install(session)
    env = {
        "PYTHONDEVMODE": "1",
        "PYTHONMALLOC": "debug",
        "BRINERY_GC_THRESHOLD": "1",
        "BRINERY_LOAD_PLUGINS": "",
    }
    tests = [
        "roundtrip",
        "file_objects",
        "errors",
        "checksums",
        "memory_safety",
        "safe_checks",
        "random_access",  # brinery.open: windows over frames, lazy arrays
        "indexed_streams",
        "locators",
    ]
    paths = [f"tests/core/test_{name}.py" for name in tests]
    session.run("pytest", *paths, "-q", *PARALLEL, *session.posargs, env=env)


@nox.session
@nox.parametrize("plugin", PLUGINS)
def plugin(session: nox.Session, plugin: str) -> None:
    """The core plus one plugin: the plugin's own tests."""
    _install(session, f"./plugins/{plugin}")
    module = plugin.replace("-", "_")
    session.run("python", "-c", f"import {module}")
    session.run("pytest", f"tests/plugins/{module}", *PARALLEL, *session.posargs)


#: The core's tests in which plugins take part: the plugin host, the registry and what it decides
#: (``compress=``, extensions, magic numbers, errors naming compressors), and the tests
#: parametrized over every installed compressor.  The rest of the core does not see plugins: the
#: ``tests`` session runs it (the same tests again here would prove nothing more).
CORE_WITH_PLUGINS = ["plugins", "registration", "arguments", "errors", "remote", "memory_safety"]


@nox.session
def everything(session: nox.Session) -> None:
    """Every distribution installed together: what needs them all (the hostile files in every
    format, the fuzzing over every compressor, zstd and lz4 seek tables) and
    :data:`CORE_WITH_PLUGINS`."""
    _install(session, "./core[fsspec]", *(f"./plugins/{name}" for name in PLUGINS))
    core = [f"tests/core/test_{name}.py" for name in CORE_WITH_PLUGINS]
    together = [  # (zstd and lz4 side by side: their seek tables, and random access)
        "tests/plugins/test_seek_table_tools.py",
        "tests/plugins/brinery_zstd/test_zstd_random_access.py",
    ]
    session.run(
        "pytest", "tests/security", "tests/fuzz", *core, *together, *PARALLEL, *session.posargs
    )


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
    in the docs and the README run, and the example plugin of docs/writing-a-plugin.md installed,
    used, and put through the plugin contract (its own tests, with brinery.testing)."""
    example = "./examples/brinery-example[test]"
    _install(session, "./core[fsspec,testing]", example, "mkdocs-material>=9.5")
    site = Path(session.create_tmp()) / "site"
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=quiet)
    session.run("pytest", "tests/docs", *session.posargs)
    session.run("pytest", "examples/brinery-example/tests", *session.posargs)


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


#: The joblib release whose own persistence tests joblib_suite runs.
JOBLIB_SUITE = "1.6.0"
_UNPACK = (
    "import pathlib, sys, tarfile; folder = pathlib.Path(sys.argv[1]); "
    "[tarfile.open(path).extractall(folder, filter='data') for path in folder.glob('*.tar.gz')]"
)


@nox.session(default=False)
def joblib_suite(session: nox.Session) -> None:
    """joblib's own persistence tests (its test_numpy_pickle.py, from joblib's sdist downloaded
    now: joblib's code is never committed here) with joblib's dump and load swapped for
    brinery's (tests/joblib_suite); the failures expected, and why, are listed there and in
    docs/joblib.md."""
    _install(session, *(f"./plugins/{name}" for name in PLUGINS), "lz4>=4")
    folder = Path(session.create_tmp()) / "joblib-suite"
    session.run("rm", "-rf", str(folder), external=True)
    wanted = f"joblib=={JOBLIB_SUITE}"
    session.run("pip", "download", "--no-deps", "--no-binary", ":all:", wanted, "-d", str(folder))
    session.run("python", "-c", _UNPACK, str(folder))
    source = folder / f"joblib-{JOBLIB_SUITE}"
    path = os.pathsep.join([str(source), str(ROOT / "tests" / "joblib_suite")])
    session.run(
        "pytest", str(source / "joblib" / "test" / "test_numpy_pickle.py"),
        "-p", "brinery_as_joblib", "-o", "addopts=", "--rootdir", str(source), "-q",
        *session.posargs, env={"PYTHONPATH": path},
    )  # fmt: skip


# -- benchmarks (bench/): outside the test run ---------------------------------------------------

#: blosc2: the shuffle targets' peer; pandas and pyarrow: the arrow-backed frame dataset.
BENCH_TOOLS = [
    "joblib>=1.3", "lz4>=4", "matplotlib>=3.7", "blosc2>=3", "pandas>=2.2", "pyarrow>=15",
]  # fmt: skip


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
        "--sample-mb", "1", "--sweep-datasets", "images", "--smoke", *session.posargs,
    )  # fmt: skip
    session.run("python", "-m", "bench.check", str(out))
