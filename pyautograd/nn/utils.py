"""Gradient clipping, as torch.nn.utils: clip_grad_norm_ and clip_grad_value_.

Both read and write the gradients with kernels only (no value comes back to Python), so they
work inside ag.compile; parameters without a gradient since zero_grad() are skipped."""
from __future__ import annotations

import math
from typing import Any, Iterable, List, Union

from ..backends.base import Storage
from ..grad_mode import no_grad
from ..matrix import Matrix

Parameters = Union[Matrix, Iterable[Matrix]]


def _with_grads(op: str, parameters: Parameters) -> List[Matrix]:
    params = [parameters] if isinstance(parameters, Matrix) else list(parameters)
    for p in params:
        if not isinstance(p, Matrix):
            raise TypeError(f"{op}: parameters must be matrices, got {type(p).__name__}")
    return [p for p in params if p.has_grad]


def _number(op: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Matrix:
    """Scale every gradient by min(1, max_norm / (total + 1e-6)), where total is the norm of all
    gradients taken together (norm_type p > 0, or inf for the largest |g|). Returns the total
    norm before clipping as a 1x1 matrix (PyTorch returns a 0-d tensor); 0 when no parameter
    has a gradient. error_if_nonfinite=True raises RuntimeError for a NaN or infinite total
    (that reads the value: not inside ag.compile)."""
    op = "clip_grad_norm_"
    max_norm = _number(op, "max_norm", max_norm)
    p_norm = _number(op, "norm_type", norm_type)
    if not p_norm > 0.0:
        raise ValueError(f"{op}: norm_type must be positive or inf, got {norm_type!r}")
    params = _with_grads(op, parameters)
    if not params:
        from .. import factories
        return factories.zeros(1, 1, requires_grad=False)
    with no_grad():
        grads: List[Storage] = [p.grad for p in params]
        if p_norm == math.inf:
            total = grads[0].abs().max()
            for g in grads[1:]:
                total = total.maximum(g.abs().max())
        else:
            parts = [(g.abs() ** p_norm).sum() for g in grads] if p_norm != 2.0 \
                else [(g * g).sum() for g in grads]
            total = parts[0]
            for part in parts[1:]:
                total = total + part
            total = total ** (1.0 / p_norm)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"{op}: the total norm of order {norm_type} of the gradients is "
                               f"{total.item()}, non-finite, so it cannot be clipped; set "
                               "error_if_nonfinite=False to clip anyway")
        coef = (max_norm / (total + 1e-6)).minimum(1.0)
        for p in params:
            g = p.grad
            g *= coef
    return Matrix(total, requires_grad=False)


def clip_grad_value_(parameters: Parameters, clip_value: float) -> None:
    """Clamp every gradient, in place, to [-clip_value, clip_value]."""
    op = "clip_grad_value_"
    clip = _number(op, "clip_value", clip_value)
    if clip < 0:
        raise ValueError(f"{op}: clip_value must be >= 0, got {clip_value!r}")
    with no_grad():
        for p in _with_grads(op, parameters):
            g = p.grad
            g._inplace_scalar("minimum", clip)  # NaN stays NaN, as torch.clamp
            g._inplace_scalar("maximum", -clip)
            g._bump()
