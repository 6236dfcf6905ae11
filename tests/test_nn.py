"""nn modules and losses: structure, initialisation, and values and gradients against NumPy
references everywhere and PyTorch where it is installed."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import nn, optim
from pyautograd.nn import functional as F
from conftest import needs_c


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


# -- issue 22 item 3: more layers, losses and clipping, against PyTorch -------------------------

def _close(ours, theirs, what=""):
    """ours (a Matrix or storage) equals a torch tensor's values at 1e-10, reshaped to 2-D."""
    got = np.asarray(ours.numpy() if hasattr(ours, "numpy") else ours, dtype=float)
    want = theirs.detach().numpy().reshape(got.shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=what)


def _pair(torch, values):
    return ag.mat(values), torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_new_losses_match_pytorch(backend_name, reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(7)
    pred, target = rng.standard_normal((6, 4)) * 2, rng.standard_normal((6, 4))
    target[0, :2] = pred[0, :2]  # equal values: the |d| kink
    logits, classes = rng.standard_normal((6, 4)) * 3, np.array([0, 3, -100, 1, 1, 2])
    weight = rng.uniform(0.2, 2.0, 4)
    cases = {
        "l1": (lambda m: nn.L1Loss(reduction)(m, target), lambda t: tf.l1_loss(t, torch.tensor(target), reduction=reduction), pred),
        "smooth_l1": (lambda m: nn.SmoothL1Loss(reduction, beta=0.7)(m, target),
                      lambda t: tf.smooth_l1_loss(t, torch.tensor(target), reduction=reduction, beta=0.7), pred),
        "smooth_l1_beta0": (lambda m: F.smooth_l1_loss(m, target, reduction, beta=0.0),
                            lambda t: tf.smooth_l1_loss(t, torch.tensor(target), reduction=reduction, beta=0.0), pred),
        "huber": (lambda m: nn.HuberLoss(reduction, delta=1.3)(m, target),
                  lambda t: tf.huber_loss(t, torch.tensor(target), reduction=reduction, delta=1.3), pred),
        "nll": (lambda m: nn.NLLLoss(weight=weight, reduction=reduction)(m.log_softmax(1), classes),
                lambda t: tf.nll_loss(t.log_softmax(1), torch.tensor(classes), weight=torch.tensor(weight),
                                      reduction=reduction), logits),
        "nll_plain": (lambda m: F.nll_loss(m, classes[[0, 1, 3]], reduction=reduction),
                      lambda t: tf.nll_loss(t, torch.tensor(classes[[0, 1, 3]]), reduction=reduction), logits[:3]),
        "ce_weight_ignore_smooth": (
            lambda m: nn.CrossEntropyLoss(weight=weight, ignore_index=-100, reduction=reduction,
                                          label_smoothing=0.15)(m, classes),
            lambda t: tf.cross_entropy(t, torch.tensor(classes), weight=torch.tensor(weight),
                                       reduction=reduction, label_smoothing=0.15), logits),
        "ce_ignore_3": (lambda m: F.cross_entropy(m, np.where(classes < 0, 3, classes), ignore_index=3,
                                                  reduction=reduction, label_smoothing=0.1),
                        lambda t: tf.cross_entropy(t, torch.tensor(np.where(classes < 0, 3, classes)),
                                                   ignore_index=3, reduction=reduction, label_smoothing=0.1),
                        logits),
        "ce_probs_weight": (lambda m: F.cross_entropy(m, ag.mat(np.eye(4)[[0, 3, 2, 1, 1, 2]] * 0.7 + 0.075),
                                                      weight=ag.mat(weight.reshape(1, 4)), reduction=reduction,
                                                      label_smoothing=0.2),
                            lambda t: tf.cross_entropy(t, torch.tensor(np.eye(4)[[0, 3, 2, 1, 1, 2]] * 0.7 + 0.075),
                                                       weight=torch.tensor(weight), reduction=reduction,
                                                       label_smoothing=0.2), logits),
    }
    for name, (ours, theirs, values) in cases.items():
        m, t = _pair(torch, values)
        loss, tloss = ours(m), theirs(t)
        _close(loss, tloss, name)
        seed = np.random.default_rng(1).standard_normal(loss.shape)
        loss.backward(ag.mat(seed, requires_grad=False) if reduction == "none" else None)
        tloss.backward(torch.tensor(seed).reshape(tloss.shape) if reduction == "none" else None)
        _close(m.grad, t.grad, name + " grad")


def test_functional_activations_match_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((5, 4)) * 3
    for ours, theirs in [(F.relu, tf.relu), (F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh),
                         (F.softmax, lambda t: tf.softmax(t, 1)), (lambda m: F.softmax(m, 0), lambda t: tf.softmax(t, 0)),
                         (F.log_softmax, lambda t: tf.log_softmax(t, 1)), (F.gelu, tf.gelu),
                         (lambda m: F.leaky_relu(m, 0.2), lambda t: tf.leaky_relu(t, 0.2))]:
        m, t = _pair(torch, x)
        y, ty = ours(m), theirs(t)
        _close(y, ty)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        _close(m.grad, t.grad)


def test_loss_errors_name_the_op_and_values():
    z = ag.mat([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"nll_loss: class indices must lie in \[0, 3\), got 5..5"):
        F.nll_loss(z, [5])
    with pytest.raises(ValueError, match=r"cross_entropy: weight must hold one value per class \(3\), got 2"):
        F.cross_entropy(z, [0], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="HuberLoss: delta must be a finite number > 0, got 0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be a finite number >= 0, got -1"):
        F.smooth_l1_loss(z, z, beta=-1)
    with pytest.raises(ValueError, match=r"l1_loss: prediction \(1, 3\) and target \(1, 2\)"):
        F.l1_loss(z, [[1.0, 2.0]])
    with pytest.raises(TypeError, match="NLLLoss: ignore_index must be an integer"):
        nn.NLLLoss(ignore_index=0.5)
    with pytest.raises(TypeError, match="cross_entropy: ignore_index must be an integer, got float 0.1"):
        F.cross_entropy(z, [0], "sum", 0.1)  # the old positional (reduction, label_smoothing)
    assert F.cross_entropy(z, [0], "sum").item() == F.cross_entropy(z, [0], reduction="sum").item()
    assert np.isnan(F.cross_entropy(z, [-100]).item())  # every row ignored: 0 / 0, as PyTorch


def test_cross_entropy_weight_is_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5])
    assert list(loss.state_dict()) == ["weight"] and loss.weight.shape == (1, 3)
    assert not nn.CrossEntropyLoss().state_dict()


