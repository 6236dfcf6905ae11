"""torch.autograd.functional's signatures over pyautograd's derivatives: vjp, jvp, jacobian,
hessian, hvp and vhp.

As in PyTorch, inputs are a Matrix or a tuple of them, and results are detached unless
create_graph=True (then they stay connected to every input and closure that requires a
gradient). A Jacobian is 2-D here: (output entries, input entries), row-major, where PyTorch
gives an output-shape + input-shape tensor; `.reshape` maps between the two for vectors.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

from .. import forward
from ..backward import gradients
from ..grad_mode import enable_grad, no_grad, set_grad_enabled
from ..matrix import Matrix, _zeros_like


def _inputs(name: str, inputs: Any) -> Tuple[Tuple[Matrix, ...], bool]:
    several = isinstance(inputs, (tuple, list))
    items = tuple(inputs) if several else (inputs,)
    for i, m in enumerate(items):
        if not isinstance(m, Matrix):
            raise TypeError(f"{name}: input {i} must be a Matrix, got {type(m).__name__}")
    return items, several


def _directions(name: str, v: Any, like: Tuple[Matrix, ...], what: str) -> Tuple[Matrix, ...]:
    """v as one matrix per entry of `like`, of equal shapes; None only where `like` is 1x1."""
    if v is None:
        if len(like) != 1 or like[0].shape != (1, 1):
            raise RuntimeError(f"{name}: v can be omitted only when the {what} is a single 1x1 "
                               f"matrix, got shapes {[m.shape for m in like]}")
        return (Matrix(type(like[0].data).full(1, 1, 1.0), requires_grad=False),)
    items = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if len(items) != len(like):
        raise ValueError(f"{name}: v has {len(items)} entries, the {what} {len(like)}")
    out = []
    for i, (d, m) in enumerate(zip(items, like)):
        d = d if isinstance(d, Matrix) else Matrix(type(m.data).from_values(d, name), False)
        if d.shape != m.shape:
            raise ValueError(f"{name}: v {i} has shape {d.shape}, the {what} {m.shape}")
        out.append(d)
    return tuple(out)


def _strict(name: str, strict: bool) -> None:
    if strict:
        raise NotImplementedError(f"{name}: strict=True is not supported; a derivative that does "
                                  "not depend on an input is returned as zeros")


def _done(value: Any, create_graph: bool) -> Any:
    """A result as PyTorch returns it: detached unless create_graph."""
    if isinstance(value, tuple):
        return tuple(_done(v, create_graph) for v in value)
    return value if create_graph or value is None else value.detach()


def _shaped(items: Tuple[Any, ...], several: bool) -> Any:
    return tuple(items) if several else items[0]


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> Tuple[Any, Any]:
    """(func(*inputs), v^T J): the vector-Jacobian product, by one reverse pass."""
    _strict("vjp", strict)
    xs, several = _inputs("vjp", inputs)
    with set_grad_enabled(create_graph):
        variables = tuple(forward.fresh_variable(x) for x in xs)
    with enable_grad():
        out = func(*variables)
    if not isinstance(out, Matrix):
        raise TypeError(f"vjp: func must return a Matrix, got {type(out).__name__}")
    (seed,) = _directions("vjp", v, (out,), "output")
    with set_grad_enabled(create_graph):
        found = (gradients([out], variables, [seed], create_graph=create_graph)
                 if out.requires_grad else (None,) * len(xs))
    grads = tuple(_zeros_like(x) if g is None else g for g, x in zip(found, xs))
    return _done(out, create_graph), _done(_shaped(grads, several), create_graph)


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> Tuple[Any, Any]:
    """(func(*inputs), J v): the Jacobian-vector product, by forward mode."""
    _strict("jvp", strict)
    xs, _ = _inputs("jvp", inputs)
    tangents = _directions("jvp", v, xs, "input")
    with set_grad_enabled(create_graph):
        out, tangent = forward.jvp(func, xs, tangents)
    return _done(out, create_graph), _done(tangent, create_graph)


def jacobian(func: Callable[..., Matrix], inputs: Any, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of func at inputs, one 2-D (output entries, input entries) matrix per input.
    `vectorize` is accepted and ignored (a speed hint in PyTorch)."""
    _strict("jacobian", strict)
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', "
                         f"got {strategy!r}")
    xs, several = _inputs("jacobian", inputs)
    mode = "rev" if strategy == "reverse-mode" else "fwd"
    results = []
    with set_grad_enabled(create_graph):
        for i in range(len(xs)):
            def partial(x: Matrix, i: int = i) -> Matrix:
                return func(*xs[:i], x, *xs[i + 1:])
            results.append(forward.jacobian(partial, xs[i], mode=mode))
    return _done(_shaped(tuple(results), several), create_graph)


def hessian(func: Callable[..., Matrix], inputs: Matrix, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Matrix:
    """The (n, n) Hessian of the scalar func at one input of n entries (row-major)."""
    _strict("hessian", strict)
    (x,), several = _inputs("hessian", inputs)
    if several:
        raise NotImplementedError("hessian: one input matrix is supported; cat() several into one")
    mode = "rev" if outer_jacobian_strategy == "reverse-mode" else "fwd"
    with set_grad_enabled(create_graph):
        result = forward.jacobian(forward.grad(func), x, mode=mode)
    return _done(result, create_graph)


def hvp(func: Callable[..., Matrix], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> Tuple[Matrix, Any]:
    """(func(*inputs), H v) for the scalar func: reverse over reverse, no Hessian formed."""
    _strict("hvp", strict)
    xs, several = _inputs("hvp", inputs)
    vs = _directions("hvp", v, xs, "input")
    argnums = tuple(range(len(xs)))

    def inner(*ys: Matrix) -> Matrix:
        grads = forward.grad(func, argnums=argnums)(*ys)
        total = (grads[0] * vs[0]).sum()
        for g, d in zip(grads[1:], vs[1:]):
            total = total + (g * d).sum()
        return total
    with set_grad_enabled(create_graph):
        products = forward.grad(inner, argnums=argnums)(*xs)
    with no_grad():
        out = func(*xs)
    return _done(out, False), _done(_shaped(products, several), create_graph)


def vhp(func: Callable[..., Matrix], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> Tuple[Matrix, Any]:
    """(func(*inputs), v^T H): equal to hvp for a twice continuously differentiable func."""
    return hvp(func, inputs, v, create_graph, strict)


__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]
