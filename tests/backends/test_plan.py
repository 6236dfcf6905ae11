"""backends/plan.py on its own: a trace made by hand (no step, no Matrix) turned into a C plan,
replayed over new inputs, and the plans it refuses to build or to run."""
import numpy as np
import pytest

from conftest import needs_c
from pyautograd.errors import CaptureError

pytestmark = needs_c


@pytest.fixture
def parts():
    from pyautograd.backends import carray, recording
    from pyautograd.backends.plan import Plan
    return carray, recording, Plan


def hand_made(parts, n=3, out_capacity=None):
    """y = exp(x) * 2 + w over n values: x an input, w external, t and y made in the step."""
    carray, rec, _Plan = parts
    ffi, lib = carray.ffi, carray.lib
    codes = rec.plan_codes(lib)
    x = ffi.new("double[]", n)
    w = ffi.new("double[]", [0.5] * n)
    t = ffi.new("double[]", n)
    y = ffi.new("double[]", out_capacity or n)
    trace = rec.Trace(ffi, {int(ffi.cast("uintptr_t", x)): 0})
    trace.allocated.update({int(ffi.cast("uintptr_t", b)): len(b) for b in (t, y)})
    ix, iw, it, iy = (trace.buffer(b) for b in (x, w, t, y))
    zero = (0, 0, 0, 0)
    trace.record("pag_unary", codes["UNARY"], "double",
                 (carray._UNARY["exp"], 0, 0, 0, 0, n, 0, 0) + zero, ((ix, n),), (it, n))
    trace.record("pag_binary_scalar", codes["BINARY_SCALAR"], "double",
                 (carray._BINARY["mul"], 0, 0, 0, 0, n, 0, 0) + zero, ((it, n),), (iy, n),
                 (rec.FROM_OP, 0, 2.0))
    trace.record("pag_binary_same", codes["BINARY_SAME"], "double",
                 (carray._BINARY["add"], 0, 0, 0, 0, n, 0, 0) + zero, ((iy, n), (iw, n)), (iy, n))
    return trace, iy


def test_a_hand_made_trace_replays_over_new_inputs(parts):
    carray, _rec, Plan = parts
    trace, iy = hand_made(parts)
    plan = Plan(trace, carray.lib, carray.ffi)
    for values in ([0.0, 1.0, -2.0], [3.0, 0.5, 0.25]):
        x = carray.CArray.from_array(np.array([values]))
        plan.bind_inputs([x])
        plan.run()
        got = plan.output((iy, 1, 3, False)).numpy()
        eager = x.exp() * 2.0 + carray.CArray.full(1, 3, 0.5)  # the same kernels, eagerly
        np.testing.assert_array_equal(got, eager.numpy())
        np.testing.assert_allclose(got, np.exp(np.array([values])) * 2.0 + 0.5, rtol=1e-15)


def test_a_launch_past_a_buffers_end_is_refused_when_the_plan_is_built(parts):
    carray, _rec, Plan = parts
    trace, _iy = hand_made(parts, n=4, out_capacity=2)
    with pytest.raises(CaptureError, match=r"pag_binary_scalar would reach past the end of a "
                                           r"buffer \(4 values of 2\)"):
        Plan(trace, carray.lib, carray.ffi)


def test_inputs_too_small_or_shared_with_the_plans_buffers_are_refused(parts):
    carray, _rec, Plan = parts
    trace, _iy = hand_made(parts)
    plan = Plan(trace, carray.lib, carray.ffi)
    with pytest.raises(CaptureError, match="smaller than when the step was recorded"):
        plan.bind_inputs([carray.CArray.from_array(np.ones((1, 2)))])
    inside = carray.CArray.from_array(np.ones((1, 3)))
    inside.buf = trace.buffers[1].obj  # the external buffer w, posing as an input
    with pytest.raises(CaptureError, match="shares its memory with a buffer"):
        plan.bind_inputs([inside])


def test_the_scalar_table_must_match_what_was_declared(parts):
    carray, _rec, Plan = parts
    trace, _iy = hand_made(parts)
    plan = Plan(trace, carray.lib, carray.ffi)
    with pytest.raises(RuntimeError, match="1 numbers given for a plan recorded with 0"):
        plan.set_scalars([1.0])


def test_saved_values_are_put_back(parts):
    carray, _rec, Plan = parts
    trace, iy = hand_made(parts)
    trace.buffers[iy].origin = "external"  # written outside the plan's scratch: saved
    trace.buffers[iy].capacity = 3
    plan = Plan(trace, carray.lib, carray.ffi)
    plan.bind_inputs([carray.CArray.from_array(np.zeros((1, 3)))])
    saved = plan.save_values()
    before = plan.output((iy, 1, 3, False)).numpy().copy()
    plan.run()
    assert not np.array_equal(plan.output((iy, 1, 3, False)).numpy(), before)
    plan.restore_values(saved)
    np.testing.assert_array_equal(plan.output((iy, 1, 3, False)).numpy(), before)