def _torch_bn(torch, c, **kw):
    return torch.nn.BatchNorm1d(c, dtype=torch.float64, **kw)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_matches_pytorch_in_train_and_eval(backend_name, momentum, affine):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(3, eps=1e-3, momentum=momentum, affine=affine), \
        _torch_bn(torch, 3, eps=1e-3, momentum=momentum, affine=affine)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    for step in range(4):
        x = rng.standard_normal((5, 3)) * 2 + 1
        m, t = _pair(torch, x)
        y, ty = ours(m), theirs(t)
        _close(y, ty, f"step {step}")
        g = rng.standard_normal((5, 3))
        y.backward(ag.mat(g, requires_grad=False))
        ty.backward(torch.tensor(g))
        _close(m.grad, t.grad, "dx")
        if affine:
            _close(ours.weight.grad, theirs.weight.grad, "dweight")
            _close(ours.bias.grad, theirs.bias.grad, "dbias")
    for key, value in theirs.state_dict().items():
        _close(ours.state_dict()[key], value.double(), key)
    ours.eval()
    theirs.eval()
    m, t = _pair(torch, rng.standard_normal((2, 3)))
    y, ty = ours(m), theirs(t)
    _close(y, ty, "eval")
    y.sum().backward()
    ty.sum().backward()
    _close(m.grad, t.grad, "eval dx")
    fresh = nn.BatchNorm1d(3, affine=affine)
    fresh.load_state_dict(theirs.state_dict())  # PyTorch's (C,) vectors and 0-d counter load
    assert fresh.num_batches_tracked.item() == 4.0


