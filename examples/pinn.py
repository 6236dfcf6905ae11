"""A physics-informed network: u'' = -u on [0, pi] with u(0) = 0 and u'(0) = 1 (so u = sin).

The network's second derivative in its input is a derivative of a derivative, and the loss
trains the weights through it: ag.grad's result stays connected to the weights it closes over.
The PyTorch spelling of each line is in the comment beside it.
"""
from typing import Dict, List

import numpy as np

import pyautograd as ag


def initial_weights(hidden: int = 8, seed: int = 0) -> Dict[str, np.ndarray]:
    """A 1 -> hidden -> hidden -> 1 tanh network's weights, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    shapes = {"W1": (1, hidden), "b1": (1, hidden), "W2": (hidden, hidden), "b2": (1, hidden),
              "W3": (hidden, 1), "b3": (1, 1)}
    return {k: rng.normal(0.0, 0.7, s) for k, s in shapes.items()}


def network(p: Dict[str, ag.Matrix], x: ag.Matrix) -> ag.Matrix:
    """u(x), one row per point."""
    h = (x @ p["W1"] + p["b1"]).tanh()
    h = (h @ p["W2"] + p["b2"]).tanh()
    return h @ p["W3"] + p["b3"]


def loss(p: Dict[str, ag.Matrix], x: ag.Matrix) -> ag.Matrix:
    """mean (u'' + u)^2 at the points, plus u(0)^2 and (u'(0) - 1)^2."""
    # torch: autograd.grad(u(z).sum(), z, create_graph=True), here a function of z
    du = lambda z: ag.grad(lambda v: network(p, v).sum())(z)  # noqa: E731
    d2u = ag.grad(lambda v: du(v).sum())(x)  # the same, once more
    zero = ag.zeros(1, 1, requires_grad=False)
    residual = ((d2u + network(p, x)) ** 2).mean()
    return residual + network(p, zero).sum() ** 2 + (du(zero).sum() - 1.0) ** 2


def train(weights: Dict[str, np.ndarray], steps: int = 20, lr: float = 0.01,
          points: int = 16) -> List[float]:
    """The loss before each of `steps` SGD steps from `weights`."""
    p = {k: ag.mat(v) for k, v in weights.items()}
    x = ag.mat(np.linspace(0.0, np.pi, points).reshape(-1, 1), requires_grad=False)
    opt = ag.optim.SGD(list(p.values()), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = loss(p, x)
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def main() -> None:
    losses = train(initial_weights(), steps=300, lr=0.01)
    print(f"PINN u'' = -u: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} SGD steps")


if __name__ == "__main__":
    main()
