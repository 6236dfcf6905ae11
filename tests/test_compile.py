"""ag.compile: a replayed step computes exactly what eager execution computes, step after step;
what cannot be replayed is refused while tracing; replaced state and new shapes retrace."""
import pathlib
import sys

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import nn, optim
from pyautograd.compile import CaptureError

ROOT = str(pathlib.Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # `pytest` run without `python -m` does not put the root on the path
    sys.path.append(ROOT)

from bench import suites  # noqa: E402  (the train steps are the bench's, written once)

SIZES = suites.TRAIN_SIZES


def steps_for(size):
    """100 steps at the bench sizes, fewer at the largest to keep the suite quick."""
    return 100 if size[0] * size[1] * size[2] <= 1e6 else 8


def lecture_step(size, lr=0.1, dtype="float64"):
    """The bench's lecture step (raw Matrix ops) on the current backend, in `dtype`;
    (step, parameters)."""
    X, Y, params = suites.train_data(*size)
    x, y = (ag.mat(v, requires_grad=False, dtype=dtype) for v in (X, Y))
    weights = [ag.mat(v, dtype=dtype) for v in params]
    return suites.lecture_step(x, y, weights, lr), weights


def nn_model(size, dtype="float64"):
    """The bench's nn model on the current backend, in `dtype`, with its inputs."""
    X, Y, params = suites.train_data(*size)
    x, y = (ag.mat(v, requires_grad=False, dtype=dtype) for v in (X, Y))
    return suites.nn_model(params, dtype), x, y


def make_optimizer(name, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    if name == "adam":
        return optim.Adam(params, lr=0.01)
    if name == "adamw":
        return optim.AdamW(params, lr=0.01, weight_decay=0.1)
    if name == "adam-amsgrad":
        return optim.Adam(params, lr=0.01, weight_decay=0.01, amsgrad=True)
    if name == "sgd-nesterov-wd":
        return optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)
    return optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True)


def nn_step(size, opt_name, zero_first=False, dtype="float64"):
    """The bench's nn step with another optimizer (zero_grad last, or first as in many PyTorch
    loops), in `dtype`; (step, parameters, optimizer)."""
    model, x, y = nn_model(size, dtype)
    opt = make_optimizer(opt_name, model.parameters())
    return suites.nn_step(model, nn.MSELoss(), opt, x, y, zero_first), list(model.parameters()), opt


def run_both(make, n_steps, between=None):
    """Run an eager copy and a compiled copy of the same step side by side; assert every loss and
    every parameter is bit-identical after every step. Returns the compiled step."""
    eager, eager_params = make()[:2]
    compiled_fn, params = make()[:2]
    compiled = ag.compile(compiled_fn)
    for i in range(n_steps):
        want, got = eager(), compiled()
        assert got.shape == want.shape == (1, 1)
        assert got.item() == want.item(), f"step {i}: loss {got.item()!r} != eager {want.item()!r}"
        if i < 10 or i % 10 == 0 or i == n_steps - 1:
            for p, q in zip(params, eager_params):
                assert p.dtype == q.dtype
                np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=f"step {i}")
        if between is not None:
            between(i)
    return compiled


@pytest.fixture(autouse=True)
def one_thread_c():
    old = ag.get_num_threads()
    with ag.backend("c"):
        yield
    ag.set_num_threads(old)


DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
def test_the_lecture_step_replays_bit_for_bit(size, dtype):
    n = steps_for(size)
    compiled = run_both(lambda: lecture_step(size, dtype=dtype), n)
    assert compiled.stats == {"eager": 1, "traced": 2, "replayed": n - 3}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("size", SIZES)
def test_the_nn_step_replays_bit_for_bit(size, opt_name, dtype):
    n = steps_for(size)
    compiled = run_both(lambda: nn_step(size, opt_name, dtype=dtype), n)
    assert compiled.stats["replayed"] == n - 3


@pytest.mark.parametrize("opt_name", ["adamw", "adam-amsgrad", "sgd-nesterov-wd", "rmsprop"])
def test_other_optimizers_replay_bit_for_bit_in_float32(opt_name):
    compiled = run_both(lambda: nn_step((64, 16, 32), opt_name, dtype="float32"), 40)
    assert compiled.stats["replayed"] == 37


