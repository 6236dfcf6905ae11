"""examples/from_pytorch/ (issue 22): PyTorch scripts ported name for name run, and give what
PyTorch gives."""
import math

import numpy as np
import pytest

import pyautograd as ag
from conftest import load_example


def test_polynomial_fit_follows_pytorch_step_for_step(backend_name):
    torch = pytest.importorskip("torch")
    losses = load_example("from_pytorch/polynomial_fit").fit(steps=60, seed=3)
    ag.manual_seed(3)  # the same four starting coefficients, handed to PyTorch
    start = [ag.randn(1).item() for _ in range(4)]
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float64)
    y = torch.sin(x)
    a, b, c, d = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start)
    expected = []
    for _ in range(60):
        loss = (a + b * x + c * x.pow(2) + d * x.pow(3) - y).pow(2).sum()
        expected.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
    np.testing.assert_allclose(losses, expected, rtol=1e-10)
    assert losses[-1] < losses[0] / 10


def test_classifier_evaluation_counts_what_pytorch_counts(backend_name):
    port = load_example("from_pytorch/classifier_accuracy")
    assert port.train_and_evaluate(epochs=10) > 0.9
    outputs = ag.mat([[0.1, 2.0, 0.3], [1.0, 0.0, 0.5], [0.2, 0.1, 0.3]])
    _, predicted = outputs.max(1)
    assert (predicted == [1, 0, 1]).sum().item() == 2.0  # not the maxima, not a 3 x 3 table
