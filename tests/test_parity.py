"""C against the pure-Python reference, storage op by storage op: random shapes from 1 to 130 per
dimension (crossing the C kernels' block sizes), broadcasting pairs, and the IEEE edge values."""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautograd.backends.list2d import List2D

if "c" not in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c").split(","):
    pytest.skip("C backend excluded by PYAUTOGRAD_TEST_BACKENDS", allow_module_level=True)
from pyautograd.backends.carray import CArray  # noqa: E402  (a missing build fails here)

DIM = st.integers(1, 130)
EDGES = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1000.0, -1000.0, 1e-300, 0.5])


def both(arr):
    return CArray.from_array(arr), List2D.from_array(arr)


def assert_same(c, p, rtol=1e-12, atol=0.0):
    assert c.shape == p.shape
    np.testing.assert_allclose(c.numpy(), p.numpy(), rtol=rtol, atol=atol, equal_nan=True)


@st.composite
def matrix(draw, shape=None, edges=False):
    shape = shape or (draw(DIM), draw(DIM))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    arr = rng.standard_normal(shape) * 3
    if edges:
        mask = rng.random(shape) < 0.3
        arr[mask] = rng.choice(EDGES, mask.sum())
    return arr


@st.composite
def broadcasting_pair(draw):
    n, m = draw(DIM), draw(DIM)
    s1 = (draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1])))
    s2 = (draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1])))
    return draw(matrix(s1, edges=True)), draw(matrix(s2, edges=True))


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__", "__lt__",
                                "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "maximum",
                                "minimum", "__pow__"])
@settings(max_examples=25, deadline=None)
@given(pair=broadcasting_pair(), s=st.sampled_from([0.0, -0.0, 2.5, -1e300, np.inf, np.nan]))
def test_binary_ops(op, pair, s):
    (ca, pa), (cb, pb) = both(pair[0]), both(pair[1])
    assert_same(getattr(ca, op)(cb), getattr(pa, op)(pb), rtol=0)
    assert_same(getattr(ca, op)(s), getattr(pa, op)(s), rtol=0)
    rop = op.replace("__", "__r", 1) if op in ("__add__", "__sub__", "__mul__", "__truediv__") else None
    if rop:
        assert_same(getattr(ca, rop)(s), getattr(pa, rop)(s), rtol=0)


@pytest.mark.parametrize("op", ["exp", "log", "tanh", "sigmoid", "relu", "abs", "sign", "__neg__",
                                "sqrt", "log1p", "expm1", "square"])
@settings(max_examples=25, deadline=None)
@given(arr=matrix(edges=True))
def test_unary_ops(op, arr):
    c, p = both(arr)
    assert_same(getattr(c, op)(), getattr(p, op)(), rtol=1e-15)


@pytest.mark.parametrize("power", [2, 3, 0.5, -1, -2.5, 0, 1, 1000])
@settings(max_examples=10, deadline=None)
@given(arr=matrix(edges=True))
def test_pow(power, arr):
    c, p = both(arr)
    assert_same(c ** power, p ** power, rtol=1e-15)


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [None, 0, 1])
@settings(max_examples=15, deadline=None)
@given(arr=matrix(), edges=matrix(edges=True))
def test_reductions(name, axis, arr, edges):
    for values in (arr, edges):
        c, p = both(values)
        # sums run in the same order on both backends: equal to the last bit
        assert_same(getattr(c, name)(axis), getattr(p, name)(axis), rtol=0)


@settings(max_examples=25, deadline=None)
@given(pair=broadcasting_pair())
def test_unbroadcast_and_transpose(pair):
    big = np.broadcast_to(pair[0], np.broadcast_shapes(pair[0].shape, pair[1].shape)).copy()
    c, p = both(big)
    assert_same(c.unbroadcast(*pair[1].shape), p.unbroadcast(*pair[1].shape), rtol=0)
    assert_same(c.T, p.T, rtol=0)


