"""`python -m pyautograd`: a tour of the lecture's examples, computed by pyautograd."""
from __future__ import annotations

import numpy as np

import pyautograd as ag


def main() -> None:
    print(f"pyautograd {ag.__version__}, backend {ag.get_backend()!r}\n")
    a = ag.mat(0.0)
    for _ in range(60):
        loss = 4 * (a - 2) ** 2 - 3
        a.zero_grad()
        loss.backward()
        with ag.no_grad():
            a.data -= 0.1 * a.grad
    print(f"minimise f(a) = 4(a-2)^2 - 3 by gradient descent: a = {a.item()}, "
          f"f(a) = {(4 * (a - 2) ** 2 - 3).item()}")
    ma, mb = ag.mat(2.0), ag.mat(3.0)
    (ma ** 3 * mb ** 2).backward()
    print(f"f(a,b) = a^3 b^2 at (2, 3): df/da = {ma.grad.item()} (3a^2b^2 = 108), "
          f"df/db = {mb.grad.item()} (2a^3b = 48)")
    rng = np.random.default_rng(0)
    X = ag.mat(rng.standard_normal((8, 3)), requires_grad=False)
    Y = ag.mat((rng.random((8, 1)) > 0.5).astype(float), requires_grad=False)
    W, b = ag.mat(rng.standard_normal((1, 3))), ag.mat(0.0)
    A = (X @ W.T + b).sigmoid()
    L = (0.5 * (A - Y) ** 2).mean()
    L.backward()
    with ag.no_grad():
        dZ = (A - Y) / 8 * A * (1 - A)
        manual = (dZ.T @ X).numpy()
    print(f"one-layer network: L = {L.item():.6f}, |autograd dL/dW - hand-derived chain| = "
          f"{np.abs(W.grad.numpy() - manual).max():.1e}")


if __name__ == "__main__":
    main()
