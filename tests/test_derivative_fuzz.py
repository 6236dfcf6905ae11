"""Random derivative programs against PyTorch (torch.func and torch.autograd.grad), at 1e-8.

A case is a random scalar function f(a, b, c) of three 2x2 matrices (a tree of +, -, *, @, .T,
tanh, sigmoid, exp, squares and constants, summed against a fixed weight) and one composition of
derivatives of it: nested grads over different arguments, a grad of a closure differentiated
with respect to the closed-over matrix, jvp of grad, grad of jvp, jvp of jvp, a Hessian with
other variables closed over (reverse over reverse, and forward over reverse),
autograd.grad(create_graph=True) chains to third order, the same matrix passed as two arguments
or as an argument and a closure, and the perturbation-confusion programs x * d/dy f(x, y) in
reverse mode, forward mode and forward over reverse. Each is spelled once for pyautograd and
once for PyTorch. PYAUTOGRAD_FUZZ_EXAMPLES sets the cases (default 1000, .ci/run 3000), split
over the backends of conftest's list."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyautograd as ag

from conftest import BACKENDS

torch = pytest.importorskip("torch")
tfunc = torch.func

CASES_TOTAL = int(os.environ.get("PYAUTOGRAD_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=max(20, CASES_TOTAL // len(BACKENDS)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SHAPE = (2, 2)
UNARY = ["tanh", "sigmoid", "exp", "square", "cube", "neg", "T"]
BINARY = ["add", "sub", "mul", "matmul"]


def random_expression(rng: np.random.Generator, depth: int):
    """A nested tuple: ("var", i), ("const", array), (unary, e) or (binary, e1, e2)."""
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.85:
            return ("var", int(rng.integers(0, 3)))
        return ("const", rng.uniform(-1, 1, SHAPE))
    if rng.random() < 0.4:
        return (UNARY[rng.integers(len(UNARY))], random_expression(rng, depth - 1))
    return (BINARY[rng.integers(len(BINARY))], random_expression(rng, depth - 1),
            random_expression(rng, depth - 1))


def evaluate(expr, variables, lib):
    """expr on the variables, in pyautograd (lib "ag") or PyTorch (lib "torch")."""
    kind = expr[0]
    if kind == "var":
        return variables[expr[1]]
    if kind == "const":
        return (ag.mat(expr[1], requires_grad=False) if lib == "ag"
                else torch.tensor(expr[1], dtype=torch.float64))
    if kind in BINARY:
        x, y = evaluate(expr[1], variables, lib), evaluate(expr[2], variables, lib)
        return {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y,
                "matmul": lambda: (x @ y) * 0.5}[kind]()
    x = evaluate(expr[1], variables, lib)
    if kind == "tanh":
        return x.tanh()
    if kind == "sigmoid":
        return x.sigmoid()
    if kind == "exp":
        return (x * 0.5).tanh().exp()  # bounded, so that nothing overflows
    if kind == "square":
        return x * x
    if kind == "cube":
        return x ** 3
    if kind == "neg":
        return -x
    return x.T


def scalar_function(expr, weight, lib):
    """f(a, b, c) = sum(weight * expr(a, b, c)), plus a small term in every variable, so that
    every derivative asked for exists (an unused variable would give None in autograd.grad)."""
    w = ag.mat(weight, requires_grad=False) if lib == "ag" else torch.tensor(weight, dtype=torch.float64)

    def f(a, b, c):
        value = (evaluate(expr, (a, b, c), lib) * w).sum()
        return value + ((a * b).sum() + (c * c).sum() * b.sum()) * 0.125
    return f


# -- the compositions: each takes (f, numpy values, directions) in one library ---------------------

def _m(a, requires_grad=False):
    return ag.mat(a, requires_grad=requires_grad)


def _t(a, requires_grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


def nested_grads(lib, f, p, v):
    """d/db sum(v * d/da f(a, b, c)): a mixed partial."""
    if lib == "ag":
        return ag.grad(lambda b: (ag.grad(lambda a: f(a, b, _m(p[2])))(_m(p[0])) * _m(v)).sum())(_m(p[1]))
    return tfunc.grad(lambda b: (tfunc.grad(lambda a: f(a, b, _t(p[2])))(_t(p[0])) * _t(v)).sum())(_t(p[1]))


def grad_of_closure(lib, f, p, v):
    """d/dW sum(v * grad_a f(a, W, c)) with W a leaf closed over."""
    if lib == "ag":
        W = _m(p[1], True)
        g = ag.grad(lambda a: f(a, W, _m(p[2])))(_m(p[0]))
        (g * _m(v)).sum().backward()
        return [g, ag.Matrix(W.grad, requires_grad=False)]
    W = _t(p[1], True)
    a = _t(p[0], True)
    (g,) = torch.autograd.grad(f(a, W, _t(p[2])), a, create_graph=True)
    (gW,) = torch.autograd.grad((g * _t(v)).sum(), W)
    return [g, gW]


def jvp_of_grad(lib, f, p, v):
    """The directional derivative along v (in b) of grad_a f(a, b, c)."""
    if lib == "ag":
        return ag.jvp(lambda b: ag.grad(lambda a: f(a, b, _m(p[2])))(_m(p[0])), (_m(p[1]),), (_m(v),))
    return tfunc.jvp(lambda b: tfunc.grad(lambda a: f(a, b, _t(p[2])))(_t(p[0])), (_t(p[1]),), (_t(v),))


def grad_of_jvp(lib, f, p, v):
    """d/dc sum(v * (directional derivative of f in a along v))."""
    if lib == "ag":
        return ag.grad(lambda c: ag.jvp(lambda a: f(a, _m(p[1]), c), (_m(p[0]),), (_m(v),))[1].sum())(_m(p[2]))
    return tfunc.grad(lambda c: tfunc.jvp(lambda a: f(a, _t(p[1]), c), (_t(p[0]),), (_t(v),))[1].sum())(_t(p[2]))


def hessian_closed_over(lib, f, p, v):
    """The Hessian in a with b closed over as a leaf, and d/db sum(w * H)."""
    w = np.resize(v, (4, 4))
    if lib == "ag":
        B = _m(p[1], True)
        H = ag.hessian(lambda a: f(a, B, _m(p[2])), _m(p[0]))
        loss = (H * _m(w)).sum() + B.sum()  # + B.sum(): H may not depend on B at all
        return [H, ag.autograd.grad(loss, B)]
    B = _t(p[1], True)
    H = tfunc.hessian(lambda a: f(a, B, _t(p[2])))(_t(p[0])).reshape(4, 4)
    return [H, torch.autograd.grad((H * _t(w)).sum() + B.sum(), B)]


def third_order_chain(lib, f, p, v):
    """autograd.grad(create_graph=True) three times, over a, then b, then (a, c)."""
    grad = ag.autograd.grad if lib == "ag" else torch.autograd.grad
    make, vv = (_m, _m(v)) if lib == "ag" else (_t, _t(v))
    a, b, c = (make(x, True) for x in p)
    (g1,) = grad(f(a, b, c), a, create_graph=True)
    (g2,) = grad((g1 * vv).sum(), b, create_graph=True)
    g3 = grad((g2 * g2).sum() + (g2 * vv).sum() + (a * c).sum(), (a, c))
    return [g1, g2, g3]


def aliased(lib, f, p, v):
    """The same matrix passed as a and b: each argument's partial derivative."""
    if lib == "ag":
        x = _m(p[0], True)
        return ag.grad(lambda a, b: f(a, b, _m(p[2])), argnums=(0, 1))(x, x)
    x = _t(p[0])
    return tfunc.grad(lambda a, b: f(a, b, _t(p[2])), argnums=(0, 1))(x, x)


