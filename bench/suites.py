"""The benchmark suites. Each builds Cases whose implementations do the same work:
pyautograd on the C backend, pyautograd on the Python backend (small sizes only), NumPy written
by hand, and PyTorch float64 where it is installed. The float32 suite does the matmul and both
train steps in float32 throughout: pyautograd (eager and compiled), NumPy and PyTorch (issue 16).
Both train suites also time JAX (jitted) and HIPS autograd (eager) where installed (issue 24,
bench/peers.py)."""
from __future__ import annotations

from typing import List

import numpy as np

import pyautograd as ag
from pyautograd import nn, optim
from pyautograd.backends.carray import CArray, CArray32
from pyautograd.backends.list2d import List2D, List2D32

from . import peers
from .harness import Case, torch
from .portable import portable

TRAIN_SIZES = [(4, 2, 4), (64, 16, 32), (256, 64, 128), (1024, 784, 256)]
LEARNING_RATE = peers.LEARNING_RATE


FLOAT32_TRAIN_SIZES = TRAIN_SIZES  # issue 24's peer targets are at every size, in both dtypes


def _torch(a: np.ndarray, requires_grad: bool = False, dtype: str = "float64"):
    return torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=requires_grad)


def _matmul_case(n: int, rng: np.random.Generator, dtype: str = "float64") -> Case:
    """matmul n=N (suite kernels) or matmul float32 n=N (suite float32): the same arrays, in
    dtype, for every implementation."""
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    c_cls, py_cls = (CArray, List2D) if dtype == "float64" else (CArray32, List2D32)
    ca, cb = c_cls.from_array(a), c_cls.from_array(b)
    impls = {"pyautograd-c": lambda: ca @ cb, "numpy": lambda: a @ b}
    if n <= 64:
        pa, pb = py_cls.from_array(a), py_cls.from_array(b)
        impls["pyautograd-python"] = lambda: pa @ pb
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        impls["torch"] = lambda: ta @ tb
    if dtype == "float64":
        return Case("kernels", f"matmul n={n}", impls, flops=2.0 * n ** 3)
    return Case("float32", f"matmul float32 n={n}", impls, flops=2.0 * n ** 3)


def _elementwise_cases(n: int, rng: np.random.Generator) -> List[Case]:
    """Sigmoid, broadcast add and unbroadcast of one n x n array. Built in a function of its
    own so that every closure binds this n's arrays (closures in a loop over sizes would all
    read the last size's)."""
    x, row = rng.standard_normal((n, n)), rng.standard_normal((1, n))
    cx, crow = CArray.from_array(x), CArray.from_array(row)
    work = {
        "sigmoid": {"pyautograd-c": lambda: cx.sigmoid(), "numpy": lambda: 1.0 / (1.0 + np.exp(-x))},
        "broadcast add (n,n)+(1,n)": {"pyautograd-c": lambda: cx + crow, "numpy": lambda: x + row},
        "unbroadcast (n,n)->(1,n)": {"pyautograd-c": lambda: cx.unbroadcast(1, n),
                                     "numpy": lambda: x.sum(0, keepdims=True)},
    }
    if n <= 64:
        px, prow = List2D.from_array(x), List2D.from_array(row)
        work["sigmoid"]["pyautograd-python"] = lambda: px.sigmoid()
        work["broadcast add (n,n)+(1,n)"]["pyautograd-python"] = lambda: px + prow
        work["unbroadcast (n,n)->(1,n)"]["pyautograd-python"] = lambda: px.unbroadcast(1, n)
    if torch is not None:
        tx, trow = _torch(x), _torch(row)
        work["sigmoid"]["torch"] = lambda: torch.sigmoid(tx)
        work["broadcast add (n,n)+(1,n)"]["torch"] = lambda: tx + trow
        work["unbroadcast (n,n)->(1,n)"]["torch"] = lambda: tx.sum(0, keepdim=True)
    return [Case("kernels", f"{name} n={n}", impls) for name, impls in work.items()]


