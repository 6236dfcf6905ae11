"""Forward mode and the functional API: jvp, grad, jacobian, hessian, hvp.

jvp(f, inputs, tangents) runs f on matrices that carry a tangent (a directional derivative):
every op pushes the tangent through by its row's forward rule (pyautograd.ops), on the same
storage backends as reverse mode. Forward mode costs one pass per input direction, reverse mode
one pass per output: forward wins for few inputs and many outputs, reverse for the opposite
(a loss of many parameters).

The derivatives compose, because the reverse rules run on matrices when asked to: grad(f)
called on a matrix that itself requires a gradient returns a gradient that is recorded (so
grad(grad(f)) and jacobian(grad(f)) work), and inside jvp it carries a tangent (so
jvp(grad(f)) is a Hessian-vector product).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, Tuple, Union

import numpy as np

from .grad_mode import enable_grad, is_grad_enabled
from .backward import gradients
from .matrix import Matrix, _forward_depth, _zeros_like


def _as_tuple(x: Any) -> Tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _as_matrix(x: Any) -> Matrix:
    return x if isinstance(x, Matrix) else Matrix(x, requires_grad=False)


def jvp(f: Callable[..., Any], inputs: Any, tangents: Any) -> Tuple[Any, Any]:
    """(f(*inputs), the directional derivative of f at inputs along tangents), by forward mode.

    inputs and tangents are Matrices or tuples of them, pairwise of equal shape; the result is a
    pair of Matrices, or of tuples when f returns a tuple. An input that requires a gradient
    stays connected to the values and tangents f returns (reverse-over-forward)."""
    inputs, tangents = _as_tuple(inputs), _as_tuple(tangents)
    if len(inputs) != len(tangents):
        raise ValueError(f"jvp: {len(inputs)} inputs but {len(tangents)} tangents")
    if _forward_depth[0]:
        raise NotImplementedError("jvp: forward mode inside forward mode (a jvp of a jvp) is not "
                                  "supported; differentiate the inner function with grad instead")
    primals = []
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        x, t = _as_matrix(x), _as_matrix(t)
        if x.shape != t.shape:
            raise ValueError(f"jvp: input {i} has shape {x.shape}, its tangent {t.shape}")
        if type(x.data) is not type(t.data):
            raise TypeError(f"jvp: input {i} is on backend {x.backend!r}, its tangent on {t.backend!r}")
        # a fresh node carries the tangent (the caller's matrix is never marked), connected to
        # x when x records a graph
        primal = x.reshape(*x.shape) if x.requires_grad and is_grad_enabled() else Matrix(x.data, False)
        primal._tangent = t
        primals.append(primal)
    _forward_depth[0] += 1
    try:
        out = f(*primals)
    finally:
        _forward_depth[0] -= 1
    outs = _as_tuple(out)
    for o in outs:
        if not isinstance(o, Matrix):
            raise TypeError(f"jvp: f must return matrices, got {type(o).__name__}")
    derivs = tuple(_tangent_or_zeros(o) for o in outs)
    if isinstance(out, (tuple, list)):
        return tuple(outs), derivs
    return outs[0], derivs[0]


def _tangent_or_zeros(m: Matrix) -> Matrix:
    """m's tangent, or zeros where m does not depend on the inputs."""
    tangent = getattr(m, "_tangent", None)
    return _zeros_like(m) if tangent is None else tangent


