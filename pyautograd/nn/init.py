"""Parameter initialisation in place, with PyTorch's formulas (torch.nn.init), drawing from the
generator that pyautograd.manual_seed() seeds (or `rng`). A weight is (fan_out, fan_in), as in
Linear; a (1, n) bias has fan_in n and fan_out 1."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from ..factories import generator
from ..matrix import Matrix


def _set(m: Matrix, values: np.ndarray, op: str) -> Matrix:
    """Overwrite m's values in place (its storage object stays the same)."""
    if not isinstance(m, Matrix):
        raise TypeError(f"{op}: expected a Matrix, got {type(m).__name__}")
    m.data.zeros_()
    m.data += type(m.data).from_array(np.ascontiguousarray(values, dtype=np.float64))
    return m


def _rng(rng: Optional[np.random.Generator]) -> np.random.Generator:
    return generator() if rng is None else rng


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fans(m: Matrix) -> Tuple[int, int]:
    """(fan_in, fan_out) of a (fan_out, fan_in) weight."""
    return m.shape[1], m.shape[0]


def uniform_(m: Matrix, a: float = 0.0, b: float = 1.0,
             rng: Optional[np.random.Generator] = None) -> Matrix:
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a!r}, b={b!r}")
    return _set(m, _rng(rng).uniform(a, b, m.shape), "uniform_")


def normal_(m: Matrix, mean: float = 0.0, std: float = 1.0,
            rng: Optional[np.random.Generator] = None) -> Matrix:
    if not std >= 0:
        raise ValueError(f"normal_: std must be >= 0, got {std!r}")
    return _set(m, _rng(rng).normal(mean, std, m.shape), "normal_")


def constant_(m: Matrix, value: float) -> Matrix:
    return _set(m, np.full(m.shape, float(value)), "constant_")


def zeros_(m: Matrix) -> Matrix:
    return constant_(m, 0.0)


def ones_(m: Matrix) -> Matrix:
    return constant_(m, 1.0)


def xavier_uniform_(m: Matrix, gain: float = 1.0,
                    rng: Optional[np.random.Generator] = None) -> Matrix:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = fans(m)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _set(m, _rng(rng).uniform(-bound, bound, m.shape), "xavier_uniform_")


def kaiming_uniform_(m: Matrix, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     rng: Optional[np.random.Generator] = None) -> Matrix:
    """U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a), fan the
    fan_in or fan_out by `mode` (He et al., 2015)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(m)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _set(m, _rng(rng).uniform(-bound, bound, m.shape), "kaiming_uniform_")
