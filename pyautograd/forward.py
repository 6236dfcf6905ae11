"""Forward mode and the functional API.

jvp(f, inputs, tangents) runs f on Dual numbers: each carries a value and a tangent (a
directional derivative) and every op propagates the tangent by its own forward rule, on the
same storage backends as reverse mode. Forward mode costs one pass per input direction, reverse
mode one pass per output: forward wins for few inputs and many outputs, reverse for the
opposite (a loss of many parameters). grad() and jacobian() build on both."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

from .backends.base import Storage, as_scalar, index_positions, normalize_axis
from .grad_mode import no_grad
from .matrix import (Matrix, _clamp_mask, _clamped, _is_number, _plain_key, _tie_weights,
                     stable_softmax)

Number = Union[int, float]


class Dual:
    """A value and its tangent, both storage objects of one shape; supports the Matrix ops."""

    __slots__ = ("value", "tangent")
    __array_ufunc__ = None
    _takes_over_matrix_ops = True  # Matrix (op) Dual defers to Dual's reflected operators
    _takes_over_storage_ops = True  # storage (op) Dual, likewise

    def __init__(self, value: Storage, tangent: Storage) -> None:
        self.value = value
        self.tangent = tangent

    @property
    def shape(self) -> Tuple[int, int]:
        return self.value.shape

    # -- operands ---------------------------------------------------------------------------
    def _other(self, other: Any) -> "Dual":
        return _as_dual(other)

    # -- element-wise arithmetic --------------------------------------------------------------
    def __add__(self, other: Any) -> "Dual":
        if _is_number(other):
            return Dual(self.value + other, self.tangent.copy())
        o = self._other(other)
        return Dual(self.value + o.value, self.tangent + o.tangent)  # d(a + b) = da + db

    __radd__ = __add__

    def __sub__(self, other: Any) -> "Dual":
        if _is_number(other):
            return Dual(self.value - other, self.tangent.copy())
        o = self._other(other)
        return Dual(self.value - o.value, self.tangent - o.tangent)

    def __rsub__(self, other: Any) -> "Dual":
        return (-self) + other if _is_number(other) else self._other(other) - self

    def __mul__(self, other: Any) -> "Dual":
        if _is_number(other):
            s = as_scalar(other, "mul")
            return Dual(self.value * s, self.tangent * s)
        o = self._other(other)  # d(ab) = da b + a db
        return Dual(self.value * o.value, self.tangent * o.value + self.value * o.tangent)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> "Dual":
        if _is_number(other):
            s = as_scalar(other, "div")
            return Dual(self.value / s, self.tangent / s)
        o = self._other(other)  # d(a/b) = (da - (a/b) db) / b
        out = self.value / o.value
        return Dual(out, (self.tangent - out * o.tangent) / o.value)

    def __rtruediv__(self, other: Any) -> "Dual":
        if not _is_number(other):
            return self._other(other) / self
        out = as_scalar(other, "div") / self.value  # d(s/a) = -(s/a) da / a
        return Dual(out, -(out * self.tangent / self.value))

    def __neg__(self) -> "Dual":
        return Dual(-self.value, -self.tangent)

    def __pow__(self, exponent: Any) -> "Dual":
        if not _is_number(exponent):
            return _dual_pow(self, self._other(exponent))
        p = as_scalar(exponent, "pow")
        if p == 0.0:
            return Dual(self.value ** p, self.tangent * 0.0)
        return Dual(self.value ** p, self.tangent * (self.value ** (p - 1.0) * p))

    def __rpow__(self, base: Any) -> "Dual":
        return _dual_pow(self._other(base), self)

    # -- comparisons: masks of the values (constants, as in reverse mode) ----------------------
    def _compare(self, other: Any, op: str) -> Matrix:
        rhs = other if _is_number(other) else self._other(other).value
        return Matrix(getattr(self.value, op)(rhs), requires_grad=False)

    def __lt__(self, other: Any) -> Matrix: return self._compare(other, "__lt__")
    def __le__(self, other: Any) -> Matrix: return self._compare(other, "__le__")
    def __gt__(self, other: Any) -> Matrix: return self._compare(other, "__gt__")
    def __ge__(self, other: Any) -> Matrix: return self._compare(other, "__ge__")
    def __eq__(self, other: Any) -> Matrix: return self._compare(other, "__eq__")  # type: ignore[override]
    def __ne__(self, other: Any) -> Matrix: return self._compare(other, "__ne__")  # type: ignore[override]
    __hash__ = object.__hash__

    # -- products, shapes, reductions ---------------------------------------------------------
    def __matmul__(self, other: Any) -> "Dual":
        o = self._other(other)  # d(A @ B) = dA @ B + A @ dB
        tangent = self.tangent @ o.value
        tangent.add_matmul_(self.value, o.tangent)
        return Dual(self.value @ o.value, tangent)

    def __rmatmul__(self, other: Any) -> "Dual":
        return self._other(other) @ self

    @property
    def T(self) -> "Dual":
        return Dual(self.value.T, self.tangent.T)

    def sum(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        axis = normalize_axis("sum", axis, dim)
        return Dual(self.value.sum(axis), self.tangent.sum(axis))

    def mean(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        axis = normalize_axis("mean", axis, dim)
        return Dual(self.value.mean(axis), self.tangent.mean(axis))

    def max(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        """The tangent of the maximum: the mean tangent of the tied maxima (as reverse mode)."""
        return self._extreme("max", normalize_axis("max", axis, dim))

    def min(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        return self._extreme("min", normalize_axis("min", axis, dim))

    def _extreme(self, op: str, axis: Optional[int]) -> "Dual":
        out = getattr(self.value, op)(axis)
        winners = (self.value == out) + (self.value != self.value)
        return Dual(out, (winners * self.tangent).sum(axis) / winners.sum(axis))

    def argmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        """Positions are piecewise constant: a zero tangent."""
        out = self.value.argmax(normalize_axis("argmax", axis, dim))
        return Dual(out, type(out).zeros(*out.shape))

    def argmin(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        out = self.value.argmin(normalize_axis("argmin", axis, dim))
        return Dual(out, type(out).zeros(*out.shape))

    def __getitem__(self, key: Any) -> "Dual":
        """The same block of the value and of the tangent."""
        rows, cols = index_positions("getitem", _plain_key(key), self.shape)
        return Dual(self.value.take(rows, cols), self.tangent.take(rows, cols))

    def __len__(self) -> int:
        return self.value.nrow

    def reshape(self, *shape: Any) -> "Dual":
        """Reshape value and tangent alike (the sizes are checked by Matrix.reshape's rules)."""
        nrow, ncol = Matrix(self.value, requires_grad=False).reshape(*shape).shape
        return Dual(self.value.reshape(nrow, ncol), self.tangent.reshape(nrow, ncol))

    def flatten(self) -> "Dual":
        n = self.value.nrow * self.value.ncol
        return Dual(self.value.reshape(1, n), self.tangent.reshape(1, n))

    @staticmethod
    def cat(parts: Sequence[Any], axis: int) -> "Dual":
        """d(cat(a, b)) = cat(da, db)."""
        duals = [_as_dual(p) for p in parts]
        cls = type(duals[0].value)
        return Dual(cls.cat([d.value for d in duals], axis), cls.cat([d.tangent for d in duals], axis))

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> "Dual":
        """d(where(c, a, b)) = where(c, da, db)."""
        if isinstance(condition, (Matrix, Dual)):
            cond = condition.data if isinstance(condition, Matrix) else condition.value
        else:
            cond = condition if isinstance(condition, Storage) else Matrix(condition, False).data
        da, db = _as_dual(a), _as_dual(b)
        return Dual(cond.where(da.value, db.value), cond.where(da.tangent, db.tangent))

    @staticmethod
    def maximum(a: Any, b: Any) -> "Dual":
        """d(max(a, b)) = da where a wins, db where b wins, their mean on ties."""
        return _dual_extremum(_as_dual(a), _as_dual(b), True)

    @staticmethod
    def minimum(a: Any, b: Any) -> "Dual":
        return _dual_extremum(_as_dual(a), _as_dual(b), False)

    # -- element-wise functions ---------------------------------------------------------------
    def sqrt(self) -> "Dual":
        out = self.value.sqrt()
        return Dual(out, self.tangent / (out * 2.0))

    def square(self) -> "Dual":
        return Dual(self.value.square(), self.tangent * (self.value * 2.0))

    def log1p(self) -> "Dual":
        return Dual(self.value.log1p(), self.tangent / (self.value + 1.0))

    def expm1(self) -> "Dual":
        out = self.value.expm1()
        return Dual(out, self.tangent * (out + 1.0))

    def clamp(self, min: Optional[Number] = None, max: Optional[Number] = None) -> "Dual":
        return Dual(_clamped(self.value, min, max), _clamp_mask(self.value, min, max) * self.tangent)

    def exp(self) -> "Dual":
        out = self.value.exp()
        return Dual(out, out * self.tangent)

    def log(self) -> "Dual":
        return Dual(self.value.log(), self.tangent / self.value)

    def sigmoid(self) -> "Dual":
        out = self.value.sigmoid()
        return Dual(out, out.dsigmoid(self.tangent))  # A(1 - A) dZ

    def tanh(self) -> "Dual":
        out = self.value.tanh()
        return Dual(out, (1.0 - out * out) * self.tangent)

    def relu(self) -> "Dual":
        return Dual(self.value.relu(), (self.value > 0.0) * self.tangent)

    def abs(self) -> "Dual":
        return Dual(self.value.abs(), self.value.sign() * self.tangent)

    __abs__ = abs

    def log_softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        return stable_softmax(self, self.value, axis, log=True, dim=dim)

    def softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Dual":
        return stable_softmax(self, self.value, axis, log=False, dim=dim)


def _as_dual(value: Any) -> Dual:
    """An operand as a Dual: duals pass through; matrices, numbers and arrays are constants, of
    zero tangent."""
    if isinstance(value, Dual):
        return value
    m = value if isinstance(value, Matrix) else Matrix(value, requires_grad=False)
    return Dual(m.data, type(m.data).zeros(*m.shape))


def _dual_pow(a: Dual, b: Dual) -> Dual:
    """d(a^b) = b a^(b-1) da + a^b log(a) db, with reverse mode's zeros (b = 0; a = 0, b >= 0)."""
    x, p = a.value, b.value
    out = x ** p
    zero = type(out).zeros(1, 1)
    da = (p == 0.0).where(zero, p * x ** (p - 1.0)) * a.tangent
    db = ((x == 0.0) * (p >= 0.0)).where(zero, out * x.log()) * b.tangent
    return Dual(out, da + db)


def _dual_extremum(a: Dual, b: Dual, largest: bool) -> Dual:
    out = a.value.maximum(b.value) if largest else a.value.minimum(b.value)
    tangent = (_tie_weights(a.value, b.value, largest) * a.tangent
               + _tie_weights(b.value, a.value, largest) * b.tangent)
    return Dual(out, tangent)


def _as_tuple(x: Any) -> Tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def jvp(f: Callable[..., Any], inputs: Any, tangents: Any) -> Tuple[Any, Any]:
    """(f(*inputs), the directional derivative of f at inputs along tangents), by forward mode.

    inputs and tangents are Matrices or tuples of them, pairwise of equal shape; the result is a
    pair of Matrices, or of tuples when f returns a tuple."""
    inputs, tangents = _as_tuple(inputs), _as_tuple(tangents)
    if len(inputs) != len(tangents):
        raise ValueError(f"jvp: {len(inputs)} inputs but {len(tangents)} tangents")
    duals = []
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        x = x if isinstance(x, Matrix) else Matrix(x, requires_grad=False)
        t = t if isinstance(t, Matrix) else Matrix(t, requires_grad=False)
        if x.shape != t.shape:
            raise ValueError(f"jvp: input {i} has shape {x.shape}, its tangent {t.shape}")
        if type(x.data) is not type(t.data):
            raise TypeError(f"jvp: input {i} is on backend {x.backend!r}, its tangent on {t.backend!r}")
        duals.append(Dual(x.data, t.data))
    with no_grad():
        out = f(*duals)
    outs = _as_tuple(out)
    for o in outs:
        if not isinstance(o, Dual):
            raise TypeError(f"jvp: f must return matrices computed from its inputs, got {type(o).__name__}")
    values = tuple(Matrix(o.value, requires_grad=False) for o in outs)
    derivs = tuple(Matrix(o.tangent, requires_grad=False) for o in outs)
    if isinstance(out, (tuple, list)):
        return values, derivs
    return values[0], derivs[0]


def grad(f: Callable[..., Matrix], argnums: Union[int, Sequence[int]] = 0) -> Callable[..., Any]:
    """A function returning d f(*args) / d args[argnums] by reverse mode (f returns a 1x1 Matrix);
    a tuple of gradients when argnums is a tuple."""
    several = not isinstance(argnums, int)
    indices = tuple(argnums) if several else (argnums,)

    def gradient(*args: Any) -> Any:
        leaves = list(args)
        for i in indices:
            if not -len(args) <= i < len(args):
                raise ValueError(f"grad: argnums {i} is out of range for {len(args)} arguments")
            value = args[i]
            data = value.data if isinstance(value, Matrix) else Matrix(value).data
            leaves[i] = Matrix(data.copy(), requires_grad=True)
        out = f(*leaves)
        if not isinstance(out, Matrix) or out.shape != (1, 1):
            raise ValueError(f"grad: f must return a 1x1 Matrix, got "
                             f"{out.shape if isinstance(out, Matrix) else type(out).__name__}")
        out.backward()
        grads = tuple(Matrix(leaves[i].grad, requires_grad=False) for i in indices)
        return grads if several else grads[0]
    return gradient


def jacobian(f: Callable[[Matrix], Matrix], x: Matrix, mode: str = "rev") -> Matrix:
    """The Jacobian of f at x as an (output entries, input entries) Matrix, row-major flattening:
    by reverse mode (one backward per output entry) or forward mode (one jvp per input entry)."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    x = x if isinstance(x, Matrix) else Matrix(x, requires_grad=False)
    cls = type(x.data)
    n_in = x.shape[0] * x.shape[1]
    if mode == "fwd":
        columns = []
        for j in range(n_in):
            direction = np.zeros(n_in)
            direction[j] = 1.0
            _, tangent = jvp(f, (x,), (Matrix(cls.from_array(direction.reshape(x.shape)), False),))
            columns.append(tangent.numpy().ravel())
        return Matrix(cls.from_array(np.stack(columns, axis=1)), requires_grad=False)
    leaf = Matrix(x.data.copy(), requires_grad=True)
    out = f(leaf)
    n_out = out.shape[0] * out.shape[1]
    rows = []
    for i in range(n_out):
        seed = np.zeros(n_out)
        seed[i] = 1.0
        leaf.zero_grad()
        if out.requires_grad:
            out.backward(cls.from_array(seed.reshape(out.shape)), retain_graph=True)
        rows.append(leaf.grad.numpy().ravel().copy())
    return Matrix(cls.from_array(np.stack(rows, axis=0)), requires_grad=False)
