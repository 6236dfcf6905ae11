"""Your own differentiable ops: ag.autograd.Function (PyTorch's shape), ag.custom_vjp and
ag.custom_jvp (JAX's). Values and gradients against PyTorch in float64 at 1e-12 on every
backend, double backward, forward mode, explain(), the in-place check, compile (replayed bit
for bit, or refused naming the Function) and every user error naming the Function."""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyautograd as ag
from pyautograd.autograd import Function
from pyautograd.compile import CaptureError

from conftest import load_example, needs_c

ex = load_example("custom_ops")

TOL = dict(rtol=1e-12, atol=1e-12)
RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 5)) * 3.0
UP = RNG.standard_normal((4, 5))  # an upstream gradient: loss = sum(op(x) * UP)


def torch_grad(fn, x, up):
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = fn(t)
    (y * torch.tensor(up)).sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def ours(fn, x, up):
    m = ag.mat(x)
    y = fn(m)
    (y * ag.mat(up, requires_grad=False)).sum().backward()
    return y.numpy(), m.grad.numpy()


def torch_softplus(t):
    import torch
    return torch.nn.functional.softplus(t)


def hooked(transform):
    """The identity, its gradient transformed by a hook (PyTorch's side of the identity ops)."""
    def fn(t):
        y = t.clone()
        y.register_hook(transform)
        return y
    return fn


CASES = {
    "logsumexp-rows": (lambda m: ex.LogSumExp.apply(m, 1),
                       lambda t: t.logsumexp(1, keepdim=True), UP[:, :1]),
    "logsumexp-all": (lambda m: ex.LogSumExp.apply(m), lambda t: t.logsumexp((0, 1)).reshape(1, 1),
                      UP[:1, :1]),
    "round": (lambda m: ex.StraightThroughRound.apply(m * 2.0),
              lambda t: (t * 2.0) + ((t * 2.0).round() - t * 2.0).detach(), UP),
    "reverse": (lambda m: ex.GradReverse.apply(m, 0.3), hooked(lambda g: g * -0.3), UP),
    "clip": (lambda m: ex.ClipGrad.apply(m, 0.5), hooked(lambda g: g.clamp(-0.5, 0.5)), UP),
    "softplus": (lambda m: ex.Softplus.apply(m), lambda t: torch_softplus(t), UP),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_examples_give_pytorchs_values_and_gradients(backend_name, case):
    fn, reference, up = CASES[case]
    want_y, want_g = torch_grad(reference, X, up)
    y, g = ours(fn, X, up)
    np.testing.assert_allclose(y, want_y, **TOL)
    np.testing.assert_allclose(g, want_g, **TOL)


def test_rounding_is_torchs_ties_to_even(backend_name):
    torch = pytest.importorskip("torch")
    values = np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, -7.51, 1e6 + 0.5]])
    got = ex.StraightThroughRound.apply(ag.mat(values)).numpy()
    assert np.array_equal(got, torch.tensor(values).round().numpy())


def test_logsumexp_is_stable_where_the_naive_one_overflows(backend_name):
    big = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    got, grad = ours(lambda m: ex.LogSumExp.apply(m, 1), big, np.ones((2, 1)))
    np.testing.assert_allclose(got, [[1000.0 + np.log(2.0)], [0.0]], **TOL)
    np.testing.assert_allclose(grad, [[0.5, 0.5], [0.0, 1.0]], **TOL)


def test_double_backward_through_a_function_whose_backward_uses_library_ops(backend_name):
    torch = pytest.importorskip("torch")
    x = X[:2]
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(torch.nn.functional.softplus(t).pow(2).sum(), t, create_graph=True)
    (gg,) = torch.autograd.grad((g * g).sum(), t)
    f = lambda v: (ex.Softplus.apply(v) ** 2).sum()  # noqa: E731
    got = ag.grad(lambda v: (ag.grad(f)(v) ** 2).sum())(ag.mat(x))
    np.testing.assert_allclose(got.numpy(), gg.numpy(), **TOL)
    # and the Hessian of the log-sum-exp, through its hand-written backward
    h = torch.autograd.functional.hessian(lambda v: v.logsumexp((0, 1)), torch.tensor(x))
    got = ag.hessian(lambda v: ex.LogSumExp.apply(v), ag.mat(x))
    np.testing.assert_allclose(got.numpy(), h.reshape(x.size, x.size).numpy(), **TOL)


