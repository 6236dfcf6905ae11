"""The op table: one row per differentiable op, driving the forward, gradient, PyTorch and parity
tests. Each row names the op, its input shapes, the pyautograd call, the NumPy reference, the
PyTorch reference, and the domain its inputs are drawn from (kept away from kinks and poles)."""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np


def _np_softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis=1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _torch_max(x, axis):
    return x.amax(dim=axis, keepdim=True)


def _ag():
    import pyautograd
    return pyautograd


def _torch():
    import torch
    return torch


def _positions(a):
    """Row positions as a Matrix of floats, on a's backend: rows 1, 1, 0."""
    ag = _ag()
    with ag.backend(a.backend):
        return ag.mat([[1.0, 1.0, 0.0]], requires_grad=False)


def _round_trip(a):
    """a on another backend and back (the row "to" both ways), with an op in between."""
    import pyautograd.backends as backends
    other = "python" if a.backend != "python" else ("c" if backends.c_available() else "python")
    return a.to(other).exp().to(a.backend)


def _F():
    return _ag().nn.functional


def _tF():
    return _torch().nn.functional


def _scalar(t):
    """A torch loss (0-d) as the 1x1 pyautograd gives."""
    return t.reshape(1, 1)


CLASSES = [1, 0, 3]  # cross-entropy's class targets for a (3, 4) input


def _np_bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _np_bce_logits(z, y):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _np_cross_entropy(z, classes=CLASSES):
    return -_np_log_softmax(z)[np.arange(len(classes)), classes].mean(keepdims=True).reshape(1, 1)


def _np_gelu(x):
    from math import erf
    return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


@dataclass(frozen=True)
class Op:
    name: str
    shapes: Tuple[Tuple[int, int], ...]
    fn: Callable  # pyautograd matrices -> Matrix
    ref: Callable  # numpy arrays -> array
    torch: Optional[Callable]  # torch tensors -> tensor
    domain: str = "any"  # "any", "positive" (0.5..2), "nonzero" (|x| in 0.5..2), "unit" (0.1..0.9)

    def __str__(self):
        return self.name


