"""The rule table: every differentiable op, defined once.

A row (`Rule`) holds an op's value, its reverse rule (vjp), its forward rule (jvp) and its
formula for `explain()`. `Matrix`, forward mode, higher-order derivatives and `explain()` all
read these rows; nothing else in the library knows how to differentiate an op.

The value function takes the operands' storages (or plain numbers) and the op's parameters and
returns a storage. The reverse rule is the lecture's closure written once:

    vjp(grad, out, needs, *operands, *params) -> one gradient per operand (None where not needed)

`grad` is dL/dY, `out` is Y, `needs[i]` says whether operand i wants a gradient. During an
ordinary `backward()` every value is a storage and the rule runs on the kernels directly; for
derivatives of derivatives (`ag.grad(ag.grad(f))`, `hessian`, `hvp`) the same rule runs on
`Matrix` values, so that the gradient it computes is itself recorded and differentiable. A rule
therefore uses only what storages and matrices share (arithmetic, `@`, `.T`, comparisons,
`exp`, `log`, `sum`, ...) and the small helpers below that dispatch on the two (`expand`,
`scatter`, `select`, ...).

The forward rule is derived from the row's kind, not written again:
- ELEMENTWISE: every local derivative is diagonal, so the tangent is the sum over operands of
  vjp(tangent_i)[i] (the reverse rule applied to the tangent), broadcast to the output's shape;
- LINEAR: the op is linear in its operands, so the tangent is the op applied to the tangents;
- REDUCED: an element-wise loss followed by its reduction (mean, sum or none): the element-wise
  tangent, reduced;
- OTHER: the row gives `jvp(tangents, out, *operands, *params)` itself (None where an operand
  has no tangent), or has none and forward mode raises NotImplementedError naming it.

`reads[i]` lists what operand i's gradient reads (operand positions, -1 for the output): an op
records the versions of those values, and backward refuses to run after they changed in place.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .backends.base import Storage, as_scalar
from .backends.recording import capturing

ELEMENTWISE, LINEAR, REDUCED, OTHER = "elementwise", "linear", "reduced", "other"
OUT = -1  # in `reads`: the op's own output

LOG_FLOOR = -100.0  # PyTorch clamps BCE's logarithms here, so predictions of 0 and 1 stay finite
BCE_EPSILON = 1e-12  # and floors p(1 - p) at this in BCE's gradient
NORMAL_DENSITY = 1.0 / math.sqrt(2.0 * math.pi)  # phi(x) = e^(-x^2/2) / sqrt(2 pi)


class Rule:
    """One op: value, reverse rule, forward rule (derived from `kind` or given), formula."""

    __slots__ = ("name", "value", "vjp", "jvp", "kind", "formula", "reads", "_reads_for",
                 "elementwise_vjp", "reads_one", "reads_two", "doc")

    def __init__(self, name: str, value: Callable[..., Storage], vjp: Callable[..., Tuple],
                 kind: str, formula: str, reads: Sequence[Sequence[int]] = (),
                 jvp: Optional[Callable[..., Any]] = None, doc: str = "") -> None:
        if kind not in (ELEMENTWISE, LINEAR, REDUCED, OTHER):
            raise ValueError(f"rule {name!r}: unknown kind {kind!r}")
        self.name, self.value, self.vjp, self.kind = name, value, vjp, kind
        self.elementwise_vjp = vjp
        if kind == REDUCED:  # the value and reverse rule of the element-wise loss, reduced
            self.value, self.vjp = _reducing(value), _reducing_vjp(vjp)
        reads = tuple(tuple(r) for r in reads)
        # () when no gradient reads anything: the op then records no versions at all
        self.reads = reads if any(reads) else ()
        self.formula, self.jvp, self.doc = formula, jvp, doc
        self._reads_for: Dict[Tuple[bool, ...], Tuple[int, ...]] = {}
        self.reads_one = self.reads_for((True,))  # what a one-operand op reads
        # ... and a two-operand one, indexed by needs[0] + 2 * needs[1]
        self.reads_two = tuple(self.reads_for((bool(i & 1), bool(i & 2))) for i in range(4))

    def reads_for(self, needs: Tuple[bool, ...]) -> Tuple[int, ...]:
        """The values the gradients in `needs` read (cached per combination)."""
        found = self._reads_for.get(needs)
        if found is None:
            found = tuple(sorted({r for i, need in enumerate(needs) if need and i < len(self.reads)
                                  for r in self.reads[i]}))
            self._reads_for[needs] = found
        return found

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.kind})"


RULES: Dict[str, Rule] = {}


def _reducing(value: Callable[..., Storage]) -> Callable[..., Storage]:
    """value(*operands, reduction): the element-wise values, reduced."""
    def reduced(*args: Any) -> Storage:
        return reduce(value(*args[:-1]), args[-1])
    return reduced


def _reducing_vjp(vjp: Callable[..., Tuple]) -> Callable[..., Tuple]:
    """The reverse rule of a reduced loss: the upstream gradient of every element is the
    loss's own (divided by the count for a mean), broadcast by the element-wise rule."""
    def reduced_vjp(g: Any, out: Any, n: Tuple[bool, ...], *args: Any) -> Tuple:
        *operands, reduction = args
        if reduction != "none" and isinstance(g, Storage) and not capturing():
            g = g.item()  # a number: the rule then scales by it with the scalar kernels
        if reduction == "mean":
            g = g / float(operands[0].shape[0] * operands[0].shape[1])
        return vjp(g, out, n, *operands)
    return reduced_vjp


