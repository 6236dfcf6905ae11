"""Derivatives that compose (the issue's examples) and PyTorch's autograd API: autograd.grad,
backward(create_graph=...), autograd.functional, each against PyTorch where it is installed."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd.autograd import functional as F

XS = [[0.3], [-1.2], [0.5], [2.0]]


def f_tanh(W, x):
    return (x @ W).tanh().sum()


def test_a_mixed_partial_through_a_closure(backend_name):
    """d/dW sum(d/dx f(W, x)): the inner gradient stays connected to W, which it closes over."""
    torch = pytest.importorskip("torch")
    outer = ag.grad(lambda W: ag.grad(lambda x: f_tanh(W, x))(ag.mat(XS, requires_grad=False)).sum())
    ours = outer(ag.mat([[0.7]])).item()
    W = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(XS, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad((x @ W).tanh().sum(), x, create_graph=True)
    (gW,) = torch.autograd.grad(gx.sum(), W)
    assert ours == pytest.approx(gW.item(), rel=1e-12, abs=1e-12)
    assert ours != 0.0


def test_the_same_matrix_as_two_arguments_gives_partial_derivatives(backend_name):
    x = ag.mat([[1.0, 2.0]])
    assert ag.grad(lambda a, b: (a * b).sum(), argnums=0)(x, x).tolist() == [[1.0, 2.0]]
    ga, gb = ag.grad(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(x, x)
    assert ga.tolist() == [[2.0, 8.0]] and gb.tolist() == [[1.0, 4.0]]
    assert x._grad is None  # the caller's matrix is never written to


def test_nested_derivatives_keep_their_perturbations_apart(backend_name):
    """d/dx [x * d/dy (x + y)] at y = x = 1 is 1 (Siskind and Pearlmutter), in every mode."""
    one = lambda: ag.mat(1.0, requires_grad=False)  # noqa: E731
    for y in (ag.mat(1.0), one()):
        assert ag.grad(lambda x: x * ag.grad(lambda u: x + u)(x))(y).item() == 1.0
        assert ag.jvp(lambda x: x * ag.jvp(lambda u: x + u, (x,), (one(),))[1],
                      (y,), (one(),))[1].item() == 1.0
        assert ag.jvp(lambda x: x * ag.grad(lambda u: x + u)(x), (y,), (one(),))[1].item() == 1.0
        assert ag.grad(lambda x: x * ag.jvp(lambda u: x + u, (x,), (one(),))[1])(y).item() == 1.0


def test_derivatives_stay_connected_to_closures(backend_name):
    """jacobian, hessian, hvp and jvp of a function closing over W are differentiable in W."""
    W = ag.mat([[0.5, -1.0], [2.0, 0.25]])
    x = ag.mat([[0.3, -0.7]], requires_grad=False)
    f = lambda v: ((v @ W).tanh() ** 2).sum()  # noqa: E731
    for result in (ag.hessian(f, x), ag.jacobian(ag.grad(f), x), ag.jacobian(lambda v: v @ W, x),
                   ag.jacobian(lambda v: v @ W, x, mode="fwd"), ag.hvp(f, x, x),
                   ag.jvp(ag.grad(f), (x,), (x,))[1], ag.grad(f)(x)):
        assert result.requires_grad
    with ag.no_grad():
        assert not ag.hessian(f, x).requires_grad and not ag.grad(f)(x).requires_grad


def test_first_order_grad_takes_the_fast_path_when_nothing_else_requires_a_gradient(backend_name):
    x = ag.mat([[1.0, 2.0]], requires_grad=False)
    g = ag.grad(lambda v: (v * v).sum())(x)
    assert g.tolist() == [[2.0, 4.0]] and not g.requires_grad and g.is_leaf


def test_autograd_grad_as_torch(backend_name):
    x, y = ag.mat([[1.0, 2.0]]), ag.mat([[3.0]])
    x.grad = x.data * 0.0 + 5.0
    out = (x * x).sum() * y
    gx, gy = ag.autograd.grad(out, (x, y), create_graph=True)
    assert gx.tolist() == [[6.0, 12.0]] and gy.tolist() == [[5.0]] and gx.requires_grad
    assert x.grad.tolist() == [[5.0, 5.0]]  # .grad untouched
    (ggy,) = ag.autograd.grad(gx.sum(), y)
    assert ggy.tolist() == [[6.0]]
    (plain,) = ag.autograd.grad((x * 2.0).sum(), [x])
    assert not plain.requires_grad


def test_autograd_grad_refuses_unused_inputs_unless_allowed(backend_name):
    x, z = ag.mat([[1.0]]), ag.mat([[2.0, 3.0]])
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(1, 2\)\) was not used"):
        ag.autograd.grad(x * 2.0, (x, z), retain_graph=True)
    gx, gz = ag.autograd.grad(x * 2.0, (x, z), allow_unused=True)
    assert gx.item() == 2.0 and gz is None
    gx, gz = ag.autograd.grad(x * 2.0, (x, z), materialize_grads=True)
    assert gz.tolist() == [[0.0, 0.0]]
    with pytest.raises(RuntimeError, match="input 0 .* does not require a gradient"):
        ag.autograd.grad(x * 2.0, ag.mat(1.0, requires_grad=False))
    with pytest.raises(RuntimeError, match="output 0 .* does not require a gradient"):
        ag.autograd.grad(ag.mat(1.0, requires_grad=False), x)
    with pytest.raises(RuntimeError, match="implicitly created only for a 1x1 output"):
        ag.autograd.grad(z * 2.0, z)
    (g,) = ag.autograd.grad(z * 2.0, z, grad_outputs=ag.mat([[1.0, -1.0]], requires_grad=False))
    assert g.tolist() == [[2.0, -2.0]]
    with pytest.raises(TypeError, match="input 0 must be a Matrix"):
        ag.autograd.grad(x * 2.0, 3.0)


def test_autograd_grad_releases_the_graph_unless_retained(backend_name):
    x = ag.mat([[2.0]])
    out = x.exp() * x
    ag.autograd.grad(out, x)
    with pytest.raises(RuntimeError, match="already released"):
        ag.autograd.grad(out, x)
    out = x.exp() * x
    ag.autograd.grad(out, x, retain_graph=True)
    (again,) = ag.autograd.grad(out, x)
    assert again.item() == pytest.approx(3 * np.exp(2.0))
    out = x.exp() * x
    ag.autograd.grad(out, x, create_graph=True)  # retains by default, as PyTorch
    out.backward()
    assert x.grad.item() == pytest.approx(3 * np.exp(2.0))


def test_backward_with_create_graph_refuses_and_points_to_autograd_grad(backend_name):
    x = ag.mat([[2.0]])
    with pytest.raises(RuntimeError, match=r"create_graph=True is not supported.*ag\.autograd\.grad"):
        (x * x).backward(create_graph=True)
    assert x._grad is None
    with pytest.raises(RuntimeError, match="ag.autograd.grad"):
        ag.autograd.backward(x * x, create_graph=True)
    ag.autograd.backward([x * x, x * 3.0])
    assert x.grad.item() == 7.0
    (x * x).backward(retain_graph=None)  # PyTorch's default spelling


def test_third_derivative_through_autograd_grad(backend_name):
    """d^3/dx^3 of sin-free f(x) = x^4 exp(x/2): three autograd.grad(create_graph=True)."""
    torch = pytest.importorskip("torch")
    for value in (0.3, -1.7, 2.5):
        x = ag.mat([[value]])
        y = x ** 4 * (x * 0.5).exp()
        (d1,) = ag.autograd.grad(y, x, create_graph=True)
        (d2,) = ag.autograd.grad(d1, x, create_graph=True)
        (d3,) = ag.autograd.grad(d2, x, create_graph=True)
        t = torch.tensor([[value]], dtype=torch.float64, requires_grad=True)
        ty = t ** 4 * (t * 0.5).exp()
        (t1,) = torch.autograd.grad(ty, t, create_graph=True)
        (t2,) = torch.autograd.grad(t1, t, create_graph=True)
        (t3,) = torch.autograd.grad(t2, t, create_graph=True)
        for ours, theirs in ((d1, t1), (d2, t2), (d3, t3)):
            assert ours.item() == pytest.approx(theirs.item(), rel=1e-9, abs=1e-9)
        assert d3.requires_grad


def test_functional_matches_torch(backend_name):
    torch = pytest.importorskip("torch")
    TF = torch.autograd.functional
    rng = np.random.default_rng(0)
    a, b, v = (rng.uniform(-1, 1, (2, 3)) for _ in range(3))
    W = rng.uniform(-1, 1, (3, 3))
    ours_f = lambda x: ((x @ ag.mat(W, requires_grad=False)).tanh() ** 2).sum()  # noqa: E731
    t = lambda m: torch.tensor(m, dtype=torch.float64)  # noqa: E731
    theirs_f = lambda x: ((x @ t(W)).tanh() ** 2).sum()  # noqa: E731
    vec = lambda x: (x * x.sigmoid()) @ ag.mat(W, requires_grad=False)  # noqa: E731
    tvec = lambda x: (x * x.sigmoid()) @ t(W)  # noqa: E731
    m = lambda x: ag.mat(x, requires_grad=False)  # noqa: E731

    def close(ours, theirs):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy().reshape(ours.shape),
                                   rtol=1e-9, atol=1e-12)
    out, g = F.vjp(vec, m(a), m(v[:, :3]))
    tout, tg = TF.vjp(tvec, t(a), t(v))
    close(out, tout), close(g, tg)
    out, jv = F.jvp(vec, m(a), m(b))
    close(jv, TF.jvp(tvec, t(a), t(b))[1])
    close(F.jacobian(vec, m(a)), TF.jacobian(tvec, t(a)).reshape(6, 6))
    close(F.jacobian(vec, m(a), strategy="forward-mode"), TF.jacobian(tvec, t(a)).reshape(6, 6))
    close(F.hessian(ours_f, m(a)), TF.hessian(theirs_f, t(a)).reshape(6, 6))
    close(F.hvp(ours_f, m(a), m(b))[1], TF.hvp(theirs_f, t(a), t(b))[1])
    close(F.vhp(ours_f, m(a), m(b))[1], TF.vhp(theirs_f, t(a), t(b))[1])
    ja, jb = F.jacobian(lambda x, y: x * y.exp(), (m(a), m(b)))
    tja, tjb = TF.jacobian(lambda x, y: x * y.exp(), (t(a), t(b)))
    close(ja, tja.reshape(6, 6)), close(jb, tjb.reshape(6, 6))
    # create_graph=False detaches, create_graph=True stays connected to the inputs
    x = ag.mat(a)
    assert not F.hvp(ours_f, x, m(b))[1].requires_grad
    assert F.hvp(ours_f, x, m(b), create_graph=True)[1].requires_grad
    with pytest.raises(RuntimeError, match="v can be omitted only"):
        F.vjp(vec, m(a))
    with pytest.raises(NotImplementedError, match="strict=True"):
        F.vjp(vec, m(a), m(a), strict=True)


def test_derivatives_never_write_the_callers_gradients(backend_name):
    """The fresh variables are differentiated, never the caller's matrices, identity f included."""
    x, W = ag.mat([[1.0, 2.0]]), ag.mat([[0.5], [-1.0]])
    f = lambda v: ((v @ W).tanh() * 3.0).sum()  # noqa: E731
    runs = (lambda: ag.grad(f)(x), lambda: ag.grad(lambda v: v)(ag.mat(3.0)),
            lambda: ag.jacobian(lambda v: v, x), lambda: ag.jacobian(lambda v: v @ W, x),
            lambda: ag.hessian(f, x), lambda: ag.hvp(f, x, x), lambda: ag.jvp(f, (x,), (x,)),
            lambda: F.vjp(f, x), lambda: ag.autograd.grad(f(x), x))
    for run in runs:
        run()
        assert x._grad is None and W._grad is None
        if run is runs[-1]:
            continue  # autograd.grad of an output made under no_grad is an error (PyTorch's)
        with ag.no_grad():  # nothing recorded, and still nothing written
            result = run()
        assert x._grad is None and W._grad is None
        assert not any(isinstance(r, ag.Matrix) and r.requires_grad
                       for r in (result if isinstance(result, tuple) else (result,)))
