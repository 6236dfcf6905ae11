"""Your own differentiable op, in JAX's shape: `ag.custom_vjp` and `ag.custom_jvp`.

    f = ag.custom_vjp(fun)          g = ag.custom_jvp(fun)
    f.defvjp(fwd, bwd)              g.defjvp(jvp)

`fwd(*args) -> (out, residuals)`, `bwd(residuals, g) -> one cotangent per argument`;
`jvp(primals, tangents) -> (out, tangent_out)`. Both become a `Function` (one row of the rule
table). A custom_jvp function is differentiable in reverse mode too: its jvp is linear in the
tangents, and the library's reverse mode transposes it (as JAX does). A custom_vjp function has
no forward rule: forward mode raises NotImplementedError naming it, as in JAX.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional, Sequence, Tuple

from ..backward import gradients
from ..grad_mode import enable_grad, is_grad_enabled
from ..matrix import Matrix
from .function import Function, FunctionCtx

__all__ = ["custom_vjp", "custom_jvp"]


def _leaves(tree: Any, found: List[Matrix]) -> None:
    if isinstance(tree, Matrix):
        found.append(tree)
    elif isinstance(tree, (tuple, list)):
        for t in tree:
            _leaves(t, found)
    elif isinstance(tree, dict):
        for t in tree.values():
            _leaves(t, found)


def _rebuild(tree: Any, leaves: List[Matrix]) -> Any:
    if isinstance(tree, Matrix):
        return leaves.pop(0)
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(t, leaves) for t in tree)
    if isinstance(tree, dict):
        return {k: _rebuild(v, leaves) for k, v in tree.items()}
    return tree


def _differentiating(args: Tuple[Any, ...]) -> bool:
    return any(isinstance(a, Matrix) and ((a.requires_grad and is_grad_enabled())
                                          or getattr(a, "_tangent", None) is not None)
               for a in args)


def _split(args: Sequence[Any], nondiff: Tuple[int, ...]) -> Tuple[List[Any], List[Any]]:
    """(the arguments at nondiff_argnums, the others), each in order."""
    return ([args[i] for i in nondiff],
            [a for i, a in enumerate(args) if i not in nondiff])


class custom_vjp:
    """A function with a hand-written reverse rule (JAX's jax.custom_vjp). The arguments at
    `nondiff_argnums` come first to bwd, which returns cotangents for the others only."""

    def __init__(self, fun: Callable[..., Matrix], nondiff_argnums: Sequence[int] = ()) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.name = getattr(fun, "__name__", "custom_vjp")
        self.fwd: Optional[Callable[..., Any]] = None
        self.bwd: Optional[Callable[..., Any]] = None
        self._function: Optional[type] = None

    def defvjp(self, fwd: Callable[..., Tuple[Matrix, Any]],
               bwd: Callable[[Any, Matrix], Tuple[Any, ...]]) -> None:
        """fwd(*args) -> (out, residuals); bwd(residuals, g) -> one cotangent per argument."""
        self.fwd, self.bwd = fwd, bwd
        name, nondiff = self.name, self.nondiff_argnums

        def forward(ctx: FunctionCtx, *args: Any) -> Matrix:
            result = fwd(*args)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"custom_vjp {name}: fwd must return a pair (output, "
                                f"residuals), got {type(result).__name__}")
            out, residuals = result
            leaves: List[Matrix] = []
            _leaves(residuals, leaves)
            ctx.residuals = residuals
            ctx.nondiff, ctx.count = _split(args, nondiff)[0], len(args)
            ctx.save_for_backward(*leaves)
            return out

        def backward(ctx: FunctionCtx, g: Matrix) -> Tuple[Any, ...]:
            residuals = _rebuild(ctx.residuals, list(ctx.saved_tensors))
            cts = bwd(*ctx.nondiff, residuals, g)
            if not isinstance(cts, (tuple, list)):
                raise TypeError(f"custom_vjp {name}: bwd must return a tuple with one "
                                f"cotangent per argument, got {type(cts).__name__}")
            if not nondiff:
                return tuple(cts)
            if len(cts) != ctx.count - len(nondiff):
                raise ValueError(f"custom_vjp {name}: bwd returned {len(cts)} cotangents, "
                                 f"expected {ctx.count - len(nondiff)} (one per argument not "
                                 f"in nondiff_argnums {nondiff})")
            rest = iter(cts)
            return tuple(None if i in nondiff else next(rest) for i in range(ctx.count))

        self._function = type(name, (Function,), {
            "forward": staticmethod(forward), "backward": staticmethod(backward),
            "formula": f"{name}: a custom_vjp (dL/dA from its bwd)", "__doc__": self.__doc__})

    def __call__(self, *args: Any) -> Matrix:
        if self._function is None:
            raise TypeError(f"custom_vjp {self.name}: call defvjp(fwd, bwd) before calling it")
        if not _differentiating(args):
            return self.fun(*args)
        return self._function.apply(*args)


class custom_jvp:
    """A function with a hand-written forward rule (JAX's jax.custom_jvp); reverse mode
    transposes that rule. The arguments at `nondiff_argnums` come first to the rule, and
    are left out of its primals and tangents."""

    def __init__(self, fun: Callable[..., Matrix], nondiff_argnums: Sequence[int] = ()) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.name = getattr(fun, "__name__", "custom_jvp")
        self.rule: Optional[Callable[..., Any]] = None
        self._function: Optional[type] = None

    def defjvp(self, jvp: Callable[[Tuple[Any, ...], Tuple[Any, ...]], Tuple[Matrix, Matrix]]
               ) -> Callable[..., Any]:
        """jvp(primals, tangents) -> (out, tangent_out), linear in tangents."""
        self.rule = jvp
        name, fun, nondiff = self.name, self.fun, self.nondiff_argnums

        def primals_of(ctx: FunctionCtx) -> List[Any]:
            full = list(ctx.args)
            for i, m in zip(ctx.positions, ctx.saved_tensors):
                full[i] = m
            return full

        def tangent_out(primals: List[Any], tangents: List[Any]) -> Matrix:
            fixed, diff = _split(primals, nondiff)
            result = jvp(*fixed, tuple(diff), tuple(_split(tangents, nondiff)[1]))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"custom_jvp {name}: the jvp rule must return a pair (output, "
                                f"tangent), got {type(result).__name__}")
            return result[1]

        def forward(ctx: FunctionCtx, *args: Any) -> Matrix:
            ctx.args = args
            ctx.positions = [i for i, a in enumerate(args) if isinstance(a, Matrix)]
            ctx.save_for_backward(*(args[i] for i in ctx.positions))
            return fun(*args)

        def forward_rule(ctx: FunctionCtx, *tangents: Optional[Matrix]) -> Matrix:
            return tangent_out(primals_of(ctx), list(tangents))

        def backward(ctx: FunctionCtx, g: Matrix) -> Tuple[Any, ...]:
            # the jvp is linear in the tangents: its transpose at g is the gradient of
            # <g, tangent_out> with respect to them, by the library's own reverse mode
            primals = primals_of(ctx)
            leaves = [Matrix(type(primals[i].data).zeros(*primals[i].shape), requires_grad=True)
                      for i in ctx.positions]
            tangents: List[Any] = [None] * len(primals)
            for i, t in zip(ctx.positions, leaves):
                tangents[i] = t
            graph = is_grad_enabled()
            with enable_grad():
                t_out = tangent_out(primals, tangents)
            if not isinstance(t_out, Matrix) or t_out.shape != g.shape:
                got = t_out.shape if isinstance(t_out, Matrix) else type(t_out).__name__
                raise ValueError(f"custom_jvp {name}: the jvp rule's tangent must be a Matrix "
                                 f"of the output's shape {g.shape}, got {got}")
            if not t_out.requires_grad:
                return (None,) * len(primals)
            found = gradients([t_out], leaves, seeds=[g], create_graph=graph)
            grads: List[Any] = [None] * len(primals)
            for i, gi in zip(ctx.positions, found):
                grads[i] = gi
            return tuple(grads)

        self._function = type(name, (Function,), {
            "forward": staticmethod(forward), "backward": staticmethod(backward),
            "jvp": staticmethod(forward_rule),
            "formula": f"{name}: a custom_jvp (dL/dA by transposing its jvp rule)",
            "__doc__": self.__doc__})
        return jvp

    def __call__(self, *args: Any) -> Matrix:
        if self._function is None:
            raise TypeError(f"custom_jvp {self.name}: call defjvp(jvp) before calling it")
        if not _differentiating(args):
            return self.fun(*args)
        return self._function.apply(*args)
