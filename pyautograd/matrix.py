"""Matrix: the autograd node.

A Matrix holds its values in a storage object (`data`), the gradient of a scalar loss with
respect to them (`grad`), the nodes it was computed from (`_children`) and a closure
(`_gradient`) that knows the local derivative of the op that made it. The Matrix never does
arithmetic itself: every number is crunched by its storage backend, C or pure Python.

`backward()` sorts the graph topologically (iteratively, so a chain of 100,000 ops is fine),
seeds the output's gradient and calls each node's closure from the output back to the inputs:
each closure adds "local derivative times upstream gradient" into every child that needs it.
"""
from __future__ import annotations

import itertools
import operator
import threading
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import backends
from .backends.base import Storage, as_scalar, index_positions, normalize_axis
from .grad_mode import _enabled, _tracer, is_grad_enabled

Number = Union[int, float]
Operand = Union["Matrix", Storage, Number]


def _released(grad: Storage) -> None:
    raise RuntimeError("backward: this part of the graph was already released by an earlier "
                       "backward(); call the first backward with retain_graph=True to "
                       "backpropagate through it again")


class Matrix:
    """A 2-D float64 matrix that records the operations made with it, for reverse-mode autodiff."""

    __slots__ = ("data", "_grad", "requires_grad", "_children", "_gradient", "_op", "_seq",
                 "_saved", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators
    _takes_over_storage_ops = True  # storage (op) Matrix defers to Matrix's reflected operators

    def __init__(self, values: Any, requires_grad: bool = True) -> None:
        if isinstance(values, Storage):
            data = values
        elif isinstance(values, Matrix):
            data = values.data.copy()
        else:
            data = backends.current_storage().from_values(values, "Matrix")
        self.data: Storage = data
        self._grad: Optional[Storage] = None
        self.requires_grad: bool = bool(requires_grad)
        self._children: Tuple[Matrix, ...] = ()
        self._gradient: Optional[Callable[[Storage], None]] = None
        self._op = ""
        self._seq = _next_number()
        self._saved: Tuple = ()

    # -- the gradient ---------------------------------------------------------------------------
    @property
    def grad(self) -> Storage:
        """d(loss)/d(self), same shape as data; zeros until a backward reaches this node.

        Those zeros are not kept: reading them leaves `has_grad` false, so an optimizer still
        skips the matrix (`m.grad += g` keeps its result, through the setter)."""
        g = self._grad
        if g is None:
            return type(self.data).zeros(self.data.nrow, self.data.ncol)
        return g

    @grad.setter
    def grad(self, value: Storage) -> None:
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for matrices made by the user (not by an op that recorded a graph)."""
        return self._gradient is None

    def zero_grad(self) -> None:
        """Reset the accumulated gradient: it reads as zeros until the next backward reaches it.

        The storage is released (as PyTorch's set_to_none), so the next backward adopts its
        first contribution instead of adding it to zeros."""
        self._grad = None

    # -- conversion -----------------------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, int]:
        return (self.data.nrow, self.data.ncol)

    @property
    def backend(self) -> str:
        return self.data.backend_name

    def item(self) -> float:
        """The single value of a 1x1 matrix, as a Python float."""
        return self.data.item()

    def tolist(self) -> List[List[float]]:
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        """The values as a 2-D float64 array: a read-only view on the C backend, a copy on Python."""
        return self.data.numpy()

    def detach(self) -> "Matrix":
        """The same values (shared storage) as a new leaf that records no graph."""
        return Matrix(self.data, requires_grad=False)

    def to(self, name: str) -> "Matrix":
        """These values on backend `name`; the gradient flows back across the conversion."""
        cls = backends.storage_class(name)
        if type(self.data) is cls:
            return self
        result = _node(cls.from_array(self.data.numpy()), (self,), "to")
        if result.requires_grad:
            home = type(self.data)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, home.from_array(grad.numpy()))
            result._gradient = _gradient
        return result

    # -- dtype: float64 (the default) or float32 (issue 16) ---------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The dtype of the values: float64 or float32, as a NumPy dtype (== np.float32 and
        == "float32" hold for float32 matrices; ag.float32 is the same object)."""
        return self.data.dtype

    _to_backend = to  # the backend conversion above; to() below also converts dtypes

    def to(self, target: Any) -> "Matrix":  # noqa: F811  (extends the backend conversion)
        """These values on backend `target` ("c", "python", "verify"), or in dtype `target`
        (float32 or float64, in any spelling). The gradient flows back across either
        conversion, and arrives in self's own backend and dtype."""
        if isinstance(target, str) and target in ("c", "python", "verify"):
            cls = backends.storage_class(target)
            if cls.dtype is self.data.dtype:
                return self._to_backend(target)
            cls = cls.with_dtype(self.data.dtype)  # another backend, the same dtype
            if type(self.data) is cls:
                return self
            result = _node(cls.from_array(self.data.numpy()), (self,), "to")
            if result.requires_grad:
                home = type(self.data)

                def _gradient(grad: Storage) -> None:
                    _accumulate(self, home.from_array(grad.numpy()))
                result._gradient = _gradient
            return result
        from .backends.base import resolve_dtype
        if isinstance(target, str):
            try:
                np.dtype(target)
            except TypeError:  # not a dtype's name: an unknown backend, which this names
                return self._to_backend(target)
        dtype = resolve_dtype(target, "to")
        if self.data.dtype is dtype:
            return self
        result = _node(self.data.astype(dtype), (self,), "to")
        if result.requires_grad:
            home = self.data.dtype

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad.astype(home))
            result._gradient = _gradient
        return result

    def float(self) -> "Matrix":
        """self.to(float32), as torch's Tensor.float(): self when it already is float32."""
        from .backends.base import FLOAT32
        return self.to(FLOAT32)

    def double(self) -> "Matrix":
        """self.to(float64), as torch's Tensor.double(): self when it already is float64."""
        from .backends.base import FLOAT64
        return self.to(FLOAT64)

    # -- Python protocols -----------------------------------------------------------------------
    def _scalar(self, what: str) -> float:
        """The value of a 1x1 matrix, or a ValueError (PyTorch's) naming the conversion and shape."""
        if self.data.nrow != 1 or self.data.ncol != 1:
            raise ValueError(f"{what}: a {self.shape} matrix has {self.data.nrow * self.data.ncol}"
                               " values; only a 1x1 matrix converts to a Python number")
        return self.data.item()

    def __bool__(self) -> bool:
        """The truth of a 1x1 matrix's value; any other shape is ambiguous (as in PyTorch), so
        that `if a < b:` on matrices never silently takes a branch."""
        if self.data.nrow != 1 or self.data.ncol != 1:
            raise RuntimeError(f"bool: the truth value of a {self.shape} matrix (more than one "
                               "value) is ambiguous; use (m != 0).sum() or m.max() to reduce it")
        return bool(self.data.item())

    def __float__(self) -> float:
        return self._scalar("float")

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __format__(self, spec: str) -> str:
        """A format spec formats the value of a 1x1 matrix (f"{loss:.3f}"); no spec gives repr."""
        if not spec:
            return repr(self)
        if self.data.nrow != 1 or self.data.ncol != 1:
            raise TypeError(f"format: the spec {spec!r} needs a 1x1 matrix, this one is {self.shape}")
        return format(self.data.item(), spec)

    def __len__(self) -> int:
        """The number of rows, as len() of a tensor gives its first dimension."""
        return self.data.nrow

    def __iter__(self) -> Iterator["Matrix"]:
        """The rows, each a 1 x ncol matrix (m[i]), gradients included."""
        for i in range(self.data.nrow):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        """The values as a 2-D array of their dtype (NumPy's protocol): np.asarray(m), np.array(m).
        On the C backend without a copy the array is a read-only view of the values."""
        values = self.data.numpy()
        if dtype is not None and np.dtype(dtype) != values.dtype:
            if copy is False:
                raise ValueError(f"__array__: converting to {np.dtype(dtype)} needs a copy, "
                                 "but copy=False")
            return values.astype(dtype)
        return values.copy() if copy else values

    def __repr__(self) -> str:
        values = np.array2string(self.data.numpy(), precision=4, separator=", ", threshold=64,
                                 prefix="       ")
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op!r}" if self._op else ""
        return (f"Matrix(shape={self.shape}, backend={self.backend!r}{grad}{op},\n"
                f"       {values})")

    # -- backward -------------------------------------------------------------------------------
    def _topological_order(self) -> List["Matrix"]:
        """Every non-leaf node that leads to self, children before parents.

        An iterative walk collects them (no recursion, so any depth works); since every node is
        created after its children, sorting by creation number is a topological order."""
        found = {id(self): self}
        stack = [self]
        while stack:
            for child in stack.pop()._children:
                if child._gradient is not None and id(child) not in found:
                    found[id(child)] = child
                    stack.append(child)
        return sorted(found.values(), key=_creation_number)

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate: add d(self)/d(leaf) (times `gradient`) into the grad of every leaf.

        A 1x1 output is seeded with 1; any other shape needs `gradient` of its shape. Leaf
        gradients accumulate across calls until zero_grad(); intermediate ones are recomputed.
        The graph is released afterwards unless retain_graph=True."""
        if not self.requires_grad:
            raise RuntimeError(f"backward: this {self.shape} matrix does not require a gradient "
                               "(none of the matrices it was computed from requires one)")
        seed = self._seed(gradient)
        if self._gradient is None:  # a leaf: nothing to propagate, only to accumulate
            _accumulate(self, seed)
            return
        order = self._topological_order()
        for node in order:
            node._grad = None  # intermediate gradients are recomputed, never over-counted
        self._grad = seed
        tracer = _tracer.get()  # pyautograd.explain() narrates; otherwise nothing to check
        for node in reversed(order):
            if node._saved:  # refuse values changed in place since the op recorded them
                for owner, version in node._saved:
                    if owner.version != version:
                        _modified(node, owner, version)
            if tracer is None:
                grad = node._grad
                node._gradient(grad if grad is not None else node.grad)
            else:
                tracer(node)
        if not retain_graph:
            for node in order:
                node._gradient = _released
                node._children = ()
                node._saved = ()

    def _seed(self, gradient: Any) -> Storage:
        cls = type(self.data)
        if gradient is None:
            if self.shape != (1, 1):
                raise ValueError(f"backward: the output has shape {self.shape}; an implicit "
                                 "gradient exists only for a 1x1 output, pass gradient= of that shape")
            return cls.full(1, 1, 1.0)
        if isinstance(gradient, Matrix):
            gradient = gradient.data
        if isinstance(gradient, Storage):
            if type(gradient) is not cls:
                raise TypeError(f"backward: gradient is on backend {gradient.backend_name!r}, "
                                f"the output on {self.backend!r}")
            seed = gradient.copy()
        else:
            seed = cls.from_values(gradient, "backward(gradient)")
        if seed.shape != self.shape:
            raise ValueError(f"backward: gradient has shape {seed.shape}, the output {self.shape}")
        return seed

    # -- element-wise arithmetic ----------------------------------------------------------------
    def __add__(self, other: Operand) -> "Matrix":
        """self + other. d/dself = 1, d/dother = 1, summed over broadcast dimensions."""
        if type(other) is not Matrix:
            if _is_number(other):
                result = _node(self.data + other, (self,), "add")
                if result.requires_grad:
                    def _gradient(grad: Storage) -> None:
                        _accumulate(self, grad, owned=False)
                    result._gradient = _gradient
                return result
            other = _lift(other)
            if other is None:
                return NotImplemented
        result = _node(self.data + other.data, (self, other), "add")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    g = _sum_to(grad, self)
                    _accumulate(self, g, owned=g is not grad)
                if other.requires_grad:
                    g = _sum_to(grad, other)
                    _accumulate(other, g, owned=g is not grad)
            result._gradient = _gradient
        return result

    def __radd__(self, other: Operand) -> "Matrix":
        return self + other

    def __sub__(self, other: Operand) -> "Matrix":
        """self - other. d/dself = 1, d/dother = -1."""
        if type(other) is not Matrix:
            if _is_number(other):
                return self + (-float(other))
            other = _lift(other)
            if other is None:
                return NotImplemented
        result = _node(self.data - other.data, (self, other), "sub")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    g = _sum_to(grad, self)
                    _accumulate(self, g, owned=g is not grad)
                if other.requires_grad:
                    g = _sum_to(grad, other)
                    _accumulate(other, g, owned=g is not grad, scale=-1.0)
            result._gradient = _gradient
        return result

    def __rsub__(self, other: Operand) -> "Matrix":
        if _is_number(other):
            return (-self) + other
        return _lift(other) - self

    def __mul__(self, other: Operand) -> "Matrix":
        """self * other (element-wise). d/dself = other, d/dother = self."""
        if type(other) is not Matrix and _is_number(other):
            s = as_scalar(other, "mul")
            result = _node(self.data * s, (self,), "mul")
            if result.requires_grad:
                def _gradient(grad: Storage) -> None:
                    _accumulate(self, grad, owned=False, scale=s)
                result._gradient = _gradient
            return result
        other = _lift(other)
        if other is None:
            return NotImplemented
        a, b = self.data, other.data
        result = _node(a * b, (self, other), "mul")
        if result.requires_grad:
            if self.requires_grad and other.requires_grad:  # each reads the other's values
                ao, bo = a._base or a, b._base or b
                result._saved = ((ao, ao.version), (bo, bo.version))
            else:
                read = b if self.requires_grad else a  # only the gradient asked for reads
                owner = read._base or read
                result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate(self, _sum_to(grad * b, self))
                if other.requires_grad:
                    _accumulate(other, _sum_to(grad * a, other))
            result._gradient = _gradient
        return result

    def __rmul__(self, other: Operand) -> "Matrix":
        return self * other

    def __truediv__(self, other: Operand) -> "Matrix":
        """self / other. d/dself = 1/other, d/dother = -self/other^2 = -result/other."""
        if type(other) is not Matrix and _is_number(other):
            s = as_scalar(other, "div")
            result = _node(self.data / s, (self,), "div")
            if result.requires_grad:
                def _gradient(grad: Storage) -> None:
                    _accumulate(self, grad / s)
                result._gradient = _gradient
            return result
        other = _lift(other)
        if other is None:
            return NotImplemented
        b = other.data
        result = _node(self.data / b, (self, other), "div")
        if result.requires_grad:
            out = result.data
            owner = b._base or b
            result._saved = ((owner, owner.version), (out, 0))

            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate(self, _sum_to(grad / b, self))
                if other.requires_grad:
                    _accumulate(other, _sum_to(grad * out / b, other), scale=-1.0)
            result._gradient = _gradient
        return result

    def __rtruediv__(self, other: Operand) -> "Matrix":
        """s / self. d/dself = -s/self^2 = -result/self."""
        if not _is_number(other):
            return _lift(other) / self
        s = as_scalar(other, "div")
        x = self.data
        result = _node(s / x, (self,), "rdiv")
        if result.requires_grad:
            out = result.data
            owner = x._base or x
            result._saved = ((owner, owner.version), (out, 0))

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * out / x, scale=-1.0)
            result._gradient = _gradient
        return result

    def __neg__(self) -> "Matrix":
        result = _node(-self.data, (self,), "neg")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad, owned=False, scale=-1.0)
            result._gradient = _gradient
        return result

    def __pow__(self, exponent: Union[Number, "Matrix"]) -> "Matrix":
        """self ** p for a number p. d/dself = p * self^(p-1) (0 for p = 0, as in PyTorch).
        A matrix exponent broadcasts: see _matrix_pow."""
        if not _is_number(exponent):
            other = _lift(exponent)
            return NotImplemented if other is None else _matrix_pow(self, other)
        p = as_scalar(exponent, "pow")
        x = self.data
        result = _node(x ** p, (self,), "pow")
        if result.requires_grad and p == 2.0:  # the lecture's square: x ** 1 is x
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (x * 2.0))
            result._gradient = _gradient
        elif result.requires_grad and p != 0.0:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (x ** (p - 1.0) * p))
            result._gradient = _gradient
        elif result.requires_grad:
            result._gradient = _no_gradient
        return result

    def __rpow__(self, base: Any) -> "Matrix":
        """base ** self, for a number (or array) base: a constant 1x1 matrix that broadcasts."""
        return _matrix_pow(_lift(base), self)

    # -- comparisons: masks of 0.0 and 1.0 that record no graph ---------------------------------
    def _compare(self, other: Operand, op: str) -> "Matrix":
        rhs = other if _is_number(other) else _lift(other).data
        return Matrix(getattr(self.data, op)(rhs), requires_grad=False)

    def __lt__(self, other: Operand) -> "Matrix": return self._compare(other, "__lt__")
    def __le__(self, other: Operand) -> "Matrix": return self._compare(other, "__le__")
    def __gt__(self, other: Operand) -> "Matrix": return self._compare(other, "__gt__")
    def __ge__(self, other: Operand) -> "Matrix": return self._compare(other, "__ge__")
    def __eq__(self, other: Operand) -> "Matrix": return self._compare(other, "__eq__")  # type: ignore[override]
    def __ne__(self, other: Operand) -> "Matrix": return self._compare(other, "__ne__")  # type: ignore[override]
    __hash__ = object.__hash__

    # -- in-place updates (parameters, under no_grad) -------------------------------------------
    def _check_inplace(self, op: str) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"in-place {op} on a matrix that requires grad would corrupt the "
                               "graph; update parameters inside `with pyautograd.no_grad():`")

    def __iadd__(self, other: Operand) -> "Matrix":
        self._check_inplace("+=")
        self.data += other.data if isinstance(other, Matrix) else other
        return self

    def __isub__(self, other: Operand) -> "Matrix":
        self._check_inplace("-=")
        self.data -= other.data if isinstance(other, Matrix) else other
        return self

    def __imul__(self, other: Operand) -> "Matrix":
        self._check_inplace("*=")
        self.data *= other.data if isinstance(other, Matrix) else other
        return self

    # -- matrix product and transpose -----------------------------------------------------------
    def __matmul__(self, other: "Matrix") -> "Matrix":
        """Y = X @ W. dL/dX = dL/dY @ W^T and dL/dW = X^T @ dL/dY, without transposed copies."""
        if type(other) is not Matrix:
            if _is_number(other):
                raise _number_in_matmul(self.shape, other)
            other = _lift(other)
            if other is None:
                return NotImplemented
        a, b = self.data, other.data
        result = _node(a @ b, (self, other), "matmul")
        if result.requires_grad:
            if self.requires_grad and other.requires_grad:  # each reads the other's values
                ao, bo = a._base or a, b._base or b
                result._saved = ((ao, ao.version), (bo, bo.version))
            else:
                read = b if self.requires_grad else a  # only the gradient asked for reads
                owner = read._base or read
                result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate_matmul(self, grad, b, trans_b=True)
                if other.requires_grad:
                    _accumulate_matmul(other, a, grad, trans_a=True)
            result._gradient = _gradient
        return result

    def __rmatmul__(self, other: Any) -> "Matrix":
        if _is_number(other):
            raise _number_in_matmul(self.shape, other)
        return _lift(other) @ self

    @property
    def T(self) -> "Matrix":
        """The transpose; its gradient is the transposed upstream gradient."""
        result = _node(self.data.T, (self,), "transpose")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad.T)
            result._gradient = _gradient
        return result

    # -- reductions -----------------------------------------------------------------------------
    def sum(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Sum over all values (1x1), the rows (axis=0 -> 1 x ncol) or the columns (axis=1 -> nrow x 1).
        Each input gets the upstream gradient of its sum, broadcast back. Axis -1 is 1, -2 is 0;
        dim= is PyTorch's name for axis=."""
        if axis is not None or dim is not None:
            axis = normalize_axis("sum", axis, dim)
        result = _node(self.data.sum(axis), (self,), "sum")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate_expanded(self, grad, owned=False)
            result._gradient = _gradient
        return result

    def mean(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Mean over all values or one axis; each input gets 1/count of the upstream gradient."""
        if axis is not None or dim is not None:
            axis = normalize_axis("mean", axis, dim)
        result = _node(self.data.mean(axis), (self,), "mean")
        if result.requires_grad:
            nrow, ncol = self.shape
            count = float(nrow * ncol if axis is None else (nrow if axis == 0 else ncol))

            def _gradient(grad: Storage) -> None:
                _accumulate_expanded(self, grad / count)
            result._gradient = _gradient
        return result

    def max(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Largest value overall or per axis. The gradient is shared evenly among tied maxima
        (a NaN is the maximum of its row or column and gets it all)."""
        return self._extreme("max", normalize_axis("max", axis, dim))

    def min(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Smallest value overall or per axis; the gradient is shared evenly among tied minima,
        as for max (PyTorch's amin)."""
        return self._extreme("min", normalize_axis("min", axis, dim))

    def _extreme(self, op: str, axis: Optional[int]) -> "Matrix":
        x = self.data
        result = _node(getattr(x, op)(axis), (self,), op)
        if result.requires_grad:
            out = result.data
            owner = x._base or x
            result._saved = ((owner, owner.version), (out, 0))

            def _gradient(grad: Storage) -> None:
                winners = (x == out) + (x != x)
                _accumulate(self, winners * (grad / winners.sum(axis)))
            result._gradient = _gradient
        return result

    def argmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Position of the largest value per axis (or over all values, counted row-major), as
        floats in a matrix that records no graph; the first of ties (and the first NaN) wins."""
        return Matrix(self.data.argmax(normalize_axis("argmax", axis, dim)), requires_grad=False)

    def argmin(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """Position of the smallest value per axis (or overall), as argmax."""
        return Matrix(self.data.argmin(normalize_axis("argmin", axis, dim)), requires_grad=False)

    # -- indexing and shapes --------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "Matrix":
        """m[key], always 2-D: m[i] is row i (1 x ncol), m[:, j] column j (nrow x 1), m[i, j]
        1x1; slices (positive steps), negative positions, and a 1-D list, integer array or
        integer-valued Matrix of rows (a gather). The gradient scatters back into a zero matrix
        of m's shape: dL/dm[r, c] += dL/dY[i, j] for every selected (r, c), repeats adding up."""
        rows, cols = index_positions("getitem", _plain_key(key), self.shape)
        result = _node(self.data.take(rows, cols), (self,), "getitem")
        if result.requires_grad:
            nrow, ncol = self.shape

            def _gradient(grad: Storage) -> None:
                _accumulate(self, type(grad).zeros(nrow, ncol).put_(rows, cols, grad, True))
            result._gradient = _gradient
        return result

    def __setitem__(self, key: Any, value: Any) -> None:
        """m[key] = value (a number, or values that broadcast to the selection), in place: under
        no_grad, or on a matrix that does not require grad. Counts as an in-place write."""
        self._check_inplace("setitem")
        rows, cols = index_positions("setitem", _plain_key(key), self.shape)
        cls = type(self.data)
        if _is_number(value):
            block = cls.full(1, 1, as_scalar(value, "setitem"))
        else:
            block = value.data if isinstance(value, Matrix) else (
                value if isinstance(value, Storage) else cls.from_values(value, "setitem"))
        self.data.put_(rows, cols, block)

    def reshape(self, *shape: Any) -> "Matrix":
        """The values in row-major order, laid out as nrow x ncol (one of them may be -1: what
        the other leaves); m.reshape(r, c) or m.reshape((r, c)). The gradient is reshaped back."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if len(shape) != 2:
            raise ValueError(f"reshape: a matrix has 2 dimensions, got the shape {shape}")
        n = self.data.nrow * self.data.ncol
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
        return self._reshaped(nrow, ncol, "reshape")

    def flatten(self) -> "Matrix":
        """All values in one row (1 x n), row-major."""
        return self._reshaped(1, self.data.nrow * self.data.ncol, "flatten")

    def _reshaped(self, nrow: int, ncol: int, op: str) -> "Matrix":
        result = _node(self.data.reshape(nrow, ncol), (self,), op)
        if result.requires_grad:
            shape = self.shape

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad.reshape(*shape))
            result._gradient = _gradient
        return result

    # -- element-wise functions -----------------------------------------------------------------
    def sqrt(self) -> "Matrix":
        """Y = sqrt(x); dY/dx = 1 / (2 sqrt(x)) = 1 / (2Y)."""
        result = _node(self.data.sqrt(), (self,), "sqrt")
        if result.requires_grad:
            out = result.data
            result._saved = ((out, 0),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad / (out * 2.0))
            result._gradient = _gradient
        return result

    def square(self) -> "Matrix":
        """x^2; d/dx x^2 = 2x."""
        x = self.data
        result = _node(x.square(), (self,), "square")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (x * 2.0))
            result._gradient = _gradient
        return result

    def log1p(self) -> "Matrix":
        """log(1 + x), accurate near 0; d/dx = 1 / (1 + x)."""
        x = self.data
        result = _node(x.log1p(), (self,), "log1p")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad / (x + 1.0))
            result._gradient = _gradient
        return result

    def expm1(self) -> "Matrix":
        """e^x - 1, accurate near 0; d/dx = e^x = Y + 1."""
        result = _node(self.data.expm1(), (self,), "expm1")
        if result.requires_grad:
            out = result.data
            result._saved = ((out, 0),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (out + 1.0))
            result._gradient = _gradient
        return result

    def clamp(self, min: Optional[Number] = None, max: Optional[Number] = None) -> "Matrix":
        """x limited to [min, max] (either may be None); min > max gives max everywhere, NaN
        stays NaN, as in PyTorch. dY/dx = 1 where min <= x <= max, else 0."""
        x = self.data
        result = _node(_clamped(x, min, max), (self,), "clamp")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, _clamp_mask(x, min, max) * grad)
            result._gradient = _gradient
        return result

    def exp(self) -> "Matrix":
        """e^x; its derivative is itself: dA/dZ = A."""
        result = _node(self.data.exp(), (self,), "exp")
        if result.requires_grad:
            out = result.data
            result._saved = ((out, 0),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * out)
            result._gradient = _gradient
        return result

    def log(self) -> "Matrix":
        """Natural logarithm; d/dx log(x) = 1/x."""
        x = self.data
        result = _node(x.log(), (self,), "log")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad / x)
            result._gradient = _gradient
        return result

    def sigmoid(self) -> "Matrix":
        """A = sigma(Z) = 1 / (1 + e^-Z); dA/dZ = sigma(Z)(1 - sigma(Z)) = A(1 - A)."""
        result = _node(self.data.sigmoid(), (self,), "sigmoid")
        if result.requires_grad:
            out = result.data
            result._saved = ((out, 0),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, out.dsigmoid(grad))  # out * (1 - out) * grad, in one pass
            result._gradient = _gradient
        return result

    def tanh(self) -> "Matrix":
        """tanh(x); d/dx tanh(x) = 1 - tanh(x)^2."""
        result = _node(self.data.tanh(), (self,), "tanh")
        if result.requires_grad:
            out = result.data
            result._saved = ((out, 0),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, (1.0 - out * out) * grad)
            result._gradient = _gradient
        return result

    def relu(self) -> "Matrix":
        """max(x, 0); the derivative is 1 where x > 0 and 0 elsewhere (0 at x = 0, as PyTorch)."""
        x = self.data
        result = _node(x.relu(), (self,), "relu")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, (x > 0.0) * grad)
            result._gradient = _gradient
        return result

    def abs(self) -> "Matrix":
        """|x|; the derivative is sign(x), 0 at x = 0 (as PyTorch)."""
        x = self.data
        result = _node(x.abs(), (self,), "abs")
        if result.requires_grad:
            owner = x._base or x
            result._saved = ((owner, owner.version),)

            def _gradient(grad: Storage) -> None:
                _accumulate(self, x.sign() * grad)
            result._gradient = _gradient
        return result

    def __abs__(self) -> "Matrix":
        return self.abs()

    def log_softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """x - max - log(sum(exp(x - max))) along `axis`: stable for inputs of any size.

        The max is a constant shift (detached): it cancels out of the result and its gradient."""
        return stable_softmax(self, self.data, axis, log=True, dim=dim)

    def softmax(self, axis: Optional[int] = None, dim: Optional[int] = None) -> "Matrix":
        """exp(x - max) / sum(exp(x - max)) along `axis`: stable for inputs of any size."""
        return stable_softmax(self, self.data, axis, log=False, dim=dim)

    # -- training kit: gradient presence, pickling, DLPack ------------------------------------
    @property
    def has_grad(self) -> bool:
        """True once a backward reached this matrix since zero_grad(): PyTorch's `grad is not
        None`. Optimizers skip a parameter without one, although its `.grad` reads as zeros."""
        return self._grad is not None

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickle as a leaf: values and gradient as NumPy arrays of their dtype, the backend's
        name and requires_grad (the graph that made a non-leaf is not kept)."""
        grad = None if self._grad is None else self._grad.numpy().copy()
        return (Matrix._restore, (self.data.numpy().copy(), self.backend, self.requires_grad, grad))

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
        return self.data.numpy().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Tuple[int, int]:
        """(1, 0): the CPU, as DLPack numbers devices."""
        return (1, 0)


def stable_softmax(x: Any, values: Storage, axis: Optional[int], log: bool,
                   dim: Optional[int] = None) -> Any:
    """(log_)softmax of x (a Matrix, or forward mode's Dual) along axis (1 when neither axis
    nor dim is given), shifted by the detached maximum of its values so that exp never overflows."""
    if axis is None and dim is None:
        axis = 1
    axis = normalize_axis("log_softmax" if log else "softmax", axis, dim, allow_none=False)
    shifted = x - Matrix(values.max(axis), requires_grad=False)
    if log:
        return shifted - shifted.exp().sum(axis).log()
    exps = shifted.exp()
    return exps / exps.sum(axis)


# A leaf may be shared by the backward passes of several threads (a model trained from a thread
# pool): every addition into a leaf's gradient holds this lock, as PyTorch's AccumulateGrad
# does, so that none is lost while a kernel runs without the GIL. Intermediate nodes belong to
# one graph, one thread: they skip it (an uncontended lock still costs ~0.2 us).
_leaf_lock = threading.Lock()


def _accumulate(node: Matrix, g: Storage, owned: bool = True, scale: float = 1.0) -> None:
    """node.grad += scale * g. The first gradient to arrive is adopted as node.grad (or copied,
    when the caller does not own it) instead of being added to a matrix of zeros."""
    g = g if type(g) is type(node.data) else g.astype(node.data.dtype)  # the node's dtype
    leaf = node._gradient is None
    if leaf:
        _leaf_lock.acquire()
    try:
        current = node._grad
        if current is None:
            if scale != 1.0:
                node._grad = g * scale
            else:
                node._grad = g if owned else g.copy()
        elif scale == 1.0:
            current += g
        else:
            current.add_scaled_(g, scale)
    finally:
        if leaf:
            _leaf_lock.release()


def _sum_to(grad: Storage, node: Matrix) -> Storage:
    """grad summed over the dimensions that broadcasting expanded node to (grad itself when
    none were)."""
    data = node.data
    if grad.nrow == data.nrow and grad.ncol == data.ncol:
        return grad
    return grad.unbroadcast(data.nrow, data.ncol)


def _accumulate_expanded(node: Matrix, g: Storage, owned: bool = True) -> None:
    """node.grad += g broadcast to node's shape: the backward of a sum or a mean, where every
    input value gets the upstream gradient of its row, column or whole."""
    data = node.data
    if g.nrow == data.nrow and g.ncol == data.ncol:
        _accumulate(node, g, owned)
    elif node._grad is not None:
        _accumulate(node, g)  # broadcast in place
    elif g.nrow == 1 and g.ncol == 1:
        _accumulate(node, type(g).full(data.nrow, data.ncol, g.item()))
    else:
        _accumulate(node, type(g).zeros(data.nrow, data.ncol) + g)


def _accumulate_matmul(node: Matrix, a: Storage, b: Storage, trans_a: bool = False,
                       trans_b: bool = False) -> None:
    """node.grad += op(a) @ op(b), straight into the gradient's buffer once it exists. The
    gradient takes the layout of the node's values: for a transposed view (`W.T`) it is stored
    column-major, so that the view's own backward hands W a row-major gradient for free."""
    if node._grad is not None:
        if node._gradient is None:
            with _leaf_lock:
                node._grad.add_matmul_(a, b, trans_a, trans_b)
        else:
            node._grad.add_matmul_(a, b, trans_a, trans_b)
    elif node.data.transposed:
        _accumulate(node, a.matmul_transposed(b, trans_a, trans_b))
    else:
        _accumulate(node, a.matmul(b, trans_a, trans_b))


# What a backward will read is recorded in the node's _saved as (owner, version) pairs: the
# storage that owns each value's buffer (`v._base or v`: a transposed view's parent) and its
# count of in-place writes at the time; backward() compares them before running the closure.
# The hot ops build the pairs inline (a helper call would cost more than the rest of the
# check); an op's own fresh output is (out, 0).

def _saved(*values: Storage) -> Tuple:
    """The (owner, version) pairs of values (for the less frequent ops)."""
    pairs = []
    for v in values:
        owner = v._base or v
        pairs.append((owner, owner.version))
    return tuple(pairs)


def _modified(node: Matrix, owner: Storage, version: int) -> None:
    """Refuse to backpropagate through an op whose saved values were changed in place since it
    recorded them (its gradient would silently be wrong), as PyTorch does."""
    raise RuntimeError(
        f"backward: a value needed to compute the gradient of {node._op!r} (its result is "
        f"{node.shape}) has been modified by an in-place operation: a {owner.shape} matrix is "
        f"at version {owner.version}, the op recorded version {version}. Change values after "
        "backward(), or change a copy (m.data.copy())")


def _no_gradient(grad: Storage) -> None:
    """The closure of an op whose local derivative is zero everywhere."""


_new_matrix = object.__new__
_next_number = itertools.count().__next__
_creation_number = operator.attrgetter("_seq")
_grad_enabled = _enabled.get


def _number_in_matmul(shape: Tuple[int, int], value: object) -> TypeError:
    """@ takes two matrices: a bare number is an error (as in PyTorch), not a 1x1 matrix."""
    return TypeError(f"matmul: both operands of @ must be matrices, got a {shape} matrix and the "
                     f"number {value!r}; use * to scale by a number")


def _is_number(value: object) -> bool:
    return type(value) is float or type(value) is int or isinstance(value, (bool, np.number))


def _lift(value: Any) -> Optional[Matrix]:
    """An operand as a Matrix: matrices pass through, anything else becomes a constant; None
    for objects that handle Matrix operands themselves (forward mode's Dual), so that the op
    returns NotImplemented and Python asks their reflected operator."""
    if isinstance(value, Matrix):
        return value
    if getattr(value, "_takes_over_matrix_ops", False):
        return None
    return Matrix(value, requires_grad=False)


def _node(data: Storage, children: Tuple[Matrix, ...], op: str) -> Matrix:
    """The result of an op: it records its children only when one of them needs a gradient."""
    result = _new_matrix(Matrix)
    result.data = data
    result._grad = None
    result._op = op
    result._seq = _next_number()
    result._gradient = None
    result.requires_grad = False
    result._children = ()
    result._saved = ()
    if _grad_enabled():
        for child in children:
            if child.requires_grad:
                result.requires_grad = True
                result._children = children
                break
    return result


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


def _clamped(x: Storage, low: Optional[Number], high: Optional[Number]) -> Storage:
    """min(max(x, low), high), element-wise (NaN stays NaN)."""
    if low is None and high is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    out = x if low is None else x.maximum(as_scalar(low, "clamp"))
    return out if high is None else out.minimum(as_scalar(high, "clamp"))


def _clamp_mask(x: Storage, low: Optional[Number], high: Optional[Number]) -> Storage:
    """1 where low <= x <= high (the bounds included, as PyTorch), else 0: clamp's derivative."""
    if low is None:
        return x <= as_scalar(high, "clamp")
    mask = x >= as_scalar(low, "clamp")
    return mask if high is None else mask * (x <= as_scalar(high, "clamp"))


def _matrix_pow(a: Matrix, b: Matrix) -> Matrix:
    """Y = a ** b, broadcasting. dY/da = b a^(b-1) (0 where b = 0) and dY/db = a^b log(a) (0 where
    a = 0 and b >= 0), PyTorch's conventions at those points."""
    x, p = a.data, b.data
    result = _node(x ** p, (a, b), "pow")
    if result.requires_grad:
        out = result.data
        result._saved = _saved(x, p, out)

        def _gradient(grad: Storage) -> None:
            zero = type(grad).zeros(1, 1)
            if a.requires_grad:
                local = (p == 0.0).where(zero, p * x ** (p - 1.0))
                _accumulate(a, _sum_to(grad * local, a))
            if b.requires_grad:
                local = ((x == 0.0) * (p >= 0.0)).where(zero, out * x.log())
                _accumulate(b, _sum_to(grad * local, b))
        result._gradient = _gradient
    return result


def _dual_among(values: Any) -> Any:
    """The class of the first operand that takes Matrix ops over (forward mode's Dual), or None."""
    for v in values:
        if getattr(v, "_takes_over_matrix_ops", False):
            return type(v)
    return None


def cat(matrices: Any, axis: Optional[int] = None, dim: Optional[int] = None) -> Matrix:
    """The matrices one after the other: stacked down the rows (axis=0, equal column counts) or
    side by side (axis=1, equal row counts). Each input's gradient is its block of the result's."""
    axis = 0 if axis is None and dim is None else normalize_axis("cat", axis, dim, allow_none=False)
    parts = list(matrices)
    if not parts:
        raise ValueError("cat: expected at least one matrix, got none")
    dual = _dual_among(parts)
    if dual is not None:
        return dual.cat(parts, axis)
    parts = [_lift(p) for p in parts]
    result = _node(type(parts[0].data).cat([p.data for p in parts], axis), tuple(parts), "cat")
    if result.requires_grad:
        def _gradient(grad: Storage) -> None:
            start = 0
            for p in parts:
                size = p.shape[axis]
                span = np.arange(start, start + size, dtype=np.int64)
                whole = np.arange(p.shape[1 - axis], dtype=np.int64)
                if p.requires_grad:
                    _accumulate(p, grad.take(*((span, whole) if axis == 0 else (whole, span))))
                start += size
        result._gradient = _gradient
    return result


def where(condition: Any, a: Any, b: Any) -> Matrix:
    """a where condition is non-zero (a mask, e.g. x > 0), else b; the three broadcast together
    (a and b may be numbers). The gradient goes to a where the condition holds, to b elsewhere."""
    dual = _dual_among((a, b))
    if dual is not None:
        return dual.where(condition, a, b)
    if isinstance(condition, Matrix):
        cond = condition.data
    else:
        cond = condition if isinstance(condition, Storage) else _lift(condition).data
    a, b = _lift(a), _lift(b)
    result = _node(cond.where(a.data, b.data), (a, b), "where")
    if result.requires_grad:
        result._saved = _saved(cond)

        def _gradient(grad: Storage) -> None:
            zero = type(grad).zeros(1, 1)
            if a.requires_grad:
                _accumulate(a, _sum_to(cond.where(grad, zero), a))
            if b.requires_grad:
                _accumulate(b, _sum_to(cond.where(zero, grad), b))
        result._gradient = _gradient
    return result


def _tie_weights(x: Storage, y: Storage, largest: bool) -> Storage:
    """x's share of the gradient of maximum(x, y) (largest) or minimum(x, y): 1 where x wins,
    0 where y wins, 1/2 on ties, as PyTorch; 1 when either is NaN (PyTorch's masks then pass it)."""
    loses = (x < y) if largest else (x > y)
    return 1.0 - loses - (x == y) * 0.5


def maximum(a: Any, b: Any) -> Matrix:
    """The element-wise larger of a and b (broadcasting; NaN wins). The gradient goes to the
    larger one, split evenly on ties (PyTorch's rule)."""
    return _extremum(a, b, True)


def minimum(a: Any, b: Any) -> Matrix:
    """The element-wise smaller of a and b, as maximum."""
    return _extremum(a, b, False)


def _extremum(a: Any, b: Any, largest: bool) -> Matrix:
    op = "maximum" if largest else "minimum"
    dual = _dual_among((a, b))
    if dual is not None:
        return getattr(dual, op)(a, b)
    a, b = _lift(a), _lift(b)
    x, y = a.data, b.data
    result = _node(getattr(x, op)(y), (a, b), op)
    if result.requires_grad:
        result._saved = _saved(x, y)

        def _gradient(grad: Storage) -> None:
            if a.requires_grad:
                _accumulate(a, _sum_to(grad * _tie_weights(x, y, largest), a))
            if b.requires_grad:
                _accumulate(b, _sum_to(grad * _tie_weights(y, x, largest), b))
        result._gradient = _gradient
    return result


def mat(values: Any, requires_grad: bool = True) -> Matrix:
    """Short form of Matrix(values, requires_grad)."""
    return Matrix(values, requires_grad=requires_grad)
