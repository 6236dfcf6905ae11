"""The differential fuzzer of ag.compile (tests/compile_fuzz.py) under hypothesis: random
training programs with random events between calls, eager and compiled side by side from the
same seed; a difference in loss, parameters, gradients or optimizer state fails with the shrunk
program. A fixed seed and a CI-sized count (PYAUTOGRAD_COMPILE_FUZZ: default 200, .ci/run 300)."""
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyautograd import backends

from compile_fuzz import Draw, program, run

EXAMPLES = int(os.environ.get("PYAUTOGRAD_COMPILE_FUZZ", "200"))


@pytest.mark.skipif(not backends.c_available(), reason="compile replays on the C backend only")
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_compiled_programs_never_diverge_from_eager(data):
    prog = program(Draw(lambda lo, hi: data.draw(st.integers(lo, hi))))
    outcome, detail = run(prog)
    assert outcome != "diverged", f"{detail}\nprogram: {prog}"