OPS = [
    Op("add", ((3, 4), (3, 4)), lambda a, b: a + b, np.add, lambda a, b: a + b),
    Op("add_row", ((3, 4), (1, 4)), lambda a, b: a + b, np.add, lambda a, b: a + b),
    Op("add_col_row", ((3, 1), (1, 4)), lambda a, b: a + b, np.add, lambda a, b: a + b),
    Op("add_1x1", ((1, 1), (3, 4)), lambda a, b: a + b, np.add, lambda a, b: a + b),
    Op("sub_col", ((3, 4), (3, 1)), lambda a, b: a - b, np.subtract, lambda a, b: a - b),
    Op("mul_row", ((1, 4), (3, 4)), lambda a, b: a * b, np.multiply, lambda a, b: a * b),
    Op("div_col", ((3, 4), (3, 1)), lambda a, b: a / b, np.divide, lambda a, b: a / b, "nonzero"),
    Op("add_scalar", ((3, 4),), lambda a: a + 2.5, lambda a: a + 2.5, lambda a: a + 2.5),
    Op("radd_scalar", ((3, 4),), lambda a: 2.5 + a, lambda a: 2.5 + a, lambda a: 2.5 + a),
    Op("sub_scalar", ((3, 4),), lambda a: a - 1.5, lambda a: a - 1.5, lambda a: a - 1.5),
    Op("rsub_scalar", ((3, 4),), lambda a: 1.5 - a, lambda a: 1.5 - a, lambda a: 1.5 - a),
    Op("mul_scalar", ((3, 4),), lambda a: a * -3.0, lambda a: a * -3.0, lambda a: a * -3.0),
    Op("rmul_scalar", ((3, 4),), lambda a: 3 * a, lambda a: 3 * a, lambda a: 3 * a),
    Op("div_scalar", ((3, 4),), lambda a: a / 4.0, lambda a: a / 4.0, lambda a: a / 4.0),
    Op("rdiv_scalar", ((3, 4),), lambda a: 2.0 / a, lambda a: 2.0 / a, lambda a: 2.0 / a, "nonzero"),
    Op("neg", ((3, 4),), lambda a: -a, np.negative, lambda a: -a),
    Op("pow2", ((3, 4),), lambda a: a ** 2, lambda a: a ** 2, lambda a: a ** 2),
    Op("pow3", ((3, 4),), lambda a: a ** 3, lambda a: a ** 3, lambda a: a ** 3),
    Op("pow_half", ((3, 4),), lambda a: a ** 0.5, np.sqrt, lambda a: a ** 0.5, "positive"),
    Op("pow_minus1", ((3, 4),), lambda a: a ** -1, lambda a: a ** -1.0, lambda a: a ** -1, "nonzero"),
    Op("matmul", ((3, 4), (4, 5)), lambda a, b: a @ b, np.matmul, lambda a, b: a @ b),
    Op("matmul_vec", ((5, 3), (3, 1)), lambda a, b: a @ b, np.matmul, lambda a, b: a @ b),
    Op("transpose", ((3, 4),), lambda a: a.T, lambda a: a.T, lambda a: a.T),
    Op("sum", ((3, 4),), lambda a: a.sum(), lambda a: a.sum(keepdims=True), lambda a: a.sum().reshape(1, 1)),
    Op("sum0", ((3, 4),), lambda a: a.sum(0), lambda a: a.sum(0, keepdims=True), lambda a: a.sum(0, keepdim=True)),
    Op("sum1", ((3, 4),), lambda a: a.sum(1), lambda a: a.sum(1, keepdims=True), lambda a: a.sum(1, keepdim=True)),
    Op("mean", ((3, 4),), lambda a: a.mean(), lambda a: a.mean(keepdims=True), lambda a: a.mean().reshape(1, 1)),
    Op("mean0", ((3, 4),), lambda a: a.mean(0), lambda a: a.mean(0, keepdims=True), lambda a: a.mean(0, keepdim=True)),
    Op("mean1", ((3, 4),), lambda a: a.mean(1), lambda a: a.mean(1, keepdims=True), lambda a: a.mean(1, keepdim=True)),
    Op("max", ((3, 4),), lambda a: a.max(), lambda a: a.max(keepdims=True), lambda a: a.amax().reshape(1, 1)),
    Op("max0", ((3, 4),), lambda a: a.max(0).values, lambda a: a.max(0, keepdims=True), lambda a: _torch_max(a, 0)),
    Op("max1", ((3, 4),), lambda a: a.max(1).values, lambda a: a.max(1, keepdims=True), lambda a: _torch_max(a, 1)),
    Op("max_axis1", ((3, 4),), lambda a: a.max(axis=1), lambda a: a.max(1, keepdims=True),
       lambda a: _torch_max(a, 1)),
    Op("exp", ((3, 4),), lambda a: a.exp(), np.exp, lambda a: a.exp()),
    Op("log", ((3, 4),), lambda a: a.log(), np.log, lambda a: a.log(), "positive"),
    Op("sigmoid", ((3, 4),), lambda a: a.sigmoid(), _np_sigmoid, lambda a: a.sigmoid()),
    Op("tanh", ((3, 4),), lambda a: a.tanh(), np.tanh, lambda a: a.tanh()),
    Op("relu", ((3, 4),), lambda a: a.relu(), lambda a: np.maximum(a, 0), lambda a: a.relu(), "nonzero"),
    Op("abs", ((3, 4),), lambda a: a.abs(), np.abs, lambda a: a.abs(), "nonzero"),
    Op("softmax", ((3, 4),), lambda a: a.softmax(1), _np_softmax, lambda a: a.softmax(1)),
    Op("softmax0", ((3, 4),), lambda a: a.softmax(0), lambda a: _np_softmax(a, 0), lambda a: a.softmax(0)),
    Op("log_softmax", ((3, 4),), lambda a: a.log_softmax(1), _np_log_softmax, lambda a: a.log_softmax(1)),
    # indexing and shapes (issue 12)
    Op("getitem_row", ((3, 4),), lambda a: a[1], lambda a: a[1:2], lambda a: a[1:2]),
    Op("getitem_neg_col", ((3, 4),), lambda a: a[:, -1], lambda a: a[:, -1:], lambda a: a[:, -1:]),
    Op("getitem_pair", ((3, 4),), lambda a: a[2, 1], lambda a: a[2:3, 1:2], lambda a: a[2:3, 1:2]),
    Op("getitem_steps", ((5, 4),), lambda a: a[::2, 1::2], lambda a: a[::2, 1::2],
       lambda a: a[::2, 1::2]),
    Op("getitem_gather", ((3, 4),), lambda a: a[[2, 0, 2, -1]], lambda a: a[[2, 0, 2, -1]],
       lambda a: a[[2, 0, 2, -1]]),
    Op("getitem_gather_cols", ((3, 4),), lambda a: a[1:, np.array([3, 3, 0])],
       lambda a: a[1:, [3, 3, 0]], lambda a: a[1:, [3, 3, 0]]),
    Op("getitem_squared", ((3, 4),), lambda a: a[[2, 0, 2]].square(), lambda a: a[[2, 0, 2]] ** 2,
       lambda a: a[[2, 0, 2]].square()),
    Op("getitem_matrix", ((3, 4),), lambda a: a[_positions(a)], lambda a: a[[1, 1, 0]],
       lambda a: a[[1, 1, 0]]),
    Op("reshape", ((3, 4),), lambda a: a.reshape(2, -1), lambda a: a.reshape(2, 6),
       lambda a: a.reshape(2, 6)),
    Op("reshape_transposed", ((3, 4),), lambda a: a.T.reshape(-1, 2), lambda a: a.T.reshape(6, 2),
       lambda a: a.T.reshape(6, 2)),
    Op("flatten", ((3, 4),), lambda a: a.flatten(), lambda a: a.reshape(1, 12),
       lambda a: a.reshape(1, 12)),
    Op("cat0", ((2, 4), (3, 4)), lambda a, b: _ag().cat([a, b, a]), lambda a, b: np.concatenate([a, b, a]),
       lambda a, b: _torch().cat([a, b, a])),
    Op("cat1", ((3, 2), (3, 1)), lambda a, b: _ag().cat([a, b], dim=-1),
       lambda a, b: np.concatenate([a, b], 1), lambda a, b: _torch().cat([a, b], 1)),
    # more math (issue 12)
    Op("sqrt", ((3, 4),), lambda a: a.sqrt(), np.sqrt, lambda a: a.sqrt(), "positive"),
    Op("square", ((3, 4),), lambda a: a.square(), np.square, lambda a: a.square()),
    Op("log1p", ((3, 4),), lambda a: a.log1p(), np.log1p, lambda a: a.log1p(), "positive"),
    Op("expm1", ((3, 4),), lambda a: a.expm1(), np.expm1, lambda a: a.expm1()),
    # the tensor API a port reaches for (issue 22)
    Op("sin", ((3, 4),), lambda a: a.sin(), np.sin, lambda a: a.sin()),
    Op("cos", ((3, 4),), lambda a: a.cos(), np.cos, lambda a: a.cos()),
    Op("clone", ((3, 4),), lambda a: a.clone() * a, lambda a: a * a, lambda a: a.clone() * a),
    Op("clamp", ((3, 4),), lambda a: a.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7),
       lambda a: a.clamp(-0.5, 0.7)),
    Op("clamp_min", ((3, 4),), lambda a: a.clamp(min=0.1), lambda a: np.maximum(a, 0.1),
       lambda a: a.clamp(min=0.1)),
    Op("where", ((3, 4), (1, 4)), lambda a, b: _ag().where(a > 0, a, b),
       lambda a, b: np.where(a > 0, a, b), lambda a, b: _torch().where(a > 0, a, b)),
    Op("where_number", ((3, 4),), lambda a: _ag().where(a < 0, 0.5, a),
       lambda a: np.where(a < 0, 0.5, a), lambda a: _torch().where(a < 0, 0.5, a)),
    Op("maximum", ((3, 4), (3, 1)), lambda a, b: _ag().maximum(a, b), np.maximum,
       lambda a, b: _torch().maximum(a, b)),
    Op("minimum", ((1, 4), (3, 4)), lambda a, b: _ag().minimum(a, b), np.minimum,
       lambda a, b: _torch().minimum(a, b)),
    Op("min", ((3, 4),), lambda a: a.min(), lambda a: a.min(keepdims=True),
       lambda a: a.amin().reshape(1, 1)),
    Op("min0", ((3, 4),), lambda a: a.min(dim=-2).values, lambda a: a.min(0, keepdims=True),
       lambda a: a.amin(dim=0, keepdim=True)),
    Op("min1", ((3, 4),), lambda a: a.min(-1).values, lambda a: a.min(1, keepdims=True),
       lambda a: a.amin(dim=1, keepdim=True)),
    Op("pow_matrix", ((3, 4), (1, 4)), lambda a, b: a ** b, np.power, lambda a, b: a ** b, "positive"),
    Op("rpow", ((3, 4),), lambda a: 2.0 ** a, lambda a: 2.0 ** a, lambda a: 2.0 ** a),
    Op("sum_neg_axis", ((3, 4),), lambda a: a.sum(-1), lambda a: a.sum(1, keepdims=True),
       lambda a: a.sum(-1, keepdim=True)),
    Op("softmax_dim", ((3, 4),), lambda a: a.softmax(dim=-2), lambda a: _np_softmax(a, 0),
       lambda a: a.softmax(0)),
    Op("composite", ((3, 4), (4, 2)), lambda a, b: ((a @ b).sigmoid() * 2 - (a @ b).tanh()).mean(0),
       lambda a, b: (_np_sigmoid(a @ b) * 2 - np.tanh(a @ b)).mean(0, keepdims=True),
       lambda a, b: ((a @ b).sigmoid() * 2 - (a @ b).tanh()).mean(0, keepdim=True)),
    # the fused nodes of nn.functional: rows of the rule table like any other op
    Op("linear", ((3, 4), (2, 4), (1, 2)), lambda x, w, b: _F().linear(x, w, b),
       lambda x, w, b: x @ w.T + b, lambda x, w, b: _tF().linear(x, w, b.reshape(-1))),
    Op("linear_no_bias", ((3, 4), (2, 4)), lambda x, w: _F().linear(x, w),
       lambda x, w: x @ w.T, lambda x, w: _tF().linear(x, w)),
    Op("mse_loss", ((3, 4), (3, 4)), lambda p, t: _F().mse_loss(p, t),
       lambda p, t: ((p - t) ** 2).mean(keepdims=True), lambda p, t: _scalar(_tF().mse_loss(p, t))),
    Op("mse_loss_sum", ((3, 4), (3, 4)), lambda p, t: _F().mse_loss(p, t, reduction="sum"),
       lambda p, t: ((p - t) ** 2).sum(keepdims=True),
       lambda p, t: _scalar(_tF().mse_loss(p, t, reduction="sum"))),
    Op("mse_loss_none", ((3, 4), (3, 4)), lambda p, t: _F().mse_loss(p, t, reduction="none"),
       lambda p, t: (p - t) ** 2, lambda p, t: _tF().mse_loss(p, t, reduction="none")),
    Op("binary_cross_entropy", ((3, 4), (3, 4)), lambda p, y: _F().binary_cross_entropy(p, y),
       lambda p, y: _np_bce(p, y).mean(keepdims=True),
       lambda p, y: _scalar(_tF().binary_cross_entropy(p, y)), "unit"),
    Op("binary_cross_entropy_none", ((3, 4), (3, 4)),
       lambda p, y: _F().binary_cross_entropy(p, y, reduction="none"), _np_bce,
       lambda p, y: _tF().binary_cross_entropy(p, y, reduction="none"), "unit"),
    Op("bce_with_logits", ((3, 4), (3, 4)), lambda z, y: _F().binary_cross_entropy_with_logits(z, y),
       lambda z, y: _np_bce_logits(z, y).mean(keepdims=True),
       lambda z, y: _scalar(_tF().binary_cross_entropy_with_logits(z, y))),
    Op("bce_with_logits_sum", ((3, 4), (3, 4)),
       lambda z, y: _F().binary_cross_entropy_with_logits(z, y, reduction="sum"),
       lambda z, y: _np_bce_logits(z, y).sum(keepdims=True),
       lambda z, y: _scalar(_tF().binary_cross_entropy_with_logits(z, y, reduction="sum"))),
    Op("cross_entropy", ((3, 4),), lambda z: _F().cross_entropy(z, CLASSES), _np_cross_entropy,
       lambda z: _scalar(_tF().cross_entropy(z, _torch().tensor(CLASSES)))),
    Op("cross_entropy_probs", ((3, 4), (3, 4)), lambda z, q: _F().cross_entropy(z, q.softmax(1)),
       lambda z, q: -(_np_softmax(q) * _np_log_softmax(z)).sum(1).mean(keepdims=True).reshape(1, 1),
       lambda z, q: _scalar(_tF().cross_entropy(z, q.softmax(1)))),
    Op("leaky_relu", ((3, 4),), lambda x: _F().leaky_relu(x, 0.1),
       lambda x: np.where(x > 0, x, 0.1 * x), lambda x: _tF().leaky_relu(x, 0.1), "nonzero"),
    Op("gelu", ((3, 4),), lambda x: _F().gelu(x), _np_gelu, lambda x: _tF().gelu(x)),
    Op("to", ((3, 4),), _round_trip, np.exp, lambda a: a.exp()),
]


def draw(rng: np.random.Generator, shape, domain: str) -> np.ndarray:
    """Random inputs for an op; 'nonzero' and 'positive' stay in 0.5..2 in magnitude, 'unit'
    (probabilities) in 0.1..0.9."""
    if domain == "any":
        return rng.standard_normal(shape)
    if domain == "unit":
        return rng.uniform(0.1, 0.9, shape)
    magnitude = rng.uniform(0.5, 2.0, shape)
    if domain == "positive":
        return magnitude
    return magnitude * rng.choice([-1.0, 1.0], shape)


def numeric_gradient(f, arrays, index, eps=1e-6):
    """Central differences of the scalar f(*arrays) with respect to arrays[index]."""
    x = arrays[index]
    grad = np.zeros_like(x)
    for ij in np.ndindex(*x.shape):
        saved = x[ij]
        x[ij] = saved + eps
        f_plus = f(*arrays)
        x[ij] = saved - eps
        f_minus = f(*arrays)
        x[ij] = saved
        grad[ij] = (f_plus - f_minus) / (2 * eps)
    return grad