def rule(name: str, value: Callable[..., Storage], vjp: Callable[..., Tuple], kind: str,
         formula: str, reads: Sequence[Sequence[int]] = (),
         jvp: Optional[Callable[..., Any]] = None, doc: str = "") -> Rule:
    """Define the op `name` (once: a second definition is an error) and return its row."""
    if name in RULES:
        raise ValueError(f"rule {name!r} is defined twice")
    RULES[name] = row = Rule(name, value, vjp, kind, formula, reads, jvp, doc)
    return row


# The element-wise functions that are Matrix methods (m.sqrt(), m.exp(), ...): Matrix gets one
# method per row of this list, named after it, documented by its `doc` and formula.
METHODS: List[Rule] = []


def method_rule(name: str, vjp: Callable[..., Tuple], formula: str, reads: Sequence[Sequence[int]],
                doc: str) -> Rule:
    """An element-wise function of one matrix, computed by the storage method `name` (the
    kernel), differentiated by `vjp`, and offered as the Matrix method `name`."""
    row = rule(name, method(name), vjp, ELEMENTWISE, formula, reads, doc=doc)
    METHODS.append(row)
    return row


# -- helpers that work on storages and on matrices alike ------------------------------------------
# A rule calls these where a storage method and a Matrix method would differ; on a Matrix they
# apply a row of this table, so that what they compute stays differentiable.

def _apply(row: Rule, operands: Tuple[Any, ...], params: Tuple[Any, ...] = ()) -> Any:
    """Apply a row to operands of which at least one is a Matrix: through that matrix's class
    (`Matrix.apply_rule`, the engine), which stands above this table."""
    for o in operands:
        engine = getattr(type(o), "apply_rule", None)
        if engine is not None:
            return engine(row, operands, params)
    raise TypeError(f"{row.name}: expected a Matrix operand, got "
                    f"{[type(o).__name__ for o in operands]}")


def expand(g: Any, shape: Tuple[int, int]) -> Any:
    """g broadcast up to `shape` (the backward of a sum over broadcast dimensions)."""
    if isinstance(g, Storage):
        nrow, ncol = shape
        if g.nrow == nrow and g.ncol == ncol:
            return g
        if g.nrow == 1 and g.ncol == 1:
            return type(g).full(nrow, ncol, g.item())
        return type(g).zeros(nrow, ncol) + g
    if g.shape == shape:
        return g
    return _apply(EXPAND, (g,), (tuple(shape),))


