"""The lecture's partial-derivative examples, autograd next to the symbolic answer.

f(a, b, c, d) = b (a - c)^2 - d:  df/da = 2b(a - c), df/db = (a - c)^2, df/dc = -2b(a - c), df/dd = -1
f(a, b) = a^3 b^2:                df/da = 3a^2 b^2,  df/db = 2a^3 b
"""
import pyautograd as ag


def four_partials(a: float = 3.0, b: float = 2.0, c: float = 1.0, d: float = 5.0):
    """(autograd partials, symbolic partials) of b(a - c)^2 - d, in the order a, b, c, d."""
    ma, mb, mc, md = (ag.mat(v) for v in (a, b, c, d))
    f = mb * (ma - mc) ** 2 - md
    f.backward()
    autograd = tuple(m.grad.item() for m in (ma, mb, mc, md))
    symbolic = (2 * b * (a - c), (a - c) ** 2, -2 * b * (a - c), -1.0)
    return autograd, symbolic


def cube_times_square(a: float = 2.0, b: float = 3.0):
    """(autograd, symbolic) partials of a^3 b^2 with respect to a and b."""
    ma, mb = ag.mat(a), ag.mat(b)
    f = ma ** 3 * mb ** 2
    f.backward()
    return (ma.grad.item(), mb.grad.item()), (3 * a ** 2 * b ** 2, 2 * a ** 3 * b)


def main() -> None:
    auto, sym = four_partials()
    print(f"f(a,b,c,d) = b(a-c)^2 - d at (3, 2, 1, 5): autograd {auto}, symbolic {sym}")
    auto, sym = cube_times_square()
    print(f"f(a,b) = a^3 b^2 at (2, 3): autograd {auto}, symbolic {sym}")


if __name__ == "__main__":
    main()
