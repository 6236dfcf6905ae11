"""The functional forms of the layers and losses. Each loss returns a 1x1 Matrix, the mean
over all elements (PyTorch's default), or with reduction="sum" the sum, or with
reduction="none" the element-wise (per-row for cross-entropy) losses."""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from .. import backends
from ..backends.base import Storage, as_scalar
from ..compile import capturing, check_zero
from ..factories import generator
from ..forward import Dual
from ..matrix import Matrix, _accumulate, _accumulate_matmul, _lift, _node

LOG_FLOOR = -100.0  # PyTorch clamps BCE's logarithms here, so predictions of 0 and 1 stay finite
BCE_EPSILON = 1e-12  # and floors p(1 - p) at this in BCE's gradient
SQRT1_2 = math.sqrt(0.5)
GELU_BETA = 1.0 / math.sqrt(2.0 * math.pi)  # the normal density's constant, for GELU's derivative


def _dual(*operands: Any) -> bool:
    """True when forward mode's dual numbers are among the operands (see pyautograd.forward)."""
    return any(getattr(m, "_takes_over_matrix_ops", False) for m in operands)


def _storage_of(m: Any) -> Storage:
    """The values of a Matrix, or of forward mode's dual number."""
    return m.value if _dual(m) else m.data


def _reduce_dual(values: Any, reduction: str) -> Any:
    """A loss's element-wise dual numbers, reduced (forward mode composes the generic ops)."""
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


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
    xd, wd = x.data, weight.data  # the values backward reads, as the forward saw them
    y = xd.matmul(wd, trans_other=True)
    if bias is not None:
        y += bias.data  # broadcast over the rows, in place: y is ours
    result = _node(y, (x, weight) if bias is None else (x, weight, bias), "linear")
    if result.requires_grad:
        # dL/dX reads W and dL/dW reads X: refuse a backward after either changed in place
        read = ([wd] if x.requires_grad else []) + ([xd] if weight.requires_grad else [])
        result._saved = tuple((s._base or s, (s._base or s).version) for s in read)

        def _gradient(grad: Storage) -> None:
            if x.requires_grad:
                _accumulate_matmul(x, grad, wd)
            if weight.requires_grad:
                _accumulate_matmul(weight, grad, xd, trans_a=True)
            if bias is not None and bias.requires_grad:
                _accumulate(bias, grad.unbroadcast(*bias.shape), owned=bias.shape != grad.shape)
        result._gradient = _gradient
    return result


REDUCTIONS = ("mean", "sum", "none")


class InputRangeError(ValueError, RuntimeError):
    """A loss's input lies outside its domain (BCE's probabilities outside [0, 1]).

    Both a ValueError and, as PyTorch raises it, a RuntimeError."""


