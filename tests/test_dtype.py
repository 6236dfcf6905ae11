"""The dtype API (issue 16): factories, conversion, promotion, sharing with NumPy, round trips,
errors, and float32 through nn, optim, forward mode, gradcheck and compile."""
import copy
import pickle
import warnings

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import nn, optim


@pytest.fixture
def float32_default():
    old = ag.get_default_dtype()
    ag.set_default_dtype(ag.float32)
    try:
        yield
    finally:
        ag.set_default_dtype(old)


# -- factories and the default dtype -------------------------------------------------------------

def test_float64_is_the_default_and_every_factory_takes_dtype(backend_name):
    assert ag.get_default_dtype() == np.float64
    made = {"mat": ag.mat([[1.0, 2.0]], dtype="float32"), "zeros": ag.zeros(2, 3, dtype=np.float32),
            "ones": ag.ones(2, 3, dtype=ag.float32), "full": ag.full(2, 3, 0.1, dtype="float32"),
            "randn": ag.randn(2, 3, dtype="float32"),
            "from_numpy": ag.from_numpy(np.ones((2, 2), np.float64), dtype="float32")}
    for name, m in made.items():
        assert m.dtype == np.float32, name
        assert m.numpy().dtype == np.float32, name
        assert m.backend == backend_name
    assert ag.zeros(2, 2).dtype == np.float64 and ag.mat([[1]]).dtype == np.float64
    assert ag.full(1, 1, 0.1, dtype="float32").item() == float(np.float32(0.1))


def test_set_default_dtype_changes_new_matrices_only(backend_name, float32_default):
    assert ag.get_default_dtype() == np.float32
    assert ag.zeros(1, 2).dtype == np.float32
    assert ag.Matrix([[1.0]]).dtype == np.float32
    assert nn.Linear(3, 2).weight.dtype == np.float32
    assert ag.randn(2, 2, dtype="float64").dtype == np.float64


def test_randn_draws_the_same_numbers_in_both_dtypes():
    a = ag.randn(3, 4, rng=np.random.default_rng(1), dtype="float32")
    b = ag.randn(3, 4, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.numpy(), b.numpy().astype(np.float32))


@pytest.mark.parametrize("bad", ["float16", np.float16, "int64", np.int64, int, 3, "complex64"])
def test_unsupported_dtypes_are_refused_by_name(bad):
    for make in (lambda: ag.zeros(2, 2, dtype=bad), lambda: ag.mat([[1.0]], dtype=bad),
                 lambda: ag.mat([[1.0]]).to(bad), lambda: ag.set_default_dtype(bad),
                 lambda: nn.Linear(2, 2, dtype=bad)):
        with pytest.raises(TypeError, match="unsupported dtype"):
            make()
    assert ag.get_default_dtype() == np.float64


def test_dtype_spellings_all_resolve():
    torch = pytest.importorskip("torch")
    for spelling in ("float32", np.float32, np.dtype("float32"), ag.float32, torch.float32, "f4"):
        assert ag.zeros(1, 1, dtype=spelling).dtype == np.float32
    for spelling in ("float64", "double", float, np.float64, torch.float64):
        assert ag.zeros(1, 1, dtype=spelling).dtype == np.float64


def test_to_an_unknown_name_still_names_the_backends():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        ag.mat([[1.0]]).to("cuda")


# -- conversion ------------------------------------------------------------------------------------

def test_float_double_and_to_convert_and_pass_gradients_back(backend_name):
    x = ag.mat([[1.5, -2.25]], dtype="float32")
    assert x.float() is x and x.to("float32") is x
    y = x.double()
    assert y.dtype == np.float64 and y.tolist() == [[1.5, -2.25]]
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    assert x.grad.tolist() == [[3.0, -4.5]]
    w = ag.mat([[0.1]])
    v = w.to(ag.float32)
    assert v.item() == float(np.float32(0.1))
    (v * 3).sum().backward()
    assert w.grad.dtype == np.float64 and w.grad.item() == 3.0