def test_float32_plans_call_the_float32_kernels_over_float_buffers():
    """The recorded launches carry their dtype: a float32 step's plan is float32 throughout
    (its buffers float *), and its returned loss is float32."""
    step, _ = lecture_step((16, 4, 8), dtype="float32")
    compiled = ag.compile(step)
    for _ in range(4):
        loss = compiled()
    plan = the_plan(compiled)
    assert {plan.ops[i].dtype for i in range(plan.n_ops)} == {ag.backends.carray.lib.PAG_PLAN_FLOAT32}
    assert ag.backends.carray.ffi.typeof(plan.table_ptrs).cname == "float *[]"
    assert loss.dtype == ag.float32 and compiled.stats["replayed"] == 1


@pytest.mark.parametrize("opt_name", ["adamw", "adam-amsgrad", "sgd-nesterov-wd", "rmsprop"])
def test_other_optimizers_and_zero_grad_first_replay_bit_for_bit(opt_name):
    compiled = run_both(lambda: nn_step((64, 16, 32), opt_name, zero_first=True), 40)
    assert compiled.stats["replayed"] == 37


def test_a_scheduled_learning_rate_is_refreshed_at_every_replay():
    """The optimizer's numbers are recomputed in Python before each replay: a scheduler that
    changes lr between steps (and Adam's bias corrections, which change every step) reach the
    replayed kernels."""
    made = []

    def make():
        step, params, opt = nn_step((16, 4, 8), "adam")
        made.append(optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5))
        return step, params

    run_both(make, 40, between=lambda i: [s.step() for s in made])
    assert made[0].get_last_lr() == made[1].get_last_lr()


