"""backends/recording.py on its own: what a recorded step's trace holds, and what it refuses.
Storages are used directly (no Matrix, no compile): this is the layer below both."""
import numpy as np
import pytest

from conftest import needs_c
from pyautograd.errors import CaptureError

pytestmark = needs_c


@pytest.fixture
def rec():
    from pyautograd.backends import recording
    return recording


def c_storage(values, dtype=np.float64):
    from pyautograd.backends.carray import CArray
    return CArray.variants[np.dtype(dtype)].from_array(np.asarray(values, dtype=dtype))


def test_a_trace_holds_each_launch_with_its_buffers_by_origin(rec):
    x = c_storage([[1.0, 2.0], [3.0, 4.0]])
    w = c_storage([[0.5, -1.0], [2.0, 0.25]])  # external: made before the step
    inputs = {rec.hooks().ffi.cast("uintptr_t", x.buf).__int__(): 0}

    def step():
        y = (x @ w).exp()  # allocated during the step
        return y.sum()
    trace, result = rec.record(step, inputs)
    names = trace.names
    assert names == ["pag_matmul", "pag_unary", "pag_reduce"]
    origins = [b.origin for b in trace.buffers]
    assert origins[:2] == ["input", "external"] and set(origins[2:]) == {"internal"}
    assert result.item() == pytest.approx(np.exp(np.array([[1, 2], [3, 4]]) @ np.array(
        [[0.5, -1.0], [2.0, 0.25]])).sum())
    kinds = rec.plan_codes(rec.hooks().lib)
    assert [op[0] for op in trace.ops] == [kinds["MATMUL"], kinds["UNARY"], kinds["REDUCE"]]


def test_every_recordable_kernel_has_a_plan_kind_in_the_library(rec):
    from pyautograd.backends import carray
    codes = rec.plan_codes(carray.lib)
    assert set(codes) == {k.kind for k in rec.KERNELS.values()} | {rec.COPY_KIND}
    assert len(set(codes.values())) == len(codes)
    for name in rec.KERNELS:  # each row names a kernel of both dtypes
        assert callable(getattr(carray.lib, name)) and callable(getattr(carray.lib, name + "_f32"))


def test_the_kernel_rows_take_the_headers_argument_counts(rec):
    import pathlib
    import re
    header = (pathlib.Path(__file__).resolve().parents[2] / "csrc" / "pyautograd.h").read_text()
    for name, kernel in rec.KERNELS.items():
        found = re.search(rf"\b{name}\(([^)]*)\)", header)
        assert found, name
        assert kernel.launch.__code__.co_argcount == len(found.group(1).split(",")), name


def test_reading_values_in_python_is_refused_while_verify_reads_pass(rec):
    x = c_storage([[1.0, 2.0]])

    def reads():
        return (x * 2.0).numpy()
    with pytest.raises(CaptureError, match="reads a matrix's values in Python"):
        rec.record(reads, {})

    def internal():
        y = x * 2.0
        with rec.internal_read():
            return y.numpy().copy()
    _trace, got = rec.record(internal, {})
    np.testing.assert_array_equal(got, [[2.0, 4.0]])


def test_an_item_value_goes_into_a_kernel_but_not_into_python(rec):
    x = c_storage([[3.0]])

    def into_kernel():
        s = (x * 2.0).item()
        assert type(s) is rec.ItemValue and rec.plain_number(s) == 6.0
        return type(x).full(1, 2, s)  # as ops.expand broadcasts a 1x1 gradient
    trace, out = rec.record(into_kernel, {})
    np.testing.assert_array_equal(out.numpy(), [[6.0, 6.0]])
    assert trace.ops[-1][rec.SCALAR_FROM] == rec.FROM_BUFFER

    def in_python():
        return float((x * 2.0).item()) + 1.0
    with pytest.raises(CaptureError, match=r"computes with it in Python"):
        rec.record(in_python, {})


def test_declared_numbers_become_scalar_table_entries(rec):
    x = c_storage([[1.0, 2.0]])

    def step():
        (lr,) = rec.declare_scalars((0.1,), "source", ("key",))
        return x * lr
    trace, _ = rec.record(step, {})
    assert trace.declared == [rec.Declared("source", ("key",), 0, 1)]
    assert trace.ops[-1][rec.SCALAR_FROM] == rec.FROM_TABLE
    assert rec.declare_scalars((0.5,), None, None) == (0.5,)  # outside a recording: as given


def test_two_dtypes_in_one_trace_are_refused(rec):
    a, b = c_storage([[1.0]]), c_storage([[1.0]], np.float32)

    def mixed():
        return (a + a, b + b)
    with pytest.raises(CaptureError, match="launches float32 kernels .* and float64 ones"):
        rec.record(mixed, {})


def test_a_number_that_changes_between_two_recordings_is_named(rec):
    x = c_storage([[1.0]])
    first, _ = rec.record(lambda: x * 0.5, {})
    second, _ = rec.record(lambda: x * 0.25, {})
    assert first.signature() != second.signature()
    assert "got the number 0.5 in one step and 0.25" in rec.describe_difference(first, second)


def test_check_zero_registers_a_check_on_the_buffer(rec):
    count = c_storage([[0.0]])
    trace, _ = rec.record(lambda: rec.check_zero(count * 1.0, lambda: ValueError("no")), {})
    assert len(trace.checks) == 1
    with pytest.raises(ValueError, match="no"):
        rec.check_zero(c_storage([[1.0]]), lambda: ValueError("no"))


def test_other_threads_run_the_real_kernels_while_one_records(rec):
    import threading
    x = c_storage([[2.0]])
    seen = []

    def other():
        seen.append(rec.capturing())
        seen.append((x * 3.0).numpy()[0, 0])  # no refusal: not the recording thread

    def step():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        return x * 1.0
    rec.record(step, {})
    assert seen == [False, 6.0]
