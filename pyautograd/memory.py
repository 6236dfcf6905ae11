"""The C backend's buffer pool, seen from Python: how much it caches, and giving it back.

Every C buffer of 16 KiB and more (and every packing buffer of the matrix product) comes from a
pool of size-classed free lists (csrc/pool.c), so that a training loop reuses the same memory
step after step instead of faulting in fresh pages at every op. The pool keeps at most
`cache_info()["limit"]` bytes of freed buffers (256 MiB unless set otherwise) and hands them
back on `empty_cache()`, as `torch.cuda.empty_cache()` does for PyTorch's caching allocator.
"""
from __future__ import annotations

from typing import Dict

from . import backends


def empty_cache() -> int:
    """Return every buffer the pool holds for reuse to the system; returns the bytes freed
    (0 where the C backend is not built)."""
    if not backends.c_available():
        return 0
    from .backends.carray import empty_cache as _empty
    return _empty()


def set_cache_limit(nbytes: int) -> int:
    """Keep at most `nbytes` of freed buffers for reuse (0: keep none); returns the old limit."""
    if not backends.c_available():
        raise RuntimeError(f"set_cache_limit: the C backend is not available; {backends.BUILD_HINT}")
    from .backends.carray import set_cache_limit as _set
    return _set(nbytes)


def cache_info() -> Dict[str, int]:
    """{'cached': bytes of freed buffers held for reuse now, 'limit': the most it keeps}."""
    if not backends.c_available():
        return {"cached": 0, "limit": 0}
    from .backends.carray import cache_info as _info
    return _info()