def test_the_penalty_models_gradient_is_pytorchs(backend_name):
    """The example's gradient-penalty loss: training differentiates Softplus's backward."""
    torch = pytest.importorskip("torch")
    Xd, Yd, W0 = ex.data()
    w = torch.tensor(W0, requires_grad=True)
    s = torch.tensor(Xd) @ w
    (g,) = torch.autograd.grad(torch_softplus(s).sum(), s, create_graph=True)
    loss = (torch_softplus(s) - torch.tensor(Yd) * s).mean() + (g ** 2).mean()
    loss.backward()
    W = ag.mat(W0)
    ours_loss = ex.LOSSES["penalty"](ag.mat(Xd, requires_grad=False) @ W,
                                     ag.mat(Yd, requires_grad=False))
    ours_loss.backward()
    np.testing.assert_allclose(ours_loss.item(), loss.item(), **TOL)
    np.testing.assert_allclose(W.grad.numpy(), w.grad.numpy(), **TOL)


def test_forward_mode_uses_the_functions_jvp_and_names_a_function_without_one(backend_name):
    x, v = ag.mat(X, requires_grad=False), ag.mat(UP, requires_grad=False)
    y, t = ag.jvp(lambda m: ex.Softplus.apply(m), (x,), (v,))
    np.testing.assert_allclose(t.numpy(), UP / (1 + np.exp(-X)), **TOL)
    y, t = ag.jvp(lambda m: ex.StraightThroughRound.apply(m) * 2.0, (x,), (v,))
    np.testing.assert_allclose(t.numpy(), UP * 2.0, **TOL)
    with pytest.raises(NotImplementedError, match="LogSumExp"):
        ag.jvp(lambda m: ex.LogSumExp.apply(m), (x,), (v,))
    # forward over reverse: jvp of the gradient is a Hessian-vector product
    _, hv = ag.jvp(ag.grad(lambda m: ex.Softplus.apply(m).sum()), (x,), (v,))
    s = 1 / (1 + np.exp(-X))
    np.testing.assert_allclose(hv.numpy(), UP * s * (1 - s), **TOL)


class Tanh(Function):
    """The library's tanh row, re-spelled as a Function: the same kernels in the same order."""

    @staticmethod
    def forward(ctx, x):
        y = x.tanh()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (1.0 - y * y) * g

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return (1.0 - y * y) * t


@settings(max_examples=25, deadline=None)
@given(nrow=st.integers(1, 5), ncol=st.integers(1, 5), seed=st.integers(0, 2 ** 32 - 1))
def test_a_function_computes_the_bits_of_the_row_it_respells(backend_name, nrow, ncol, seed):
    rng = np.random.default_rng(seed)
    values, up = rng.standard_normal((nrow, ncol)) * 3, rng.standard_normal((nrow, ncol))
    results = []
    for op in (lambda m: m.tanh(), Tanh.apply):
        x = ag.mat(values)
        y = op(x)
        (y * ag.mat(up, requires_grad=False)).sum().backward()
        second = ag.grad(lambda v: (ag.grad(lambda u: op(u).sum())(v) ** 2).sum())(ag.mat(values))
        _, tangent = ag.jvp(op, (ag.mat(values, requires_grad=False),),
                            (ag.mat(up, requires_grad=False),))
        results.append([y.numpy().copy(), x.grad.numpy().copy(), second.numpy().copy(),
                        tangent.numpy().copy()])
    for ours_, builtin in zip(results[1], results[0]):
        assert np.array_equal(ours_, builtin)


