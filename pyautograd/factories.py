"""Making matrices: mat, zeros, ones, full, randn, from_numpy, and the global random seed.

Every factory takes dtype= (float64 or float32 in any spelling: ag.float32, np.float32,
"float32"); without it a matrix gets the default dtype (ag.set_default_dtype), except that
from_numpy() keeps a float32 array's float32, as torch.from_numpy does."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Type

import numpy as np

from . import backends
from ._convert import plain_ndarray
from .backends.base import FLOAT32, FLOAT64, Storage, resolve_dtype
from .backends.recording import declare_scalars
from .matrix import Matrix

_rng: np.random.Generator = np.random.default_rng()
STREAM_START_BITS = 52  # a seed's start in the random stream: below 2^52, so positions stay exact


def _stream_start(seed: Any) -> int:
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]) >> (64 - STREAM_START_BITS)


_stream = [_stream_start(None)]  # the position in the counter-based stream (dropout's masks)


def manual_seed(seed: int) -> None:
    """Seed the generator behind randn() and the layers' initialisation, and the counter-based
    stream behind dropout's masks (both backends alike)."""
    global _rng
    _rng = np.random.default_rng(seed)
    _stream[0] = _stream_start(seed)


class _Draws:
    """How a compiled step's replay takes `n` fresh positions of the random stream, in the
    order eager execution takes them (recording.declare_scalars calls it back)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self) -> Tuple[float]:
        start = _stream[0]
        _stream[0] = start + self.n
        return (float(start),)

    @staticmethod
    def snapshot() -> Callable[[], None]:
        """A function that puts the stream back where it is now (verify's checked replay)."""
        position = _stream[0]
        return lambda: _stream.__setitem__(0, position)


def random_offset(n: int) -> float:
    """The stream's position for `n` draws (a whole number below 2^53, as a float, handed to
    Storage.random_mask), advanced past them; declared while compile records a step, so that
    each replay takes fresh positions as eager execution would."""
    (offset,) = _Draws(n)()
    return declare_scalars((offset,), _Draws(n), ("random", n))[0]


def generator() -> np.random.Generator:
    """The global generator that manual_seed() seeds."""
    return _rng


def _storage(op: str, dtype: Any) -> Type[Storage]:
    """The current backend's storage class for dtype (the default dtype's when None)."""
    cls = backends.current_storage()
    if dtype is None:
        return cls
    resolved = resolve_dtype(dtype, op)
    return cls if cls.dtype is resolved else cls.with_dtype(resolved)


def mat(values: Any, requires_grad: bool = True, dtype: Any = None) -> Matrix:
    """Matrix(values, requires_grad) in dtype (the default dtype when None, whatever the dtype
    of a NumPy array given: unlike torch.tensor; ag.from_numpy keeps an array's float32)."""
    return Matrix(_storage("mat", dtype).from_values(values, "mat"), requires_grad=requires_grad)


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


def from_numpy(arr: np.ndarray, requires_grad: bool = False, dtype: Any = None) -> Matrix:
    """A Matrix over a NumPy array's memory, as torch.from_numpy, in the array's dtype (float64
    or float32; dtype= may ask for the other, which copies).

    On the C backend a writeable, aligned, C-contiguous, 2-D float64 or float32 array is shared,
    not copied: writing to one changes the other. Anything else gets a copy: a read-only,
    non-contiguous, misaligned or 1-D array (a copy in its own dtype), an array of another dtype
    (int, float16: a copy in the default dtype), and every array on the Python backend (whose
    lists cannot view memory)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(arr).__name__}")
    arr = plain_ndarray(arr)
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (FLOAT64, FLOAT32) else None
    cls = _storage("from_numpy", dtype)
    shareable = (arr.ndim == 2 and arr.dtype == cls.dtype and arr.flags.c_contiguous
                 and arr.flags.aligned and arr.flags.writeable and arr.size > 0)
    if shareable:  # shared on the C backend; the others copy (Storage.share)
        return Matrix(cls.share(arr), requires_grad)
    return Matrix(cls.from_values(arr, "from_numpy"), requires_grad)


def full(nrow: int, ncol: int, value: float, requires_grad: bool = True,
         dtype: Any = None) -> Matrix:
    """An nrow x ncol matrix of value (rounded to float32 for dtype=float32)."""
    return _full("full", nrow, ncol, value, requires_grad, dtype)


def _full(op: str, nrow: int, ncol: int, value: float, requires_grad: bool,
          dtype: Any = None) -> Matrix:
    cls = _storage(op, dtype)
    _check_shape(op, nrow, ncol)
    return Matrix(cls.full(int(nrow), int(ncol), float(value)), requires_grad)


def zeros(nrow: int, ncol: int, requires_grad: bool = True, dtype: Any = None) -> Matrix:
    return _full("zeros", nrow, ncol, 0.0, requires_grad, dtype)


def ones(nrow: int, ncol: int, requires_grad: bool = True, dtype: Any = None) -> Matrix:
    return _full("ones", nrow, ncol, 1.0, requires_grad, dtype)


def randn(nrow: int, ncol: int, requires_grad: bool = True,
          rng: Optional[np.random.Generator] = None, dtype: Any = None) -> Matrix:
    """Standard normal values from `rng`, or from the global generator of manual_seed(); drawn
    in float64 and rounded for float32, so a seed gives the same numbers in both dtypes."""
    cls = _storage("randn", dtype)
    _check_shape("randn", nrow, ncol)
    storage = cls.randn(int(nrow), int(ncol), rng if rng is not None else _rng)
    return Matrix(storage, requires_grad)


float32: np.dtype = FLOAT32
float64: np.dtype = FLOAT64
