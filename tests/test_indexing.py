"""Indexing, shape ops and the selections of issue 12, beyond the op table: errors, setitem,
ties, NaN, and PyTorch's answers where it has one."""
import numpy as np
import pytest

import pyautograd as ag

X = [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]


@pytest.mark.parametrize("key, expected", [
    (0, [[0.0, 1.0, 2.0, 3.0]]),
    (-1, [[8.0, 9.0, 10.0, 11.0]]),
    ((slice(None), 0), [[0.0], [4.0], [8.0]]),
    ((1, -2), [[6.0]]),
    ((slice(None, None, 2), slice(1, None, 2)), [[1.0, 3.0], [9.0, 11.0]]),
    ([2, 0, 2], [X[2], X[0], X[2]]),
    (np.array([1, -3]), [X[1], X[0]]),
    ((slice(0, 2), [3, 0]), [[3.0, 0.0], [7.0, 4.0]]),
    ((np.int64(1),), [X[1]]),
])
def test_getitem_results_stay_2d(backend_name, key, expected):
    assert ag.mat(X)[key].tolist() == expected


def test_a_matrix_of_row_positions_gathers_and_scatters_back(backend_name):
    x = ag.mat(X)
    idx = ag.mat([[2.0], [2.0], [0.0]], requires_grad=False)
    rows = x[idx]
    assert rows.tolist() == [X[2], X[2], X[0]]
    rows.sum().backward()
    assert x.grad.tolist() == [[1.0] * 4, [0.0] * 4, [2.0] * 4]  # repeats accumulate


@pytest.mark.parametrize("key, error, message", [
    (3, IndexError, r"index 3 is out of range for dimension 0 of size 3"),
    (-4, IndexError, r"index -4 is out of range"),
    ((0, 4), IndexError, r"index 4 is out of range for dimension 1 of size 4"),
    ([0, 7], IndexError, r"index 7"),
    (slice(3, None), IndexError, r"selects nothing"),
    (slice(None, None, -1), ValueError, r"steps must be positive"),
    (1.5, IndexError, r"an int, a slice"),
    ((0, 1, 2), IndexError, r"2 dimensions"),
    (([0, 1], [0, 1, 2]), IndexError, r"equal lengths"),  # m[rows, cols] pairs them
    (np.array([2 ** 64 - 1], dtype=np.uint64), IndexError, r"18446744073709551615.*int64"),
    (2 ** 64 - 1, IndexError, r"does not even fit in int64"),
    (np.array([True, False, True]), IndexError, r"boolean"),
    (None, IndexError, r"an int, a slice"),
    ([0.0, 1.0], IndexError, r"an int, a slice"),  # floats only as a Matrix of positions
    (ag.mat([[0.5]], requires_grad=False), IndexError, r"whole numbers"),
    (ag.mat([[0.0, 1.0], [1.0, 0.0]], requires_grad=False), IndexError, r"one row or one column"),
])
def test_bad_indices_raise_clearly(backend_name, key, error, message):
    with pytest.raises(error, match=message):
        ag.mat(X)[key]


def test_setitem_under_no_grad_and_on_constants(backend_name):
    x = ag.mat(X, requires_grad=False)
    x[0] = 1.0
    x[1, :] = ag.mat([[9.0, 8.0, 7.0, 6.0]])
    x[:, -1] = [[-1.0], [-2.0], [-3.0]]
    assert x.tolist() == [[1.0, 1.0, 1.0, -1.0], [9.0, 8.0, 7.0, -2.0], [8.0, 9.0, 10.0, -3.0]]
    w = ag.mat(X)
    with pytest.raises(RuntimeError, match="setitem.*no_grad"):
        w[0, 0] = 5.0
    with ag.no_grad():
        w[[0, 2], 1] = 0.0
    assert w.tolist()[0][1] == 0.0 and w.tolist()[2][1] == 0.0
    with pytest.raises(ValueError, match=r"\(1, 3\) value does not fit the selected \(1, 4\)"):
        x[0] = [[1.0, 2.0, 3.0]]


def test_setitem_from_the_matrix_itself_reads_the_old_values(backend_name):
    x = ag.mat([[1.0, 2.0], [3.0, 4.0]], requires_grad=False)
    x[[1, 0]] = x
    assert x.tolist() == [[3.0, 4.0], [1.0, 2.0]]


