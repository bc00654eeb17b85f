"""``joblib.Memory`` caching its results with brinery: ``Memory(location, backend="brinery")``.

joblib's own file-system store keeps everything but the results' files: the folders (one per
function, one per call), the function's code that invalidates them, the metadata, ``clear()``
and ``reduce_size()``.  :class:`BrineryStoreBackend` subclasses it and replaces only how a
result is written and read, so a cached result gets what a brinery file has: any compressor
(``Memory(..., compress="zstd")``), checksums (a damaged entry fails to load, and joblib then
recomputes it instead of returning wrong data), and an atomic write (a process reading the
entry, or another one writing it at the same time, never sees half of it).

joblib is optional: ``import brinery`` never imports this module.  joblib finds a store by
name only once it is registered, hence :func:`register`, called once before making the
``Memory``.  It is explicit because joblib has no plugin discovery, and registering on
``import brinery`` would import joblib for everyone.  A ``Memory`` sent to another process
(joblib's workers, scikit-learn's ``n_jobs``) carries its store object, which needs no
registration there.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from .api import dump, load
from .arguments import check_checksums, check_durable, check_mmap_mode, resolve_compression
from .errors import DependencyMissingError, InvalidArgumentError

try:
    import joblib  # type: ignore[import-untyped]
    from joblib._store_backends import (  # type: ignore[import-untyped]
        CacheWarning,
        FileSystemStoreBackend,
    )
except ImportError:
    raise DependencyMissingError(
        "brinery.joblib_store needs joblib: pip install 'brinery[joblib]'"
    ) from None

__all__ = ["BACKEND_NAME", "BrineryStoreBackend", "register"]

#: The name ``register()`` gives the store: ``Memory(location, backend="brinery")``.
BACKEND_NAME = "brinery"
#: The result's file in a call's folder (joblib's name: joblib's size and age accounting, which
#: ``reduce_size()`` uses, looks for it).
RESULT_FILE = "output.pkl"
#: What ``backend_options`` may hold: the first two are what ``Memory`` itself passes.
OPTIONS = ("compress", "mmap_mode", "checksums", "durable")


class BrineryStoreBackend(FileSystemStoreBackend):  # type: ignore[misc]
    """joblib's file-system store whose results are brinery files.

    ``backend_options``: ``compress`` (what ``brinery.dump`` takes; ``Memory``'s own
    ``compress=`` lands here), ``mmap_mode`` (``"r"``, ``"r+"`` or ``"c"``: the arrays of
    uncompressed results are mapped, as ``brinery.load(mmap_mode=...)`` maps them) and
    ``checksums`` (as for ``brinery.dump``) and ``durable`` (``False`` by default: a cache
    entry lost to a power cut is only computed again, so the waits for the disk are skipped,
    as joblib's own store skips them; the replacement of an entry stays atomic).
    """

    checksums: bool | None = None
    durable: bool = False

    def configure(
        self, location: str, verbose: int = 1, backend_options: dict[str, Any] | None = None
    ) -> None:
        """Checks the options now (a mistake shows when the ``Memory`` is made, not as a
        warning at every call that fails to cache), then lets joblib set up the folder."""
        options = dict(backend_options or {})
        unknown = sorted(name for name in options if name not in OPTIONS)
        if unknown:
            raise InvalidArgumentError(
                f"the brinery store takes the backend_options {', '.join(OPTIONS)}, "
                f"not {', '.join(map(repr, unknown))}"
            )
        compress = options.get("compress", False)
        resolve_compression(compress, None)  # raises on what dump would refuse
        mmap_mode = options.get("mmap_mode")
        check_mmap_mode(mmap_mode)
        checksums = options.get("checksums")
        check_checksums(checksums)
        durable = options.get("durable", False)
        check_durable(durable)
        super().configure(location, verbose, {"compress": compress, "mmap_mode": mmap_mode})
        if compress:
            self.mmap_mode = None  # joblib has warned that it is ignored: it is
        self.checksums = checksums
        self.durable = durable

    def dump_item(self, call_id: list[str], item: Any, verbose: int = 1) -> None:
        """Writes a call's result; a failure is a warning, as with joblib's own store: the
        call has its result, it only is not cached."""
        folder = os.path.join(self.location, *call_id)
        try:
            self.create_location(folder)
            if verbose > 10:
                print(f"Persisting in {folder}")
            dump(
                item,
                os.path.join(folder, RESULT_FILE),
                self.compress,
                checksums=self.checksums,
                durable=self.durable,
            )
        except Exception as error:
            warnings.warn(
                f"Unable to cache to disk with brinery: {type(error).__name__}: {error}",
                CacheWarning,
                stacklevel=2,
            )

    def load_item(
        self,
        call_id: list[str],
        verbose: int = 1,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Reads a call's result; ``KeyError`` if there is none (joblib's signal), brinery's
        errors if it is damaged (joblib then warns and calls the function again)."""
        path = os.path.join(self.location, *call_id, RESULT_FILE)
        if verbose > 1:
            print(f"[Memory] Loading {call_id[0]} from {path}")
        try:
            return load(path, mmap_mode=self.mmap_mode)
        except FileNotFoundError:
            raise KeyError(f"no cached result (it may have been cleared): {path}") from None


def register(name: str = BACKEND_NAME) -> None:
    """Makes the store known to joblib as ``name``: ``Memory(location, backend=name)``.
    Registering again is harmless."""
    joblib.register_store_backend(name, BrineryStoreBackend)
