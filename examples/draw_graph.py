"""Draw the lecture's one-layer network as the slides do, with the gradients of one backward,
and trace that backward step by step. Writes docs/one_layer_network.svg (needs Graphviz)."""
import os
import sys

import pyautograd as ag
from pyautograd import viz


def one_layer_network():
    X = ag.mat([[0.5, -1.0], [1.5, 2.0], [-0.5, 0.25]], requires_grad=False)
    Y = ag.mat([[1.0], [0.0], [1.0]], requires_grad=False)
    W = ag.mat([[0.2, -0.4]])
    b = ag.mat(0.1)
    gamma = X @ W.T
    Z = gamma + b
    A = Z.sigmoid()
    rho = A - Y
    phi = rho ** 2
    L = (0.5 * phi).mean()
    return dict(X=X, Y=Y, W=W, b=b, gamma=gamma, Z=Z, A=A, rho=rho, phi=phi, L=L)


def main(path: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                                  "one_layer_network.svg")) -> None:
    names = one_layer_network()
    with ag.explain(names):
        names["L"].backward(retain_graph=True)  # keep the graph to draw it with its gradients
    try:
        print("wrote", viz.draw(names["L"], os.path.normpath(path), names))
    except RuntimeError as error:
        print(error, file=sys.stderr)
        print(viz.to_dot(names["L"], names))


if __name__ == "__main__":
    main()
