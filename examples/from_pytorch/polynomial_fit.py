"""Port of a PyTorch warm-up: fit y = sin(x) on [-pi, pi] with a cubic a + b x + c x^2 + d x^3
by gradient descent, written with the tensor names a PyTorch user types (ag.linspace, ag.sin,
pow, ag.randn of a shape, requires_grad_, .grad, no_grad, zero_). Only the import line and
`torch.` -> `ag.` changed, plus `.sum()` returning a 1x1 matrix where PyTorch has a 0-d tensor.

    python examples/from_pytorch/polynomial_fit.py
"""
from __future__ import annotations

import math
from typing import List

import pyautograd as ag


def fit(steps: int = 2000, lr: float = 1e-6, seed: int = 0) -> List[float]:
    """The losses of `steps` gradient-descent steps; the coefficients start at randn(1) each."""
    ag.manual_seed(seed)
    x = ag.linspace(-math.pi, math.pi, 2000)
    y = ag.sin(x)
    a, b, c, d = (ag.randn(1, requires_grad=False).requires_grad_() for _ in range(4))
    losses = []
    for _ in range(steps):
        y_pred = a + b * x + c * x.pow(2) + d * x.pow(3)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with ag.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.zero_grad()
    return losses


if __name__ == "__main__":
    history = fit()
    print(f"loss {history[0]:.1f} -> {history[-1]:.3f}")
