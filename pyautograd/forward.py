"""Forward mode and the functional API: jvp, grad, jacobian, hessian, hvp.

jvp(f, inputs, tangents) runs f on matrices that carry a tangent (a directional derivative):
every op pushes the tangent through by its row's forward rule (pyautograd.ops), on the same
storage backends as reverse mode. Forward mode costs one pass per input direction, reverse mode
one pass per output: forward wins for few inputs and many outputs, reverse for the opposite
(a loss of many parameters).

A derivative is an ordinary differentiable function (JAX's semantics). grad differentiates
with respect to a fresh variable standing for each argument (so the same matrix passed twice
gives each argument's partial derivative), and its result stays recorded whenever grad mode is
on and f depends on any other matrix that requires a gradient: an argument's own graph, or a
closure. Only when nothing else requires a gradient does it take the fast path on storages.
Each jvp tags its tangents, so jvps nest and never read one another's perturbations.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence, Tuple, Union

import numpy as np

from . import ops
from .grad_mode import enable_grad, is_grad_enabled
from .backward import gradients
from .matrix import Matrix, _forward_depth, _forward_tags, _zeros_like, apply, cat

_next_tag = itertools.count(1).__next__


def _as_tuple(x: Any) -> Tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _as_matrix(x: Any) -> Matrix:
    return x if isinstance(x, Matrix) else Matrix(x, requires_grad=False)


def jvp(f: Callable[..., Any], inputs: Any, tangents: Any) -> Tuple[Any, Any]:
    """(f(*inputs), the directional derivative of f at inputs along tangents), by forward mode.

    inputs and tangents are Matrices or tuples of them, pairwise of equal shape; the result is a
    pair of Matrices, or of tuples when f returns a tuple. jvps nest (each tags its own
    tangents), and what f returns stays connected to every matrix that requires a gradient it
    depends on (reverse-over-forward)."""
    inputs, tangents = _as_tuple(inputs), _as_tuple(tangents)
    if len(inputs) != len(tangents):
        raise ValueError(f"jvp: {len(inputs)} inputs but {len(tangents)} tangents")
    tag = _next_tag()
    primals = []
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        x, t = _as_matrix(x), _as_matrix(t)
        if x.shape != t.shape:
            raise ValueError(f"jvp: input {i} has shape {x.shape}, its tangent {t.shape}")
        if type(x.data) is not type(t.data):
            raise TypeError(f"jvp: input {i} is on backend {x.backend!r}, its tangent on {t.backend!r}")
        # a fresh node carries the tangent (the caller's matrix is never marked); it keeps x's
        # graph and the tangents of the jvps outside this one
        primal = apply(ops.RESHAPE, (x,), x.shape)
        outer = getattr(primal, "_tangent", None)
        primal._tangent = {**outer, tag: t} if outer else {tag: t}
        primals.append(primal)
    depth = _forward_depth[0]
    del _forward_tags[depth:]
    _forward_tags.append(tag)
    _forward_depth[0] = depth + 1
    try:
        out = f(*primals)
    finally:
        _forward_depth[0] = depth
        del _forward_tags[depth:]
    outs = _as_tuple(out)
    for o in outs:
        if not isinstance(o, Matrix):
            raise TypeError(f"jvp: f must return matrices, got {type(o).__name__}")
    derivs = tuple(_tangent_or_zeros(o, tag) for o in outs)
    if isinstance(out, (tuple, list)):
        return tuple(outs), derivs
    return outs[0], derivs[0]


def _tangent_or_zeros(m: Matrix, tag: int) -> Matrix:
    """m's tangent of the jvp `tag`, or zeros where m does not depend on that jvp's inputs."""
    found = getattr(m, "_tangent", None)
    tangent = found.get(tag) if found else None
    return _zeros_like(m) if tangent is None else tangent


def fresh_variable(value: Any) -> Matrix:
    """A new variable standing for value (same storage): the node a derivative is taken with
    respect to, so that another use of the same matrix is not differentiated (no aliasing, no
    perturbation confusion). It stays connected to value's graph when grad mode is on, and
    carries value's forward-mode tangents."""
    value = _as_matrix(value)
    if value.requires_grad and is_grad_enabled():
        return apply(ops.RESHAPE, (value,), value.shape)  # tangents follow through the op
    leaf = Matrix(value.data, requires_grad=True)
    tangents = getattr(value, "_tangent", None)
    if tangents:
        leaf._tangent = dict(tangents)  # forward-over-reverse: keep the directions
    return leaf


