"""The functional forms of the layers and losses. Each loss returns a 1x1 Matrix, the mean
over all elements (PyTorch's default), or with reduction="sum" the sum, or with
reduction="none" the element-wise (per-row for cross-entropy) losses."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import backends, ops
from ..backends.base import Storage, as_scalar
from ..backends.recording import capturing, check_zero, random_draw
from ..factories import random_offset
from ..matrix import Matrix, _lift, apply
from ..ops import REDUCTIONS


def _check_same_shape(op: str, prediction: Matrix, target: Matrix) -> None:
    if prediction.shape != target.shape:
        raise ValueError(f"{op}: prediction {prediction.shape} and target {target.shape} "
                         "must have the same shape")


def linear(x: Matrix, weight: Matrix, bias: Optional[Matrix] = None) -> Matrix:
    """Y = X W^T + b as one node (the row "linear" of pyautograd.ops): no transposed copy of W,
    no separate add node. dL/dX = dL/dY W, dL/dW = dL/dY^T X, dL/db = the column sums of dL/dY."""
    return apply(ops.LINEAR_LAYER, (x, weight) if bias is None else (x, weight, bias))


class InputRangeError(ValueError, RuntimeError):
    """A loss's input lies outside its domain (BCE's probabilities outside [0, 1]).

    Both a ValueError and, as PyTorch raises it, a RuntimeError."""


def check_reduction(op: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _same_shape_target(op: str, prediction: Any, target: Any) -> Tuple[Matrix, Matrix]:
    prediction = as_input(prediction, op)
    target = _lift(target)
    _check_same_shape(op, prediction, target)
    return prediction, target


def mse_loss(prediction: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """(prediction - target)^2, averaged (or summed) over all elements unless reduction="none".
    dL/dprediction = 2 (prediction - target) (/ N for the mean)."""
    check_reduction("mse_loss", reduction)
    prediction, target = _same_shape_target("mse_loss", prediction, target)
    return apply(ops.MSE_LOSS, (prediction, target), (reduction,))


def _check_unit_interval(op: str, what: str, values: Storage) -> None:
    """PyTorch's BCE check: every element (NaN fails too) must lie in [0, 1]. While
    pyautograd.compile records, the count of values outside is computed by kernels, so that a
    replayed step checks it too (and raises after the step, which then ran in one C call)."""
    if capturing():
        outside = ((values < 0.0) + (values > 1.0) + (values != values)).sum()
        check_zero(outside, lambda: InputRangeError(
            f"{op}: all elements of {what} should be between 0 and 1 (shape {values.shape}); "
            "found by a compiled step, after it ran"))
        return
    arr = values.numpy()
    inside = (arr >= 0.0) & (arr <= 1.0)
    if not inside.all():
        bad = arr[~inside].ravel()[0]
        raise InputRangeError(f"{op}: all elements of {what} should be between 0 and 1, got "
                              f"{bad!r} (shape {values.shape})")


def binary_cross_entropy(prediction: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p, with each log clamped at -100.

    dL/dp = (p - y) / max(p (1 - p), 1e-12), exactly PyTorch's rule, so a prediction of
    exactly 0 or 1 gives a finite loss and a finite gradient. Predictions and targets outside
    [0, 1] raise InputRangeError (a ValueError and a RuntimeError, which PyTorch raises)."""
    op = "binary_cross_entropy"
    check_reduction(op, reduction)
    prediction, target = _same_shape_target(op, prediction, target)
    _check_unit_interval(op, "input", prediction.data)
    _check_unit_interval(op, "target", target.data)
    return apply(ops.BCE, (prediction, target), (reduction,))


