"""backward(): the graph semantics of docs/design.md, on every backend."""
import gc
import weakref

import numpy as np
import pytest

import pyautograd as ag


def test_a_reused_node_gets_the_sum_of_its_paths(backend_name):
    a = ag.mat([[2.0, -1.0]])
    b = a + a
    c = b + b
    c.sum().backward()
    assert a.grad.tolist() == [[4.0, 4.0]]
    assert b.grad.tolist() == [[2.0, 2.0]]


def test_a_chain_of_100000_ops_backpropagates_without_recursion(backend_name):
    x = ag.mat(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert y.item() == 100_001.0
    assert x.grad.item() == 1.0


def test_leaf_gradients_accumulate_until_zero_grad(backend_name):
    w = ag.mat([[3.0]])
    (w * w).backward()
    (w * w).backward()
    assert w.grad.item() == 12.0
    w.zero_grad()
    assert w.grad.item() == 0.0
    (w * 5).backward()
    assert w.grad.item() == 5.0


def test_retain_graph_recomputes_intermediate_gradients_and_accumulates_leaves(backend_name):
    x = ag.mat([[1.0, 2.0]])
    h = x * 3.0
    loss = (h * h).sum()
    loss.backward(retain_graph=True)
    first = h.grad.tolist()
    loss.backward()
    assert h.grad.tolist() == first == [[6.0, 12.0]]  # intermediate: not over-counted
    assert x.grad.tolist() == [[36.0, 72.0]]  # leaf: accumulated twice (18x each time)


def test_a_second_backward_through_a_released_graph_raises(backend_name):
    x = ag.mat(2.0)
    loss = x * x
    loss.backward()
    with pytest.raises(RuntimeError, match="already released.*retain_graph=True"):
        loss.backward()


def test_backward_of_a_leaf_seeds_its_own_gradient(backend_name):
    x = ag.mat(2.0)
    x.backward()
    x.backward()
    assert x.grad.item() == 2.0


def test_non_scalar_output_needs_a_gradient_of_its_shape(backend_name):
    x = ag.mat([[1.0, 2.0], [3.0, 4.0]])
    y = x * 2.0
    with pytest.raises(ValueError, match=r"backward: the output has shape \(2, 2\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(1, 2\), the output \(2, 2\)"):
        y.backward([[1.0, 1.0]])
    y.backward(ag.mat([[1.0, 0.0], [0.5, 2.0]]))
    assert x.grad.tolist() == [[2.0, 0.0], [1.0, 4.0]]
    z = x * 3.0
    z.backward([[1.0, 1.0], [1.0, 1.0]])  # nested lists are a seed too
    z2 = x * 1.0
    z2.backward(x.data)  # and so is a storage object
    assert x.grad.tolist() == [[6.0, 5.0], [7.0, 11.0]]  # 2x + 3x + x, summed per entry


def test_requires_grad_flows_and_reverse_rules_skip_constants(backend_name):
    x = ag.mat([[1.0, 2.0]])
    c = ag.mat([[5.0, 6.0]], requires_grad=False)
    y = (x * c).sum()
    assert y.requires_grad and not (c * 2.0).requires_grad
    y.backward()
    assert x.grad.tolist() == [[5.0, 6.0]]
    assert c._grad is None  # nothing was computed for the constant
    with pytest.raises(RuntimeError, match=r"does not require a gradient"):
        (c * 2.0).sum().backward()


def test_no_grad_records_nothing_as_context_and_as_decorator(backend_name):
    x = ag.mat(3.0)
    with ag.no_grad():
        y = x * x
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @ag.no_grad()
    def square(m):
        return m * m
    assert not square(x).requires_grad
    assert (x * x).requires_grad


def test_parameter_update_in_place_under_no_grad(backend_name):
    p = ag.mat([[1.0, 2.0]])
    (p * p).sum().backward()
    data_before = p.data
    with ag.no_grad():
        p.data -= 0.25 * p.grad
    assert p.data is data_before
    assert p.tolist() == [[0.5, 1.0]]
    with ag.no_grad():
        p -= ag.mat([[0.5, 0.5]])
        p += 1.0
    assert p.tolist() == [[1.0, 1.5]]
    with pytest.raises(RuntimeError, match="in-place -= on a matrix that requires grad"):
        p -= 1.0


def test_detach_shares_values_and_records_nothing(backend_name):
    x = ag.mat([[1.0, 2.0]])
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    assert not (d * 2).requires_grad


def test_backward_releases_the_graph_at_once_without_the_cycle_collector(backend_name):
    gc.disable()
    try:
        x = ag.mat(np.ones((50, 50)))
        h = (x * 2.0).sigmoid()
        ref = weakref.ref(h)
        loss = h.sum()
        del h
        assert ref() is not None
        loss.backward()
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_an_unused_graph_is_freed_by_reference_counting(backend_name):
    gc.disable()
    try:
        x = ag.mat(np.ones((10, 10)))
        loss = (x.exp() * 3.0).mean()
        ref = weakref.ref(loss)
        del loss
        assert ref() is None  # a node holds no reference to itself
    finally:
        gc.enable()


def test_repr_item_tolist_numpy_shape(backend_name):
    x = ag.mat([[1.5, 2.0], [3.0, 4.0]])
    text = repr(x)
    assert "shape=(2, 2)" in text and f"backend={backend_name!r}" in text and "1.5" in text
    assert x.shape == (2, 2)
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert x.numpy().dtype == np.float64 and x.numpy().shape == (2, 2)
    assert ag.mat(7).item() == 7.0
    with pytest.raises(ValueError, match=r"item: .*\(2, 2\)"):
        x.item()


def test_numpy_of_a_c_matrix_is_a_read_only_view():
    pytest.importorskip("pyautograd.backends._ckernels")
    with ag.backend("c"):
        x = ag.mat([[1.0, 2.0]])
    view = x.numpy()
    assert not view.flags.writeable
    with ag.no_grad():
        x += 1.0
    assert view.tolist() == [[2.0, 3.0]]  # a view, not a copy


def test_factories(backend_name):
    assert ag.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert ag.ones(1, 2).tolist() == [[1.0, 1.0]]
    assert ag.full(2, 1, 7).tolist() == [[7.0], [7.0]]
    ag.manual_seed(5)
    first = ag.randn(3, 4).numpy().copy()
    ag.manual_seed(5)
    assert np.array_equal(first, ag.randn(3, 4).numpy())
    with pytest.raises(ValueError, match=r"zeros|full"):
        ag.zeros(0, 3)
    with pytest.raises(TypeError, match="sizes must be integers"):
        ag.ones(2.5, 3)