# -- ctx -------------------------------------------------------------------------------------------

class Scale(Function):
    """x * k for a matrix x and a number k; records what ctx saw."""
    seen = {}

    @staticmethod
    def forward(ctx, x, k, w):
        ctx.k = k
        Scale.seen["needs"] = ctx.needs_input_grad
        Scale.seen["grad_mode"] = ag.is_grad_enabled()
        ctx.save_for_backward(w)
        return x * k * w

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        Scale.seen["backward_needs"] = ctx.needs_input_grad
        return (g * ctx.k * w if ctx.needs_input_grad[0] else None, None,
                g * ctx.k if ctx.needs_input_grad[2] else None)


def test_ctx_needs_input_grad_attributes_and_non_matrix_arguments(backend_name):
    x, w = ag.mat([[1.0, 2.0]]), ag.mat([[3.0, 4.0]], requires_grad=False)
    y = Scale.apply(x, 2.5, w)
    assert Scale.seen["needs"] == (True, False, False) and Scale.seen["grad_mode"] is False
    assert y.requires_grad and y._op == "Scale"
    y.sum().backward()
    assert x.grad.tolist() == [[7.5, 10.0]] and w._grad is None
    with ag.no_grad():
        z = Scale.apply(x, 2.0, w)
    assert not z.requires_grad and Scale.seen["needs"] == (False, False, False)


class ArgMaxMask(Function):
    @staticmethod
    def forward(ctx, x):
        mask = x == x.max()
        ctx.mark_non_differentiable(mask)
        return mask

    @staticmethod
    def backward(ctx, g):
        raise AssertionError("never called")


def test_mark_non_differentiable_makes_a_constant(backend_name):
    m = ArgMaxMask.apply(ag.mat([[1.0, 5.0, 2.0]]))
    assert not m.requires_grad and m.is_leaf and m.tolist() == [[0.0, 1.0, 0.0]]


def test_a_function_returning_its_input_gives_a_new_matrix(backend_name):
    x = ag.mat([[1.0, 2.0]])
    y = ex.GradReverse.apply(x)
    assert y.data is not x.data
    with ag.no_grad():
        y.data += 1.0
    assert x.tolist() == [[1.0, 2.0]]


class MaxMin(Function):
    """Three outputs: the row maxima, the row minima (as the maxima of -x: compile replays max)
    and the mask of the maxima (not differentiable)."""

    @staticmethod
    def forward(ctx, x):
        hi, lo = x.max(axis=1), -((-x).max(axis=1))
        mask = x == hi
        ctx.mark_non_differentiable(mask)
        ctx.save_for_backward(x, hi, lo)
        return hi, lo, mask

    @staticmethod
    def backward(ctx, g_hi, g_lo, g_mask):
        x, hi, lo = ctx.saved_tensors
        MaxMin.got = (g_hi, g_mask.shape)
        return g_hi * (x == hi) + g_lo * (x == lo)

    @staticmethod
    def jvp(ctx, t):
        x, hi, lo = ctx.saved_tensors
        return (t * (x == hi)).sum(1), (t * (x == lo)).sum(1), t * 0.0


