"""Forward mode (jvp), grad and jacobian, on every backend: for every op of the op table, the
jvp equals J v from reverse mode and from central differences."""
import numpy as np
import pytest

import pyautograd as ag

from op_table import OPS, draw


@pytest.mark.parametrize("op", OPS, ids=str)
def test_jvp_equals_reverse_mode_and_central_differences(op, backend_name):
    rng = np.random.default_rng(11)
    arrays = [draw(rng, shape, op.domain) for shape in op.shapes]
    directions = [rng.standard_normal(shape) for shape in op.shapes]
    inputs = [ag.mat(a) for a in arrays]
    out, tangent = ag.jvp(op.fn, tuple(inputs), tuple(ag.mat(v, requires_grad=False) for v in directions))
    np.testing.assert_allclose(out.numpy(), op.ref(*arrays), rtol=1e-12, atol=1e-14)
    eps = 1e-6
    plus = op.ref(*[a + eps * v for a, v in zip(arrays, directions)])
    minus = op.ref(*[a - eps * v for a, v in zip(arrays, directions)])
    np.testing.assert_allclose(tangent.numpy(), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)
    # u . (J v) == (J^T u) . v, with J^T u from backward()
    u = rng.standard_normal(out.shape)
    op.fn(*inputs).backward(u)
    reverse = sum(float((x.grad.numpy() * v).sum()) for x, v in zip(inputs, directions))
    assert float((u * tangent.numpy()).sum()) == pytest.approx(reverse, rel=1e-10, abs=1e-12)


def test_jvp_returns_tuples_for_several_outputs_and_checks_its_arguments(backend_name):
    x = ag.mat([[1.0, 2.0]])
    (y1, y2), (t1, t2) = ag.jvp(lambda a: (a * a, a.exp()), (x,), (ag.ones(1, 2),))
    assert t1.tolist() == [[2.0, 4.0]]
    np.testing.assert_allclose(t2.numpy(), np.exp([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"jvp: input 0 has shape \(1, 2\), its tangent \(2, 1\)"):
        ag.jvp(lambda a: a, (x,), (ag.ones(2, 1),))
    with pytest.raises(ValueError, match="1 inputs but 2 tangents"):
        ag.jvp(lambda a: a, (x,), (x, x))


def test_grad_with_one_and_several_argnums(backend_name):
    f = lambda a, b: (a ** 3 * b ** 2).sum()  # noqa: E731  the lecture's f(a, b) = a^3 b^2
    a, b = ag.mat(2.0), ag.mat(3.0)
    assert ag.grad(f)(a, b).item() == 108.0
    da, db = ag.grad(f, argnums=(0, 1))(a, b)
    assert (da.item(), db.item()) == (108.0, 48.0)
    assert a._grad is None  # the arguments themselves are untouched
    with pytest.raises(ValueError, match="grad: f must return a 1x1 Matrix"):
        ag.grad(lambda m: m * 2)(ag.mat([[1.0, 2.0]]))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_in_both_modes(backend_name, mode):
    x = ag.mat([[0.5, -1.0, 2.0]])
    W = ag.mat([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]], requires_grad=False)
    J = ag.jacobian(lambda v: (v @ W).tanh(), x, mode=mode)
    z = x.numpy() @ W.numpy()
    expected = (W.numpy() * (1 - np.tanh(z) ** 2)).T  # d tanh(xW)_j / d x_i, row j, column i
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J.numpy(), expected, rtol=1e-13)
    M = ag.mat([[1.0, 2.0], [3.0, 4.0]])
    J2 = ag.jacobian(lambda m: m.T * 2.0, M, mode=mode)  # row-major flattening on both sides
    np.testing.assert_allclose(J2.numpy(), 2.0 * np.eye(4)[[0, 2, 1, 3]])
    with pytest.raises(ValueError, match="mode must be 'rev' or 'fwd'"):
        ag.jacobian(lambda m: m, M, mode="sideways")


def test_the_differentiation_modes_example_prints_exact_and_approximate_values(capsys):
    from conftest import load_example
    ex = load_example("differentiation_modes")
    rows = {name: (value, error) for name, value, error in ex.quadratic()}
    for exact in ("symbolic 8(a - 2)", "forward mode (jvp)", "reverse mode (grad)"):
        assert rows[exact] == (8.0, 0.0)
    assert rows["forward difference h=0.1"][1] == pytest.approx(0.4)  # truncation error 4h
    assert 0 < rows["central difference h=0.0001"][1] < 1e-9
    assert rows["central difference h=1e-12"][1] > 1e-6  # rounding error takes over
    for name, passes, seconds, error in ex.two_layer():
        assert error < (1e-9 if "differences" in name else 1e-14)
    for label, t_fwd, t_rev, diff in ex.crossover(m=50):
        assert diff < 1e-14
    ex.main()
    assert "wins" in capsys.readouterr().out


def test_jvp_through_nn_linear_and_mse_loss(backend_name):
    from pyautograd import nn
    rng = np.random.default_rng(4)
    layer = nn.Linear(3, 2, rng=rng)
    x = ag.mat(rng.standard_normal((5, 3)), requires_grad=False)
    y = ag.mat(rng.standard_normal((5, 2)), requires_grad=False)
    v = ag.mat(rng.standard_normal((2, 3)), requires_grad=False)
    loss = lambda w: nn.MSELoss()(x @ w.T + layer.bias, y)  # noqa: E731
    _, by_jvp = ag.jvp(lambda w: nn.functional.mse_loss(nn.functional.linear(x, w, layer.bias), y),
                       (layer.weight,), (v,))
    reverse = ag.grad(loss)(layer.weight)
    assert by_jvp.item() == pytest.approx(float((reverse.numpy() * v.numpy()).sum()), rel=1e-12)
