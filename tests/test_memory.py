"""Memory on the C backend: the buffer pool, and `.T` as a view that no kernel has to copy."""

import numpy as np
import pytest

import pyautograd as ag

from conftest import in_threads, needs_c
from op_table import OPS, draw

pytestmark = needs_c

BIG = (300, 300)  # 720,000 bytes: a pooled buffer (small ones come from malloc)


@pytest.fixture
def c_backend():
    with ag.backend("c"):
        yield


def test_a_freed_buffer_is_cached_and_reused(c_backend):
    ag.empty_cache()
    a = ag.zeros(*BIG)
    assert ag.cache_info()["cached"] == 0
    del a
    cached = ag.cache_info()["cached"]
    assert cached >= BIG[0] * BIG[1] * 8
    b = ag.ones(*BIG)  # the same size class: the cached block comes back
    assert ag.cache_info()["cached"] == 0
    assert b.numpy().sum() == BIG[0] * BIG[1]


def test_empty_cache_returns_the_bytes_it_freed(c_backend):
    ag.empty_cache()
    big = ag.zeros(*BIG)
    del big  # its buffer goes back to the pool
    cached = ag.cache_info()["cached"]
    assert cached > 0
    assert ag.empty_cache() == cached
    assert ag.cache_info()["cached"] == 0


def test_the_cache_limit_bounds_what_is_kept(c_backend):
    old = ag.set_cache_limit(1000)
    try:
        ag.zeros(*BIG)  # freed at once: too large to keep under the limit
        assert ag.cache_info() == {"cached": 0, "limit": 1000}
    finally:
        ag.set_cache_limit(old)
    assert ag.cache_info()["limit"] == old


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1", 2 ** 64])
def test_the_cache_limit_must_be_a_byte_count(bad):
    with pytest.raises(ValueError, match="set_cache_limit"):
        ag.set_cache_limit(bad)


def test_a_huge_shape_is_a_memory_error_naming_shape_and_bytes(c_backend):
    with pytest.raises(MemoryError, match=r"\(1000000, 1000000\) float64 matrix: 8,000,000,000,000 bytes"):
        ag.zeros(10 ** 6, 10 ** 6)
    with pytest.raises(MemoryError, match=r"\(4294967296, 4294967296\)"):
        ag.zeros(2 ** 32, 2 ** 32)  # more values than a size_t can count in bytes


def test_threads_allocating_at_once_each_get_their_own_buffers(c_backend):
    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            values = rng.standard_normal((64, 64))  # 32 KiB: pooled
            m = ag.mat(values, requires_grad=False)
            assert np.array_equal((m + m).numpy(), 2 * values), seed
    in_threads(work, range(4))


# -- .T is a view ---------------------------------------------------------------------------------

def test_transpose_shares_the_buffer(c_backend):
    w = ag.mat([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=False)
    t = w.T
    assert t.data.buf is w.data.buf and t.data.transposed
    w += 10.0
    assert t.tolist() == [[11.0, 14.0], [12.0, 15.0], [13.0, 16.0]]
    assert t.T.data.transposed is False  # a view of a view is the row-major original


class _CountingLib:
    """carray's `lib`, counting the calls of each kernel."""

    def __init__(self, lib):
        self._lib, self.calls = lib, {}

    def __getattr__(self, name):
        fn = getattr(self._lib, name)
        if not name.startswith("pag_"):
            return fn

        def counted(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*args)
        return counted


def test_x_at_w_transpose_and_its_backward_run_no_transpose_kernel(c_backend, monkeypatch):
    from pyautograd.backends import carray as carray_module  # imports only where C is built
    rng = np.random.default_rng(0)
    x = ag.mat(rng.standard_normal((8, 5)), requires_grad=False)
    w, b = ag.mat(rng.standard_normal((3, 5))), ag.mat(rng.standard_normal((1, 3)))
    counting = _CountingLib(carray_module.lib)
    monkeypatch.setattr(carray_module, "lib", counting)
    monkeypatch.setattr(carray_module, "_matmul_kernel", counting.pag_matmul)
    loss = ((x @ w.T + b).sigmoid() ** 2).mean()
    loss.backward()
    with ag.no_grad():
        w.data -= 0.1 * w.grad
    assert counting.calls.get("pag_transpose", 0) == 0
    assert counting.calls["pag_matmul"] == 2  # the forward product and dL/dW
    assert w.grad.transposed is False  # W's gradient comes row-major, like W


@pytest.mark.parametrize("op", OPS, ids=str)
def test_every_op_reads_transposed_views(op, c_backend):
    """Each op on inputs that are transposed views gives what it gives on row-major copies,
    forward and backward."""
    rng = np.random.default_rng(5)
    arrays = [draw(rng, shape, op.domain) for shape in op.shapes]
    upstream = rng.standard_normal(op.ref(*arrays).shape)
    results = []
    for as_view in (False, True):
        leaves = [ag.mat(a.T.copy() if as_view else a) for a in arrays]
        inputs = [leaf.T if as_view else leaf for leaf in leaves]
        out = op.fn(*inputs)
        out.backward(upstream)
        grads = [leaf.grad.numpy().T if as_view else leaf.grad.numpy() for leaf in leaves]
        results.append((out.numpy(), grads))
    (out, grads), (out_v, grads_v) = results
    np.testing.assert_allclose(out_v, out, rtol=1e-13, atol=1e-15)
    for g, g_v in zip(grads, grads_v):
        np.testing.assert_allclose(g_v, g, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (3, 4), (33, 65)])
def test_in_place_updates_of_and_with_views(shape, c_backend):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape[::-1])
    target = ag.mat(a.T.copy(), requires_grad=False).T  # a view as the target
    target += ag.mat(b.T, requires_grad=False)
    np.testing.assert_array_equal(target.numpy(), a + b.T)
    target.data.add_scaled_(ag.mat(b.T.copy(), requires_grad=False).data, 2.0)
    np.testing.assert_array_equal(target.numpy(), (a + b.T) + 2.0 * b.T)
    square = ag.mat(rng.standard_normal((4, 4)), requires_grad=False)
    expected = square.numpy() + square.numpy().T
    square += square.T  # reads a copy: the values being written are not read back
    np.testing.assert_array_equal(square.numpy(), expected)