def depends_on_others(out: Matrix, targets: Sequence[Matrix]) -> bool:
    """Whether out's graph reaches a leaf that requires a gradient other than the targets (a
    closure, or the graph a target that is a fresh variable stands on): then a derivative of
    out must itself be recorded, as it could be differentiated later."""
    ids = {id(t) for t in targets}
    if out._rule is None:
        return out.requires_grad and id(out) not in ids
    seen = set()
    stack = [out]
    while stack:
        for child in stack.pop()._children:
            if type(child) is not Matrix or not child.requires_grad or id(child) in seen:
                continue
            seen.add(id(child))
            if child._rule is None:
                if id(child) not in ids:
                    return True
                continue
            stack.append(child)
    return False


def _scalar_output(name: str, out: Any) -> Matrix:
    if not isinstance(out, Matrix) or out.shape != (1, 1):
        raise ValueError(f"{name}: f must return a 1x1 Matrix, got "
                         f"{out.shape if isinstance(out, Matrix) else type(out).__name__}")
    return out


def grad(f: Callable[..., Matrix], argnums: Union[int, Sequence[int]] = 0) -> Callable[..., Any]:
    """A function returning d f(*args) / d args[argnums] by reverse mode (f returns a 1x1 Matrix);
    a tuple of gradients when argnums is a tuple.

    Each differentiated argument is replaced by a fresh variable (a partial derivative, even
    when the same matrix is passed twice). With grad mode on, the gradient is recorded whenever
    f depends on another matrix that requires a gradient, so derivatives compose."""
    several = not isinstance(argnums, int)
    indices = tuple(argnums) if several else (argnums,)

    def gradient(*args: Any) -> Any:
        leaves = list(args)
        for i in indices:
            if not -len(args) <= i < len(args):
                raise ValueError(f"grad: argnums {i} is out of range for {len(args)} arguments")
        outer = is_grad_enabled()
        targets = []
        for i in indices:
            leaves[i] = fresh_variable(args[i])
            targets.append(leaves[i])
        with enable_grad():
            out = _scalar_output("grad", f(*leaves))
        if not out.requires_grad:  # f does not depend on its arguments
            found: Tuple[Any, ...] = (None,) * len(targets)
        else:
            others = depends_on_others(out, targets)  # then backward() would write their .grad
            create_graph = outer and others
            if others or _forward_depth[0]:
                found = gradients([out], targets, create_graph=create_graph)
            else:  # nothing else requires a gradient: the fast first-order path on storages
                out.backward()
                found = tuple(None if t._grad is None else Matrix(t._grad, requires_grad=False)
                              for t in targets)
        grads = tuple(_zeros_like(t) if g is None else g for g, t in zip(found, targets))
        return grads if several else grads[0]
    return gradient


def jacobian(f: Callable[[Matrix], Matrix], x: Matrix, mode: str = "rev") -> Matrix:
    """The Jacobian of f at x as an (output entries, input entries) Matrix, row-major flattening:
    by reverse mode (one backward per output entry) or forward mode (one jvp per input entry).
    f may itself be a derivative (jacobian(grad(g), x) is g's Hessian); the result is recorded
    when f depends on a matrix that requires a gradient and grad mode is on."""
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    x = _as_matrix(x)
    cls = type(x.data)
    n_in = x.shape[0] * x.shape[1]

    def unit(n: int, i: int, shape: Tuple[int, int]) -> Matrix:
        e = np.zeros(n)
        e[i] = 1.0
        return Matrix(cls.from_array(e.reshape(shape)), requires_grad=False)

    if mode == "fwd":
        columns = []
        for j in range(n_in):
            _, tangent = jvp(f, (x,), (unit(n_in, j, x.shape),))
            columns.append(tangent.reshape(-1, 1))
        return cat(columns, axis=1)
    outer = is_grad_enabled()
    leaf = fresh_variable(x)
    with enable_grad():
        out = f(leaf)
    if not isinstance(out, Matrix):
        raise TypeError(f"jacobian: f must return a Matrix, got {type(out).__name__}")
    n_out = out.shape[0] * out.shape[1]
    if not out.requires_grad:
        return Matrix(cls.zeros(n_out, n_in), requires_grad=False)
    others = depends_on_others(out, [leaf])  # then backward() would write their .grad
    create_graph = outer and others
    rows = []
    for i in range(n_out):
        seed = unit(n_out, i, out.shape)
        if others or _forward_depth[0]:
            (g,) = gradients([out], [leaf], seeds=[seed], create_graph=create_graph)
            rows.append(_zeros_like(x).reshape(1, -1) if g is None else g.reshape(1, -1))
        else:  # the fast path: storages only
            leaf.zero_grad()
            out.backward(seed.data, retain_graph=True)
            rows.append(Matrix(leaf.grad.reshape(1, n_in), requires_grad=False))
    return cat(rows, axis=0)


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
    scalar_f = grad(lambda y: _scalar_output("hvp", f(y)))
    return grad(lambda y: (scalar_f(y) * v).sum())(x)


__all__ = ["jvp", "grad", "jacobian", "hessian", "hvp"]
