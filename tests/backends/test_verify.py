"""The verify backend: C and Python side by side, every op checked, divergences located."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pyautograd as ag

from conftest import C_ENABLED, fuzz_values

if not C_ENABLED:
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


# -- tolerances: correct results are never reported as divergences ------------------------------
# PYAUTOGRAD_VERIFY_FUZZ cases (default 400); run once with 100000 before changing a tolerance.
VERIFY_FUZZ = int(os.environ.get("PYAUTOGRAD_VERIFY_FUZZ", "400"))


def _fuzz_case(rng):
    """One op of the storage contract on VerifyArrays, with random shapes and values."""
    from pyautograd.backends.verify import VerifyArray

    def m(*shape):
        return VerifyArray.from_array(fuzz_values(rng, shape))
    r, c, k = (int(v) for v in rng.integers(1, 20, 3))
    x = m(r, c)
    op = rng.integers(0, 9)
    if op == 0:
        getattr(x, ["exp", "log", "sigmoid", "tanh", "relu", "abs", "sign"][rng.integers(0, 7)])()
    elif op == 1:
        x ** float(rng.choice([2, 3, 0.5, -1, -2.5, 1.5, 0]))
    elif op == 2:
        y = m(*(r if rng.integers(0, 2) else 1, c if rng.integers(0, 2) else 1))
        [x + y, x - y, x * y, x / y][rng.integers(0, 4)]
    elif op == 3:  # products on ordinary values (raw bit patterns make the bound infinite)
        a = VerifyArray.from_array(rng.standard_normal((r, k)) * 10.0 ** rng.integers(-3, 4))
        b = VerifyArray.from_array(rng.standard_normal((k, c)) * 10.0 ** rng.integers(-3, 4))
        a.matmul(b)
        a.T.matmul(b, trans_self=True)
    elif op == 4:  # accumulated into an existing gradient, as backward does
        g = VerifyArray.from_array(rng.standard_normal((r, c)) * 10.0 ** rng.integers(-3, 4))
        a = VerifyArray.from_array(rng.standard_normal((r, k)) * 10.0 ** rng.integers(-3, 4))
        b = VerifyArray.from_array(rng.standard_normal((k, c)) * 10.0 ** rng.integers(-3, 4))
        g.add_matmul_(a, b)
        g.add_matmul_(a.T, b, trans_a=True)
    elif op == 5:
        axis = [None, 0, 1][rng.integers(0, 3)]
        [x.sum, x.mean, x.max][rng.integers(0, 3)](axis)
    elif op == 6:
        x.sigmoid().dsigmoid(m(r, c))
    elif op == 7:
        x.add_scaled_(m(r, c), float(rng.standard_normal()))
    else:
        x += m(r, c)
        x *= float(rng.standard_normal())


def test_verify_raises_no_false_alarm_on_random_ops():
    rng = np.random.default_rng(14)
    with np.errstate(all="ignore"):
        for _ in range(VERIFY_FUZZ):
            _fuzz_case(rng)


def test_subnormal_exp_and_accumulated_products_are_within_tolerance():
    with ag.backend("verify"):
        assert ag.mat([[-713.754096]]).exp().item() == pytest.approx(1.0484184894e-310, rel=1e-9)
        rng = np.random.default_rng(0)
        for _ in range(300):  # random 8x8 products accumulated into an existing gradient
            W = ag.mat(rng.standard_normal((8, 8)) * 10.0 ** rng.integers(-3, 4))
            x = ag.mat(rng.standard_normal((8, 8)) * 10.0 ** rng.integers(-3, 4), requires_grad=False)
            (W @ x).sum().backward()
            (W @ x).sum().backward()
        from pyautograd.backends.verify import VerifyArray
        for _ in range(300):
            g, a, b = (VerifyArray.from_array(rng.standard_normal((8, 8)) * 10.0 ** rng.integers(-3, 4))
                       for _ in range(3))
            g.add_matmul_(a, b)


def test_a_real_divergence_in_the_subnormal_range_is_still_caught(monkeypatch):
    real = CArray._unary

    def faulty(self, op):
        out = real(self, op)
        out.buf[0] = out.buf[0] * 2.0  # 100% off, though only ~1e-310 in absolute terms
        return out
    monkeypatch.setattr(CArray, "_unary", faulty)
    with ag.backend("verify"):
        with pytest.raises(ag.BackendDivergenceError, match="^exp on shapes"):
            ag.mat([[-713.754096]]).exp()