def unbroadcast(g: Any, shape: Tuple[int, int]) -> Any:
    """g summed over the dimensions that broadcasting expanded `shape` to."""
    if g.shape == shape:
        return g
    if isinstance(g, Storage):
        return g.unbroadcast(*shape)
    return _apply(UNBROADCAST, (g,), (tuple(shape),))


def fit(g: Any, shape: Tuple[int, int]) -> Any:
    """g made `shape`: summed where broadcasting expanded, broadcast where it is smaller."""
    if g.shape[0] >= shape[0] and g.shape[1] >= shape[1]:
        return unbroadcast(g, shape)
    return unbroadcast(expand(g, (max(g.shape[0], shape[0]), max(g.shape[1], shape[1]))), shape)


def scatter(g: Any, rows: np.ndarray, cols: np.ndarray, shape: Tuple[int, int]) -> Any:
    """A zero matrix of `shape` with g added at (rows, cols) (repeated places add up)."""
    if isinstance(g, Storage):
        return type(g).zeros(*shape).put_(rows, cols, g, True)
    return _apply(SCATTER, (g,), (rows, cols, tuple(shape)))


def take(g: Any, rows: np.ndarray, cols: np.ndarray) -> Any:
    """The block g[rows][:, cols]."""
    return g.take(rows, cols) if isinstance(g, Storage) else _apply(GETITEM, (g,), (rows, cols))


def select(cond: Any, a: Any, b: Any) -> Any:
    """a where cond is non-zero, else b (a and b may be numbers); cond is a constant mask."""
    mask = cond if isinstance(cond, Storage) else cond.data
    numbers = type(a) is float and type(b) is float
    if isinstance(a, Storage) or isinstance(b, Storage) or numbers:
        cls = type(a) if isinstance(a, Storage) else (type(b) if isinstance(b, Storage) else type(mask))
        a = a if isinstance(a, Storage) else cls.full(1, 1, as_scalar(a, "where"))
        b = b if isinstance(b, Storage) else cls.full(1, 1, as_scalar(b, "where"))
        return mask.where(a, b)
    return _apply(WHERE, (a, b), (mask,))


def maximum(a: Any, b: Any) -> Any:
    return a.maximum(b) if isinstance(a, Storage) else _apply(MAXIMUM, (a, b))


def sign(x: Any) -> Any:
    """-1, 0 or 1: piecewise constant, so a constant on matrices too (its derivative is 0)."""
    if isinstance(x, Storage):
        return x.sign()
    return type(x)(x.data.sign(), requires_grad=False)


def product(a: Any, b: Any, like: Any, trans_a: bool = False, trans_b: bool = False) -> Any:
    """op(a) @ op(b) (op transposes where asked) for the gradient of `like`. On storages the
    flags go to the kernel (no transposed copy), and the result is stored column-major when
    like's values are a transposed view (`W.T`), so that the view's own backward hands W a
    row-major gradient with no copy either."""
    if isinstance(a, Storage):
        if like.transposed:
            return a.matmul_transposed(b, trans_a, trans_b)
        return a.matmul(b, trans_a, trans_b)
    return (a.T if trans_a else a) @ (b.T if trans_b else b)


def convert(g: Any, cls: type) -> Any:
    """g as a storage of class `cls`: another backend, or another dtype (overflow to inf)."""
    if isinstance(g, Storage):
        if type(g) is cls:
            return g
        if g.backend_name == cls.backend_name:  # a change of dtype: the kernels' own rounding
            return g.astype(cls.dtype)
        return cls.from_array(g.numpy())
    return g if type(g.data) is cls else _apply(TO, (g,), (cls, type(g.data)))