def test_indexing_matches_pytorch_values_and_gradients(backend_name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((5, 4))
    keys = [(slice(1, None, 2), [0, 0, 3]), [4, 4, 1, -5], (slice(None), -1), (2, slice(None, None, 3))]
    for key in keys:
        x = ag.mat(a)
        t = torch.tensor(a, requires_grad=True)
        out = x[key]
        t_out = t[key].reshape(out.shape)
        g = rng.standard_normal(out.shape)
        out.backward(g)
        t_out.backward(torch.tensor(g))
        np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=0)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_reshape_flatten_and_cat_errors(backend_name):
    x = ag.mat(X)
    assert x.reshape((4, 3)).shape == (4, 3) and x.reshape(-1, 1).shape == (12, 1)
    assert x.T.flatten().tolist() == [[0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]]
    with pytest.raises(ValueError, match=r"reshape: cannot lay the 12 values of a \(3, 4\) matrix out as \(5, -1\)"):
        x.reshape(5, -1)
    with pytest.raises(ValueError, match="only one size can be -1"):
        x.reshape(-1, -1)
    with pytest.raises(TypeError, match="integers"):
        x.reshape(2.0, 6)
    with pytest.raises(ValueError, match=r"cat: along axis 0 the parts must agree in dimension 1.*\(3, 4\), \(1, 2\)"):
        ag.cat([x, ag.mat([[1.0, 2.0]])])
    with pytest.raises(ValueError, match="at least one"):
        ag.cat([])
    assert ag.cat([x, x], axis=-1).shape == (3, 8) and ag.cat((x,), dim=0).shape == (3, 4)


def test_argmax_argmin_take_the_first_tie_and_nan_as_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    nan = float("nan")
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, nan, 5.0, nan], [-1.0, -1.0, 4.0, 4.0]])
    x, t = ag.mat(a, requires_grad=False), torch.tensor(a)
    for axis in (0, 1, -1):
        got = x.argmax(axis)
        assert not got.requires_grad
        assert got.numpy().ravel().tolist() == t.argmax(dim=axis).double().tolist()
        assert x.argmin(dim=axis).numpy().ravel().tolist() == t.argmin(dim=axis).double().tolist()
    clean = ag.mat([[1.0, 3.0], [3.0, 0.0]])
    assert clean.argmax().item() == 1.0 and clean.argmin().item() == 3.0  # row-major positions
    assert x.T.argmax(0).numpy().ravel().tolist() == t.T.argmax(dim=0).double().tolist()
    for dim in (0, 1):  # max(dim) and min(dim) are torch's (values, indices) pairs
        for name in ("max", "min"):
            values, indices = getattr(x, name)(dim)
            expected = getattr(t, name)(dim=dim)
            np.testing.assert_array_equal(values.numpy().ravel(), expected.values.numpy())
            assert indices.numpy().ravel().tolist() == expected.indices.double().tolist()
    np.testing.assert_array_equal(x.min(axis=1).numpy().ravel(), t.amin(dim=1).numpy())


def test_maximum_minimum_split_ties_as_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    a, b = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0], [2.5]])
    for fn in ("maximum", "minimum"):
        x, y = ag.mat(a), ag.mat(b)
        tx = torch.tensor(a, requires_grad=True)
        ty = torch.tensor(b, requires_grad=True)
        out = getattr(ag, fn)(x, y)
        t_out = getattr(torch, fn)(tx, ty)
        out.sum().backward()
        t_out.sum().backward()
        np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
        np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


def test_min_shares_the_gradient_between_ties(backend_name):
    x = ag.mat([[1.0, 0.0, 0.0], [2.0, 5.0, 2.0]])
    x.min(dim=-1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]


def test_clamp_where_and_pow_edges_match_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    a = np.array([[-1.0, -0.5, 0.0, 0.5, 1.0, float("nan")]])
    x, t = ag.mat(a), torch.tensor(a, requires_grad=True)
    out, t_out = x.clamp(-0.5, 0.5), t.clamp(-0.5, 0.5)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())  # the bounds pass the gradient
    assert x.clamp(2.0, 1.0).tolist()[0][:5] == [1.0] * 5  # min > max: max, as PyTorch
    with pytest.raises(ValueError, match="clamp: at least one"):
        x.clamp()
    base, expo = np.array([[0.0, 0.0, 2.0, -2.0]]), np.array([[0.0, 2.0, 0.0, 3.0]])
    p, e = ag.mat(base), ag.mat(expo)
    tp, te = torch.tensor(base, requires_grad=True), torch.tensor(expo, requires_grad=True)
    (p ** e).sum().backward()
    (tp ** te).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    np.testing.assert_array_equal(np.nan_to_num(e.grad.numpy(), nan=7.0),
                                  np.nan_to_num(te.grad.numpy(), nan=7.0))
    cond = ag.mat([[1.0, 0.0, float("nan")]], requires_grad=False)
    assert ag.where(cond, 1.0, 2.0).tolist() == [[1.0, 2.0, 1.0]]  # NaN is non-zero: true


def test_new_ops_have_explain_formulas():
    from pyautograd.explain import FORMULAS
    for op in ("getitem", "reshape", "flatten", "cat", "sqrt", "square", "log1p", "expm1",
               "clamp", "where", "maximum", "minimum", "min", "pow"):
        assert op in FORMULAS


def test_axis_errors_name_the_op(backend_name):
    x = ag.mat(X)
    with pytest.raises(ValueError, match=r"sum: axis must be None, 0, 1, -1 or -2, got 2"):
        x.sum(2)
    with pytest.raises(TypeError, match="argmax: got both axis=0 and dim=1"):
        x.argmax(0, dim=1)
    with pytest.raises(ValueError, match="softmax: axis must be 0, 1, -1 or -2"):
        x.softmax(None, dim=3)
    assert x.mean(dim=-2).tolist() == x.mean(0).tolist()
