"""Trustworthy under abuse: memory returns at once, numerics follow IEEE 754 on every backend,
threads do not disturb each other."""
import subprocess
import sys
import textwrap
import threading
import warnings
import weakref

import numpy as np
import pytest

import pyautograd as ag
from pyautograd.nn import functional as F

from conftest import in_threads, needs_c



def _python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_c
def test_10000_training_steps_with_gc_disabled_grow_peak_rss_by_under_5_mb():
    out = _python("""
        import gc, resource
        from pyautograd import data, nn, optim
        import numpy as np
        gc.disable()
        X, Y = data.make_moons(256, seed=0)
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(2, 16, rng=rng), nn.Sigmoid(), nn.Linear(16, 1, rng=rng), nn.Sigmoid())
        opt = optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.BCELoss()
        batches = list(data.batches(X, Y, 32, seed=0))
        def steps(n):
            for i in range(n):
                xb, yb = batches[i % len(batches)]
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        steps(500)
        gc.collect()  # whatever setup left; from here on only the steps count
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        steps(10_000)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(after - before, gc.collect())
    """)
    growth_kb, cyclic = map(int, out.split())
    print(f"peak RSS growth over 10,000 steps: {growth_kb} KB; objects left for the cycle collector: {cyclic}")
    assert growth_kb < 5 * 1024
    assert cyclic == 0  # nothing was waiting for the cycle collector


@needs_c
def test_a_matrix_of_300_mb_is_freed_as_soon_as_the_last_reference_goes():
    out = _python("""
        import pyautograd as ag
        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 / 2**20
        start = rss_mb()
        x = ag.ones(6250, 6000)           # 300 MB
        y = (x * 2.0).sum()               # with a graph hanging on it
        held = rss_mb()
        del x
        still = rss_mb()                  # the graph still needs x
        del y
        freed = rss_mb()
        print(round(held - start), round(still - start), round(freed - start))
    """)
    held, still, freed = map(int, out.split())
    print(f"RSS above start: {held} MB held, {still} MB while the graph holds it, {freed} MB after")
    assert held >= 550 and still >= 550  # x and x * 2.0
    assert freed < 20


def test_a_100000_node_chain_is_built_backpropagated_and_freed(backend_name):
    x = ag.mat(1.0)
    y = x
    for i in range(100_000):
        y = y * 1.0
        if i == 50_000:
            middle = weakref.ref(y)
    y.backward()
    assert x.grad.item() == 1.0
    assert middle() is None  # released by backward, not by the cycle collector
    z = x
    for _ in range(100_000):
        z = z + 0.0
    del z  # dropped without a backward: freed without a crash or recursion error


EDGES = np.array([[0.0, -0.0, 1e3, -1e3, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-300]])


def _np(fn):
    with np.errstate(all="ignore"):
        return fn(EDGES)


NUMERICS = [
    ("exp", lambda m: m.exp(), lambda x: np.exp(x)),
    ("log", lambda m: m.log(), lambda x: np.log(x)),
    ("sigmoid", lambda m: m.sigmoid(),
     lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))),
    ("tanh", lambda m: m.tanh(), lambda x: np.tanh(x)),
    ("sin", lambda m: m.sin(), lambda x: np.sin(x)),
    ("cos", lambda m: m.cos(), lambda x: np.cos(x)),
    ("pow 2", lambda m: m ** 2, lambda x: x ** 2),
    ("pow 0.5", lambda m: m ** 0.5, lambda x: x ** 0.5),
    ("pow -1", lambda m: m ** -1, lambda x: x ** -1.0),
    ("divide by the edges", lambda m: 1.0 / m, lambda x: 1.0 / x),
    ("divide the edges by 0", lambda m: m / 0.0, lambda x: x / 0.0),
    ("divide the edges by -0", lambda m: m / -0.0, lambda x: x / -0.0),
    ("softmax", lambda m: m.softmax(1), None),
    ("log_softmax", lambda m: m.log_softmax(1), None),
]


@pytest.mark.parametrize("name,ours,reference", NUMERICS, ids=[n[0] for n in NUMERICS])
def test_ieee_results_at_the_edges_without_exceptions_or_warnings(backend_name, name, ours, reference):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from our code would fail the test
        out = ours(ag.mat(EDGES)).numpy()
    if reference is not None:
        expected = _np(reference)
        finite = np.isfinite(expected)
        assert np.array_equal(np.isnan(out), np.isnan(expected)), (out, expected)
        assert np.array_equal(out[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])
        np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-15, atol=0)
    else:  # the row holds inf and nan: the whole softmax row is nan, as in NumPy and PyTorch
        assert np.isnan(out).all()


def test_softmax_of_large_finite_values_is_exact(backend_name):
    x = ag.mat([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3]])
    np.testing.assert_allclose(x.softmax(1).numpy(), [[1, 0, 0], [1 / 3] * 3], atol=1e-300)
    np.testing.assert_allclose(x.log_softmax(1).numpy(), [[0, -2e3, -1e3], [-np.log(3)] * 3], rtol=1e-15)


def test_losses_and_gradients_stay_finite_at_the_edges(backend_name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = ag.mat([[0.0, 1.0, 0.0, 1.0]])
        y = ag.mat([[0.0, 1.0, 1.0, 0.0]], requires_grad=False)
        bce = F.binary_cross_entropy(p, y)
        z = ag.mat([[1e4, -1e4, 1e4, -1e4]])
        logits = F.binary_cross_entropy_with_logits(z, y)
        c = ag.mat([[1e4, -1e4], [-1e4, 1e4]])
        ce = F.cross_entropy(c, [1, 1])
        (bce + logits + ce).backward()
    for m in (bce, logits, ce, p.grad, z.grad, c.grad):
        values = m.numpy() if isinstance(m, ag.Matrix) else m.numpy()
        assert np.isfinite(values).all()


def test_relu_and_abs_gradients_are_zero_at_zero(backend_name):
    x = ag.mat([[0.0, -0.0]])
    x.relu().sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]]
    x.zero_grad()
    x.abs().sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]]


@needs_c
def test_two_threads_training_at_once_get_the_weights_of_running_one_after_the_other():
    from pyautograd.demo import Config, train
    configs = [Config(backend="c", seed=1, epochs=15, n=400), Config(backend="c", seed=2, epochs=15, n=400)]
    alone = [train(cfg).model.parameters() for cfg in configs]
    barrier = threading.Barrier(2)

    def run(cfg):
        barrier.wait()
        return train(cfg).model.parameters()
    together = in_threads(run, configs)
    for a, b in zip(alone, together):
        for pa, pb in zip(a, b):
            assert np.array_equal(pa.numpy(), pb.numpy())
