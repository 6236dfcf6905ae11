"""In-place safety (issue 12): every storage counts its in-place writes; a recorded op notes the
versions of the values its backward reads, and backward refuses to run after one changed (as
PyTorch's "modified by an inplace operation"), while updating parameters after backward stays
legal."""
import numpy as np
import pytest

import pyautograd as ag

MODIFIED = "modified by an in-place operation"


def test_the_three_reproducers_of_issue_12_raise(backend_name):
    W = ag.mat([[1., 2.]])
    L = (W * W).sum()
    with ag.no_grad():
        W.data -= 1.0
    with pytest.raises(RuntimeError, match=rf"'mul' \(its result is \(1, 2\)\).*{MODIFIED}"):
        L.backward()

    W = ag.mat([[1., 2.], [3., 4.]])
    x = ag.mat([[1.], [1.]], requires_grad=False)
    L = (W @ x).sum()
    x += 10.
    with pytest.raises(RuntimeError, match=rf"'matmul'.*{MODIFIED}.*\(2, 1\) matrix is at version 1"):
        L.backward()

    W = ag.mat([[1., 2.]])
    L = (W * W).sum()
    d = W.detach()
    d += 1.
    with pytest.raises(RuntimeError, match=MODIFIED):
        L.backward()


def test_updating_parameters_after_backward_stays_legal(backend_name):
    W = ag.mat([[1., 2.]])
    for _ in range(3):
        L = (W * W).sum()
        L.backward()
        with ag.no_grad():
            W.data -= 0.1 * W.grad
        W.zero_grad()
    np.testing.assert_allclose(W.numpy(), [[0.512, 1.024]])


@pytest.mark.parametrize("write", ["+=", "-=", "*=", "fill_", "add_scaled_", "add_matmul_",
                                   "setitem", "matrix +=", "matrix *="])
def test_every_in_place_write_counts(backend_name, write):
    W = ag.mat([[1., 2.], [3., 4.]])
    L = (W * W).sum()
    data, before = W.data, W.data.version
    with ag.no_grad():
        if write == "+=":
            W.data += 1.0
        elif write == "-=":
            W.data -= W.data.copy()
        elif write == "*=":
            W.data *= 2
        elif write == "fill_":
            W.data.fill_(0.0)
        elif write == "add_scaled_":
            W.data.add_scaled_(W.data.copy(), 0.5)
        elif write == "add_matmul_":
            W.data.add_matmul_(W.data.copy(), W.data.copy())
        elif write == "setitem":
            W[0, 1] = 7.0
        elif write == "matrix +=":
            W += 1.0
        else:
            W *= 3.0
    assert W.data is data and data.version == before + 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        L.backward()


def test_a_write_through_a_transposed_view_or_its_parent_is_seen(backend_name):
    W = ag.mat([[1., 2.], [3., 4.]])
    x = ag.mat([[1., 1.]])
    L = (x @ W.T).sum()  # the product saved the view W.T
    with ag.no_grad():
        W -= 1.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        L.backward()
    W = ag.mat([[1., 2.], [3., 4.]])
    Wt = W.detach().T
    L = (x @ W).sum()
    with ag.no_grad():
        Wt.data += 1.0  # W's values, written through a view
    with pytest.raises(RuntimeError, match=MODIFIED):
        L.backward()


def test_outputs_saved_by_their_op_are_checked_too(backend_name):
    x = ag.mat([[0.5, -1.0]])
    y = x.exp()
    L = y.sum()
    with ag.no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match=rf"'exp'.*{MODIFIED}"):
        L.backward()


def test_ops_that_read_nothing_do_not_complain_as_in_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    W = ag.mat([[1., 2.]])
    t = torch.tensor([[1., 2.]], dtype=torch.float64, requires_grad=True)
    L, tL = (W + 1.0).sum() * 2.0, (t + 1.0).sum() * 2.0
    with ag.no_grad():
        W.data -= 1.0
    with torch.no_grad():
        t -= 1.0
    L.backward()
    tL.backward()
    assert W.grad.tolist() == t.grad.tolist() == [[2.0, 2.0]]


def test_matmul_saves_only_what_the_needed_gradients_read(backend_name):
    W = ag.mat([[1., 2.], [3., 4.]])
    x = ag.mat([[1.], [1.]], requires_grad=False)
    L = (W @ x).sum()
    with ag.no_grad():
        W.data -= 1.0  # W's values feed only x's gradient, which nobody asked for
    L.backward()
    assert W.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_the_fused_layers_check_the_values_their_backward_reads(backend_name):
    from pyautograd import nn
    layer, x = nn.Linear(2, 3), ag.mat([[1.0, 2.0]])
    loss = layer(x).sum()
    with ag.no_grad():
        layer.weight.data -= 1.0  # dL/dx reads the weight
    with pytest.raises(RuntimeError, match="'linear'.*modified by an in-place operation"):
        loss.backward()
    x = ag.mat([[1.0, 2.0]])
    loss = nn.GELU()(x).sum()
    with ag.no_grad():
        x.data += 1.0
    with pytest.raises(RuntimeError, match="'(mul|normal_cdf)'.*modified by an in-place operation"):
        loss.backward()
    frozen_input = ag.mat([[1.0, 2.0]], requires_grad=False)
    loss = layer(frozen_input).sum()
    with ag.no_grad():
        layer.weight.data -= 1.0  # dL/dW reads only the input: legal, as in PyTorch
    loss.backward()
    assert layer.weight.grad.tolist() == [[1.0, 2.0]] * 3


def test_writes_through_a_shared_numpy_array_are_the_documented_limit():
    arr = np.array([[1.0, 2.0]])
    with ag.backend("c"):
        W = ag.from_numpy(arr, requires_grad=True)
        L = (W * W).sum()
        with ag.no_grad():
            W += 1.0  # through the Matrix: counted
        with pytest.raises(RuntimeError, match=MODIFIED):
            L.backward()
        assert arr.tolist() == [[2.0, 3.0]]


def test_retain_graph_backward_twice_is_unaffected(backend_name):
    x = ag.mat([[1.0, 2.0]])
    L = (x * x).sum()
    L.backward(retain_graph=True)
    L.backward()
    assert x.grad.tolist() == [[4.0, 8.0]]
