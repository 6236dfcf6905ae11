"""Shared fixtures and flags. Every backend-dependent test runs once per backend in
PYAUTOGRAD_TEST_BACKENDS (default: python, c and verify), the one list all test files read.
C_ENABLED says whether that list needs the C build (`c`, or `verify`, which runs C beside Python);
tests that need C are marked `needs_c` and skip only when the list leaves C out. A missing C build
while the list asks for it is an error here, never a silent skip."""
import importlib.util
import os
import pathlib
import threading

import numpy as np
import pytest

import pyautograd
from pyautograd import backends

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    """The script examples/<name>.py (a path under examples/, e.g. "from_pytorch/poly") as a
    module, run once: the tests call its functions."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name.replace("/", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BACKENDS = [b for b in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c,verify").split(",") if b]
C_ENABLED = "c" in BACKENDS or "verify" in BACKENDS
needs_c = pytest.mark.skipif(not C_ENABLED, reason="C backend excluded by PYAUTOGRAD_TEST_BACKENDS")


def pytest_configure(config):
    if C_ENABLED and not backends.c_available():
        raise pytest.UsageError(
            f"PYAUTOGRAD_TEST_BACKENDS={','.join(BACKENDS)} needs the C backend, but it did not "
            f"import ({backends.c_error()}); {backends.BUILD_HINT}, or leave c and verify out of "
            f"PYAUTOGRAD_TEST_BACKENDS")


# The IEEE specials, the edges of the double range, and values whose exp overflows or is subnormal.
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 5e-324, -5e-324,
                    2.2250738585072014e-308, 1e-300, 1.0, -1.0, 0.5, 700.0, -720.0, -750.0, 1000.0,
                    -1000.0])


def fuzz_values(rng: np.random.Generator, shape) -> np.ndarray:
    """Values to fuzz the kernels with, a quarter of each kind: normals at several scales, raw
    64-bit patterns (every kind of double, subnormals and NaNs included), the specials, and
    inputs whose exp is subnormal (-745 < x < -708), where C's vectorised exp and libm's differ."""
    n = shape[0] * shape[1]
    kind = rng.integers(0, 4, n)
    out = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)
    with np.errstate(invalid="ignore"):
        raw = rng.integers(0, 2 ** 63, n, dtype=np.int64).view(np.float64) * rng.choice([-1.0, 1.0], n)
    out = np.where(kind == 1, raw, out)
    out = np.where(kind == 2, rng.choice(SPECIAL, n), out)
    out = np.where(kind == 3, rng.uniform(-745.2, -708.0, n), out)
    return out.reshape(shape)


def in_threads(fn, args):
    """fn(arg) on one thread per arg, all at once: their results in order, or the first exception
    a thread raised (a thread's own exception would otherwise be only a warning)."""
    results, errors = [None] * len(args), []

    def run(i, arg):
        try:
            results[i] = fn(arg)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
    threads = [threading.Thread(target=run, args=item) for item in enumerate(args)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Run the test with `request.param` as the current backend."""
    with pyautograd.backend(request.param):
        yield request.param


# The backend fixture's context spans every example of a hypothesis test, which is what we want.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("pyautograd", suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("pyautograd")
