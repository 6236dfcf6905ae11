"""The lecture's one-layer network, MSE and sigmoid, differentiated twice: by L.backward() and by
the chain of local derivatives the slides draw node by node.

    Z = X W^T + b        dZ/dW: dL/dW = dL/dZ^T X,   dZ/db = 1: dL/db = sum of dL/dZ
    A = sigma(Z)         dA/dZ = A (1 - A)
    L = mean(1/2 (A - Y)^2)   dL/dA = (A - Y) / N
"""
import numpy as np

import pyautograd as ag


def make_problem(n: int = 8, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = ag.mat(rng.standard_normal((n, d)), requires_grad=False)
    Y = ag.mat((rng.random((n, 1)) > 0.5).astype(float), requires_grad=False)
    W = ag.mat(rng.standard_normal((1, d)))
    b = ag.mat(rng.standard_normal((1, 1)))
    return X, Y, W, b


def autograd_gradients(X, Y, W, b):
    Z = X @ W.T + b
    A = Z.sigmoid()
    L = (0.5 * (A - Y) ** 2).mean()
    W.zero_grad()
    b.zero_grad()
    L.backward()
    return L.item(), W.grad.numpy().copy(), b.grad.numpy().copy()


@ag.no_grad()
def manual_gradients(X, Y, W, b):
    n = X.shape[0]
    Z = X @ W.T + b
    A = Z.sigmoid()
    dL_dA = (A - Y) / n
    dA_dZ = A * (1 - A)
    dL_dZ = dL_dA * dA_dZ
    dL_dW = dL_dZ.T @ X
    dL_db = dL_dZ.sum()
    return dL_dW.numpy().copy(), dL_db.numpy().copy()


def main() -> None:
    X, Y, W, b = make_problem()
    loss, dW, db = autograd_gradients(X, Y, W, b)
    mW, mb = manual_gradients(X, Y, W, b)
    print(f"one-layer network: L = {loss:.6f}")
    print(f"  dL/dW autograd {np.round(dW, 6).tolist()}  manual {np.round(mW, 6).tolist()}")
    print(f"  dL/db autograd {db.item():.6f}  manual {mb.item():.6f}")
    print(f"  largest difference {max(abs(dW - mW).max(), abs(db - mb).max()):.1e}")


if __name__ == "__main__":
    main()
