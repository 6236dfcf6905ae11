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
from .ops import RULES

# The local derivative of each op, in the lecture's notation (Y is the op's result, A and B its
# inputs, X and W for a product, dL/dY the upstream gradient arriving at Y): each row of the
# rule table carries its own.
FORMULAS = {name: row.formula for name, row in RULES.items()}


def _formula(node: Matrix) -> str:
    """The formula of the row that made node (a user's Function carries its own)."""
    return (getattr(node._rule, "formula", "") or FORMULAS.get(node._op)
            or "(no formula recorded)")


def _show(values: np.ndarray) -> str:
    return np.array2string(values, precision=4, threshold=12, edgeitems=2, separator=", ",
                           suppress_small=False).replace("\n", "")


class _Tracer:
    def __init__(self, out: TextIO, names: Mapping[str, Matrix]) -> None:
        self.out = out
        self.names: Dict[int, str] = {id(m): n for n, m in names.items()}
        self.step = 0
        self.unnamed = 0
        self.children: list = []
        self.before_values: Dict[int, Optional[np.ndarray]] = {}

    def name(self, m: Matrix) -> str:
        """The user's name for m, or its op and a number in order of appearance."""
        if id(m) not in self.names:
            self.unnamed += 1
            kind = m._op or ("param" if m.requires_grad else "const")
            self.names[id(m)] = f"{kind}#{self.unnamed}"
        return self.names[id(m)]

    def before(self, node: Matrix) -> None:
        """Print the node, its op's formula and the upstream gradient; note its operands'
        gradients so that after() can print what backward added."""
        self.step += 1
        operands = [c for c in dict.fromkeys(node._children) if isinstance(c, Matrix)]
        self.children = [c for c in operands if c.requires_grad]
        self.before_values = {id(c): None if c._grad is None else c._grad.numpy().copy()
                              for c in self.children}
        inputs = ", ".join(self.name(c) for c in operands)
        self.out.write(f"[{self.step}] {self.name(node)} = {node._op}({inputs})  {node.shape}\n")
        self.out.write(f"    local derivative: {_formula(node)}\n")
        self.out.write(f"    upstream dL/d{self.name(node)} = {_show(node.grad.numpy())}\n")

    def after(self, node: Matrix) -> None:
        """Print what the node's reverse rule added to each operand's gradient."""
        for c in self.children:
            now, then = c.grad.numpy(), self.before_values[id(c)]
            added = now if then is None else now - then
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