def grad(f: Callable[..., Matrix], argnums: Union[int, Sequence[int]] = 0) -> Callable[..., Any]:
    """A function returning d f(*args) / d args[argnums] by reverse mode (f returns a 1x1 Matrix);
    a tuple of gradients when argnums is a tuple.

    Called on matrices that require a gradient (an outer grad, jacobian or hessian is
    differentiating it), the gradient is itself recorded, so derivatives compose."""
    several = not isinstance(argnums, int)
    indices = tuple(argnums) if several else (argnums,)

    def gradient(*args: Any) -> Any:
        leaves = list(args)
        outer = is_grad_enabled()
        create_graph = False
        for i in indices:
            if not -len(args) <= i < len(args):
                raise ValueError(f"grad: argnums {i} is out of range for {len(args)} arguments")
            value = args[i]
            if isinstance(value, Matrix) and value.requires_grad and outer:
                create_graph = True  # differentiate through value's own graph
                continue
            leaf = Matrix(_as_matrix(value).data, requires_grad=True)
            tangent = getattr(value, "_tangent", None)
            if tangent is not None:
                leaf._tangent = tangent  # forward-over-reverse: keep the direction
            leaves[i] = leaf
        with enable_grad():
            out = f(*leaves)
        if not isinstance(out, Matrix) or out.shape != (1, 1):
            raise ValueError(f"grad: f must return a 1x1 Matrix, got "
                             f"{out.shape if isinstance(out, Matrix) else type(out).__name__}")
        targets = [leaves[i] for i in indices]
        if not out.requires_grad:  # f does not depend on its arguments
            found: Tuple[Any, ...] = (None,) * len(targets)
        elif create_graph or _forward_depth[0]:
            found = gradients([out], targets, create_graph=create_graph)
        else:  # the plain first-order case: storages only, the fast path
            out.backward()
            found = tuple(None if t._grad is None else Matrix(t._grad, requires_grad=False)
                          for t in targets)
        grads = tuple(_zeros_like(t) if g is None else g for g, t in zip(found, targets))
        return grads if several else grads[0]
    return gradient


def jacobian(f: Callable[[Matrix], Matrix], x: Matrix, mode: str = "rev") -> Matrix:
    """The Jacobian of f at x as an (output entries, input entries) Matrix, row-major flattening:
    by reverse mode (one backward per output entry) or forward mode (one jvp per input entry).
    f may itself be a derivative (jacobian(grad(g), x) is g's Hessian)."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    x = _as_matrix(x)
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
    leaf = Matrix(x.data, requires_grad=True)
    with enable_grad():
        out = f(leaf)
    n_out = out.shape[0] * out.shape[1]
    rows = []
    for i in range(n_out):
        if not out.requires_grad:
            rows.append(np.zeros(n_in))
            continue
        seed = np.zeros(n_out)
        seed[i] = 1.0
        leaf.zero_grad()
        out.backward(cls.from_array(seed.reshape(out.shape)), retain_graph=True)
        rows.append(leaf.grad.numpy().ravel().copy())
    return Matrix(cls.from_array(np.stack(rows, axis=0)), requires_grad=False)


def hessian(f: Callable[[Matrix], Matrix], x: Matrix) -> Matrix:
    """The (n, n) Hessian of the scalar f at x (n entries, row-major as jacobian): the
    Jacobian of grad(f), one reverse pass over the recorded gradient per entry."""
    return jacobian(grad(f), x)


def hvp(f: Callable[[Matrix], Matrix], x: Matrix, v: Matrix) -> Matrix:
    """The Hessian of the scalar f at x times v, shaped like x, without forming the Hessian:
    reverse over reverse, d/dx <grad f(x), v>, for about the cost of two gradients."""
    x, v = _as_matrix(x), _as_matrix(v)
    if x.shape != v.shape:
        raise ValueError(f"hvp: x has shape {x.shape}, v {v.shape}; they must match")
    leaf = Matrix(x.data, requires_grad=True)
    with enable_grad():
        out = f(leaf)
        if not isinstance(out, Matrix) or out.shape != (1, 1):
            raise ValueError(f"hvp: f must return a 1x1 Matrix, got "
                             f"{out.shape if isinstance(out, Matrix) else type(out).__name__}")
        if not out.requires_grad:
            return _zeros_like(x)
        (g,) = gradients([out], [leaf], create_graph=True)
        if g is None or not g.requires_grad:  # f is linear in x: its Hessian is zero
            return _zeros_like(x)
        (g * v).sum().backward()  # the second pass on storages: nothing more to record
    return _zeros_like(x) if leaf._grad is None else Matrix(leaf._grad, requires_grad=False)


__all__ = ["jvp", "grad", "jacobian", "hessian", "hvp"]
