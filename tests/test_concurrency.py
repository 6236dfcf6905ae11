"""Several threads backpropagating into one shared leaf lose no gradient, as in PyTorch."""
import numpy as np

import pyautograd as ag

from conftest import in_threads


def test_threads_backpropagating_into_one_leaf_add_every_gradient(backend_name):
    rng = np.random.default_rng(0)
    w = ag.mat(rng.standard_normal((64, 32)))
    x = ag.mat(rng.standard_normal((32, 8)), requires_grad=False)
    (w @ x).sigmoid().mean().backward()
    one = w.grad.numpy().copy()
    w.zero_grad()

    def work(_):
        with ag.backend(backend_name):  # the backend choice is per thread
            for _ in range(50):
                (w @ x).sigmoid().mean().backward()
    in_threads(work, range(4))
    np.testing.assert_allclose(w.grad.numpy(), 200 * one, rtol=1e-12)
