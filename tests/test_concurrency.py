"""Several threads backpropagating into one shared leaf lose no gradient, as in PyTorch."""
import threading

import numpy as np

import pyautograd as ag


def test_threads_backpropagating_into_one_leaf_add_every_gradient(backend_name):
    rng = np.random.default_rng(0)
    w = ag.mat(rng.standard_normal((64, 32)))
    x = ag.mat(rng.standard_normal((32, 8)), requires_grad=False)
    (w @ x).sigmoid().mean().backward()
    one = w.grad.numpy().copy()
    w.zero_grad()

    def work():
        with ag.backend(backend_name):  # the backend choice is per thread
            for _ in range(50):
                (w @ x).sigmoid().mean().backward()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(w.grad.numpy(), 200 * one, rtol=1e-12)
