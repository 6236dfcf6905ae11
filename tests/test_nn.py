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


# -- the training kit: more layers, modes, structure, init, reductions -------------------------

def _torch_pair(values):
    torch = pytest.importorskip("torch")
    return ag.mat(values), torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("name", ["GELU", "LeakyReLU", "Softmax0", "Softmax1", "LogSoftmax1",
                                  "LogSoftmax0", "Identity", "Sigmoid", "Tanh", "ReLU"])
def test_activation_modules_match_torch(backend_name, name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.standard_normal((3, 4)) * 3, [[0.0, -0.0, 1e-3, -40.0]]])
    kind, dim = (name[:-1], int(name[-1])) if name[-1].isdigit() else (name, None)
    ours = getattr(nn, kind)(**({"dim": dim} if dim is not None else {}))
    theirs = getattr(torch.nn, kind)(**({"dim": dim} if dim is not None else {}))
    m, t = _torch_pair(x)
    out, tout = ours(m), theirs(t)
    upstream = rng.standard_normal(x.shape)
    if name == "Identity":
        assert out is m
        return
    out.backward(upstream)
    tout.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_leaky_relu_slope_and_its_derivative_at_zero(backend_name):
    x = ag.mat([[-2.0, 0.0, 3.0]])
    y = nn.LeakyReLU(0.2)(x)
    assert y.tolist() == [[-0.4, 0.0, 3.0]]
    y.backward(ag.mat([[1.0, 1.0, 1.0]]))
    assert x.grad.tolist() == [[0.2, 0.2, 1.0]]  # PyTorch's slope at exactly 0


def test_dropout_is_seeded_inverted_and_the_identity_in_eval(backend_name):
    x = ag.mat(np.full((40, 50), 3.0))
    drop = nn.Dropout(0.25)
    assert drop.training and repr(drop) == "Dropout(p=0.25)"
    ag.manual_seed(5)
    a = drop(x)
    ag.manual_seed(5)
    b = drop(x)
    assert np.array_equal(a.numpy(), b.numpy())
    values = a.numpy()
    assert set(np.unique(values)) == {0.0, 4.0}  # kept ones scaled by 1 / (1 - p)
    assert abs((values == 0).mean() - 0.25) < 0.05
    a.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values / 3.0)
    drop.eval()
    assert drop(x) is x and not drop.training
    assert np.array_equal(nn.Dropout(1.0)(x).numpy(), np.zeros((40, 50)))
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            nn.Dropout(bad)


def test_structure_train_eval_apply_and_names(backend_name):
    class Block(nn.Module):
        def __init__(self):
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Dropout(0.5)])
            self.head = nn.Linear(2, 1)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x)

    model = nn.Sequential(Block(), nn.ReLU())
    assert [n for n, _ in model.named_parameters()] == [
        "0.layers.0.weight", "0.layers.0.bias", "0.head.weight", "0.head.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "0.layers", "0.layers.0",
                                                    "0.layers.1", "0.head", "1"]
    assert [type(c).__name__ for c in model.children()] == ["Block", "ReLU"]
    assert len(list(model.modules())) == 7
    visited = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "Dropout", "ModuleList", "Linear", "Block", "ReLU", "Sequential"]
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    out = model(np.ones((3, 2)))  # a NumPy input is converted
    out.sum().backward()
    assert all(p.has_grad for p in model.parameters())
    model.zero_grad()
    assert not any(p.has_grad for p in model.parameters())
    layers = model[0].layers
    layers.append(nn.Tanh())
    assert len(layers) == 3 and isinstance(layers[-1], nn.Tanh) and len(layers[:2]) == 2
    with pytest.raises(TypeError, match="ModuleList.append: item 0 is a int, not a Module"):
        layers.append(3)


def test_repr_is_nested_like_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.GELU()), nn.LeakyReLU(0.1),
                         nn.Softmax(dim=1), nn.ModuleList([nn.Identity(), nn.Tanh()]), nn.MSELoss())
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.GELU()),
                                 torch.nn.LeakyReLU(0.1), torch.nn.Softmax(dim=1),
                                 torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Tanh()]),
                                 torch.nn.MSELoss())
    assert repr(ours) == repr(theirs)


def test_inputs_are_converted_or_refused_clearly(backend_name):
    layer = nn.Linear(2, 3)
    out = layer(np.ones((1, 2)))
    np.testing.assert_allclose(out.numpy(), layer([[1.0, 1.0]]).numpy())
    assert out.backend == backend_name
    with pytest.raises(TypeError, match="Linear: expected a pyautograd Matrix .* got str"):
        layer("x")
    with pytest.raises(TypeError, match="Sigmoid: expected a pyautograd Matrix .* got dict"):
        nn.Sigmoid()({})


