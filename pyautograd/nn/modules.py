"""Layers in the PyTorch idiom: Linear, the containers, the activations and Dropout."""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from .. import backends
from ..backends.base import resolve_dtype
from ..backends.recording import read_attr
from ..factories import generator
from ..matrix import Matrix
from . import functional as F
from .module import Module


class Linear(Module):
    """y = x @ weight.T + bias, with weight (out_features, in_features) and bias (1, out_features).

    Initialised as PyTorch's Linear: both uniform in ±1/sqrt(in_features), drawn from `rng`
    (a NumPy Generator) or else from the generator that pyautograd.manual_seed() seeds, in
    float64 and then rounded when dtype is float32 (the default dtype when None)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: Optional[np.random.Generator] = None, dtype: Any = None) -> None:
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {n!r}")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features)
        storage = backends.current_storage()
        if dtype is not None:
            storage = storage.with_dtype(resolve_dtype(dtype, "Linear"))
        rng = generator() if rng is None else rng
        self.weight = Matrix(storage.from_array(rng.uniform(-bound, bound, (out_features, in_features))))
        self.bias = (Matrix(storage.from_array(rng.uniform(-bound, bound, (1, out_features))))
                     if bias else None)

    def forward(self, x: Matrix) -> Matrix:
        x = F.as_input(x, "Linear")
        if x.shape[1] != self.in_features:
            raise ValueError(f"Linear: input has {x.shape[1]} features (shape {x.shape}), "
                             f"the layer expects {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _check_modules(op: str, modules: Iterable[Any]) -> List[Module]:
    modules = list(modules)
    for i, m in enumerate(modules):
        if not isinstance(m, Module):
            raise TypeError(f"{op}: item {i} is a {type(m).__name__}, not a Module")
    return modules


class ModuleList(Module):
    """A list of modules whose parameters count as the owner's, named 0, 1, ... as in PyTorch."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._layers: List[Module] = _check_modules(type(self).__name__, modules)

    def _entries(self) -> Iterator[Tuple[str, Any]]:
        return ((str(i), m) for i, m in enumerate(self._layers))

    def append(self, module: Module) -> "ModuleList":
        self._layers += _check_modules(f"{type(self).__name__}.append", [module])
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        self._layers += _check_modules(f"{type(self).__name__}.extend", modules)
        return self

    def insert(self, index: int, module: Module) -> None:
        self._layers.insert(index, *_check_modules(f"{type(self).__name__}.insert", [module]))

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __getitem__(self, index: Union[int, slice]) -> Any:
        if isinstance(index, slice):
            return type(self)(self._layers[index]) if type(self) is ModuleList \
                else Sequential(*self._layers[index])
        return self._layers[index]

    def __setitem__(self, index: int, module: Module) -> None:
        self._layers[index] = _check_modules(type(self).__name__, [module])[0]

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your own")


class Sequential(ModuleList):
    """Modules applied one after the other."""

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x: Matrix) -> Matrix:
        for module in self._layers:
            x = module(x)
        return x


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, x: Any) -> Any:
        return x


class Sigmoid(Module):
    def forward(self, x: Matrix) -> Matrix:
        return F.as_input(x, "Sigmoid").sigmoid()


class ReLU(Module):
    def forward(self, x: Matrix) -> Matrix:
        return F.as_input(x, "ReLU").relu()


class Tanh(Module):
    def forward(self, x: Matrix) -> Matrix:
        return F.as_input(x, "Tanh").tanh()


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Matrix) -> Matrix:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x Phi(x) with the exact normal CDF Phi (PyTorch's approximate='none')."""

    def forward(self, x: Matrix) -> Matrix:
        return F.gelu(x)

    def extra_repr(self) -> str:
        return "approximate='none'"


def _axis(op: str, dim: Optional[int]) -> int:
    """A softmax dimension of a 2-D input: 0, 1 (or -2, -1); None means 1, PyTorch's implicit
    choice for 2-D inputs."""
    if dim is None:
        return 1
    if isinstance(dim, bool) or dim not in (0, 1, -1, -2):
        raise ValueError(f"{op}: dim must be 0 or 1 (or -2, -1) for a matrix, got {dim!r}")
    return dim % 2


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""

    def __init__(self, dim: Optional[int] = None) -> None:
        _axis("Softmax", dim)
        self.dim = dim

    def forward(self, x: Matrix) -> Matrix:
        return F.as_input(x, "Softmax").softmax(_axis("Softmax", self.dim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`, computed stably."""

    def __init__(self, dim: Optional[int] = None) -> None:
        _axis("LogSoftmax", dim)
        self.dim = dim

    def forward(self, x: Matrix) -> Matrix:
        return F.as_input(x, "LogSoftmax").log_softmax(_axis("LogSoftmax", self.dim))


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p);
    in eval mode, the identity. The masks come from the generator of pyautograd.manual_seed()."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = F.check_probability("Dropout", p)

    def forward(self, x: Matrix) -> Matrix:
        return F.dropout(x, read_attr(self, "p"), read_attr(self, "training"))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one. A matrix's rows are its batch: the default
    (start_dim=1) leaves an (N, C) matrix as it is, as PyTorch does with a 2-D input;
    start_dim=0 (with end_dim=-1) gives the (1, N*C) row of all values (PyTorch's 1-D (N*C,)).
    Works inside ag.compile."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(d, bool) or d not in (0, 1, -1, -2):
                raise ValueError(f"Flatten: {name} must be 0 or 1 (or -2, -1) for a matrix, got {d!r}")
        if start_dim % 2 > end_dim % 2:
            raise ValueError(f"Flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Matrix) -> Matrix:
        x = F.as_input(x, "Flatten")
        return x.flatten() if (self.start_dim % 2, self.end_dim % 2) == (0, 1) else x

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
