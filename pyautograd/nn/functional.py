"""Loss functions, as plain functions of (prediction, target); each returns a 1x1 Matrix, the
mean over all elements (PyTorch's default reduction)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..backends.base import Storage
from ..matrix import Matrix, _accumulate, _accumulate_matmul, _lift, _node

LOG_FLOOR = -100.0  # PyTorch clamps BCE's logarithms here, so predictions of 0 and 1 stay finite
BCE_EPSILON = 1e-12  # and floors p(1 - p) at this in BCE's gradient


def _dual(*operands: Any) -> bool:
    """True when forward mode's dual numbers are among the operands (see pyautograd.forward)."""
    return any(getattr(m, "_takes_over_matrix_ops", False) for m in operands)


def _check_same_shape(op: str, prediction: Matrix, target: Matrix) -> None:
    if prediction.shape != target.shape:
        raise ValueError(f"{op}: prediction {prediction.shape} and target {target.shape} "
                         "must have the same shape")


def linear(x: Matrix, weight: Matrix, bias: Optional[Matrix] = None) -> Matrix:
    """Y = X W^T + b as one node: no transposed copy of W, no separate add node.

    dL/dX = dL/dY W,  dL/dW = dL/dY^T X,  dL/db = the column sums of dL/dY."""
    if _dual(x, weight, bias):
        y = x @ weight.T  # forward mode's dual numbers: the same maths from the generic ops
        return y if bias is None else y + bias
    y = x.data.matmul(weight.data, trans_other=True)
    if bias is not None:
        y += bias.data  # broadcast over the rows, in place: y is ours
    result = _node(y, (x, weight) if bias is None else (x, weight, bias), "linear")
    if result.requires_grad:
        def _gradient(grad: Storage) -> None:
            if x.requires_grad:
                _accumulate_matmul(x, grad, weight.data)
            if weight.requires_grad:
                _accumulate_matmul(weight, grad, x.data, trans_a=True)
            if bias is not None and bias.requires_grad:
                _accumulate(bias, grad.unbroadcast(*bias.shape), owned=bias.shape != grad.shape)
        result._gradient = _gradient
    return result


def mse_loss(prediction: Matrix, target: Any) -> Matrix:
    """mean((prediction - target)^2) as one node; dL/dprediction = 2 (prediction - target) / N."""
    if _dual(prediction, target):
        return ((prediction - target) ** 2).mean()  # forward mode's dual numbers
    target = _lift(target)
    _check_same_shape("mse_loss", prediction, target)
    diff = prediction.data - target.data
    result = _node((diff * diff).mean(), (prediction, target), "mse_loss")
    if result.requires_grad:
        count = float(diff.nrow * diff.ncol)

        def _gradient(grad: Storage) -> None:
            scale = 2.0 * grad.item() / count
            if prediction.requires_grad:
                _accumulate(prediction, diff, owned=False, scale=scale)
            if target.requires_grad:
                _accumulate(target, diff, owned=False, scale=-scale)
        result._gradient = _gradient
    return result


def binary_cross_entropy(prediction: Matrix, target: Any) -> Matrix:
    """-mean(y log p + (1 - y) log(1 - p)) for probabilities p, with each log clamped at -100.

    dL/dp = (p - y) / max(p (1 - p), 1e-12) / N, exactly PyTorch's rule, so a prediction of
    exactly 0 or 1 gives a finite loss and a finite gradient."""
    target = _lift(target)
    _check_same_shape("binary_cross_entropy", prediction, target)
    p, y = prediction.data, target.data
    log_p = p.log().maximum(LOG_FLOOR)
    log_1mp = (1.0 - p).log().maximum(LOG_FLOOR)
    loss = -(y * log_p + (1.0 - y) * log_1mp).mean()
    result = _node(loss, (prediction, target), "binary_cross_entropy")
    if result.requires_grad:
        count = float(p.nrow * p.ncol)

        def _gradient(grad: Storage) -> None:
            if prediction.requires_grad:
                scale = grad.item() / count
                _accumulate(prediction, (p - y) / (p * (1.0 - p)).maximum(BCE_EPSILON), scale=scale)
            if target.requires_grad:
                _accumulate(target, log_1mp - log_p, scale=grad.item() / count)
        result._gradient = _gradient
    return result


def binary_cross_entropy_with_logits(logits: Matrix, target: Any) -> Matrix:
    """BCE of sigmoid(z), computed stably: mean(max(z, 0) - z y + log(1 + e^-|z|)).

    dL/dz = (sigmoid(z) - y) / N; finite at logits of ±1e4 and beyond."""
    target = _lift(target)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    z, y = logits.data, target.data
    loss = (z.relu() - z * y + ((-z.abs()).exp() + 1.0).log()).mean()
    result = _node(loss, (logits, target), "binary_cross_entropy_with_logits")
    if result.requires_grad:
        count = float(z.nrow * z.ncol)

        def _gradient(grad: Storage) -> None:
            if logits.requires_grad:
                _accumulate(logits, z.sigmoid() - y, scale=grad.item() / count)
            if target.requires_grad:
                _accumulate(target, z, owned=False, scale=-grad.item() / count)
        result._gradient = _gradient
    return result


def one_hot(classes: Any, num_classes: int, like: Matrix) -> Matrix:
    """Class indices (a list or 1-D array of ints) as an (N, num_classes) 0/1 matrix."""
    indices = np.asarray(classes)
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: class targets must be a 1-D list or array of ints, got "
                        f"shape {indices.shape} of dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"cross_entropy: class indices must lie in [0, {num_classes}), got "
                         f"{indices.min()}..{indices.max()}")
    hot = np.zeros((indices.size, num_classes))
    hot[np.arange(indices.size), indices] = 1.0
    return Matrix(type(like.data).from_array(hot), requires_grad=False)


def cross_entropy(logits: Matrix, target: Any) -> Matrix:
    """-mean over rows of log_softmax(logits)[row, class]: logits (N, C); target class indices
    (N ints) or a one-hot / probability (N, C) Matrix. dL/dz = (softmax(z) - target) / N."""
    n, c = logits.shape
    if isinstance(target, Matrix):
        hot = target
    else:
        hot = one_hot(target, c, logits)
    if hot.shape != (n, c):
        raise ValueError(f"cross_entropy: logits {logits.shape} need {n} targets "
                         f"(or an ({n}, {c}) matrix), got {hot.shape[0]}"
                         + ("" if isinstance(target, Matrix) else " class indices"))
    return -(hot * logits.log_softmax(1)).sum() / float(n)