def kernels(quick: bool) -> List[Case]:
    rng = np.random.default_rng(0)
    cases = [_matmul_case(n, rng) for n in ([16, 64] if quick else [16, 32, 64, 128, 256, 512, 1024])]
    for n in ([16, 32] if quick else [64, 512]):
        cases += _elementwise_cases(n, rng)
    return cases


def _add_and_backward(a, b):
    """a + b with its backward; returns the sum, so that a test can compare implementations."""
    def run():
        s = a + b
        s.backward()
        return s
    return run


def overhead(quick: bool) -> List[Case]:
    """The floor of one recorded op: a 1x1 add, then a 1x1 add and its backward."""
    left, right = np.full((1, 1), 1.0), np.full((1, 1), 2.0)
    one = {}
    for backend in ("c", "python"):
        with ag.backend(backend):
            one[backend] = (ag.mat(left), ag.mat(right))
    (ca, cb), (pa, pb) = one["c"], one["python"]
    add = {"pyautograd-c": lambda: ca + cb, "pyautograd-python": lambda: pa + pb}
    both = {"pyautograd-c": _add_and_backward(ca, cb), "pyautograd-python": _add_and_backward(pa, pb)}
    if torch is not None:
        ta, tb = _torch(left, True), _torch(right, True)
        add["torch"] = lambda: ta + tb
        both["torch"] = _add_and_backward(ta, tb)
    add["numpy"] = lambda: left + right  # no graph: the floor any framework sits on
    return [Case("overhead", "1x1 add, graph recorded", add),
            Case("overhead", "1x1 add + backward", both)]


def _init(n_in: int, hidden: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(n_in), 1 / np.sqrt(hidden)
    return [rng.uniform(-b1, b1, (hidden, n_in)), rng.uniform(-b1, b1, (1, hidden)),
            rng.uniform(-b2, b2, (1, hidden)), rng.uniform(-b2, b2, (1, 1))]


def nn_step(model, loss_fn, opt, x, y, zero_first: bool = False):
    """The `nn` step: modules, a loss module and an optimizer, the same code for pyautograd
    and PyTorch (they share the idiom). zero_first: zero_grad() before the forward, as many
    PyTorch loops do, instead of after the update."""
    def step():
        if zero_first:
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if not zero_first:
            opt.zero_grad()
        return loss
    return step


def nn_model(params, dtype: str = "float64"):
    """The `nn` step's model, Linear-Sigmoid-Linear-Sigmoid, on the current backend, starting
    from `params` (W1, b1, W2, b2 as NumPy arrays), in `dtype`."""
    hidden, n_in = params[0].shape
    l1, l2 = nn.Linear(n_in, hidden, dtype=dtype), nn.Linear(hidden, 1, dtype=dtype)
    for p, v in zip((l1.weight, l1.bias, l2.weight, l2.bias), params):
        p.data = type(p.data).from_array(v)
    return nn.Sequential(l1, nn.Sigmoid(), l2, nn.Sigmoid())


def _pyautograd_nn(backend: str, X: np.ndarray, Y: np.ndarray, params, dtype: str = "float64"):
    with ag.backend(backend):
        x = ag.mat(X, requires_grad=False, dtype=dtype)
        y = ag.mat(Y, requires_grad=False, dtype=dtype)
        model = nn_model(params, dtype)
        return nn_step(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=LEARNING_RATE), x, y)


def _torch_nn(X, Y, params, dtype: str = "float64"):
    x, y = _torch(X, dtype=dtype), _torch(Y, dtype=dtype)
    l1 = torch.nn.Linear(X.shape[1], params[0].shape[0], dtype=getattr(torch, dtype))
    l2 = torch.nn.Linear(params[0].shape[0], 1, dtype=getattr(torch, dtype))
    with torch.no_grad():
        for p, v in zip((l1.weight, l1.bias, l2.weight, l2.bias), params):
            p.copy_(torch.tensor(v.reshape(p.shape)))
    model = torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid())
    return nn_step(model, torch.nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=LEARNING_RATE), x, y)