def method(name: str) -> Callable[[Storage], Storage]:
    """The value function `lambda a: a.name()`, without a Python frame per call."""
    return operator.methodcaller(name)


def _count(shape: Tuple[int, int], axis: Optional[int]) -> float:
    return float(shape[0] * shape[1] if axis is None else shape[axis])


# -- arithmetic ---------------------------------------------------------------------------------

ADD = rule("add", operator.add,
           lambda g, out, n, a, b: (g if n[0] else None, g if n[1] else None),
           LINEAR, "dY/dA = 1, dY/dB = 1 (summed over broadcast dimensions)", ((), ()))

SUB = rule("sub", operator.sub,
           lambda g, out, n, a, b: (g if n[0] else None, -g if n[1] else None),
           LINEAR, "dY/dA = 1, dY/dB = -1 (summed over broadcast dimensions)", ((), ()))

NEG = rule("neg", operator.neg, lambda g, out, n, a: (-g,), LINEAR, "dY/dA = -1", ((),))

MUL = rule("mul", operator.mul,
           lambda g, out, n, a, b: (g * b if n[0] else None, g * a if n[1] else None),
           ELEMENTWISE, "dY/dA = B, dY/dB = A (a number factor s: dY/dA = s)", ((1,), (0,)))

DIV = rule("div", operator.truediv,
           lambda g, out, n, a, b: (g / b if n[0] else None, -g * out / b if n[1] else None),
           ELEMENTWISE, "dY/dA = 1/B, dY/dB = -A/B^2 = -Y/B (s/A: dY/dA = -Y/A)",
           ((1,), (1, OUT)))


def _pow_vjp(g: Any, out: Any, n: Tuple[bool, ...], x: Any, p: Any) -> Tuple[Any, Any]:
    """d(x^p)/dx = p x^(p-1) (0 where p = 0); d(x^p)/dp = x^p log x (0 where x = 0 and p >= 0),
    PyTorch's conventions at those points."""
    dx = dp = None
    if n[0]:
        if type(p) is float:  # a number exponent
            dx = g * (x * 2.0) if p == 2.0 else (g * (x ** (p - 1.0) * p) if p != 0.0 else g * 0.0)
        else:
            dx = g * select(p == 0.0, 0.0, p * x ** (p - 1.0))
    if n[1]:
        log_x = x.log() if hasattr(x, "shape") else _log_number(x)  # a number base: s ** p
        dp = g * select((x == 0.0) * (p >= 0.0), 0.0, out * log_x)
    return dx, dp


def _log_number(s: float) -> float:
    """log s as IEEE 754 gives it: -inf at 0, NaN below."""
    return math.log(s) if s > 0.0 else (-math.inf if s == 0.0 else math.nan)


POW = rule("pow", operator.pow, _pow_vjp, ELEMENTWISE,
           "Y = A^p: dY/dA = p A^(p-1); a matrix exponent B: dY/dB = A^B log A",
           ((0, 1), (0, 1, OUT)))

# -- products and shapes ------------------------------------------------------------------------


def _matmul_jvp(t: Sequence[Any], out: Any, a: Any, b: Any) -> Any:
    """d(A @ B) = dA @ B + A @ dB."""
    ta, tb = t
    if ta is None:
        return a @ tb
    return ta @ b if tb is None else ta @ b + a @ tb


MATMUL = rule("matmul", operator.matmul,
              lambda g, out, n, a, b: (product(g, b, a, trans_b=True) if n[0] else None,
                                       product(a, g, b, trans_a=True) if n[1] else None),
              OTHER, "Y = X @ W: dL/dX = dL/dY @ W^T, dL/dW = X^T @ dL/dY", ((1,), (0,)),
              jvp=_matmul_jvp)

TRANSPOSE = rule("transpose", operator.attrgetter("T"), lambda g, out, n, a: (g.T,), LINEAR,
                 "Y = A^T: dL/dA = (dL/dY)^T", ((),))

