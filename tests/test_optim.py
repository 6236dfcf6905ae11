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
    with pytest.raises(ValueError, match="Adam: invalid learning rate -1.0"):
        optim.Adam([w], lr=-1)
    with pytest.raises(TypeError, match="parameters must be Matrix objects"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: invalid beta parameter at index 0 1.0, must lie in \[0.0, 1.0\)"):
        optim.Adam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        optim.SGD([{"params": [w], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match=r"got the module Linear itself; pass its parameters"):
        optim.SGD(ag.nn.Linear(2, 2), lr=0.1)
    with pytest.raises(TypeError, match="single Matrix"):
        optim.SGD(w, lr=0.1)


# -- exactly torch.optim: groups, missing gradients, every option ------------------------------

TORCH_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, eps=1e-4, centered=True)),
]


def _loss_at(k, w, b, x):
    """Step k's loss: every third step b gets no gradient, every seventh w gets none."""
    if k % 3 == 2:
        return ((x @ w.T).tanh() ** 2).mean()
    if k % 7 == 6:
        return (b * b).sum()
    return ((x @ w.T + b.sum()).tanh() ** 2).mean()


def _train(lib, name, kwargs, w0, b0, x0, steps=100, opt_module=None):
    """Two parameter groups (b at half the learning rate), `steps` steps of _loss_at."""
    if lib == "torch":
        import torch
        w, b = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
        x, make = torch.tensor(x0), getattr(torch.optim, name)
    else:
        w, b, x = ag.mat(w0), ag.mat(b0), ag.mat(x0, requires_grad=False)
        make = getattr(optim, name)
    opt = make([{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 2}], **kwargs)
    for k in range(steps):
        opt.zero_grad()
        _loss_at(k, w, b, x).backward()
        opt.step()
    value = (lambda t: t.detach().numpy()) if lib == "torch" else (lambda m: m.numpy())
    return value(w), value(b)


@pytest.mark.parametrize("name,kwargs", TORCH_CONFIGS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CONFIGS)])
def test_groups_and_missing_gradients_match_torch_over_100_steps(backend_name, name, kwargs):
    pytest.importorskip("torch")
    w0, b0, x0 = _problem(1)
    ours = _train("ag", name, kwargs, w0, b0, x0)
    theirs = _train("torch", name, kwargs, w0, b0, x0)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_a_parameter_without_gradient_is_not_moved(backend_name, name):
    p = ag.mat([[1.0, -2.0]])
    kwargs = dict(lr=0.1, weight_decay=0.5)
    if name in ("SGD", "RMSprop"):
        kwargs["momentum"] = 0.9
    opt = getattr(optim, name)([p], **kwargs)
    (p * p).sum().backward()
    opt.step()
    moved = p.numpy().copy()
    assert not np.array_equal(moved, [[1.0, -2.0]])
    opt.zero_grad()
    assert not p.has_grad
    opt.step()  # the case: weight decay, momentum and moments would move it again
    assert np.array_equal(p.numpy(), moved)


