"""Optimizers: 100 steps against NumPy transcriptions of the update rules everywhere, and against
torch.optim where PyTorch is installed."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import optim


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4, 3)), rng.standard_normal((1, 3)), rng.standard_normal((5, 3))


def _loss_and_grads(w, b, x):
    """loss = mean(tanh(x w^T + b)^2); gradients by hand, in NumPy."""
    z = x @ w.T + b.sum()
    t = np.tanh(z)
    loss = (t ** 2).mean()
    dz = 2 * t * (1 - t ** 2) / t.size
    return loss, dz.T @ x, np.full_like(b, dz.sum())


def _ours(opt_name, kwargs, steps, backend):
    w0, b0, x0 = _problem()
    w, b = ag.mat(w0), ag.mat(b0)
    x = ag.mat(x0, requires_grad=False)
    opt = getattr(optim, opt_name)([w, b], **kwargs)
    for _ in range(steps):
        loss = ((x @ w.T + b.sum()).tanh() ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.numpy(), b.numpy()


def _numpy_reference(opt_name, kwargs, steps):
    w, b, x = _problem()
    params = [w.copy(), b.copy()]
    state = [dict(), dict()]
    lr = kwargs["lr"]
    for t in range(1, steps + 1):
        _, gw, gb = _loss_and_grads(params[0], params[1], x)
        for i, g in enumerate((gw, gb)):
            p, s = params[i], state[i]
            g = g + kwargs.get("weight_decay", 0.0) * p
            if opt_name == "SGD":
                mom = kwargs.get("momentum", 0.0)
                if mom:
                    s["buf"] = g.copy() if "buf" not in s else mom * s["buf"] + g
                    g = s["buf"]
                params[i] = p - lr * g
            else:
                b1, b2 = kwargs.get("betas", (0.9, 0.999))
                eps = kwargs.get("eps", 1e-8)
                s["m"] = s.get("m", 0 * p) * b1 + (1 - b1) * g
                s["v"] = s.get("v", 0 * p) * b2 + (1 - b2) * g * g
                m_hat = s["m"] / (1 - b1 ** t)
                v_hat = s["v"] / (1 - b2 ** t)
                params[i] = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_100_steps_match_a_numpy_transcription(backend_name, name, kwargs):
    w, b = _ours(name, kwargs, 100, backend_name)
    rw, rb = _numpy_reference(name, kwargs, 100)
    np.testing.assert_allclose(w, rw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, rb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_100_steps_match_torch_optim(backend_name, name, kwargs):
    torch = pytest.importorskip("torch")
    w0, b0, x0 = _problem()
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    x = torch.tensor(x0)
    opt = getattr(torch.optim, name)([w, b], **kwargs)
    for _ in range(100):
        loss = ((x @ w.T + b.sum()).tanh() ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ours_w, ours_b = _ours(name, kwargs, 100, backend_name)
    np.testing.assert_allclose(ours_w, w.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_b, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_optimizer_argument_errors():
    w = ag.mat([[1.0]])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        optim.Adam([w], lr=-1)
    with pytest.raises(TypeError, match="parameters must be Matrix objects"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: betas must lie in \[0, 1\)"):
        optim.Adam([w], betas=(1.0, 0.9))