def lecture_step(x, y, weights, lr: float = LEARNING_RATE):
    """The `lecture` step: raw Matrix ops and a hand-written update, as the lecture teaches,
    over the inputs x, y and the parameters W1, b1, W2, b2 (matrices that require grad)."""
    W1, B1, W2, B2 = weights

    def step():
        A2 = ((x @ W1.T + B1).sigmoid() @ W2.T + B2).sigmoid()
        L = ((A2 - y) ** 2).mean()
        L.backward()
        with ag.no_grad():
            for p in weights:
                p.data -= lr * p.grad
                p.zero_grad()
        return L
    return step


def _pyautograd_lecture(backend: str, X: np.ndarray, Y: np.ndarray, params,
                        dtype: str = "float64"):
    with ag.backend(backend):
        x = ag.mat(X, requires_grad=False, dtype=dtype)
        y = ag.mat(Y, requires_grad=False, dtype=dtype)
        weights = [ag.mat(v, dtype=dtype) for v in params]
    return lecture_step(x, y, weights)


def _torch_lecture(X, Y, params, dtype: str = "float64"):
    """The lecture's step written for PyTorch tensors: the same forward, PyTorch's own update."""
    x, y = _torch(X, dtype=dtype), _torch(Y, dtype=dtype)
    W1, B1, W2, B2 = weights = [_torch(v, requires_grad=True, dtype=dtype) for v in params]
    lr = LEARNING_RATE

    def step():
        A2 = ((x @ W1.T + B1).sigmoid() @ W2.T + B2).sigmoid()
        L = ((A2 - y) ** 2).mean()
        L.backward()
        with torch.no_grad():
            for p in weights:
                p -= lr * p.grad
                p.grad = None
        return L
    return step


def _numpy_step(X, Y, params, dtype: str = "float64"):
    """Forward, backward and update written out by hand: the same math as both steps (in
    float32 too: NumPy keeps float32 arrays float32 against Python numbers)."""
    X, Y = X.astype(dtype), Y.astype(dtype)
    W1, b1, W2, b2 = [p.astype(dtype) for p in params]

    def step():
        nonlocal W1, b1, W2, b2  # `-=` below updates the arrays in place
        A1 = 1.0 / (1.0 + np.exp(-(X @ W1.T + b1)))
        A2 = 1.0 / (1.0 + np.exp(-(A1 @ W2.T + b2)))
        diff = A2 - Y
        loss = (diff * diff).mean()
        dZ2 = (2.0 / diff.size) * diff * A2 * (1.0 - A2)
        dZ1 = (dZ2 @ W2) * A1 * (1.0 - A1)
        W2 -= LEARNING_RATE * (dZ2.T @ A1)
        b2 -= LEARNING_RATE * dZ2.sum(0, keepdims=True)
        W1 -= LEARNING_RATE * (dZ1.T @ X)
        b1 -= LEARNING_RATE * dZ1.sum(0, keepdims=True)
        return loss
    return step


def train_data(n: int, d: int, h: int):
    """X (n x d), Y (n x 1) and the initial parameters of one train size, the same for every
    implementation."""
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, d)), rng.random((n, 1)), _init(d, h)


STEPS = {"lecture": (_pyautograd_lecture, _torch_lecture), "nn": (_pyautograd_nn, _torch_nn)}


