"""VerifyArray: every storage op runs on the C backend and on the pure-Python reference, and the
two results are compared. A difference beyond the op's tolerance raises BackendDivergenceError
naming the op, the shapes, the largest absolute and relative error, and the line of user code
that created the Matrix whose op diverged (its forward, or its reverse rule in a backward).

Tolerances: ops that are exact in IEEE arithmetic (+ - * /, comparisons, transpose, sums in the
same order, ...) must agree to the bit (NaN with NaN); C's vectorised exp, and ops built on it,
within 4 ulp, where an ulp of a subnormal result is the smallest subnormal, 2**-1074 (a relative
bound alone would reject C's correct 1-ulp differences there); a matrix product within
(k + 2) * eps * (|A| @ |B|), the rounding bound of k products, and a product accumulated into C
within (k + 3) * eps * (|A| @ |B| + |C before|), because C's kernels may add into C as they go.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np

from ..errors import BackendDivergenceError
from .base import FLOAT32, FLOAT64, Storage
from .carray import CArray, CArray32
from .list2d import List2D, List2D32
from .recording import internal_read, plain_number

_EPS = np.finfo(np.float64).eps
_TINY = 5e-324  # 2**-1074, the smallest subnormal: the absolute size of one ulp below 2**-1022
_EPS32 = float(np.finfo(np.float32).eps)
_TINY32 = 2.0 ** -149  # float32's smallest subnormal
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_site() -> Optional[str]:
    """'file:line' of the innermost frame outside the pyautograd package, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        if not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None
_ULP_OPS = {"exp", "sigmoid", "tanh", "log", "pow", "dsigmoid", "axpy"}  # rtol 4 ulp




def _check(op: str, shapes, c: np.ndarray, p: np.ndarray, bound: Optional[np.ndarray] = None,
           eps: float = _EPS, tiny: float = _TINY) -> None:
    c, p = c.astype(np.float64, copy=False), p.astype(np.float64, copy=False)
    if c.shape != p.shape:
        raise BackendDivergenceError(f"{op}: C gave shape {c.shape}, Python {p.shape}")
    same_nan = np.isnan(c) == np.isnan(p)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(np.isnan(c) & np.isnan(p), 0.0, np.abs(c - p))
        diff = np.where((c == p), 0.0, diff)  # equal infinities
        if bound is None:
            if op.split()[-1] in _ULP_OPS:
                bound = 4 * eps * np.maximum(np.abs(c), np.abs(p)) + 4 * tiny
            else:
                bound = np.zeros(c.shape)
        bound = np.nan_to_num(bound, nan=0.0, posinf=np.inf)  # 0 * inf is no tolerance
        bad = ~same_nan | ~(diff <= bound)
    if bad.any():
        scale = np.maximum(np.abs(c), np.abs(p))
        with np.errstate(all="ignore"):
            rel = np.where(scale > 0, diff / scale, np.inf)
        diff_max = float(np.nanmax(np.where(bad, diff, 0.0))) if (bad & ~np.isnan(diff)).any() else float("nan")
        rel_max = float(np.nanmax(np.where(bad, rel, 0.0))) if (bad & ~np.isnan(rel)).any() else float("nan")
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        # found in the forward pass at the user's line; backward relocates it to the node
        raise BackendDivergenceError.located(
            f"{op} on shapes {', '.join(map(str, shapes))}",
            f"largest absolute error {diff_max:.3g}, largest relative error {rel_max:.3g} "
            f"({int(bad.sum())} of {bad.size} values; first at {first}: C {float(c[first])!r}, "
            f"Python {float(p[first])!r})", "the forward pass", user_site())


def _values(c: CArray) -> np.ndarray:
    """The C half's values, read for verify's own comparison: while compile records a step this
    read feeds no kernel, so the recording layer lets it through (a read by the step is refused)."""
    with internal_read():
        return c.numpy()


