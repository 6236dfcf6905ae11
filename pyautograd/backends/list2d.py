"""List2D: the pure-Python storage backend, the readable reference for the C kernels.

Every value is a Python float in a list of rows. Python raises where IEEE 754 returns a value
(1/0, exp(1000), (-8) ** 0.5 ...); the helpers below return what C and NumPy return instead.

List2D32 emulates float32 on the same code: every value it holds is rounded to the nearest
float32 (a result computed in double and rounded once is the correctly rounded float32 result
for + - * / and sqrt, and what the C kernels' libm functions give); scalars are rounded before
use, as the C kernels' float arguments are, and sums accumulate in float32 in the C kernels'
order, so that both backends agree to the bit wherever the C kernels are exact.
"""
from __future__ import annotations

import math
import operator
from functools import reduce
from typing import Callable, List, Optional

import numpy as np

from .base import BINARY_OPS, FLOAT32, FLOAT64, UNARY_OPS, Storage

INF = math.inf
NAN = math.nan
# The most values one List2D may hold: 2**27 values are already 1 GiB of list slots before a
# single float is stored, and minutes of Python loops per op. Beyond it a MemoryError names the
# size at once, instead of building rows until the memory runs out.
MAX_ELEMENTS = 2 ** 27


def check_size(op: str, nrow: int, ncol: int) -> None:
    """MemoryError naming the op and the shape when nrow x ncol is beyond MAX_ELEMENTS."""
    count = nrow * ncol
    if count > MAX_ELEMENTS:
        raise MemoryError(
            f"{op}: a ({nrow}, {ncol}) matrix has {count:,} values, more than the pure-Python "
            f"backend holds ({MAX_ELEMENTS:,}; it would need {8 * count / 2 ** 30:,.1f} GiB for "
            f"the list slots alone); use the C backend for matrices this large")


def ieee_div(x: float, y: float) -> float:
    """x / y with IEEE results for a zero divisor: ±inf, or nan for 0/0 and nan/0."""
    if y == 0.0:
        if x == 0.0 or x != x:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)
    return x / y


def ieee_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def ieee_log(x: float) -> float:
    if x > 0.0:
        return math.log(x)  # log(inf) = inf
    if x == 0.0:
        return -INF
    return NAN  # negative or nan


def ieee_pow(x: float, p: float) -> float:
    """x ** p as C's pow: nan for a negative base and a non-integer exponent, ±inf on overflow;
    p = 2 is x * x and p = 0.5 is sqrt, as in NumPy (so (-inf) ** 0.5 is nan, (-0.0) ** 0.5 is -0.0)."""
    if p == 2.0:
        return x * x  # exactly rounded, as NumPy's square; libm's pow may be 1 ulp off
    if p == 0.5:
        return math.sqrt(x) if (x >= 0.0 or x != x) else (x if x == 0.0 else NAN)
    try:
        return math.pow(x, p)
    except OverflowError:
        odd = p == int(p) and int(p) % 2 == 1
        return -INF if (x < 0 and odd) else INF
    except ValueError:  # 0 ** negative, or negative ** non-integer
        if x == 0.0:
            odd = p == int(p) and int(p) % 2 == 1
            return math.copysign(INF, x) if odd else INF
        return NAN


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), never overflowing: for x < 0 it is e^x / (1 + e^x)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = ieee_exp(x)  # x < 0 or nan
    return e / (1.0 + e)


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (x if x != x else 0.0))


def _log1p(x: float) -> float:
    """log(1 + x), with C's -inf at -1 and nan below."""
    if x > -1.0 or x != x:
        return math.log1p(x)  # log1p(inf) = inf
    return -INF if x == -1.0 else NAN


def _expm1(x: float) -> float:
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def _trig(fn):
    """libm's sin or cos (the C kernels call the same functions), with C's nan at +-inf where
    Python's math raises."""
    def element(x: float) -> float:
        return fn(x) if x - x == 0.0 else NAN
    return element


def _select(op: str, values: List[float]) -> float:
    """min, argmax or argmin of a sequence: the first NaN wins, then the first of equal values."""
    best = 0
    for i in range(1, len(values)):
        x, b = values[i], values[best]
        if b != b:
            break
        if x != x or (x > b if op == "argmax" else x < b):
            best = i
    return values[best] if op == "min" else float(best)


def _relu(x: float) -> float:
    return x if (x > 0.0 or x != x) else 0.0


