"""Shared fixtures and flags. Every backend-dependent test runs once per backend in
PYAUTOGRAD_TEST_BACKENDS (default: python, c and verify), the one list all test files read.
C_ENABLED says whether that list needs the C build (`c`, or `verify`, which runs C beside Python);
tests that need C are marked `needs_c` and skip only when the list leaves C out. A missing C build
while the list asks for it is an error here, never a silent skip."""
import os

import pytest

import pyautograd
from pyautograd import backends

BACKENDS = [b for b in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c,verify").split(",") if b]
C_ENABLED = "c" in BACKENDS or "verify" in BACKENDS
needs_c = pytest.mark.skipif(not C_ENABLED, reason="C backend excluded by PYAUTOGRAD_TEST_BACKENDS")


def pytest_configure(config):
    if C_ENABLED and not backends.c_available():
        raise pytest.UsageError(
            f"PYAUTOGRAD_TEST_BACKENDS={','.join(BACKENDS)} needs the C backend, but it did not "
            f"import ({backends.c_error()}); {backends.BUILD_HINT}, or leave c and verify out of "
            f"PYAUTOGRAD_TEST_BACKENDS")


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Run the test with `request.param` as the current backend."""
    with pyautograd.backend(request.param):
        yield request.param


# The backend fixture's context spans every example of a hypothesis test, which is what we want.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("pyautograd", suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("pyautograd")
