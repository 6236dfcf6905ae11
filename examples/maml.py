"""Second-order MAML (Finn et al., 2017): one inner SGD step per task kept in the graph, and the
outer (query) loss differentiated with respect to the initial weights, through the inner step's
gradient: a derivative of a derivative.
"""
from typing import Dict, List, Tuple

import numpy as np

import pyautograd as ag


def problem(tasks: int = 3, shots: int = 5, hidden: int = 8, seed: int = 2) -> Tuple[Dict, List]:
    """(initial weights, tasks), each task (x_support, y_support, x_query, y_query) of sine waves
    of random amplitude and phase."""
    rng = np.random.default_rng(seed)
    weights = {"W1": rng.normal(0, 0.8, (1, hidden)), "b1": rng.normal(0, 0.3, (1, hidden)),
               "W2": rng.normal(0, 0.5, (hidden, 1)), "b2": np.zeros((1, 1))}
    data = []
    for _ in range(tasks):
        amplitude, phase = rng.uniform(0.5, 2.0), rng.uniform(0, np.pi)
        xs, xq = rng.uniform(-3, 3, (shots, 1)), rng.uniform(-3, 3, (shots, 1))
        data.append((xs, amplitude * np.sin(xs + phase), xq, amplitude * np.sin(xq + phase)))
    return weights, data


def model(p: Dict[str, ag.Matrix], x: ag.Matrix) -> ag.Matrix:
    return (x @ p["W1"] + p["b1"]).tanh() @ p["W2"] + p["b2"]


def mse(p: Dict[str, ag.Matrix], x: ag.Matrix, y: ag.Matrix) -> ag.Matrix:
    return ((model(p, x) - y) ** 2).mean()


def meta_loss(p: Dict[str, ag.Matrix], tasks: List, inner_lr: float = 0.1) -> ag.Matrix:
    """The sum over tasks of the query loss after one inner SGD step on the support set."""
    names = list(p)
    total = None
    for xs, ys, xq, yq in tasks:
        grads = ag.autograd.grad(mse(p, xs, ys), [p[k] for k in names], create_graph=True)
        adapted = {k: p[k] - inner_lr * g for k, g in zip(names, grads)}
        loss = mse(adapted, xq, yq)
        total = loss if total is None else total + loss
    return total


def train(weights: Dict, tasks: List, steps: int = 10, lr: float = 0.01) -> List[float]:
    """The meta-loss before each of `steps` outer SGD steps on the initial weights."""
    p = {k: ag.mat(v) for k, v in weights.items()}
    tasks = [tuple(ag.mat(a, requires_grad=False) for a in task) for task in tasks]
    opt = ag.optim.SGD(list(p.values()), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = meta_loss(p, tasks)
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def main() -> None:
    losses = train(*problem(), steps=50)
    print(f"MAML (second order): meta-loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps")


if __name__ == "__main__":
    main()