def test_has_grad_distinguishes_none_from_zeros(backend_name):
    p = ag.mat([[1.0, 2.0]])
    assert not p.has_grad
    (p * 0.0).sum().backward()
    assert p.has_grad and np.array_equal(p.grad.numpy(), [[0.0, 0.0]])
    p.zero_grad()
    assert not p.has_grad
    assert p.grad.tolist() == [[0.0, 0.0]] and not p.has_grad  # reading the zeros keeps none
    p.grad += ag.mat([[1.0, 2.0]]).data  # but adding into them keeps the sum
    assert p.has_grad and p.grad.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("name,kwargs", TORCH_CONFIGS[1::2],
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CONFIGS[1::2])])
def test_state_dict_resumes_training_exactly(backend_name, name, kwargs):
    w0, b0, x0 = _problem(2)
    straight = _train("ag", name, kwargs, w0, b0, x0, steps=20)
    w, b, x = ag.mat(w0), ag.mat(b0), ag.mat(x0, requires_grad=False)
    make = getattr(optim, name)
    opt = make([{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 2}], **kwargs)
    for k in range(10):
        opt.zero_grad()
        _loss_at(k, w, b, x).backward()
        opt.step()
    import pickle
    saved = pickle.loads(pickle.dumps(opt.state_dict()))
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    assert saved["param_groups"][1]["lr"] == kwargs["lr"] / 2
    # a fresh optimizer, built with other hyper-parameters, takes them all from the state dict
    resumed = make([{"params": [w]}, {"params": [b]}], lr=123.0)
    resumed.load_state_dict(saved)
    for k in range(10, 20):
        resumed.zero_grad()
        _loss_at(k, w, b, x).backward()
        resumed.step()
    np.testing.assert_array_equal(w.numpy(), straight[0])
    np.testing.assert_array_equal(b.numpy(), straight[1])


def test_load_state_dict_checks_before_changing_anything():
    w, b = ag.mat(np.ones((2, 3))), ag.mat(np.ones((1, 3)))
    opt = optim.Adam([w, b], lr=0.1)
    (w.sum() + b.sum()).backward()
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameter groups, the optimizer 1"):
        opt.load_state_dict({"state": {}, "param_groups": state["param_groups"] * 2})
    other = optim.Adam([b, w], lr=0.5)
    with pytest.raises(ValueError, match=r"buffer 'exp_avg' of parameter 0 has shape \(2, 3\), the parameter \(1, 3\)"):
        other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 0.5 and not other.state


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(lr=0.1, momentum=-1)), ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, nesterov=True)),
    ("Adam", dict(eps=-1)), ("Adam", dict(weight_decay=-1)), ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(betas=(-0.1, 0.9))), ("AdamW", dict(lr=-1)), ("AdamW", dict(eps=-1e-8)),
    ("AdamW", dict(weight_decay=-0.1)), ("RMSprop", dict(alpha=-0.5)), ("RMSprop", dict(eps=-1)),
    ("RMSprop", dict(momentum=-1)), ("RMSprop", dict(weight_decay=-1)),
])
def test_invalid_hyper_parameters_raise_value_error_as_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=name):
        getattr(optim, name)([ag.mat([[0.0]])], **kwargs)


# -- learning-rate schedulers -----------------------------------------------------------------

SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.97)),
    ("CosineAnnealingLR", dict(T_max=30, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=10)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[n + str(i) for i, (n, _) in enumerate(SCHEDULERS)])
def test_schedulers_match_torch_over_100_epochs(backend_name, name, kwargs):
    torch = pytest.importorskip("torch")
    tw, tb = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.3}], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    opt = optim.SGD([{"params": [ag.mat([[0.0, 0.0]])]}, {"params": [ag.mat([[0.0]])], "lr": 0.3}], lr=0.1)
    sched = getattr(optim.lr_scheduler, name)(opt, **kwargs)
    for _ in range(100):
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        topt.step()
        opt.step()
        tsched.step()
        sched.step()
    assert sched.last_epoch == tsched.last_epoch == 100