def train_steps(kind: str, n: int, d: int, h: int, with_python: bool = True,
                dtype: str = "float64", only=None, data=None):
    """The `kind` ("lecture" or "nn") train-step callables of every implementation for one
    size, in dtype, each on its own copy of the same data and initial parameters. `compiled` is
    the pyautograd-c step under ag.compile: after a warm-up and two recorded calls, one C call.
    The peers (torch, jax, hips-autograd) only where installed; `only`: just these names;
    `data`: train_data(n, d, h) made by the caller."""
    ours, theirs = STEPS[kind]
    X, Y, params = train_data(n, d, h) if data is None else data
    builders = {
        "pyautograd-c": lambda: ours("c", X, Y, params, dtype),
        "compiled": lambda: ag.compile(ours("c", X, Y, params, dtype)),
        "pyautograd-python": lambda: ours("python", X, Y, params, dtype),
        "numpy": lambda: _numpy_step(X, Y, params, dtype),
        "torch": lambda: theirs(X, Y, params, dtype),
        "jax": lambda: peers.jax_step(kind, X, Y, params, dtype),
        "hips-autograd": lambda: peers.hips_step(kind, X, Y, params, dtype)}
    wanted = {"pyautograd-python": with_python, "torch": torch is not None,
              "jax": peers.jax is not None, "hips-autograd": peers.autograd is not None}
    return {name: build() for name, build in builders.items()
            if wanted.get(name, True) and (only is None or name in only)}


def train(quick: bool) -> List[Case]:
    """Both steps at every size; the Python backend at the small sizes only."""
    sizes = TRAIN_SIZES[:2] if quick else TRAIN_SIZES
    return [Case("train", f"{kind} (N,D,H)=({n},{d},{h})",
                 train_steps(kind, n, d, h, with_python=n * d * h <= 1e6), show_faults=True)
            for kind in STEPS for n, d, h in sizes]


HVP_INPUTS = 1000  # issue 11: a Hessian-vector product at n = 1,000 inputs costs at most 5 gradients