def test_init_functions_follow_pytorch_formulas(backend_name):
    from pyautograd.nn import init
    w = ag.mat(np.zeros((30, 50)))
    storage = w.data
    ag.manual_seed(0)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * np.sqrt(6.0 / 80)
    assert w.data is storage and np.abs(w.numpy()).max() <= bound < 1.05 * np.abs(w.numpy()).max()
    first = w.numpy().copy()
    ag.manual_seed(0)
    init.xavier_uniform_(w, gain=2.0)
    assert np.array_equal(w.numpy(), first)
    init.kaiming_uniform_(w, a=np.sqrt(5))  # what torch.nn.Linear uses: bound 1/sqrt(fan_in)
    assert np.abs(w.numpy()).max() <= 1 / np.sqrt(50) < 1.05 * np.abs(w.numpy()).max()
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 30)
    init.uniform_(w, -0.5, 2.0)
    assert w.numpy().min() >= -0.5 and w.numpy().max() < 2.0
    init.normal_(w, mean=3.0, std=0.5)
    assert abs(w.numpy().mean() - 3.0) < 0.05 and abs(w.numpy().std() - 0.5) < 0.05
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert (w.numpy() == 1).all()
    torch = pytest.importorskip("torch")
    for args in [("linear",), ("relu",), ("tanh",), ("leaky_relu", 0.2), ("sigmoid",)]:
        assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)
    with pytest.raises(ValueError, match="kaiming_uniform_: mode must be"):
        init.kaiming_uniform_(w, mode="fan")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_reductions_match_torch(backend_name, reduction):
    torch = pytest.importorskip("torch")
    p, z, y, classes, hot = _random_problem(3)
    t = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    upstream = np.random.default_rng(0).standard_normal(p.shape)
    cases = [
        (nn.MSELoss, torch.nn.MSELoss, p, y, {}),
        (nn.BCELoss, torch.nn.BCELoss, p, y, {}),
        (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, z, y, {}),
        (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, z, hot, {}),
        (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, z, hot, {"label_smoothing": 0.2}),
        (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, z, classes, {"label_smoothing": 0.3}),
    ]
    for ours_cls, theirs_cls, inputs, target, kw in cases:
        m, tm = ag.mat(inputs), t(inputs)
        if target is classes:
            yy, ty = list(classes), torch.tensor(classes)
        else:
            yy, ty = ag.mat(target), t(target)
        loss = ours_cls(reduction=reduction, **kw)(m, yy)
        tloss = theirs_cls(reduction=reduction, **kw)(tm, ty)
        if reduction == "none":
            tvalues = tloss.detach().numpy().reshape(loss.shape)
            loss.backward(upstream[:, :loss.shape[1]])
            tloss.backward(torch.tensor(upstream[:, :loss.shape[1]].reshape(tloss.shape)))
        else:
            tvalues = tloss.item()
            loss.backward()
            tloss.backward()
        np.testing.assert_allclose(loss.numpy(), np.reshape(tvalues, loss.shape), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(m.grad.numpy(), tm.grad.numpy(), rtol=1e-12, atol=1e-14)
        if isinstance(yy, ag.Matrix):
            np.testing.assert_allclose(yy.grad.numpy(), ty.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("prediction,target,what", [
    (1.5, 1.0, "input"), (-0.1, 0.0, "input"), (float("nan"), 1.0, "input"),
    (0.5, 1.5, "target"), (0.5, -0.5, "target"), (0.5, float("nan"), "target"),
])
def test_bce_refuses_values_outside_0_1_as_torch(backend_name, prediction, target, what):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=f"all elements of {what} should be between 0 and 1"):
        torch.nn.functional.binary_cross_entropy(torch.tensor([prediction], dtype=torch.float64),
                                                 torch.tensor([target], dtype=torch.float64))
    p = ag.mat([[0.5, prediction]])
    y = ag.mat([[0.0, target]], requires_grad=False)
    for error in (RuntimeError, ValueError):  # PyTorch's type, and ours for a bad value
        with pytest.raises(error, match=f"binary_cross_entropy: all elements of {what} should be between 0 and 1"):
            nn.BCELoss()(p, y)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match=r"MSELoss: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0, got 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(ag.mat([[1.0, 2.0]]), [0], label_smoothing=-0.1)


@pytest.mark.parametrize("name", ["gelu", "leaky_relu", "mse_sum", "mse_none", "bce_none",
                                  "bce_logits_sum", "ce_smoothed", "ce_none", "dropout_eval"])
def test_forward_mode_agrees_with_reverse_mode_through_the_new_layers(backend_name, name):
    x = ag.mat([[0.3, -1.2, 2.0], [-0.4, 0.9, -2.5]])
    y = [[0.0, 1.0, 0.2], [1.0, 0.5, 0.0]]
    fns = {
        "gelu": nn.GELU(),
        "leaky_relu": nn.LeakyReLU(0.2),
        "mse_sum": lambda z: nn.MSELoss(reduction="sum")(z, y),
        "mse_none": lambda z: nn.MSELoss(reduction="none")(z, y),
        "bce_none": lambda z: nn.BCELoss(reduction="none")(z.sigmoid(), y),
        "bce_logits_sum": lambda z: nn.BCEWithLogitsLoss(reduction="sum")(z, y),
        "ce_smoothed": lambda z: nn.CrossEntropyLoss(label_smoothing=0.2)(z, [2, 0]),
        "ce_none": lambda z: nn.CrossEntropyLoss(reduction="none")(z, [1, 0]),
        "dropout_eval": nn.Dropout(0.5).eval(),
    }
    f = fns[name]
    forward = ag.jacobian(f, x, mode="fwd").numpy()
    reverse = ag.jacobian(f, x, mode="rev").numpy()
    np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-15)