SUM = rule("sum", lambda a, axis: a.sum(axis),
           lambda g, out, n, a, axis: (expand(g, a.shape),),
           LINEAR, "dY/dA = 1 for every summed entry", ((),))

MEAN = rule("mean", lambda a, axis: a.mean(axis),
            lambda g, out, n, a, axis: (expand(g / _count(a.shape, axis), a.shape),),
            LINEAR, "dY/dA = 1/N for each of the N averaged entries", ((),))


def _extreme_vjp(g: Any, out: Any, n: Tuple[bool, ...], x: Any, axis: Optional[int]) -> Tuple:
    """The gradient goes to the extreme values, shared evenly among ties (a NaN wins it all)."""
    winners = (x == out) + (x != x)
    return (winners * (g / winners.sum(axis)),)


def _extreme_jvp(t: Sequence[Any], out: Any, x: Any, axis: Optional[int]) -> Any:
    """The mean tangent of the tied extremes, as the reverse rule shares the gradient."""
    winners = (x == out) + (x != x)
    return (winners * t[0]).sum(axis) / winners.sum(axis)


MAX = rule("max", lambda a, axis: a.max(axis), _extreme_vjp, OTHER,
           "dY/dA = 1 at the maximum (shared among ties), 0 elsewhere", ((0, OUT),), _extreme_jvp)
MIN = rule("min", lambda a, axis: a.min(axis), _extreme_vjp, OTHER,
           "dY/dA = 1 at the minimum (shared among ties), 0 elsewhere", ((0, OUT),), _extreme_jvp)

GETITEM = rule("getitem", lambda a, rows, cols: a.take(rows, cols),
               lambda g, out, n, a, rows, cols: (scatter(g, rows, cols, a.shape),), LINEAR,
               "Y = A[rows, cols]: dL/dA = dL/dY scattered back to the selected places "
               "(repeats add up)", ((),))

SCATTER = rule("scatter", lambda g, rows, cols, shape: scatter(g, rows, cols, shape),
               lambda gg, out, n, g, rows, cols, shape: (take(gg, rows, cols),), LINEAR,
               "Y = zeros with A added at (rows, cols): dL/dA = dL/dY[rows, cols]", ((),))

RESHAPE = rule("reshape", lambda a, nrow, ncol: a.reshape(nrow, ncol),
               lambda g, out, n, a, nrow, ncol: (g.reshape(*a.shape),), LINEAR,
               "Y = A laid out anew: dL/dA = dL/dY reshaped back", ((),))
FLATTEN = rule("flatten", RESHAPE.value, RESHAPE.vjp, LINEAR,
               "Y = A as one row: dL/dA = dL/dY reshaped back", ((),))


def _cat_value(*parts_and_axis: Any) -> Storage:
    *parts, axis = parts_and_axis
    return type(parts[0]).cat(list(parts), axis)


def _cat_vjp(g: Any, out: Any, n: Tuple[bool, ...], *parts_and_axis: Any) -> Tuple:
    """Each input gets its block of the upstream gradient."""
    *parts, axis = parts_and_axis
    grads, start = [], 0
    for part, need in zip(parts, n):
        size = part.shape[axis]
        span = np.arange(start, start + size, dtype=np.int64)
        whole = np.arange(part.shape[1 - axis], dtype=np.int64)
        grads.append(take(g, *((span, whole) if axis == 0 else (whole, span))) if need else None)
        start += size
    return tuple(grads)


CAT = rule("cat", _cat_value, _cat_vjp, LINEAR, "Y = [A, B, ...]: each input gets its block of dL/dY")

UNBROADCAST = rule("unbroadcast", lambda a, shape: a.unbroadcast(*shape),
                   lambda g, out, n, a, shape: (expand(g, a.shape),), LINEAR,
                   "Y = A summed over broadcast dimensions: dL/dA = dL/dY broadcast back", ((),))
