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
from ..matrix import Matrix, _lift, apply, minimum
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


def _class_weight(op: str, weight: Any, c: int, like: Matrix) -> Optional[Matrix]:
    """A class weight (C numbers: a list, a 1-D array, a (1, C) or (C, 1) matrix) as a constant
    (1, C) Matrix, or None. A Matrix is reshaped, not read, so it stays usable in ag.compile."""
    if weight is None:
        return None
    if isinstance(weight, Matrix):
        if sorted(weight.shape) != [1, c]:
            raise ValueError(f"{op}: weight must hold one value per class ({c}), got a Matrix of "
                             f"shape {weight.shape}")
        return (weight if weight.shape == (1, c) else weight.reshape(1, c)).detach()
    values = np.asarray(weight, dtype=float).ravel()
    if values.size != c:
        raise ValueError(f"{op}: weight must hold one value per class ({c}), got {values.size}")
    return Matrix(type(like.data).from_array(values.reshape(1, c)), requires_grad=False)


def _input_name(op: str) -> str:
    return "logits" if op == "cross_entropy" else "log-probabilities"


def _index_targets(op: str, target: Any, n: int, c: int, ignore_index: int,
                   like: Matrix) -> Tuple[Matrix, Optional[Matrix], int]:
    """(one-hot (n, c) with ignored rows all zero, an (n, 1) 0/1 mask of the kept rows or None
    when every row counts, the number of kept rows) for class-index targets."""
    indices = np.asarray(target)
    if indices.ndim == 2 and indices.shape[1] == 1:
        indices = indices.ravel()
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: class targets must be a 1-D list or array of ints, got "
                        f"shape {indices.shape} of dtype {indices.dtype}")
    if indices.size != n:
        raise ValueError(f"{op}: {_input_name(op)} {(n, c)} need {n} targets (or an ({n}, {c}) "
                         f"matrix), got {indices.size} class indices")
    kept = indices != ignore_index
    used = indices[kept]
    if used.size and (used.min() < 0 or used.max() >= c):
        raise ValueError(f"{op}: class indices must lie in [0, {c}), got {used.min()}.."
                         f"{used.max()} (ignore_index={ignore_index} marks rows to skip)")
    hot = np.zeros((n, c))
    hot[np.flatnonzero(kept), used] = 1.0
    cls = type(like.data)
    mask = None if kept.all() else Matrix(cls.from_array(kept.reshape(n, 1).astype(float)), False)
    return Matrix(cls.from_array(hot), requires_grad=False), mask, int(kept.sum())


def _check_smoothing(op: str, label_smoothing: Any) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise InputRangeError(f"{op}: label_smoothing must be between 0.0 and 1.0, got "
                              f"{label_smoothing!r}")
    return float(label_smoothing)


