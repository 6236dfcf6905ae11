"""Every row of the op table at the IEEE edges, and under compile: one row gives an op all its
coverage, so a new op cannot ship with a hole that nothing reports.

At ±inf, NaN, ±1000, subnormals and signed zeros each row's value matches PyTorch (or NumPy
where torch is absent) in where it is NaN, where it is infinite and what it is elsewhere; the
backward runs without an exception or a warning on every backend (on verify, C agrees with
Python to each op's tolerance on every value it computes); and a training-like step over the
row replays under `ag.compile` with the very bits eager execution computes."""
import warnings

import numpy as np
import pytest

import pyautograd as ag
from conftest import BACKENDS, C_ENABLED
from op_table import OPS

INF, NAN = float("inf"), float("nan")
EDGES = [INF, -INF, NAN, 1000.0, -1000.0, 5e-324, -5e-324, 2.2250738585072014e-308, 0.0, -0.0,
         1.0, -0.5]


def edge_inputs(op):
    """Inputs of the row's shapes filled with the edges, each operand shifted along the list so
    that every pair of edges meets in the two-operand rows."""
    arrays = []
    for k, shape in enumerate(op.shapes):
        n = shape[0] * shape[1]
        values = [EDGES[(i * (k + 1) + 3 * k) % len(EDGES)] for i in range(n)]
        arrays.append(np.array(values).reshape(shape))
    return arrays


try:
    import torch
except ModuleNotFoundError:  # NumPy is the reference; it refuses nothing
    torch = None


def reference(op, arrays):
    """The row's value by PyTorch, else NumPy: (values, or None where it refuses)."""
    with np.errstate(all="ignore"):
        try:
            if torch is not None and op.torch is not None:
                out = op.torch(*[torch.tensor(a) for a in arrays])
                return np.asarray(out.detach().numpy(), dtype=np.float64)
            return np.asarray(op.ref(*arrays), dtype=np.float64)
        except (RuntimeError, ValueError):  # out of the op's range (a BCE of inf, say)
            return None


def same_values(got, want):
    """NaN where want is NaN, the same infinities, and the finite values to 1e-12 (the sign of
    a zero is not compared: libraries disagree on it at the edges, e.g. pow(-0, 0.5))."""
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), (got, want)
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-300)


# Rows whose value at the edges is refused with an error, as PyTorch refuses it.
REFUSED_AT_THE_EDGES = {"binary_cross_entropy", "binary_cross_entropy_none"}


@pytest.mark.parametrize("op", OPS, ids=str)
def test_every_row_at_the_edges(backend_name, op):
    arrays = edge_inputs(op)
    want = reference(op, arrays)
    mats = [ag.mat(a) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from our code fails the test
        if op.name in REFUSED_AT_THE_EDGES:
            if torch is not None:
                assert want is None, "PyTorch accepts these inputs now: compare the values instead"
            with pytest.raises(ValueError, match=op.name.split("_none")[0]):
                op.fn(*mats)
            return
        out = op.fn(*mats)
        out.sum().backward()
    assert want is not None, f"{op.name}: PyTorch refuses the edges, we do not"
    same_values(out.numpy(), want)
    for m in mats:
        assert m.grad.shape == m.shape  # reached every operand (values: any IEEE result)


def compiled_step(op, mats):
    """Forward, backward and a plain in-place update over the row, as a training step does."""
    def step():
        loss = op.fn(*mats).sum()
        loss.backward()
        with ag.no_grad():
            for m in mats:
                m.data -= 2.0 ** -7 * m.grad  # small: the operands stay in every domain
                m.zero_grad()
        return loss
    return step


# Rows whose step compile refuses while recording, with the reason. The test fails when one of
# these starts to replay (take it off the list) or another row is refused (a new hole).
REFUSED_UNDER_COMPILE = {
    **{name: "pag_gather has no plan op yet" for name in (
        "getitem_row", "getitem_neg_col", "getitem_pair", "getitem_steps", "getitem_gather",
        "getitem_gather_cols", "getitem_squared")},
    "getitem_matrix": "positions given as a Matrix are read in Python",
    "cat0": "pag_scatter has no plan op yet", "cat1": "pag_scatter has no plan op yet",
    "where": "pag_where has no plan op yet", "where_number": "pag_where has no plan op yet",
    "pow_matrix": "pag_where has no plan op yet", "rpow": "pag_where has no plan op yet",
    "min": "pag_select has no plan op yet", "min0": "pag_select has no plan op yet",
    "min1": "pag_select has no plan op yet",
    "gelu": "computed with NumPy",
    "to": "a change of backend copies through NumPy",
}


@pytest.mark.skipif(not C_ENABLED or "c" not in BACKENDS, reason="compile replays on the C backend")
@pytest.mark.parametrize("op", OPS, ids=str)
def test_every_row_replays_under_compile_with_eagers_bits(op):
    rng = np.random.default_rng(7)
    arrays = [rng.uniform(0.2, 0.8, shape) for shape in op.shapes]  # every row's domain
    with ag.backend("c"):
        eager_mats = [ag.mat(a) for a in arrays]
        mats = [ag.mat(a) for a in arrays]
        eager, compiled = compiled_step(op, eager_mats), ag.compile(compiled_step(op, mats))
        try:
            for _ in range(6):
                np.testing.assert_array_equal(compiled().numpy(), eager().numpy())
                for m, e in zip(mats, eager_mats):
                    np.testing.assert_array_equal(m.numpy(), e.numpy())
        except ag.CaptureError as exc:
            assert op.name in REFUSED_UNDER_COMPILE, f"{op.name} is refused under compile: {exc}"
            return
    assert op.name not in REFUSED_UNDER_COMPILE, f"{op.name} replays now: take it off the list"
    assert compiled.stats["replayed"] == 3, compiled.stats


def test_the_lists_name_only_rows_of_the_table():
    names = {op.name for op in OPS}
    assert set(REFUSED_UNDER_COMPILE) <= names and REFUSED_AT_THE_EDGES <= names
