"""Loss modules: callables wrapping the functions of pyautograd.nn.functional.

Every loss here runs inside ag.compile (class weights are constant matrices; class-index
targets become a constant one-hot matrix, so pass them as a hashable argument, a tuple, or
keep them fixed: other targets make a new recording, as any other argument value does)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import backends

from ..matrix import Matrix
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = F.check_reduction(type(self).__name__, reduction)


class MSELoss(_Loss):
    """(prediction - target)^2, averaged ("mean"), summed ("sum") or element-wise ("none")."""

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.mse_loss(prediction, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1], logs clamped at -100 as in PyTorch."""

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.binary_cross_entropy(prediction, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(logits), computed stably from the logits."""

    def forward(self, logits: Matrix, target: Any) -> Matrix:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of (N, C) logits against class indices or an (N, C) matrix of
    probabilities, optionally class-weighted (`weight`, C values, kept in state_dict as PyTorch),
    with rows of class `ignore_index` left out, and smoothed towards the uniform distribution."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        if isinstance(weight, str) and weight in F.REDUCTIONS:  # the old form CrossEntropyLoss("sum")
            weight, reduction = None, weight
        super().__init__(reduction)
        self.weight = _weight_matrix(type(self).__name__, weight)
        self.ignore_index = _int(type(self).__name__, "ignore_index", ignore_index)
        self.label_smoothing = F._check_smoothing(type(self).__name__, label_smoothing)

    def forward(self, logits: Matrix, target: Any) -> Matrix:
        return F.cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of (N, C) log-probabilities (LogSoftmax's output) at each row's
    class, with optional class weights and an ignored class index, as PyTorch's NLLLoss."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = _weight_matrix(type(self).__name__, weight)
        self.ignore_index = _int(type(self).__name__, "ignore_index", ignore_index)

    def forward(self, log_probs: Matrix, target: Any) -> Matrix:
        return F.nll_loss(log_probs, target, self.weight, self.ignore_index, self.reduction)


class L1Loss(_Loss):
    """|prediction - target|, averaged ("mean"), summed ("sum") or element-wise ("none")."""

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.l1_loss(prediction, target, self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta for |d| < beta, |d| - beta / 2 beyond (d = prediction - target)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = F._check_threshold(type(self).__name__, "beta", beta, positive=False)

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.smooth_l1_loss(prediction, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 for |d| < delta, delta (|d| - delta / 2) beyond (d = prediction - target)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = F._check_threshold(type(self).__name__, "delta", delta, positive=True)

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.huber_loss(prediction, target, self.reduction, self.delta)


def _int(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _weight_matrix(op: str, weight: Any) -> Optional[Matrix]:
    """Class weights as a constant (1, C) matrix (a state_dict entry "weight", as PyTorch's buffer)."""
    if weight is None:
        return None
    if isinstance(weight, Matrix):
        values = weight.numpy()
    else:
        values = np.asarray(weight, dtype=float)
    if values.size == 0 or (values.ndim == 2 and 1 not in values.shape) or values.ndim > 2:
        raise ValueError(f"{op}: weight must hold one value per class (1-D), got shape {values.shape}")
    return Matrix(backends.current_storage().from_array(np.array(values, dtype=float).reshape(1, -1)),
                  requires_grad=False)