def _max(values) -> float:
    """Largest value, nan if any value is nan (NumPy's rule)."""
    best = -INF
    for v in values:
        if v > best or v != v:
            best = v
            if v != v:
                break
    return best


SUM_BLOCK = 128  # as PAG_SUM_BLOCK in csrc/reduce.c


def _sum_block(x: List[float], lo: int, hi: int) -> float:
    """x[lo:hi] (at most SUM_BLOCK values) summed as csrc/reduce.c's sum_block: 8 lanes (lane u
    takes values u, u + 8, ...), the lanes pairwise, then the tail in order."""
    end = hi - (hi - lo) % 8
    l0, l1, l2, l3, l4, l5, l6, l7 = (reduce(operator.add, x[lo + u:end:8], 0.0) for u in range(8))
    s = ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
    for i in range(end, hi):
        s += x[i]
    return s


def pairwise_sum(x: List[float], lo: int = 0, hi: Optional[int] = None) -> float:
    """Sum of x[lo:hi] in csrc/reduce.c's pairwise order (bit for bit the C result): rounding
    error that grows with log(n), as NumPy's, where a running sum's grows with n."""
    hi = len(x) if hi is None else hi
    n = hi - lo
    if n <= SUM_BLOCK:
        return _sum_block(x, lo, hi)
    half = n // 2
    half -= half % 8
    return pairwise_sum(x, lo, lo + half) + pairwise_sum(x, lo + half, hi)


def _column_sum(values) -> float:
    """Values added in order, as csrc/reduce.c sums a column (never Python's sum(), which
    compensates since Python 3.12 and would then differ from C)."""
    return reduce(operator.add, values, 0.0)


_BINARY: dict = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": ieee_div,
    "lt": lambda x, y: 1.0 if x < y else 0.0, "le": lambda x, y: 1.0 if x <= y else 0.0,
    "gt": lambda x, y: 1.0 if x > y else 0.0, "ge": lambda x, y: 1.0 if x >= y else 0.0,
    "eq": lambda x, y: 1.0 if x == y else 0.0, "ne": lambda x, y: 1.0 if x != y else 0.0,
    "maximum": lambda x, y: x if (x > y or x != x) else y,
    "minimum": lambda x, y: x if (x < y or x != x) else y,
    "pow": ieee_pow,
}
_UNARY: dict = {
    "neg": operator.neg, "exp": ieee_exp, "log": ieee_log, "tanh": math.tanh,
    "sigmoid": sigmoid, "relu": _relu, "abs": abs, "sign": _sign,
    "sqrt": lambda x: ieee_pow(x, 0.5), "log1p": _log1p, "expm1": _expm1, "square": lambda x: x * x,
    "sin": _trig(math.sin), "cos": _trig(math.cos),
}


def _check_covers(kind: str, table: dict, names: tuple) -> None:
    """The Python kernels cover exactly the contract's list of ops (backends/base.py)."""
    if set(table) != set(names):
        raise ImportError(f"list2d: the {kind} ops {sorted(set(names) ^ set(table))} are in one of "
                          "base.py's list and this backend's table but not both")


_check_covers("binary", _BINARY, BINARY_OPS)
_check_covers("unary", _UNARY, UNARY_OPS)