EXPAND = rule("expand", lambda a, shape: expand(a, shape),
              lambda g, out, n, a, shape: (unbroadcast(g, a.shape),), LINEAR,
              "Y = A broadcast to a larger shape: dL/dA = dL/dY summed back", ((),))

TO = rule("to", lambda a, cls, home: convert(a, cls),
          lambda g, out, n, a, cls, home: (convert(g, home),), LINEAR,
          "a change of backend or dtype: dY/dA = 1", ((),))

# -- element-wise functions -------------------------------------------------------------------

SQRT = method_rule("sqrt", lambda g, y, n, a: (g / (y * 2.0),),
                   "Y = sqrt(A): dY/dA = 1/(2 sqrt(A)) = 1/(2Y)", ((OUT,),), "The square root.")
SQUARE = method_rule("square", lambda g, y, n, a: (g * (a * 2.0),), "Y = A^2: dY/dA = 2A",
                     ((0,),), "x * x.")
LOG1P = method_rule("log1p", lambda g, y, n, a: (g / (a + 1.0),),
                    "Y = log(1 + A): dY/dA = 1/(1 + A)", ((0,),), "log(1 + x), accurate near 0.")
EXPM1 = method_rule("expm1", lambda g, y, n, a: (g * (y + 1.0),), "Y = e^A - 1: dY/dA = e^A = Y + 1",
                    ((OUT,),), "e^x - 1, accurate near 0.")
EXP = method_rule("exp", lambda g, y, n, a: (g * y,), "Y = e^A: dY/dA = e^A = Y", ((OUT,),),
                  "e^x; its derivative is itself.")
LOG = method_rule("log", lambda g, y, n, a: (g / a,), "Y = log A: dY/dA = 1/A", ((0,),),
                  "The natural logarithm (-inf at 0, NaN below, as IEEE 754).")
SIGMOID = method_rule("sigmoid", lambda g, y, n, a: (y.dsigmoid(g),),
                      "A = sigma(Z): dA/dZ = sigma(Z)(1 - sigma(Z)) = A(1 - A)", ((OUT,),),
                      "sigma(z) = 1 / (1 + e^-z), computed so that it never overflows.")
DSIGMOID = rule("dsigmoid", lambda y, g: y.dsigmoid(g),
                lambda gg, out, n, y, g: (gg * g * (1.0 - y * 2.0) if n[0] else None,
                                          y.dsigmoid(gg) if n[1] else None),
                ELEMENTWISE, "Y = A(1 - A) G: dY/dA = (1 - 2A) G, dY/dG = A(1 - A)", ((0, 1), (0,)))
TANH = method_rule("tanh", lambda g, y, n, a: ((1.0 - y * y) * g,), "Y = tanh A: dY/dA = 1 - Y^2",
                   ((OUT,),), "The hyperbolic tangent.")
RELU = method_rule("relu", lambda g, y, n, a: ((a > 0.0) * g,),
                   "Y = max(A, 0): dY/dA = 1 where A > 0, else 0", ((0,),),
                   "max(x, 0); the derivative is 0 at x = 0, as PyTorch's.")
ABS = method_rule("abs", lambda g, y, n, a: (sign(a) * g,), "Y = |A|: dY/dA = sign(A)", ((0,),),
                  "|x|; the derivative is 0 at x = 0, as PyTorch's.")

SIN = method_rule("sin", lambda g, y, n, a: (g * a.cos(),), "Y = sin A: dY/dA = cos A", ((0,),),
                  "The sine (libm's, on both backends).")
COS = method_rule("cos", lambda g, y, n, a: (-(g * a.sin()),), "Y = cos A: dY/dA = -sin A",
                  ((0,),), "The cosine (libm's, on both backends).")
CLONE = rule("clone", lambda a: a.copy(), lambda g, out, n, a: (g,), LINEAR,
             "Y = a copy of A: dY/dA = 1", ((),))


