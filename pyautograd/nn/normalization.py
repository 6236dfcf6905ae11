"""BatchNorm1d and LayerNorm over (N, C) matrices, composed from Matrix ops (mean, subtraction,
sqrt, division), so their gradients need no rule of their own and they replay in ag.compile."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from .. import backends
from ..grad_mode import no_grad
from ..matrix import Matrix
from . import functional as F
from .module import Module


def _features(op: str, value: Any) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{op}: a matrix normalises over its one feature dimension; "
                             f"normalized_shape must be one number, got {tuple(value)}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{op}: the number of features must be a positive integer, got {value!r}")
    return value


def _positive(op: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0.0:
        raise ValueError(f"{op}: {name} must be a positive number, got {value!r}")
    return float(value)


def _constant(nrow: int, ncol: int, value: float, requires_grad: bool) -> Matrix:
    return Matrix(backends.current_storage().full(nrow, ncol, value), requires_grad=requires_grad)


def _check_input(op: str, x: Any, features: int) -> Matrix:
    x = F.as_input(x, op)
    if x.shape[1] != features:
        raise ValueError(f"{op}: expected {features} features (columns), got input of shape {x.shape}")
    return x


class BatchNorm1d(Module):
    """Normalise each column of an (N, C) batch: (x - mean) / sqrt(var + eps) * weight + bias.

    In training, mean and (biased) var are the batch's, and running_mean / running_var move
    towards the batch's mean and unbiased variance by `momentum` (None: their cumulative
    average); in eval mode the running statistics are used instead (unless
    track_running_stats=False). state_dict keys as PyTorch: weight, bias, running_mean,
    running_var, num_batches_tracked (a (1, 1) float matrix here; PyTorch's (C,) vectors are
    (1, C)). Works inside ag.compile: the running statistics are updated in place by kernels.
    A compiled step keeps the mode (train/eval) it was recorded in."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        op = type(self).__name__
        self.num_features = _features(op, num_features)
        self.eps = _positive(op, "eps", eps)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{op}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        self.weight = _constant(1, c, 1.0, True) if affine else None
        self.bias = _constant(1, c, 0.0, True) if affine else None
        if track_running_stats:
            self.running_mean = _constant(1, c, 0.0, False)
            self.running_var = _constant(1, c, 1.0, False)
            self.num_batches_tracked = _constant(1, 1, 0.0, False)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.data.fill_(0.0)
            self.running_var.data.fill_(1.0)
            self.num_batches_tracked.data.fill_(0.0)

    def forward(self, x: Matrix) -> Matrix:
        op = type(self).__name__
        x = _check_input(op, x, self.num_features)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = x.shape[0]
            if n < 2 and self.training:
                raise ValueError(f"{op}: expected more than 1 value per channel when training, "
                                 f"got input of shape {x.shape}")
            mean = x.mean(0)
            centred = x - mean
            var = (centred * centred).mean(0)
            if self.training and self.track_running_stats:
                self._track(mean, var, n)
        else:
            centred = x - self.running_mean
            var = self.running_var
        y = centred / (var + self.eps).sqrt()
        if self.affine:
            y = y * self.weight + self.bias
        return y

    def _track(self, mean: Matrix, var: Matrix, n: int) -> None:
        """Move the running statistics towards the batch's, in place (kernels a compiled step
        replays): stat += factor * (batch - stat), factor = momentum or 1 / batches seen."""
        with no_grad():
            count = self.num_batches_tracked.data
            count += 1.0
            unbiased = var.data * (n / (n - 1.0))
            for stat, batch in ((self.running_mean.data, mean.data), (self.running_var.data, unbiased)):
                if self.momentum is None:
                    stat += (batch - stat) / count
                else:
                    stat *= 1.0 - self.momentum
                    stat.add_scaled_(batch, self.momentum)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Normalise each row of an (N, C) matrix: (x - mean) / sqrt(var + eps) * weight + bias, with
    the row's mean and biased variance; weight (ones) and bias (zeros) are (1, C) parameters
    (state_dict keys weight, bias). Works inside ag.compile."""

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        op = type(self).__name__
        self.normalized_shape = (_features(op, normalized_shape),)
        self.eps = _positive(op, "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        c = self.normalized_shape[0]
        self.weight = _constant(1, c, 1.0, True) if elementwise_affine else None
        self.bias = _constant(1, c, 0.0, True) if elementwise_affine and bias else None

    def forward(self, x: Matrix) -> Matrix:
        x = _check_input(type(self).__name__, x, self.normalized_shape[0])
        centred = x - x.mean(1)
        var = (centred * centred).mean(1)
        y = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
