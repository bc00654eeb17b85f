"""A description of the machine and software a run measured, stored with the results.

Numbers without the machine are meaningless, and on a repository where the core changes while a
benchmark runs, so are numbers without the exact source: the digest of brinery's source files is
taken at the start and at the end of a run, and a difference is reported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Distributions whose versions matter to the figures.
DISTRIBUTIONS = (
    "numpy",
    "joblib",
    "brinery",
    "brinery-lz4",
    "brinery-lzo",
    "brinery-zstd",
    "lz4",
    "zstandard",
    "python-lzo",
    "matplotlib",
    "blosc2",
    "pandas",
    "pyarrow",
)


def describe(workdir: Path) -> dict[str, Any]:
    """CPU, cores, memory, kernel, versions, the work folder's disk, and the source state."""
    return {
        "cpu_model": _cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": _meminfo("MemTotal"),
        "memory_available_bytes": _meminfo("MemAvailable"),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "versions": _versions(),
        "zlib_runtime": zlib.ZLIB_RUNTIME_VERSION,
        "brinery_compressors": _brinery_compressors(),
        "workdir": str(workdir),
        "workdir_filesystem": _filesystem(workdir),
        "workdir_free_bytes": shutil.disk_usage(workdir).free,
        "load_average": os.getloadavg(),
        "git": _git_state(),
        "brinery_source_digest": source_digest(),
    }


def source_digest() -> str:
    """SHA-256 over brinery's and its plugins' installed source files (what the workers run)."""
    import brinery

    folders = [Path(brinery.__file__).parent]
    for name in ("brinery_lz4", "brinery_lzo", "brinery_zstd"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        folders.append(Path(module.__file__ or "").parent)
    hasher = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            hasher.update(str(path.relative_to(folder.parent)).encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _brinery_compressors() -> dict[str, dict[str, Any]]:
    import brinery

    return {
        name: {
            "levels": [compressor.levels.start, compressor.levels.stop - 1],
            "default_level": compressor.default_level,
            "frame_size": compressor.framing.frame_size,
            "class": f"{type(compressor).__module__}.{type(compressor).__qualname__}",
        }
        for name, compressor in sorted(brinery.compressors().items())
    }


def _filesystem(path: Path) -> str | None:
    """The file system type of the mount holding ``path`` (the longest matching mount point)."""
    best: tuple[int, str] | None = None
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                mount_point, kind = fields[1], fields[2]
                inside = str(path.resolve()).startswith(mount_point.rstrip("/") + "/")
                if (inside or str(path.resolve()) == mount_point) and (
                    best is None or len(mount_point) > best[0]
                ):
                    best = (len(mount_point), f"{kind} on {mount_point} ({fields[0]})")
    except OSError:
        return None
    return best[1] if best else None


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    changed = git("status", "--porcelain", "--", "core", "plugins")
    return {
        "commit": git("rev-parse", "HEAD"),
        "core_or_plugins_modified": None if changed is None else bool(changed),
        "modified_files": changed.splitlines() if changed else [],
    }
