"""gradcheck: compare backward() with central finite differences, input by input."""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .grad_mode import no_grad
from .matrix import Matrix


class GradcheckError(AssertionError):
    """A backward gradient disagrees with its finite-difference estimate."""


def gradcheck(fn: Callable[..., Matrix], inputs: Sequence[Matrix], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check d fn(*inputs) / d input for every input that requires a gradient.

    fn must return a 1x1 Matrix. Each value of each input is nudged by ±eps and the central
    difference (f(x+eps) - f(x-eps)) / 2eps is compared with the gradient from backward():
    |analytic - numeric| <= atol + rtol * |numeric|. Returns True, or raises GradcheckError
    naming the input, the index and both values.

    Inputs should be float64: in float32 a nudge of eps = 1e-6 is below the resolution of most
    values and the differences are rounding noise, so a float32 input gets a UserWarning (as
    PyTorch's gradcheck warns for anything but double precision)."""
    inputs = list(inputs)
    for n, x in enumerate(inputs):
        if x.requires_grad and x.dtype != np.float64:
            warnings.warn(f"gradcheck: input {n} is {x.dtype}; central differences in {x.dtype} "
                          f"are unreliable (eps={eps} is near or below its resolution), so this "
                          "check may fail or pass by chance. Check in float64: pass x.double()",
                          UserWarning, stacklevel=2)
    for x in inputs:
        x.zero_grad()
    out = fn(*inputs)
    if out.shape != (1, 1):
        raise ValueError(f"gradcheck: fn must return a 1x1 matrix, it returned {out.shape}")
    out.backward()
    for n, x in enumerate(inputs):
        if not x.requires_grad:
            continue
        analytic = x.grad.numpy().copy()
        values = x.data.numpy().copy()
        cls = type(x.data)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                numeric = _central_difference(fn, inputs, n, values, i, j, eps, cls)
                got = float(analytic[i, j])
                if not abs(got - numeric) <= atol + rtol * abs(numeric):
                    raise GradcheckError(f"gradcheck: input {n} (shape {values.shape}), index "
                                         f"({i}, {j}): backward gave {got!r}, central "
                                         f"differences {numeric!r}")
    return True


@no_grad()
def _central_difference(fn, inputs, n, values, i, j, eps, cls) -> float:
    original = inputs[n].data
    try:
        plus = values.copy()
        plus[i, j] += eps
        inputs[n].data = cls.from_array(plus)
        f_plus = fn(*inputs).item()
        minus = values.copy()
        minus[i, j] -= eps
        inputs[n].data = cls.from_array(minus)
        f_minus = fn(*inputs).item()
    finally:
        inputs[n].data = original
    return (f_plus - f_minus) / (2.0 * eps)