def test_lambda_lr_and_scheduler_state_dict(backend_name):
    torch = pytest.importorskip("torch")
    funcs = [lambda e: 0.9 ** e, lambda e: 1.0 / (e + 1)]
    topt = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)]},
                             {"params": [torch.zeros(1, requires_grad=True)]}], lr=0.01)
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, funcs)
    opt = optim.Adam([{"params": [ag.mat([[0.0]])]}, {"params": [ag.mat([[0.0]])]}], lr=0.01)
    sched = optim.lr_scheduler.LambdaLR(opt, funcs)
    for _ in range(30):
        topt.step(), opt.step(), tsched.step(), sched.step()
        assert sched.get_last_lr() == tsched.get_last_lr()
    state = sched.state_dict()
    assert state["last_epoch"] == 30 and "optimizer" not in state
    again = optim.lr_scheduler.LambdaLR(opt, funcs)
    again.load_state_dict(state)
    assert again.last_epoch == 30 and again.base_lrs == [0.01, 0.01]
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        optim.lr_scheduler.LambdaLR(opt, funcs[:1])
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        optim.lr_scheduler.StepLR(topt, step_size=3)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_an_optimizer_with_its_model_survives_pickle_and_deepcopy(backend_name, how):
    import copy
    import pickle
    w0, b0, x0 = _problem(3)
    w, b, x = ag.mat(w0), ag.mat(b0), ag.mat(x0, requires_grad=False)
    opt = optim.Adam([w, b], lr=0.01, amsgrad=True)
    for k in range(5):
        opt.zero_grad()
        _loss_at(k, w, b, x).backward()
        opt.step()
    bundle = (w, b, opt)
    w2, b2, opt2 = pickle.loads(pickle.dumps(bundle)) if how == "pickle" else copy.deepcopy(bundle)
    assert opt2.param_groups[0]["params"][0] is w2 and w2 in opt2.state
    for k in range(5, 10):
        for ww, bb, oo in ((w, b, opt), (w2, b2, opt2)):
            oo.zero_grad()
            _loss_at(k, ww, bb, x).backward()
            oo.step()
    np.testing.assert_array_equal(w2.numpy(), w.numpy())
    np.testing.assert_array_equal(b2.numpy(), b.numpy())
    assert w2.backend == backend_name


# -- issue 22 item 3: more schedulers and zero_grad(set_to_none) --------------------------------

NEW_SCHEDULERS = [
    ("MultiStepLR", dict(milestones=[3, 10, 10, 22], gamma=0.5), "SGD", None),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=12), "SGD", None),
    ("LinearLR", dict(), "Adam", None),
    ("OneCycleLR", dict(max_lr=[0.5, 1.0], total_steps=30), "SGD", None),
    ("OneCycleLR", dict(max_lr=0.5, epochs=6, steps_per_epoch=5, anneal_strategy="linear",
                        three_phase=True, pct_start=0.4), "Adam", None),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=30, cycle_momentum=False, div_factor=10.0), "Adam", None),
    ("ReduceLROnPlateau", dict(patience=2, factor=0.5, cooldown=1, min_lr=[0.02, 0.0]), "SGD", "min"),
    ("ReduceLROnPlateau", dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs"), "Adam", "max"),
]