class List2D(Storage):
    """A 2-D float64 matrix as a list of rows of Python floats."""

    __slots__ = ("vals",)
    backend_name = "python"
    dtype = FLOAT64
    max_elements = MAX_ELEMENTS

    def __init__(self, nrow: int, ncol: int, vals: List[List[float]]):
        self.nrow = nrow
        self.ncol = ncol
        self.vals = vals
        self.version = 0
        self._base = None

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "List2D":
        return cls(arr.shape[0], arr.shape[1], arr.tolist())

    @classmethod
    def share(cls, arr: np.ndarray) -> "List2D":
        """Lists of Python floats cannot view an array's memory: a copy, as from_array."""
        return cls.from_array(arr)

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "List2D":
        check_size("full", nrow, ncol)
        value = float(value)
        return cls(nrow, ncol, [[value] * ncol for _ in range(nrow)])

    def tolist(self) -> list:
        return [row[:] for row in self.vals]

    def numpy(self) -> np.ndarray:
        """A new array of the dtype (a copy: Python lists cannot be viewed)."""
        return np.array(self.vals, dtype=self.dtype)

    def copy(self) -> "List2D":
        return type(self)(self.nrow, self.ncol, self.tolist())

    def _map(self, fn: Callable[[float], float]) -> "List2D":
        return type(self)(self.nrow, self.ncol, [[fn(x) for x in row] for row in self.vals])

    # -- primitives of the contract -------------------------------------------------------------
    def _binary(self, op: str, other: "List2D", shape) -> "List2D":
        fn = _BINARY[op]
        nrow, ncol = shape
        check_size(op, nrow, ncol)  # broadcasting (n, 1) with (1, n) makes n * n values
        rows = []
        for i in range(nrow):
            ra = self.vals[i if self.nrow > 1 else 0]
            rb = other.vals[i if other.nrow > 1 else 0]
            if len(ra) < ncol:
                ra = ra * ncol
            if len(rb) < ncol:
                rb = rb * ncol
            rows.append([fn(x, y) for x, y in zip(ra, rb)])
        return type(self)(nrow, ncol, rows)

    def _binary_scalar(self, op: str, s: float, reverse: bool) -> "List2D":
        fn = _BINARY[op]
        if reverse:
            return self._map(lambda x: fn(s, x))
        return self._map(lambda x: fn(x, s))

    def _unary(self, op: str) -> "List2D":
        return self._map(_UNARY[op])

    def _pow(self, p: float) -> "List2D":
        return self._map(lambda x: ieee_pow(x, p))

    def _rows_of(self, transpose: bool) -> List[List[float]]:
        return [list(col) for col in zip(*self.vals)] if transpose else self.vals

    def _matmul(self, other: "List2D", ta: bool, tb: bool, m: int, n: int, k: int) -> "List2D":
        check_size("matmul", m, n)
        a = self._rows_of(ta)
        b_cols = other._rows_of(not tb)  # columns of op(other)
        return type(self)(m, n, [[sum(x * y for x, y in zip(row, col)) for col in b_cols] for row in a])

    def _add_matmul(self, a: "List2D", b: "List2D", ta: bool, tb: bool, m: int, n: int,
                    k: int) -> None:
        product = a._matmul(b, ta, tb, m, n, k)
        self._inplace("add", product)

    def _transpose(self) -> "List2D":
        """A copy, that counts as a view for versions (as the C backend's), so that both
        backends refuse the same backward after an in-place change."""
        out = type(self)(self.ncol, self.nrow, self._rows_of(True))
        out._base = self if self._base is None else self._base
        return out

    def _reduce(self, op: str, axis: Optional[int]) -> "List2D":
        summed = _column_sum if axis == 0 else pairwise_sum
        if op == "max":
            fn = _max
        elif op == "sum":
            fn = summed
        else:
            def fn(values):
                return summed(values) / len(values)
        if axis is None:
            return type(self)(1, 1, [[fn([x for row in self.vals for x in row])]])
        if axis == 0:
            return type(self)(1, self.ncol, [[fn(col) for col in zip(*self.vals)]])
        return type(self)(self.nrow, 1, [[fn(row)] for row in self.vals])

    def _select(self, op: str, axis: Optional[int]) -> "List2D":
        if axis is None:
            return type(self)(1, 1, [[_select(op, [x for row in self.vals for x in row])]])
        if axis == 0:
            return type(self)(1, self.ncol, [[_select(op, list(col)) for col in zip(*self.vals)]])
        return type(self)(self.nrow, 1, [[_select(op, row)] for row in self.vals])

    def _gather(self, rows, cols) -> "List2D":
        cols = cols.tolist()
        return type(self)(len(rows), len(cols), [[self.vals[i][j] for j in cols] for i in rows.tolist()])

    def _scatter(self, rows, cols, block: "List2D", accumulate: bool) -> None:
        cols = cols.tolist()
        values = block.tolist()  # a copy: block may be self
        for i, row in zip(rows.tolist(), values):
            target = self.vals[i]
            for j, v in zip(cols, row):
                target[j] = target[j] + v if accumulate else v

    def _reshape(self, nrow: int, ncol: int) -> "List2D":
        flat = [x for row in self.vals for x in row]
        return type(self)(nrow, ncol, [flat[i * ncol:(i + 1) * ncol] for i in range(nrow)])

    def _where(self, a: "List2D", b: "List2D", shape) -> "List2D":
        nrow, ncol = shape

        def at(m: "List2D", i: int, j: int) -> float:
            return m.vals[i if m.nrow > 1 else 0][j if m.ncol > 1 else 0]
        return type(self)(nrow, ncol, [[at(a, i, j) if at(self, i, j) != 0.0 else at(b, i, j)
                                    for j in range(ncol)] for i in range(nrow)])

    def _fill(self, value: float) -> None:
        for row in self.vals:
            row[:] = [value] * self.ncol

    def _random_mask(self, threshold: int, offset: float) -> None:
        k = int(offset)
        for row in self.vals:
            for j in range(self.ncol):
                row[j] = 1.0 if _splitmix64(k) >> 11 >= threshold else 0.0
                k += 1

    def _inplace(self, op: str, other: "List2D") -> None:
        result = self._binary(op, other, self.shape)
        self.vals = result.vals

    def _inplace_scalar(self, op: str, s: float) -> None:
        self.vals = self._binary_scalar(op, s, False).vals

    def _axpy(self, alpha: float, other: "List2D") -> None:
        self.vals = [[y + alpha * x for y, x in zip(ry, rx)] for ry, rx in zip(self.vals, other.vals)]

    def _dsigmoid(self, grad: "List2D") -> "List2D":
        return type(self)(self.nrow, self.ncol, [[s * (1.0 - s) * g for s, g in zip(rs, rg)]
                                             for rs, rg in zip(self.vals, grad.vals)])


