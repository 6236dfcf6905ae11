"""nn.to_torch / nn.from_torch: the same network, weights and outputs on both sides."""
import sys

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import nn


def _model():
    ag.manual_seed(2)
    return nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Dropout(0.3), nn.Linear(5, 4),
                         nn.LeakyReLU(0.1), nn.ModuleList([nn.Tanh()]), nn.Linear(4, 3, bias=False),
                         nn.LogSoftmax(dim=1))


def _run(model, x):
    """Forward through everything except a ModuleList (which has no forward of its own)."""
    for layer in model:
        if type(layer).__name__ == "ModuleList":
            for inner in layer:
                x = inner(x)
        else:
            x = layer(x)
    return x


def test_to_torch_and_back_give_identical_outputs(backend_name):
    torch = pytest.importorskip("torch")
    model = _model()
    model[3].bias.requires_grad = False
    twin = nn.to_torch(model)
    assert isinstance(twin, torch.nn.Sequential) and twin.training
    assert twin[0].bias.shape == (5,) and twin[0].weight.dtype == torch.float64
    assert not twin[3].bias.requires_grad and twin[6].bias is None
    assert list(twin.state_dict()) == list(model.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 3))
    model.eval(), twin.eval()
    ours = _run(model, x).numpy()
    theirs = _run(twin, torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    back = nn.from_torch(twin)
    assert repr(back) == repr(model) and not back.training
    assert back[0].weight.backend == backend_name and back[0].bias.shape == (1, 5)
    assert not back[3].bias.requires_grad and back[3].weight.requires_grad
    np.testing.assert_array_equal(_run(back, x).numpy(), ours)


def test_from_torch_converts_a_torch_model_and_its_losses(backend_name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                               torch.nn.Softmax(dim=1), torch.nn.Identity()).float()
    model = nn.from_torch(twin)
    x = np.random.default_rng(1).standard_normal((5, 4))
    expected = twin.double()(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    loss = nn.from_torch(torch.nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.1))
    assert (loss.reduction, loss.label_smoothing) == ("sum", 0.1)
    assert nn.to_torch(nn.BCELoss(reduction="none")).reduction == "none"
    with pytest.raises(TypeError, match="from_torch: Conv2d has no pyautograd equivalent"):
        nn.from_torch(torch.nn.Conv2d(1, 1, 3))
    with pytest.raises(TypeError, match="approximate='tanh'"):
        nn.from_torch(torch.nn.GELU(approximate="tanh"))
    with pytest.raises(TypeError, match="from_torch: expected a torch.nn.Module, got int"):
        nn.from_torch(3)

    class Custom(nn.Module):
        def forward(self, x):
            return x
    with pytest.raises(TypeError, match="to_torch: no PyTorch equivalent for Custom"):
        nn.to_torch(Custom())


def test_a_clear_error_without_pytorch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ImportError, match="to_torch needs PyTorch, which is not installed"):
        nn.to_torch(nn.Linear(2, 2))
    with pytest.raises(ImportError, match="from_torch needs PyTorch"):
        nn.from_torch(object())


def test_load_state_dict_takes_a_torch_state_dict(backend_name):
    torch = pytest.importorskip("torch")
    twin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)).double()
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    model.load_state_dict(twin.state_dict())  # (n,) biases load into (1, n) matrices
    x = np.random.default_rng(3).standard_normal((4, 3))
    np.testing.assert_allclose(model(x).numpy(), twin(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)