def _metric(i):
    """A bumpy, mostly flat metric so that plateaus happen."""
    return [1.0, 0.9, 0.95, 0.92, 0.91, 0.90, 0.7, 0.71, 0.72, 0.69][i % 10] - 0.001 * (i // 10)


def _scheduled(lib, name, kwargs, opt_name, metric_mode, steps, sched=None, opt=None):
    """Run `steps` steps of a two-group optimizer and its scheduler from `lib` (torch or ours);
    returns the per-step lrs and momenta, the optimizer and the scheduler."""
    if opt is None:
        if lib is optim:
            params = [{"params": [ag.mat([[0.0, 0.0]])]}, {"params": [ag.mat([[0.0]])], "lr": 0.3}]
        else:
            import torch
            params = [{"params": [torch.zeros(2, requires_grad=True)]},
                      {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}]
        extra = {"momentum": 0.9} if opt_name == "SGD" else {}
        opt = getattr(lib, opt_name)(params, lr=0.1, **extra)
        sched = getattr(lib.lr_scheduler, name)(opt, **kwargs)
    seen = []
    for i in range(steps):
        opt.step()
        if metric_mode:
            value = _metric(sched.last_epoch)
            sched.step(value if metric_mode == "min" else -value)
        else:
            sched.step()
        seen.append([(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in opt.param_groups])
        seen[-1].append(tuple(sched.get_last_lr()))
    return seen, opt, sched


def _same_sequences(got, want):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(np.array([list(_flat(a))]), np.array([list(_flat(b))]),
                                   rtol=1e-10, atol=0, err_msg=f"step {i}")


def _flat(items):
    for item in items:
        if isinstance(item, (tuple, list)):
            yield from _flat(item)
        elif item is not None:
            yield float(item)


@pytest.mark.parametrize("name,kwargs,opt_name,metric_mode", NEW_SCHEDULERS,
                         ids=[f"{n}{i}" for i, (n, *_) in enumerate(NEW_SCHEDULERS)])
def test_new_schedulers_match_torch_and_resume_from_state_dict(name, kwargs, opt_name, metric_mode):
    torch = pytest.importorskip("torch")
    want, *_ = _scheduled(torch.optim, name, kwargs, opt_name, metric_mode, 30)
    got, *_ = _scheduled(optim, name, kwargs, opt_name, metric_mode, 30)
    _same_sequences(got, want)
    first, opt, sched = _scheduled(optim, name, kwargs, opt_name, metric_mode, 12)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in saved_sched
    _, new_opt, new_sched = _scheduled(optim, name, kwargs, opt_name, metric_mode, 0)
    new_opt.load_state_dict(saved_opt)
    new_sched.load_state_dict(saved_sched)
    rest, *_ = _scheduled(optim, name, kwargs, opt_name, metric_mode, 18, new_sched, new_opt)
    _same_sequences(first + rest, want)


def test_new_scheduler_errors():
    opt = optim.SGD([ag.mat([[0.0]])], lr=0.1)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 4 times; the specified number of total steps is 3"):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: give total_steps, or both epochs and steps_per_epoch"):
        optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="OneCycleLR: optimizer _NoMomentum has no momentum"):
        optim.lr_scheduler.OneCycleLR(_NoMomentum([ag.mat([[0.0]])]), max_lr=1.0, total_steps=3)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be < 1.0, got 1.5"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="MultiStepLR: milestones must be integers >= 0"):
        optim.lr_scheduler.MultiStepLR(opt, milestones=[2, -1])
    with pytest.raises(ValueError, match="LinearLR: start_factor must be greater than 0"):
        optim.lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: metrics must be a number"):
        optim.lr_scheduler.ReduceLROnPlateau(opt).step("low")
    plateau = optim.lr_scheduler.ReduceLROnPlateau(optim.SGD([ag.mat([[0.0]])], lr=0.1), patience=0)
    plateau.step(ag.mat([[1.0]]))  # a 1x1 Matrix is a metric too
    plateau.step(ag.mat([[2.0]]))
    assert plateau.get_last_lr() == [pytest.approx(0.01)]


class _NoMomentum(optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, dict(lr=0.1))


def test_optimizer_zero_grad_set_to_none_false_matches_torch(backend_name):
    """With zeroed (not released) gradients, weight decay and momentum still move a parameter
    that the next backward does not reach, as in PyTorch."""
    torch = pytest.importorskip("torch")
    w, unused = ag.mat([[1.0, -2.0]]), ag.mat([[0.5]])
    tw, tunused = torch.tensor([[1.0, -2.0]], dtype=torch.float64, requires_grad=True), \
        torch.tensor([[0.5]], dtype=torch.float64, requires_grad=True)
    opt = optim.SGD([w, unused], lr=0.1, momentum=0.9, weight_decay=0.1)
    topt = torch.optim.SGD([tw, tunused], lr=0.1, momentum=0.9, weight_decay=0.1)
    for step in range(5):
        opt.zero_grad(set_to_none=False)
        topt.zero_grad(set_to_none=False)
        ((w * w).sum() + (unused * unused).sum() * (step == 0)).backward()
        ((tw * tw).sum() + (tunused * tunused).sum() * (step == 0)).backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(unused.numpy(), tunused.detach().numpy(), rtol=1e-12)
    opt.zero_grad()
    assert not w.has_grad and not unused.has_grad