def binary_cross_entropy_with_logits(logits: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """BCE of sigmoid(z), computed stably: max(z, 0) - z y + log(1 + e^-|z|).

    dL/dz = sigmoid(z) - y; finite at logits of ±1e4 and beyond."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    logits, target = _same_shape_target(op, logits, target)
    return apply(ops.BCE_WITH_LOGITS, (logits, target), (reduction,))


def one_hot(classes: Any, num_classes: int, like: Any) -> Matrix:
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


def index_one_hot(target: Matrix, num_classes: int) -> Matrix:
    """An (N, 1) matrix of class indices (integer values) as an (N, num_classes) 0/1 matrix,
    computed by kernels (a comparison with the row 0..C-1), so that a compiled step takes
    class-index targets; a row whose value is not an integer in [0, C) raises, also after a
    replay (check_zero)."""
    values = target.data
    classes = type(values).from_array(np.arange(num_classes, dtype=np.float64)[None, :])
    hot = values == classes
    n = target.shape[0]
    check_zero((hot.sum(axis=1) != 1.0).sum(), lambda: InputRangeError(
        f"cross_entropy: an ({n}, 1) target holds class indices, which must be whole numbers "
        f"in [0, {num_classes}) for logits of {num_classes} classes; some row's is not"))
    return Matrix(hot, requires_grad=False)


def cross_entropy(logits: Matrix, target: Any, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Matrix:
    """-sum over classes of q * log_softmax(logits) per row, with q the target: class indices
    (N ints, or an (N, 1) matrix of whole numbers when C > 1) or an (N, C) matrix of
    probabilities, mixed with the uniform distribution as
    q (1 - label_smoothing) + label_smoothing / C. "mean" averages over the N rows, "none"
    returns the (N, 1) per-row losses. dL/dz = softmax(z) - q (/ N for the mean)."""
    op = "cross_entropy"
    check_reduction(op, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise InputRangeError(f"{op}: label_smoothing must be between 0.0 and 1.0, got "
                              f"{label_smoothing!r}")
    logits = as_input(logits, op)
    n, c = logits.shape
    if isinstance(target, Matrix) and target.shape == (n, 1) and c > 1:
        hot = index_one_hot(target, c)
    elif isinstance(target, Matrix):
        hot = target
    else:
        hot = one_hot(target, c, logits)
    if hot.shape != (n, c):
        got = (f"a {hot.shape[0]}x{hot.shape[1]} matrix" if isinstance(target, Matrix)
               else f"{hot.shape[0]} class indices")
        raise ValueError(f"cross_entropy: logits {logits.shape} need {n} targets: class "
                         f"indices (a list or an ({n}, 1) matrix) or an ({n}, {c}) matrix of "
                         f"probabilities; got {got}")
    if label_smoothing:
        hot = hot * (1.0 - label_smoothing) + label_smoothing / c
    per_row = -(hot * logits.log_softmax(1)).sum(1)
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.sum() / float(n)


def as_input(x: Any, op: str) -> Matrix:
    """A layer's input as a Matrix: matrices pass through; NumPy arrays, nested lists and
    numbers become constant matrices on the current backend; anything else is a TypeError
    naming the layer."""
    if isinstance(x, Matrix):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float, np.number)) and not isinstance(x, bool):
        return Matrix(backends.current_storage().from_values(x, op), requires_grad=False)
    raise TypeError(f"{op}: expected a pyautograd Matrix (or a NumPy array / nested list of "
                    f"numbers), got {type(x).__name__}")


def leaky_relu(x: Matrix, negative_slope: float = 0.01) -> Matrix:
    """x where x > 0, negative_slope * x elsewhere; the derivative is 1 or negative_slope
    (negative_slope at 0, as PyTorch)."""
    slope = as_scalar(negative_slope, "leaky_relu")
    return apply(ops.LEAKY_RELU, (as_input(x, "leaky_relu"),), (slope,))


def gelu(x: Matrix) -> Matrix:
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact (not tanh-approximated) GELU, with Phi
    the row "normal_cdf" of pyautograd.ops; d/dx = Phi(x) + x phi(x)."""
    x = as_input(x, "gelu")
    return x * apply(ops.NORMAL_CDF, (x,))


def dropout(x: Matrix, p: float = 0.5, training: bool = True,
            rng: Optional[np.random.Generator] = None) -> Matrix:
    """Zero each element with probability p and scale the others by 1 / (1 - p) (inverted
    dropout: the expected value is unchanged), in training; the identity otherwise. The mask
    comes from `rng` (a NumPy generator), or else from the counter-based stream that
    pyautograd.manual_seed() seeds, drawn by a kernel so that a compiled step draws afresh."""
    check_probability("dropout", p)
    x = as_input(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if rng is not None:  # a NumPy generator of the caller's: drawn in Python (compile refuses)
        random_draw(f"dropout of a {x.shape[0]}x{x.shape[1]} matrix with rng=")
        keep = rng.random(x.shape) >= p
        mask = Matrix(type(x.data).from_array(keep / (1.0 - p)), requires_grad=False)
        return x * mask
    n, m = x.shape  # the library's stream, drawn by a kernel (a compiled step redraws it)
    keep = type(x.data).random_mask(n, m, p, random_offset(n * m))
    keep *= 1.0 / (1.0 - p)
    return x * Matrix(keep, requires_grad=False)


def check_probability(op: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)