def _weighted_nll(op: str, log_probs: Matrix, target: Any, weight: Any, ignore_index: int,
                  reduction: str, label_smoothing: float) -> Matrix:
    """-sum over classes of q * w * log_probs per row, reduced as PyTorch's nll_loss and
    cross_entropy: q the one-hot target (or an (N, C) matrix of probabilities) smoothed towards
    uniform, w the class weights; "mean" divides by the summed weights of the kept rows' classes
    (by N for probability targets), ignored rows count zero."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index must be an integer, got {type(ignore_index).__name__} "
                        f"{ignore_index!r} (reduction and label_smoothing go by keyword)")
    n, c = log_probs.shape
    w = _class_weight(op, weight, c, log_probs)
    if isinstance(target, Matrix) and target.shape == (n, 1) and c > 1:
        # class indices as an (N, 1) matrix: one-hot by kernels, so a compiled step takes them
        hot = index_one_hot(target, c)
        q = hot if w is None else hot * w
        denominator = float(n) if w is None else q.sum()
        if label_smoothing:
            spread = label_smoothing / c if w is None else w * (label_smoothing / c)
            q = q * (1.0 - label_smoothing) + spread
    elif isinstance(target, Matrix):
        if target.shape != (n, c):
            raise ValueError(f"{op}: {_input_name(op)} {(n, c)} need {n} targets (or an ({n}, "
                             f"{c}) matrix), got {target.shape}")
        q = target
        if label_smoothing:
            q = q * (1.0 - label_smoothing) + label_smoothing / c
        if w is not None:
            q = q * w
        denominator: Any = float(n)
    else:
        hot, kept, count = _index_targets(op, target, n, c, ignore_index, log_probs)
        q = hot if w is None else hot * w
        denominator = float(count) if w is None else q.sum()
        if label_smoothing:
            spread = label_smoothing / c if w is None else w * (label_smoothing / c)
            if kept is not None:
                spread = kept * spread
            q = q * (1.0 - label_smoothing) + spread
    per_row = -(q * log_probs).sum(1)
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.sum() / denominator


def cross_entropy(logits: Matrix, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Matrix:
    """-sum over classes of q * log_softmax(logits) per row, with q the target: class indices
    (N ints, or an (N, 1) int array) or an (N, C) matrix of probabilities, mixed with the uniform
    distribution as q (1 - label_smoothing) + label_smoothing / C, and each class scaled by
    `weight` (C values). Rows whose class is `ignore_index` count zero. "mean" averages over the
    rows (weighted by their class's weight, as PyTorch), "none" returns the (N, 1) per-row
    losses. dL/dz = softmax(z) - q (/ N for the mean) without weights."""
    op = "cross_entropy"
    if isinstance(weight, str) and weight in REDUCTIONS:  # the old positional form (x, t, "sum")
        weight, reduction = None, weight
    check_reduction(op, reduction)
    smoothing = _check_smoothing(op, label_smoothing)
    logits = as_input(logits, op)
    return _weighted_nll(op, logits.log_softmax(1), target, weight, ignore_index, reduction,
                         smoothing)


def nll_loss(log_probs: Matrix, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Matrix:
    """The negative log-likelihood -w[y] log_probs[i, y] of each row's class y (N ints), from
    (N, C) log-probabilities (log_softmax's output); "mean" divides by the summed weights of
    the rows not ignored, as PyTorch."""
    op = "nll_loss"
    check_reduction(op, reduction)
    return _weighted_nll(op, as_input(log_probs, op), target, weight, ignore_index, reduction, 0.0)


def _reduce(values: Matrix, reduction: str) -> Matrix:
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


def l1_loss(prediction: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """|prediction - target|, reduced; the gradient at equal values is 0, as PyTorch."""
    check_reduction("l1_loss", reduction)
    prediction, target = _same_shape_target("l1_loss", prediction, target)
    return _reduce((prediction - target).abs(), reduction)


def _check_threshold(op: str, name: str, value: Any, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (value > 0.0 if positive else value >= 0.0) or value == float("inf"):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{op}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)


# Both piecewise losses are written with minimum (no where, whose kernel ag.compile does not
# replay): with c = min(|d|, t), 0.5 c^2 + t (|d| - c) is 0.5 d^2 below t and t (|d| - t / 2)
# beyond, and at |d| = t minimum's split gradient gives t sign(d), PyTorch's value there.
def smooth_l1_loss(prediction: Matrix, target: Any, reduction: str = "mean",
                   beta: float = 1.0) -> Matrix:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere, d = prediction - target
    (beta = 0 gives l1_loss)."""
    op = "smooth_l1_loss"
    check_reduction(op, reduction)
    beta = _check_threshold(op, "beta", beta, positive=False)
    prediction, target = _same_shape_target(op, prediction, target)
    size = (prediction - target).abs()
    if beta == 0.0:
        return _reduce(size, reduction)
    inner = minimum(size, beta)  # |d| below beta, beta beyond: the quadratic part's argument
    return _reduce(inner * inner * (0.5 / beta) + (size - inner), reduction)


def huber_loss(prediction: Matrix, target: Any, reduction: str = "mean",
               delta: float = 1.0) -> Matrix:
    """0.5 d^2 where |d| < delta, delta (|d| - delta / 2) elsewhere, d = prediction - target."""
    op = "huber_loss"
    check_reduction(op, reduction)
    delta = _check_threshold(op, "delta", delta, positive=True)
    prediction, target = _same_shape_target(op, prediction, target)
    size = (prediction - target).abs()
    inner = minimum(size, delta)
    return _reduce(inner * inner * 0.5 + (size - inner) * delta, reduction)


def relu(x: Matrix) -> Matrix:
    """max(x, 0)."""
    return as_input(x, "relu").relu()


def sigmoid(x: Matrix) -> Matrix:
    """1 / (1 + e^-x)."""
    return as_input(x, "sigmoid").sigmoid()


def tanh(x: Matrix) -> Matrix:
    """The hyperbolic tangent."""
    return as_input(x, "tanh").tanh()


def softmax(x: Matrix, dim: Optional[int] = None) -> Matrix:
    """exp(x) / sum(exp(x)) along dim (1, each row, when None: PyTorch's choice for 2-D)."""
    return as_input(x, "softmax").softmax(1 if dim is None else dim)


def log_softmax(x: Matrix, dim: Optional[int] = None) -> Matrix:
    """log(softmax(x)) along dim (1 when None), computed stably."""
    return as_input(x, "log_softmax").log_softmax(1 if dim is None else dim)


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