def test_a_backend_conversion_keeps_the_dtype_and_passes_the_gradient_back():
    x = ag.mat([[0.1, 0.2]], dtype="float32")
    for name in ("python", "verify", "c"):
        y = x.to(name)
        assert y.dtype == np.float32 and y.backend == name and y.tolist() == x.tolist()
        (y * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.backend == "c"
    assert x.grad.tolist() == [[9.0, 9.0]]  # 3 from each of the three conversions
    assert x.to("c") is x


def test_float64_to_float32_rounds_and_overflows_to_inf():
    m = ag.mat([[1e39, -1e39, 1e-50, 0.1]]).float()
    assert m.tolist() == [[np.inf, -np.inf, 0.0, float(np.float32(0.1))]]


# -- promotion: PyTorch's rules -------------------------------------------------------------------

def test_mixed_operands_promote_to_float64_and_gradients_keep_each_leafs_dtype(backend_name):
    a = ag.mat([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    b = ag.mat([[0.5], [0.25]])
    for out in (a + b, b - a, a * b, b / a, a @ b, ag.maximum(a, b), ag.where(a > 2, a, b),
                ag.cat([a, b.T]), a ** b.T):
        assert out.dtype == np.float64
    loss = ((a @ b) * a.sum(1) + (b - a).mean(0).T).sum()
    loss.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    a64, b64 = a.double().detach(), b.detach()
    a64.requires_grad = b64.requires_grad = True
    ((a64 @ b64) * a64.sum(1) + (b64 - a64).mean(0).T).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a64.grad.numpy().astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), b64.grad.numpy(), rtol=1e-12)


def test_numbers_and_in_place_ops_keep_the_dtype(backend_name):
    a = ag.mat([[1.0, 2.0]], dtype="float32")
    for out in (a + 1, 2.5 * a, a / 3, a ** 2, 1 - a, a.exp(), a.sum(), a.mean(0), a.T, a[0, 1]):
        assert out.dtype == np.float32
    w = ag.mat([[1.0, 2.0]], dtype="float32", requires_grad=False)
    w += ag.mat([[0.1, 0.2]])  # float64 into float32: w stays float32, as in PyTorch
    assert w.dtype == np.float32
    assert w.tolist() == np.float32([[1.1, 2.2]]).tolist()
    w.data.add_scaled_(ag.mat([[1.0, 1.0]]).data, 0.5)
    assert w.dtype == np.float32


def test_a_float32_gradient_accumulates_float64_products_in_float32(backend_name):
    W = ag.mat([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    x = ag.mat([[0.5, 0.25]])
    ((x @ W).sum() + (x @ W.T).sum()).backward()  # two matmul gradients into one float32 grad
    assert W.grad.dtype == np.float32
    # x^T 1 + 1^T x: [[0.5, 0.5], [0.25, 0.25]] + [[0.5, 0.25], [0.5, 0.25]]
    assert W.grad.tolist() == [[1.0, 0.75], [0.75, 0.5]]


def test_a_mixed_where_keeps_the_truth_of_a_tiny_float64_condition():
    cond = ag.mat([[1e-50, 0.0]])  # 1e-50 is non-zero, but rounds to 0 in float32
    out = ag.where(cond, ag.mat([[1.0, 1.0]], dtype="float32"), ag.mat([[2.0, 2.0]], dtype="float32"))
    assert out.tolist() == [[1.0, 2.0]] and out.dtype == np.float32


# -- sharing with NumPy -----------------------------------------------------------------------------

def test_from_numpy_shares_float32_arrays_on_the_c_backend():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    with ag.backend("c"):
        m = ag.from_numpy(arr)
        assert m.dtype == np.float32
        arr[0, 0] = 42.0
        assert m.tolist()[0][0] == 42.0  # no copy: NumPy's write shows
        m.data += 1.0
        assert arr[0, 0] == 43.0  # and ours shows in NumPy
        assert np.shares_memory(m.numpy(), arr)


def test_from_numpy_copies_what_it_cannot_share(backend_name):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    for arr, dtype in ((base[:, ::2], np.float32), (base.T, np.float32),
                       (base.astype(np.float16), np.float64), (base.astype(np.int32), np.float64)):
        m = ag.from_numpy(arr)
        assert m.dtype == dtype
        np.testing.assert_array_equal(m.numpy(), arr.astype(dtype))
        assert not np.shares_memory(m.numpy(), arr)
    read_only = base.copy()
    read_only.flags.writeable = False
    assert not np.shares_memory(ag.from_numpy(read_only).numpy(), read_only)
    converted = ag.from_numpy(base, dtype="float64")  # another dtype asked for: a copy
    assert converted.dtype == np.float64 and not np.shares_memory(converted.numpy(), base)


def test_from_dlpack_shares_a_float32_torch_tensor():
    torch = pytest.importorskip("torch")
    t = torch.zeros(2, 3, dtype=torch.float32)
    with ag.backend("c"):
        m = ag.from_dlpack(t)
        assert m.dtype == np.float32
        t[1, 2] = 5.0
        assert m.tolist()[1][2] == 5.0


def test_numpy_and_array_protocol_give_the_dtype(backend_name):
    m = ag.mat([[1.0, 2.0]], dtype="float32")
    assert m.numpy().dtype == np.float32 and np.asarray(m).dtype == np.float32
    assert np.asarray(m, dtype=np.float64).dtype == np.float64


# -- round trips --------------------------------------------------------------------------------------

def test_pickle_and_deepcopy_keep_the_dtype_and_the_gradient(backend_name):
    m = ag.mat([[0.1, 0.2]], dtype="float32")
    (m * 2).sum().backward()
    for copied in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert copied.dtype == np.float32 and copied.backend == backend_name
        assert copied.tolist() == m.tolist() and copied.grad.dtype == np.float32
        assert copied.grad.tolist() == [[2.0, 2.0]]


def test_state_dict_save_and_load_keep_the_dtype(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, dtype="float32"), nn.Sigmoid(), nn.Linear(4, 1))
    state = model.state_dict()
    assert [m.dtype for m in state.values()] == [np.float32] * 2 + [np.float64] * 2
    path = ag.data.save(model, tmp_path / "model")
    other = nn.Sequential(nn.Linear(3, 4, dtype="float32"), nn.Sigmoid(), nn.Linear(4, 1))
    ag.data.load(other, path)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert b.dtype == a.dtype, name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with np.load(path) as stored:
        assert stored["0.weight"].dtype == np.float32


def test_module_to_float_and_double_convert_every_matrix():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    values = [p.numpy().copy() for p in model.parameters()]
    assert model.float() is model
    assert all(p.dtype == np.float32 for p in model.parameters())
    for p, v in zip(model.parameters(), values):
        np.testing.assert_array_equal(p.numpy(), v.astype(np.float32))
    assert all(p.dtype == np.float64 for p in model.double().parameters())


# -- nn, optim, forward mode, gradcheck, compile ------------------------------------------------------

@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05),
                                  lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.01),
                                  lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5)],
                         ids=["sgd", "adam", "adamw", "rmsprop"])