class VerifyArray(Storage):
    """A pair (CArray, List2D) kept in step: every result is checked before it is returned, and
    the Python side then takes C's values, so that each op is checked on identical inputs (a
    difference within one op's tolerance must not be blamed on the next, exact, op)."""

    __slots__ = ("c", "py", "site")
    backend_name = "verify"
    dtype = FLOAT64
    _C, _PY, _EPS, _TINY = CArray, List2D, _EPS, _TINY  # the pair's classes and tolerances

    def __init__(self, c: CArray, py: List2D, op: str = "", shapes=(), bound=None):
        self.nrow, self.ncol = c.nrow, c.ncol
        self.version = 0
        self._base = None
        self.site = user_site()  # the user's line that made this value, for divergence reports
        if type(c) is not self._C:  # an op that promoted (float32 with float64): follow it
            self.__class__ = self.with_dtype(c.dtype)
        self.c = c
        if op:
            values = _values(c)
            _check(op, shapes, values, py.numpy(), bound, self._EPS, self._TINY)
            py = self._PY.from_array(values)
        self.py = py

    def _resync(self) -> None:
        self.py = self._PY.from_array(_values(self.c))

    def _check(self, op, shapes, bound=None) -> None:
        _check(op, shapes, _values(self.c), self.py.numpy(), bound, self._EPS, self._TINY)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "VerifyArray":
        return cls(cls._C.from_array(arr), cls._PY.from_array(arr))

    @classmethod
    def share(cls, arr: np.ndarray) -> "VerifyArray":
        """Two halves cannot both be arr: a copy, as from_array."""
        return cls.from_array(arr)

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "VerifyArray":
        return cls(cls._C.full(nrow, ncol, value), cls._PY.full(nrow, ncol, plain_number(value)), "full",
                   ((nrow, ncol),))

    def tolist(self) -> list:
        return self.c.tolist()

    def numpy(self) -> np.ndarray:
        return self.c.numpy()

    def item(self) -> float:
        """The C half's value (the halves agree): while compile records a step, the value a
        recorded kernel may take (see backends/recording.py)."""
        return self.c.item()

    def copy(self) -> "VerifyArray":
        return type(self)(self.c.copy(), self.py.copy())

    def _binary(self, op, other, shape):
        return type(self)(self.c._binary(op, other.c, shape), self.py._binary(op, other.py, shape),
                           op, (self.shape, other.shape))

    def _binary_scalar(self, op, s, reverse):
        s_py = plain_number(s)
        return type(self)(self.c._binary_scalar(op, s, reverse), self.py._binary_scalar(op, s_py, reverse),
                           f"{op} with {s_py!r}", (self.shape,))

    def _unary(self, op):
        return type(self)(self.c._unary(op), self.py._unary(op), op, (self.shape,))

    def _pow(self, p):
        p_py = plain_number(p)
        return type(self)(self.c._pow(p), self.py._pow(p_py), f"** {p_py!r}: pow", (self.shape,))

    def _dsigmoid(self, grad):
        return type(self)(self.c._dsigmoid(grad.c), self.py._dsigmoid(grad.py), "dsigmoid",
                           (self.shape, grad.shape))

    def _transpose(self):
        # C's transpose is a view of its parent's buffer, Python's a copy: give the pair a
        # buffer of its own, so that an in-place change of the parent cannot part them
        out = type(self)(self.c._transpose().copy(), self.py._transpose(), "transpose", (self.shape,))
        out._base = self if self._base is None else self._base  # a view for versions, as C's
        return out

    def _reduce(self, op, axis):
        c, p = self.c._reduce(op, axis), self.py._reduce(op, axis)
        bound = None
        if op != "max":  # same summation order, but keep a rounding margin for the mean's division
            with np.errstate(invalid="ignore"):
                values = np.abs(_values(self.c).astype(np.float64))
                bound = 4 * self._EPS * values.sum(axis=axis, keepdims=True)
        return type(self)(c, p, f"{op}(axis={axis})", (self.shape,), bound)

    def _matmul_bound(self, a, b, ta, tb, k):
        absa = np.abs(_values(a.c)).astype(np.float64)
        absb = np.abs(_values(b.c)).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            return (k + 2) * self._EPS * ((absa.T if ta else absa) @ (absb.T if tb else absb))

    def _matmul(self, other, ta, tb, m, n, k):
        c, p = self.c._matmul(other.c, ta, tb, m, n, k), self.py._matmul(other.py, ta, tb, m, n, k)
        return type(self)(c, p, "matmul", (self.shape, other.shape),
                           self._matmul_bound(self, other, ta, tb, k))

    def _add_matmul(self, a, b, ta, tb, m, n, k):
        before = np.abs(_values(self.c).astype(np.float64))  # |C| before the product
        with np.errstate(invalid="ignore", over="ignore"):
            bound = self._matmul_bound(a, b, ta, tb, k + 1) + (k + 3) * self._EPS * before
        self.c._add_matmul(a.c, b.c, ta, tb, m, n, k)
        self.py._add_matmul(a.py, b.py, ta, tb, m, n, k)
        self._check("matmul (accumulate)", (a.shape, b.shape), bound)
        self._resync()

    def _select(self, op, axis):
        return type(self)(self.c._select(op, axis), self.py._select(op, axis), f"{op}(axis={axis})",
                           (self.shape,))

    def _gather(self, rows, cols):
        return type(self)(self.c._gather(rows, cols), self.py._gather(rows, cols), "gather",
                           (self.shape,))

    def _scatter(self, rows, cols, block, accumulate):
        self.c._scatter(rows, cols, block.c, accumulate)
        self.py._scatter(rows, cols, block.py, accumulate)
        self._check("scatter", (self.shape, block.shape))
        self._resync()

    def _reshape(self, nrow, ncol):
        return type(self)(self.c._reshape(nrow, ncol), self.py._reshape(nrow, ncol), "reshape",
                           (self.shape,))

    def _where(self, a, b, shape):
        return type(self)(self.c._where(a.c, b.c, shape), self.py._where(a.py, b.py, shape),
                           "where", (self.shape, a.shape, b.shape))

    def _fill(self, value):
        self.c._fill(value)
        self.py._fill(plain_number(value))

    def _random_mask(self, threshold, offset):
        self.c._random_mask(threshold, offset)
        self.py._random_mask(threshold, plain_number(offset))
        self._check(f"random mask at offset {plain_number(offset)!r}", (self.shape,))

    def _inplace(self, op, other):
        self.c._inplace(op, other.c)
        self.py._inplace(op, other.py)
        self._check(f"in-place {op}", (self.shape, other.shape))
        self._resync()

    def _inplace_scalar(self, op, s):
        self.c._inplace_scalar(op, s)
        self.py._inplace_scalar(op, plain_number(s))
        self._check(f"in-place {op} with {plain_number(s)!r}", (self.shape,))
        self._resync()

    def _axpy(self, alpha, other):
        self.c._axpy(alpha, other.c)
        self.py._axpy(plain_number(alpha), other.py)
        self._check("axpy", (self.shape, other.shape),
                    4 * self._EPS * (np.abs(_values(self.c)) + np.abs(plain_number(alpha) * _values(other.c))))
        self._resync()


class VerifyArray32(VerifyArray):
    """The verify pair in float32: CArray32 against List2D32, with float32's tolerances."""

    __slots__ = ()
    dtype = FLOAT32
    _C, _PY, _EPS, _TINY = CArray32, List2D32, _EPS32, _TINY32


VerifyArray.variants = VerifyArray32.variants = {FLOAT64: VerifyArray, FLOAT32: VerifyArray32}
