"""Modules in the PyTorch idiom: Module, Linear, Sequential and the activations."""
from __future__ import annotations

import math
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np

from .. import backends
from ..factories import generator
from ..matrix import Matrix
from . import functional as F


class Module:
    """A callable with parameters: `module(x)` runs `forward(x)`.

    Parameters are the matrices that require a gradient, found in the module's attributes, in
    its submodules and in lists, tuples and dicts of them, in the order they were assigned; a
    matrix reachable twice is listed once."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def named_parameters(self) -> List[Tuple[str, Matrix]]:
        """(dotted name, parameter) pairs, each parameter once, in registration order."""
        found: List[Tuple[str, Matrix]] = []
        seen = set()

        def visit(prefix: str, value: Any) -> None:
            if isinstance(value, Matrix):
                if value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    found.append((prefix, value))
            elif isinstance(value, Module):
                if id(value) in seen:
                    return
                seen.add(id(value))
                for name, attr in vars(value).items():
                    visit(f"{prefix}.{name}" if prefix else name, attr)
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    visit(f"{prefix}.{i}" if prefix else str(i), item)
            elif isinstance(value, dict):
                for key, item in value.items():
                    visit(f"{prefix}.{key}" if prefix else str(key), item)

        visit("", self)
        return found

    def parameters(self) -> List[Matrix]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Module):
    """y = x @ weight.T + bias, with weight (out_features, in_features) and bias (1, out_features).

    Initialised as PyTorch's Linear: both uniform in ±1/sqrt(in_features), drawn from `rng`
    (a NumPy Generator) or else from the generator that pyautograd.manual_seed() seeds."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: Optional[np.random.Generator] = None) -> None:
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {n!r}")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features)
        storage = backends.current_storage()
        rng = generator() if rng is None else rng
        self.weight = Matrix(storage.from_array(rng.uniform(-bound, bound, (out_features, in_features))))
        self.bias = (Matrix(storage.from_array(rng.uniform(-bound, bound, (1, out_features))))
                     if bias else None)

    def forward(self, x: Matrix) -> Matrix:
        if x.shape[1] != self.in_features:
            raise ValueError(f"Linear: input has {x.shape[1]} features (shape {x.shape}), "
                             f"the layer expects {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None})")


class Sequential(Module):
    """Modules applied one after the other."""

    def __init__(self, *modules: Module) -> None:
        self.modules = list(modules)

    def forward(self, x: Matrix) -> Matrix:
        for module in self.modules:
            x = module(x)
        return x

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"


class Sigmoid(Module):
    def forward(self, x: Matrix) -> Matrix:
        return x.sigmoid()


class ReLU(Module):
    def forward(self, x: Matrix) -> Matrix:
        return x.relu()


class Tanh(Module):
    def forward(self, x: Matrix) -> Matrix:
        return x.tanh()
