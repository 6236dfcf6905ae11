"""Fuzzing the C kernels against the pure-Python reference: PYAUTOGRAD_FUZZ_EXAMPLES cases per op
(default 1000; CI runs 3000), random shapes (1 to 24 per dimension, broadcasting pairs), and values drawn to
include the IEEE edges (0, -0, ±inf, nan, ±1e300, subnormals). Exact ops must agree to the bit,
the vectorised exp family within 4 ulp, products within their rounding bound. The sanitizer
build of CI runs this file too."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyautograd.backends.list2d import List2D

if "c" not in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c,verify").split(","):
    pytest.skip("C backend excluded by PYAUTOGRAD_TEST_BACKENDS", allow_module_level=True)
from pyautograd.backends.carray import CArray  # noqa: E402

EXAMPLES = int(os.environ.get("PYAUTOGRAD_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DIM = st.integers(1, 24)
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 5e-324, 1.0, -1.0, 0.5,
                    700.0, -750.0])
VALUE = st.one_of(st.sampled_from(list(SPECIAL)), st.floats(allow_nan=True, allow_infinity=True))


def _values(rng: np.random.Generator, shape) -> np.ndarray:
    """A mix: normals at several scales, raw 64-bit patterns (every kind of double, subnormals
    and NaNs included), and the special values."""
    n = shape[0] * shape[1]
    kind = rng.integers(0, 3, n)
    out = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)
    with np.errstate(invalid="ignore"):
        raw = rng.integers(0, 2 ** 63, n, dtype=np.int64).view(np.float64) * rng.choice([-1.0, 1.0], n)
    out = np.where(kind == 1, raw, out)
    out = np.where(kind == 2, rng.choice(SPECIAL, n), out)
    return out.reshape(shape)


@st.composite
def matrices(draw, shape):
    return _values(np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))), shape)


@st.composite
def pair(draw):
    n, m = draw(DIM), draw(DIM)
    s1 = (draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1])))
    s2 = (draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1])))
    return draw(matrices(s1)), draw(matrices(s2))


@st.composite
def single(draw):
    return draw(matrices((draw(DIM), draw(DIM))))


def agree(c, p, maxulp=0):
    c, p = c.numpy(), p.numpy()
    assert c.shape == p.shape
    assert np.array_equal(np.isnan(c), np.isnan(p))
    real = ~np.isnan(c)
    if maxulp == 0:
        assert np.array_equal(c[real], p[real])
    else:
        infinite = ~np.isfinite(c) & real
        assert np.array_equal(c[infinite], p[infinite])
        finite = np.isfinite(c)
        tiny = np.abs(p[finite]) < np.finfo(float).tiny  # subnormals: ulps of the smallest step
        np.testing.assert_allclose(c[finite][tiny], p[finite][tiny], rtol=0, atol=maxulp * 5e-324)
        np.testing.assert_array_max_ulp(c[finite][~tiny], p[finite][~tiny], maxulp=maxulp)


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__", "__lt__", "__le__",
                                "__gt__", "__ge__", "__eq__", "__ne__", "maximum", "minimum"])
@FUZZ
@given(arrays=pair(), s=VALUE, reverse=st.booleans())
def test_binary(op, arrays, s, reverse):
    a, b = arrays
    ca, cb, pa, pb = CArray.from_array(a), CArray.from_array(b), List2D.from_array(a), List2D.from_array(b)
    agree(getattr(ca, op)(cb), getattr(pa, op)(pb))
    if reverse and op in ("__add__", "__sub__", "__mul__", "__truediv__"):
        rop = "__r" + op[2:]
        agree(getattr(ca, rop)(s), getattr(pa, rop)(s))
    else:
        agree(getattr(ca, op)(s), getattr(pa, op)(s))


@pytest.mark.parametrize("op,ulp", [("exp", 2), ("log", 0), ("tanh", 0), ("sigmoid", 4), ("relu", 0),
                                    ("abs", 0), ("sign", 0), ("__neg__", 0)])
@FUZZ
@given(a=single())
def test_unary(op, ulp, a):
    agree(getattr(CArray.from_array(a), op)(), getattr(List2D.from_array(a), op)(), ulp)


@FUZZ
@given(a=single(), p=st.one_of(st.sampled_from([0.5, 2.0, 3.0, -1.0, 0.0, 1.0, -0.5]), st.floats(-5, 5)))
def test_pow(a, p):
    agree(CArray.from_array(a) ** p, List2D.from_array(a) ** p)


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@FUZZ
@given(a=single(), axis=st.sampled_from([None, 0, 1]))
def test_reductions(op, a, axis):
    agree(getattr(CArray.from_array(a), op)(axis), getattr(List2D.from_array(a), op)(axis))


@FUZZ
@given(a=single(), rows=st.booleans(), cols=st.booleans())
def test_unbroadcast_transpose_copy(a, rows, cols):
    c, p = CArray.from_array(a), List2D.from_array(a)
    target = (1 if rows else a.shape[0], 1 if cols else a.shape[1])
    agree(c.unbroadcast(*target), p.unbroadcast(*target))
    agree(c.T, p.T)
    agree(c.copy(), p.copy())


@FUZZ
@given(arrays=pair(), alpha=st.floats(-10, 10))
def test_in_place_and_fused(arrays, alpha):
    a, b = arrays
    b = np.broadcast_to(b, a.shape).copy() if np.broadcast_shapes(a.shape, b.shape) == a.shape else a.copy()
    c, p = CArray.from_array(a), List2D.from_array(a)
    cb, pb = CArray.from_array(b), List2D.from_array(b)
    agree(c.dsigmoid(cb), p.dsigmoid(pb))
    c += cb
    p += pb
    agree(c, p)
    before = c.numpy().copy()
    c.add_scaled_(cb, alpha)
    p.add_scaled_(pb, alpha)
    # C fuses alpha * x + y into one rounding, Python rounds twice: bound by the terms' sizes
    got, want = c.numpy(), p.numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(got) & np.isfinite(want)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = 2 * np.finfo(float).eps * (np.abs(before) + np.abs(alpha * b))
        assert (np.abs(got - want)[finite] <= bound[finite]).all()
    assert np.array_equal(got[~finite & ~np.isnan(got)], want[~finite & ~np.isnan(want)])


@FUZZ
@given(m=DIM, k=DIM, n=DIM, ta=st.booleans(), tb=st.booleans(), seed=st.integers(0, 2 ** 32 - 1),
       accumulate=st.booleans())
def test_matmul(m, k, n, ta, tb, seed, accumulate):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    ca, cb, pa, pb = CArray.from_array(a), CArray.from_array(b), List2D.from_array(a), List2D.from_array(b)
    bound = (k + 2) * np.finfo(float).eps * (np.abs(a.T if ta else a) @ np.abs(b.T if tb else b))
    if accumulate:
        start = rng.standard_normal((m, n))
        c, p = CArray.from_array(start), List2D.from_array(start)
        c.add_matmul_(ca, cb, ta, tb)
        p.add_matmul_(pa, pb, ta, tb)
        bound = bound + 2 * np.finfo(float).eps * np.abs(start)
    else:
        c, p = ca.matmul(cb, ta, tb), pa.matmul(pb, ta, tb)
    assert (np.abs(c.numpy() - p.numpy()) <= bound).all()