def clamped(x: Any, low: Optional[float], high: Optional[float]) -> Any:
    """min(max(x, low), high), element-wise (NaN stays NaN)."""
    if low is None and high is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    out = x if low is None else x.maximum(as_scalar(low, "clamp"))
    return out if high is None else out.minimum(as_scalar(high, "clamp"))


def clamp_mask(x: Any, low: Optional[float], high: Optional[float]) -> Any:
    """1 where low <= x <= high (the bounds included, as PyTorch), else 0: clamp's derivative."""
    if low is None:
        return x <= as_scalar(high, "clamp")
    mask = x >= as_scalar(low, "clamp")
    return mask if high is None else mask * (x <= as_scalar(high, "clamp"))


CLAMP = rule("clamp", clamped, lambda g, y, n, a, low, high: (clamp_mask(a, low, high) * g,),
             ELEMENTWISE, "Y = min(max(A, lo), hi): dY/dA = 1 where lo <= A <= hi, else 0", ((0,),))

WHERE = rule("where", lambda a, b, cond: select(cond, a, b),
             lambda g, out, n, a, b, cond: (select(cond, g, 0.0) if n[0] else None,
                                            select(cond, 0.0, g) if n[1] else None),
             LINEAR, "Y = A where C else B: dY/dA = C, dY/dB = 1 - C", ((), ()))


def tie_weights(x: Any, y: Any, largest: bool) -> Any:
    """x's share of the gradient of maximum(x, y) (largest) or minimum(x, y): 1 where x wins,
    0 where y wins, 1/2 on ties, as PyTorch; 1 when either is NaN (PyTorch's masks then pass it)."""
    loses = (x < y) if largest else (x > y)
    return 1.0 - loses - (x == y) * 0.5


def _extremum_rule(name: str, largest: bool, formula: str) -> Rule:
    def vjp(g: Any, out: Any, n: Tuple[bool, ...], a: Any, b: Any) -> Tuple:
        return (g * tie_weights(a, b, largest) if n[0] else None,
                g * tie_weights(b, a, largest) if n[1] else None)
    return rule(name, lambda a, b: getattr(a, name)(b), vjp, ELEMENTWISE, formula, ((0, 1), (0, 1)))


MAXIMUM = _extremum_rule("maximum", True,
                         "Y = max(A, B): dY/dA = 1 where A > B, 1/2 where A = B, else 0 (B alike)")
MINIMUM = _extremum_rule("minimum", False,
                         "Y = min(A, B): dY/dA = 1 where A < B, 1/2 where A = B, else 0 (B alike)")


def _leaky_factor(x: Any, slope: float) -> Any:
    positive = x > 0.0
    return positive + (1.0 - positive) * slope


LEAKY_RELU = rule("leaky_relu", lambda a, slope: a * _leaky_factor(a, slope),
                  lambda g, y, n, a, slope: (g * _leaky_factor(a, slope),), ELEMENTWISE,
                  "Y = A where A > 0, else s A: dY/dA = 1 or s (s at 0)", ((0,),))

_erf = np.frompyfunc(math.erf, 1, 1)


def _normal_cdf(x: Storage) -> Storage:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, from Python's math.erf over a NumPy copy (the storages
    have no erf kernel; within an ulp of PyTorch's)."""
    values = x.numpy()
    return type(x).from_array(0.5 * (1.0 + _erf(values * math.sqrt(0.5)).astype(np.float64)))


def normal_pdf(x: Any) -> Any:
    """phi(x) = e^(-x^2/2) / sqrt(2 pi), from the differentiable ops."""
    return (x * x * -0.5).exp() * NORMAL_DENSITY


NORMAL_CDF = rule("normal_cdf", _normal_cdf, lambda g, y, n, a: (g * normal_pdf(a),), ELEMENTWISE,
                  "Y = Phi(A), the normal distribution function: dY/dA = phi(A)", ((0,),))

