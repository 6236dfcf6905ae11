"""Python protocols of Matrix (issue 12): truth value, numbers, format, len, iteration, NumPy's
__array__, storage (op) Matrix in either order, and no bare number as an operand of @."""
import numpy as np
import pytest

import pyautograd as ag


def test_bool_of_a_1x1_is_its_value_and_of_anything_else_ambiguous(backend_name):
    assert not (ag.mat(0.9) < ag.mat(0.1))
    assert ag.mat(0.1) < ag.mat(0.9)
    assert not ag.mat(0.0) and bool(ag.mat(float("nan")))
    with pytest.raises(RuntimeError, match=r"ambiguous.*\(1, 2\)|\(1, 2\).*ambiguous"):
        bool(ag.mat([[1.0, 2.0]]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        ag.mat([[1.0, 2.0]]) in [ag.mat([[5.0, 6.0]])]  # noqa: B015  (as a list lookup would)


def test_builtin_max_and_sorted_compare_1x1_matrices(backend_name):
    a, b = ag.mat(5.0), ag.mat(1.0)
    assert max(a, b) is a and min(a, b) is b
    assert [m.item() for m in sorted([a, b, ag.mat(3.0)])] == [1.0, 3.0, 5.0]


def test_float_int_and_format_of_a_1x1(backend_name):
    x = ag.mat(-2.75)
    assert float(x) == -2.75 and int(x) == -2
    assert f"{x:.3f}" == "-2.750" and f"{x:>8.1f}" == "    -2.8"
    assert format(x, "") == repr(x) and f"{ag.mat([[1.0, 2.0]])}" == repr(ag.mat([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"float: a \(2, 1\) matrix"):
        float(ag.mat([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="int"):
        int(ag.mat([[1.0, 2.0]]))
    with pytest.raises(TypeError, match=r"format: .*'\.2f'.*\(1, 2\)"):
        f"{ag.mat([[1.0, 2.0]]):.2f}"


def test_len_and_iteration_give_rows_that_carry_gradients(backend_name):
    x = ag.mat([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(x) == 3
    rows = list(x)
    assert [r.shape for r in rows] == [(1, 2)] * 3 and rows[2].tolist() == [[5.0, 6.0]]
    (rows[0] * 2 + rows[2]).sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]


def test_array_protocol_gives_a_2d_float64_array(backend_name):
    x = ag.mat([[1.0, 2.0], [3.0, 4.0]])
    arr = np.asarray(x)
    assert arr.dtype == np.float64 and arr.shape == (2, 2) and arr.tolist() == x.tolist()
    assert np.array(x, dtype=np.float32).dtype == np.float32
    copied = np.array(x, copy=True)
    copied[0, 0] = 9.0
    assert x.tolist()[0][0] == 1.0
    with pytest.raises(ValueError, match="copy=False"):
        x.__array__(dtype=np.int64, copy=False)
    assert np.allclose(np.asarray(ag.mat(3.0)), [[3.0]])


def test_storage_and_matrix_combine_in_either_order(backend_name):
    W = ag.mat([[1.0, 2.0]])
    (W * 3).sum().backward()
    for expr in (lambda: W.grad + W, lambda: W + W.grad):
        out = expr()
        assert isinstance(out, ag.Matrix) and out.tolist() == [[4.0, 5.0]]
    assert (W.grad - W).tolist() == [[2.0, 1.0]] and (W.grad * W).tolist() == [[3.0, 6.0]]
    assert (W.grad / W).tolist() == [[3.0, 1.5]] and (W.grad @ W.T).tolist() == [[9.0]]
    assert (W.grad > W).tolist() == [[1.0, 1.0]]
    out = W.grad + W
    out.sum().backward()  # the matrix operand still gets its gradient
    assert W.grad.tolist() == [[4.0, 4.0]]


def test_a_bare_number_is_not_an_operand_of_matmul(backend_name):
    x = ag.mat([[1.0], [2.0], [3.0]])
    with pytest.raises(TypeError, match=r"matmul: .*\(3, 1\).*number 3"):
        x @ 3
    with pytest.raises(TypeError, match="matmul"):
        2.0 @ x
    with pytest.raises(TypeError, match="matmul"):
        x @ np.float64(2.0)


def test_protocols_match_pytorch():
    torch = pytest.importorskip("torch")
    t, m = torch.tensor([[1.0, 2.0]]), ag.mat([[1.0, 2.0]])
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(m)
    with pytest.raises(TypeError):
        t @ 3
    with pytest.raises(TypeError):
        m @ 3
    with pytest.raises(ValueError):
        float(t)
    with pytest.raises(ValueError):
        float(m)
    with pytest.raises(TypeError):
        f"{t:.2f}"
    with pytest.raises(TypeError):
        f"{m:.2f}"
    assert len(torch.zeros(3, 2)) == len(ag.zeros(3, 2)) == 3
    assert int(torch.tensor([[-2.75]])) == int(ag.mat(-2.75))
