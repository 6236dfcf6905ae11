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
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np

from . import backends
from .backends.base import Storage, as_scalar
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
                 "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators

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
            if tracer is None:
                node._gradient(node.grad)
            else:
                tracer(node)
        if not retain_graph:
            for node in order:
                node._gradient = _released
                node._children = ()

    def _seed(self, gradient: Any) -> Storage:
        cls = type(self.data)
        if gradient is None:
            if self.shape != (1, 1):
                raise ValueError(f"backward: the output has shape {self.shape}; an implicit "
                                 "gradient exists only for a 1x1 output, pass gradient= of that shape")
            return cls.ones(1, 1)
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
        result = _node(self.data * other.data, (self, other), "mul")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate(self, _sum_to(grad * other.data, self))
                if other.requires_grad:
                    _accumulate(other, _sum_to(grad * self.data, other))
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
        result = _node(self.data / other.data, (self, other), "div")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate(self, _sum_to(grad / other.data, self))
                if other.requires_grad:
                    _accumulate(other, _sum_to(grad * out / other.data, other), scale=-1.0)
            result._gradient = _gradient
        return result

    def __rtruediv__(self, other: Operand) -> "Matrix":
        """s / self. d/dself = -s/self^2 = -result/self."""
        if not _is_number(other):
            return _lift(other) / self
        s = as_scalar(other, "div")
        result = _node(s / self.data, (self,), "rdiv")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * out / self.data, scale=-1.0)
            result._gradient = _gradient
        return result

    def __neg__(self) -> "Matrix":
        result = _node(-self.data, (self,), "neg")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad, owned=False, scale=-1.0)
            result._gradient = _gradient
        return result

    def __pow__(self, exponent: Number) -> "Matrix":
        """self ** p for a number p. d/dself = p * self^(p-1) (0 for p = 0, as in PyTorch)."""
        if isinstance(exponent, (Matrix, Storage)):
            shape = exponent.shape
            raise TypeError(f"pow: the exponent must be a number, got a {shape} matrix")
        p = as_scalar(exponent, "pow")
        result = _node(self.data ** p, (self,), "pow")
        if result.requires_grad and p == 2.0:  # the lecture's square: x ** 1 is x
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (self.data * 2.0))
            result._gradient = _gradient
        elif result.requires_grad and p != 0.0:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * (self.data ** (p - 1.0) * p))
            result._gradient = _gradient
        elif result.requires_grad:
            result._gradient = _no_gradient
        return result

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

    # -- matrix product and transpose -----------------------------------------------------------
    def __matmul__(self, other: "Matrix") -> "Matrix":
        """Y = X @ W. dL/dX = dL/dY @ W^T and dL/dW = X^T @ dL/dY, without transposed copies."""
        if type(other) is not Matrix:
            other = _lift(other)
            if other is None:
                return NotImplemented
        result = _node(self.data @ other.data, (self, other), "matmul")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                if self.requires_grad:
                    _accumulate_matmul(self, grad, other.data, trans_b=True)
                if other.requires_grad:
                    _accumulate_matmul(other, self.data, grad, trans_a=True)
            result._gradient = _gradient
        return result

    def __rmatmul__(self, other: Any) -> "Matrix":
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
    def sum(self, axis: Optional[int] = None) -> "Matrix":
        """Sum over all values (1x1), the rows (axis=0 -> 1 x ncol) or the columns (axis=1 -> nrow x 1).
        Each input gets the upstream gradient of its sum, broadcast back."""
        result = _node(self.data.sum(axis), (self,), "sum")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate_expanded(self, grad, owned=False)
            result._gradient = _gradient
        return result

    def mean(self, axis: Optional[int] = None) -> "Matrix":
        """Mean over all values or one axis; each input gets 1/count of the upstream gradient."""
        result = _node(self.data.mean(axis), (self,), "mean")
        if result.requires_grad:
            nrow, ncol = self.shape
            count = float(nrow * ncol if axis is None else (nrow if axis == 0 else ncol))

            def _gradient(grad: Storage) -> None:
                _accumulate_expanded(self, grad / count)
            result._gradient = _gradient
        return result

    def max(self, axis: Optional[int] = None) -> "Matrix":
        """Largest value overall or per axis. The gradient is shared evenly among tied maxima
        (a NaN is the maximum of its row or column and gets it all)."""
        result = _node(self.data.max(axis), (self,), "max")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                x = self.data
                winners = (x == out) + (x != x)
                _accumulate(self, winners * (grad / winners.sum(axis)))
            result._gradient = _gradient
        return result

    # -- element-wise functions -----------------------------------------------------------------
    def exp(self) -> "Matrix":
        """e^x; its derivative is itself: dA/dZ = A."""
        result = _node(self.data.exp(), (self,), "exp")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad * out)
            result._gradient = _gradient
        return result

    def log(self) -> "Matrix":
        """Natural logarithm; d/dx log(x) = 1/x."""
        result = _node(self.data.log(), (self,), "log")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, grad / self.data)
            result._gradient = _gradient
        return result

    def sigmoid(self) -> "Matrix":
        """A = sigma(Z) = 1 / (1 + e^-Z); dA/dZ = sigma(Z)(1 - sigma(Z)) = A(1 - A)."""
        result = _node(self.data.sigmoid(), (self,), "sigmoid")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                _accumulate(self, out.dsigmoid(grad))  # out * (1 - out) * grad, in one pass
            result._gradient = _gradient
        return result

    def tanh(self) -> "Matrix":
        """tanh(x); d/dx tanh(x) = 1 - tanh(x)^2."""
        result = _node(self.data.tanh(), (self,), "tanh")
        if result.requires_grad:
            out = result.data

            def _gradient(grad: Storage) -> None:
                _accumulate(self, (1.0 - out * out) * grad)
            result._gradient = _gradient
        return result

    def relu(self) -> "Matrix":
        """max(x, 0); the derivative is 1 where x > 0 and 0 elsewhere (0 at x = 0, as PyTorch)."""
        result = _node(self.data.relu(), (self,), "relu")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, (self.data > 0.0) * grad)
            result._gradient = _gradient
        return result

    def abs(self) -> "Matrix":
        """|x|; the derivative is sign(x), 0 at x = 0 (as PyTorch)."""
        result = _node(self.data.abs(), (self,), "abs")
        if result.requires_grad:
            def _gradient(grad: Storage) -> None:
                _accumulate(self, self.data.sign() * grad)
            result._gradient = _gradient
        return result

    def __abs__(self) -> "Matrix":
        return self.abs()

    def log_softmax(self, axis: int = 1) -> "Matrix":
        """x - max - log(sum(exp(x - max))) along `axis`: stable for inputs of any size.

        The max is a constant shift (detached): it cancels out of the result and its gradient."""
        return stable_softmax(self, self.data, axis, log=True)

    def softmax(self, axis: int = 1) -> "Matrix":
        """exp(x - max) / sum(exp(x - max)) along `axis`: stable for inputs of any size."""
        return stable_softmax(self, self.data, axis, log=False)

    # -- training kit: gradient presence, pickling, DLPack ------------------------------------
    @property
    def has_grad(self) -> bool:
        """True once a backward reached this matrix since zero_grad(): PyTorch's `grad is not
        None`. Optimizers skip a parameter without one, although its `.grad` reads as zeros."""
        return self._grad is not None

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickle as a leaf: values and gradient as NumPy arrays, the backend's name and
        requires_grad (the graph that made a non-leaf is not kept)."""
        grad = None if self._grad is None else self._grad.numpy().copy()
        return (Matrix._restore, (self.data.numpy().copy(), self.backend, self.requires_grad, grad))

    @classmethod
    def _restore(cls, values: np.ndarray, backend: str, requires_grad: bool,
                 grad: Optional[np.ndarray]) -> "Matrix":
        storage = backends.storage_class(backend)
        result = cls(storage.from_array(np.asarray(values, dtype=np.float64)), requires_grad)
        if grad is not None:
            result._grad = storage.from_array(np.asarray(grad, dtype=np.float64))
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


def stable_softmax(x: Any, values: Storage, axis: int, log: bool) -> Any:
    """(log_)softmax of x (a Matrix, or forward mode's Dual) along axis, shifted by the detached
    maximum of its values so that exp never overflows."""
    if axis not in (0, 1):
        raise ValueError(f"{'log_softmax' if log else 'softmax'}: axis must be 0 or 1, got {axis!r}")
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
    if node._gradient is None:
        with _leaf_lock:
            _add_into(node, g, owned, scale)
    else:
        _add_into(node, g, owned, scale)


def _add_into(node: Matrix, g: Storage, owned: bool, scale: float) -> None:
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


def _no_gradient(grad: Storage) -> None:
    """The closure of an op whose local derivative is zero everywhere."""


_new_matrix = object.__new__
_next_number = itertools.count().__next__
_creation_number = operator.attrgetter("_seq")
_grad_enabled = _enabled.get


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
    if _grad_enabled():
        for child in children:
            if child.requires_grad:
                result.requires_grad = True
                result._children = children
                break
    return result


def mat(values: Any, requires_grad: bool = True) -> Matrix:
    """Short form of Matrix(values, requires_grad)."""
    return Matrix(values, requires_grad=requires_grad)
