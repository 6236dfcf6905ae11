"""float32 end to end (issue 16): the op table in both dtypes against PyTorch, on every backend;
the Python backend's float32 emulation against NumPy's float32 arithmetic; the C float32 kernels
(matmul edges and transposes, exp at the ends of its range)."""
import numpy as np
import pytest

import pyautograd as ag

from op_table import OPS, draw

DTYPES = ["float32", "float64"]


@pytest.fixture(params=DTYPES)
def default_dtype(request):
    """Run the test with `request.param` as the default dtype (PyTorch's float32 world: numbers
    lifted into matrices and constants made inside ops take it too)."""
    old = ag.get_default_dtype()
    ag.set_default_dtype(request.param)
    try:
        yield request.param
    finally:
        ag.set_default_dtype(old)


def _inputs(op, seed, dtype):
    """Inputs drawn in float64 and rounded to dtype, so both libraries see the same values."""
    rng = np.random.default_rng(seed)
    return [draw(rng, shape, op.domain).astype(dtype) for shape in op.shapes], rng


@pytest.mark.parametrize("op", OPS, ids=str)
def test_op_table_matches_pytorch_in_each_dtype(op, backend_name, default_dtype):
    """Forward within rtol 1e-5 and gradients within rtol 1e-4 of PyTorch in the same dtype;
    outputs and gradients keep the dtype."""
    torch = pytest.importorskip("torch")
    arrays, rng = _inputs(op, 5, default_dtype)
    inputs = [ag.mat(a) for a in arrays]
    out = op.fn(*inputs)
    assert out.dtype == default_dtype and out.numpy().dtype == default_dtype
    upstream = rng.standard_normal(out.shape).astype(default_dtype)
    out.backward(upstream)
    t_dtype = getattr(torch, default_dtype)
    t_inputs = [torch.tensor(a, dtype=t_dtype, requires_grad=True) for a in arrays]
    t_out = op.torch(*t_inputs)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"{op.name}: forward")
    for i, (x, t) in enumerate(zip(inputs, t_inputs)):
        assert x.grad.dtype == default_dtype, f"{op.name}: gradient of input {i} is {x.grad.dtype}"
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{op.name}: gradient of input {i}")


@pytest.mark.parametrize("op", OPS, ids=str)
def test_op_table_forward_in_float32_matches_numpy_without_pytorch(op, backend_name):
    """The same rows against the table's NumPy reference, computed in float64 on the rounded
    inputs: float32 results within a few float32 roundings (runs where PyTorch is absent too,
    as under the sanitizers)."""
    arrays, _ = _inputs(op, 7, np.float32)
    out = op.fn(*[ag.mat(a, dtype="float32") for a in arrays])
    np.testing.assert_allclose(out.numpy(), op.ref(*[a.astype(np.float64) for a in arrays]),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", OPS, ids=str)
def test_float32_inputs_stay_float32_under_the_float64_default(op, backend_name):
    """dtype=float32 matrices in a float64 process: values match PyTorch float32 and results
    stay float32 (numbers, in where, ** and maximum too, do not promote, as in PyTorch)."""
    torch = pytest.importorskip("torch")
    arrays, _ = _inputs(op, 6, np.float32)
    inputs = [ag.mat(a, dtype=ag.float32) for a in arrays]
    out = op.fn(*inputs)
    expected = op.torch(*[torch.tensor(a) for a in arrays]).numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32
    if out.requires_grad:
        out.sum().backward()
        assert all(x.grad.dtype == np.float32 for x in inputs)


# -- the Python backend's emulation: exact for + - * / sqrt -------------------------------------

@pytest.mark.parametrize("op,fn", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                    ("div", np.divide)])
def test_python_float32_arithmetic_is_numpys_float32_bit_for_bit(op, fn):
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((6, 9)) * 10.0 ** rng.integers(-30, 30, (6, 9))).astype(np.float32)
    b = (rng.standard_normal((6, 9)) * 10.0 ** rng.integers(-30, 30, (6, 9))).astype(np.float32)
    with ag.backend("python"):
        x, y = ag.mat(a, dtype="float32"), ag.mat(b, dtype="float32")
        got = getattr(x.data, f"__{'truediv' if op == 'div' else op}__")(y.data).numpy()
    with np.errstate(all="ignore"):
        want = fn(a, b)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_python_float32_sqrt_and_scalars_round_as_float32():
    a = np.random.default_rng(8).uniform(0.0, 1e6, (4, 5)).astype(np.float32)
    with ag.backend("python"):
        m = ag.mat(a, dtype=ag.float32)
        np.testing.assert_array_equal(m.sqrt().numpy(), np.sqrt(a))
        # the scalar is rounded to float32 first, as the C kernels' float argument is
        np.testing.assert_array_equal((m * 0.1).numpy(), a * np.float32(0.1))
        np.testing.assert_array_equal(ag.full(1, 1, 0.1, dtype="float32").numpy(),
                                      np.float32([[0.1]]))


