"""The lecture's two-layer network with binary cross-entropy, trained twice: with the slides'
manual gradients and with bce_loss.backward(). Both must follow the same path.

The slides' code has slips, corrected here (the tests show each correction matters):
  * the loss lacks its minus sign: BCE = -mean(Y log A + (1 - Y) log(1 - A)); without it,
    gradient descent climbs the loss instead of descending it;
  * dL/dA2 is -(Y / A2 - (1 - Y) / (1 - A2)), not that bracket halved with the sign lost;
    multiplied by dA2/dZ2 = A2 (1 - A2) it gives the famous dZ2 = A2 - Y;
  * the update of b1 must use db1, not db2 (`b1 -= learning_rate * db2` would even broadcast
    silently, db2 being 1x1);
  * the topological sort in backward() is iterative, not recursive (a deep graph would exhaust
    Python's recursion limit).
"""
import numpy as np

import pyautograd as ag


def make_problem(n: int = 16, d: int = 2, h: int = 4, seed: int = 0):
    """X (n, d), labels Y (n, 1) and parameters W1 (h, d), b1 (1, h), W2 (1, h), b2 (1, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)  # the XOR pattern of the signs
    params = [rng.standard_normal((h, d)), rng.standard_normal((1, h)),
              rng.standard_normal((1, h)), rng.standard_normal((1, 1))]
    return X, Y, params


def forward(X, W1, b1, W2, b2):
    Z1 = X @ W1.T + b1
    A1 = Z1.sigmoid()
    Z2 = A1 @ W2.T + b2
    A2 = Z2.sigmoid()
    return A1, A2


def bce(A2, Y):
    """Binary cross-entropy, with the minus sign the slide forgot."""
    return -(Y * A2.log() + (1 - Y) * (1 - A2).log()).mean()


@ag.no_grad()
def manual_gradients(X, Y, W1, b1, W2, b2):
    """The slides' manual backward pass, corrected."""
    n = X.shape[0]
    A1, A2 = forward(X, W1, b1, W2, b2)
    dL_dA2 = -(Y / A2 - (1 - Y) / (1 - A2))
    dA2_dZ2 = A2 * (1 - A2)
    dZ2 = dL_dA2 * dA2_dZ2
    dW2 = (1 / n) * dZ2.T @ A1
    db2 = dZ2.mean(0)
    dZ1 = dZ2 @ W2 * (A1 * (1 - A1))
    dW1 = (1 / n) * dZ1.T @ X
    db1 = dZ1.mean(0)
    return dW1, db1, dW2, db2


def train(steps: int = 200, learning_rate: float = 0.5, manual: bool = False,
          slip: bool = False, seed: int = 0):
    """Train from the same start; returns the final parameters (NumPy) and the loss history.

    slip=True replays the slide's `b1 -= learning_rate * db2`."""
    X_np, Y_np, start = make_problem(seed=seed)
    X = ag.mat(X_np, requires_grad=False)
    Y = ag.mat(Y_np, requires_grad=False)
    W1, b1, W2, b2 = (ag.mat(p) for p in start)
    losses = []
    for _ in range(steps):
        if manual:
            with ag.no_grad():
                losses.append(bce(forward(X, W1, b1, W2, b2)[1], Y).item())
            dW1, db1, dW2, db2 = manual_gradients(X, Y, W1, b1, W2, b2)
        else:
            loss = bce(forward(X, W1, b1, W2, b2)[1], Y)
            losses.append(loss.item())
            for p in (W1, b1, W2, b2):
                p.zero_grad()
            loss.backward()
            dW1, db1, dW2, db2 = W1.grad, b1.grad, W2.grad, b2.grad
        with ag.no_grad():
            W1 -= learning_rate * dW1
            b1 -= learning_rate * (db2 if slip else db1)
            W2 -= learning_rate * dW2
            b2 -= learning_rate * db2
    return [p.numpy().copy() for p in (W1, b1, W2, b2)], losses


def main() -> None:
    auto, auto_losses = train()
    manual, manual_losses = train(manual=True)
    slipped, _ = train(manual=True, slip=True)
    diff = max(abs(a - m).max() for a, m in zip(auto, manual))
    print(f"two-layer network, BCE: loss {auto_losses[0]:.4f} -> {auto_losses[-1]:.4f} in "
          f"{len(auto_losses)} steps")
    print(f"  autograd vs corrected manual gradients: largest parameter difference {diff:.1e}")
    print(f"  with the slide's `b1 -= lr * db2`: b1 ends {abs(slipped[1] - auto[1]).max():.3f} away")


if __name__ == "__main__":
    main()