def perturbation_reverse(lib, f, p, v):
    """d/dx sum(x * d/dy f(x, y, c) at y = x): the inner derivative must not see the outer x."""
    if lib == "ag":
        return ag.grad(lambda x: (x * ag.grad(lambda y: f(x, y, _m(p[2])))(x)).sum())(_m(p[0]))
    return tfunc.grad(lambda x: (x * tfunc.grad(lambda y: f(x, y, _t(p[2])))(x)).sum())(_t(p[0]))


def perturbation_forward(lib, f, p, v):
    """The same in forward mode: a jvp of x * (a jvp in y at y = x)."""
    if lib == "ag":
        jvp, x0, d = ag.jvp, _m(p[0]), _m(v)
    else:
        jvp, x0, d = tfunc.jvp, _t(p[0]), _t(v)
    inner = lambda x: (x * jvp(lambda y: f(x, y, x * 0.5), (x,), (d,))[1]).sum()  # noqa: E731
    return jvp(inner, (x0,), (d,))


def perturbation_forward_over_reverse(lib, f, p, v):
    """A jvp of sum(x * grad_y f(x, y, c) at y = x)."""
    if lib == "ag":
        return ag.jvp(lambda x: (x * ag.grad(lambda y: f(x, y, _m(p[2])))(x)).sum(), (_m(p[0]),), (_m(v),))
    return tfunc.jvp(lambda x: (x * tfunc.grad(lambda y: f(x, y, _t(p[2])))(x)).sum(), (_t(p[0]),), (_t(v),))