def test_python_and_c_float32_agree_to_the_bit_on_exact_ops_and_sums():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((37, 300)).astype(np.float32)
    results = {}
    for name in ("python", "c"):
        with ag.backend(name):
            m = ag.mat(a, dtype="float32", requires_grad=False)
            results[name] = [(m * m - m / 3.0).numpy(), m.sum().numpy(), m.sum(0).numpy(),
                             m.sum(1).numpy(), m.mean(1).numpy(), m.max(axis=0).numpy()]
    for p, c in zip(results["python"], results["c"]):
        np.testing.assert_array_equal(p, c)


def test_verify_float32_runs_a_training_step_without_divergence():
    with ag.backend("verify"):
        ag.manual_seed(3)
        model = ag.nn.Sequential(ag.nn.Linear(5, 7, dtype="float32"), ag.nn.Sigmoid(),
                                 ag.nn.Linear(7, 1, dtype="float32"), ag.nn.Sigmoid())
        opt = ag.optim.Adam(model.parameters(), lr=0.01)
        x = ag.randn(16, 5, requires_grad=False, dtype="float32")
        y = ag.mat((np.arange(16) % 2).reshape(-1, 1), requires_grad=False, dtype="float32")
        for _ in range(3):
            loss = ag.nn.BCELoss()(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert loss.dtype == np.float32 and type(loss.data).__name__ == "VerifyArray32"


def test_verify_float32_reports_a_divergence_with_float32_tolerances():
    with ag.backend("verify"):
        m = ag.mat([[1.0, 2.0]], dtype="float32")
        m.data.py.vals[0][0] = 1.0 + 2.0 ** -20  # more than float32's rounding, on one side
        with pytest.raises(ag.BackendDivergenceError, match="add"):
            m.data + m.data


# -- the C float32 kernels ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (33, 17, 65), (65, 129, 40),
                                   (130, 70, 300), (100, 1030, 1100)])  # past KC, MC and NC
@pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True), (True, True)])
def test_c_float32_matmul_within_its_rounding_bound(shape, trans):
    m, n, k = shape
    ta, tb = trans
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    with ag.backend("c"):
        x, y = ag.mat(a, dtype="float32"), ag.mat(b, dtype="float32")
        got = (x.T if ta else x) @ (y.T if tb else y)
    opa, opb = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
    bound = (k + 2) * np.finfo(np.float32).eps * (np.abs(opa) @ np.abs(opb))
    assert got.dtype == np.float32
    assert (np.abs(got.numpy() - opa @ opb) <= bound).all()


def test_c_float32_exp_is_ieee_at_the_ends_of_its_range():
    x = np.array([[-200.0, -104.5, -90.0, 0.0, 1.0, 88.7, 88.8, 200.0, np.inf, -np.inf, np.nan]],
                 dtype=np.float32)
    with ag.backend("c"):
        got = ag.mat(x, dtype="float32").exp().numpy()
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=3e-7)
    np.testing.assert_array_equal(got[~ok], want[~ok])


def test_matmul_kernel_names_both_precisions():
    from pyautograd.backends._ckernels import ffi, lib
    f32, f64 = ffi.string(lib.pag_matmul_kernel_f32()).decode(), ffi.string(lib.pag_matmul_kernel()).decode()
    assert (f32, f64) in {("6x16 AVX2+FMA", "6x8 AVX2+FMA"), ("4x4 portable C", "4x4 portable C")}
