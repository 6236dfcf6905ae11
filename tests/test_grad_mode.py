"""Grad mode (no_grad, enable_grad, set_grad_enabled), the package's sub-modules and DLPack."""
import numpy as np
import pytest

import pyautograd as ag


def test_subpackages_are_attributes_of_the_package():
    import pyautograd.data
    import pyautograd.nn
    import pyautograd.optim
    assert (ag.nn, ag.optim, ag.data) == (pyautograd.nn, pyautograd.optim, pyautograd.data)
    assert ag.optim.lr_scheduler.StepLR and ag.nn.Linear


def test_no_grad_with_and_without_parentheses(backend_name):
    a = ag.mat([[1.0, 2.0]])

    @ag.no_grad
    def bare(x):
        """doc"""
        return x * 2

    @ag.no_grad()
    def called(x):
        return x * 2

    assert not bare(a).requires_grad and not called(a).requires_grad
    assert bare.__name__ == "bare" and bare.__doc__ == "doc"
    assert (a * 2).requires_grad and ag.is_grad_enabled()
    with pytest.raises(TypeError, match="no_grad: takes no argument"):
        ag.no_grad(3)


def test_enable_grad_inside_no_grad(backend_name):
    a = ag.mat([[1.0]])
    with ag.no_grad():
        with ag.enable_grad():
            assert (a * 2).requires_grad
        assert not (a * 2).requires_grad

        @ag.enable_grad
        def f(x):
            return x * 3
        assert f(a).requires_grad
    assert ag.is_grad_enabled()


def test_set_grad_enabled_as_function_and_context_manager(backend_name):
    a = ag.mat([[1.0]])
    try:
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled() and not (a * 2).requires_grad
        with ag.set_grad_enabled(True):
            assert (a * 2).requires_grad
        assert not ag.is_grad_enabled()
    finally:
        ag.set_grad_enabled(True)
    with ag.set_grad_enabled(False):
        assert not (a * 2).requires_grad
    assert ag.is_grad_enabled()
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be a bool"):
        ag.set_grad_enabled("no")


def test_dlpack_round_trips_with_numpy_and_torch(backend_name):
    m = ag.mat([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.__dlpack_device__() == (1, 0)
    np.testing.assert_array_equal(np.from_dlpack(m), m.numpy())
    back = ag.from_dlpack(np.arange(6.0).reshape(2, 3))
    assert back.backend == backend_name and back.shape == (2, 3) and not back.requires_grad
    shared = np.arange(6.0).reshape(2, 3)
    view = ag.from_dlpack(shared)
    shared[0, 0] = 42.0
    assert view.numpy()[0, 0] == (42.0 if backend_name == "c" else 0.0)  # shared only on C
    assert ag.from_dlpack(np.arange(3, dtype=np.int32)).tolist() == [[0.0, 1.0, 2.0]]
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        ag.from_dlpack([[1.0]])
    torch = pytest.importorskip("torch")
    t = torch.from_dlpack(m)
    np.testing.assert_array_equal(t.numpy(), m.numpy())
    x = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    np.testing.assert_array_equal(ag.from_dlpack(x).numpy(), x.numpy())
    y = ag.from_dlpack(x.T)  # a transposed (non-contiguous) view is copied in its logical layout
    np.testing.assert_array_equal(y.numpy(), x.numpy().T)