# -- fused nodes: one node where composing the ops would make several --------------------------


def _linear_value(x: Storage, w: Storage, b: Optional[Storage] = None) -> Storage:
    y = x.matmul(w, trans_other=True)
    if b is not None:
        y += b  # broadcast over the rows, in place: y is ours
    return y


def _linear_vjp(g: Any, out: Any, n: Tuple[bool, ...], x: Any, w: Any, b: Any = None) -> Tuple:
    grads = (product(g, w, x) if n[0] else None, product(g, x, w, trans_a=True) if n[1] else None)
    return grads + ((unbroadcast(g, b.shape) if n[2] else None,) if b is not None else ())


def _linear_jvp(t: Sequence[Any], out: Any, x: Any, w: Any, b: Any = None) -> Any:
    """d(X W^T + b) = dX W^T + X dW^T + db."""
    parts = []
    if t[0] is not None:
        parts.append(t[0] @ w.T)
    if t[1] is not None:
        parts.append(x @ t[1].T)
    if len(t) > 2 and t[2] is not None:
        parts.append(t[2])
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


LINEAR_LAYER = rule("linear", _linear_value, _linear_vjp, OTHER,
                    "Y = X W^T + b: dL/dX = dL/dY @ W, dL/dW = dL/dY^T @ X, dL/db = column sums "
                    "of dL/dY", ((1,), (0,), ()), _linear_jvp)


def _mse_vjp(g: Any, out: Any, n: Tuple[bool, ...], p: Any, t: Any) -> Tuple:
    diff, g2 = p - t, g * 2.0
    return (diff * g2 if n[0] else None, diff * -g2 if n[1] else None)


MSE_LOSS = rule("mse_loss", lambda p, t: (p - t).square(), _mse_vjp, REDUCED,
                "L = mean((P - T)^2): dL/dP = 2 (P - T)/N", ((0, 1), (0, 1)))


def _bce_logs(p: Any) -> Tuple[Any, Any]:
    """log p and log(1 - p), each clamped at -100 as PyTorch does."""
    return maximum(p.log(), LOG_FLOOR), maximum((1.0 - p).log(), LOG_FLOOR)


def _bce_value(p: Storage, y: Storage) -> Storage:
    log_p, log_1mp = _bce_logs(p)
    return -(y * log_p + (1.0 - y) * log_1mp)


def _bce_vjp(g: Any, out: Any, n: Tuple[bool, ...], p: Any, y: Any) -> Tuple:
    """dL/dp = (p - y) / max(p (1 - p), 1e-12), exactly PyTorch's rule; dL/dy = log(1-p) - log p."""
    dp = dy = None
    if n[0]:
        dp = g * ((p - y) / maximum(p * (1.0 - p), BCE_EPSILON))
    if n[1]:
        log_p, log_1mp = _bce_logs(p)
        dy = g * (log_1mp - log_p)
    return dp, dy


BCE = rule("binary_cross_entropy", _bce_value, _bce_vjp, REDUCED,
           "L = -mean(T log P + (1 - T) log(1 - P)): dL/dP = (P - T)/(P(1 - P))/N", ((0, 1), (0,)))

BCE_WITH_LOGITS = rule(
    "binary_cross_entropy_with_logits",
    lambda z, y: z.relu() - z * y + ((-z.abs()).exp() + 1.0).log(),
    lambda g, out, n, z, y: (g * (z.sigmoid() - y) if n[0] else None, g * -z if n[1] else None),
    REDUCED, "L = BCE(sigma(Z), T): dL/dZ = (sigma(Z) - T)/N", ((0, 1), (0,)))

REDUCTIONS = ("mean", "sum", "none")


def reduce(values: Any, reduction: str) -> Any:
    """A REDUCED row's element-wise values reduced as asked."""
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()
