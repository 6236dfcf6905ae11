"""Your own differentiable ops: four `ag.autograd.Function`s and one whose backward is itself
differentiable, each trained in a compiled step.

    python examples/custom_ops.py [--backend c|python|verify]

- LogSumExp: log sum exp(x) along an axis, shifted by the maximum so exp never overflows; its
  hand-written backward is softmax(x) * g, from the saved input and output.
- StraightThroughRound: rounds in the forward pass (to nearest, ties to even, as torch.round)
  and passes the gradient straight through.
- GradReverse: the identity forward, -scale * g backward (a gradient-reversal layer); `scale`
  is a number, which passes through to forward and gets no gradient.
- ClipGrad: the identity forward, the gradient clipped to [-bound, bound] backward.
- Softplus: log(1 + e^x) with backward g * sigmoid(x) written with library ops, so ag.grad of
  its gradient (double backward) works: the `penalty` model trains on a loss that holds it.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, Optional, Tuple

import numpy as np

import pyautograd as ag
from pyautograd.autograd import Function, FunctionCtx

# 1.5 * 2^52: adding and subtracting it rounds a float64 of magnitude below 2^51 to the nearest
# integer, ties to even (IEEE's own rounding), with two kernel launches that compile can replay
ROUNDER = 6755399441055744.0


class LogSumExp(Function):
    """log sum exp(x) along `axis` (None: over everything)."""

    formula = "Y = log sum exp(A): dY/dA = exp(A - Y) = softmax(A)"

    @staticmethod
    def forward(ctx: FunctionCtx, x: ag.Matrix, axis: Optional[int] = None) -> ag.Matrix:
        m = x.max(axis=axis)  # the values (NumPy spelling); a constant: grad mode is off here
        y = (x - m).exp().sum(axis).log() + m
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: FunctionCtx, g: ag.Matrix) -> Tuple[ag.Matrix, None]:
        x, y = ctx.saved_tensors
        return g * (x - y).exp(), None


class StraightThroughRound(Function):
    """round(x) forward; the identity's gradient backward (the straight-through estimator)."""

    formula = "Y = round(A): dY/dA taken as 1 (straight through)"

    @staticmethod
    def forward(ctx: FunctionCtx, x: ag.Matrix) -> ag.Matrix:
        return (x + ROUNDER) - ROUNDER

    @staticmethod
    def backward(ctx: FunctionCtx, g: ag.Matrix) -> ag.Matrix:
        return g

    @staticmethod
    def jvp(ctx: FunctionCtx, t: ag.Matrix) -> ag.Matrix:
        return t


class GradReverse(Function):
    """The identity forward; the gradient times -scale backward."""

    formula = "Y = A: dL/dA = -scale * dL/dY (gradient reversal)"

    @staticmethod
    def forward(ctx: FunctionCtx, x: ag.Matrix, scale: float = 1.0) -> ag.Matrix:
        ctx.scale = scale
        return x

    @staticmethod
    def backward(ctx: FunctionCtx, g: ag.Matrix) -> Tuple[ag.Matrix, None]:
        return g * -ctx.scale, None


class ClipGrad(Function):
    """The identity forward; the gradient clipped to [-bound, bound] backward."""

    formula = "Y = A: dL/dA = clamp(dL/dY, -bound, bound)"

    @staticmethod
    def forward(ctx: FunctionCtx, x: ag.Matrix, bound: float) -> ag.Matrix:
        ctx.bound = bound
        return x

    @staticmethod
    def backward(ctx: FunctionCtx, g: ag.Matrix) -> Tuple[ag.Matrix, None]:
        return g.clamp(-ctx.bound, ctx.bound), None


class Softplus(Function):
    """log(1 + e^x); its backward is made of library ops, so it is differentiable again."""

    formula = "Y = log(1 + e^A): dY/dA = sigmoid(A)"

    @staticmethod
    def forward(ctx: FunctionCtx, x: ag.Matrix) -> ag.Matrix:
        ctx.save_for_backward(x)
        return x.exp().log1p()

    @staticmethod
    def backward(ctx: FunctionCtx, g: ag.Matrix) -> ag.Matrix:
        (x,) = ctx.saved_tensors
        return g * x.sigmoid()

    @staticmethod
    def jvp(ctx: FunctionCtx, t: ag.Matrix) -> ag.Matrix:
        (x,) = ctx.saved_tensors
        return t * x.sigmoid()


# Each op in a small model: scores = X @ W, through the op, to a loss.
LOSSES: dict = {
    "logsumexp": lambda s, y: (LogSumExp.apply(s, 1) - (s * y).sum(1)).mean(),
    "round": lambda s, y: ((StraightThroughRound.apply(s * 4.0) * 0.25 - y) ** 2).mean(),
    "reverse": lambda s, y: ((GradReverse.apply(s, 0.5) - y) ** 2).mean(),
    "clip": lambda s, y: ((ClipGrad.apply(s, 0.05) - y) ** 2).mean(),
    "softplus": lambda s, y: (Softplus.apply(s) - y * s).mean(),
    # a gradient penalty: the loss holds Softplus's gradient, so training differentiates its
    # backward (double backward, recorded and replayed like the rest)
    "penalty": lambda s, y: (Softplus.apply(s) - y * s).mean()
    + (ag.grad(lambda u: Softplus.apply(u).sum())(s) ** 2).mean(),
}


def data(seed: int = 0, n: int = 8, d: int = 3, k: int = 4) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs X (n, d), one-hot targets Y (n, k), starting weights W (d, k)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = np.eye(k)[rng.integers(0, k, n)]
    W = rng.standard_normal((d, k)) * 0.5
    return X, Y, W


def train_step(loss_fn: Callable[[ag.Matrix, ag.Matrix], ag.Matrix], W: ag.Matrix,
               lr: float = 0.1) -> Callable[[ag.Matrix, ag.Matrix], ag.Matrix]:
    """One step of gradient descent on W through the op: the loss."""
    def step(x: ag.Matrix, y: ag.Matrix) -> ag.Matrix:
        loss = loss_fn(x @ W, y)
        loss.backward()
        with ag.no_grad():
            W.data -= lr * W.grad
            W.zero_grad()
        return loss
    return step


def train(name: str, steps: int = 20, compiled: bool = True) -> Tuple[list, Any, Any]:
    """Train the model of LOSSES[name]: the losses, the final weights (a NumPy array) and the
    step (a CompiledStep when compiled: its `stats` count the replays)."""
    X, Y, W0 = data()
    x, y = ag.mat(X, requires_grad=False), ag.mat(Y, requires_grad=False)
    W = ag.mat(W0)
    step = train_step(LOSSES[name], W)
    if compiled:
        step = ag.compile(step)
    losses = [step(x, y).item() for _ in range(steps)]
    return losses, W.numpy().copy(), step


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="c", choices=["c", "python", "verify"])
    args = parser.parse_args(argv)
    with ag.backend(args.backend):
        for name in LOSSES:
            eager, w_eager, _ = train(name, compiled=False)
            compiled, w_compiled, _ = train(name, compiled=True)
            same = eager == compiled and np.array_equal(w_eager, w_compiled)
            print(f"{name:10s} loss {eager[0]:.6f} -> {eager[-1]:.6f}   compiled = eager "
                  f"bit for bit: {same}")
        x = ag.mat([[-1.0, 0.5, 2.0]])
        second = ag.grad(lambda v: ag.grad(lambda u: Softplus.apply(u).sum())(v).sum())(x)
        print("d2/dx2 softplus at", x.tolist()[0], "=", np.round(second.numpy(), 6).tolist()[0])


if __name__ == "__main__":
    main()