def test_inputs_are_read_where_they_are_at_each_replay():
    """Mini-batches passed as arguments: each replay reads the new batch's values."""
    size = (8, 3, 5)
    rng = np.random.default_rng(3)
    batches = [(ag.mat(rng.standard_normal((8, 3)), requires_grad=False),
                ag.mat(rng.random((8, 1)), requires_grad=False)) for _ in range(30)]

    def make():
        model, _, _ = nn_model(size)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = nn.MSELoss()

        def step(xb, yb):
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        return step, list(model.parameters())

    eager, eager_params = make()
    compiled_fn, params = make()
    compiled = ag.compile(compiled_fn)
    for xb, yb in batches:
        assert compiled(xb, yb).item() == eager(xb, yb).item()
    for p, q in zip(params, eager_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert compiled.stats["replayed"] == 27


def test_the_decorator_form_and_returned_matrices_are_fresh():
    step, _ = lecture_step((4, 2, 4))
    compiled = ag.compile(step)
    losses = [compiled() for _ in range(6)]
    values = [loss.item() for loss in losses]
    assert len(set(values)) == 6, "each returned loss keeps its own value"
    assert all(not loss.requires_grad for loss in losses[1:])  # after the eager warm-up

    @ag.compile(warmup=0)
    def double(x):
        return x * 2.0
    x = ag.mat([[1.0, 2.0]], requires_grad=False)
    for _ in range(4):
        assert double(x).tolist() == [[2.0, 4.0]]
    assert double.stats == {"eager": 0, "traced": 2, "replayed": 2}


def test_other_shapes_retrace_and_the_first_plan_is_kept():
    @ag.compile
    def affine(x):
        return x * 3.0 + 1.0
    small, large = ag.mat(np.ones((2, 2)), requires_grad=False), ag.mat(np.ones((3, 5)), requires_grad=False)
    for _ in range(4):
        assert affine(small).tolist() == [[4.0] * 2] * 2
    for _ in range(4):
        assert affine(large).tolist() == [[4.0] * 5] * 3
    assert affine(small).tolist() == [[4.0] * 2] * 2
    assert affine.stats == {"eager": 2, "traced": 4, "replayed": 3}


def test_a_parameter_replaced_by_assignment_invalidates_the_plan():
    """p.data = ... after tracing: the plan would update the old buffer; it retraces instead,
    and the results still equal eager's."""
    eager, eager_params = lecture_step((4, 2, 4))
    step, params = lecture_step((4, 2, 4))
    compiled = ag.compile(step)
    for i in range(20):
        assert compiled().item() == eager().item()
        if i == 8:
            fresh = np.full((4, 2), 0.25)
            for ps in (params, eager_params):
                ps[0].data = type(ps[0].data).from_array(fresh)
    np.testing.assert_array_equal(params[0].numpy(), eager_params[0].numpy())
    assert compiled.stats["traced"] == 4  # twice before the assignment, twice after


def test_a_change_of_thread_count_retraces():
    step, _ = lecture_step((4, 2, 4))
    compiled = ag.compile(step)
    ag.set_num_threads(1)
    for _ in range(4):
        compiled()
    ag.set_num_threads(2)
    compiled()
    assert compiled.stats == {"eager": 2, "traced": 2, "replayed": 1}


def test_the_python_backend_runs_eagerly():
    with ag.backend("python"):
        eager, eager_params = lecture_step((4, 2, 4))
        step, params = lecture_step((4, 2, 4))
        compiled = ag.compile(step)
        for _ in range(5):
            assert compiled().item() == eager().item()
    assert compiled.stats == {"eager": 5, "traced": 0, "replayed": 0}


# -- the verify backend: every replay is checked against eager execution --------------------------

def verify_steps(dtype="float64"):
    """The lecture step and the nn step with SGD momentum and Adam, on the verify backend (and
    RMSprop zeroing first, which leaves gradients for the check to compare), in `dtype`."""
    size = (16, 4, 8)
    return {"lecture": lambda: lecture_step(size, dtype=dtype),
            "sgd": lambda: nn_step(size, "sgd", dtype=dtype)[:2],
            "adam": lambda: nn_step(size, "adam", dtype=dtype)[:2],
            "rmsprop-zero-first": lambda: nn_step(size, "rmsprop", True, dtype)[:2]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lecture", "sgd", "adam", "rmsprop-zero-first"])
def test_verify_checks_100_replays_against_eager_and_returns_eagers_values(kind, dtype):
    """On verify, each replay runs from the state eager execution then starts from, and must
    leave the same bits; the user gets eager's results, equal to a plain eager copy's."""
    with ag.backend("verify"):
        eager, eager_params = verify_steps(dtype)[kind]()
        step, params = verify_steps(dtype)[kind]()
        compiled = ag.compile(step)
        for i in range(100):
            assert compiled().item() == eager().item(), f"step {i}"
    for p, q in zip(params, eager_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert compiled.stats == {"eager": 1, "traced": 2, "replayed": 97}


class SkipOneLaunch:
    """Stands in for the plan's C library: replays every launch but one."""

    def __init__(self, lib, skip):
        self.lib, self.skip = lib, skip

    def pag_plan_run(self, ops, n_ops, buffers, n_buffers, table, n_table):
        k = self.skip
        return (self.lib.pag_plan_run(ops, k, buffers, n_buffers, table, n_table)
                or self.lib.pag_plan_run(ops + k + 1, n_ops - k - 1, buffers, n_buffers, table,
                                         n_table))


def the_plan(compiled):
    """The C plan (backends/plan.py) of a compiled step with one input signature."""
    (entry,) = compiled._entries.values()
    return entry.plan.plan


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lecture", "sgd", "adam"])
def test_verify_catches_a_replay_that_skips_a_parameter_update(kind, dtype):
    """The last launch of each step updates a parameter (or Adam's state); a replay that skips
    it is caught, named, and the state left is eager's."""
    with ag.backend("verify"):
        eager, eager_params = verify_steps(dtype)[kind]()
        step, params = verify_steps(dtype)[kind]()
        compiled = ag.compile(step)
        for _ in range(5):
            assert compiled().item() == eager().item()
        plan = the_plan(compiled)
        plan.lib = SkipOneLaunch(plan.lib, plan.n_ops - 1)
        with pytest.raises(ag.BackendDivergenceError,
                           match=r"compiled step '.*step', call 6: the replay and eager execution "
                                 r"differ: .* at \(\d+, \d+\): replay .*, eager .*values differ"):
            compiled()
        eager()
    for p, q in zip(params, eager_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def replaying_lecture_step(dtype="float64"):
    """A compiled lecture step past its recordings (4 calls made), and its plan."""
    step, _ = lecture_step((16, 4, 8), dtype=dtype)
    compiled = ag.compile(step)
    for _ in range(4):
        compiled()
    return compiled, the_plan(compiled)


def test_verify_catches_a_learning_rate_slightly_off_and_names_the_parameter():
    """A captured number changed by a relative 1e-12 (the lecture's learning rate in the first
    update): the check is exact, and names the parameter by its shape and where it was made."""
    with ag.backend("verify"):
        compiled, plan = replaying_lecture_step()
        lr_ops = [i for i in range(plan.n_ops) if plan.ops[i].scalar == 0.1]
        assert lr_ops, "the plan holds the learning rate"
        plan.ops[lr_ops[0]].scalar = 0.1 * (1 + 1e-12)
        with pytest.raises(ag.BackendDivergenceError,
                           match=r"call 5: .* differ: the 8x4 matrix made at .*test_compile.py"):
            compiled()


@pytest.mark.parametrize("dtype", DTYPES)
def test_verify_catches_a_corrupted_loss(dtype):
    """The returned loss is compared too: a replay that overwrites it is caught."""
    with ag.backend("verify"):
        compiled, plan = replaying_lecture_step(dtype)
        (entry,) = compiled._entries.values()
        loss_buffer = entry.plan.out_specs[0][0]
        real = plan.lib

        class CorruptLoss:
            def pag_plan_run(self, *args):
                failed = real.pag_plan_run(*args)
                plan.table_ptrs[loss_buffer][0] += 1.0
                return failed
        plan.lib = CorruptLoss()
        with pytest.raises(ag.BackendDivergenceError, match=r"the returned matrix at \(0, 0\)"):
            compiled()


def test_the_verify_comparison_is_exact_nan_equals_nan_and_a_missing_gradient_counts():
    from pyautograd.compile import _first_difference
    nan = np.array([[1.0, np.nan]])
    assert _first_difference([("w", nan)], [("w", nan.copy())]) is None
    off = np.array([[1.0, np.nextafter(2.0, 3.0)]])
    assert _first_difference([("w", off)], [("w", np.array([[1.0, 2.0]]))]) == (
        f"w at (0, 1): replay {float(off[0, 1])!r}, eager 2.0 (1 of 2 values differ)")
    assert _first_difference([("the gradient of w", np.zeros((2, 3)))],
                             [("the gradient of w", None)]) == (
        "the gradient of w: replay a 2x3 matrix, eager None")
    assert _first_difference([("Adam's state 'step' of w", 3)],
                             [("Adam's state 'step' of w", 4)]) == "Adam's state 'step' of w: replay 3, eager 4"


@pytest.mark.parametrize("name", ["c", "verify"])
def test_reading_values_mid_step_is_refused_on_verify_as_on_c(name):
    """verify's own C-against-Python comparisons read values while recording; the step's reads
    are still refused, as on the C backend."""
    with ag.backend(name):
        step, weights = lecture_step((4, 2, 4))

        def with_numpy():
            loss = step()
            weights[0].numpy()
            return loss

        def with_item():
            loss = step()
            return loss * (loss.item() + 1.0)
        refused(with_numpy, "reads a matrix's values in Python")
        refused(with_item, r"\.item\(\)")


# -- refusals -------------------------------------------------------------------------------------

def refused(step, match, calls=3, *args):
    compiled = ag.compile(step)
    with pytest.raises(CaptureError, match=match):
        for _ in range(calls):
            compiled(*args)
    with pytest.raises(CaptureError, match=match):  # and again: never replayed afterwards
        compiled(*args)
    assert compiled.stats["replayed"] == 0


def test_item_used_in_python_mid_step_is_refused():
    step, weights = lecture_step((4, 2, 4))

    def with_item():
        loss = step()
        if loss.item() > 10.0:  # value-dependent control flow
            weights[0].data -= 1.0
        return loss
    refused(with_item, r"\.item\(\)")


def test_numpy_and_printing_mid_step_are_refused():
    step, weights = lecture_step((4, 2, 4))
    refused(lambda: (step(), weights[0].numpy())[0], r"\.numpy\(\)")
    refused(lambda: (step(), print(weights[0]))[0], r"\.numpy\(\)")


def test_an_op_without_a_c_kernel_is_refused():
    x = ag.mat(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=False)
    refused(lambda: nn.functional.gelu(x).sum(), r"NumPy")


def test_a_python_number_that_changes_every_step_is_refused():
    step_count = [0]
    W = ag.mat(np.ones((2, 2)))

    def decaying():
        step_count[0] += 1
        loss = (W * W).sum()
        loss.backward()
        with ag.no_grad():
            W.data -= (0.1 / step_count[0]) * W.grad
            W.zero_grad()
        return loss
    refused(decaying, r"changes from step to step")


def test_state_rebound_every_step_is_refused():
    W = ag.mat(np.ones((2, 2)))

    def rebinding():
        loss = (W * W).sum()
        loss.backward()
        W.data = W.data - 0.1 * W.grad  # a new buffer every step, not an in-place update
        W.zero_grad()
        return loss
    refused(rebinding, r"in place")


def test_data_made_from_numpy_inside_the_step_that_changes_is_refused():
    rng = np.random.default_rng(0)
    W = ag.mat(np.ones((3, 2)))

    def fresh_batch():
        x = ag.mat(rng.standard_normal((4, 3)), requires_grad=False)  # new values every step
        loss = (x @ W).sum()
        loss.backward()
        with ag.no_grad():
            W.data -= 0.1 * W.grad
            W.zero_grad()
        return loss
    refused(fresh_batch, r"pass it as an input")


def test_an_input_that_requires_grad_is_refused():
    x = ag.mat(np.ones((2, 2)))  # requires_grad=True by default
    refused(lambda a: (a * 2.0).sum(), r"requires grad", 3, x)


def test_an_optimizer_without_the_capture_protocol_is_refused():
    class Legacy(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def _update(self, p, grad, group, state, scalars=()):
            p.data.add_scaled_(grad, -group["lr"])
    W = ag.mat(np.ones((2, 2)))
    opt = Legacy([W])

    def step():
        loss = (W * W).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss
    compiled = ag.compile(step)
    with pytest.raises(NotImplementedError, match="_scalars"):
        for _ in range(3):
            compiled()


def test_the_readme_example_runs_and_prints_what_it_says():
    import contextlib
    import io
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    body = text.split("## Compiling a training step\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, re.S)
    expected = [line.split("  # ", 1)[1].strip() for line in code.splitlines()
                if line.startswith("print(")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})
    assert out.getvalue().splitlines() == expected


def test_a_scheduler_stepping_inside_the_step_is_refused():
    step, _params, opt = nn_step((4, 2, 4), "sgd")
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def with_scheduler():
        loss = step()
        scheduler.step()
        return loss
    refused(with_scheduler, r"scheduler")


def test_a_compiled_step_called_from_a_recorded_step_is_recorded_inline():
    inner_step, params = lecture_step((4, 2, 4))
    eager, eager_params = lecture_step((4, 2, 4))
    inner = ag.compile(inner_step)
    outer = ag.compile(lambda: inner())
    for _ in range(8):
        assert outer().item() == eager().item()
    assert outer.stats["replayed"] == 5 and inner.stats == {"eager": 1, "traced": 0, "replayed": 0}


@pytest.mark.parametrize("name", ["c", "verify"])
def test_bce_is_captured_and_its_range_check_still_raises_after_a_replay(name):
    """On verify the replay's error is checked against eager's, which is the one raised."""
    with ag.backend(name):
        bce_range_check(after_replay="after it ran" if name == "c" else "between 0 and 1")


def bce_range_check(after_replay):
    X, Y, _ = suites.train_data(16, 2, 4)

    def make():
        model, x, _ = nn_model((16, 2, 4))
        y = ag.mat((Y > 0.5).astype(float), requires_grad=False)
        opt = optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.BCELoss()

        def step(xb):
            loss = loss_fn(model(xb), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        return step, list(model.parameters()), y

    x = ag.mat(X, requires_grad=False)
    eager, eager_params, eager_y = make()
    compiled_fn, params, y = make()
    compiled = ag.compile(compiled_fn)
    for _ in range(10):
        assert compiled(x).item() == eager(x).item()
    for p, q in zip(params, eager_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    for target in (y, eager_y):  # targets outside [0, 1]...
        target.data = type(target.data).from_array(np.full(Y.shape, 2.0))
    with pytest.raises(nn.functional.InputRangeError, match="between 0 and 1"):
        eager(x)
    # ...y's storage was replaced, so the plan retraces and the recording raises eagerly
    with pytest.raises(nn.functional.InputRangeError, match="between 0 and 1"):
        compiled(x)
    y.data.fill_(0.5)  # valid again, now a plan over this storage; then invalid in place
    for _ in range(4):
        compiled(x)
    assert compiled.stats["replayed"] >= 8
    y.data.fill_(-1.0)
    with pytest.raises(nn.functional.InputRangeError, match=after_replay):
        compiled(x)


def test_two_alternating_batch_shapes_replay_and_leave_the_gradients_eager_leaves():
    """zero_grad() first, as in many PyTorch loops: each step leaves its gradients in the
    parameters. Two plans (a full and a last, smaller batch) alternate; after every replay the
    parameters' .grad is what eager execution leaves there, and neither plan retraces."""
    rng = np.random.default_rng(5)
    batches = [(ag.mat(rng.standard_normal((n, 3)), requires_grad=False),
                ag.mat(rng.random((n, 1)), requires_grad=False)) for n in (8, 3) * 12]

    def make():
        model, _, _ = nn_model((8, 3, 5))
        opt = optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.MSELoss()

        def step(xb, yb):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            return loss
        return step, list(model.parameters())

    eager, eager_params = make()
    compiled_fn, params = make()
    compiled = ag.compile(compiled_fn)
    for xb, yb in batches:
        assert compiled(xb, yb).item() == eager(xb, yb).item()
        for p, q in zip(params, eager_params):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert compiled.stats == {"eager": 2, "traced": 4, "replayed": 18}


def test_a_gradient_set_between_steps_is_seen():
    """The lecture step finds no gradients (it zeroes them at its end): a gradient set by hand
    between steps would be accumulated by eager execution, so the plan retraces."""
    eager, eager_params = lecture_step((4, 2, 4))
    step, params = lecture_step((4, 2, 4))
    compiled = ag.compile(step)
    for i in range(12):
        assert compiled().item() == eager().item()
        if i == 6:
            for ps in (params, eager_params):
                ps[1].grad = type(ps[1].data).full(1, 4, 0.5)
    for p, q in zip(params, eager_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert compiled.stats["traced"] == 4


def test_the_main_job_compiles_by_default_and_reports_both_times():
    import io

    from pyautograd.__main__ import parse_args
    from pyautograd.demo import Config, run, train
    assert parse_args([]).compile is True and parse_args(["--no-compile"]).compile is False
    out = io.StringIO()
    run(Config(epochs=6, n=200), out, compare_epochs=6)
    text = out.getvalue()
    assert "compiled: " in text and "; eager: " in text and "losses identical" in text
    eager = train(Config(epochs=6, n=200, compile=False))
    compiled = train(Config(epochs=6, n=200))
    assert compiled.losses == eager.losses
    out = io.StringIO()
    run(Config(epochs=2, n=200, compile=False), out, compare_epochs=2)
    assert "compiled" not in out.getvalue()


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_c_executor_refuses_table_indices_out_of_range(dtype):
    step, _ = lecture_step((4, 2, 4), dtype=dtype)
    compiled = ag.compile(step)
    for _ in range(4):
        compiled()
    plan = the_plan(compiled)
    ops = plan.ops
    for field, bad in (("out", plan.n_buffers), ("buf0", -2), ("scalar_index", 10 ** 6),
                       ("kind", 99), ("dtype", 2), ("dtype", -1)):
        saved = (getattr(ops[3], field), ops[3].scalar_from)
        setattr(ops[3], field, bad)
        if field == "scalar_index":
            ops[3].scalar_from = 1  # read from the scalar table
        assert plan.lib.pag_plan_run(ops, plan.n_ops, plan.table_arg, plan.n_buffers,
                                     plan.scalars, plan.n_table) == 4  # op 3 failed, as i + 1
        setattr(ops[3], field, saved[0])
        ops[3].scalar_from = saved[1]
    compiled()


def test_a_parameter_group_added_after_tracing_retraces():
    eager, eager_params, eager_opt = nn_step((4, 2, 4), "sgd")
    step, params, opt = nn_step((4, 2, 4), "sgd")
    compiled = ag.compile(step)
    extra = [ag.mat(np.ones((1, 1))), ag.mat(np.ones((1, 1)))]
    for i in range(10):
        assert compiled().item() == eager().item()
        if i == 5:
            for o, e in ((opt, extra[0]), (eager_opt, extra[1])):
                o.add_param_group({"params": [e], "lr": 0.5})
    assert compiled.stats["traced"] == 4


def test_two_threads_recording_and_replaying_at_once_each_get_eager_results():
    import threading
    makers = [lambda: lecture_step((16, 4, 8)), lambda: nn_step((16, 4, 8), "adam")[:2]]
    want = []
    for make in makers:
        eager = make()[0]
        want.append([eager().item() for _ in range(30)])
    got = [None, None]

    def work(i):
        with ag.backend("c"):
            compiled = ag.compile(makers[i]()[0])
            got[i] = [compiled().item() for _ in range(30)]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


# -- never stale: the state around a step changes between calls ------------------------------------

class Twin:
    """A small model, its optimizer and a training step; `make_twin` builds two alike."""

    def __init__(self, opt="adam", dropout=False, pattern="zero_first", **hyper):
        ag.manual_seed(5)
        layers = [nn.Linear(3, 4), nn.Tanh()] + ([nn.Dropout(0.5)] if dropout else []) + \
            [nn.Linear(4, 2)]
        self.model = nn.Sequential(*layers)
        self.layers = [m for m in layers if isinstance(m, nn.Linear)]
        cls = {"adam": optim.Adam, "sgd": optim.SGD, "rmsprop": optim.RMSprop}[opt]
        self.opt = cls(self.model.parameters(), lr=0.05, **hyper)
        model, o = self.model, self.opt

        def step(x, y):
            if pattern == "zero_first":
                o.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            if pattern != "accumulate":
                o.step()
            return loss
        self.step = step

    def seen(self):
        out = []
        for lin in self.layers:
            for p in (lin.weight, lin.bias):
                out += [p.numpy().tobytes(), p.requires_grad,
                        p.grad.numpy().tobytes() if p.has_grad else None]
        sd = self.opt.state_dict()
        out += [(k, n, v.tobytes() if isinstance(v, np.ndarray) else v)
                for k, s in sorted(sd["state"].items()) for n, v in sorted(s.items())]
        return out + [repr(sd["param_groups"])]


def twins(n_calls, between, warmup=1, **kw):
    """Run an eager Twin and a compiled one side by side (the same draws of dropout's stream
    for both), applying between(i, twin) to both after call i; every loss, parameter, gradient
    and optimizer state must agree to the bit. Returns the compiled step's stats."""
    from pyautograd import factories
    eager, twin = Twin(**kw), Twin(**kw)
    compiled = ag.compile(twin.step, warmup=warmup)
    rng = np.random.default_rng(0)
    for i in range(n_calls):
        x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
        x, y = ag.mat(x, requires_grad=False), ag.mat(y, requires_grad=False)
        position = factories._stream[0]
        want = eager.step(x, y)
        after = factories._stream[0]
        factories._stream[0] = position
        got = compiled(x, y)
        assert factories._stream[0] == after, f"call {i}: the random stream advanced differently"
        assert got.numpy().tobytes() == want.numpy().tobytes(), f"call {i}: loss"
        assert twin.seen() == eager.seen(), f"call {i}: parameters, gradients or optimizer state"
        between(i, eager)
        between(i, twin)
    return compiled.stats



def test_freezing_and_unfreezing_a_layer_after_recording_re_records():
    def between(i, t):
        if i in (5, 11):
            for p in (t.layers[0].weight, t.layers[0].bias):
                p.requires_grad = i == 11
    stats = twins(20, between)
    assert stats["replayed"] >= 8 and stats["traced"] >= 6



@pytest.mark.parametrize("how", ["load_state_dict", "replaced_state", "step_counter"])
def test_optimizer_state_loaded_or_replaced_between_calls_is_seen(how):
    saved = {}

    def between(i, t):
        if i == 2:
            saved[id(t)] = t.opt.state_dict()
        if i in (6, 12):
            if how == "load_state_dict":
                t.opt.load_state_dict(saved[id(t)])
            elif how == "replaced_state":
                t.opt.state = {}
            else:
                for s in t.opt.state.values():
                    s["step"] = 1.0
    stats = twins(18, between)
    assert stats["replayed"] >= 8



def test_train_and_eval_with_dropout_replay_and_re_record():
    def between(i, t):
        if i == 6:
            t.model.eval()
        if i == 12:
            t.model.train()
    stats = twins(20, between, dropout=True)
    assert stats["replayed"] >= 10



def test_dropout_replays_fresh_masks_with_eagers_bits_after_the_same_seed():
    stats = twins(12, lambda i, t: None, dropout=True, opt="sgd", momentum=0.9)
    assert stats["replayed"] == 12 - 3  # one warm-up call, two recordings



@pytest.mark.parametrize("opt, hyper", [("adam", {"betas": (0.3, 0.9)}),
                                        ("adam", {"betas": (0.5, 0.9), "amsgrad": True}),
                                        ("rmsprop", {"alpha": 0.3, "centered": True}),
                                        ("rmsprop", {"alpha": 0.5, "centered": True,
                                                     "momentum": 0.5})])
def test_small_beta1_adam_and_centered_rmsprop_replay(opt, hyper):
    stats = twins(10, lambda i, t: None, opt=opt, **hyper)
    assert stats["replayed"] == 10 - 3



def test_warmup_zero_with_adam_replays():
    stats = twins(10, lambda i, t: None, warmup=0)
    assert stats["replayed"] >= 6



def test_a_step_that_only_accumulates_gradients_replays():
    stats = twins(10, lambda i, t: None, pattern="accumulate")
    assert stats["replayed"] >= 6


def test_class_index_targets_as_an_n_by_1_matrix_replay_with_cross_entropy():
    def make():
        ag.manual_seed(1)
        lin = nn.Linear(3, 4)
        opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, t):
            opt.zero_grad()
            loss = loss_fn(lin(x), t)
            loss.backward()
            opt.step()
            return loss
        return step, lin
    (eager, le), (fn, lc) = make(), make()
    compiled = ag.compile(fn)
    rng = np.random.default_rng(0)
    for i in range(8):
        x = ag.mat(rng.standard_normal((5, 3)), requires_grad=False)
        idx = rng.integers(0, 4, 5)
        t = ag.mat(idx[:, None].astype(float), requires_grad=False)
        want = eager(x, t)
        assert compiled(x, t).item() == want.item(), f"call {i}"
        np.testing.assert_array_equal(lc.weight.numpy(), le.weight.numpy())
    assert compiled.stats["replayed"] == 5
    bad = ag.mat(np.array([[0.0], [1.5], [2], [3], [0]]), requires_grad=False)
    with pytest.raises(ValueError, match=r"class indices, which must be whole numbers in \[0, 4\)"):
        compiled(x, bad)  # raised after the replay ran (check_zero)


def test_class_indices_as_a_matrix_or_a_list_give_the_same_loss():
    ag.manual_seed(2)
    z = ag.mat(np.random.default_rng(1).standard_normal((4, 3)))
    idx = [2, 0, 1, 2]
    t = ag.mat(np.array(idx, dtype=float)[:, None], requires_grad=False)
    import pyautograd.nn.functional as F
    assert F.cross_entropy(z, t).item() == F.cross_entropy(z, idx).item()


def test_a_float_argument_new_at_every_call_warns_once_that_calls_run_eagerly():
    W = ag.mat(np.ones((2, 2)))

    def step(x, lr):
        loss = (W * x).sum()
        loss.backward()
        W.data -= lr * W.grad
        W.zero_grad()
        return loss
    compiled = ag.compile(step, cache_size=2)
    x = ag.mat(np.ones((2, 2)), requires_grad=False)
    with pytest.warns(RuntimeWarning, match=r"argument 1 is a float: each new value records"):
        for i in range(4):
            compiled(x, 0.1 / (i + 1))
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error")
        compiled(x, 0.01)  # once only
