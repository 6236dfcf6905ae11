"""Compiled steps with a derivative inside (issue: derivatives that compose): the PINN step
(second derivatives of the network in its input, Adam) and the WGAN-GP critic step (a penalty on
the critic's input gradient, SGD) record and replay in one C call, bit for bit as eager
execution, on the C backend and checked replay by replay on verify."""

import numpy as np
import pytest

import pyautograd as ag
from conftest import BACKENDS, C_ENABLED, load_example

COMPILING = [b for b in ("c", "verify") if b in BACKENDS] if C_ENABLED else []


def pinn_step():
    pinn = load_example("pinn")
    p = {k: ag.mat(v) for k, v in pinn.initial_weights(8).items()}
    x = ag.mat(np.linspace(0.0, np.pi, 16).reshape(-1, 1), requires_grad=False)
    opt = ag.optim.Adam(list(p.values()), lr=1e-3)

    def step(points):
        opt.zero_grad()
        value = pinn.loss(p, points)
        value.backward()
        opt.step()
        return value
    return step, (x,), p, opt


def penalty_step():
    wgan = load_example("wgan_gp")
    weights, data = wgan.problem()
    p = {k: ag.mat(v) for k, v in weights.items()}
    inputs = tuple(ag.mat(data[k], requires_grad=False) for k in ("real", "fake", "eps"))
    opt = ag.optim.SGD(list(p.values()), lr=0.01, momentum=0.9)

    def step(real, fake, eps):
        opt.zero_grad()
        value = wgan.critic_loss(p, real, fake, eps)
        value.backward()
        opt.step()
        return value
    return step, inputs, p, opt


@pytest.mark.skipif(not COMPILING, reason="compile replays on the C backend")
@pytest.mark.parametrize("backend", COMPILING)
@pytest.mark.parametrize("make", [pinn_step, penalty_step], ids=["pinn", "gradient_penalty"])
def test_a_step_with_a_derivative_inside_replays_eagers_bits(backend, make):
    with ag.backend(backend):
        eager, eager_inputs, eager_p, eager_opt = make()
        step, inputs, p, opt = make()
        compiled = ag.compile(step)
        for _ in range(40):
            np.testing.assert_array_equal(compiled(*inputs).numpy(), eager(*eager_inputs).numpy())
        for k in p:
            np.testing.assert_array_equal(p[k].numpy(), eager_p[k].numpy())
            np.testing.assert_array_equal(p[k].grad.numpy(), eager_p[k].grad.numpy())
        assert compiled.stats == {"eager": 1, "traced": 2, "replayed": 37}
