"""The kernels' numba cache lives in the user cache folder, never next to the source."""

from pathlib import Path

import numpy as np
import platformdirs
from insitu.golden import compiled_step, fastpath, jit, noise


def test_kernel_caches_stay_out_of_the_source_tree():
    src = Path(fastpath.__file__).resolve().parent
    user = Path(platformdirs.user_cache_dir("insitu")).resolve()
    out = np.empty(3)
    noise.normals_numba(np.uint64(5), np.arange(3, dtype=np.int64), out)  # compiles or loads
    assert np.array_equal(out, noise.normals(np.uint64(5), np.arange(3)))
    for kernel in (fastpath.apply_rank1, fastpath.read_convert, compiled_step.train_block,
                   noise.normals_numba):
        path = Path(kernel._cache._cache_path).resolve()
        assert user in path.parents, path
        assert src not in path.parents and path != src
    assert not list(src.rglob("*.nbi")) and not list(src.rglob("*.nbc"))


def test_cache_folder_follows_every_kernel_module():
    root = jit._cache_dir()
    assert root.parent.name == "numba" and len(root.name) == 16
    assert set(jit.KERNEL_MODULES) >= {"fastpath.py", "compiled_step.py", "noise.py"}
