"""The lecture's networks again, written with the nn API (Linear, Sequential, losses, SGD), next
to the manual versions of one_layer_network.py and two_layer_network.py: same start, same data,
same numbers."""
import os
import sys

import numpy as np

import pyautograd as ag
from pyautograd import nn, optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import one_layer_network as one  # noqa: E402
import two_layer_network as two  # noqa: E402


def _set(layer: nn.Linear, weight, bias) -> None:
    layer.weight.data = type(layer.weight.data).from_array(np.asarray(weight))
    layer.bias.data = type(layer.bias.data).from_array(np.asarray(bias))


def one_layer_with_nn(seed: int = 0):
    """dL/dW and dL/db of L = 1/2 MSE(sigmoid(XW^T + b), Y) through nn.Linear and nn.MSELoss."""
    X, Y, W, b = one.make_problem(seed=seed)
    layer = nn.Linear(X.shape[1], 1)
    _set(layer, W.numpy(), b.numpy())
    model = nn.Sequential(layer, nn.Sigmoid())
    loss = 0.5 * nn.MSELoss()(model(X), Y)
    loss.backward()
    return layer.weight.grad.numpy().copy(), layer.bias.grad.numpy().copy()


def two_layer_with_nn(steps: int = 200, learning_rate: float = 0.5, seed: int = 0):
    """Train the two-layer BCE network with nn.Sequential, nn.BCELoss and optim.SGD."""
    X_np, Y_np, (W1, b1, W2, b2) = two.make_problem(seed=seed)
    X = ag.mat(X_np, requires_grad=False)
    Y = ag.mat(Y_np, requires_grad=False)
    hidden, output = nn.Linear(W1.shape[1], W1.shape[0]), nn.Linear(W2.shape[1], 1)
    _set(hidden, W1, b1)
    _set(output, W2, b2)
    model = nn.Sequential(hidden, nn.Sigmoid(), output, nn.Sigmoid())
    loss_fn = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(X), Y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [p.numpy().copy() for p in model.parameters()], losses


def main() -> None:
    dW, db = one_layer_with_nn()
    mW, mb = one.manual_gradients(*one.make_problem())
    print(f"one layer, nn API vs hand-derived chain: largest gradient difference "
          f"{max(abs(dW - mW).max(), abs(db - mb).max()):.1e}")
    params, losses = two_layer_with_nn()
    manual, _ = two.train(manual=True)
    print(f"two layers, nn API + SGD vs the slides' manual gradients, {len(losses)} steps: loss "
          f"{losses[0]:.4f} -> {losses[-1]:.4f}, largest parameter difference "
          f"{max(abs(a - m).max() for a, m in zip(params, manual)):.1e}")


if __name__ == "__main__":
    main()
