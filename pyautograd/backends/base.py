"""The storage contract shared by every backend, and the shape rules both backends obey.

A storage object is an immutable-shape 2-D matrix of float64 (the default) or float32 values:
each backend has one class per dtype (`dtype` is a class attribute, so checking it costs nothing
on the hot paths, where operands of one class meet). Operands of two dtypes promote to float64,
as in PyTorch; an in-place op keeps its target's dtype. Subclasses implement a handful of
primitives (`_binary`, `_binary_scalar`, `_unary`, `_pow`, `_reduce`, `_matmul`, `_inplace`, ...);
this base class turns them into the operator protocol and owns every shape check, so that both
backends raise the same errors with the same messages.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple, Union

import numpy as np

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
           "ge": ">=", "eq": "==", "ne": "!=", "maximum": "max", "minimum": "min", "pow": "**"}

Scalar = Union[int, float]

# The ops of the kernels that take an op code, in the order of csrc/pyautograd.h's enums
# (PAG_ + the name in capitals). These tuples are the one list: the C backend maps each name to
# its enum value, the Python backend to its element function, and a test checks the header's
# enums and every C switch against them.
BINARY_OPS = ("add", "sub", "mul", "div", "lt", "le", "gt", "ge", "eq", "ne", "maximum",
              "minimum", "pow")
UNARY_OPS = ("neg", "exp", "log", "tanh", "sigmoid", "relu", "abs", "sign", "sqrt", "log1p",
             "expm1", "square", "sin", "cos")
REDUCE_OPS = ("sum", "mean", "max")
SELECT_OPS = ("min", "argmax", "argmin")

FLOAT64 = np.dtype(np.float64)
FLOAT32 = np.dtype(np.float32)
DTYPES = (FLOAT64, FLOAT32)


def resolve_dtype(dtype: object, op: str = "dtype") -> np.dtype:
    """float64 or float32 from any spelling of them (np.float32, "float32", ag.float32,
    torch.float32, a NumPy dtype); a TypeError naming anything else (float16, int64, ...)."""
    if isinstance(dtype, np.dtype) and (dtype is FLOAT64 or dtype is FLOAT32):
        return dtype
    spelling = dtype
    if str(dtype).startswith("torch."):  # torch.float32, without importing torch
        spelling = str(dtype)[len("torch."):]
    try:
        resolved = np.dtype(spelling) if spelling is not None else None  # np.dtype(None) is float64
    except TypeError:
        resolved = None
    if resolved is not None and resolved == FLOAT64:
        return FLOAT64
    if resolved is not None and resolved == FLOAT32:
        return FLOAT32
    raise TypeError(f"{op}: unsupported dtype {dtype!r}; pyautograd stores float64 (the default) "
                    "or float32")


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


def normalize_axis(op: str, axis: Optional[int], dim: Optional[int] = None,
                   allow_none: bool = True) -> Optional[int]:
    """axis (or its PyTorch alias dim) as None, 0 or 1: -1 is the last axis (1), -2 the first."""
    if dim is not None:
        if axis is not None and axis != dim:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one of them")
        axis = dim
    if axis is None:
        if allow_none:
            return None
        raise ValueError(f"{op}: axis must be 0, 1, -1 or -2, got None")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -2 <= axis <= 1:
        raise ValueError(f"{op}: axis must be {'None, ' if allow_none else ''}0, 1, -1 or -2, "
                         f"got {axis!r}")
    return int(axis) % 2


_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1


def _index_list(op: str, key: object, size: int, dim: int) -> np.ndarray:
    """One dimension's part of an index (an int, a slice, or a 1-D sequence of integers) as the
    int64 array of the positions it selects, negative ones counted from the end; IndexError
    for anything out of range, empty or not an integer."""
    if isinstance(key, slice):
        if key.step is not None and key.step <= 0:
            raise ValueError(f"{op}: slice steps must be positive (as in PyTorch), got {key.step}")
        positions = np.arange(*key.indices(size), dtype=np.int64)
    else:
        if isinstance(key, (bool, np.bool_)) or (isinstance(key, np.ndarray) and key.dtype == bool):
            raise IndexError(f"{op}: a boolean index must be a mask of the matrix's own shape "
                             f"(m[m > 0]), not one per dimension (dimension {dim}); or select "
                             "with ag.where(mask, a, b), or index with integers")
        if isinstance(key, (int, np.integer)):
            if not _INT64_MIN <= int(key) <= _INT64_MAX:
                raise IndexError(f"{op}: index {int(key)} is out of range for dimension {dim} "
                                 f"of size {size} (it does not even fit in int64)")
            positions = np.array([int(key)], dtype=np.int64)
        else:
            try:
                arr = np.asarray(key)
            except OverflowError:
                arr = np.asarray(key, dtype=object)
            if arr.dtype == object and arr.ndim == 1 and arr.size and all(
                    isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in arr):
                big = [int(k) for k in arr if not _INT64_MIN <= int(k) <= _INT64_MAX]
                if big:
                    raise IndexError(f"{op}: index {big[0]} is out of range for dimension {dim} "
                                     f"of size {size} (it does not even fit in int64)")
                arr = arr.astype(np.int64)
            if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
                raise IndexError(f"{op}: an index must be an int, a slice or a non-empty 1-D "
                                 f"sequence of integers, got {key!r} for dimension {dim}")
            if arr.dtype.kind == "u" and int(arr.max()) > _INT64_MAX:  # would wrap to negative
                raise IndexError(f"{op}: index {int(arr.max())} is out of range for dimension "
                                 f"{dim} of size {size} (it does not even fit in int64)")
            positions = arr.astype(np.int64)
        bad = (positions < -size) | (positions >= size)
        if bad.any():
            raise IndexError(f"{op}: index {int(positions[bad][0])} is out of range for "
                             f"dimension {dim} of size {size}")
        positions = np.where(positions < 0, positions + size, positions)
    if positions.size == 0:
        raise IndexError(f"{op}: {key!r} selects nothing along dimension {dim} of size {size} "
                         "(a matrix has at least one row and one column)")
    return np.ascontiguousarray(positions, dtype=np.int64)


def index_positions(op: str, key: object, shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """The (rows, columns) that m[key] selects: key is an int, a slice or a 1-D sequence of
    integers (rows), or a pair of them (rows, columns; at most one of the pair a sequence)."""
    if isinstance(key, tuple) and len(key) == 1:
        key = key[0]
    if isinstance(key, tuple):
        if len(key) != 2:
            raise IndexError(f"{op}: a matrix has 2 dimensions, got an index of {len(key)}: {key!r}")
        row_key, col_key = key
        if not isinstance(row_key, (int, np.integer, slice)) and not isinstance(
                col_key, (int, np.integer, slice)):
            raise IndexError(f"{op}: index rows or columns with a sequence, not both at once "
                             f"(that would pair them element-wise): {key!r}")
    else:
        row_key, col_key = key, slice(None)
    return _index_list(op, row_key, shape[0], 0), _index_list(op, col_key, shape[1], 1)


def as_scalar(value: object, op: str) -> float:
    """A Python or NumPy real number as float, or a TypeError naming the op."""
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
        return float(value)
    raise TypeError(f"{op}: expected a real number or a storage object, got {type(value).__name__}")


class Storage:
    """Base of `List2D` and `CArray`: the storage contract.

    `version` counts the in-place writes to the values (every method ending in `_`, `+=`, `-=`,
    `*=`, `setitem_`): a recorded op notes the versions of the values its backward will read,
    and backward refuses to run on values changed since. `_base` is the storage whose buffer a
    view shares (the C backend's `.T`), else None: a write through either bumps the owner's
    version, which is the one recorded."""

    __slots__ = ("nrow", "ncol", "version", "_base")
    nrow: int
    ncol: int
    version: int
    _base: Optional["Storage"]
    backend_name = "abstract"
    dtype: np.dtype = FLOAT64
    # {dtype: the class of this backend storing that dtype}, set by each backend
    variants: dict = {}
    # True when the values are stored column-major: a transposed view of another storage's
    # buffer (the C backend's `.T`). A gradient is kept in the layout of its node's values.
    transposed = False
    __hash__ = None  # type: ignore[assignment]  # == is element-wise, as in NumPy

    def __init_subclass__(cls, **kwargs: object) -> None:
        """A backend must define every primitive of the contract: one that misses some fails
        here, when its class is created, not mid-training when the op is first used."""
        super().__init_subclass__(**kwargs)
        missing = [name for name in PRIMITIVES
                   if next(k for k in cls.__mro__ if name in k.__dict__) is Storage]
        if missing:
            raise TypeError(f"storage class {cls.__name__} does not define the primitive(s) "
                            f"{', '.join(missing)} of the storage contract (backends/base.py)")

    # -- the primitives: what a backend defines; everything else is built on them here -----------
    @classmethod
    def from_array(cls, arr: np.ndarray) -> "Storage":
        """A new storage holding a copy of the 2-D array's values (in this class's dtype)."""
        raise NotImplementedError

    @classmethod
    def share(cls, arr: np.ndarray) -> "Storage":
        """A storage over arr's own memory where the backend can (C, for a suitable array of its
        dtype: writes show through both), else a copy as from_array."""
        raise NotImplementedError

    def _binary(self, op: str, other: "Storage", shape: Tuple[int, int]) -> "Storage":
        """self (op) other, an op of BINARY_OPS, broadcast to `shape` (checked by the caller)."""
        raise NotImplementedError

    def _binary_scalar(self, op: str, s: float, reverse: bool) -> "Storage":
        """self (op) s, or s (op) self when reverse."""
        raise NotImplementedError

    def _unary(self, op: str) -> "Storage":
        """f(self) element-wise, for an op of UNARY_OPS."""
        raise NotImplementedError

    def _pow(self, p: float) -> "Storage":
        """self ** p element-wise, IEEE 754's results (p = 2 is x * x, p = 0.5 is sqrt)."""
        raise NotImplementedError

    def _matmul(self, other: "Storage", ta: bool, tb: bool, m: int, n: int, k: int) -> "Storage":
        """op(self) @ op(other), (m, k) @ (k, n), op transposing where asked (shapes checked)."""
        raise NotImplementedError

    def _add_matmul(self, a: "Storage", b: "Storage", ta: bool, tb: bool, m: int, n: int,
                    k: int) -> None:
        """self += op(a) @ op(b), in place."""
        raise NotImplementedError

    def _transpose(self) -> "Storage":
        """The transpose (a view where the backend can, as the C backend's `.T`)."""
        raise NotImplementedError

    def _reduce(self, op: str, axis: Optional[int]) -> "Storage":
        """sum, mean or max (REDUCE_OPS) over everything (axis None), the rows (0) or columns (1)."""
        raise NotImplementedError

    def _select(self, op: str, axis: Optional[int]) -> "Storage":
        """min, argmax or argmin (SELECT_OPS) along an axis, as _reduce."""
        raise NotImplementedError

    def _gather(self, rows: np.ndarray, cols: np.ndarray) -> "Storage":
        """The block self[rows][:, cols] for checked int64 positions."""
        raise NotImplementedError

    def _scatter(self, rows: np.ndarray, cols: np.ndarray, block: "Storage",
                 accumulate: bool) -> None:
        """self[rows[i], cols[j]] = block[i, j] (+= when accumulate), in place."""
        raise NotImplementedError

    def _reshape(self, nrow: int, ncol: int) -> "Storage":
        """The values, row-major, in a new nrow x ncol storage (sizes checked)."""
        raise NotImplementedError

    def _where(self, a: "Storage", b: "Storage", shape: Tuple[int, int]) -> "Storage":
        """a where self is non-zero, else b, the three broadcast to `shape`."""
        raise NotImplementedError

    def _fill(self, value: float) -> None:
        """Every value set to `value`, in place."""
        raise NotImplementedError

    def _inplace(self, op: str, other: "Storage") -> None:
        """self (op)= other for add, sub or mul, other broadcasting into self's shape."""
        raise NotImplementedError

    def _random_mask(self, threshold: int, offset: float) -> None:
        """Value k (row-major, self not a transposed view) set to 1 where the top 53 bits of
        splitmix64(offset + k) are >= threshold, else 0, in place (csrc/random.c)."""
        raise NotImplementedError

    def _inplace_scalar(self, op: str, s: float) -> None:
        """self (op)= s, in place."""
        raise NotImplementedError

    def _axpy(self, alpha: float, other: "Storage") -> None:
        """self += alpha * other, in place (same shapes)."""
        raise NotImplementedError

    def _dsigmoid(self, grad: "Storage") -> "Storage":
        """self (1 - self) grad in one pass (same shapes)."""
        raise NotImplementedError

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def with_dtype(cls, dtype: np.dtype) -> type:
        """This backend's storage class for `dtype` (a resolved dtype: FLOAT64 or FLOAT32)."""
        return cls.variants[dtype]

    def astype(self, dtype: np.dtype) -> "Storage":
        """These values in `dtype`: self when it already is (no copy), else a new storage of
        this backend (float64 -> float32 rounds to nearest; overflow gives inf)."""
        if self.dtype is dtype:
            return self
        with np.errstate(over="ignore"):  # overflow to inf is the documented result
            values = self.numpy().astype(dtype)
        return self.with_dtype(dtype).from_array(values)

    @classmethod
    def from_values(cls, values: object, op: str = "Matrix") -> "Storage":
        from .._convert import to_float64_2d
        return cls.from_array(to_float64_2d(values, op))

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "Storage":
        """A new nrow x ncol storage with every value `value` (a primitive)."""
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
        """The values as a list of rows of Python floats (a primitive)."""
        raise NotImplementedError

    def numpy(self) -> np.ndarray:
        """The values as a 2-D NumPy array of the storage's dtype (a primitive)."""
        raise NotImplementedError

    def copy(self) -> "Storage":
        """A new storage object with the same values (a primitive)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.nrow}x{self.ncol}, {np.array2string(self.numpy(), precision=4)})"

    # -- reading a gradient as PyTorch users do: p.grad.norm(), abs(p.grad).max(), float(...) --
    def __abs__(self) -> "Storage":
        return self._unary("abs")

    def __float__(self) -> float:
        return self.item()

    def norm(self) -> "Storage":
        """The 2-norm of all values, 1x1 (torch's p.grad.norm(); .item() gives the number)."""
        return (self * self).sum().sqrt()

    def numel(self) -> int:
        """The number of values."""
        return self.nrow * self.ncol

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
            a, b = self._promoted(other, op)
            return a._elementwise(op, b, reverse)
        if getattr(other, "_takes_over_storage_ops", False) and op not in ("maximum", "minimum"):
            return NotImplemented  # W.grad + W: Python asks the Matrix's reflected operator
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
    # exp, log, tanh, sigmoid, relu, abs, sign, sqrt, log1p, expm1, square: one method per name
    # of UNARY_OPS, made below the class (sigmoid never overflows; sign is 0 at 0, NaN at NaN;
    # log1p and expm1 are accurate near 0)

    def __pow__(self, exponent):
        """self ** exponent: a number, or a storage of a broadcasting shape."""
        if isinstance(exponent, Storage):
            return self._elementwise("pow", exponent, False)
        return self._pow(as_scalar(exponent, "pow"))

    def __rpow__(self, base):
        """base ** self for a number base."""
        return self._elementwise("pow", base, True)

    # -- matrix product and transpose -----------------------------------------------------------
    def _same_backend(self, other: object, op: str) -> "Storage":
        """other, of this backend and dtype (converted to self's dtype when only that differs:
        for ops that write into self, which keeps its dtype); else a TypeError."""
        if not isinstance(other, Storage):
            raise TypeError(f"{op}: expected a storage object, got {type(other).__name__}")
        if type(other) is not type(self):
            if other.backend_name != self.backend_name:
                raise TypeError(f"{op}: cannot mix backends {self.backend_name!r} and "
                                f"{other.backend_name!r}; convert one with .to(name)")
            return other.astype(self.dtype)
        return other

    def _promoted(self, other: object, op: str) -> Tuple["Storage", "Storage"]:
        """(self, other) in their common dtype: float64 when one of them is (PyTorch's rule)."""
        if not isinstance(other, Storage) or other.backend_name != self.backend_name:
            self._same_backend(other, op)  # raises, naming both
        if other.dtype is self.dtype:
            return self, other
        return self.astype(FLOAT64), other.astype(FLOAT64)

    def __matmul__(self, other):
        if getattr(other, "_takes_over_storage_ops", False):
            return NotImplemented  # W.grad @ W: Python asks the Matrix's reflected operator
        return self.matmul(other)

    def matmul(self, other: "Storage", trans_self: bool = False,
               trans_other: bool = False) -> "Storage":
        """op(self) @ op(other), where op transposes when asked, without a transposed copy."""
        if type(other) is not type(self):
            a, b = self._promoted(other, "matmul")  # raises for another backend
            return a.matmul(b, trans_self, trans_other)
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
        """self += op(a) @ op(b), in place: gradient accumulation of a matrix product. Operands
        of another dtype than self's are multiplied in their common dtype and the product is
        rounded into self (which keeps its dtype)."""
        m, n, k = matmul_shape(a.shape, b.shape, trans_a, trans_b)
        if (m, n) != self.shape:
            raise ValueError(f"matmul (accumulate): result shape {(m, n)} does not match the "
                             f"target shape {self.shape}")
        if type(a) is not type(self) or type(b) is not type(self):
            self._same_backend(a, "matmul")  # raises for another backend
            self._same_backend(b, "matmul")
            product = a.matmul(b, trans_a, trans_b).astype(self.dtype)
            self._inplace("add", product)
        else:
            self._add_matmul(a, b, trans_a, trans_b, m, n, k)
        self._bump()
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

    def min(self, axis: Optional[int] = None) -> "Storage":
        """Smallest value; NaN wins, as in PyTorch."""
        check_axis("min", axis)
        return self._select("min", axis)

    def argmax(self, axis: Optional[int] = None) -> "Storage":
        """Position of the largest value (float; row-major over all values for axis None);
        the first of ties, and the first NaN, wins, as in PyTorch."""
        check_axis("argmax", axis)
        self._check_positions("argmax", axis)
        return self._select("argmax", axis)

    def argmin(self, axis: Optional[int] = None) -> "Storage":
        """Position of the smallest value; the first of ties, and the first NaN, wins."""
        check_axis("argmin", axis)
        self._check_positions("argmin", axis)
        return self._select("argmin", axis)

    def _check_positions(self, op: str, axis: Optional[int]) -> None:
        """Positions are stored as values of the matrix's dtype: float32 holds every integer
        only up to 2**24, so a float32 argmax/argmin over more positions is refused."""
        count = self.nrow * self.ncol if axis is None else (self.nrow if axis == 0 else self.ncol)
        if self.dtype is FLOAT32 and count > 2 ** 24:
            raise ValueError(f"{op}: a float32 {self.shape} matrix has {count:,} positions to "
                             "choose from along this axis, more than float32 counts exactly "
                             "(2**24); convert it with .double() first")

    # -- indexing and shapes ---------------------------------------------------------------------
    def take(self, rows: np.ndarray, cols: np.ndarray) -> "Storage":
        """The len(rows) x len(cols) block self[rows][:, cols] (index_positions made them)."""
        return self._gather(rows, cols)

    def put_(self, rows: np.ndarray, cols: np.ndarray, block: "Storage",
             accumulate: bool = False) -> "Storage":
        """self[rows[i], cols[j]] = block[i, j] (+= when accumulate: repeated positions add up),
        in place; block is len(rows) x len(cols), or broadcasts to it."""
        block = self._same_backend(block, "setitem")
        shape = (len(rows), len(cols))
        if block.shape != shape:
            if any(size not in (1, want) for size, want in zip(block.shape, shape)):
                raise ValueError(f"setitem: a {block.shape} value does not fit the selected "
                                 f"{shape} block (nor broadcasts to it)")
            block = block + type(self).zeros(*shape)
        self._scatter(rows, cols, block, accumulate)
        self._bump()
        return self

    def reshape(self, nrow: int, ncol: int) -> "Storage":
        """The same values, row-major, in nrow x ncol (a copy)."""
        if nrow * ncol != self.nrow * self.ncol:
            raise ValueError(f"reshape: cannot reshape {self.shape} ({self.nrow * self.ncol} "
                             f"values) into {(nrow, ncol)}")
        return self._reshape(nrow, ncol)

    @classmethod
    def cat(cls, parts: list, axis: int) -> "Storage":
        """The parts one after the other: stacked down the rows (axis 0) or side by side (1)."""
        for p in parts:
            if type(p) is not cls:
                parts[0]._promoted(p, "cat")  # raises for another backend
                if any(q.dtype is FLOAT64 for q in parts) and cls.dtype is not FLOAT64:
                    cls = cls.with_dtype(FLOAT64)
        parts = [p.astype(cls.dtype) for p in parts]
        other = 1 - axis
        if any(p.shape[other] != parts[0].shape[other] for p in parts):
            raise ValueError(f"cat: along axis {axis} the parts must agree in dimension {other}, "
                             f"got shapes {', '.join(str(p.shape) for p in parts)}")
        total = sum(p.shape[axis] for p in parts)
        shape = (total, parts[0].ncol) if axis == 0 else (parts[0].nrow, total)
        out = cls.zeros(*shape)
        start = 0
        for p in parts:
            span = np.arange(start, start + p.shape[axis], dtype=np.int64)
            whole = np.arange(p.shape[other], dtype=np.int64)
            out._scatter(*((span, whole) if axis == 0 else (whole, span)), p, False)
            start += p.shape[axis]
        return out

    def where(self, a: "Storage", b: "Storage") -> "Storage":
        """a where self (a condition) is non-zero, else b; the three broadcast together. The
        result has a's and b's common dtype."""
        for v in (a, b):
            if not isinstance(v, Storage) or v.backend_name != self.backend_name:
                self._same_backend(v, "where")  # raises, naming both
        if a.dtype is not b.dtype:
            a, b = a._promoted(b, "where")
        if self.dtype is not a.dtype:  # the condition as 1/0 first: a cast could round to 0
            return (self != 0.0).astype(a.dtype).where(a, b)
        shape = broadcast_shape("where", broadcast_shape("where", self.shape, a.shape), b.shape)
        return self._where(a, b, shape)

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
    def _bump(self) -> None:
        """Count an in-place write (on the buffer's owner too, when self is a view of it)."""
        self.version += 1
        if self._base is not None:
            self._base.version += 1

    @classmethod
    def random_mask(cls, nrow: int, ncol: int, p: float, offset: float) -> "Storage":
        """A new (nrow, ncol) matrix of 0 (probability p) and 1, drawn from the counter-based
        stream at position `offset` (a whole number below 2^53): value k is kept when
        u_k >= p, u_k the top 53 bits of splitmix64(offset + k) over 2^53."""
        out = cls.zeros(nrow, ncol)
        out._random_mask(math.ceil(p * 2.0 ** 53), offset)
        out._bump()
        return out

    def fill_(self, value: float) -> "Storage":
        self._fill(as_scalar(value, "fill_"))
        self._bump()
        return self

    def ones_(self) -> "Storage":
        return self.fill_(1.0)

    def zeros_(self) -> "Storage":
        return self.fill_(0.0)

    def _inplace_checked(self, op: str, other: object) -> "Storage":
        if type(other) is type(self) and other.nrow == self.nrow and other.ncol == self.ncol:
            self._inplace(op, other)  # the common case (gradient accumulation), first
        elif isinstance(other, Storage):
            other = self._same_backend(other, f"{op}=")
            shape = broadcast_shape(f"in-place {_SYMBOL[op]}=", self.shape, other.shape)
            if shape != self.shape:
                raise ValueError(f"in-place {_SYMBOL[op]}=: {other.shape} does not broadcast into "
                                 f"{self.shape} without changing its shape")
            self._inplace(op, other)
        else:
            self._inplace_scalar(op, as_scalar(other, f"{op}="))
        self._bump()
        return self

    def __iadd__(self, other): return self._inplace_checked("add", other)
    def __isub__(self, other): return self._inplace_checked("sub", other)
    def __imul__(self, other): return self._inplace_checked("mul", other)

    def add_scaled_(self, other: "Storage", alpha: float) -> "Storage":
        """self += alpha * other, in place and without a temporary (same shapes only)."""
        if type(other) is not type(self):
            other = self._same_backend(other, "add_scaled_")
        if other.nrow != self.nrow or other.ncol != self.ncol:
            raise ValueError(f"add_scaled_: shapes {self.shape} and {other.shape} differ")
        self._axpy(as_scalar(alpha, "add_scaled_"), other)
        self._bump()
        return self

    def dsigmoid(self, grad: "Storage") -> "Storage":
        """self * (1 - self) * grad in one pass, where self is a sigmoid's output: dA/dZ = A(1 - A)."""
        grad = self._same_backend(grad, "dsigmoid")
        if grad.shape != self.shape:
            raise ValueError(f"dsigmoid: shapes {self.shape} and {grad.shape} differ")
        return self._dsigmoid(grad)


# Every method a backend must define (see Storage.__init_subclass__).
PRIMITIVES = ("from_array", "share", "full", "tolist", "numpy", "copy", "_binary", "_binary_scalar",
              "_unary", "_pow", "_matmul", "_add_matmul", "_transpose", "_reduce", "_select",
              "_gather", "_scatter", "_reshape", "_where", "_fill", "_inplace", "_inplace_scalar", "_random_mask",
              "_axpy", "_dsigmoid")


def _unary_method(name: str):
    def unary(self: Storage) -> Storage:
        return self._unary(name)
    unary.__name__ = unary.__qualname__ = name
    unary.__doc__ = f"{name} of every value (the unary kernel {name!r})."
    return unary


for _name in UNARY_OPS:
    if _name != "neg":  # -x is __neg__
        setattr(Storage, _name, _unary_method(_name))
