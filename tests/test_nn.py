"""nn modules and losses: structure, initialisation, and values and gradients against NumPy
references everywhere and PyTorch where it is installed."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import nn
from pyautograd.nn import functional as F


def test_parameters_are_found_recursively_in_order_and_once(backend_name):
    class Net(nn.Module):
        def __init__(self):
            self.first = nn.Linear(3, 4)
            self.blocks = [nn.Linear(4, 4), {"head": nn.Linear(4, 2, bias=False)}]
            self.shared = self.first.weight  # the same matrix again
            self.constant = ag.mat([[1.0]], requires_grad=False)

        def forward(self, x):
            return x

    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["first.weight", "first.bias", "blocks.0.weight", "blocks.0.bias",
                     "blocks.1.head.weight"]
    assert len(net.parameters()) == 5
    for p in net.parameters():
        p.grad += 1.0
    net.zero_grad()
    assert all((p.grad.numpy() == 0).all() for p in net.parameters())


def test_linear_shapes_initialisation_and_seed(backend_name):
    ag.manual_seed(3)
    layer = nn.Linear(25, 7)
    assert layer.weight.shape == (7, 25) and layer.bias.shape == (1, 7)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    bound = 1 / np.sqrt(25)
    values = np.concatenate([layer.weight.numpy().ravel(), layer.bias.numpy().ravel()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound
    ag.manual_seed(3)
    again = nn.Linear(25, 7)
    assert np.array_equal(again.weight.numpy(), layer.weight.numpy())
    x = ag.randn(5, 25, requires_grad=False)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-13)
    with pytest.raises(ValueError, match=r"Linear: input has 3 features \(shape \(5, 3\)\), the layer expects 25"):
        layer(ag.randn(5, 3))
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)


def test_sequential_and_activations(backend_name):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1),
                          nn.Sigmoid())
    assert len(model.parameters()) == 6 and len(model) == 6 and isinstance(model[1], nn.ReLU)
    x = ag.randn(4, 2, requires_grad=False)
    h = x
    for layer in model:
        h = layer(h)
    np.testing.assert_allclose(model(x).numpy(), h.numpy())
    assert "Linear(in_features=2, out_features=3, bias=True)" in repr(model)


def _np_losses(p, z, y, hot):
    with np.errstate(divide="ignore"):
        bce = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100)).mean()
    logit_bce = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean()
    shifted = z - z.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    ce = -(hot * log_softmax).sum() / len(z)
    n = p.size
    grads = {
        "mse": None,
        "bce": (p - y) / np.maximum(p * (1 - p), 1e-12) / n,
        "bce_logits": (1 / (1 + np.exp(-z)) - y) / n,
        "ce": (np.exp(log_softmax) - hot) / len(z),
    }
    return {"bce": bce, "bce_logits": logit_bce, "ce": ce}, grads


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, (6, 3))
    z = rng.standard_normal((6, 3)) * 3
    y = (rng.random((6, 3)) > 0.5).astype(float)
    classes = rng.integers(0, 3, 6)
    hot = np.eye(3)[classes]
    return p, z, y, classes, hot


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_losses_match_numpy_references(backend_name, seed):
    p, z, y, classes, hot = _random_problem(seed)
    values, grads = _np_losses(p, z, y, hot)
    cases = [
        ("bce", lambda m: nn.BCELoss()(m, ag.mat(y, requires_grad=False)), p),
        ("bce_logits", lambda m: nn.BCEWithLogitsLoss()(m, y), z),
        ("ce", lambda m: nn.CrossEntropyLoss()(m, list(classes)), z),
    ]
    for name, loss_fn, inputs in cases:
        m = ag.mat(inputs)
        loss = loss_fn(m)
        assert loss.item() == pytest.approx(values[name], rel=1e-12, abs=1e-14), name
        loss.backward()
        np.testing.assert_allclose(m.grad.numpy(), grads[name], rtol=1e-10, atol=1e-14, err_msg=name)
    m = ag.mat(p)
    loss = nn.MSELoss()(m, y)
    assert loss.item() == pytest.approx(((p - y) ** 2).mean(), rel=1e-13)
    loss.backward()
    np.testing.assert_allclose(m.grad.numpy(), 2 * (p - y) / p.size, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_losses_match_pytorch(backend_name, seed):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    p, z, y, classes, hot = _random_problem(seed)
    t = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    cases = [
        (lambda m, yy: F.mse_loss(m, yy), lambda a, b: tf.mse_loss(a, b), p, y),
        (lambda m, yy: F.binary_cross_entropy(m, yy), lambda a, b: tf.binary_cross_entropy(a, b), p, y),
        (lambda m, yy: F.binary_cross_entropy_with_logits(m, yy),
         lambda a, b: tf.binary_cross_entropy_with_logits(a, b), z, y),
        (lambda m, yy: F.cross_entropy(m, yy), lambda a, b: tf.cross_entropy(a, b), z, hot),
    ]
    for ours, theirs, inputs, target in cases:
        m, tm = ag.mat(inputs), t(inputs)
        yy, ty = ag.mat(target), t(target)  # the target requires a gradient too
        loss, tloss = ours(m, yy), theirs(tm, ty)
        loss.backward()
        tloss.backward()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
        np.testing.assert_allclose(m.grad.numpy(), tm.grad.numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(yy.grad.numpy(), ty.grad.numpy(), rtol=1e-10, atol=1e-15)
    m, tm = ag.mat(z), t(z)
    F.cross_entropy(m, classes).backward()
    tf.cross_entropy(tm, torch.tensor(classes)).backward()
    np.testing.assert_allclose(m.grad.numpy(), tm.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_losses_stay_finite_at_the_edges(backend_name):
    p = ag.mat([[0.0, 1.0, 0.0, 1.0]])
    y = ag.mat([[0.0, 1.0, 1.0, 0.0]], requires_grad=False)
    loss = F.binary_cross_entropy(p, y)
    assert loss.item() == pytest.approx(50.0)  # two clamped logs of -100 over 4 values
    loss.backward()
    assert np.isfinite(p.grad.numpy()).all()
    z = ag.mat([[1e4, -1e4, 1e4, -1e4]])
    loss = F.binary_cross_entropy_with_logits(z, y)
    assert loss.item() == pytest.approx(5000.0)
    loss.backward()
    assert p.grad is not None and np.isfinite(z.grad.numpy()).all()
    logits = ag.mat([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    loss = F.cross_entropy(logits, [1, 0])
    assert loss.item() == pytest.approx(2e4 + np.log(2) / 2, rel=1e-15)  # row 2 ties two maxima
    loss.backward()
    assert np.isfinite(logits.grad.numpy()).all()


def test_cross_entropy_targets(backend_name):
    z = ag.mat([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    by_list = F.cross_entropy(z, [0, 2]).item()
    assert F.cross_entropy(z, np.array([0, 2])).item() == by_list
    assert F.cross_entropy(z, ag.mat([[1, 0, 0], [0, 0, 1]], requires_grad=False)).item() == by_list
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 3\), got 0..3"):
        F.cross_entropy(z, [0, 3])
    with pytest.raises(ValueError, match=r"logits \(2, 3\) need 2 targets"):
        F.cross_entropy(z, [0, 1, 2])
    with pytest.raises(TypeError, match="class targets must be a 1-D list or array of ints"):
        F.cross_entropy(z, [0.5, 1.0])
    with pytest.raises(ValueError, match=r"mse_loss: prediction \(2, 3\) and target \(1, 3\)"):
        F.mse_loss(z, [[1.0, 2.0, 3.0]])