def test_batchnorm1d_without_running_stats_and_errors(backend_name):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(2, track_running_stats=False), _torch_bn(torch, 2, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    ours.eval()
    theirs.eval()
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    _close(ours(ag.mat(x)), theirs(torch.tensor(x)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected more than 1 value per channel when training, got input of shape \(1, 2\)"):
        nn.BatchNorm1d(2)(ag.mat([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2 features \(columns\), got input of shape \(3, 3\)"):
        nn.BatchNorm1d(2)(ag.randn(3, 3))
    with pytest.raises(ValueError, match="momentum must be a number in"):
        nn.BatchNorm1d(2, momentum=2.0)
    bn = nn.BatchNorm1d(2)
    bn(ag.mat(x))
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and bn.running_var.tolist() == [[1.0, 1.0]]


def test_layernorm_matches_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    for kw in ({}, {"elementwise_affine": False}, {"bias": False}, {"eps": 0.1}):
        ours, theirs = nn.LayerNorm(4, **kw), torch.nn.LayerNorm(4, dtype=torch.float64, **kw)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        if ours.weight is not None:
            w = rng.standard_normal(4)
            ours.load_state_dict({"weight": w, **({"bias": w[::-1].copy()} if ours.bias is not None else {})})
            theirs.load_state_dict({"weight": torch.tensor(w), **({"bias": torch.tensor(w[::-1].copy())}
                                                                if theirs.bias is not None else {})})
        m, t = _pair(torch, rng.standard_normal((3, 4)) * 5)
        y, ty = ours(m), theirs(t)
        _close(y, ty, str(kw))
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        _close(m.grad, t.grad, str(kw))
        for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            _close(p.grad, tp.grad, name)
    with pytest.raises(ValueError, match=r"LayerNorm: expected 4 features \(columns\), got input of shape \(2, 3\)"):
        nn.LayerNorm(4)(ag.randn(2, 3))
    with pytest.raises(ValueError, match="normalized_shape must be one number"):
        nn.LayerNorm((2, 3))


def test_norm_layers_match_pytorch_on_random_shapes():
    torch = pytest.importorskip("torch")
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=25, deadline=None)
    @given(n=st.integers(2, 7), c=st.integers(1, 5), eps=st.sampled_from([1e-5, 1e-2, 0.5]),
           momentum=st.sampled_from([0.0, 0.1, 0.9, 1.0, None]), seed=st.integers(0, 2 ** 16),
           scale=st.sampled_from([1e-3, 1.0, 1e3]))
    def check(n, c, eps, momentum, seed, scale):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, c)) * scale + rng.standard_normal((1, c))
        bn, tbn = nn.BatchNorm1d(c, eps=eps, momentum=momentum), _torch_bn(torch, c, eps=eps, momentum=momentum)
        ln, tln = nn.LayerNorm(c, eps=eps), torch.nn.LayerNorm(c, eps=eps, dtype=torch.float64)
        for ours, theirs in ((bn, tbn), (ln, tln)):
            for _ in range(2):
                m, t = _pair(torch, x)
                y, ty = ours(m), theirs(t)
                _close(y, ty, type(ours).__name__)
                (y * y).sum().backward()
                (ty * ty).sum().backward()
                np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10 * max(1, 1 / scale))
        _close(bn.running_mean, tbn.running_mean)
        _close(bn.running_var, tbn.running_var)
    check()


def test_embedding_gathers_rows_and_scatters_gradients(backend_name):
    torch = pytest.importorskip("torch")
    ag.manual_seed(0)
    ours = nn.Embedding(5, 3, padding_idx=1)
    theirs = torch.nn.Embedding(5, 3, padding_idx=1, dtype=torch.float64)
    theirs.load_state_dict({"weight": torch.tensor(ours.weight.numpy().copy())})
    assert ours.weight.numpy()[1].tolist() == [0.0, 0.0, 0.0]
    with ag.no_grad():
        ours.weight[1] = ag.mat([[1.0, 2.0, 3.0]])  # PyTorch outputs the row as it is
    with torch.no_grad():
        theirs.weight[1] = torch.tensor([1.0, 2.0, 3.0])
    for index in ([4, 1, 4, 0], np.array([[2], [1]]), ag.mat([[3.0], [3.0], [1.0]], requires_grad=False)):
        ours.zero_grad()
        theirs.zero_grad()
        y = ours(index)
        flat = np.asarray(index.numpy() if isinstance(index, ag.Matrix) else index).astype(int).ravel()
        ty = theirs(torch.tensor(flat))
        assert y.shape == (len(flat), 3)
        _close(y, ty)
        g = np.arange(y.shape[0] * 3, dtype=float).reshape(y.shape)
        y.backward(ag.mat(g, requires_grad=False))
        ty.backward(torch.tensor(g))
        _close(ours.weight.grad, theirs.weight.grad)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    with pytest.raises(IndexError, match=r"Embedding: index out of range: got 0..5, the table has 5 rows"):
        ours([0, 5])
    with pytest.raises(ValueError, match=r"Embedding: a Matrix of indices must be one column \(N, 1\), got \(1, 2\)"):
        ours(ag.mat([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="Embedding: indices must be whole numbers"):
        ours(np.array([0.5]))


def test_flatten(backend_name):
    x = ag.mat([[1.0, 2.0], [3.0, 4.0]])
    assert nn.Flatten()(x) is x
    assert nn.Flatten(0)(x).tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    with pytest.raises(ValueError, match="Flatten: start_dim must be 0 or 1"):
        nn.Flatten(2)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_pytorch(backend_name, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    values = [rng.standard_normal((3, 4)), rng.standard_normal((1, 4)), rng.standard_normal((2, 2))]
    grads = [rng.standard_normal(v.shape) * 3 for v in values]
    for max_norm in (0.5, 1e6):
        ours = [ag.mat(v) for v in values]
        theirs = [torch.tensor(v, requires_grad=True) for v in values]
        for p, tp, g in zip(ours[:2], theirs[:2], grads):  # the third has no gradient: skipped
            p.grad = ag.mat(g, requires_grad=False).data
            tp.grad = torch.tensor(g)
        total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
        assert total.shape == (1, 1)
        _close(total, ttotal)
        for p, tp in zip(ours[:2], theirs[:2]):
            _close(p.grad, tp.grad)
        assert not ours[2].has_grad
    assert nn.utils.clip_grad_norm_([ag.mat([[1.0]])], 1.0).item() == 0.0
    p = ag.mat([[1.0]])
    p.grad = ag.mat([[float("nan")]]).data
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type must be positive"):
        nn.utils.clip_grad_norm_(p, 1.0, norm_type=0)


def test_clip_grad_value_matches_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    g = np.array([[-3.0, 0.2, 5.0], [0.5, -0.49, float("nan")]])
    p, tp = ag.mat(np.zeros((2, 3))), torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    p.grad, tp.grad = ag.mat(g).data, torch.tensor(g)
    nn.utils.clip_grad_value_([p], 0.5)
    torch.nn.utils.clip_grad_value_([tp], 0.5)
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be >= 0, got -1"):
        nn.utils.clip_grad_value_([p], -1)


def test_zero_grad_set_to_none_false_keeps_zeros_that_count(backend_name):
    model = nn.Linear(2, 1)
    model(ag.mat([[1.0, 2.0]])).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(p.has_grad and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert not any(p.has_grad for p in model.parameters())
    model.zero_grad(set_to_none=False)  # no gradient yet: zeros all the same, as PyTorch
    assert all(p.has_grad and p.grad.shape == p.shape for p in model.parameters())


def _compiled_against_eager(make, n_steps=12):
    """A compiled copy and an eager copy of the same step agree bit for bit: losses, parameters
    and every other matrix of the model (running statistics). Returns the compiled step."""
    eager_step, eager_model = make()
    step, model = make()
    compiled = ag.compile(step)
    for i in range(n_steps):
        want, got = eager_step(), compiled()
        assert got.item() == want.item(), f"step {i}"
        for (name, a), (_, b) in zip(model.state_dict().items(), eager_model.state_dict().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"step {i}: {name}")
    return compiled


def _layer_step(layers, loss_fn, opt_kind="sgd", clip=None, zero_to_none=True):
    def make():
        ag.manual_seed(0)
        rng = np.random.default_rng(0)
        x = ag.mat(rng.standard_normal((8, 4)), requires_grad=False)
        y = ag.mat(rng.standard_normal((8, 2)), requires_grad=False)
        model = nn.Sequential(*layers())
        opt = (optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if opt_kind == "sgd"
               else optim.Adam(model.parameters(), lr=0.01))

        def step():
            opt.zero_grad(set_to_none=zero_to_none)
            loss = loss_fn(model(x), y)
            loss.backward()
            if clip == "norm":
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            elif clip == "value":
                nn.utils.clip_grad_value_(model.parameters(), 0.01)
            opt.step()
            return loss
        return step, model
    return make


COMPILED_CASES = {
    "batchnorm": (lambda: [nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)], nn.MSELoss()),
    "batchnorm_cumulative": (lambda: [nn.Linear(4, 6), nn.BatchNorm1d(6, momentum=None), nn.Linear(6, 2)],
                             nn.L1Loss()),
    "layernorm_flatten": (lambda: [nn.Flatten(), nn.Linear(4, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 2)],
                          nn.SmoothL1Loss(beta=0.5)),
    "huber": (lambda: [nn.Linear(4, 2)], nn.HuberLoss(delta=0.3)),
}


@needs_c
@pytest.mark.parametrize("name", sorted(COMPILED_CASES))
@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
def test_new_layers_and_losses_replay_bit_for_bit_in_compile(name, opt_kind):
    layers, loss_fn = COMPILED_CASES[name]
    with ag.backend("c"):
        compiled = _compiled_against_eager(_layer_step(layers, loss_fn, opt_kind))
    assert compiled.stats["replayed"] == 9


@needs_c
@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_and_zeroed_gradients_replay_bit_for_bit_in_compile(clip):
    make = _layer_step(lambda: [nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 2)], nn.MSELoss(), "sgd",
                       clip=clip, zero_to_none=False)
    with ag.backend("c"):
        compiled = _compiled_against_eager(make)
    assert compiled.stats["replayed"] == 9


@needs_c
def test_embedding_is_refused_in_compile():
    with ag.backend("c"):
        table = nn.Embedding(4, 2)

        @ag.compile
        def step(x):
            loss = (table([0, 3]) * x).sum()
            loss.backward()
            return loss
        x = ag.ones(2, 2, requires_grad=False)
        step(x)  # the first call runs eagerly
        with pytest.raises(ag.CaptureError, match="Embedding reads its indices in Python"):
            step(x)


def test_piecewise_losses_at_their_threshold_match_pytorch(backend_name):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    pred, target = np.array([[1.0, -1.0, 0.25, 3.0]]), np.array([[0.5, -0.5, 0.25, 0.0]])  # |d| = 0.5 twice
    for ours, theirs in [(lambda m: F.huber_loss(m, target, delta=0.5), lambda t: tf.huber_loss(t, torch.tensor(target), delta=0.5)),
                         (lambda m: F.smooth_l1_loss(m, target, beta=0.5),
                          lambda t: tf.smooth_l1_loss(t, torch.tensor(target), beta=0.5))]:
        m, t = _pair(torch, pred)
        loss, tloss = ours(m), theirs(t)
        _close(loss, tloss)
        loss.backward()
        tloss.backward()
        _close(m.grad, t.grad)


def test_the_new_losses_cross_the_torch_bridge_both_ways():
    torch = pytest.importorskip("torch")
    for loss in (nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], ignore_index=1, reduction="sum", label_smoothing=0.1),
                 nn.NLLLoss(weight=[0.5, 1.0, 2.0], ignore_index=0), nn.L1Loss("none"),
                 nn.SmoothL1Loss(beta=0.3), nn.HuberLoss(delta=2.0), nn.Flatten(0)):
        theirs = nn.to_torch(loss)
        back = nn.from_torch(theirs)
        assert type(back) is type(loss) and repr(back) == repr(loss)
        assert {k: v.tolist() for k, v in back.state_dict().items()} == \
            {k: v.tolist() for k, v in loss.state_dict().items()}
    z = np.random.default_rng(0).standard_normal((4, 3))
    theirs = nn.to_torch(nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], ignore_index=1, label_smoothing=0.1))
    ours = nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], ignore_index=1, label_smoothing=0.1)
    assert ours(z, [0, 1, 2, 2]).item() == pytest.approx(theirs(torch.tensor(z), torch.tensor([0, 1, 2, 2])).item(), rel=1e-12)


def test_norm_layers_and_embedding_cross_the_torch_bridge_with_their_state(backend_name):
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.LayerNorm(4, eps=1e-3), nn.Tanh())
    x = np.random.default_rng(0).standard_normal((6, 3))
    model(x)  # moves the running statistics
    theirs = nn.to_torch(model)
    assert theirs[1].num_batches_tracked.item() == 1 and theirs[1].momentum == 0.3
    model.eval()
    theirs.eval()
    _close(model(x), theirs(torch.tensor(x)))
    back = nn.from_torch(theirs)
    for (k, a), (_, b) in zip(back.state_dict().items(), model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    table = nn.Embedding(5, 2, padding_idx=0)
    again = nn.from_torch(nn.to_torch(table))
    assert again.padding_idx == 0 and np.array_equal(again.weight.numpy(), table.weight.numpy())