def check_reduction(op: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _loss_node(op: str, reduction: str, values: Storage, terms: Tuple[Any, ...]) -> Matrix:
    """The loss node: element-wise `values` reduced by `reduction`.

    `terms` holds (input, local, scale) triples: d(values)/d(input) = scale * local(); local()
    may return a storage that is still in use (it is never modified). With a reduction, the
    upstream gradient is a 1x1 whose value (divided by the count for "mean") folds into the
    scale, so no gradient-sized temporary is made for it."""
    check_reduction(op, reduction)
    if reduction == "none":
        out = values
    else:
        out = values.sum() if reduction == "sum" else values.mean()
    result = _node(out, tuple(t[0] for t in terms), op)
    if result.requires_grad:
        divisor = float(values.nrow * values.ncol) if reduction == "mean" else 1.0

        def _gradient(grad: Storage) -> None:
            for node, local, scale in terms:
                if not node.requires_grad:
                    continue
                if reduction == "none":
                    _accumulate(node, local() * grad, scale=scale)
                elif capturing():  # pyautograd.compile records: keep the 1x1 in a buffer,
                    # never read it in Python (the same products, so the same bits)
                    _accumulate(node, local() * (grad * scale / divisor))
                else:
                    _accumulate(node, local(), owned=False, scale=scale * grad.item() / divisor)
        result._gradient = _gradient
    return result


def _same_shape_target(op: str, prediction: Any, target: Any) -> Tuple[Matrix, Matrix]:
    prediction = as_input(prediction, op)
    target = _lift(target)
    _check_same_shape(op, prediction, target)
    return prediction, target


def mse_loss(prediction: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """(prediction - target)^2, averaged (or summed) over all elements unless reduction="none".
    dL/dprediction = 2 (prediction - target) (/ N for the mean)."""
    check_reduction("mse_loss", reduction)
    if _dual(prediction, target):  # forward mode's dual numbers
        return _reduce_dual((prediction - target) ** 2, reduction)
    prediction, target = _same_shape_target("mse_loss", prediction, target)
    diff = prediction.data - target.data
    return _loss_node("mse_loss", reduction, diff * diff,
                      ((prediction, lambda: diff, 2.0), (target, lambda: diff, -2.0)))


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
    if _dual(prediction, target):  # forward mode: the same maths, logs unclamped
        target = target if _dual(target) else _lift(target)
        _check_unit_interval(op, "input", _storage_of(prediction))
        _check_unit_interval(op, "target", _storage_of(target))
        return _reduce_dual(-(target * prediction.log() + (1.0 - target) * (1.0 - prediction).log()),
                            reduction)
    prediction, target = _same_shape_target(op, prediction, target)
    p, y = prediction.data, target.data
    _check_unit_interval(op, "input", p)
    _check_unit_interval(op, "target", y)
    log_p = p.log().maximum(LOG_FLOOR)
    log_1mp = (1.0 - p).log().maximum(LOG_FLOOR)
    loss = -(y * log_p + (1.0 - y) * log_1mp)
    return _loss_node(op, reduction, loss, (
        (prediction, lambda: (p - y) / (p * (1.0 - p)).maximum(BCE_EPSILON), 1.0),
        (target, lambda: log_1mp - log_p, 1.0)))


def binary_cross_entropy_with_logits(logits: Matrix, target: Any, reduction: str = "mean") -> Matrix:
    """BCE of sigmoid(z), computed stably: max(z, 0) - z y + log(1 + e^-|z|).

    dL/dz = sigmoid(z) - y; finite at logits of ±1e4 and beyond."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    if _dual(logits, target):  # forward mode's dual numbers
        return _reduce_dual(logits.relu() - logits * target + ((-logits.abs()).exp() + 1.0).log(),
                            reduction)
    logits, target = _same_shape_target(op, logits, target)
    z, y = logits.data, target.data
    loss = z.relu() - z * y + ((-z.abs()).exp() + 1.0).log()
    return _loss_node(op, reduction, loss,
                      ((logits, lambda: z.sigmoid() - y, 1.0), (target, lambda: z, -1.0)))


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
    return Matrix(type(_storage_of(like)).from_array(hot), requires_grad=False)


def cross_entropy(logits: Matrix, target: Any, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Matrix:
    """-sum over classes of q * log_softmax(logits) per row, with q the target: class indices
    (N ints) or an (N, C) matrix of probabilities, mixed with the uniform distribution as
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
    if isinstance(target, Matrix) or _dual(target):
        hot = target
    else:
        hot = one_hot(target, c, logits)
    if hot.shape != (n, c):
        raise ValueError(f"cross_entropy: logits {logits.shape} need {n} targets "
                         f"(or an ({n}, {c}) matrix), got {hot.shape[0]}"
                         + ("" if isinstance(target, Matrix) else " class indices"))
    if label_smoothing:
        hot = hot * (1.0 - label_smoothing) + label_smoothing / c
    per_row = -(hot * logits.log_softmax(1)).sum(1)
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.sum() / float(n)


def as_input(x: Any, op: str) -> Matrix:
    """A layer's input as a Matrix: matrices (and forward mode's duals) pass through; NumPy
    arrays, nested lists and numbers become constant matrices on the current backend;
    anything else is a TypeError naming the layer."""
    if isinstance(x, Matrix) or getattr(x, "_takes_over_matrix_ops", False):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float, np.number)) and not isinstance(x, bool):
        return Matrix(backends.current_storage().from_values(x, op), requires_grad=False)
    raise TypeError(f"{op}: expected a pyautograd Matrix (or a NumPy array / nested list of "
                    f"numbers), got {type(x).__name__}")


def leaky_relu(x: Matrix, negative_slope: float = 0.01) -> Matrix:
    """x where x > 0, negative_slope * x elsewhere; the derivative is 1 or negative_slope
    (negative_slope at 0, as PyTorch)."""
    slope = as_scalar(negative_slope, "leaky_relu")
    x = as_input(x, "leaky_relu")
    positive = _storage_of(x) > 0.0
    factor = positive + (1.0 - positive) * slope
    if _dual(x):
        return Dual(x.value * factor, x.tangent * factor)
    result = _node(x.data * factor, (x,), "leaky_relu")
    if result.requires_grad:
        def _gradient(grad: Storage) -> None:
            _accumulate(x, grad * factor)
        result._gradient = _gradient
    return result


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: Matrix) -> Matrix:
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact (not tanh-approximated) GELU;
    d/dx = Phi(x) + x phi(x). The storages have no erf kernel, so erf comes from Python's
    math.erf over a NumPy copy of the values (to within an ulp of PyTorch's erf)."""
    x = as_input(x, "gelu")
    values = _storage_of(x).numpy()
    cdf = 0.5 * (1.0 + _erf(values * SQRT1_2).astype(np.float64))
    cls = type(_storage_of(x))
    if _dual(x):
        slope = cls.from_array(cdf + values * np.exp(-0.5 * values * values) * GELU_BETA)
        return Dual(cls.from_array(values * cdf), x.tangent * slope)
    result = _node(cls.from_array(values * cdf), (x,), "gelu")
    if result.requires_grad:
        owner = _storage_of(x)._base or _storage_of(x)  # `values` views its buffer on C
        result._saved = ((owner, owner.version),)

        def _gradient(grad: Storage) -> None:
            pdf = np.exp(-0.5 * values * values) * GELU_BETA
            _accumulate(x, grad * cls.from_array(cdf + values * pdf))
        result._gradient = _gradient
    return result


def dropout(x: Matrix, p: float = 0.5, training: bool = True,
            rng: Optional[np.random.Generator] = None) -> Matrix:
    """Zero each element with probability p and scale the others by 1 / (1 - p) (inverted
    dropout: the expected value is unchanged), in training; the identity otherwise. The mask
    comes from `rng`, or from the generator that pyautograd.manual_seed() seeds."""
    check_probability("dropout", p)
    x = as_input(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = (rng if rng is not None else generator()).random(x.shape) >= p
    mask = Matrix(type(_storage_of(x)).from_array(keep / (1.0 - p)), requires_grad=False)
    return x * mask


def check_probability(op: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)
