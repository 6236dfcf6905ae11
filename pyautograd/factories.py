"""Making matrices: zeros, ones, full, randn, and the global random seed."""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import backends
from ._convert import plain_ndarray
from .matrix import Matrix

_rng: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind randn() and the layers' initialisation (both backends alike)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The global generator that manual_seed() seeds."""
    return _rng


def _check_shape(op: str, nrow: int, ncol: int) -> None:
    for n in (nrow, ncol):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be integers, got ({nrow!r}, {ncol!r})")
        if n < 1:
            raise ValueError(f"{op}: sizes must be at least 1, got ({nrow}, {ncol})")
    cls = backends.current_storage()
    if getattr(cls, "max_elements", None) is not None and int(nrow) * int(ncol) > cls.max_elements:
        from .backends.list2d import check_size
        check_size(op, int(nrow), int(ncol))


def from_numpy(arr: np.ndarray, requires_grad: bool = False) -> Matrix:
    """A Matrix over a NumPy array's memory, as torch.from_numpy: on the C backend a writeable,
    C-contiguous, 2-D float64 array is shared, not copied (writing to one changes the other);
    any other array, or the Python backend, gets a float64 copy."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(arr).__name__}")
    arr = plain_ndarray(arr)
    cls = backends.current_storage()
    shareable = (arr.ndim == 2 and arr.dtype == np.float64 and arr.flags.c_contiguous
                 and arr.flags.writeable and arr.size > 0)
    if shareable and hasattr(cls, "share"):
        return Matrix(cls.share(arr), requires_grad)
    return Matrix(arr, requires_grad)


def full(nrow: int, ncol: int, value: float, requires_grad: bool = True) -> Matrix:
    return _full("full", nrow, ncol, value, requires_grad)


def _full(op: str, nrow: int, ncol: int, value: float, requires_grad: bool) -> Matrix:
    _check_shape(op, nrow, ncol)
    return Matrix(backends.current_storage().full(int(nrow), int(ncol), float(value)), requires_grad)


def zeros(nrow: int, ncol: int, requires_grad: bool = True) -> Matrix:
    return _full("zeros", nrow, ncol, 0.0, requires_grad)


def ones(nrow: int, ncol: int, requires_grad: bool = True) -> Matrix:
    return _full("ones", nrow, ncol, 1.0, requires_grad)


def randn(nrow: int, ncol: int, requires_grad: bool = True,
          rng: Optional[np.random.Generator] = None) -> Matrix:
    """Standard normal values from `rng`, or from the global generator of manual_seed()."""
    _check_shape("randn", nrow, ncol)
    storage = backends.current_storage().randn(int(nrow), int(ncol), rng if rng is not None else _rng)
    return Matrix(storage, requires_grad)
