"""Property tests (hypothesis): random shapes and broadcasting pairs, every backend."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyautograd as ag

SIZES = st.sampled_from([1, 2, 3, 7, 8, 9, 16, 17, 33])


@st.composite
def broadcasting_pair(draw):
    """Two shapes that broadcast: per dimension equal, or 1 on one side (so (N,1) with (1,N))."""
    n, m = draw(SIZES), draw(SIZES)
    shapes = []
    for _ in range(2):
        shapes.append((draw(st.sampled_from([n, 1])), draw(st.sampled_from([m, 1]))))
    return shapes


def _unbroadcast(g, shape):
    if shape[0] == 1:
        g = g.sum(0, keepdims=True)
    if shape[1] == 1:
        g = g.sum(1, keepdims=True)
    return g


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b, g: (g, g)),
    "sub": (lambda a, b: a - b, lambda a, b, g: (g, -g)),
    "mul": (lambda a, b: a * b, lambda a, b, g: (g * b, g * a)),
    "div": (lambda a, b: a / b, lambda a, b, g: (g / b, -g * a / b ** 2)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=40, deadline=None)
@given(shapes=broadcasting_pair(), seed=st.integers(0, 2 ** 32 - 1))
def test_broadcasting_binary_ops_forward_and_gradient(backend_name, name, shapes, seed):
    rng = np.random.default_rng(seed)
    fwd, grads = BINARY[name]
    a = rng.uniform(0.5, 2.0, shapes[0]) * rng.choice([-1, 1], shapes[0])
    b = rng.uniform(0.5, 2.0, shapes[1]) * rng.choice([-1, 1], shapes[1])
    A, B = ag.mat(a), ag.mat(b)
    out = fwd(A, B)
    expected = fwd(a, b)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)
    g = rng.standard_normal(expected.shape)
    out.backward(g)
    ga, gb = grads(np.broadcast_to(a, g.shape), np.broadcast_to(b, g.shape), g)
    np.testing.assert_allclose(A.grad.numpy(), _unbroadcast(ga, a.shape), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B.grad.numpy(), _unbroadcast(gb, b.shape), rtol=1e-12, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(m=SIZES, k=SIZES, n=SIZES, seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_forward_and_gradient_on_random_shapes(backend_name, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a, b, g = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal((m, n))
    A, B = ag.mat(a), ag.mat(b)
    out = A @ B
    tol = dict(rtol=1e-12, atol=1e-13 * k)
    np.testing.assert_allclose(out.numpy(), a @ b, **tol)
    out.backward(g)
    np.testing.assert_allclose(A.grad.numpy(), g @ b.T, rtol=1e-12, atol=1e-13 * n)
    np.testing.assert_allclose(B.grad.numpy(), a.T @ g, rtol=1e-12, atol=1e-13 * m)


@pytest.mark.parametrize("axis", [None, 0, 1])
@settings(max_examples=30, deadline=None)
@given(n=SIZES, m=SIZES, seed=st.integers(0, 2 ** 32 - 1))
def test_reductions_forward_and_gradient(backend_name, axis, n, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m))
    keep = dict(axis=axis, keepdims=True)
    for name in ("sum", "mean", "max"):
        X = ag.mat(x)
        out = getattr(X, name)(axis=axis)  # NumPy's spelling: max gives the values
        # NumPy sums pairwise, we sum in order: the error bound scales with the sum of |x|
        np.testing.assert_allclose(out.numpy(), getattr(np, name)(x, **keep), rtol=1e-13,
                                   atol=1e-15 * np.abs(x).sum())
        g = rng.standard_normal(out.shape)
        out.backward(g)
        if name == "sum":
            expected = np.broadcast_to(g, x.shape)
        elif name == "mean":
            expected = np.broadcast_to(g, x.shape) / (x.size if axis is None else x.shape[axis])
        else:
            expected = (x == x.max(**keep)) * g  # random values: no ties
        np.testing.assert_allclose(X.grad.numpy(), expected, rtol=1e-13)
