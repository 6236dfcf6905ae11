"""Module: the base class of layers, in the PyTorch idiom.

A module's parameters and submodules are found in its attributes (and in lists, tuples and
dicts of them), in the order they were assigned; nothing needs registering and subclasses need
not call `super().__init__()`. A parameter is a Matrix that requires a gradient; `state_dict()`
also holds the matrices that do not (frozen parameters, constants: PyTorch's buffers)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple, TypeVar

import numpy as np

from ..backends.recording import capturing, read_attr
from ..matrix import Matrix

M = TypeVar("M", bound="Module")
_ANY = (lambda: training).__code__  # noqa: F821  (a forward we cannot inspect: guard its mode)


class IncompatibleKeys(NamedTuple):
    """What load_state_dict(strict=False) could not match, as PyTorch returns it."""
    missing_keys: List[str]
    unexpected_keys: List[str]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _flatten(prefix: str, value: Any) -> Iterator[Tuple[str, Any]]:
    """The matrices and modules in `value`, looking inside lists, tuples and dicts."""
    if isinstance(value, (Matrix, Module)):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _flatten(_join(prefix, str(i)), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(_join(prefix, str(key)), item)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _to_array(value: Any) -> np.ndarray:
    """A state-dict value (Matrix, NumPy array, torch.Tensor, nested list) as a NumPy array."""
    if isinstance(value, Matrix):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class Module:
    """A callable with parameters: `module(x)` runs `forward(x)`."""

    training: bool = True  # instances override it through train() / eval()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if capturing() and "training" in getattr(type(self).forward, "__code__", _ANY).co_names:
            read_attr(self, "training")  # compile replays only in the mode it was recorded in
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # -- structure ------------------------------------------------------------------------------
    def _entries(self) -> Iterator[Tuple[str, Any]]:
        """(name, matrix or module) directly held by this module, in assignment order."""
        for name, value in vars(self).items():
            yield from _flatten(name, value)

    def _walk(self, prefix: str, seen: set) -> Iterator[Tuple[str, Any]]:
        """Depth first, in assignment order: every matrix and module below, each once."""
        for name, value in self._entries():
            if id(value) in seen:
                continue
            seen.add(id(value))
            full = _join(prefix, name)
            yield full, value
            if isinstance(value, Module):
                yield from value._walk(full, seen)

    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        """(name, submodule) for the modules held directly by this one."""
        seen = set()
        for name, value in self._entries():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator["Module"]:
        return (m for _, m in self.named_children())

    def named_modules(self) -> Iterator[Tuple[str, "Module"]]:
        """("", self), then every submodule by dotted name, each once, depth first."""
        yield "", self
        for name, value in self._walk("", {id(self)}):
            if isinstance(value, Module):
                yield name, value

    def modules(self) -> Iterator["Module"]:
        return (m for _, m in self.named_modules())

    def _named_matrices(self) -> List[Tuple[str, Matrix]]:
        return [(n, v) for n, v in self._walk("", {id(self)}) if isinstance(v, Matrix)]

    def named_parameters(self) -> List[Tuple[str, Matrix]]:
        """(dotted name, parameter) pairs, each parameter once, in registration order."""
        return [(n, m) for n, m in self._named_matrices() if m.requires_grad]

    def parameters(self) -> List[Matrix]:
        return [p for _, p in self.named_parameters()]

    def apply(self: M, fn: Callable[["Module"], Any]) -> M:
        """Call fn on every submodule (children first, as PyTorch), then on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --------------------------------------------------------------------
    def train(self: M, mode: bool = True) -> M:
        """Set training mode (Dropout drops) on this module and every submodule; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__} {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self: M) -> M:
        """Evaluation mode (Dropout is the identity): train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: released (set_to_none=True, PyTorch's default), or
        made zeros in place (False: the parameters then count as having a gradient, so an
        optimizer still steps them, e.g. with weight decay or momentum, as in PyTorch)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    # -- dtype ----------------------------------------------------------------------------------
    def to(self: M, dtype: Any) -> M:
        """Convert every matrix of the module (parameters, frozen ones, their gradients) to
        dtype (float32 or float64) in place, as torch's Module.to(dtype); returns self. Make
        the optimizer after converting: its state is made in the parameters' dtype."""
        from ..backends.base import resolve_dtype
        resolved = resolve_dtype(dtype, "Module.to")
        for _, m in self._named_matrices():
            m.data = m.data.astype(resolved)
            if m.has_grad:
                m.grad = m.grad.astype(resolved)
        return self

    def float(self: M) -> M:
        """Every matrix in float32: to(float32)."""
        return self.to("float32")

    def double(self: M) -> M:
        """Every matrix in float64: to(float64)."""
        return self.to("float64")

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, Matrix]":
        """Every matrix of the module by PyTorch's dotted names (`0.weight` in a Sequential),
        frozen ones included, as detached matrices sharing the module's storage."""
        return OrderedDict((name, m.detach()) for name, m in self._named_matrices())

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values (Matrices, NumPy arrays or torch tensors) into the module's matrices.

        Every key, shape and dtype is checked before anything changes: with strict=True (the
        default) missing or unexpected keys raise RuntimeError, as in PyTorch; a shape mismatch
        always does. A 1-D array loads into a (1, n) matrix (PyTorch's bias vectors)."""
        own = OrderedDict(self._named_matrices())
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict of name -> values, got "
                            f"{type(state_dict).__name__}")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected))
        arrays = {}
        for name, m in own.items():
            if name not in state_dict:
                continue
            try:
                arr = _to_array(state_dict[name])
            except Exception as exc:  # an object NumPy cannot read: name the key
                raise TypeError(f"load_state_dict: {name!r} holds a {type(state_dict[name]).__name__}"
                                f" that cannot be read as an array ({exc})") from exc
            if arr.dtype.kind not in "biuf":
                errors.append(f"{name}: expected real numbers, got dtype {arr.dtype}")
                continue
            if arr.ndim == 0 and m.shape == (1, 1):  # a 0-d tensor: num_batches_tracked
                arr = arr.reshape(1, 1)
            if arr.ndim == 1 and m.shape[0] == 1:
                arr = arr.reshape(1, -1)
            if arr.shape != m.shape:
                errors.append(f"size mismatch for {name}: copying a param with shape {arr.shape} "
                              f"from checkpoint, the shape in current model is {m.shape}")
                continue
            arrays[name] = arr
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for name, arr in arrays.items():
            m = own[name]
            m.data = type(m.data).from_array(np.array(arr, dtype=m.dtype))  # keeps its dtype
        return IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The module's own settings, shown inside its repr's parentheses."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        lines += [f"({name}): {_indent(repr(child))}" for name, child in self.named_children()]
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and extra:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
