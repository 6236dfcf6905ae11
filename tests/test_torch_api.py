"""The tensor API a port from PyTorch reaches for (issue 22): each name checked against PyTorch
(values and gradients within 1e-10), and the traps a port falls into closed."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import ops
from pyautograd.matrix import Matrix

TOL = dict(rtol=1e-10, atol=1e-10)
A = np.array([[0.3, -1.2, 2.5, 0.7], [1.1, 0.4, -0.6, 3.0], [-2.0, 0.9, 1.5, -0.1]])


def _torch():
    return pytest.importorskip("torch")


def _both(fn_ag, fn_torch, values=A):
    """fn on a pyautograd matrix and a torch tensor of the same values: results and gradients
    (of the sum of the result times fixed weights) must agree within 1e-10."""
    torch = _torch()
    x = ag.mat(values)
    t = torch.tensor(values, requires_grad=True)
    out, ref = fn_ag(x), fn_torch(t)
    got = out.numpy()
    want = ref.detach().numpy().reshape(got.shape)
    np.testing.assert_allclose(got, want, **TOL)
    w = np.linspace(0.5, 1.5, got.size).reshape(got.shape)
    (out * ag.mat(w, requires_grad=False)).sum().backward()
    (ref * torch.tensor(w.reshape(ref.shape))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **TOL)


CASES = {
    "sin": (lambda x: x.sin(), lambda t: t.sin()),
    "cos": (lambda x: x.cos(), lambda t: t.cos()),
    "pow": (lambda x: x.abs().pow(1.5), lambda t: t.abs().pow(1.5)),
    "std": (lambda x: x.std(), lambda t: t.std()),
    "std_dim1": (lambda x: x.std(1), lambda t: t.std(1)),
    "std_biased_dim0": (lambda x: x.std(0, unbiased=False), lambda t: t.std(0, unbiased=False)),
    "var": (lambda x: x.var(), lambda t: t.var()),
    "var_dim0_keepdim": (lambda x: x.var(0, keepdim=True), lambda t: t.var(0, keepdim=True)),
    "var_correction0": (lambda x: x.var(1, correction=0), lambda t: t.var(1, correction=0)),
    "norm": (lambda x: x.norm(), lambda t: t.norm()),
    "norm_dim1": (lambda x: x.norm(dim=1), lambda t: t.norm(dim=1)),
    "norm_p1": (lambda x: x.norm(1), lambda t: t.norm(1)),
    "norm_p3_dim0": (lambda x: x.norm(3, dim=0), lambda t: t.norm(3, dim=0)),
    "norm_inf": (lambda x: x.norm(float("inf")), lambda t: t.norm(float("inf"))),
    "t": (lambda x: x.t() * 2.0, lambda t: t.t() * 2.0),
    "clone": (lambda x: x.clone() * x, lambda t: t.clone() * t),
    "view": (lambda x: x.view(4, 3).exp(), lambda t: t.view(4, 3).exp()),
    "view_flat": (lambda x: x.view(-1) * 3.0, lambda t: t.view(-1) * 3.0),
    "unsqueeze": (lambda x: x[0].squeeze().unsqueeze(1) * x[:, 1:2].sum(),
                  lambda t: t[0].unsqueeze(1) * t[:, 1:2].sum()),
    "squeeze": (lambda x: x[:, 2].squeeze().tanh(), lambda t: t[:, 2].tanh()),
    "sum_keepdim": (lambda x: x.sum(1, keepdim=True), lambda t: t.sum(1, keepdim=True)),
    "mean_keepdim_false": (lambda x: x.mean(0, keepdim=False), lambda t: t.mean(0)),
    "max_dim_values": (lambda x: x.max(1).values, lambda t: t.max(1).values),
    "max_dim_keyword": (lambda x: x.max(dim=0)[0], lambda t: t.max(dim=0)[0]),
    "min_dim_values": (lambda x: x.min(1, keepdim=True).values,
                       lambda t: t.min(1, keepdim=True).values),
    "ag_max": (lambda x: ag.max(x, 1).values, lambda t: _torch().max(t, 1).values),
    "mask": (lambda x: x[x > 0].square(), lambda t: t[t > 0].square()),
    "mask_and": (lambda x: x[(x > 0) & (x < 2)] * 2.0, lambda t: t[(t > 0) & (t < 2)] * 2.0),
    "mask_not": (lambda x: x[~(x > 0)].exp(), lambda t: t[~(t > 0)].exp()),
    "paired": (lambda x: x[[0, 2, 2, 1], [3, 0, 0, 1]].sin(), lambda t: t[[0, 2, 2, 1], [3, 0, 0, 1]].sin()),
    "gather1": (lambda x: x.gather(1, [[0, 0], [3, 1], [2, 2]]),
                lambda t: t.gather(1, _torch().tensor([[0, 0], [3, 1], [2, 2]]))),
    "gather0": (lambda x: x.gather(0, ag.tensor([[2.0, 0.0, 1.0, 1.0]])),
                lambda t: t.gather(0, _torch().tensor([[2, 0, 1, 1]]))),
    "stack0": (lambda x: ag.stack([x[0], x[1] * 2.0]), lambda t: _torch().stack([t[0], t[1] * 2.0])),
    "stack1": (lambda x: ag.stack([x[0], x[2]], dim=1), lambda t: _torch().stack([t[0], t[2]], dim=1)),
}
for _name in ("exp", "sqrt", "sigmoid", "tanh", "relu", "sin", "cos", "abs", "log"):
    CASES["ag_" + _name] = ((lambda n: lambda x: getattr(ag, n)(x.abs() + 0.5 if n in ("sqrt", "log") else x))(_name),
                            (lambda n: lambda t: getattr(_torch(), n)(t.abs() + 0.5 if n in ("sqrt", "log") else t))(_name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(backend_name, name):
    _both(*CASES[name])


def test_max_dim_is_a_values_indices_pair_and_axis_keeps_numpy(backend_name):
    torch = _torch()
    outputs = ag.mat([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]])
    _, predicted = outputs.max(1)  # the line that used to silently give the values
    assert predicted.tolist() == [[1.0], [0.0], [2.0]]
    pair = outputs.max(dim=1)
    assert isinstance(pair, ag.ValuesIndices) and pair.indices is pair[1]
    ref = torch.tensor(outputs.numpy()).max(1)
    assert pair.values.numpy().ravel().tolist() == ref.values.tolist()
    assert pair.indices.numpy().ravel().tolist() == ref.indices.double().tolist()
    assert not pair.indices.requires_grad
    assert outputs.max(axis=1).tolist() == [[0.9], [0.8], [0.6]]  # NumPy's spelling: the values
    assert outputs.max().item() == 0.9 and outputs.min().item() == 0.0
    assert outputs.max(outputs * 0.5).tolist() == outputs.tolist()  # torch.max(a, b)
    with pytest.raises(TypeError, match="both dim=1 and axis=1"):
        outputs.max(1, axis=1)


def test_one_d_labels_never_make_an_outer_product(backend_name):
    logits = ag.mat([[2.0, 0.1], [0.3, 1.0], [0.5, 0.2], [0.0, 3.0]])
    labels = [0, 1, 1, 1]
    for y in (labels, np.array(labels), ag.tensor(labels), ag.tensor(np.array(labels, np.int64))):
        correct = logits.argmax(dim=1) == y
        assert correct.shape == (4, 1)
        assert (logits.argmax(dim=1) == y).float().mean().item() == 0.75
        _, predicted = logits.max(1)
        assert (predicted == y).sum().item() == 3.0
        assert (y == predicted).shape == (4, 1)
        assert (predicted - y).shape == (4, 1) if not isinstance(y, Matrix) else True
    with pytest.raises(ValueError, match=r"1-D data of 3 values.*\(4, 1\) column.*outer product.*reshape"):
        logits.argmax(dim=1) == [0, 1, 1]
    with pytest.raises(ValueError, match="outer product"):
        logits[:, :1] + np.array([1.0, 2.0])
    # 2-D operands broadcast as written: an explicit row against a column is an outer product
    assert (logits[:, :1] + ag.mat([[1.0, 2.0, 3.0, 4.0]])).shape == (4, 4)
    assert (logits + [1.0, 2.0]).shape == (4, 2)  # a 1-D bias against a matrix is a row, as torch


def test_tensor_follows_pytorch_defaults(backend_name):
    t = ag.tensor([1, 2, 3])
    assert not t.requires_grad and t.shape == (1, 3) and t.dtype == ag.float64
    assert ag.tensor(np.array([1.0, 2.0], np.float32)).dtype == ag.float32
    assert ag.tensor(2.5).shape == (1, 1)
    assert ag.tensor([[1.0], [2.0]], requires_grad=True).requires_grad
    assert ag.tensor([1.0], dtype=ag.float32).dtype == ag.float32
    with pytest.raises(ValueError, match=r"shape \(1, 1, 2\)"):
        ag.tensor([[[1.0, 2.0]]])


def test_factories_take_a_shape_tuple_or_a_single_size(backend_name):
    assert ag.zeros((3, 4)).shape == (3, 4) and ag.zeros(3).shape == (1, 3)
    assert ag.ones([2, 5]).shape == (2, 5) and ag.randn((2, 2)).shape == (2, 2)
    assert ag.full((2, 3), 7.0).tolist() == [[7.0] * 3] * 2 and ag.full(2, 3, 1.0).shape == (2, 3)
    assert ag.arange(4).tolist() == [[0.0, 1.0, 2.0, 3.0]]
    assert ag.arange(1, 2, 0.25).tolist() == [[1.0, 1.25, 1.5, 1.75]]
    torch = _torch()
    np.testing.assert_array_equal(ag.linspace(-1, 2, 7).numpy().ravel(), torch.linspace(-1, 2, 7, dtype=torch.float64).numpy())
    with pytest.raises(ValueError, match=r"zeros: sizes must be at least 1, got \(3, 0\)"):
        ag.zeros((3, 0))
    with pytest.raises(ValueError, match=r"got the shape \(2, 3, 4\)"):
        ag.zeros((2, 3, 4))
    with pytest.raises(TypeError, match=r"got \(2\.5, 3\)"):
        ag.ones((2.5, 3))


def test_shape_and_in_place_helpers(backend_name):
    m = ag.mat(A.copy(), requires_grad=False)
    assert m.size() == (3, 4) and m.size(1) == 4 and m.size(-2) == 3 and m.numel() == 12
    assert m.dim() == 2 and m.ndim == 2 and m.cpu() is m
    assert m.fill_(2.0).tolist() == [[2.0] * 4] * 3 and m.zero_().sum().item() == 0.0
    m.copy_(A)
    np.testing.assert_array_equal(m.numpy(), A)
    m.copy_(ag.mat([[1.0, 2.0, 3.0, 4.0]]))  # broadcasts, as torch's copy_
    assert m.tolist() == [[1.0, 2.0, 3.0, 4.0]] * 3
    p = ag.mat(A, requires_grad=False).requires_grad_()
    assert p.requires_grad and p.requires_grad_(False) is p and not p.requires_grad
    with pytest.raises(RuntimeError, match="in-place fill_"):
        ag.mat(A).fill_(1.0)
    with pytest.raises(RuntimeError, match="only a leaf"):
        (ag.mat(A) * 2.0).requires_grad_(False)
    with pytest.raises(ValueError, match=r"copy_: a \(2, 2\) source does not broadcast to \(3, 4\)"):
        m.copy_(np.ones((2, 2)))
    with pytest.raises(ValueError, match="unsqueeze: a \\(3, 4\\) matrix would become 3-D"):
        m.unsqueeze(0)
    with pytest.raises(ValueError, match=r"reshape: .*\(5,\)"):
        m.view(5)


def test_mask_and_paired_assignment(backend_name):
    torch = _torch()
    m, t = ag.mat(A.copy(), requires_grad=False), torch.tensor(A.copy())
    m[m < 0] = 0.0
    t[t < 0] = 0.0
    m[[0, 2], [1, 3]] = ag.mat([[5.0, 6.0]])
    t[[0, 2], [1, 3]] = torch.tensor([5.0, 6.0], dtype=torch.float64)
    m[np.asarray(A) > 2.0] = [9.0, 8.0]
    t[torch.tensor(A) > 2.0] = torch.tensor([9.0, 8.0], dtype=torch.float64)
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    with pytest.raises(ValueError, match=r"setitem: \d+ places are selected, the value has shape \(3,\)"):
        m[m > 0.5] = [1.0, 2.0, 3.0]
    with pytest.raises(IndexError, match=r"mask of shape \(2, 2\) does not match the \(3, 4\)"):
        m[np.ones((2, 2), bool)]
    with pytest.raises(IndexError, match="selects nothing"):
        m[m > 100.0]
    with pytest.raises(IndexError, match="index 4 is out of range for dimension 1"):
        m[[0, 1], [4, 0]]


def test_gather_refuses_bad_indices(backend_name):
    m = ag.mat(A)
    with pytest.raises(IndexError, match="gather: index 4 is out of range for dimension 1 of size 4"):
        m.gather(1, [[4]])
    with pytest.raises(IndexError, match="gather: index -1"):
        m.gather(0, [[-1]])
    with pytest.raises(IndexError, match="whole numbers"):
        m.gather(1, ag.mat([[0.5]]))
    with pytest.raises(IndexError, match="does not fit in int64"):
        m.gather(1, np.array([[2 ** 64 - 1]], dtype=np.uint64))
    with pytest.raises(ValueError, match=r"index of shape \(4, 1\) is larger than the input"):
        m.gather(1, [[0], [0], [0], [0]])


def test_grad_reads_as_pytorch_users_read_it(backend_name):
    p = ag.mat([[3.0, -4.0]])
    (p * p).sum().backward()
    assert p.grad.shape == (1, 2)
    assert p.grad.norm().item() == 10.0 and float(p.grad.norm()) == 10.0
    assert abs(p.grad).max().item() == 8.0 and p.grad.numel() == 2
    assert "6." in repr(p.grad) and "-8." in str(p.grad)


def test_second_derivatives_through_the_new_ops(backend_name):
    x = ag.mat([[0.3, 1.2], [-0.7, 2.0]])
    ag.gradcheck(lambda m: (m.sin() * m.cos()).sum(), [x])
    ag.gradcheck(lambda m: m.std(1).sum() + m.norm() + m[m > 0].sum() + m.gather(1, [[1], [0]]).sum(), [x])
    h = ag.hessian(lambda m: m.sin().sum(), x)
    np.testing.assert_allclose(np.diag(h.numpy()), -np.sin(x.numpy()).ravel(), **TOL)


def test_matrix_declares_every_method_of_the_rule_table_for_type_checkers():
    import inspect
    source = inspect.getsource(Matrix)
    for row in ops.METHODS:
        assert f"def {row.name}(self) -> \"Matrix\": ..." in source, row.name


def test_shape_errors_quote_the_shape_the_user_passed(backend_name):
    m = ag.mat(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"matmul: .*given with shape \(3,\) and read as \(1, 3\)"):
        m @ np.ones(3)
    with pytest.raises(ValueError, match=r"add \(\+\): .*list operand was given with shape \(2,\)"):
        m + [1.0, 2.0]
    with pytest.raises(ValueError, match=r"lt \(<\): .*given with shape \(5,\)"):
        m < np.ones(5)
    with pytest.raises(ValueError, match=r"div \(/\): .*given with shape \(2,\)"):
        [1.0, 2.0] / m


def test_one_d_data_stays_one_d_through_conversions(backend_name):
    column = ag.mat([[1.0], [0.0], [2.0]])
    y = ag.tensor([1, 0, 2])
    for same in (y.float(), y.double(), y.detach(), y.clone(), ag.arange(3).float()):
        assert (column == same).shape == (3, 1)
    assert (column == ag.mat([[1.0, 0.0, 2.0]])).shape == (3, 3)  # 2-D as written: outer


def test_picking_each_rows_label_as_pytorch_does(backend_name):
    torch = _torch()
    labels = [2, 0, 1]
    _both(lambda x: x.log_softmax(1)[ag.arange(3), labels],
          lambda t: t.log_softmax(1)[torch.arange(3), torch.tensor(labels)])
    _both(lambda x: x[range(3), labels], lambda t: t[range(3), labels])
    with pytest.raises(IndexError, match="must hold only 0 and 1"):
        ag.mat(A)[ag.mat(A) * 2.0]


def test_star_import_leaves_the_builtins_alone():
    namespace = {}
    exec("from pyautograd import *", namespace)
    assert not {"abs", "max", "min"} & set(namespace)
    assert ag.max(ag.mat([[1.0, 5.0]])).item() == 5.0 and ag.abs(-2.0).item() == 2.0


def test_max_refuses_a_dim_that_is_not_an_integer():
    m = ag.mat(A)
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError, match="max: dim must be an int"):
            m.max(bad)
    with pytest.raises(ValueError, match="min: axis must be 0, 1, -1 or -2, got 2"):
        m.min(2)


def test_max_dims_indices_are_found_on_demand_and_never_stale(backend_name):
    m = ag.mat([[1.0, 3.0], [4.0, 2.0]], requires_grad=False)
    pair = m.max(1)
    m.data += 1.0  # changed in place before the indices were read
    with pytest.raises(RuntimeError, match=r"max\(dim=1\): the matrix was changed in place"):
        pair.indices
    assert m.max(1).indices.tolist() == [[1.0], [0.0]]
    values, indices = m.min(0)
    assert values.tolist() == [[2.0, 3.0]] and indices.tolist() == [[0.0, 1.0]]
