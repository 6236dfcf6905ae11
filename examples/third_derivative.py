"""Third derivatives of a scalar function, by autograd.grad(create_graph=True) three times,
against the symbolic answer: f(x) = x^4 e^(x/2).
"""
import math
from typing import Tuple

import pyautograd as ag


def f(x: ag.Matrix) -> ag.Matrix:
    return x ** 4 * (x * 0.5).exp()


def derivatives(value: float) -> Tuple[float, float, float, float]:
    """(f, f', f'', f''') at value."""
    x = ag.mat([[value]])
    y = f(x)
    (d1,) = ag.autograd.grad(y, x, create_graph=True)
    (d2,) = ag.autograd.grad(d1, x, create_graph=True)
    (d3,) = ag.autograd.grad(d2, x)
    return y.item(), d1.item(), d2.item(), d3.item()


def symbolic(x: float) -> Tuple[float, float, float, float]:
    """The same by hand: with e = e^(x/2), f' = (4x^3 + x^4/2) e, f'' = (12x^2 + 4x^3 + x^4/4) e,
    f''' = (24x + 18x^2 + 3x^3 + x^4/8) e."""
    e = math.exp(x / 2)
    return (x ** 4 * e, (4 * x ** 3 + x ** 4 / 2) * e, (12 * x ** 2 + 4 * x ** 3 + x ** 4 / 4) * e,
            (24 * x + 18 * x ** 2 + 3 * x ** 3 + x ** 4 / 8) * e)


def main() -> None:
    for x in (0.5, -1.5, 2.0):
        ours, exact = derivatives(x), symbolic(x)
        print(f"x = {x}: f''' by autograd {ours[3]:.10f}, symbolic {exact[3]:.10f}")


if __name__ == "__main__":
    main()