def _scalar_function(n: int, seed: int = 0):
    """f(x) = sum(sigmoid(tanh(x A) b)) + 0.01 |x|^2 for a (1, n) x, in NumPy arrays (A, b) and
    as a function of the library's matrices or of torch tensors (the same maths)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 64)) / 30, rng.standard_normal((64, 1)) / 8
    x, v = rng.standard_normal((1, n)), rng.standard_normal((1, n))

    def f(x, a, b):
        return ((x @ a).tanh() @ b).sigmoid().sum() + (x * x).sum() * 0.01
    return f, a, b, x, v


def derivatives(quick: bool) -> List[Case]:
    """A gradient and a Hessian-vector product (reverse over reverse) of one scalar function."""
    n = 50 if quick else HVP_INPUTS
    f, a, b, x, v = _scalar_function(n)
    gradient, hvp = {}, {}
    for backend in ("c", "python"):
        with ag.backend(backend):
            A, B, X, V = (ag.mat(m, requires_grad=False) for m in (a, b, x, v))

        def ours(m, A=A, B=B):
            return f(m, A, B)
        gradient[f"pyautograd-{backend}"] = lambda ours=ours, X=X: ag.grad(ours)(X)
        hvp[f"pyautograd-{backend}"] = lambda ours=ours, X=X, V=V: ag.hvp(ours, X, V)
    if torch is not None:
        ta, tb, tv = _torch(a), _torch(b), _torch(v)

        def torch_grad(create_graph: bool = False):
            tx = _torch(x, True)
            return tx, torch.autograd.grad(f(tx, ta, tb), tx, create_graph=create_graph)[0]

        def torch_hvp():
            tx, g = torch_grad(create_graph=True)
            return torch.autograd.grad((g * tv).sum(), tx)[0]
        gradient["torch"] = lambda: torch_grad()[1]
        hvp["torch"] = torch_hvp
    return [Case("derivatives", f"gradient n={n}", gradient),
            Case("derivatives", f"hvp n={n}", hvp),
            Case("derivatives", f"pinn step (points,hidden)={PINN_SIZE if not quick else (8, 4)}",
                 pinn_steps(*(PINN_SIZE if not quick else (8, 4))))]


PINN_SIZE = (64, 32)  # collocation points, hidden units of the 1 -> H -> H -> 1 tanh network
PINN_LR = 1e-3  # Adam's learning rate in every implementation


def pinn_steps(points: int, hidden: int) -> dict:
    """One Adam step of a physics-informed network (u'' = -u, u(0) = 0, u'(0) = 1), whose loss
    holds the network's second derivative in its input: pyautograd eager (ag.grad twice, the
    result recorded because the weights are closed over) and compiled (ag.compile replays the
    whole step, derivatives included, in one C call), PyTorch (autograd.grad with
    create_graph=True twice) and JAX (jax.jit of the step, jax.grad twice), from the same
    weights."""
    rng = np.random.default_rng(0)
    shapes = [(1, hidden), (1, hidden), (hidden, hidden), (1, hidden), (hidden, 1)]
    weights = [rng.normal(0, 0.7, s) for s in shapes]
    xs = np.linspace(0.0, np.pi, points).reshape(-1, 1)
    impls = {}

    def ours(backend: str):
        with ag.backend(backend):
            p = [ag.mat(w) for w in weights]
            x, zero = ag.mat(xs, requires_grad=False), ag.zeros(1, 1, requires_grad=False)
        opt = ag.optim.Adam(p, lr=PINN_LR)

        def step():
            u = lambda z: peers._pinn_u(_AgFunctions, p, z)  # noqa: E731
            du = lambda z: ag.grad(lambda v: u(v).sum())(z)  # noqa: E731
            d2u = ag.grad(lambda v: du(v).sum())(x)
            loss = ((d2u + u(x)) ** 2).mean() + u(zero).sum() ** 2 + (du(zero).sum() - 1.0) ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    for backend in ("c", "python") if points * hidden <= 64 else ("c",):
        impls[f"pyautograd-{backend}"] = ours(backend)
    impls["compiled"] = ag.compile(ours("c"))
    if torch is not None:
        tp = [_torch(w, True) for w in weights]
        tx, tzero = _torch(xs, True), _torch(np.zeros((1, 1)), True)
        topt = torch.optim.Adam(tp, lr=PINN_LR)

        def torch_step():
            u = lambda z: peers._pinn_u(torch, tp, z)  # noqa: E731
            (du,) = torch.autograd.grad(u(tx).sum(), tx, create_graph=True)
            (d2u,) = torch.autograd.grad(du.sum(), tx, create_graph=True)
            (du0,) = torch.autograd.grad(u(tzero).sum(), tzero, create_graph=True)
            loss = ((d2u + u(tx)) ** 2).mean() + u(tzero).sum() ** 2 + (du0.sum() - 1.0) ** 2
            topt.zero_grad()
            loss.backward()
            topt.step()
            return loss
        impls["torch"] = torch_step
    if peers.jax is not None:
        impls["jax"] = peers.jax_pinn_step(weights, xs, PINN_LR)
    return impls


class _AgFunctions:
    """tanh as the PINN's network spells it (np_.tanh(z)), for pyautograd matrices."""
    tanh = staticmethod(lambda m: m.tanh())


def float32_train_steps(kind: str, n: int, d: int, h: int, with_python: bool = True):
    """train_steps' implementations in float32, the compiled column included (ag.compile
    records and replays float32 steps as it does float64 ones)."""
    return train_steps(kind, n, d, h, with_python, "float32")


def float32(quick: bool) -> List[Case]:
    """Issue 16: the matmul (GFLOP/s against NumPy's float32) and both train steps in float32."""
    rng = np.random.default_rng(0)
    cases = [_matmul_case(n, rng, "float32") for n in ([16, 64] if quick else [64, 256, 512, 1024])]
    sizes = TRAIN_SIZES[:2] if quick else FLOAT32_TRAIN_SIZES
    return cases + [Case("float32", f"{kind} float32 (N,D,H)=({n},{d},{h})",
                         float32_train_steps(kind, n, d, h, with_python=n * d * h <= 1e5),
                         show_faults=True)
                    for kind in STEPS for n, d, h in sizes]


SUITES = {"kernels": kernels, "overhead": overhead, "train": train, "portable": portable,
          "float32": float32, "derivatives": derivatives}
