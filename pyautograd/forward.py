"""Forward mode and the functional API.

jvp(f, inputs, tangents) runs f on Dual numbers: each carries a value and a tangent (a
directional derivative) and every op propagates the tangent by its own forward rule, on the
same storage backends as reverse mode. Forward mode costs one pass per input direction, reverse
mode one pass per output: forward wins for few inputs and many outputs, reverse for the
opposite (a loss of many parameters). grad() and jacobian() build on both."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

from .backends.base import Storage, as_scalar
from .grad_mode import no_grad
from .matrix import Matrix, _is_number, stable_softmax

Number = Union[int, float]


class Dual:
    """A value and its tangent, both storage objects of one shape; supports the Matrix ops."""

    __slots__ = ("value", "tangent")
    __array_ufunc__ = None
    _takes_over_matrix_ops = True  # Matrix (op) Dual defers to Dual's reflected operators

    def __init__(self, value: Storage, tangent: Storage) -> None:
        self.value = value
        self.tangent = tangent

    @property
    def shape(self) -> Tuple[int, int]:
        return self.value.shape

    # -- operands ---------------------------------------------------------------------------
    def _other(self, other: Any) -> "Dual":
        if isinstance(other, Dual):
            return other
        m = other if isinstance(other, Matrix) else Matrix(other, requires_grad=False)
        return Dual(m.data, type(m.data).zeros(*m.shape))  # a constant: zero tangent

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

    def __pow__(self, exponent: Number) -> "Dual":
        if isinstance(exponent, (Dual, Matrix, Storage)):
            raise TypeError("pow: the exponent must be a number")
        p = as_scalar(exponent, "pow")
        if p == 0.0:
            return Dual(self.value ** p, self.tangent * 0.0)
        return Dual(self.value ** p, self.tangent * (self.value ** (p - 1.0) * p))

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

    def sum(self, axis: Optional[int] = None) -> "Dual":
        return Dual(self.value.sum(axis), self.tangent.sum(axis))

    def mean(self, axis: Optional[int] = None) -> "Dual":
        return Dual(self.value.mean(axis), self.tangent.mean(axis))

    def max(self, axis: Optional[int] = None) -> "Dual":
        """The tangent of the maximum: the mean tangent of the tied maxima (as reverse mode)."""
        out = self.value.max(axis)
        winners = (self.value == out) + (self.value != self.value)
        return Dual(out, (winners * self.tangent).sum(axis) / winners.sum(axis))

    # -- element-wise functions ---------------------------------------------------------------
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

    def log_softmax(self, axis: int = 1) -> "Dual":
        return stable_softmax(self, self.value, axis, log=True)

    def softmax(self, axis: int = 1) -> "Dual":
        return stable_softmax(self, self.value, axis, log=False)


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
