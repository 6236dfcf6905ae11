"""Loss modules: callables wrapping the functions of pyautograd.nn.functional."""
from __future__ import annotations

from typing import Any

from ..matrix import Matrix
from . import functional as F
from .modules import Module


class MSELoss(Module):
    """mean((prediction - target)^2)."""

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.mse_loss(prediction, target)


class BCELoss(Module):
    """Binary cross-entropy of probabilities, logs clamped at -100 as in PyTorch."""

    def forward(self, prediction: Matrix, target: Any) -> Matrix:
        return F.binary_cross_entropy(prediction, target)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of sigmoid(logits), computed stably from the logits."""

    def forward(self, logits: Matrix, target: Any) -> Matrix:
        return F.binary_cross_entropy_with_logits(logits, target)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of (N, C) logits against class indices or an (N, C) matrix."""

    def forward(self, logits: Matrix, target: Any) -> Matrix:
        return F.cross_entropy(logits, target)
