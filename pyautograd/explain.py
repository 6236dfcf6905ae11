"""`with pyautograd.explain(): loss.backward()` prints the chain rule as backward applies it:
for each node, from the output back to the inputs, its op, the local derivative as a formula,
the upstream gradient, and what was added to each input's gradient. It costs nothing when off:
backward() reads one context variable."""
from __future__ import annotations

import contextlib
import sys
from typing import Dict, Iterator, Mapping, Optional, TextIO

import numpy as np

from .grad_mode import _tracer
from .matrix import Matrix

# The local derivative of each op, in the lecture's notation: Y is the op's result, A and B its
# inputs (X and W for a product), dL/dY the upstream gradient arriving at Y.
FORMULAS = {
    "add": "dY/dA = 1, dY/dB = 1 (summed over broadcast dimensions)",
    "sub": "dY/dA = 1, dY/dB = -1 (summed over broadcast dimensions)",
    "mul": "dY/dA = B, dY/dB = A (a number factor s: dY/dA = s)",
    "div": "dY/dA = 1/B, dY/dB = -A/B^2 = -Y/B",
    "rdiv": "Y = s/A: dY/dA = -s/A^2 = -Y/A",
    "neg": "dY/dA = -1",
    "pow": "Y = A^p: dY/dA = p A^(p-1); a matrix exponent B: dY/dB = A^B log A",
    "matmul": "Y = X @ W: dL/dX = dL/dY @ W^T, dL/dW = X^T @ dL/dY",
    "transpose": "Y = A^T: dL/dA = (dL/dY)^T",
    "sum": "dY/dA = 1 for every summed entry",
    "mean": "dY/dA = 1/N for each of the N averaged entries",
    "max": "dY/dA = 1 at the maximum (shared among ties), 0 elsewhere",
    "exp": "Y = e^A: dY/dA = e^A = Y",
    "log": "Y = log A: dY/dA = 1/A",
    "sigmoid": "A = sigma(Z): dA/dZ = sigma(Z)(1 - sigma(Z)) = A(1 - A)",
    "tanh": "Y = tanh A: dY/dA = 1 - Y^2",
    "relu": "Y = max(A, 0): dY/dA = 1 where A > 0, else 0",
    "abs": "Y = |A|: dY/dA = sign(A)",
    "min": "dY/dA = 1 at the minimum (shared among ties), 0 elsewhere",
    "getitem": "Y = A[rows, cols]: dL/dA = dL/dY scattered back to the selected places (repeats add up)",
    "reshape": "Y = A laid out anew: dL/dA = dL/dY reshaped back",
    "flatten": "Y = A as one row: dL/dA = dL/dY reshaped back",
    "cat": "Y = [A, B, ...]: each input gets its block of dL/dY",
    "sqrt": "Y = sqrt(A): dY/dA = 1/(2 sqrt(A)) = 1/(2Y)",
    "square": "Y = A^2: dY/dA = 2A",
    "log1p": "Y = log(1 + A): dY/dA = 1/(1 + A)",
    "expm1": "Y = e^A - 1: dY/dA = e^A = Y + 1",
    "clamp": "Y = min(max(A, lo), hi): dY/dA = 1 where lo <= A <= hi, else 0",
    "where": "Y = A where C else B: dY/dA = C, dY/dB = 1 - C",
    "maximum": "Y = max(A, B): dY/dA = 1 where A > B, 1/2 where A = B, else 0 (B alike)",
    "minimum": "Y = min(A, B): dY/dA = 1 where A < B, 1/2 where A = B, else 0 (B alike)",
    "to": "a change of backend: dY/dA = 1",
    "linear": "Y = X W^T + b: dL/dX = dL/dY @ W, dL/dW = dL/dY^T @ X, dL/db = column sums of dL/dY",
    "mse_loss": "L = mean((P - T)^2): dL/dP = 2 (P - T)/N",
    "binary_cross_entropy": "L = -mean(T log P + (1 - T) log(1 - P)): dL/dP = (P - T)/(P(1 - P))/N",
    "binary_cross_entropy_with_logits": "L = BCE(sigma(Z), T): dL/dZ = (sigma(Z) - T)/N",
}


def _show(values: np.ndarray) -> str:
    return np.array2string(values, precision=4, threshold=12, edgeitems=2, separator=", ",
                           suppress_small=False).replace("\n", "")


class _Tracer:
    def __init__(self, out: TextIO, names: Mapping[str, Matrix]) -> None:
        self.out = out
        self.names: Dict[int, str] = {id(m): n for n, m in names.items()}
        self.step = 0
        self.unnamed = 0

    def name(self, m: Matrix) -> str:
        """The user's name for m, or its op and a number in order of appearance."""
        if id(m) not in self.names:
            self.unnamed += 1
            kind = m._op or ("param" if m.requires_grad else "const")
            self.names[id(m)] = f"{kind}#{self.unnamed}"
        return self.names[id(m)]

    def __call__(self, node: Matrix) -> None:
        """Run one node's closure, printing what it does."""
        self.step += 1
        children = [c for c in dict.fromkeys(node._children) if c.requires_grad]
        before = {id(c): None if c._grad is None else c._grad.numpy().copy() for c in children}
        upstream = node.grad.numpy().copy()
        inputs = ", ".join(self.name(c) for c in dict.fromkeys(node._children))
        self.out.write(f"[{self.step}] {self.name(node)} = {node._op}({inputs})  {node.shape}\n")
        self.out.write(f"    local derivative: {FORMULAS.get(node._op, '(no formula recorded)')}\n")
        self.out.write(f"    upstream dL/d{self.name(node)} = {_show(upstream)}\n")
        node._gradient(node.grad)
        for c in children:
            now = c.grad.numpy()
            added = now if before[id(c)] is None else now - before[id(c)]
            self.out.write(f"    added to dL/d{self.name(c)} {c.shape}: {_show(added)}\n")


@contextlib.contextmanager
def explain(names: Optional[Mapping[str, Matrix]] = None, file: Optional[TextIO] = None) -> Iterator[None]:
    """Trace every backward() inside the block: `names` gives matrices readable names."""
    tracer = _Tracer(file if file is not None else sys.stdout, names or {})
    token = _tracer.set(tracer)
    try:
        yield
    finally:
        _tracer.reset(token)