def jvp_of_jvp(lib, f, p, v):
    """A second directional derivative: the jvp along v (in b) of the jvp along v^T (in a)."""
    if lib == "ag":
        jvp, make = ag.jvp, _m
    else:
        jvp, make = tfunc.jvp, _t
    inner = lambda b: jvp(lambda a: f(a, b, make(p[2])), (make(p[0]),), (make(v.T),))[1]  # noqa: E731
    return jvp(inner, (make(p[1]),), (make(v),))


def forward_jacobian_of_grad_closed_over(lib, f, p, v):
    """The Hessian in c by forward over reverse, with a closed over; then d/da sum(w * H)."""
    w = np.resize(v, (4, 4))
    if lib == "ag":
        A = _m(p[0], True)
        H = ag.jacobian(ag.grad(lambda c: f(A, _m(p[1]), c)), _m(p[2]), mode="fwd")
        return [H, ag.autograd.grad((H * _m(w)).sum() + A.sum(), A)]
    A = _t(p[0], True)
    H = tfunc.jacfwd(tfunc.grad(lambda c: f(A, _t(p[1]), c)))(_t(p[2])).reshape(4, 4)
    return [H, torch.autograd.grad((H * _t(w)).sum() + A.sum(), A)]


def closure_aliasing_argument(lib, f, p, v):
    """grad_a f(a, X, c) at a = X with X also closed over, then its derivative in X (total)."""
    if lib == "ag":
        X = _m(p[0], True)
        g = ag.grad(lambda a: f(a, X, _m(p[2])))(X)
        return [g, ag.autograd.grad((g * _m(v)).sum() + X.sum(), X)]
    X = _t(p[0], True)
    g = tfunc.grad(lambda a: f(a, X, _t(p[2])))(X)
    return [g, torch.autograd.grad((g * _t(v)).sum() + X.sum(), X)]


COMPOSITIONS = [closure_aliasing_argument, jvp_of_jvp, forward_jacobian_of_grad_closed_over,
                nested_grads, grad_of_closure, jvp_of_grad, grad_of_jvp, hessian_closed_over,
                third_order_chain, aliased, perturbation_reverse, perturbation_forward,
                perturbation_forward_over_reverse]


def _flatten(result):
    """Every matrix of a result (nested tuples) as a 2-D float64 array."""
    if isinstance(result, (tuple, list)):
        return [x for r in result for x in _flatten(r)]
    if isinstance(result, ag.Matrix):
        return [result.numpy()]
    return [np.atleast_2d(result.detach().numpy(force=True))]


def run_case(composition, seed):
    rng = np.random.default_rng(seed)
    expr = random_expression(rng, int(rng.integers(1, 5)))
    weight = rng.uniform(-1, 1, SHAPE)
    values = [rng.uniform(-1, 1, SHAPE) for _ in range(3)]
    direction = rng.uniform(-1, 1, SHAPE)
    ours = _flatten(composition("ag", scalar_function(expr, weight, "ag"), values, direction))
    theirs = _flatten(composition("torch", scalar_function(expr, weight, "torch"), values, direction))
    assert len(ours) == len(theirs), (composition.__name__, expr)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b.reshape(a.shape),
                                   rtol=1e-8, atol=1e-8,
                                   err_msg=f"{composition.__name__} result {k}, f = {expr}")


@FUZZ
@given(st.sampled_from(COMPOSITIONS), st.integers(0, 2 ** 32 - 1))
def test_random_derivative_programs_match_pytorch(backend_name, composition, seed):
    run_case(composition, seed)


@pytest.mark.parametrize("composition", COMPOSITIONS, ids=lambda c: c.__name__)
def test_every_composition_on_fixed_seeds(backend_name, composition):
    """Each composition at least a few times on every backend, whatever hypothesis draws."""
    for seed in range(3):
        run_case(composition, seed)
