"""numba's ``njit`` with its on-disk cache in insitu's user cache folder, never in the source tree.

``numba.njit(cache=True)`` writes ``__pycache__/*.nbi, *.nbc`` next to the module it
compiles (here: inside the source tree, or inside site-packages for an installed copy).
The decorator of this module compiles exactly as ``numba.njit`` does and keeps the
cache files under ``platformdirs.user_cache_dir("insitu")/numba`` (the folder the
co-simulation's build cache lives in), without touching ``numba.config`` or the
environment, so other numba code in the same process is unaffected.

Stale code: numba checks a cached kernel against its own source file only, so a kernel
that calls one from another file would keep the old callee after an edit. The cache
folder is therefore named after a hash of every module whose kernels call each other
(:data:`KERNEL_MODULES`); an edit to any of them starts a fresh folder.

Caching goes through numba's cache-locator classes (``numba.core.caching``); should a
numba version lack them, the kernels are compiled in every process instead (slower to
start, same results).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: modules of golden/ whose kernels call each other; the cache folder hashes their sources
KERNEL_MODULES = ("jit.py", "noise.py", "fastpath.py", "compiled_step.py", "plan_kernel.py")


def _cache_dir() -> Path:
    import platformdirs

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in KERNEL_MODULES:
        p = here / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return Path(platformdirs.user_cache_dir("insitu")) / "numba" / h.hexdigest()[:16]


try:
    import numba
    from numba.core import caching

    class _UserCacheLocator(caching.UserProvidedCacheLocator):
        """numba's locator for a user-given folder, pointed at :func:`_cache_dir`."""

        root = None

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            if _UserCacheLocator.root is None:
                _UserCacheLocator.root = _cache_dir()
            self._cache_path = str(_UserCacheLocator.root /
                                   self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            # the source-file mixin's checks, without UserProvidedCacheLocator's
            # requirement that numba.config.CACHE_DIR be set
            return caching._SourceFileBackedLocatorMixin.from_function.__func__(
                cls, py_func, py_file)

    class _CacheImpl(caching.CompileResultCacheImpl):
        _locator_classes = (_UserCacheLocator,)

    class _FunctionCache(caching.FunctionCache):
        _impl_class = _CacheImpl

    AVAILABLE = True
except (ImportError, AttributeError):  # pragma: no cover - numba is a declared dependency
    numba = None
    AVAILABLE = False


def njit(*args, **kwargs):
    """``numba.njit`` (same arguments, without ``cache``), cached in the user cache folder.

    Without numba the function is returned unchanged (the numpy engine needs no kernels).
    """
    def wrap(f):
        if numba is None:
            return f
        dispatcher = numba.njit(**kwargs)(f)
        if AVAILABLE:
            try:
                dispatcher._cache = _FunctionCache(f)
            except (AttributeError, TypeError, RuntimeError, OSError):
                pass  # no cache: compiled in every process
        return dispatcher

    return wrap(args[0]) if args and callable(args[0]) else wrap
