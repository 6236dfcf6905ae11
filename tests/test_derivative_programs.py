"""The derivative programs of examples/ (a PINN, a WGAN-GP critic, second-order MAML, third
derivatives) against the same programs in PyTorch, float64, at 1e-9, step by step from the same
initial weights, on every backend."""

import numpy as np
import pytest

from conftest import load_example

torch = pytest.importorskip("torch")


def leaves(arrays):
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}


def const(a):
    return torch.tensor(a, dtype=torch.float64)


def sgd_losses(p, loss, steps, lr):
    opt = torch.optim.SGD(list(p.values()), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_the_pinn_follows_pytorch_step_by_step(backend_name):
    ex = load_example("pinn")
    weights = ex.initial_weights()
    p = leaves(weights)
    x = const(np.linspace(0.0, np.pi, 16).reshape(-1, 1)).requires_grad_(True)
    zero = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)

    def u(z):
        h = (z @ p["W1"] + p["b1"]).tanh()
        h = (h @ p["W2"] + p["b2"]).tanh()
        return h @ p["W3"] + p["b3"]

    def loss():
        (du,) = torch.autograd.grad(u(x).sum(), x, create_graph=True)
        (d2u,) = torch.autograd.grad(du.sum(), x, create_graph=True)
        (du0,) = torch.autograd.grad(u(zero).sum(), zero, create_graph=True)
        return ((d2u + u(x)) ** 2).mean() + u(zero).sum() ** 2 + (du0.sum() - 1.0) ** 2
    theirs = sgd_losses(p, loss, 20, 0.01)
    ours = ex.train(weights, steps=20, lr=0.01)
    close(ours, theirs)
    assert ours[-1] < ours[0]  # the interior term trains too, not only the boundary


def test_the_wgan_gp_critic_follows_pytorch(backend_name):
    ex = load_example("wgan_gp")
    weights, data = ex.problem()
    p = leaves(weights)
    real, fake, eps = (const(data[k]) for k in ("real", "fake", "eps"))

    def critic(z):
        return (z @ p["W1"] + p["b1"]).tanh() @ p["W2"] + p["b2"]

    def loss():
        x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        penalty = (((g * g).sum(dim=1, keepdim=True) + 1e-12).sqrt() - 1.0) ** 2
        return critic(fake).mean() - critic(real).mean() + 10.0 * penalty.mean()
    close(ex.train(weights, data, steps=10), sgd_losses(p, loss, 10, 0.01))


def test_second_order_maml_follows_pytorch(backend_name):
    ex = load_example("maml")
    weights, tasks = ex.problem()
    p = leaves(weights)
    names = list(p)
    tasks_t = [tuple(const(a) for a in task) for task in tasks]

    def model(q, z):
        return (z @ q["W1"] + q["b1"]).tanh() @ q["W2"] + q["b2"]

    def loss():
        total = 0.0
        for xs, ys, xq, yq in tasks_t:
            grads = torch.autograd.grad(((model(p, xs) - ys) ** 2).mean(), [p[k] for k in names],
                                        create_graph=True)
            adapted = {k: p[k] - 0.1 * g for k, g in zip(names, grads)}
            total = total + ((model(adapted, xq) - yq) ** 2).mean()
        return total
    close(ex.train(weights, tasks, steps=10), sgd_losses(p, loss, 10, 0.01))


def test_third_derivatives_match_pytorch_and_the_symbolic_answer(backend_name):
    ex = load_example("third_derivative")
    for value in (0.5, -1.5, 2.0, 3.25):
        x = torch.tensor([[value]], dtype=torch.float64, requires_grad=True)
        y = x ** 4 * (x * 0.5).exp()
        (d1,) = torch.autograd.grad(y, x, create_graph=True)
        (d2,) = torch.autograd.grad(d1, x, create_graph=True)
        (d3,) = torch.autograd.grad(d2, x)
        ours = ex.derivatives(value)
        close(ours, [y.item(), d1.item(), d2.item(), d3.item()])
        close(ours, ex.symbolic(value))


def test_the_examples_run_as_scripts(capsys):
    for name in ("pinn", "wgan_gp", "maml", "third_derivative"):
        module = load_example(name)
        if name == "pinn":
            module.train(module.initial_weights(), steps=2)
        else:
            module.main()
    assert "f''' by autograd" in capsys.readouterr().out
