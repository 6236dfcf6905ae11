"""Matrix: the autograd node.

A Matrix holds its values in a storage object (`data`), the gradient of a scalar loss with
respect to them (`grad`), the operands it was computed from (`_children`) and the row of the
rule table (`pyautograd.ops`) that made it: the op's value, its local derivative (vjp) and its
forward rule live there, once. The Matrix never does arithmetic itself: every number is
crunched by its storage backend, C or pure Python.

`backward()` sorts the graph topologically (iteratively, so a chain of 100,000 ops is fine),
seeds the output's gradient and calls each node's reverse rule from the output back to the
inputs: each adds "local derivative times upstream gradient" into every operand that needs it.
The same rules run on matrices instead of storages for derivatives of derivatives
(`gradients(..., create_graph=True)`), and `apply` pushes tangents through them in forward mode.
"""
from __future__ import annotations

import builtins
import itertools
import math
from typing import (TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, Tuple,
                    Union, overload)

import numpy as np

from . import backends, ops
from .backends.base import Storage, as_scalar, index_positions, normalize_axis
from .grad_mode import _enabled, is_grad_enabled
from .backward import ONE_NEEDED as _ONE_NEEDED, run_backward
from .ops import LINEAR, REDUCED, Rule

Number = Union[int, float]
Operand = Union["Matrix", Storage, Number]