@settings(max_examples=30, deadline=None)
@given(m=DIM, k=DIM, n=DIM, ta=st.booleans(), tb=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_and_accumulate(m, k, n, ta, tb, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    (ca, pa), (cb, pb) = both(a), both(b)
    bound = 4 * k * np.finfo(float).eps * (np.abs(a.T if ta else a) @ np.abs(b.T if tb else b))
    diff = np.abs(ca.matmul(cb, ta, tb).numpy() - pa.matmul(pb, ta, tb).numpy())
    assert (diff <= bound).all()
    start = rng.standard_normal((m, n))
    (cc, pc) = both(start)
    cc.add_matmul_(ca, cb, ta, tb)
    pc.add_matmul_(pa, pb, ta, tb)
    assert (np.abs(cc.numpy() - pc.numpy()) <= bound + 4 * np.finfo(float).eps * np.abs(start)).all()


def test_in_place_updates_and_fills():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((33, 65))
    c, p = both(x)
    for other in (rng.standard_normal((33, 65)), rng.standard_normal((1, 65)),
                  rng.standard_normal((33, 1)), 2.5):
        oc, op = (both(other) if isinstance(other, np.ndarray) else (other, other))
        c += oc
        p += op
        c -= oc * 0.5 if not isinstance(oc, float) else 0.5
        p -= op * 0.5 if not isinstance(op, float) else 0.5
        assert_same(c, p, rtol=0)
    for name, expected in (("ones_", 1.0), ("zeros_", 0.0)):
        assert (getattr(c, name)().numpy() == expected).all()
    assert (c.fill_(-3.5).numpy() == -3.5).all()


def test_ieee_edges_agree_exactly():
    grid = np.array(np.meshgrid(EDGES, EDGES)).reshape(2, -1)
    (ca, pa), (cb, pb) = both(grid[:1]), both(grid[1:])
    for op in ("__add__", "__sub__", "__mul__", "__truediv__", "maximum", "minimum"):
        c, p = getattr(ca, op)(cb).numpy(), getattr(pa, op)(pb).numpy()
        assert np.array_equal(c, p, equal_nan=True)
        real = ~np.isnan(c)  # a NaN's sign bit means nothing (x86 makes 0/0 negative)
        assert np.array_equal(np.signbit(c[real]), np.signbit(p[real]))  # -0.0 stays -0.0
    special = ~np.isfinite(grid[0]) | (grid[0] == 0) | (np.abs(grid[0]) == 1000)
    for name in ("exp", "log", "tanh", "sigmoid", "relu", "abs", "sign"):
        c, p = getattr(ca, name)().numpy()[0], getattr(pa, name)().numpy()[0]
        # IEEE specials exactly; ordinary values within 2 ulp (C's exp is vectorised, not libm's)
        assert np.array_equal(c[special], p[special], equal_nan=True), name
        np.testing.assert_array_max_ulp(c[~special], p[~special], maxulp=2)
    with np.errstate(all="ignore"):
        expected = 1 / (1 + np.exp(-EDGES))
    assert np.array_equal(both(EDGES[None, :])[0].sigmoid().numpy()[0], expected, equal_nan=True)


@pytest.mark.parametrize("name", ["min", "argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1])
@settings(max_examples=15, deadline=None)
@given(edges=matrix(edges=True), ties=st.integers(0, 2 ** 32 - 1))
def test_selections(name, axis, edges, ties):
    rounded = np.random.default_rng(ties).integers(-2, 3, edges.shape).astype(float)  # many ties
    for values in (edges, rounded):
        c, p = both(values)
        assert_same(getattr(c, name)(axis), getattr(p, name)(axis), rtol=0)
        assert_same(getattr(c.T, name)(axis), getattr(p.T, name)(axis), rtol=0)  # a view


@settings(max_examples=25, deadline=None)
@given(arr=matrix(), seed=st.integers(0, 2 ** 32 - 1))
def test_gather_scatter_reshape_cat_where(arr, seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, arr.shape[0], rng.integers(1, 40)).astype(np.int64)
    cols = rng.integers(0, arr.shape[1], rng.integers(1, 40)).astype(np.int64)
    (c, p), (ct, pt) = both(arr), both(arr.T.copy())
    for a, b in ((c, p), (ct.T, pt.T)):  # a row-major buffer, and a transposed view of one
        assert_same(a.take(rows, cols), b.take(rows, cols), rtol=0)
        block = rng.standard_normal((len(rows), len(cols)))
        (cb, pb) = both(block)
        for accumulate in (True, False):
            tc, tp = a.copy(), b.copy()
            assert_same(tc.put_(rows, cols, cb, accumulate), tp.put_(rows, cols, pb, accumulate), rtol=0)
        n = arr.size
        assert_same(a.reshape(1, n), b.reshape(1, n), rtol=0)
        assert_same(type(a).cat([a, a.copy()], 0), type(b).cat([b, b.copy()], 0), rtol=0)
        assert_same(type(a).cat([a, a.copy()], 1), type(b).cat([b, b.copy()], 1), rtol=0)
        assert_same((a > 0).where(a, a * 2.0), (b > 0).where(b, b * 2.0), rtol=0)
