"""The op table on every backend: forward values against NumPy, gradients against central
differences and against PyTorch (where it is installed)."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd.matrix import apply
from pyautograd.ops import ELEMENTWISE, Rule

from op_table import OPS, draw, numeric_gradient


def _inputs(op, seed):
    rng = np.random.default_rng(seed)
    return [draw(rng, shape, op.domain) for shape in op.shapes], rng


@pytest.mark.parametrize("op", OPS, ids=str)
def test_forward_matches_numpy(op, backend_name):
    arrays, _ = _inputs(op, 1)
    out = op.fn(*[ag.mat(a) for a in arrays])
    assert out.backend == backend_name
    expected = op.ref(*arrays)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op", OPS, ids=str)
def test_gradient_matches_central_differences(op, backend_name):
    arrays, rng = _inputs(op, 2)
    upstream = rng.standard_normal(op.ref(*arrays).shape)
    inputs = [ag.mat(a) for a in arrays]
    op.fn(*inputs).backward(upstream)
    for i, x in enumerate(inputs):
        numeric = numeric_gradient(lambda *xs: float((op.ref(*xs) * upstream).sum()), arrays, i)
        np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{op.name}: gradient of input {i}")


@pytest.mark.parametrize("op", OPS, ids=str)
def test_gradient_matches_pytorch(op, backend_name):
    torch = pytest.importorskip("torch")
    arrays, rng = _inputs(op, 3)
    upstream = rng.standard_normal(op.ref(*arrays).shape)
    inputs = [ag.mat(a) for a in arrays]
    out = op.fn(*inputs)
    out.backward(upstream)
    t_inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    t_out = op.torch(*t_inputs)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    for x, t in zip(inputs, t_inputs):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", OPS, ids=str)
def test_gradcheck_accepts_every_op(op, backend_name):
    arrays, rng = _inputs(op, 4)
    weights = ag.mat(rng.standard_normal(op.ref(*arrays).shape), requires_grad=False)
    assert ag.gradcheck(lambda *xs: (op.fn(*xs) * weights).sum(), [ag.mat(a) for a in arrays])


def test_gradcheck_leaves_its_inputs_storage_in_place(backend_name):
    x = ag.mat([[0.5, -1.5]])
    storage = x.data
    assert ag.gradcheck(lambda m: (m * m).sum(), [x])
    assert x.data is storage and x.tolist() == [[0.5, -1.5]]


def test_gradcheck_reports_a_wrong_gradient(backend_name):
    x = ag.mat([[1.0, 2.0]])

    # forward x^2, but a reverse rule of 3x
    square_wrong = Rule("square_wrong", lambda a: a.square(), lambda g, y, n, a: (g * (a * 3.0),),
                        ELEMENTWISE, "Y = A^2, wrongly")

    def wrong(m):
        return apply(square_wrong, (m,)).sum()
    with pytest.raises(ag.GradcheckError, match=r"input 0 .*index \(0, 0\).*backward gave 3\.0"):
        ag.gradcheck(wrong, [x])


def test_max_shares_the_gradient_between_ties(backend_name):
    x = ag.mat([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]


def test_relu_and_abs_have_zero_gradient_at_zero(backend_name):
    x = ag.mat([[0.0, -1.0, 2.0]])
    (x.relu() + x.abs()).sum().backward()
    assert x.grad.tolist() == [[0.0, -1.0, 2.0]]


def test_softmax_and_log_softmax_are_stable_at_1000(backend_name):
    x = ag.mat([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 1000.0]])
    s = x.softmax(1)
    ls = x.log_softmax(1)
    np.testing.assert_allclose(s.numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-15)
    np.testing.assert_allclose(ls.numpy(), [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-15)
    (s.sum() + ls.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_comparisons_give_masks_without_a_graph(backend_name):
    x = ag.mat([[1.0, 2.0, 3.0]])
    assert (x > 2).tolist() == [[0.0, 0.0, 1.0]]
    assert (x == ag.mat([[1.0, 0.0, 3.0]])).tolist() == [[1.0, 0.0, 1.0]]
    assert (2 <= x).tolist() == [[0.0, 1.0, 1.0]]
    assert not (x != x).requires_grad
