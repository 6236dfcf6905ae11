"""The lecture's opening, made concrete: four ways to differentiate.

  symbolic   : exact, needs the formula (here written by hand);
  numerical  : finite differences, approximate: truncation error shrinks with the step h,
               rounding error grows as h shrinks, so there is a best h and it is not exact;
  forward AD : exact, one pass per input direction (pyautograd.jvp);
  reverse AD : exact, one pass per output (backward(), pyautograd.grad).

On f(a) = 4(a - 2)^2 - 3 and on the lecture's two-layer network, then the crossover: forward
mode wins for one input and many outputs, reverse mode for many inputs and one output."""
import time

import numpy as np

import pyautograd as ag


def timed(fn, repeat: int = 5):
    """(result, best seconds of `repeat` calls)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def f(a):
    return 4 * (a - 2) ** 2 - 3


def quadratic(a0: float = 3.0):
    """Every method's df/da at a0, with its error against the symbolic 8(a - 2)."""
    exact = 8 * (a0 - 2)
    rows = [("symbolic 8(a - 2)", exact)]
    for h in (1e-1, 1e-4, 1e-8, 1e-12):
        forward = (f(a0 + h) - f(a0)) / h
        central = (f(a0 + h) - f(a0 - h)) / (2 * h)
        rows.append((f"forward difference h={h:g}", forward))
        rows.append((f"central difference h={h:g}", central))
    _, t_fwd = ag.jvp(f, (ag.mat(a0),), (ag.mat(1.0),))
    rows.append(("forward mode (jvp)", t_fwd.item()))
    rows.append(("reverse mode (grad)", ag.grad(f)(ag.mat(a0)).item()))
    return [(name, value, abs(value - exact)) for name, value in rows]


def two_layer(n: int = 64, d: int = 8, h: int = 16, seed: int = 0):
    """dL/dW1 of the lecture's two-layer BCE network, four ways; returns rows of
    (method, passes, seconds, largest error against reverse mode)."""
    rng = np.random.default_rng(seed)
    X = ag.mat(rng.standard_normal((n, d)), requires_grad=False)
    Y = ag.mat((rng.random((n, 1)) > 0.5).astype(float), requires_grad=False)
    b1, W2, b2 = (ag.mat(rng.standard_normal(s) * 0.5, requires_grad=False) for s in ((1, h), (1, h), (1, 1)))
    W1 = ag.mat(rng.standard_normal((h, d)) * 0.5)

    def loss(w1):
        A2 = ((X @ w1.T + b1).sigmoid() @ W2.T + b2).sigmoid()
        return -(Y * A2.log() + (1 - Y) * (1 - A2).log()).mean()

    reverse, t_rev = timed(lambda: ag.grad(loss)(W1).numpy())

    def forward():
        out = np.zeros(W1.shape)
        for i, j in np.ndindex(*W1.shape):
            e = ag.zeros(*W1.shape, requires_grad=False)
            e[i, j] = 1.0                              # the direction of entry (i, j)
            out[i, j] = ag.jvp(loss, (W1,), (e,))[1].item()
        return out
    fwd, t_fwd = timed(forward, repeat=1)

    def numerical(step):
        w = ag.mat(W1, requires_grad=False)            # a copy, changed entry by entry
        out = np.zeros(w.shape)
        for i, j in np.ndindex(*w.shape):
            saved = float(w[i, j])
            w[i, j] = saved + step
            up = loss(w).item()
            w[i, j] = saved - step
            down = loss(w).item()
            w[i, j] = saved
            out[i, j] = (up - down) / (2 * step)
        return out
    num, t_num = timed(lambda: numerical(1e-5), repeat=1)
    entries = h * d
    return [("reverse mode (one backward)", 1, t_rev, 0.0),
            ("forward mode (one jvp per entry)", entries, t_fwd, float(np.abs(fwd - reverse).max())),
            ("central differences h=1e-5", 2 * entries, t_num, float(np.abs(num - reverse).max()))]


def crossover(m: int = 400):
    """Seconds for full Jacobians by each mode: one input to m outputs, m inputs to one output."""
    c = ag.mat(np.linspace(0.1, 2.0, m)[None, :], requires_grad=False)
    wide = lambda x: (x * c).tanh()  # noqa: E731
    narrow = lambda x: (x * c).tanh().sum()  # noqa: E731
    x1, xm = ag.mat(0.3), ag.mat(np.full((1, m), 0.3))
    rows = []
    for label, fn, x in (("1 input -> %d outputs" % m, wide, x1), ("%d inputs -> 1 output" % m, narrow, xm)):
        J_fwd, t_fwd = timed(lambda: ag.jacobian(fn, x, "fwd").numpy(), repeat=3)
        J_rev, t_rev = timed(lambda: ag.jacobian(fn, x, "rev").numpy(), repeat=3)
        rows.append((label, t_fwd, t_rev, float(np.abs(J_fwd - J_rev).max())))
    return rows


def main() -> None:
    print("f(a) = 4(a - 2)^2 - 3, df/da at a = 3 (exactly 8):")
    for name, value, error in quadratic():
        print(f"  {name:30s} {value!r:>24}  error {error:.1e}")
    print("\nthe two-layer network, dL/dW1 (16 x 8 entries):")
    for name, passes, seconds, error in two_layer():
        print(f"  {name:34s} {passes:4d} passes {seconds * 1e3:9.2f} ms  largest difference {error:.1e}")
    print("\nfull Jacobians, forward vs reverse mode:")
    for label, t_fwd, t_rev, diff in crossover():
        winner = "forward" if t_fwd < t_rev else "reverse"
        print(f"  {label:24s} forward {t_fwd * 1e3:8.2f} ms  reverse {t_rev * 1e3:8.2f} ms  -> {winner} "
              f"wins (agree to {diff:.1e})")


if __name__ == "__main__":
    main()