def test_a_function_with_several_outputs_gives_pytorchs_gradients(backend_name):
    torch = pytest.importorskip("torch")
    t = torch.tensor(X, requires_grad=True)
    (t.max(1, keepdim=True).values * 2.0 + t.min(1, keepdim=True).values ** 2).sum().backward()
    x = ag.mat(X)
    hi, lo, mask = MaxMin.apply(x)
    assert hi.requires_grad and lo.requires_grad and not mask.requires_grad
    np.testing.assert_allclose(mask.numpy(), (X == X.max(1, keepdims=True)) * 1.0)
    (hi * 2.0 + lo ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **TOL)
    x.zero_grad()
    MaxMin.apply(x)[1].sum().backward()  # an output that gets no gradient gets zeros
    assert MaxMin.got[0].tolist() == [[0.0]] * 4 and MaxMin.got[1] == (4, 5)
    np.testing.assert_allclose(x.grad.numpy(), (X == X.min(1, keepdims=True)) * 1.0, **TOL)
    # forward mode and a second derivative through the outputs it saved
    _, tangent = ag.jvp(lambda v: MaxMin.apply(v)[1], (ag.mat(X, requires_grad=False),),
                        (ag.mat(UP, requires_grad=False),))
    np.testing.assert_allclose(tangent.numpy(), UP[np.arange(4), X.argmin(1)][:, None], **TOL)
    h = ag.hessian(lambda v: (MaxMin.apply(v)[0] ** 2).sum(), ag.mat(X[:2]))
    np.testing.assert_allclose(np.diag(h.numpy()), 2.0 * (X[:2] == X[:2].max(1, keepdims=True)).ravel(), **TOL)


@needs_c
@pytest.mark.parametrize("backend", ["c", "verify"])
def test_a_function_with_several_outputs_replays_bit_for_bit(backend, monkeypatch):
    monkeypatch.setitem(ex.LOSSES, "maxmin", lambda s, y: (
        (MaxMin.apply(s)[0] - MaxMin.apply(s)[1] - y.sum(1)) ** 2).mean())
    with ag.backend(backend):
        eager, w_eager, _ = ex.train("maxmin", steps=8, compiled=False)
        compiled, w_compiled, step = ex.train("maxmin", steps=8, compiled=True)
    assert step.stats["replayed"] == 5
    assert eager == compiled and np.array_equal(w_eager, w_compiled)


# -- errors name the Function ------------------------------------------------------------------------

def make(backward, forward=lambda ctx, x, *rest: x * 2.0, name="Broken"):
    return type(name, (Function,), {"forward": staticmethod(forward),
                                     "backward": staticmethod(backward)})


def test_a_wrong_number_of_gradients_names_the_function(backend_name):
    fn = make(lambda ctx, g: (g, g))
    y = fn.apply(ag.mat([[1.0]]))
    with pytest.raises(ValueError, match=r"Broken\.backward returned 2 gradients, expected 1"):
        y.backward()


