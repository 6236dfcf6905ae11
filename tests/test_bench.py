"""The benchmark compares like with like: every implementation of a row, called once on a fresh
build of the suites (quick sizes), returns the same values, so none of them times other arrays
or other parameters than its neighbours. Nothing here is timed."""
import pathlib
import sys

import numpy as np
import pytest

ROOT = str(pathlib.Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # `pytest` run without `python -m` does not put the root on the path
    sys.path.append(ROOT)

from bench import harness  # noqa: E402
from bench.suites import SUITES  # noqa: E402

# Relative tolerance per suite: kernels and train steps sum in different orders in each library
# (matmul blocking, reductions), the 1x1 overhead rows add two small integers exactly.
RTOL = {"kernels": 1e-10, "overhead": 0.0, "train": 1e-10}


def as_array(value) -> np.ndarray:
    """A Matrix, a storage, a torch tensor, an ndarray or a float as a 2-D float64 copy
    (a copy now, while the value is alive: a C storage's view reads a pooled buffer)."""
    if harness.torch is not None and isinstance(value, harness.torch.Tensor):
        value = value.detach().numpy()
    elif hasattr(value, "numpy"):
        value = value.numpy()
    return np.atleast_2d(np.array(value, dtype=np.float64))


@pytest.fixture(scope="module")
def first_calls():
    """{(suite, case): {implementation: values of its first call}} over every quick suite."""
    calls = {}
    for suite, build in SUITES.items():
        for case in build(True):
            calls[(suite, case.name)] = {impl: as_array(fn()) for impl, fn in case.impls.items()}
    return calls


def reference(values: dict) -> str:
    return "numpy" if "numpy" in values else "pyautograd-c"


@pytest.mark.parametrize("impl", ["pyautograd-c", "pyautograd-python", "torch"])
def test_every_implementation_of_a_row_computes_what_its_reference_does(first_calls, impl):
    if impl == "torch" and harness.torch is None:
        pytest.skip("PyTorch is not installed: its column is not built")
    compared, wrong = 0, []
    for (suite, name), values in first_calls.items():
        ref = reference(values)
        if impl not in values or impl == ref:
            continue
        got, want = values[impl], values[ref]
        scale = float(np.abs(want).max()) if want.size else 0.0
        if got.shape != want.shape:
            wrong.append(f"{suite}: {name}: shape {got.shape} against {ref}'s {want.shape}")
        elif not np.allclose(got, want, rtol=RTOL[suite], atol=RTOL[suite] * scale):
            wrong.append(f"{suite}: {name}: largest difference {np.abs(got - want).max():.3g} "
                         f"from {ref}'s values (scale {scale:.3g})")
        compared += 1
    assert not wrong, f"{impl} does not do its row's work:\n" + "\n".join(wrong)
    assert compared >= 10, f"only {compared} rows have both {impl} and a reference"


def test_both_train_steps_start_from_the_same_data_and_parameters(first_calls):
    """The lecture and nn steps are the same network: their first losses agree at each size."""
    sizes = 0
    for (suite, name), values in first_calls.items():
        if suite == "train" and name.startswith("lecture "):
            twin = first_calls[("train", "nn " + name[len("lecture "):])]
            np.testing.assert_allclose(values["numpy"], twin["numpy"], rtol=0)
            np.testing.assert_allclose(values["pyautograd-c"], twin["pyautograd-c"], rtol=RTOL["train"])
            sizes += 1
    assert sizes == 2  # the quick sizes


def test_every_row_has_a_reference_and_something_to_compare_with_it(first_calls):
    for (suite, name), values in first_calls.items():
        assert {"pyautograd-c", "pyautograd-python"} <= set(values), (suite, name)
        assert reference(values) in values
