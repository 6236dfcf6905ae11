"""The storage contract shared by every backend, and the shape rules both backends obey.

A storage object is an immutable-shape 2-D float64 matrix. Subclasses implement a handful of
primitives (`_binary`, `_binary_scalar`, `_unary`, `_pow`, `_reduce`, `_matmul`, `_inplace`, ...);
this base class turns them into the operator protocol and owns every shape check, so that both
backends raise the same errors with the same messages.
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import numpy as np

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
           "ge": ">=", "eq": "==", "ne": "!=", "maximum": "max", "minimum": "min"}

Scalar = Union[int, float]


def broadcast_shape(op: str, a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[int, int]:
    """The result shape of an element-wise op: each dimension equal, or 1 on one side."""
    out = []
    for da, db in zip(a, b):
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            raise ValueError(f"{op}: shapes {a} and {b} do not broadcast "
                             "(each dimension must be equal, or 1 on one side)")
    return out[0], out[1]


def matmul_shape(a: Tuple[int, int], b: Tuple[int, int], trans_a: bool = False,
                 trans_b: bool = False) -> Tuple[int, int, int]:
    """(m, n, k) of op(a) @ op(b), or a ValueError naming both shapes."""
    m, ka = (a[1], a[0]) if trans_a else a
    kb, n = (b[1], b[0]) if trans_b else b
    if ka != kb:
        la = f"{a}{'.T' if trans_a else ''}"
        lb = f"{b}{'.T' if trans_b else ''}"
        raise ValueError(f"matmul: inner dimensions differ: {la} @ {lb} ({ka} != {kb})")
    return m, n, ka


def check_axis(op: str, axis: Optional[int]) -> None:
    if axis is not None and (type(axis) is not int or axis not in (0, 1)):
        raise ValueError(f"{op}: axis must be None, 0 or 1, got {axis!r}")


def as_scalar(value: object, op: str) -> float:
    """A Python or NumPy real number as float, or a TypeError naming the op."""
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
        return float(value)
    raise TypeError(f"{op}: expected a real number or a storage object, got {type(value).__name__}")


class Storage:
    """Base of `List2D` and `CArray`; see DESIGN.md, 'The storage contract'."""

    __slots__ = ("nrow", "ncol")
    backend_name = "abstract"
    # True when the values are stored column-major: a transposed view of another storage's
    # buffer (the C backend's `.T`). A gradient is kept in the layout of its node's values.
    transposed = False
    __hash__ = None  # type: ignore[assignment]  # == is element-wise, as in NumPy

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_array(cls, arr: np.ndarray) -> "Storage":
        raise NotImplementedError

    @classmethod
    def from_values(cls, values: object, op: str = "Matrix") -> "Storage":
        from .._convert import to_float64_2d
        return cls.from_array(to_float64_2d(values, op))

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "Storage":
        raise NotImplementedError

    @classmethod
    def zeros(cls, nrow: int, ncol: int) -> "Storage":
        return cls.full(nrow, ncol, 0.0)

    @classmethod
    def ones(cls, nrow: int, ncol: int) -> "Storage":
        return cls.full(nrow, ncol, 1.0)

    @classmethod
    def randn(cls, nrow: int, ncol: int, rng: np.random.Generator) -> "Storage":
        """Standard normal draws from a NumPy generator, so both backends see the same numbers."""
        return cls.from_array(rng.standard_normal((nrow, ncol)))

    # -- conversion -----------------------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, int]:
        return (self.nrow, self.ncol)

    def item(self) -> float:
        if self.nrow != 1 or self.ncol != 1:
            raise ValueError(f"item: only a 1x1 matrix has one value, this one is {self.shape}")
        return self.tolist()[0][0]

    def tolist(self) -> list:
        raise NotImplementedError

    def numpy(self) -> np.ndarray:
        raise NotImplementedError

    def copy(self) -> "Storage":
        """A new storage object with the same values."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.nrow}x{self.ncol}, {np.array2string(self.numpy(), precision=4)})"

    # -- element-wise binary ops ----------------------------------------------------------------
    def _elementwise(self, op: str, other: object, reverse: bool) -> "Storage":
        if type(other) is type(self):
            if other.nrow == self.nrow and other.ncol == self.ncol:  # the common case, first
                shape = (self.nrow, self.ncol)
            else:
                a, b = (other, self) if reverse else (self, other)
                shape = broadcast_shape(f"{op} ({_SYMBOL[op]})", a.shape, b.shape)
            return other._binary(op, self, shape) if reverse else self._binary(op, other, shape)
        if isinstance(other, Storage):
            raise TypeError(f"{op}: cannot mix backends {self.backend_name!r} and "
                            f"{other.backend_name!r}; convert one with .to(name)")
        return self._binary_scalar(op, as_scalar(other, op), reverse)

    def __add__(self, o): return self._elementwise("add", o, False)
    def __radd__(self, o): return self._elementwise("add", o, True)
    def __sub__(self, o): return self._elementwise("sub", o, False)
    def __rsub__(self, o): return self._elementwise("sub", o, True)
    def __mul__(self, o): return self._elementwise("mul", o, False)
    def __rmul__(self, o): return self._elementwise("mul", o, True)
    def __truediv__(self, o): return self._elementwise("div", o, False)
    def __rtruediv__(self, o): return self._elementwise("div", o, True)
    def __lt__(self, o): return self._elementwise("lt", o, False)
    def __le__(self, o): return self._elementwise("le", o, False)
    def __gt__(self, o): return self._elementwise("gt", o, False)
    def __ge__(self, o): return self._elementwise("ge", o, False)
    def __eq__(self, o): return self._elementwise("eq", o, False)  # type: ignore[override]
    def __ne__(self, o): return self._elementwise("ne", o, False)  # type: ignore[override]

    def maximum(self, other) -> "Storage":
        """Element-wise larger value; NaN wins, as in NumPy's maximum."""
        return self._elementwise("maximum", other, False)

    def minimum(self, other) -> "Storage":
        """Element-wise smaller value; NaN wins, as in NumPy's minimum."""
        return self._elementwise("minimum", other, False)

    # -- unary ops ------------------------------------------------------------------------------
    def __neg__(self): return self._unary("neg")
    def exp(self): return self._unary("exp")
    def log(self): return self._unary("log")
    def tanh(self): return self._unary("tanh")
    def sigmoid(self):
        """1 / (1 + e^-x), computed as e^x / (1 + e^x) for x < 0 so that it never overflows."""
        return self._unary("sigmoid")
    def relu(self): return self._unary("relu")
    def abs(self): return self._unary("abs")
    def sign(self):
        """-1, 0 or 1 (nan stays nan): the derivative of abs, 0 at 0 as in PyTorch."""
        return self._unary("sign")

    def __pow__(self, exponent):
        if isinstance(exponent, Storage):
            raise TypeError(f"pow: the exponent must be a number, got a {exponent.shape} matrix")
        return self._pow(as_scalar(exponent, "pow"))

    # -- matrix product and transpose -----------------------------------------------------------
    def _same_backend(self, other: object, op: str) -> "Storage":
        if not isinstance(other, Storage):
            raise TypeError(f"{op}: expected a storage object, got {type(other).__name__}")
        if type(other) is not type(self):
            raise TypeError(f"{op}: cannot mix backends {self.backend_name!r} and "
                            f"{other.backend_name!r}; convert one with .to(name)")
        return other

    def __matmul__(self, other):
        return self.matmul(other)

    def matmul(self, other: "Storage", trans_self: bool = False,
               trans_other: bool = False) -> "Storage":
        """op(self) @ op(other), where op transposes when asked, without a transposed copy."""
        if type(other) is not type(self):
            self._same_backend(other, "matmul")  # raises the right error
        m, k = (self.ncol, self.nrow) if trans_self else (self.nrow, self.ncol)
        k2, n = (other.ncol, other.nrow) if trans_other else (other.nrow, other.ncol)
        if k != k2:
            matmul_shape(self.shape, other.shape, trans_self, trans_other)  # raises, with shapes
        return self._matmul(other, trans_self, trans_other, m, n, k)

    def matmul_transposed(self, other: "Storage", trans_self: bool = False,
                          trans_other: bool = False) -> "Storage":
        """op(self) @ op(other) stored column-major: (op(other)^T @ op(self)^T).T, so that a
        gradient can take the layout of the values it belongs to without a transpose kernel."""
        return other.matmul(self, not trans_other, not trans_self).T

    def add_matmul_(self, a: "Storage", b: "Storage", trans_a: bool = False,
                    trans_b: bool = False) -> "Storage":
        """self += op(a) @ op(b), in place: gradient accumulation of a matrix product."""
        a = self._same_backend(a, "matmul")
        b = self._same_backend(b, "matmul")
        m, n, k = matmul_shape(a.shape, b.shape, trans_a, trans_b)
        if (m, n) != self.shape:
            raise ValueError(f"matmul (accumulate): result shape {(m, n)} does not match the "
                             f"target shape {self.shape}")
        self._add_matmul(a, b, trans_a, trans_b, m, n, k)
        return self

    @property
    def T(self) -> "Storage":
        """The transpose: a view sharing this buffer on the C backend (no copy; the matrix
        product reads it through its transpose flags), a copy on the Python backend."""
        return self._transpose()

    # -- reductions -----------------------------------------------------------------------------
    def sum(self, axis: Optional[int] = None) -> "Storage":
        check_axis("sum", axis)
        return self._reduce("sum", axis)

    def mean(self, axis: Optional[int] = None) -> "Storage":
        check_axis("mean", axis)
        return self._reduce("mean", axis)

    def max(self, axis: Optional[int] = None) -> "Storage":
        """Largest value; NaN wins, as in NumPy."""
        check_axis("max", axis)
        return self._reduce("max", axis)

    def unbroadcast(self, nrow: int, ncol: int) -> "Storage":
        """Sum over the dimensions that broadcasting expanded from (nrow, ncol) to self.shape.

        Returns self when nothing was expanded: callers accumulate it, they never mutate it."""
        rows = nrow != self.nrow
        cols = ncol != self.ncol
        if (rows and nrow != 1) or (cols and ncol != 1):
            raise ValueError(f"unbroadcast: {self.shape} cannot be reduced to {(nrow, ncol)} "
                             "(only dimensions of size 1 can have been broadcast)")
        if rows and cols:
            return self._reduce("sum", None)
        if rows:
            return self._reduce("sum", 0)
        if cols:
            return self._reduce("sum", 1)
        return self

    # -- in place -------------------------------------------------------------------------------
    def fill_(self, value: float) -> "Storage":
        self._fill(as_scalar(value, "fill_"))
        return self

    def ones_(self) -> "Storage":
        return self.fill_(1.0)

    def zeros_(self) -> "Storage":
        return self.fill_(0.0)

    def _inplace_checked(self, op: str, other: object) -> "Storage":
        if type(other) is type(self) and other.nrow == self.nrow and other.ncol == self.ncol:
            self._inplace(op, other)  # the common case (gradient accumulation), first
        elif isinstance(other, Storage):
            self._same_backend(other, f"{op}=")
            shape = broadcast_shape(f"in-place {_SYMBOL[op]}=", self.shape, other.shape)
            if shape != self.shape:
                raise ValueError(f"in-place {_SYMBOL[op]}=: {other.shape} does not broadcast into "
                                 f"{self.shape} without changing its shape")
            self._inplace(op, other)
        else:
            self._inplace_scalar(op, as_scalar(other, f"{op}="))
        return self

    def __iadd__(self, other): return self._inplace_checked("add", other)
    def __isub__(self, other): return self._inplace_checked("sub", other)
    def __imul__(self, other): return self._inplace_checked("mul", other)

    def add_scaled_(self, other: "Storage", alpha: float) -> "Storage":
        """self += alpha * other, in place and without a temporary (same shapes only)."""
        if type(other) is not type(self):
            self._same_backend(other, "add_scaled_")
        if other.nrow != self.nrow or other.ncol != self.ncol:
            raise ValueError(f"add_scaled_: shapes {self.shape} and {other.shape} differ")
        self._axpy(as_scalar(alpha, "add_scaled_"), other)
        return self

    def dsigmoid(self, grad: "Storage") -> "Storage":
        """self * (1 - self) * grad in one pass, where self is a sigmoid's output: dA/dZ = A(1 - A)."""
        self._same_backend(grad, "dsigmoid")
        if grad.shape != self.shape:
            raise ValueError(f"dsigmoid: shapes {self.shape} and {grad.shape} differ")
        return self._dsigmoid(grad)