def test_a_wrong_shape_names_the_function_and_the_input(backend_name):
    fn = make(lambda ctx, g: (None, g.sum()), lambda ctx, a, b: a * b)
    y = fn.apply(ag.mat([[1.0]]), ag.mat([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"Broken\.backward: the gradient for input 1 has shape "
                                         r"\(1, 1\), input 1 has shape \(1, 2\)"):
        y.sum().backward()


def test_a_gradient_of_the_wrong_type_or_for_a_number_names_the_function(backend_name):
    fn = make(lambda ctx, g: np.ones((1, 1)))
    with pytest.raises(TypeError, match=r"Broken\.backward: the gradient for input 0 must be a "
                                        "Matrix or None, got ndarray"):
        fn.apply(ag.mat([[1.0]])).backward()
    fn = make(lambda ctx, g: (g, g))
    with pytest.raises(ValueError, match=r"Broken\.backward: input 1 is not a Matrix \(float\)"):
        fn.apply(ag.mat([[1.0]]), 3.0).backward()


def test_forward_errors_name_the_function(backend_name):
    fn = make(lambda ctx, g: g, lambda ctx, x: 3.0)
    with pytest.raises(TypeError, match=r"Broken\.forward must return a Matrix or a tuple of matrices, got float"):
        fn.apply(ag.mat([[1.0]]))

    def saves_a_number(ctx, x):
        ctx.save_for_backward(x, 2.0)
        return x
    fn = make(lambda ctx, g: g, saves_a_number)
    with pytest.raises(TypeError, match=r"Broken\.forward: save_for_backward takes matrices"):
        fn.apply(ag.mat([[1.0]]))
    with pytest.raises(TypeError, match="Broken: a Function is not instantiated"):
        fn()


def test_a_saved_value_changed_in_place_is_refused_naming_the_function(backend_name):
    x = ag.mat([[1.0, 2.0]])
    y = ex.Softplus.apply(x * 1.0)
    h = x * 1.0
    z = ex.LogSumExp.apply(h)
    with ag.no_grad():
        h.data += 1.0
    with pytest.raises(RuntimeError, match="LogSumExp"):
        z.backward()
    y.sum().backward()  # nothing it saved changed


def test_a_saved_output_changed_in_place_is_refused(backend_name):
    y = ex.LogSumExp.apply(ag.mat([[1.0, 2.0]]))
    with ag.no_grad():
        y.data += 1.0
    with pytest.raises(RuntimeError, match="LogSumExp"):
        y.backward()


def test_one_gradient_returned_for_two_inputs_is_not_shared(backend_name):
    fn = make(lambda ctx, g: (g * 2.0,) * 2, lambda ctx, a, b: a + b)
    a, b = ag.mat([[1.0]]), ag.mat([[2.0]])
    fn.apply(a, b).backward()
    fn.apply(a, b).backward()  # accumulating into a's gradient leaves b's alone
    assert a.grad.tolist() == b.grad.tolist() == [[4.0]]
    assert a.grad is not b.grad


def test_explain_prints_the_functions_name_and_formula(backend_name):
    x = ag.mat([[1.0, 2.0]])
    out = io.StringIO()
    with ag.explain({"x": x}, file=out):
        ex.LogSumExp.apply(x).backward()
    text = out.getvalue()
    assert "= LogSumExp(x)" in text and ex.LogSumExp.formula in text
    fn = make(lambda ctx, g: g, name="Plain")
    out = io.StringIO()
    with ag.explain(file=out):
        fn.apply(x).sum().backward()
    assert "a user-defined Function (dL/dA from Plain.backward)" in out.getvalue()


# -- compile ---------------------------------------------------------------------------------------

@needs_c
@pytest.mark.parametrize("name", sorted(ex.LOSSES))
@pytest.mark.parametrize("backend", ["c", "verify"])
def test_each_example_compiles_and_replays_bit_for_bit(name, backend):
    with ag.backend(backend):
        eager, w_eager, _ = ex.train(name, steps=12, compiled=False)
        compiled, w_compiled, step = ex.train(name, steps=12, compiled=True)
    assert step.stats["replayed"] == 9
    assert eager == compiled and np.array_equal(w_eager, w_compiled)


class NumpyForward(Function):
    @staticmethod
    def forward(ctx, x):
        return ag.mat(np.tanh(x.numpy()), requires_grad=False)

    @staticmethod
    def backward(ctx, g):
        return g


class ItemBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g * (1.0 if float(g.sum().item()) > 0 else 2.0)


@needs_c
@pytest.mark.parametrize("fn,method", [(NumpyForward, "forward"), (ItemBackward, "backward")])
def test_a_function_that_reads_values_is_refused_at_recording_naming_it(fn, method):
    with ag.backend("c"):
        X_, Y_, W0 = ex.data()
        x, y = ag.mat(X_, requires_grad=False), ag.mat(Y_, requires_grad=False)
        step = ag.compile(ex.train_step(lambda s, t: ((fn.apply(s) - t) ** 2).mean(), ag.mat(W0)))
        step(x, y)  # the warm-up runs eagerly
        with pytest.raises(CaptureError, match=rf"the Function '{fn.__name__}' cannot be "
                                               rf"recorded: its {method}"):
            step(x, y)


# -- custom_vjp and custom_jvp ---------------------------------------------------------------------

def _softplus(x):
    return x.exp().log1p()


def make_vjp():
    f = ag.custom_vjp(_softplus)
    f.defvjp(lambda x: (_softplus(x), (x,)), lambda res, g: (g * res[0].sigmoid(),))
    return f


def make_jvp():
    f = ag.custom_jvp(_softplus)

    @f.defjvp
    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return _softplus(x), t * x.sigmoid()
    return f


@pytest.mark.parametrize("make_f", [make_vjp, make_jvp], ids=["custom_vjp", "custom_jvp"])
def test_custom_rules_give_pytorchs_gradients_and_second_derivatives(backend_name, make_f):
    torch = pytest.importorskip("torch")
    f = make_f()
    want_y, want_g = torch_grad(torch.nn.functional.softplus, X, UP)
    y, g = ours(f, X, UP)
    np.testing.assert_allclose(y, want_y, **TOL)
    np.testing.assert_allclose(g, want_g, **TOL)
    h = ag.hessian(lambda v: f(v).sum(), ag.mat(X[:1]))
    s = 1 / (1 + np.exp(-X[0]))
    np.testing.assert_allclose(h.numpy(), np.diag(s * (1 - s)), **TOL)
    assert np.array_equal(f(ag.mat(X, requires_grad=False)).numpy(), y)  # fun itself, undifferentiated


def test_custom_jvp_runs_forward_mode_and_custom_vjp_refuses_it_naming_it(backend_name):
    x, v = ag.mat(X, requires_grad=False), ag.mat(UP, requires_grad=False)
    _, t = ag.jvp(make_jvp(), (x,), (v,))
    np.testing.assert_allclose(t.numpy(), UP / (1 + np.exp(-X)), **TOL)
    with pytest.raises(NotImplementedError, match="_softplus"):
        ag.jvp(make_vjp(), (x,), (v,))


def test_nondiff_argnums_come_first_to_the_rules(backend_name):
    def scaled(k, x):
        return x * k
    f = ag.custom_vjp(scaled, nondiff_argnums=(0,))
    f.defvjp(lambda k, x: (x * k, None), lambda k, res, g: (g * k,))
    g = ag.custom_jvp(scaled, nondiff_argnums=(0,))

    @g.defjvp
    def rule(k, primals, tangents):
        (x,), (t,) = primals, tangents
        return x * k, t * k
    for fn in (f, g):
        x = ag.mat([[1.0, 2.0]])
        fn(3.0, x).sum().backward()
        assert x.grad.tolist() == [[3.0, 3.0]]
    _, t = ag.jvp(lambda v: g(3.0, v), (ag.mat([[1.0, 2.0]]),), (ag.mat([[1.0, -1.0]]),))
    assert t.tolist() == [[3.0, -3.0]]
    f.defvjp(lambda k, x: (x * k, None), lambda k, res, g: (g * k, None))
    with pytest.raises(ValueError, match=r"custom_vjp scaled: bwd returned 2 cotangents, "
                                         r"expected 1 \(one per argument not in nondiff_argnums"):
        f(3.0, ag.mat([[1.0]])).backward()


def test_custom_rule_misuse_names_the_function():
    f = ag.custom_vjp(_softplus)
    with pytest.raises(TypeError, match=r"custom_vjp _softplus: call defvjp"):
        f(ag.mat([[1.0]]))
    f.defvjp(lambda x: _softplus(x), lambda res, g: (g,))
    with pytest.raises(TypeError, match=r"custom_vjp _softplus: fwd must return a pair"):
        f(ag.mat([[1.0]]))
    f.defvjp(lambda x: (_softplus(x), None), lambda res, g: (g, g))
    with pytest.raises(ValueError, match=r"_softplus\.backward returned 2 gradients, expected 1"):
        f(ag.mat([[1.0]])).backward()
    g = ag.custom_jvp(_softplus)
    with pytest.raises(TypeError, match=r"custom_jvp _softplus: call defjvp"):
        g(ag.mat([[1.0]]))


def test_the_example_script_runs():
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        ex.main(["--backend", "python"])
    lines = out.getvalue().splitlines()
    assert len(lines) == len(ex.LOSSES) + 1 and all("bit for bit: True" in l for l in lines[:-1])
