"""A PyTorch-style script with type annotations: CI runs mypy on it (tests/test_typing.py), so
the names a port reaches for stay visible to type checkers with the types they have.

    python examples/typed_port.py
"""
from __future__ import annotations

import numpy as np

import pyautograd as ag
from pyautograd import Matrix
from pyautograd.backends.base import Storage


def accuracy(logits: Matrix, labels: list[int]) -> float:
    """The share of rows whose largest logit is at the label's position."""
    _, predicted = logits.max(1)  # PyTorch's (values, indices) pair
    pair: ag.ValuesIndices = logits.max(dim=1)
    assert pair.indices.shape == predicted.shape
    return (predicted == labels).float().mean().item()


def main() -> None:
    ag.manual_seed(0)
    x: Matrix = ag.tensor(np.random.default_rng(0).standard_normal((32, 2)))
    labels = [int(a > b) for a, b in x.tolist()]
    w: Matrix = ag.zeros((2, 2)).requires_grad_()
    b: Matrix = ag.zeros(2)
    for _ in range(100):
        logits = x @ w + b
        loss = -(logits.log_softmax(1).gather(1, [[y] for y in labels])).mean()
        w.zero_grad()
        b.zero_grad()
        loss.backward()
        grad: Storage = w.grad
        size: float = grad.norm().item() + abs(grad).max().item()
        assert size >= 0.0
        with ag.no_grad():
            w -= 0.5 * w.grad
            b -= 0.5 * b.grad
    largest: Matrix = w.max()
    column: Matrix = w.max(axis=0)
    spread: Matrix = x.std(0) + x.var(dim=1, keepdim=True).mean() + x.norm()
    angles: Matrix = ag.sin(ag.linspace(0.0, 3.0, 4)) + ag.arange(4).cos()
    kept: Matrix = x[x > 0]
    print(f"accuracy {accuracy(x @ w + b, labels):.2f}", largest.shape, column.shape,
          spread.shape, angles.shape, kept.shape[0])


if __name__ == "__main__":
    main()
