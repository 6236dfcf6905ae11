"""Making matrices: mat, tensor, zeros, ones, full, randn, arange, linspace, from_numpy, and the
global random seed. The shape-taking factories take (nrow, ncol), a shape tuple, or one size n
(PyTorch's 1-D shape: a 1 x n row).

Every factory takes dtype= (float64 or float32 in any spelling: ag.float32, np.float32,
"float32"); without it a matrix gets the default dtype (ag.set_default_dtype), except that
from_numpy() keeps a float32 array's float32, as torch.from_numpy does."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Tuple, Type, Union

import numpy as np

from . import backends
from ._convert import plain_ndarray
from .backends.base import FLOAT32, FLOAT64, Storage, resolve_dtype
from .backends.recording import declare_scalars
from .matrix import Matrix, _flat

Size = Union[int, Sequence[int]]

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
    of a NumPy array given: unlike torch.tensor; ag.from_numpy keeps an array's float32). A
    Matrix's values of this backend and dtype are copied by the kernels (no trip through NumPy,
    so a compiled step may do it: the WGAN-GP penalty's interpolate is made this way)."""
    cls = _storage("mat", dtype)
    if isinstance(values, Matrix) and type(values.data) is cls:
        return Matrix(values.data.copy(), requires_grad=requires_grad)
    return Matrix(cls.from_values(values, "mat"), requires_grad=requires_grad)


def _check_shape(op: str, nrow: Any, ncol: Any, given: Any = None) -> None:
    shown = (nrow, ncol) if given is None else given
    for n in (nrow, ncol):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be integers, got {shown!r}")
        if n < 1:
            raise ValueError(f"{op}: sizes must be at least 1, got {shown!r}")
    cls = backends.current_storage()
    limit = getattr(cls, "max_elements", None)
    if limit is not None and int(nrow) * int(ncol) > limit:
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


def _size(op: str, nrow: Any, ncol: Any) -> Tuple[int, int, bool]:
    """(nrow, ncol, one_d) from (nrow, ncol), a shape tuple or a single size; sizes checked,
    and errors quote the shape as the caller gave it."""
    given = nrow if ncol is None else (nrow, ncol)
    if ncol is None:
        if isinstance(nrow, (tuple, list)):
            if len(nrow) == 1:
                nrow = nrow[0]
            elif len(nrow) == 2:
                nrow, ncol = nrow
            else:
                raise ValueError(f"{op}: a matrix has 2 dimensions, got the shape {given!r}")
        if ncol is None:
            _check_shape(op, 1, nrow, given)
            return 1, int(nrow), True
    _check_shape(op, nrow, ncol, given)
    return int(nrow), int(ncol), False


def _made(m: Matrix, one_d: bool) -> Matrix:
    return _flat(m) if one_d else m


def full(nrow: Any, ncol: Any = None, value: Optional[float] = None, requires_grad: bool = True,
         dtype: Any = None) -> Matrix:
    """An nrow x ncol matrix of value (rounded to float32 for dtype=float32); full((r, c), v)
    and full(n_as_tuple, v) as torch.full take the shape first."""
    if isinstance(nrow, (tuple, list)) and value is None:
        nrow, ncol, value = nrow, None, ncol
    if value is None:
        raise TypeError("full: missing the fill value (full(nrow, ncol, value) or full(shape, value))")
    return _full("full", nrow, ncol, value, requires_grad, dtype)


def _full(op: str, nrow: Any, ncol: Any, value: float, requires_grad: bool,
          dtype: Any = None) -> Matrix:
    cls = _storage(op, dtype)
    r, c, one_d = _size(op, nrow, ncol)
    return _made(Matrix(cls.full(r, c, float(value)), requires_grad), one_d)


def zeros(nrow: Any, ncol: Any = None, requires_grad: bool = True, dtype: Any = None) -> Matrix:
    """Zeros: zeros(nrow, ncol), zeros((nrow, ncol)) or zeros(n) (a 1 x n row)."""
    return _full("zeros", nrow, ncol, 0.0, requires_grad, dtype)


def ones(nrow: Any, ncol: Any = None, requires_grad: bool = True, dtype: Any = None) -> Matrix:
    """Ones, shaped as zeros()."""
    return _full("ones", nrow, ncol, 1.0, requires_grad, dtype)


def randn(nrow: Any, ncol: Any = None, requires_grad: bool = True,
          rng: Optional[np.random.Generator] = None, dtype: Any = None) -> Matrix:
    """Standard normal values from `rng`, or from the global generator of manual_seed(); drawn
    in float64 and rounded for float32, so a seed gives the same numbers in both dtypes.
    Shaped as zeros()."""
    cls = _storage("randn", dtype)
    r, c, one_d = _size("randn", nrow, ncol)
    storage = cls.randn(r, c, rng if rng is not None else _rng)
    return _made(Matrix(storage, requires_grad), one_d)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Matrix:
    """torch.tensor's defaults: no gradient unless asked, the dtype from the data (a float32
    array stays float32; anything else, integers included, takes the default dtype, as
    pyautograd stores floats only). A number is 1x1; 1-D data a 1 x n row that stands for
    PyTorch's 1-D tensor (compared with an n x 1 column it is read as a column, never broadcast
    into an n x n outer product); 2-D data keeps its shape. Always a copy."""
    if isinstance(data, Matrix):
        values: Any = data.numpy()
    elif isinstance(data, Storage):
        values = data.numpy()
    else:
        values = data
    if dtype is None and isinstance(values, (np.ndarray, np.generic)) and values.dtype == FLOAT32:
        dtype = FLOAT32
    one_d = np.ndim(values) == 1
    cls = _storage("tensor", dtype)
    return _made(Matrix(cls.from_values(values, "tensor"), requires_grad), one_d)


def arange(start: float, end: Optional[float] = None, step: float = 1, requires_grad: bool = False,
           dtype: Any = None) -> Matrix:
    """start, start + step, ... below end (arange(n) is 0 .. n-1), as torch.arange: a 1 x n row."""
    if end is None:
        start, end = 0, start
    for name, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v):
            raise TypeError(f"arange: {name} must be a finite number, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    count = math.ceil((end - start) / step)
    if count < 1:
        raise ValueError(f"arange: no values from {start} to {end} in steps of {step}")
    values = start + step * np.arange(count, dtype=np.float64)
    return _made(Matrix(_storage("arange", dtype).from_values(values, "arange"), requires_grad), True)


def linspace(start: float, end: float, steps: int, requires_grad: bool = False,
             dtype: Any = None) -> Matrix:
    """steps evenly spaced values from start to end (both included), as torch.linspace: 1 x steps."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"linspace: steps must be a positive integer, got {steps!r}")
    values = np.linspace(float(start), float(end), int(steps))
    return _made(Matrix(_storage("linspace", dtype).from_values(values, "linspace"),
                        requires_grad), True)


float32: np.dtype = FLOAT32
float64: np.dtype = FLOAT64
