"""PyTorch's autograd API over pyautograd's graph: `grad` as `torch.autograd.grad`, `backward`
as `torch.autograd.backward`, `functional` (jacobian, hessian, hvp, vhp, vjp, jvp), and
differentiable ops of your own: `Function`, `custom_vjp`, `custom_jvp`.

    >>> import pyautograd as ag
    >>> x = ag.mat([[2.0]])
    >>> (dy,) = ag.autograd.grad(x ** 3, x, create_graph=True)   # 3x^2, recorded
    >>> ag.autograd.grad(dy, x)[0].item()                         # 6x
    12.0
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

from ..backward import gradients, release, topological_order
from ..matrix import Matrix
from . import functional
from .custom import custom_jvp, custom_vjp
from .function import Function, FunctionCtx

Matrices = Union[Matrix, Sequence[Matrix]]


def _sequence(name: str, what: str, values: Any) -> Tuple[Any, ...]:
    items = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    for i, m in enumerate(items):
        if not isinstance(m, Matrix):
            raise TypeError(f"{name}: {what} {i} must be a Matrix, got {type(m).__name__}")
    return items


def _seeds(name: str, outputs: Tuple[Matrix, ...], grad_outputs: Any) -> Tuple[Matrix, ...]:
    """One seed per output: the given matrix (or values, converted to the output's backend and
    dtype), or ones for a 1x1 output (an implicit seed exists only for those, as in PyTorch)."""
    given = (None,) * len(outputs) if grad_outputs is None else (
        tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,))
    if len(given) != len(outputs):
        raise ValueError(f"{name}: {len(outputs)} outputs but {len(given)} grad_outputs")
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, given)):
        cls = type(out.data)
        if g is None:
            if out.shape != (1, 1):
                raise RuntimeError(f"{name}: output {k} has shape {out.shape}; a gradient can be "
                                   "implicitly created only for a 1x1 output, pass grad_outputs")
            g = Matrix(cls.full(1, 1, 1.0), requires_grad=False)
        elif not isinstance(g, Matrix):
            g = Matrix(cls.from_values(g, name), requires_grad=False)
        if g.shape != out.shape:
            raise ValueError(f"{name}: grad_outputs {k} has shape {g.shape}, its output {out.shape}")
        seeds.append(g)
    return tuple(seeds)


def grad(outputs: Matrices, inputs: Matrices, grad_outputs: Any = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: bool = False, *,
         materialize_grads: bool = False) -> Tuple[Optional[Matrix], ...]:
    """The gradients of sum_k <grad_outputs[k], outputs[k]> with respect to each input, as a
    tuple of matrices (torch.autograd.grad); no `.grad` is touched. With create_graph=True the
    gradients are recorded and can be differentiated again. An input that no output depends on
    is an error unless allow_unused=True (then its gradient is None) or materialize_grads=True
    (then zeros). The graph is released afterwards unless retain_graph (which defaults to
    create_graph)."""
    outputs = _sequence("autograd.grad", "output", outputs)
    inputs = _sequence("autograd.grad", "input", inputs)
    for k, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"autograd.grad: output {k} (shape {out.shape}) does not require a "
                               "gradient: none of the matrices it was computed from requires one")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} (shape {x.shape}) does not require a "
                               "gradient, so nothing can be differentiated with respect to it")
    seeds = _seeds("autograd.grad", outputs, grad_outputs)
    found = gradients(outputs, inputs, seeds, create_graph=create_graph)
    for i, (g, x) in enumerate(zip(found, inputs)):
        if g is None and not (allow_unused or materialize_grads):
            raise RuntimeError(f"autograd.grad: input {i} (shape {x.shape}) was not used to "
                               "compute the outputs; pass allow_unused=True to get None for it")
    if not (create_graph if retain_graph is None else retain_graph):
        release([n for out in outputs if out._rule is not None for n in topological_order(out)])
    if materialize_grads:
        found = tuple(Matrix(type(x.data).zeros(*x.shape), requires_grad=False) if g is None else g
                      for g, x in zip(found, inputs))
    return tuple(found)


def backward(tensors: Matrices, grad_tensors: Any = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False) -> None:
    """Add the gradients of sum_k <grad_tensors[k], tensors[k]> into every leaf's `.grad`
    (torch.autograd.backward). create_graph=True is refused as Matrix.backward refuses it."""
    outputs = _sequence("autograd.backward", "tensor", tensors)
    seeds = _seeds("autograd.backward", outputs, grad_tensors)
    for k, (out, seed) in enumerate(zip(outputs, seeds)):
        last = k == len(outputs) - 1
        out.backward(seed, retain_graph=True if not last else retain_graph,
                     create_graph=create_graph)


__all__ = ["grad", "backward", "functional", "Function", "FunctionCtx", "custom_vjp", "custom_jvp"]