def test_optimizers_train_float32_models_and_keep_state_in_float32(make, backend_name):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(2, 8, rng=rng, dtype="float32"), nn.Tanh(),
                          nn.Linear(8, 1, rng=rng, dtype="float32"))
    opt = make(model.parameters())
    X = ag.mat(rng.standard_normal((32, 2)), requires_grad=False, dtype="float32")
    Y = ag.mat((rng.standard_normal((32, 1)) > 0).astype(float), requires_grad=False, dtype="float32")
    losses = []
    for _ in range(30):
        loss = nn.BCEWithLogitsLoss()(model(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert loss.dtype == np.float32
    assert losses[-1] < losses[0]
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    buffers = [v for state in opt.state.values() for v in state.values() if hasattr(v, "dtype")]
    assert buffers and all(v.dtype == np.float32 for v in buffers)


def test_to_torch_keeps_a_float32_model_float32_and_from_torch_takes_the_default(float32_default):
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    twin = nn.to_torch(model)
    assert twin[0].weight.dtype == torch.float32
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(model(ag.mat(x)).numpy(), twin(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    back = nn.from_torch(twin.double())
    assert back[0].weight.dtype == np.float32  # the default dtype, as ag.mat
    np.testing.assert_array_equal(back[0].weight.numpy(), model[0].weight.numpy())


def test_losses_in_float32_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    probs = (1 / (1 + np.exp(-logits[:, :1]))).astype(np.float32)
    target = (rng.random((6, 1)) > 0.5).astype(np.float32)
    classes = np.array([0, 2, 1, 1, 0, 2])
    ours = {
        "mse": nn.MSELoss()(ag.mat(probs, dtype="float32"), ag.mat(target, dtype="float32")),
        "bce": nn.BCELoss()(ag.mat(probs, dtype="float32"), ag.mat(target, dtype="float32")),
        "ce": nn.CrossEntropyLoss()(ag.mat(logits, dtype="float32"), classes),
    }
    theirs = {
        "mse": torch.nn.MSELoss()(torch.tensor(probs), torch.tensor(target)),
        "bce": torch.nn.BCELoss()(torch.tensor(probs), torch.tensor(target)),
        "ce": torch.nn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor(classes)),
    }
    for name, loss in ours.items():
        assert loss.dtype == np.float32, name
        np.testing.assert_allclose(loss.item(), theirs[name].item(), rtol=1e-5, err_msg=name)


def test_forward_mode_in_float32(backend_name):
    x = ag.mat([[0.5, -1.0]], dtype="float32")
    out, tangent = ag.jvp(lambda m: (m * m).sigmoid(), (x,), (ag.mat([[1.0, 1.0]], dtype="float32"),))
    assert out.dtype == np.float32 and tangent.dtype == np.float32
    s = 1 / (1 + np.exp(-np.float32([0.25, 1.0])))
    np.testing.assert_allclose(tangent.numpy()[0], s * (1 - s) * np.float32([1.0, -2.0]), rtol=1e-6)


def test_gradcheck_warns_for_float32_inputs_and_not_for_float64():
    x32 = ag.mat([[0.5, 1.5]], dtype="float32")
    with pytest.warns(UserWarning, match="float32.*float64"):
        try:
            ag.gradcheck(lambda m: (m * m).sum(), [x32], eps=1e-2, atol=1e-2, rtol=1e-2)
        except ag.GradcheckError:
            pass  # the point is the warning: float32 differences may fail either way
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ag.gradcheck(lambda m: (m * m).sum(), [ag.mat([[0.5, 1.5]])])


def test_argmax_over_more_positions_than_float32_counts_is_refused():
    with ag.backend("c"):
        big = ag.zeros(1, 2 ** 24 + 1, dtype="float32", requires_grad=False)
        with pytest.raises(ValueError, match=r"argmax: a float32 \(1, 16777217\).*2\*\*24"):
            big.argmax()
        assert big.argmax(0).shape == (1, 2 ** 24 + 1)  # one position per column: fine


def test_compile_replays_float32_steps_and_refuses_a_mixed_recording():
    """A float32 step records and replays (bit for bit, checked in tests/test_compile.py); a
    step launching float32 and float64 kernels is refused while it is recorded, whether the
    two meet (a conversion, read in Python) or not (two independent halves)."""
    with ag.backend("c"):
        W = ag.randn(3, 2, dtype="float32", rng=np.random.default_rng(0))

        def step(x):
            loss = (x @ W).sigmoid().sum()
            loss.backward()
            with ag.no_grad():
                W.data -= 0.1 * W.grad
            W.zero_grad()
            return loss
        compiled = ag.compile(step)
        x32 = ag.randn(4, 3, requires_grad=False, dtype="float32")
        for _ in range(5):
            assert compiled(x32).dtype == ag.float32
        assert compiled.stats == {"eager": 1, "traced": 2, "replayed": 2}
        mixed = ag.compile(step)
        x64 = ag.randn(4, 3, requires_grad=False)
        with pytest.raises(ag.CaptureError, match="float32"):
            for _ in range(4):
                mixed(x64)
        W64 = ag.randn(3, 2, rng=np.random.default_rng(0))

        def halves(a, b):
            return (a @ W).sum(), (b @ W64).sum()
        both = ag.compile(halves)
        both(x32, x64)  # the warm-up runs eagerly
        with pytest.raises(ag.CaptureError, match=r"launches float64 kernels \(pag_matmul\) "
                                                  r"and float32 ones; a plan replays one dtype"):
            both(x32, x64)


def test_the_trace_cache_keeps_a_plan_per_dtype_and_each_replays_its_own():
    """The same compiled step called with float32 and float64 inputs in turn: each dtype is
    recorded once (a float64 call after float32 ones retraces) and replays as eager runs."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 3))
    with ag.backend("c"):
        def make():
            Ws = {d: ag.mat(rng.standard_normal((3, 2)) if d == "float64" else W0, dtype=d)
                  for d in ("float32", "float64")}

            def step(x):
                W = Ws[str(x.dtype)]
                loss = ((x @ W).tanh() ** 2).mean()
                loss.backward()
                with ag.no_grad():
                    W.data -= 0.5 * W.grad
                W.zero_grad()
                return loss
            return step
        W0 = rng.standard_normal((3, 2))
        state = rng.bit_generator.state
        eager = make()
        rng.bit_generator.state = state
        compiled = ag.compile(make())
        xs = {d: ag.mat(X, requires_grad=False, dtype=d) for d in ("float32", "float64")}
        for i in range(4):
            got, want = compiled(xs["float32"]), eager(xs["float32"])
            assert got.dtype == ag.float32 and got.item() == want.item()
        assert compiled.stats == {"eager": 1, "traced": 2, "replayed": 1}
        for i in range(12):
            d = ("float64", "float32")[i % 2]
            got, want = compiled(xs[d]), eager(xs[d])
            assert got.dtype == want.dtype == np.dtype(d) and got.item() == want.item(), (i, d)
        assert compiled.stats == {"eager": 2, "traced": 4, "replayed": 1 + 6 + 3}
        assert len(compiled._entries) == 2


def test_main_job_takes_dtype_float32(capsys):
    from pyautograd.__main__ import main
    assert main(["--dtype", "float32", "--epochs", "2", "--hidden", "4", "--no-compile"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "test accuracy" in out


def test_main_job_compiles_in_float32_and_replays_what_eager_computes(capsys):
    """`--dtype float32` keeps compile on (the default): the compiled epochs' losses are the
    eager ones, bit for bit."""
    from pyautograd.__main__ import main
    assert main(["--dtype", "float32", "--epochs", "3", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "compiled: " in out and "losses identical" in out
