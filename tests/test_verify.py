"""The verify backend: C and Python side by side, every op checked, divergences located."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pyautograd as ag

if "c" not in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c").split(","):
    pytest.skip("the verify backend needs the C backend", allow_module_level=True)
from pyautograd.backends.carray import CArray  # noqa: E402
from pyautograd.demo import Config, train  # noqa: E402

HERE = os.path.abspath(__file__)


def _line_of(marker):
    with open(HERE) as f:
        for number, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return number
    raise AssertionError(marker)


def test_verify_is_a_backend_like_the_others():
    with ag.backend("verify"):
        assert ag.get_backend() == "verify"
        x = ag.mat([[1.0, -2.0]])
        assert x.backend == "verify"
        (x.exp() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([[1.0, -2.0]]) * (1 + np.array([[1.0, -2.0]])))
    env = {**os.environ, "PYAUTOGRAD_BACKEND": "verify"}
    out = subprocess.run([sys.executable, "-c", "import pyautograd; print(pyautograd.get_backend())"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "verify", out.stderr


def test_a_whole_demo_training_run_works_under_verify_and_matches_c():
    checked = train(Config(backend="verify", epochs=3, n=300))
    plain = train(Config(backend="c", epochs=3, n=300))
    assert checked.losses == plain.losses
    assert checked.test_accuracy == plain.test_accuracy


def test_a_faulty_forward_kernel_is_named_with_the_users_line(monkeypatch):
    real = CArray._unary

    def faulty(self, op):
        out = real(self, op)
        if op == "sigmoid":
            ffi_buf = out.buf
            ffi_buf[0] = ffi_buf[0] + 1e-9  # one wrong value
        return out
    monkeypatch.setattr(CArray, "_unary", faulty)
    with ag.backend("verify"):
        z = ag.mat(np.linspace(-2, 2, 6).reshape(2, 3))
        with pytest.raises(ag.BackendDivergenceError) as info:
            z.sigmoid()  # FORWARD-FAULT-LINE
    message = str(info.value)
    assert message.startswith("sigmoid on shapes (2, 3): C and Python differ in the forward pass")
    assert f"{HERE}:{_line_of('FORWARD-FAULT-LINE')}" in message
    assert "largest absolute error 1e-09" in message and "1 of 6 values; first at (0, 0)" in message


def test_a_faulty_backward_kernel_is_named_with_the_line_that_made_the_node(monkeypatch):
    real = CArray._dsigmoid

    def faulty(self, grad):
        out = real(self, grad)
        out.buf[3] = -out.buf[3]
        return out
    monkeypatch.setattr(CArray, "_dsigmoid", faulty)
    with ag.backend("verify"):
        x = ag.mat(np.ones((4, 2)) * 0.5, requires_grad=False)
        w = ag.mat([[0.3, -0.2]])
        a = (x @ w.T).sigmoid()  # BACKWARD-FAULT-LINE
        loss = a.mean()
        with pytest.raises(ag.BackendDivergenceError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("dsigmoid on shapes (4, 1), (4, 1)")
    assert "in the backward pass of 'sigmoid'" in message
    assert f"{HERE}:{_line_of('BACKWARD-FAULT-LINE')}" in message


def test_a_matmul_off_by_more_than_its_rounding_bound_is_caught(monkeypatch):
    real = CArray._matmul

    def faulty(self, other, ta, tb, m, n, k):
        out = real(self, other, ta, tb, m, n, k)
        out.buf[0] *= 1 + 1e-10
        return out
    monkeypatch.setattr(CArray, "_matmul", faulty)
    with ag.backend("verify"):
        a, b = ag.mat(np.arange(1.0, 7.0).reshape(2, 3)), ag.mat(np.arange(1.0, 7.0).reshape(3, 2))
        with pytest.raises(ag.BackendDivergenceError, match=r"^matmul on shapes \(2, 3\), \(3, 2\)"):
            a @ b
