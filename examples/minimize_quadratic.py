"""The lecture's first example: minimise f(a) = 4(a - 2)^2 - 3 by gradient descent.

The closed form says the minimum is at a = 2 with f = -3 (f is symmetric about 2: a = 1.8 and
a = 2.2 give the same f = -2.84). Autograd finds it from df/da = 8(a - 2) alone."""
import pyautograd as ag


def f(a: ag.Matrix) -> ag.Matrix:
    return 4 * (a - 2) ** 2 - 3


def minimise(a0: float = 0.0, learning_rate: float = 0.1, steps: int = 60):
    """Gradient descent on f from a0; returns (a, f(a), the list of f values on the way)."""
    a = ag.mat([[a0]])
    history = []
    for _ in range(steps):
        loss = f(a)
        history.append(loss.item())
        a.zero_grad()
        loss.backward()
        with ag.no_grad():
            a.data -= learning_rate * a.grad
    return a.item(), f(a).item(), history


def main() -> None:
    print(f"f(1.8) = {f(ag.mat(1.8)).item():.4f}, f(2.2) = {f(ag.mat(2.2)).item():.4f}")
    a, fa, history = minimise()
    print(f"gradient descent from a = 0 (lr 0.1, {len(history)} steps): a = {a!r}, f(a) = {fa!r}")


if __name__ == "__main__":
    main()
