"""Every bad input of docs/design.md's conventions gives its documented exception and a message that
names the operation and the shapes or values; good input of every real kind converts."""
import numpy as np
import pytest

import pyautograd as ag


def _m(shape):
    return ag.mat(np.ones(shape))


def _on(backend):
    with ag.backend(backend):
        return ag.mat([[1.0, 2.0]])


def _backward_twice():
    y = (_m((1, 1)) * 2).sum()
    y.backward()
    y.backward()


BAD = [
    ("ragged list", lambda: ag.mat([[1.0, 2.0], [3.0]]), ValueError, "ragged"),
    ("ragged deeper", lambda: ag.mat([[1.0, [2.0]], [3.0, 4.0]]), ValueError, "ragged"),
    ("empty list", lambda: ag.mat([]), ValueError, "empty"),
    ("empty row", lambda: ag.mat([[]]), ValueError, "empty"),
    ("empty array", lambda: ag.mat(np.zeros((0, 3))), ValueError, "empty"),
    ("3-deep", lambda: ag.mat([[[1.0]]]), ValueError, r"at most 2 dimensions.*\(1, 1, 1\)"),
    ("string", lambda: ag.mat("1.0"), TypeError, "expected real numbers"),
    ("strings in a list", lambda: ag.mat([["a", "b"]]), TypeError, "expected real numbers"),
    ("None", lambda: ag.mat(None), TypeError, "expected real numbers"),
    ("None in a list", lambda: ag.mat([[1.0, None]]), TypeError, "NoneType"),
    ("complex", lambda: ag.mat(1 + 2j), TypeError, "complex"),
    ("complex array", lambda: ag.mat(np.array([[1j]])), TypeError, "complex"),
    ("object", lambda: ag.mat([[object()]]), TypeError, "object"),
    ("add shapes", lambda: _m((2, 3)) + _m((3, 2)), ValueError, r"add \(\+\): shapes \(2, 3\) and \(3, 2\)"),
    ("sub shapes", lambda: _m((2, 3)) - _m((2, 2)), ValueError, r"sub \(-\): shapes \(2, 3\) and \(2, 2\)"),
    ("mul shapes", lambda: _m((4, 1)) * _m((3, 1)), ValueError, r"mul \(\*\): shapes \(4, 1\) and \(3, 1\)"),
    ("div shapes", lambda: _m((1, 2)) / _m((1, 3)), ValueError, r"div \(/\): shapes \(1, 2\) and \(1, 3\)"),
    ("matmul inner", lambda: _m((2, 3)) @ _m((2, 3)), ValueError, r"matmul: inner dimensions differ: \(2, 3\) @ \(2, 3\)"),
    ("matrix exponent", lambda: _m((2, 2)) ** _m((3, 3)), ValueError, r"pow \(\*\*\): shapes \(2, 2\) and \(3, 3\) do not broadcast"),
    ("string operand", lambda: _m((2, 2)) + "a", TypeError, "expected real numbers"),
    ("None operand", lambda: _m((2, 2)) * None, TypeError, "expected real numbers"),
    ("axis 2", lambda: _m((2, 2)).sum(axis=2), ValueError, "sum: axis must be None, 0, 1, -1 or -2"),
    ("softmax axis", lambda: _m((2, 2)).softmax(axis=-3), ValueError, "softmax: axis"),
    ("item of 2x2", lambda: _m((2, 2)).item(), ValueError, r"item: .*\(2, 2\)"),
    ("backward non-scalar", lambda: (_m((2, 2)) * 2).backward(), ValueError, r"backward: the output has shape \(2, 2\)"),
    ("unknown backend", lambda: ag.set_backend("cuda"), ValueError, "unknown backend 'cuda'"),
    ("mixing backends", lambda: _on("python") + _on("c"), TypeError,
     "add: cannot mix backends 'python' and 'c'; convert one with .to"),
    ("second backward", lambda: _backward_twice(), RuntimeError, "already released.*retain_graph=True"),
    ("non-array to from_numpy", lambda: ag.from_numpy([[1.0]]), TypeError, "from_numpy: expected a NumPy array"),
    ("unknown backend block", lambda: ag.backend("gpu").__enter__(), ValueError, "unknown backend 'gpu'"),
]


@pytest.mark.parametrize("what,call,error,message", BAD, ids=[row[0] for row in BAD])
def test_bad_input_raises_the_documented_error(backend_name, what, call, error, message):
    with pytest.raises(error, match=message):
        call()


GOOD = [
    ("int list", [[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]]),
    ("bool list", [[True, False]], [[1.0, 0.0]]),
    ("python number", 3, [[3.0]]),
    ("1-D list is a row", [1, 2, 3], [[1.0, 2.0, 3.0]]),
    ("numpy int32", np.array([[1, 2]], dtype=np.int32), [[1.0, 2.0]]),
    ("numpy bool", np.array([[True, False]]), [[1.0, 0.0]]),
    ("numpy float32", np.array([[0.5]], dtype=np.float32), [[0.5]]),
    ("non-contiguous", np.arange(12.0).reshape(3, 4)[:, ::2], [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]),
    ("transposed (Fortran order)", np.arange(6.0).reshape(2, 3).T, [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]),
    ("numpy scalar", np.float64(2.5), [[2.5]]),
    ("fractions", [[__import__("fractions").Fraction(1, 4)]], [[0.25]]),
]


@pytest.mark.parametrize("what,values,expected", GOOD, ids=[row[0] for row in GOOD])
def test_real_input_of_any_kind_converts_to_float64(backend_name, what, values, expected):
    m = ag.mat(values)
    assert m.tolist() == expected
    assert m.numpy().dtype == np.float64


def test_nan_and_inf_are_values_like_any_other(backend_name):
    m = ag.mat([[np.nan, np.inf, -np.inf]])
    out = (m * 2.0 + 1.0).numpy()
    assert np.isnan(out[0, 0]) and out[0, 1] == np.inf and out[0, 2] == -np.inf


def test_input_arrays_are_copied_not_aliased(backend_name):
    arr = np.ones((2, 2))
    m = ag.mat(arr)
    arr[0, 0] = 5.0
    assert m.tolist()[0][0] == 1.0


def test_from_numpy_shares_memory_on_c_and_copies_otherwise(backend_name):
    arr = np.arange(6.0).reshape(2, 3)
    m = ag.from_numpy(arr)
    arr[0, 0] = 100.0
    shared = backend_name == "c"
    assert (m.tolist()[0][0] == 100.0) == shared
    assert not m.requires_grad
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    m2 = ag.from_numpy(strided)
    strided[0, 0] = -1.0
    assert m2.tolist()[0][0] == 0.0  # a non-contiguous array is copied
    assert ag.from_numpy(np.ones((2, 2), dtype=np.int32)).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_numpy_scalars_on_the_left_use_our_operators(backend_name):
    m = ag.mat([[1.0, 2.0]])
    out = np.float64(2.0) * m
    assert isinstance(out, ag.Matrix) and out.tolist() == [[2.0, 4.0]]