def _splitmix64(x: int) -> int:
    """csrc/random.c's generator, in Python integers wrapped to 64 bits."""
    z = (x + 0x9E3779B97F4A7C15) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


_U64 = (1 << 64) - 1


def _rounded(rows) -> List[List[float]]:
    """Rows of numbers rounded to the nearest float32, as Python floats (overflow gives inf)."""
    with np.errstate(over="ignore"):
        return np.asarray(rows, dtype=np.float32).tolist()


def _round32(x: float) -> float:
    """One number rounded to the nearest float32, as the C kernels' float arguments are."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


class List2D32(List2D):
    """A 2-D float32 matrix emulated on List2D: every value stored is rounded to float32."""

    __slots__ = ()
    dtype = FLOAT32

    def __init__(self, nrow: int, ncol: int, vals: List[List[float]]):
        super().__init__(nrow, ncol, _rounded(vals))

    def _binary_scalar(self, op: str, s: float, reverse: bool) -> "List2D32":
        return super()._binary_scalar(op, _round32(s), reverse)

    def _pow(self, p: float) -> "List2D32":
        return super()._pow(_round32(p))

    def _fill(self, value: float) -> None:
        super()._fill(_round32(value))

    def _float32_values(self) -> List2D:
        """The values as NumPy float32 scalars in a float64 List2D: arithmetic on them rounds
        to float32 at every step (NumPy's float32 + float32 is float32)."""
        return List2D(self.nrow, self.ncol, [list(map(np.float32, row)) for row in self.vals])

    def _reduce(self, op: str, axis: Optional[int]) -> "List2D32":
        """Sums and means accumulated in float32, in the C kernels' order (csrc/reduce.inc)."""
        out = self._float32_values()._reduce(op, axis)
        return List2D32(out.nrow, out.ncol, out.vals)

    def _scatter(self, rows, cols, block: "List2D", accumulate: bool) -> None:
        """As List2D's, each addition rounded to float32 (repeated positions add up in turn)."""
        if not accumulate:
            super()._scatter(rows, cols, block, accumulate)
            return
        cols = cols.tolist()
        for i, row in zip(rows.tolist(), block.tolist()):  # a copy: block may be self
            target = self.vals[i]
            for j, v in zip(cols, row):
                target[j] = _round32(target[j] + v)

    def _axpy(self, alpha: float, other: "List2D") -> None:
        """y + (alpha * x), each step rounded to float32, as the float32 kernel computes it."""
        with np.errstate(over="ignore", invalid="ignore"):
            y, x = np.array(self.vals, np.float32), np.array(other.vals, np.float32)
            self.vals = (y + np.float32(alpha) * x).tolist()

    def _dsigmoid(self, grad: "List2D") -> "List2D32":
        """(s * (1 - s)) * grad, each step rounded to float32, as the float32 kernel computes it."""
        with np.errstate(over="ignore", invalid="ignore"):
            s, g = np.array(self.vals, np.float32), np.array(grad.vals, np.float32)
            return List2D32(self.nrow, self.ncol, (s * (np.float32(1.0) - s) * g).tolist())


List2D.variants = List2D32.variants = {FLOAT64: List2D, FLOAT32: List2D32}
