"""A WGAN-GP critic step: the gradient penalty lambda (|grad_x D(x_hat)| - 1)^2 is a function of
a gradient, so training the critic differentiates through it (Gulrajani et al., 2017).
"""
from typing import Dict, List, Tuple

import numpy as np

import pyautograd as ag


def problem(batch: int = 8, dim: int = 3, hidden: int = 6, seed: int = 1) -> Tuple[Dict, Dict]:
    """(critic weights, data: real and fake samples and the mixing weights), as NumPy arrays."""
    rng = np.random.default_rng(seed)
    weights = {"W1": rng.normal(0, 0.6, (dim, hidden)), "b1": rng.normal(0, 0.1, (1, hidden)),
               "W2": rng.normal(0, 0.6, (hidden, 1)), "b2": np.zeros((1, 1))}
    data = {"real": rng.normal(1.0, 0.5, (batch, dim)), "fake": rng.normal(-1.0, 0.8, (batch, dim)),
            "eps": rng.uniform(0, 1, (batch, 1))}
    return weights, data


def critic(p: Dict[str, ag.Matrix], x: ag.Matrix) -> ag.Matrix:
    return (x @ p["W1"] + p["b1"]).tanh() @ p["W2"] + p["b2"]


def critic_loss(p: Dict[str, ag.Matrix], real: ag.Matrix, fake: ag.Matrix, eps: ag.Matrix,
                lam: float = 10.0) -> ag.Matrix:
    """E[D(fake)] - E[D(real)] + lam E[(|grad D(x_hat)| - 1)^2] at x_hat between real and fake."""
    x_hat = ag.mat(eps * real + (1.0 - eps) * fake)    # torch: (...).requires_grad_(True)
    (g,) = ag.autograd.grad(critic(p, x_hat).sum(), x_hat, create_graph=True)
    penalty = (((g * g).sum(axis=1) + 1e-12).sqrt() - 1.0) ** 2
    return critic(p, fake).mean() - critic(p, real).mean() + lam * penalty.mean()


def train(weights: Dict, data: Dict, steps: int = 10, lr: float = 0.01) -> List[float]:
    """The critic loss before each of `steps` SGD steps."""
    p = {k: ag.mat(v) for k, v in weights.items()}
    real, fake, eps = (ag.mat(data[k], requires_grad=False) for k in ("real", "fake", "eps"))
    opt = ag.optim.SGD(list(p.values()), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = critic_loss(p, real, fake, eps)
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def main() -> None:
    losses = train(*problem(), steps=50)
    print(f"WGAN-GP critic: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps")


if __name__ == "__main__":
    main()
