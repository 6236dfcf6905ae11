"""Derivatives of derivatives, for every row of the op table on every backend: the Hessian
times a direction from reverse over reverse (the reverse rules run on recorded matrices),
against PyTorch's double backward, against central differences of the gradient, and against
forward over reverse (jvp of grad). The public forms (grad of grad, hessian, hvp, jacobian of
grad) are checked on functions whose Hessian is known in closed form."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import ops
from pyautograd.backward import gradients
from pyautograd.matrix import apply
from pyautograd.viz import graph_nodes

from op_table import OPS, draw


def _problem(op, seed):
    """Inputs, a fixed upstream U (the scalar is sum(op(inputs) * U)) and a direction per input."""
    rng = np.random.default_rng(seed)
    arrays = [draw(rng, shape, op.domain) for shape in op.shapes]
    upstream = rng.standard_normal(op.ref(*arrays).shape)
    directions = [rng.standard_normal(shape) for shape in op.shapes]
    return arrays, upstream, directions


def _scalar(op, upstream, dtype="float64"):
    def f(*xs):
        out = op.fn(*xs)
        return (out * ag.mat(upstream, requires_grad=False, dtype=dtype)).sum()
    return f


def _hvp_reverse_over_reverse(op, arrays, upstream, directions, dtype="float64"):
    inputs = [ag.mat(a, dtype=dtype) for a in arrays]
    first = gradients([_scalar(op, upstream, dtype)(*inputs)], inputs, create_graph=True)
    total = None
    for g, v in zip(first, directions):
        if g is not None and g.requires_grad:
            term = (g * ag.mat(v, requires_grad=False, dtype=dtype)).sum()
            total = term if total is None else total + term
    if total is None:  # the op is linear in every input: its Hessian is zero
        return [np.zeros_like(a) for a in arrays], None
    second = gradients([total], inputs)
    return [np.zeros_like(a) if h is None else h.numpy() for h, a in zip(second, arrays)], total


def _assert_each(got, expected, op, rtol, atol):
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{op.name}: H v, input {i}")


@pytest.mark.parametrize("dtype,rtol,atol", [("float64", 1e-8, 1e-10), ("float32", 1e-3, 1e-4)])
@pytest.mark.parametrize("op", OPS, ids=str)
def test_second_derivatives_match_pytorch(op, backend_name, dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    arrays, upstream, directions = _problem(op, 21)
    arrays = [a.astype(dtype) for a in arrays]
    ours, _ = _hvp_reverse_over_reverse(op, arrays, upstream, directions, dtype)
    tensor = lambda a, **kw: torch.tensor(a, dtype=getattr(torch, dtype), **kw)  # noqa: E731
    t_inputs = [tensor(a, requires_grad=True) for a in arrays]
    t_out = (op.torch(*t_inputs) * tensor(upstream)).sum()
    t_first = torch.autograd.grad(t_out, t_inputs, create_graph=True)
    t_total = sum((g * tensor(v)).sum() for g, v in zip(t_first, directions) if g.requires_grad)
    if not isinstance(t_total, torch.Tensor):
        expected = [np.zeros_like(a) for a in arrays]
    else:
        second = torch.autograd.grad(t_total, t_inputs, allow_unused=True)
        expected = [np.zeros_like(a) if h is None else h.numpy(force=True) for h, a in zip(second, arrays)]
    assert all(h.dtype == dtype for h in ours), "second derivatives keep the inputs' dtype"
    _assert_each(ours, expected, op, rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", OPS, ids=str)
def test_second_derivatives_match_central_differences_of_the_gradient(op, backend_name):
    arrays, upstream, directions = _problem(op, 22)
    ours, _ = _hvp_reverse_over_reverse(op, arrays, upstream, directions)
    eps = 1e-6

    def gradient_at(step):
        inputs = [ag.mat(a + step * v) for a, v in zip(arrays, directions)]
        _scalar(op, upstream)(*inputs).backward()
        return [x.grad.numpy() for x in inputs]
    numeric = [(p - m) / (2 * eps) for p, m in zip(gradient_at(eps), gradient_at(-eps))]
    _assert_each(ours, numeric, op, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", OPS, ids=str)
def test_forward_over_reverse_equals_reverse_over_reverse(op, backend_name):
    arrays, upstream, directions = _problem(op, 23)
    ours, _ = _hvp_reverse_over_reverse(op, arrays, upstream, directions)
    gradient = ag.grad(_scalar(op, upstream), argnums=tuple(range(len(arrays))))
    inputs = tuple(ag.mat(a, requires_grad=False) for a in arrays)
    _, tangents = ag.jvp(gradient, inputs, tuple(ag.mat(v, requires_grad=False) for v in directions))
    _assert_each([t.numpy() for t in tangents], ours, op, rtol=1e-10, atol=1e-12)


def test_every_row_of_the_rule_table_is_differentiated_twice_by_the_op_table():
    """The op table reaches every rule (fused nodes and the helpers' own rows included) in a
    graph of second derivatives, so the tests above cover the whole table."""
    reached = set()
    for op in OPS:
        arrays, upstream, directions = _problem(op, 24)
        _, total = _hvp_reverse_over_reverse(op, arrays, upstream, directions)
        inputs = [ag.mat(a) for a in arrays]
        reached |= {m._op for m in graph_nodes(_scalar(op, upstream)(*inputs))}
        if total is not None:
            reached |= {m._op for m in graph_nodes(total)}
    assert set(ops.RULES) - reached == set()


def test_grad_of_grad_hessian_hvp_and_jacobian_of_grad(backend_name):
    """f(x) = sum(x^3) * sum(x): H = 6 diag(x) sum(x) + 3 (x_i^2 + x_j^2)."""
    x = np.array([[0.5, -1.0, 2.0]])
    f = lambda v: (v ** 3).sum() * v.sum()  # noqa: E731
    expected = 6 * np.diag(x[0]) * x.sum() + 3 * (x[0][:, None] ** 2 + x[0][None, :] ** 2)
    H = ag.hessian(f, ag.mat(x))
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H.numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(ag.jacobian(ag.grad(f), ag.mat(x)).numpy(), expected, rtol=1e-14)
    v = np.array([[1.0, -2.0, 0.5]])
    np.testing.assert_allclose(ag.hvp(f, ag.mat(x), ag.mat(v)).numpy(), v @ expected, rtol=1e-14)
    _, hv = ag.jvp(ag.grad(f), (ag.mat(x),), (ag.mat(v),))
    np.testing.assert_allclose(hv.numpy(), v @ expected, rtol=1e-14)
    # scalar x: d^2/dx^2 x^3 = 6x, d^3/dx^3 = 6
    cube = lambda t: t ** 3  # noqa: E731
    assert ag.grad(ag.grad(cube))(ag.mat(2.0)).item() == 12.0
    assert ag.grad(ag.grad(ag.grad(cube)))(ag.mat(2.0)).item() == 6.0


def test_derivatives_of_functions_that_do_not_depend_on_x_are_zero(backend_name):
    x = ag.mat([[1.0, 2.0]])
    constant = lambda v: ag.mat(3.0, requires_grad=False)  # noqa: E731
    linear = lambda v: (v * 2.0).sum()  # noqa: E731
    assert ag.grad(constant)(x).tolist() == [[0.0, 0.0]]
    assert ag.hessian(linear, x).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert ag.hvp(linear, x, ag.mat([[1.0, 1.0]])).tolist() == [[0.0, 0.0]]


def test_higher_order_calls_check_their_arguments(backend_name):
    x = ag.mat([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"hvp: x has shape \(1, 2\), v \(2, 1\)"):
        ag.hvp(lambda v: v.sum(), x, ag.mat([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="hvp: f must return a 1x1 Matrix"):
        ag.hvp(lambda v: v * 2, x, x)
    # jvps nest: d/dv [exp(v) v] along x = (exp(v) v + exp(v)) x
    _, t = ag.jvp(lambda v: ag.jvp(lambda w: w.exp(), (v,), (v,))[1], (x,), (x,))
    np.testing.assert_allclose(t.numpy(), [[2 * np.e, 6 * np.e ** 2]], rtol=1e-14)


def test_an_op_without_a_forward_rule_says_so_in_forward_mode(backend_name):
    row = ops.Rule("no_forward_rule", lambda a: a * 2.0, lambda g, y, n, a: (g * 2.0,), ops.OTHER,
                   "Y = 2A")
    x = ag.mat([[1.0, 2.0]])
    apply(row, (x,)).sum().backward()  # reverse mode works
    assert x.grad.tolist() == [[2.0, 2.0]]
    with pytest.raises(NotImplementedError, match="op 'no_forward_rule' has no forward rule"):
        ag.jvp(lambda v: apply(row, (v,)), (x,), (x,))


def test_the_table_refuses_a_second_definition_and_an_unknown_kind():
    with pytest.raises(ValueError, match="rule 'add' is defined twice"):
        ops.rule("add", ops.ADD.value, ops.ADD.vjp, ops.LINEAR, "again")
    with pytest.raises(ValueError, match="unknown kind 'sideways'"):
        ops.Rule("x", ops.ADD.value, ops.ADD.vjp, "sideways", "")
