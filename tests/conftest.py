"""Shared fixtures: every backend-dependent test runs once per backend in PYAUTOGRAD_TEST_BACKENDS
(default: python, c and verify). A missing C build is an error here, never a silent skip."""
import os

import pytest

import pyautograd

BACKENDS = [b for b in os.environ.get("PYAUTOGRAD_TEST_BACKENDS", "python,c,verify").split(",") if b]


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Run the test with `request.param` as the current backend."""
    with pyautograd.backend(request.param):
        yield request.param


# The backend fixture's context spans every example of a hypothesis test, which is what we want.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("pyautograd", suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("pyautograd")
