"""C against the pure-Python reference, storage op by storage op. Hypothesis draws the shapes
(broadcasting pairs; 1 to 24 per dimension for the element-wise kernels, up to 130 where the C
kernels work in blocks: sums, transposes, products) and the values (conftest.fuzz_values: normals,
raw bit patterns, the IEEE specials). Exact ops agree to the bit, the sign of zero included; the
vectorised exp family within a few ulp; products within their rounding bound.
PYAUTOGRAD_FUZZ_EXAMPLES sets the cases per test (default 1000; CI runs 3000), a tenth of that for
the large shapes; every op of a test sees every case. The sanitizer build of CI runs this file."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyautograd.backends.list2d import List2D

from conftest import C_ENABLED, SPECIAL, fuzz_values

if not C_ENABLED:
    pytest.skip("C backend excluded by PYAUTOGRAD_TEST_BACKENDS", allow_module_level=True)
from pyautograd.backends.carray import CArray  # noqa: E402  (a missing build fails here)

EXAMPLES = int(os.environ.get("PYAUTOGRAD_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_LARGE = settings(FUZZ, max_examples=max(1, EXAMPLES // 10))
DIM = st.integers(1, 24)  # the element-wise kernels have no blocks
# half the draws as small, half up to 130: crossing the blocks of sums (128), transposes (32) and
# products (120), and the small products that skip packing
LARGE = DIM | st.integers(1, 130)
# scalars: the specials, the powers the pow kernel treats apart, ordinary and arbitrary floats
SCALAR = st.one_of(st.sampled_from([float(v) for v in SPECIAL] + [2, 3, -2.5, -0.5]),
                   st.floats(-5, 5), st.floats())
BINARY = ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__lt__", "__le__", "__gt__",
          "__ge__", "__eq__", "__ne__", "maximum", "minimum"]
REFLECTED = {"__add__": "__radd__", "__sub__": "__rsub__", "__mul__": "__rmul__",
             "__truediv__": "__rtruediv__", "__pow__": "__rpow__"}
REDUCTIONS = ("sum", "mean", "max", "min", "argmax", "argmin")  # REDUCE_OPS and SELECT_OPS
UNARY_ULP = {"exp": 2, "sigmoid": 4, "expm1": 0, "log": 0, "log1p": 0, "sqrt": 0, "square": 0,
             "sin": 0, "cos": 0,
             "tanh": 0, "relu": 0, "abs": 0, "sign": 0, "__neg__": 0}


def both(arr):
    return CArray.from_array(arr), List2D.from_array(arr)


def agree(c, p, what, maxulp=0):
    """C's c and Python's p: the same shape, NaNs in the same places, the same signs (of zeros
    too) and infinities, and the same finite values, or within maxulp ulp of each other."""
    c, p = c.numpy(), p.numpy()
    assert c.shape == p.shape, what
    assert np.array_equal(np.isnan(c), np.isnan(p)), what
    real = ~np.isnan(c)  # a NaN's sign bit means nothing (x86 makes 0/0 negative)
    assert np.array_equal(np.signbit(c[real]), np.signbit(p[real])), what
    if maxulp == 0:
        assert np.array_equal(c[real], p[real]), what
        return
    assert np.array_equal(c[np.isinf(c)], p[np.isinf(c)]), what
    finite = np.isfinite(c)
    tiny = np.abs(p[finite]) < np.finfo(float).tiny  # subnormals: ulps of the smallest step
    np.testing.assert_allclose(c[finite][tiny], p[finite][tiny], rtol=0, atol=maxulp * 5e-324,
                               err_msg=what)
    np.testing.assert_array_max_ulp(c[finite][~tiny], p[finite][~tiny], maxulp=maxulp)


@st.composite
def matrix(draw, shape):
    return fuzz_values(np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))), shape)


@st.composite
def single(draw, dim=DIM):
    return draw(matrix((draw(dim), draw(dim))))


@st.composite
def broadcasting(draw, first_full=False):
    """Two matrices whose shapes broadcast (each dimension n or 1); the first n x m if asked."""
    n, m = draw(DIM), draw(DIM)
    shapes = [(draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1]))) for _ in range(2)]
    if first_full:
        shapes[0] = (n, m)
    return tuple(draw(matrix(shape)) for shape in shapes)


@FUZZ
@given(arrays=broadcasting(), s=SCALAR)
def test_binary(arrays, s):
    (ca, pa), (cb, pb) = both(arrays[0]), both(arrays[1])
    for op in BINARY:
        agree(getattr(ca, op)(cb), getattr(pa, op)(pb), op)
        agree(getattr(ca, op)(s), getattr(pa, op)(s), f"{op} {s!r}")
        if op in REFLECTED:
            agree(getattr(ca, REFLECTED[op])(s), getattr(pa, REFLECTED[op])(s), f"{s!r} {op}")


@FUZZ
@given(a=single())
def test_unary(a):
    c, p = both(a)
    for op, ulp in UNARY_ULP.items():
        agree(getattr(c, op)(), getattr(p, op)(), op, ulp)


@FUZZ
@given(arrays=broadcasting(first_full=True), alpha=st.floats(-10, 10))
def test_in_place_and_fused(arrays, alpha):
    a, b = arrays
    full = np.broadcast_to(b, a.shape).copy()
    (c, p), (cb, pb), (cf, pf) = both(a), both(b), both(full)
    agree(c.dsigmoid(cf), p.dsigmoid(pf), "dsigmoid")
    for name, other_c, other_p in (("__iadd__", cb, pb), ("__isub__", cb, pb), ("__imul__", cb, pb),
                                   ("__iadd__", alpha, alpha), ("__imul__", alpha, alpha)):
        c, p = getattr(c, name)(other_c), getattr(p, name)(other_p)  # broadcasting into a
        agree(c, p, name)
    before = c.numpy().copy()
    c.add_scaled_(cf, alpha)
    p.add_scaled_(pf, alpha)
    # C fuses alpha * x + y into one rounding, Python rounds twice: bound by the terms' sizes
    got, want = c.numpy(), p.numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(got) & np.isfinite(want)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = 2 * np.finfo(float).eps * (np.abs(before) + np.abs(alpha * full))
        assert (np.abs(got - want)[finite] <= bound[finite]).all()
    assert np.array_equal(got[~finite & ~np.isnan(got)], want[~finite & ~np.isnan(want)])
    for name, value in (("ones_", 1.0), ("zeros_", 0.0)):
        assert (getattr(c, name)().numpy() == value).all()
    assert (c.fill_(alpha).numpy() == alpha).all()


@FUZZ_LARGE
@given(a=single(LARGE), ties=st.integers(0, 2 ** 32 - 1))
def test_reductions_and_selections_on_arrays_and_views(a, ties):
    rounded = np.random.default_rng(ties).integers(-2, 3, a.shape).astype(float)  # many ties
    for values in (a, rounded):
        c, p = both(values)
        # sums of row-major buffers run in the same order on both backends: equal to the last
        # bit; selections also on C's transposed views (a sum over one rounds in another order)
        for view_c, view_p, names in ((c, p, REDUCTIONS),
                                      (c.T, p.T, ("max", "min", "argmax", "argmin"))):
            for name in names:
                for axis in (None, 0, 1):
                    agree(getattr(view_c, name)(axis), getattr(view_p, name)(axis), f"{name}({axis})")


@FUZZ_LARGE
@given(a=single(LARGE), rows=st.booleans(), cols=st.booleans())
def test_unbroadcast_transpose_copy(a, rows, cols):
    c, p = both(a)
    target = (1 if rows else a.shape[0], 1 if cols else a.shape[1])
    agree(c.unbroadcast(*target), p.unbroadcast(*target), f"unbroadcast to {target}")
    agree(c.T, p.T, ".T")
    agree(c.copy(), p.copy(), "copy")


@FUZZ_LARGE
@given(m=LARGE, k=LARGE, n=LARGE, ta=st.booleans(), tb=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_and_accumulate(m, k, n, ta, tb, seed):
    rng = np.random.default_rng(seed)  # ordinary values: raw bit patterns make the bound infinite
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    (ca, pa), (cb, pb) = both(a), both(b)
    bound = (k + 2) * np.finfo(float).eps * (np.abs(a.T if ta else a) @ np.abs(b.T if tb else b))
    assert (np.abs(ca.matmul(cb, ta, tb).numpy() - pa.matmul(pb, ta, tb).numpy()) <= bound).all()
    start = rng.standard_normal((m, n))
    cc, pc = both(start)
    cc.add_matmul_(ca, cb, ta, tb)
    pc.add_matmul_(pa, pb, ta, tb)
    bound = bound + 2 * np.finfo(float).eps * np.abs(start)
    assert (np.abs(cc.numpy() - pc.numpy()) <= bound).all()


@FUZZ_LARGE
@given(a=single(LARGE), seed=st.integers(0, 2 ** 32 - 1))
def test_gather_scatter_reshape_cat_where(a, seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, a.shape[0], rng.integers(1, 40)).astype(np.int64)
    cols = rng.integers(0, a.shape[1], rng.integers(1, 40)).astype(np.int64)
    (c, p), (ct, pt) = both(a), both(a.T.copy())
    for x, y in ((c, p), (ct.T, pt.T)):  # a row-major buffer, and a transposed view of one
        agree(x.take(rows, cols), y.take(rows, cols), "take")
        cb, pb = both(fuzz_values(rng, (len(rows), len(cols))))
        for accumulate in (True, False):
            agree(x.copy().put_(rows, cols, cb, accumulate), y.copy().put_(rows, cols, pb, accumulate),
                  f"put_ accumulate={accumulate}")
        agree(x.reshape(1, a.size), y.reshape(1, a.size), "reshape")
        for axis in (0, 1):
            agree(type(x).cat([x, x.copy()], axis), type(y).cat([y, y.copy()], axis), f"cat {axis}")
        agree((x > 0).where(x, x * 2.0), (y > 0).where(y, y * 2.0), "where")


def test_every_pair_of_ieee_specials():
    """Each binary op on every pair of specials, exactly; exp and sigmoid exact on the specials
    whose results are special too (elsewhere within their few ulp, as test_unary checks)."""
    grid = np.array(np.meshgrid(SPECIAL, SPECIAL)).reshape(2, -1)
    (ca, pa), (cb, pb) = both(grid[:1]), both(grid[1:])
    with np.errstate(all="ignore"):
        for op in BINARY:
            agree(getattr(ca, op)(cb), getattr(pa, op)(pb), op)
    special = ~np.isfinite(grid[0]) | (grid[0] == 0) | (np.abs(grid[0]) == 1000)
    for name in ("exp", "sigmoid"):
        c, p = getattr(ca, name)().numpy()[0], getattr(pa, name)().numpy()[0]
        assert np.array_equal(c[special], p[special], equal_nan=True), name


def test_every_storage_op_is_fuzzed_here():
    """The kernels' name lists of the contract (backends/base.py) against what this file fuzzes:
    a new kernel that joins a list and not the fuzz fails here, so it cannot ship unchecked."""
    from pyautograd.backends.base import BINARY_OPS, REDUCE_OPS, SELECT_OPS, UNARY_OPS
    dunder = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div",
              "__pow__": "pow", "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge",
              "__eq__": "eq", "__ne__": "ne", "__neg__": "neg"}
    assert {dunder.get(op, op) for op in BINARY} == set(BINARY_OPS)
    assert {dunder.get(op, op) for op in UNARY_ULP} == set(UNARY_OPS)
    assert set(REDUCTIONS) == set(REDUCE_OPS) | set(SELECT_OPS)