class Matrix:
    """A 2-D float64 matrix that records the operations made with it, for reverse-mode autodiff."""

    __slots__ = ("_data", "_grad", "requires_grad", "_children", "_rule", "_args", "_needs", "_op",
                 "_seq", "_saved", "_tangent", "_kind", "__weakref__")
    _args: Tuple[Any, ...]
    _needs: Tuple[bool, ...]
    _tangent: Optional["Matrix"]
    _kind: Optional[str]
    # _kind (unset on most matrices): "flat" for a 1 x n row made from 1-D data (what PyTorch
    # holds as a 1-D tensor: ag.tensor([..]), arange, m[mask], ...), "mask" for a comparison's
    # 0/1 result (m[m > 0] selects with it).
    __array_ufunc__ = None  # NumPy defers to our reflected operators
    _takes_over_storage_ops = True  # storage (op) Matrix defers to Matrix's reflected operators

    def __init__(self, values: Any, requires_grad: bool = True) -> None:
        if isinstance(values, Storage):
            data = values
        elif isinstance(values, Matrix):
            data = values._data.copy()
        else:
            data = backends.current_storage().from_values(values, "Matrix")
        self._data: Storage = data
        self._grad: Optional[Storage] = None
        self.requires_grad: bool = bool(requires_grad)
        self._children: Tuple[Any, ...] = ()
        self._rule: Optional[Rule] = None
        self._op = ""
        self._seq = _next_number()
        self._saved: Tuple = ()

    # -- the values -----------------------------------------------------------------------------
    @property
    def data(self) -> Storage:
        """The values: a storage object of the matrix's backend (arithmetic on it records no
        graph, which is what parameter updates under no_grad want)."""
        return self._data

    @data.setter
    def data(self, values: Any) -> None:
        """Replace the values (PyTorch's `p.data = t`): a storage of the same backend, a Matrix
        (its values), or anything Matrix() accepts (a NumPy array, nested lists), converted to
        this matrix's backend; anything else is a TypeError here, not a failure in a later op."""
        if type(values) is type(self._data):  # `p.data -= lr * p.grad` assigns it back
            self._data = values
        else:
            self._data = _storage_of(values, type(self._data), "data", "the assigned storage",
                                     cast=False)

    # -- the gradient ---------------------------------------------------------------------------
    @property
    def grad(self) -> Storage:
        """d(loss)/d(self), same shape as data; zeros until a backward reaches this node.

        Those zeros are not kept: reading them leaves `has_grad` false, so an optimizer still
        skips the matrix (`m.grad += g` keeps its result, through the setter)."""
        g = self._grad
        if g is None:
            return type(self._data).zeros(self._data.nrow, self._data.ncol)
        return g

    @grad.setter
    def grad(self, value: Storage) -> None:
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for matrices made by the user (not by an op that recorded a graph)."""
        return self._rule is None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the accumulated gradient: it reads as zeros until the next backward reaches it.

        By default the storage is released (PyTorch's set_to_none), so the next backward adopts
        its first contribution instead of adding it to zeros; set_to_none=False zeroes it in
        place (a kernel a compiled step replays), giving a matrix without one a zero gradient
        that counts (an optimizer then steps it: weight decay, momentum)."""
        if set_to_none:
            self._grad = None
        elif self._grad is not None:
            self._grad.fill_(0.0)
        else:
            self._grad = type(self._data).zeros(self._data.nrow, self._data.ncol)

    # -- conversion -----------------------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, int]:
        return (self._data.nrow, self._data.ncol)

    @property
    def backend(self) -> str:
        return self._data.backend_name

    def item(self) -> float:
        """The single value of a 1x1 matrix, as a Python float."""
        return self._data.item()

    def tolist(self) -> List[List[float]]:
        return self._data.tolist()

    def numpy(self) -> np.ndarray:
        """The values as a 2-D float64 array: a read-only view on the C backend, a copy on Python."""
        return self._data.numpy()

    def detach(self) -> "Matrix":
        """The same values (shared storage) as a new leaf that records no graph."""
        return _same_kind(Matrix(self._data, requires_grad=False), self)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the values: float64 or float32, as a NumPy dtype (== np.float32 and
        == "float32" hold for float32 matrices; ag.float32 is the same object)."""
        return self._data.dtype

    def to(self, target: Any) -> "Matrix":
        """These values on backend `target` ("c", "python", "verify", keeping their dtype), or in
        dtype `target` (float32 or float64, in any spelling, keeping their backend). The
        gradient flows back across the conversion and arrives in self's backend and dtype."""
        home = type(self._data)
        if isinstance(target, str) and target in backends.NAMES:
            cls = backends.storage_class(target).with_dtype(home.dtype)
        else:
            from .backends.base import resolve_dtype
            if isinstance(target, str):
                try:
                    np.dtype(target)
                except TypeError:  # not a dtype's name: an unknown backend, which this names
                    backends.storage_class(target)
            cls = home.with_dtype(resolve_dtype(target, "to"))
        if cls is home:
            return self
        return _same_kind(apply(ops.TO, (self,), (cls, home)), self)

    def float(self) -> "Matrix":
        """self.to(float32), as torch's Tensor.float(): self when it already is float32."""
        from .backends.base import FLOAT32
        return self.to(FLOAT32)

    def double(self) -> "Matrix":
        """self.to(float64), as torch's Tensor.double(): self when it already is float64."""
        from .backends.base import FLOAT64
        return self.to(FLOAT64)

    # -- Python protocols -----------------------------------------------------------------------
    def _scalar(self, what: str) -> builtins.float:
        """The value of a 1x1 matrix, or a ValueError (PyTorch's) naming the conversion and shape."""
        if self._data.nrow != 1 or self._data.ncol != 1:
            raise ValueError(f"{what}: a {self.shape} matrix has {self._data.nrow * self._data.ncol}"
                               " values; only a 1x1 matrix converts to a Python number")
        return self._data.item()

    def __bool__(self) -> bool:
        """The truth of a 1x1 matrix's value; any other shape is ambiguous (as in PyTorch), so
        that `if a < b:` on matrices never silently takes a branch."""
        if self._data.nrow != 1 or self._data.ncol != 1:
            raise RuntimeError(f"bool: the truth value of a {self.shape} matrix (more than one "
                               "value) is ambiguous; use (m != 0).sum() or m.max() to reduce it")
        return bool(self._data.item())

    def __float__(self) -> builtins.float:
        return self._scalar("float")

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __format__(self, spec: str) -> str:
        """A format spec formats the value of a 1x1 matrix (f"{loss:.3f}"); no spec gives repr."""
        if not spec:
            return repr(self)
        if self._data.nrow != 1 or self._data.ncol != 1:
            raise TypeError(f"format: the spec {spec!r} needs a 1x1 matrix, this one is {self.shape}")
        return format(self._data.item(), spec)

    def __len__(self) -> int:
        """The number of rows, as len() of a tensor gives its first dimension."""
        return self._data.nrow

    def __iter__(self) -> Iterator["Matrix"]:
        """The rows, each a 1 x ncol matrix (m[i]), gradients included."""
        for i in range(self._data.nrow):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        """The values as a 2-D array of their dtype (NumPy's protocol): np.asarray(m), np.array(m).
        On the C backend without a copy the array is a read-only view of the values."""
        values = self._data.numpy()
        if dtype is not None and np.dtype(dtype) != values.dtype:
            if copy is False:
                raise ValueError(f"__array__: converting to {np.dtype(dtype)} needs a copy, "
                                 "but copy=False")
            return values.astype(dtype)
        return values.copy() if copy else values

    def __repr__(self) -> str:
        values = np.array2string(self._data.numpy(), precision=4, separator=", ", threshold=64,
                                 prefix="       ")
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op!r}" if self._op else ""
        return (f"Matrix(shape={self.shape}, backend={self.backend!r}{grad}{op},\n"
                f"       {values})")

    # -- backward -------------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False) -> None:
        """Backpropagate: add d(self)/d(leaf) (times `gradient`) into the grad of every leaf.

        A 1x1 output is seeded with 1; any other shape needs `gradient` of its shape. Leaf
        gradients accumulate across calls until zero_grad(); intermediate ones are recomputed.
        The graph is released afterwards unless retain_graph=True. A `.grad` is values, never
        a graph node, so create_graph=True is refused: differentiable gradients come from
        `ag.autograd.grad(..., create_graph=True)` (or `ag.grad`)."""
        if create_graph:
            raise RuntimeError(
                f"backward: create_graph=True is not supported (a {self.shape} output): a "
                ".grad holds values, not a recorded matrix, so it could not be differentiated "
                "again. Use ag.autograd.grad(outputs, inputs, create_graph=True), which returns "
                "differentiable gradients, or ag.grad(f)")
        if not self.requires_grad:
            raise RuntimeError(f"backward: this {self.shape} matrix does not require a gradient "
                               "(none of the matrices it was computed from requires one)")
        run_backward(self, self._seed(gradient), bool(retain_graph))

    def _seed(self, gradient: Any) -> Storage:
        cls = type(self._data)
        if gradient is None:
            if self._data.nrow != 1 or self._data.ncol != 1:
                raise ValueError(f"backward: the output has shape {self.shape}; an implicit "
                                 "gradient exists only for a 1x1 output, pass gradient= of that shape")
            return cls.full(1, 1, 1.0)
        seed = _storage_of(gradient, cls, "backward", "gradient")
        if isinstance(gradient, (Matrix, Storage)):
            seed = seed.copy()  # the caller's values: backward accumulates into its seed
        if seed.shape != self.shape:
            raise ValueError(f"backward: gradient has shape {seed.shape}, the output {self.shape}")
        return seed

    # -- element-wise arithmetic: each op is a row of pyautograd.ops -------------------------
    def __add__(self, other: Operand) -> "Matrix":
        """self + other. d/dself = 1, d/dother = 1, summed over broadcast dimensions."""
        if type(other) is not Matrix and not _is_number(other):
            return _foreign(ops.ADD, self, other)
        return _apply2(ops.ADD, self, other)

    def __radd__(self, other: Operand) -> "Matrix":
        return self + other

    def __sub__(self, other: Operand) -> "Matrix":
        """self - other. d/dself = 1, d/dother = -1."""
        if type(other) is not Matrix and not _is_number(other):
            return _foreign(ops.SUB, self, other)
        return _apply2(ops.SUB, self, other)

    def __rsub__(self, other: Operand) -> "Matrix":
        if type(other) is not Matrix and not _is_number(other):
            return _foreign(ops.SUB, self, other, reverse=True)
        return _apply2(ops.SUB, _operand(other, "sub"), self)

    def __mul__(self, other: Operand) -> "Matrix":
        """self * other (element-wise). d/dself = other, d/dother = self."""
        if type(other) is Matrix:
            return _apply2(ops.MUL, self, other)
        return _foreign(ops.MUL, self, other) if not _is_number(other) else \
            _apply2(ops.MUL, self, as_scalar(other, "mul"))

    def __rmul__(self, other: Operand) -> "Matrix":
        return self * other

    def __truediv__(self, other: Operand) -> "Matrix":
        """self / other. d/dself = 1/other, d/dother = -self/other^2 = -result/other."""
        if type(other) is Matrix:
            return _apply2(ops.DIV, self, other)
        return _foreign(ops.DIV, self, other) if not _is_number(other) else \
            _apply2(ops.DIV, self, as_scalar(other, "div"))

    def __rtruediv__(self, other: Operand) -> "Matrix":
        """s / self. d/dself = -s/self^2 = -result/self."""
        if type(other) is not Matrix and not _is_number(other):
            return _foreign(ops.DIV, self, other, reverse=True)
        return _apply2(ops.DIV, _operand(other, "div"), self)

    def __neg__(self) -> "Matrix":
        return _apply1(ops.NEG, self)

    def __pow__(self, exponent: Union[Number, "Matrix"]) -> "Matrix":
        """self ** p: d/dself = p * self^(p-1) (0 for p = 0, as in PyTorch). A matrix exponent
        broadcasts, and gets d/dp = self^p log(self)."""
        return _apply2(ops.POW, self, exponent if type(exponent) is float else
                       _operand(exponent, "pow"))

    def __rpow__(self, base: Any) -> "Matrix":
        """base ** self, for a number (or array) base: a constant that broadcasts."""
        return _apply2(ops.POW, _operand(base, "pow"), self)

    # -- comparisons: masks of 0.0 and 1.0 that record no graph ---------------------------------
    def _compare(self, other: Operand, op: str) -> "Matrix":
        if _is_number(other):
            return _mask(getattr(self._data, op)(other))
        a, b = _aligned(self, other, op.strip("_"))
        try:
            return _mask(getattr(a._data, op)(b._data))
        except ValueError as exc:
            raise _as_given(exc, other, b) from None

    # masks combine as PyTorch's booleans: & (both), | (either), ~ (not); values are 0 and 1
    def __and__(self, other: Any) -> "Matrix":
        return _mask((self._data != 0.0) * (_lift(other)._data != 0.0))

    def __or__(self, other: Any) -> "Matrix":
        return _mask(((self._data != 0.0) + (_lift(other)._data != 0.0)) > 0.0)

    def __invert__(self) -> "Matrix":
        return _mask(self._data == 0.0)

    __rand__, __ror__ = __and__, __or__

    def __lt__(self, other: Any) -> "Matrix": return self._compare(other, "__lt__")
    def __le__(self, other: Any) -> "Matrix": return self._compare(other, "__le__")
    def __gt__(self, other: Any) -> "Matrix": return self._compare(other, "__gt__")
    def __ge__(self, other: Any) -> "Matrix": return self._compare(other, "__ge__")
    def __eq__(self, other: Any) -> "Matrix": return self._compare(other, "__eq__")  # type: ignore[override]
    def __ne__(self, other: Any) -> "Matrix": return self._compare(other, "__ne__")  # type: ignore[override]
    __hash__ = object.__hash__

    # -- in-place updates (parameters, under no_grad) -------------------------------------------
    def _check_inplace(self, op: str) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"in-place {op} on a matrix that requires grad would corrupt the "
                               "graph; update parameters inside `with pyautograd.no_grad():`")

    def __iadd__(self, other: Operand) -> "Matrix":
        self._check_inplace("+=")
        self._data += other._data if isinstance(other, Matrix) else other
        return self

    def __isub__(self, other: Operand) -> "Matrix":
        self._check_inplace("-=")
        self._data -= other._data if isinstance(other, Matrix) else other
        return self

    def __imul__(self, other: Operand) -> "Matrix":
        self._check_inplace("*=")
        self._data *= other._data if isinstance(other, Matrix) else other
        return self

    # -- matrix product and transpose -----------------------------------------------------------
    def __matmul__(self, other: "Matrix") -> "Matrix":
        """Y = X @ W. dL/dX = dL/dY @ W^T and dL/dW = X^T @ dL/dY, without transposed copies."""
        if type(other) is not Matrix:
            if _is_number(other):
                raise _number_in_matmul(self.shape, other)
            return _foreign(ops.MATMUL, self, other, lift=_lift)
        return _apply2(ops.MATMUL, self, other)

    def __rmatmul__(self, other: Any) -> "Matrix":
        if _is_number(other):
            raise _number_in_matmul(self.shape, other)
        return _foreign(ops.MATMUL, self, other, reverse=True, lift=_lift)

    @property
    def T(self) -> "Matrix":
        """The transpose; its gradient is the transposed upstream gradient."""
        return _apply1(ops.TRANSPOSE, self)

    # -- reductions -----------------------------------------------------------------------------
    # Results are always 2-D: a reduction over one axis keeps it (as keepdim=True in PyTorch), so
    # keepdim= (and NumPy's keepdims=) is accepted with either value and changes nothing.
    def sum(self, axis: Optional[int] = None, keepdim: bool = False, *, dim: Optional[int] = None,
            keepdims: bool = False) -> "Matrix":
        """Sum over all values (1x1), the rows (axis=0 -> 1 x ncol) or the columns (axis=1 -> nrow x 1).
        Each input gets the upstream gradient of its sum, broadcast back. Axis -1 is 1, -2 is 0;
        dim= is PyTorch's name for axis=."""
        if keepdim is not False or keepdims is not False:  # (the hot path: the defaults)
            _check_keepdim("sum", keepdim, keepdims)
        if axis is not None or dim is not None:
            axis = normalize_axis("sum", axis, dim)
        return _apply1(ops.SUM, self, axis, True)

    def mean(self, axis: Optional[int] = None, keepdim: bool = False, *,
             dim: Optional[int] = None, keepdims: bool = False) -> "Matrix":
        """Mean over all values or one axis; each input gets 1/count of the upstream gradient."""
        if keepdim is not False or keepdims is not False:  # (the hot path: the defaults)
            _check_keepdim("mean", keepdim, keepdims)
        if axis is not None or dim is not None:
            axis = normalize_axis("mean", axis, dim)
        return _apply1(ops.MEAN, self, axis, True)

    def var(self, dim: Optional[int] = None, unbiased: Optional[bool] = None, keepdim: bool = False,
            *, correction: Optional[builtins.float] = None, axis: Optional[int] = None) -> "Matrix":
        """Variance over all values or one axis, as torch.var: sum((x - mean)^2) / (N - correction),
        correction 1 by default (unbiased=False is correction 0). Differentiable."""
        _check_keepdim("var", keepdim, False)
        axis = normalize_axis("var", axis, dim)
        if unbiased is not None and correction is not None:
            raise TypeError("var: pass unbiased= or correction=, not both")
        c = float(correction) if correction is not None else (0.0 if unbiased is False else 1.0)
        n = self._data.nrow * self._data.ncol if axis is None else self.shape[axis]
        centered = self - self.mean(axis)
        return centered.square().sum(axis) / (n - c if n > c else 0.0)  # 0: inf or nan, as torch

    def std(self, dim: Optional[int] = None, unbiased: Optional[bool] = None, keepdim: bool = False,
            *, correction: Optional[builtins.float] = None, axis: Optional[int] = None) -> "Matrix":
        """Standard deviation (the square root of var, same arguments), as torch.std."""
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis).sqrt()

    def norm(self, p: Union[builtins.float, str] = 2, dim: Optional[int] = None, keepdim: bool = False,
             *, axis: Optional[int] = None) -> "Matrix":
        """The p-norm of all values (1x1) or along an axis, as torch.norm: p = 2 (or "fro"), 1,
        inf or any positive number. Differentiable (the 2-norm's gradient is x / norm)."""
        _check_keepdim("norm", keepdim, False)
        axis = normalize_axis("norm", axis, dim)
        if p == "fro":
            p = 2
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
            raise ValueError(f"norm: p must be a positive number, inf or 'fro', got {p!r}")
        if p == 2:
            return self.square().sum(axis).sqrt()
        if p == 1:
            return self.abs().sum(axis)
        if math.isinf(p):
            return self.abs().max(axis=axis)
        return (self.abs() ** float(p)).sum(axis) ** (1.0 / float(p))

    @overload
    def max(self, dim: None = None, keepdim: bool = False, *, axis: Optional[int] = None,
            keepdims: bool = False) -> "Matrix": ...
    @overload
    def max(self, dim: int, keepdim: bool = False, *, axis: None = None,
            keepdims: bool = False) -> "ValuesIndices": ...
    @overload
    def max(self, dim: "Matrix", keepdim: bool = False, *, axis: None = None,
            keepdims: bool = False) -> "Matrix": ...

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Optional[int] = None,
            keepdims: bool = False) -> Any:
        """As PyTorch: m.max() is the largest value (1x1); m.max(dim) or m.max(dim=d) is the pair
        (values, indices) of each row's (dim=1) or column's (dim=0) largest value and its
        position; m.max(other_matrix) is maximum(m, other). NumPy's m.max(axis=d) gives the
        values alone. The gradient is shared evenly among tied maxima (a NaN wins it all)."""
        return _extreme(self, "max", ops.MAX, dim, axis, keepdim, keepdims)

    @overload
    def min(self, dim: None = None, keepdim: bool = False, *, axis: Optional[int] = None,
            keepdims: bool = False) -> "Matrix": ...
    @overload
    def min(self, dim: int, keepdim: bool = False, *, axis: None = None,
            keepdims: bool = False) -> "ValuesIndices": ...
    @overload
    def min(self, dim: "Matrix", keepdim: bool = False, *, axis: None = None,
            keepdims: bool = False) -> "Matrix": ...

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Optional[int] = None,
            keepdims: bool = False) -> Any:
        """Smallest value, as max: m.min(dim) is (values, indices), m.min(axis=d) the values."""
        return _extreme(self, "min", ops.MIN, dim, axis, keepdim, keepdims)

    def argmax(self, axis: Optional[int] = None, keepdim: bool = False, *,
               dim: Optional[int] = None) -> "Matrix":
        """Position of the largest value per axis (or over all values, counted row-major), as
        floats in a matrix that records no graph; the first of ties (and the first NaN) wins."""
        _check_keepdim("argmax", keepdim, False)
        return Matrix(self._data.argmax(normalize_axis("argmax", axis, dim)), requires_grad=False)

    def argmin(self, axis: Optional[int] = None, keepdim: bool = False, *,
               dim: Optional[int] = None) -> "Matrix":
        """Position of the smallest value per axis (or overall), as argmax."""
        _check_keepdim("argmin", keepdim, False)
        return Matrix(self._data.argmin(normalize_axis("argmin", axis, dim)), requires_grad=False)

    # -- indexing and shapes --------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "Matrix":
        """m[key], always 2-D: m[i] is row i (1 x ncol), m[:, j] column j (nrow x 1), m[i, j]
        1x1; slices (positive steps), negative positions, and a 1-D list, integer array or
        integer-valued Matrix of rows (a gather). m[mask] (a comparison's result such as m > 0,
        or a boolean array of m's shape) and m[rows, cols] (two sequences, paired) select single
        values, row-major, as one 1 x k row (numpy.matrix's shape; PyTorch's is 1-D). The
        gradient scatters back into a zero matrix of m's shape, repeats adding up."""
        flat = _paired_positions("getitem", key, self.shape)
        if flat is not None:
            return _take_flat(self, flat)
        rows, cols = index_positions("getitem", _plain_key(key), self.shape)
        return apply(ops.GETITEM, (self,), (rows, cols))

    def __setitem__(self, key: Any, value: Any) -> None:
        """m[key] = value (a number, or values that broadcast to the selection), in place: under
        no_grad, or on a matrix that does not require grad. Counts as an in-place write.
        m[mask] = v and m[rows, cols] = v take a number or one value per selected place."""
        self._check_inplace("setitem")
        cls = type(self._data)
        flat = _paired_positions("setitem", key, self.shape)
        if flat is not None:
            _put_flat(self._data, flat, value)
            return
        rows, cols = index_positions("setitem", _plain_key(key), self.shape)
        if _is_number(value):
            block = cls.full(1, 1, as_scalar(value, "setitem"))
        else:
            block = value._data if isinstance(value, Matrix) else (
                value if isinstance(value, Storage) else cls.from_values(value, "setitem"))
        self._data.put_(rows, cols, block)

    def gather(self, dim: int, index: Any) -> "Matrix":
        """torch.gather: out[i, j] = m[index[i, j], j] (dim=0) or m[i, index[i, j]] (dim=1), of
        index's shape (its sizes at most m's along the other dimension). The gradient scatters
        back, repeats adding up."""
        axis = _dim("gather", dim)
        idx = _integer_array("gather", index)
        p, q = idx.shape
        nrow, ncol = self.shape
        other = (q, ncol) if axis == 0 else (p, nrow)
        if other[0] > other[1]:
            raise ValueError(f"gather: index of shape {idx.shape} is larger than the input "
                             f"{self.shape} along dimension {1 - axis}")
        size = self.shape[axis]
        bad = (idx < 0) | (idx >= size)
        if bad.any():
            raise IndexError(f"gather: index {int(idx[bad][0])} is out of range for dimension "
                             f"{axis} of size {size}")
        if axis == 1:
            flat = np.arange(p, dtype=np.int64)[:, None] * ncol + idx
        else:
            flat = idx * ncol + np.arange(q, dtype=np.int64)[None, :]
        return _take_flat(self, flat.ravel()).reshape(p, q)

    def reshape(self, *shape: Any) -> "Matrix":
        """The values in row-major order, laid out as nrow x ncol (one of them may be -1: what
        the other leaves); m.reshape(r, c) or m.reshape((r, c)). A single size (-1 or the count
        of values), PyTorch's 1-D shape, gives one 1 x n row. The gradient is reshaped back."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        n = self._data.nrow * self._data.ncol
        if len(shape) == 1 and not isinstance(shape[0], bool) and isinstance(
                shape[0], (int, np.integer)) and int(shape[0]) in (-1, n):
            return _flat(apply(ops.RESHAPE, (self,), (1, n)))
        if len(shape) != 2:
            raise ValueError(f"reshape: a matrix has 2 dimensions, got the shape {shape} for a "
                             f"{self.shape} matrix (a single size must be -1 or {n})")
        for size in shape:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"reshape: sizes must be integers, got {shape}")
        nrow, ncol = int(shape[0]), int(shape[1])
        if nrow == -1 and ncol == -1:
            raise ValueError(f"reshape: only one size can be -1, got {shape}")
        if nrow == -1 and ncol > 0 and n % ncol == 0:
            nrow = n // ncol
        elif ncol == -1 and nrow > 0 and n % nrow == 0:
            ncol = n // nrow
        if nrow < 1 or ncol < 1 or nrow * ncol != n:
            raise ValueError(f"reshape: cannot lay the {n} values of a {self.shape} matrix out "
                             f"as {shape}")
        return apply(ops.RESHAPE, (self,), (nrow, ncol))

    def view(self, *shape: Any) -> "Matrix":
        """reshape (a copy here, not a view: pyautograd has no aliasing views but .T)."""
        return self.reshape(*shape)

    def flatten(self) -> "Matrix":
        """All values in one row (1 x n), row-major."""
        return _flat(apply(ops.FLATTEN, (self,), (1, self._data.nrow * self._data.ncol)))

    def unsqueeze(self, dim: int) -> "Matrix":
        """A vector (1 x n or n x 1, PyTorch's 1-D tensor) as the row (dim=0) or the column
        (dim=1 or -1) PyTorch's unsqueeze makes of it; a matrix would need a third dimension."""
        axis = _dim("unsqueeze", dim)
        nrow, ncol = self.shape
        if nrow != 1 and ncol != 1:
            raise ValueError(f"unsqueeze: a {self.shape} matrix would become 3-D; pyautograd "
                             "is 2-D only (unsqueeze applies to a 1 x n or n x 1 vector)")
        n = nrow * ncol
        target = (1, n) if axis == 0 else (n, 1)
        return self if self.shape == target else apply(ops.RESHAPE, (self,), target)

    def squeeze(self, dim: Optional[int] = None) -> "Matrix":
        """A vector (1 x n or n x 1) as the 1 x n row that stands for PyTorch's 1-D result;
        with dim, only when that dimension has size 1 (else unchanged, as PyTorch)."""
        nrow, ncol = self.shape
        if dim is not None:
            axis = _dim("squeeze", dim)
            if self.shape[axis] != 1:
                return self
        if nrow != 1 and ncol != 1:
            return self
        if nrow == 1:
            return self
        return _flat(apply(ops.RESHAPE, (self,), (1, nrow)))

    def size(self, dim: Optional[int] = None) -> Any:
        """The shape (nrow, ncol), or one of its sizes (dim 0, 1, -1, -2), as torch's size()."""
        if dim is None:
            return self.shape
        return self.shape[_dim("size", dim)]

    def numel(self) -> int:
        """The number of values, nrow * ncol."""
        return self._data.nrow * self._data.ncol

    def dim(self) -> int:
        """2: every matrix is 2-D (PyTorch's 1-D results are 1 x n rows here)."""
        return 2

    @property
    def ndim(self) -> int:
        """2, as dim()."""
        return 2

    def t(self) -> "Matrix":
        """The transpose, .T."""
        return self.T

    def clone(self) -> "Matrix":
        """A copy of the values that stays in the graph: its gradient flows back to self."""
        return _same_kind(_apply1(ops.CLONE, self), self)

    def pow(self, exponent: Union[Number, "Matrix"]) -> "Matrix":
        """self ** exponent."""
        return self ** exponent

    def cpu(self) -> "Matrix":
        """self: every matrix lives in main memory."""
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Matrix":
        """Set requires_grad in place and return self, as PyTorch; only a leaf can stop
        requiring a gradient (detach() a result instead)."""
        if not requires_grad and not self.is_leaf:
            raise RuntimeError(f"requires_grad_: this {self.shape} matrix was made by op "
                               f"{self._op!r}; only a leaf's flag can be cleared, use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def fill_(self, value: Number) -> "Matrix":
        """Set every value to `value`, in place (under no_grad for a matrix requiring grad)."""
        self._check_inplace("fill_")
        self._data.fill_(as_scalar(value, "fill_"))
        return self

    def zero_(self) -> "Matrix":
        """Set every value to 0, in place."""
        return self.fill_(0.0)

    def copy_(self, src: Any) -> "Matrix":
        """Copy src's values (a matrix, array or number broadcasting to self's shape) into self,
        in place, in self's dtype."""
        self._check_inplace("copy_")
        cls = type(self._data)
        block = cls.full(1, 1, as_scalar(src, "copy_")) if _is_number(src) else \
            _storage_of(src, cls, "copy_", "the source")
        if block.shape != self.shape and any(b not in (1, s) for b, s in zip(block.shape, self.shape)):
            raise ValueError(f"copy_: a {block.shape} source does not broadcast to {self.shape}")
        self._data.put_(np.arange(self.shape[0], dtype=np.int64),
                        np.arange(self.shape[1], dtype=np.int64), block)
        return self

    def unbroadcast(self, nrow: int, ncol: int) -> "Matrix":
        """Summed over the dimensions that broadcasting expanded from (nrow, ncol): the storage
        method of the same name, recorded (reverse rules use it on matrices)."""
        return ops.unbroadcast(self, (nrow, ncol))

    def dsigmoid(self, grad: "Matrix") -> "Matrix":
        """self (1 - self) grad for a sigmoid's output self: the storage method of the same name
        (one kernel), recorded (the sigmoid's reverse rule uses it on matrices)."""
        return _apply2(ops.DSIGMOID, self, grad)

    def take(self, rows: np.ndarray, cols: np.ndarray) -> "Matrix":
        """The block self[rows][:, cols] for int64 position arrays (reverse rules use it)."""
        return apply(ops.GETITEM, (self,), (rows, cols))

    # -- element-wise functions: sqrt, exp, log, sigmoid, ... are made from pyautograd.ops.METHODS
    # below the class; their derivatives are in those rows. Declared here for type checkers
    # (tests/test_torch_api.py checks this list against ops.METHODS).
    if TYPE_CHECKING:
        def sqrt(self) -> "Matrix": ...
        def square(self) -> "Matrix": ...
        def log1p(self) -> "Matrix": ...
        def expm1(self) -> "Matrix": ...
        def exp(self) -> "Matrix": ...
        def log(self) -> "Matrix": ...
        def sigmoid(self) -> "Matrix": ...
        def tanh(self) -> "Matrix": ...
        def relu(self) -> "Matrix": ...
        def abs(self) -> "Matrix": ...
        def sin(self) -> "Matrix": ...
        def cos(self) -> "Matrix": ...
    def clamp(self, min: Optional[Number] = None, max: Optional[Number] = None) -> "Matrix":
        """x limited to [min, max] (either may be None); min > max gives max everywhere, NaN
        stays NaN, as in PyTorch. dY/dx = 1 where min <= x <= max, else 0."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given (not None)")
        return apply(ops.CLAMP, (self,), (min, max))

    def __abs__(self) -> "Matrix":
        return self.abs()

    def log_softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """x - max - log(sum(exp(x - max))) along `axis`: stable for inputs of any size.

        The max is a constant shift (detached): it cancels out of the result and its gradient."""
        return stable_softmax(self, axis, log=True, dim=dim)

    def softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """exp(x - max) / sum(exp(x - max)) along `axis`: stable for inputs of any size."""
        return stable_softmax(self, axis, log=False, dim=dim)

    @property
    def has_grad(self) -> bool:
        """True once a backward reached this matrix since zero_grad(): PyTorch's `grad is not
        None`. Optimizers skip a parameter without one, although its `.grad` reads as zeros."""
        return self._grad is not None

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickle as a leaf: values and gradient as NumPy arrays of their dtype, the backend's
        name and requires_grad (the graph that made a non-leaf is not kept)."""
        grad = None if self._grad is None else self._grad.numpy().copy()
        return (Matrix._restore, (self._data.numpy().copy(), self.backend, self.requires_grad, grad))

    @classmethod
    def _restore(cls, values: np.ndarray, backend: str, requires_grad: bool,
                 grad: Optional[np.ndarray]) -> "Matrix":
        from .backends.base import resolve_dtype
        values = np.asarray(values)  # float64 or float32: the dtype travels with the array
        dtype = resolve_dtype(values.dtype, "unpickle")
        storage = backends.storage_class(backend).with_dtype(dtype)
        result = cls(storage.from_array(values), requires_grad)
        if grad is not None:
            result._grad = storage.from_array(np.asarray(grad))
        return result

    def __deepcopy__(self, memo: dict) -> "Matrix":
        """A leaf's independent copy (values, requires_grad, gradient), as torch's deepcopy; a
        non-leaf cannot be deep-copied (its graph cannot be), also as in PyTorch."""
        if not self.is_leaf:
            raise RuntimeError(f"deepcopy: only matrices created by the user (graph leaves) can be "
                               f"deep-copied; this {self.shape} matrix was made by op {self._op!r}"
                               "; detach() it first")
        function, args = self.__reduce__()
        return function(*args)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """Export the values through DLPack (read-only on the C backend, where no copy is made)."""
        return self._data.numpy().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Tuple[int, int]:
        """(1, 0): the CPU, as DLPack numbers devices."""
        return (1, 0)




def _method(row: Rule) -> Any:
    def elementwise(self: Matrix) -> Matrix:
        return _apply1(row, self)
    elementwise.__name__ = elementwise.__qualname__ = row.name
    elementwise.__doc__ = f"{row.doc} {row.formula}."
    elementwise.__annotations__ = {"return": "Matrix"}
    return elementwise


for _row in ops.METHODS:  # m.sqrt(), m.exp(), m.sigmoid(), ...: one method per row of the table
    setattr(Matrix, _row.name, _method(_row))


def stable_softmax(x: Matrix, axis: Optional[int], log: bool, dim: Optional[int] = None) -> Matrix:
    """(log_)softmax of x along axis (1 when neither axis nor dim is given), shifted by the
    detached maximum of its values so that exp never overflows."""
    if axis is None and dim is None:
        axis = 1
    axis = normalize_axis("log_softmax" if log else "softmax", axis, dim, allow_none=False)
    shifted = x - Matrix(x._data.max(axis), requires_grad=False)
    if log:
        return shifted - shifted.exp().sum(axis).log()
    exps = shifted.exp()
    return exps / exps.sum(axis)


# -- the engine: apply a row of the rule table, run its reverse rule -------------------------------

_new_matrix = object.__new__
_next_number = itertools.count().__next__
_grad_enabled = _enabled.get
# How many forward-mode computations (jvp) are running: while it is 0, ops never look for
# tangents, so forward mode costs ordinary code one list read per op.
_forward_depth = [0]
# The tags of the running jvps, outermost first (the first _forward_depth[0] of them are live).
# A tag is unique per jvp call, so a tangent left on a matrix by a finished jvp is never read.
_forward_tags: List[int] = []


def apply(rule: Rule, operands: Tuple[Any, ...], params: Tuple[Any, ...] = ()) -> Matrix:
    """The result of op `rule` on operands (matrices or numbers) and parameters: its value from
    the row's value function, and, when an operand needs a gradient and grad mode is on, the
    record that backward reads (the row, the operands, their values and which need gradients)."""
    values, needs = [], []  # loops, not comprehensions: each of those is a call in Python 3.11
    for o in operands:
        if type(o) is Matrix:
            values.append(o._data)
            needs.append(o.requires_grad)
        else:
            values.append(o)
            needs.append(False)
    result = _node(rule.value(*values, *params), (), rule.name)
    if True in needs and _grad_enabled():
        _record(result, rule, operands, (*values, *params), tuple(needs))
    if _forward_depth[0]:
        _push_tangent(rule, result, operands, params)
    return result


def _apply1(rule: Rule, x: Matrix, param: Any = None, has_param: bool = False) -> Matrix:
    """apply() for one matrix operand and at most one parameter (an axis): the hot path of the
    unary ops, reductions and `.T`, with what _node and _record do inlined (a function call
    costs more than the rest)."""
    xv = x._data
    result = _new_matrix(Matrix)
    result._data = out = rule.value(xv, param) if has_param else rule.value(xv)
    result._grad = None
    result._op = rule.name
    result._seq = _next_number()
    result._saved = ()
    if x.requires_grad and _grad_enabled():
        result.requires_grad = True
        result._children = (x,)
        result._rule = rule
        result._args = args = (xv, param) if has_param else (xv,)
        result._needs = _ONE_NEEDED
        reads = rule.reads_one
        if reads:
            result._saved = _versions(reads, args, out)
    else:
        result.requires_grad = False
        result._children = ()
        result._rule = None
    if _forward_depth[0]:
        _push_tangent(rule, result, (x,), (param,) if has_param else ())
    return result


def _apply2(rule: Rule, a: Any, b: Any) -> Matrix:
    """apply() for two operands (a matrix and a matrix or number): the hot arithmetic path."""
    av = a._data if type(a) is Matrix else a
    bv = b._data if type(b) is Matrix else b
    result = _new_matrix(Matrix)
    result._data = rule.value(av, bv)
    result._grad = None
    result._op = rule.name
    result._seq = _next_number()
    result._saved = ()
    if _grad_enabled():
        na = type(a) is Matrix and a.requires_grad
        nb = type(b) is Matrix and b.requires_grad
    else:
        na = nb = False
    if na or nb:
        result.requires_grad = True
        result._children = (a, b)
        result._rule = rule
        result._args = args = (av, bv)
        result._needs = (na, nb)
        if rule.reads:
            reads = rule.reads_two[na + 2 * nb]
            if reads:
                result._saved = _versions(reads, args, result._data)
    else:
        result.requires_grad = False
        result._children = ()
        result._rule = None
    if _forward_depth[0]:
        _push_tangent(rule, result, (a, b), ())
    return result


def _record(result: Matrix, rule: Rule, operands: Tuple[Any, ...], args: Tuple[Any, ...],
            needs: Tuple[bool, ...]) -> None:
    """Make result a graph node: what its reverse rule will need, and the versions of the values
    that rule reads (backward refuses to run if they change in place meanwhile)."""
    result.requires_grad = True
    result._children = operands
    result._rule = rule
    result._args = args
    result._needs = needs
    if rule.reads:
        reads = rule.reads_for(needs)
        if reads:
            result._saved = _versions(reads, args, result._data)


def _versions(reads: Tuple[int, ...], args: Tuple[Any, ...], out: Storage) -> Tuple:
    """(owner, version) of every storage in `reads` (operand positions, -1 the output): the
    storage that owns the buffer (`v._base or v`, a transposed view's parent) and its count of
    in-place writes."""
    pairs = []
    for r in reads:
        v = out if r == -1 else args[r]
        if isinstance(v, Storage):
            owner = v._base or v
            pairs.append((owner, owner.version))
    return tuple(pairs)


def _node(data: Storage, children: Tuple[Matrix, ...], op: str) -> Matrix:
    """A new matrix over `data` made by op `op`: a leaf until _record makes it a graph node."""
    result = _new_matrix(Matrix)
    result._data = data
    result._grad = None
    result._op = op
    result._seq = _next_number()
    result._rule = None
    result.requires_grad = False
    result._children = children
    result._saved = ()
    return result


Matrix.apply_rule = staticmethod(apply)  # how the rule table's helpers reach the engine


def _push_tangent(rule: Rule, result: Matrix, operands: Tuple[Any, ...],
                  params: Tuple[Any, ...]) -> None:
    """Forward mode: give result one tangent per running jvp, from its operands' tangents of
    the same jvp (`_tangent` maps a jvp's tag to a tangent). The tangent of the k-th running jvp
    is computed with only the k outer ones running, outermost first, so that it carries their
    tangents (nested jvp) and no tangent of its own or of an inner jvp's (no perturbation
    confusion)."""
    depth = _forward_depth[0]
    for k in range(depth):
        tag = _forward_tags[k]
        tangents = [o._tangent.get(tag) if type(o) is Matrix and getattr(o, "_tangent", None)
                    else None for o in operands]
        if all(t is None for t in tangents):
            continue
        _forward_depth[0] = k
        try:
            tangent = _tangent_of(rule, result, operands, params, tangents)
        finally:
            _forward_depth[0] = depth
        found = getattr(result, "_tangent", None)
        if found is None:
            result._tangent = found = {}
        found[tag] = tangent


def _tangent_of(rule: Rule, result: Matrix, operands: Tuple[Any, ...], params: Tuple[Any, ...],
                tangents: List[Optional[Matrix]]) -> Matrix:
    """The forward rule of a row, derived from its kind (see pyautograd.ops) or its own jvp."""
    kind = rule.kind
    if kind is LINEAR:
        filled = tuple(t if t is not None else (_zeros_like(o) if type(o) is Matrix else 0.0)
                       for o, t in zip(operands, tangents))
        return apply(rule, filled, params)
    if kind is ops.ELEMENTWISE or kind is REDUCED:
        elementwise = params[:-1] if kind is REDUCED else params
        vjp = rule.elementwise_vjp if kind is REDUCED else rule.vjp
        total = None
        for i, t in enumerate(tangents):
            if t is not None:
                needs = tuple(j == i for j in range(len(operands)))
                part = vjp(t, result, needs, *operands, *elementwise)[i]
                total = part if total is None else total + part
        shape = result.shape if kind is ops.ELEMENTWISE else operands[0].shape
        total = ops.fit(total, shape)
        return ops.reduce(total, params[-1]) if kind is REDUCED else total
    if rule.jvp is None:
        raise NotImplementedError(f"forward mode: op {rule.name!r} has no forward rule")
    return rule.jvp(tangents, result, *operands, *params)


def _zeros_like(m: Matrix) -> Matrix:
    return Matrix(type(m._data).zeros(m.shape[0], m.shape[1]), requires_grad=False)


def _storage_of(values: Any, cls: type, op: str, what: str, cast: bool = True) -> Storage:
    """values as a storage of cls's backend: a Matrix gives its own, a storage must be of that
    backend (else a TypeError naming both), arrays, nested lists and numbers are converted.
    Values of another dtype are cast to cls's when `cast`, else kept (an assignment to .data
    may change a matrix's dtype, as Module.to(dtype) does)."""
    if isinstance(values, Matrix):
        values = values._data
    if isinstance(values, Storage):
        if values.backend_name != cls.backend_name:
            raise TypeError(f"{op}: {what} is on backend {values.backend_name!r}, the matrix on "
                            f"{cls.backend_name!r}; convert with .to(name)")
        return values.astype(cls.dtype) if cast and type(values) is not cls else values
    return cls.from_values(values, op)


def _number_in_matmul(shape: Tuple[int, int], value: object) -> TypeError:
    """@ takes two matrices: a bare number is an error (as in PyTorch), not a 1x1 matrix."""
    return TypeError(f"matmul: both operands of @ must be matrices, got a {shape} matrix and the "
                     f"number {value!r}; use * to scale by a number")


def _is_number(value: object) -> bool:
    return type(value) is float or type(value) is int or isinstance(value, (bool, np.number))


def _lift(value: Any) -> Matrix:
    """An operand as a Matrix: matrices pass through, anything else becomes a constant."""
    if isinstance(value, Matrix):
        return value
    return Matrix(value, requires_grad=False)


def _operand(value: Any, op: str = "sub", against: Optional[Matrix] = None) -> Any:
    """A second operand: a matrix, a number as a float, anything else as a constant matrix (a
    1-D sequence read against `against` as _aligned says)."""
    if type(value) is Matrix:
        return value
    if _is_number(value):
        return as_scalar(value, op)
    return _lift(value) if against is None else _aligned(against, value, op)[1]


def _foreign(row: Rule, m: Matrix, other: Any, reverse: bool = False, lift: Any = None) -> Matrix:
    """m (op) other, or other (op) m when reverse, for an operand that is not a matrix (a list,
    an array): lifted (1-D data as _aligned reads it), and a shape error quotes the operand's
    shape as the caller gave it, not only the converted one."""
    if lift is not None:
        a, b = m, lift(other)
    else:
        a, b = _aligned(m, other, row.name)
    try:
        return _apply2(row, b, a) if reverse else _apply2(row, a, b)
    except ValueError as exc:
        raise _as_given(exc, other, b) from None


def _as_given(exc: ValueError, given: Any, lifted: Matrix) -> ValueError:
    """exc, with the shape the caller passed added where the conversion changed it."""
    shape = np.shape(given) if not isinstance(given, Storage) else given.shape
    if tuple(shape) == lifted.shape:
        return exc
    return ValueError(f"{exc} (the {type(given).__name__} operand was given with shape "
                      f"{tuple(shape)} and read as {lifted.shape})")


def _is_flat(value: Any) -> bool:
    """True for 1-D data: a 1-D list, tuple or array, or a matrix made from one (`_kind`)."""
    if isinstance(value, Matrix):
        return getattr(value, "_kind", None) == "flat"
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    if isinstance(value, (list, tuple)):
        return np.ndim(value) == 1
    return False


def _aligned(m: Matrix, other: Any, op: str) -> Tuple[Matrix, Matrix]:
    """(m, other) as operands of an element-wise op, other lifted to a matrix. 1-D data (a list,
    an array, a matrix made from 1-D data) is a 1 x L row, and never meets an (N, 1) column in an
    N x L outer product: with L = N it is read as the column it stands for, otherwise refused."""
    flat_other = _is_flat(other)
    other = _lift(other)
    if flat_other:
        return m, _as_column_for(m, other, op, "right")
    if _is_flat(m):
        return _as_column_for(other, m, op, "left"), other
    return m, other


def _as_column_for(col: Matrix, row: Matrix, op: str, side: str) -> Matrix:
    nrow, ncol = col.shape
    n = row.shape[1]
    if ncol != 1 or nrow == 1 or n == 1 or row.shape[0] != 1:
        return row
    if n == nrow:
        return apply(ops.RESHAPE, (row,), (n, 1))
    raise ValueError(f"{op}: 1-D data of {n} values (on the {side}) against a ({nrow}, 1) column "
                     f"would broadcast to a ({nrow}, {n}) outer product; reshape it to ({n}, 1) "
                     f"or (1, {n}) (a 2-D shape says which you mean)")


def _same_kind(result: Matrix, source: Matrix) -> Matrix:
    """result, marked as 1-D data or a mask when source is (conversions keep what data means)."""
    kind = getattr(source, "_kind", None)
    if kind is not None:
        result._kind = kind
    return result


def _flat(m: Matrix) -> Matrix:
    """m (a new 1 x n result) marked as standing for PyTorch's 1-D tensor."""
    m._kind = "flat"
    return m


def _mask(values: Storage) -> Matrix:
    """A comparison's 0/1 values as a mask: a constant that m[mask] selects with."""
    result = Matrix(values, requires_grad=False)
    result._kind = "mask"
    return result


def _dim(op: str, dim: Any) -> int:
    """A dimension, 0 or 1 (-2 and -1 count from the end), or a ValueError naming the op."""
    return int(normalize_axis(op, None, dim, allow_none=False))  # type: ignore[arg-type]


def _check_keepdim(op: str, keepdim: Any, keepdims: Any) -> None:
    """keepdim= (PyTorch) or keepdims= (NumPy) must be a bool; results stay 2-D either way."""
    for name, flag in (("keepdim", keepdim), ("keepdims", keepdims)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{op}: {name} must be True or False, got {flag!r}")


class ValuesIndices:
    """What m.max(dim) and m.min(dim) return, as torch.max(x, dim): each row's (dim=1, an
    nrow x 1 column) or column's (dim=0, a 1 x ncol row) extreme values, with their gradient,
    and their positions, as floats that record no graph. Unpacks as `values, indices = ...`.

    The positions are found when first asked for, so that a step using only `.values` launches
    no kernel for them (a compiled step then replays it like NumPy's `max(axis=)`)."""

    __slots__ = ("values", "_source", "_version", "_dim", "_op", "_indices")

    def __init__(self, values: Matrix, source: Storage, dim: int, op: str) -> None:
        self.values = values
        self._source, self._dim, self._op = source, dim, op
        self._version = (source._base or source).version
        self._indices: Optional[Matrix] = None

    @property
    def indices(self) -> Matrix:
        if self._indices is None:
            src = self._source
            if (src._base or src).version != self._version:
                raise RuntimeError(f"{self._op}(dim={self._dim}): the matrix was changed in place "
                                   "after max/min was taken; its indices would not match the "
                                   "values. Read .indices before changing it")
            positions = src.argmax(self._dim) if self._op == "max" else src.argmin(self._dim)
            self._indices = Matrix(positions, requires_grad=False)
        return self._indices

    def __iter__(self) -> Iterator[Matrix]:
        return iter((self.values, self.indices))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Matrix:
        return (self.values, self.indices)[i]

    def __repr__(self) -> str:
        return f"ValuesIndices(values={self.values!r},\n              indices={self.indices!r})"


def _extreme(m: Matrix, op: str, row: Rule, dim: Any, axis: Optional[int], keepdim: Any,
             keepdims: Any) -> Any:
    """max or min: the values (no dim, or NumPy's axis=), the pair (a dim), or the element-wise
    extremum of two matrices (torch.max(a, b))."""
    _check_keepdim(op, keepdim, keepdims)
    if isinstance(dim, (Matrix, Storage, np.ndarray, list)):  # torch.max(a, b)
        if axis is not None:
            raise TypeError(f"{op}: got a second operand and axis={axis!r}")
        return (maximum if op == "max" else minimum)(m, dim)
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise TypeError(f"{op}: dim must be an int (0, 1, -1 or -2) or a matrix to compare "
                        f"with, got {dim!r}; ag.maximum(m, number) takes a number")
    if dim is None:
        return _apply1(row, m, normalize_axis(op, axis, None), True)
    if axis is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; dim gives (values, "
                        "indices), axis the values alone")
    d = _dim(op, dim)
    return ValuesIndices(_apply1(row, m, d, True), m._data, d, op)


def _integer_array(op: str, index: Any) -> np.ndarray:
    """An index (a matrix of whole numbers, an integer array or nested lists) as a 2-D int64
    array; an IndexError quoting what was given for anything else."""
    if isinstance(index, Matrix):
        values = index.numpy()
        if not np.all(values == np.floor(values)):
            raise IndexError(f"{op}: positions must be whole numbers, got {values.tolist()}")
        return values.astype(np.int64)
    arr = np.asarray(index)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"{op}: expected a non-empty 1-D or 2-D array of integers, got an array "
                         f"of shape {np.shape(index)} and dtype {arr.dtype}")
    return _checked_int64(op, arr)


def _checked_int64(op: str, arr: np.ndarray) -> np.ndarray:
    """arr as int64, or an IndexError when a value does not fit (uint64 2**64 - 1 would wrap)."""
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"{op}: index {int(arr.max())} does not fit in int64")
    return arr.astype(np.int64)


def _is_sequence_index(key: Any) -> bool:
    if isinstance(key, Matrix):
        return True
    if isinstance(key, range):
        return True
    if isinstance(key, (list, tuple, np.ndarray)):
        return np.ndim(key) >= 1
    return False


def _paired_positions(op: str, key: Any, shape: Tuple[int, int]) -> Optional[np.ndarray]:
    """The row-major positions that a mask (m > 0, a boolean array of m's shape) or a pair of
    position sequences (m[rows, cols]) selects, one value each; None for any other index."""
    nrow, ncol = shape
    if isinstance(key, tuple) and len(key) == 1:
        key = key[0]
    mask = None
    if isinstance(key, Matrix) and (getattr(key, "_kind", None) == "mask" or (
            key.shape == shape and nrow > 1 and ncol > 1)):
        values = key.numpy()
        if not np.all((values == 0.0) | (values == 1.0)):
            raise IndexError(f"{op}: a {key.shape} matrix used as a mask must hold only 0 and 1 "
                             "(a comparison's result, such as m > 0)")
        mask = values != 0.0
        given = key.shape
    elif isinstance(key, np.ndarray) and key.dtype == bool and key.ndim == 2:
        mask, given = key, key.shape
    if mask is not None:
        if given != shape:
            raise IndexError(f"{op}: a mask of shape {given} does not match the {shape} matrix")
        flat = np.flatnonzero(mask)
        if flat.size == 0:
            raise IndexError(f"{op}: the mask selects nothing (a matrix has at least one value)")
        return flat.astype(np.int64)
    if isinstance(key, tuple) and len(key) == 2 and all(_is_sequence_index(k) for k in key):
        parts = []
        for dim, (k, size) in enumerate(zip(key, shape)):
            arr = _integer_array(op, k).ravel() if isinstance(k, Matrix) else (
                np.arange(k.start, k.stop, k.step, dtype=np.int64) if isinstance(k, range) else k)
            parts.append(index_positions(op, (arr, 0) if dim == 0 else (0, arr), shape)[dim])
        rows, cols = parts
        if rows.size != cols.size and rows.size != 1 and cols.size != 1:
            raise IndexError(f"{op}: paired positions must have equal lengths, got {rows.size} "
                             f"rows and {cols.size} columns")
        rows, cols = np.broadcast_arrays(rows, cols)
        return np.ascontiguousarray(rows * ncol + cols, dtype=np.int64)
    return None


def _take_flat(m: Matrix, flat: np.ndarray) -> Matrix:
    """The values at row-major positions `flat`, as a 1 x k row (differentiable)."""
    n = m._data.nrow * m._data.ncol
    whole = m if m._data.nrow == 1 else apply(ops.FLATTEN, (m,), (1, n))
    return _flat(apply(ops.GETITEM, (whole,), (np.zeros(1, dtype=np.int64), flat)))


def _put_flat(data: Storage, flat: np.ndarray, value: Any) -> None:
    """data at row-major positions `flat` = value (a number, or one value per position)."""
    cls = type(data)
    ncol = data.ncol
    if _is_number(value):
        values = np.full(flat.size, as_scalar(value, "setitem"))
    else:
        given = value.numpy() if isinstance(value, (Matrix, Storage)) else np.asarray(value)
        values = np.asarray(given, dtype=np.float64).ravel()
        if values.size == 1:
            values = np.full(flat.size, values[0])
        elif values.size != flat.size:
            raise ValueError(f"setitem: {flat.size} places are selected, the value has shape "
                             f"{np.shape(given)} ({values.size} values)")
    rows, cols = flat // ncol, flat % ncol
    for r in np.unique(rows):  # one block write per row touched
        here = rows == r
        block = cls.from_array(values[here].reshape(1, -1).astype(cls.dtype))
        data.put_(np.array([r], dtype=np.int64), cols[here], block)


def _plain_key(key: Any) -> Any:
    """An index with Matrix parts (positions as floats, as argmax gives them) turned into
    integer arrays; a position that is not a whole number is an IndexError."""
    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    if isinstance(key, Matrix):
        if key.shape[0] != 1 and key.shape[1] != 1:
            raise IndexError(f"getitem: a matrix of positions must be one row or one column, "
                             f"got {key.shape}")
        values = key.numpy().ravel()
        if not np.all(values == np.floor(values)):  # NaN and inf fail this too
            raise IndexError(f"getitem: positions must be whole numbers, got {values.tolist()}")
        return values.astype(np.int64)
    return key


def cat(matrices: Any, axis: Optional[int] = None, dim: Optional[int] = None) -> Matrix:
    """The matrices one after the other: stacked down the rows (axis=0, equal column counts) or
    side by side (axis=1, equal row counts). Each input's gradient is its block of the result's."""
    axis = 0 if axis is None and dim is None else normalize_axis("cat", axis, dim, allow_none=False)
    parts = tuple(_lift(p) for p in matrices)
    if not parts:
        raise ValueError("cat: expected at least one matrix, got none")
    return apply(ops.CAT, parts, (axis,))


def where(condition: Any, a: Any, b: Any) -> Matrix:
    """a where condition is non-zero (a mask, e.g. x > 0), else b; the three broadcast together
    (a and b may be numbers). The gradient goes to a where the condition holds, to b elsewhere."""
    if isinstance(condition, Matrix):
        cond = condition._data
    else:
        cond = condition if isinstance(condition, Storage) else _lift(condition)._data
    return apply(ops.WHERE, (_operand(a, "where"), _operand(b, "where")), (cond,))


def maximum(a: Any, b: Any) -> Matrix:
    """The element-wise larger of a and b (broadcasting; NaN wins). The gradient goes to the
    larger one, split evenly on ties (PyTorch's rule)."""
    return _extremum(ops.MAXIMUM, a, b)


def minimum(a: Any, b: Any) -> Matrix:
    """The element-wise smaller of a and b, as maximum."""
    return _extremum(ops.MINIMUM, a, b)


def _extremum(row: Rule, a: Any, b: Any) -> Matrix:
    """maximum or minimum: a number stays a number (in the matrix's dtype), and goes second
    (both are symmetric, NaN and ties included)."""
    a, b = _operand(a, row.name), _operand(b, row.name)
    if type(a) is not Matrix:
        a, b = (b, a) if type(b) is Matrix else (_lift(a), b)
    return _apply2(row, a, b)


def stack(matrices: Sequence[Any], dim: int = 0) -> Matrix:
    """Vectors (1 x n or n x 1 matrices, 1-D lists or arrays: PyTorch's 1-D tensors) of one
    length n, stacked as the rows (dim=0: k x n) or the columns (dim=1: n x k) of a matrix, as
    torch.stack; each input's gradient is its row or column of the result's. Matrices would
    make a 3-D result: cat them instead."""
    axis = _dim("stack", dim)
    parts = [_lift(p) for p in matrices]
    if not parts:
        raise ValueError("stack: expected at least one vector, got none")
    lengths = set()
    for i, p in enumerate(parts):
        if p.shape[0] != 1 and p.shape[1] != 1:
            raise ValueError(f"stack: input {i} is a {p.shape} matrix; stack takes vectors "
                             "(the result would be 3-D), use ag.cat for matrices")
        lengths.add(p.numel())
    if len(lengths) > 1:
        raise ValueError(f"stack: vectors of lengths {sorted(lengths)}; all must have one length")
    shaped = [p.unsqueeze(axis) for p in parts]
    return cat(shaped, axis=axis)


def _module_function(name: str) -> Any:
    def function(x: Any) -> Matrix:
        return getattr(_lift(x), name)()
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"x.{name}() for a matrix x (or anything Matrix() accepts), as torch.{name}."
    function.__annotations__ = {"x": "Any", "return": "Matrix"}
    return function


exp = _module_function("exp")
log = _module_function("log")
sqrt = _module_function("sqrt")
sigmoid = _module_function("sigmoid")
tanh = _module_function("tanh")
relu = _module_function("relu")
sin = _module_function("sin")
cos = _module_function("cos")
abs = _module_function("abs")  # noqa: A001  (torch.abs)


def max(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001  (torch.max)
    """torch.max: x.max() (1x1), x.max(dim) the pair (values, indices), or maximum(x, other)."""
    return _lift(x).max(dim, keepdim)


def min(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001  (torch.min)
    """torch.min: as max."""
    return _lift(x).min(dim, keepdim)
