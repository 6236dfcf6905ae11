"""Loss modules: callables wrapping the functions of pyautograd.nn.functional."""
from __future__ import annotations

from typing import Any

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
    probabilities, optionally smoothed towards the uniform distribution."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing <= 1.0:
            raise F.InputRangeError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and "
                                    f"1.0, got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Matrix, target: Any) -> Matrix:
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)
