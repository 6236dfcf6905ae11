"""Backend selection, fallback without the C build, mixing and conversion."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import backends

from conftest import C_ENABLED, in_threads, needs_c

# Imported before pyautograd, this hides the compiled extension as if it had never been built.
HIDE_C = """
import sys
class _HideC:
    def find_spec(self, name, path=None, target=None):
        if name == "pyautograd.backends._ckernels":
            raise ImportError("hidden by the test")
sys.meta_path.insert(0, _HideC())
"""


def _run(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "PYAUTOGRAD_BACKEND"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, env=full_env, timeout=120)


@needs_c
def test_c_is_the_default_when_built():
    result = _run("import pyautograd; print(pyautograd.get_backend())")
    assert result.stdout.strip() == "c", result.stderr
    assert "Warning" not in result.stderr


def test_environment_variable_chooses_the_backend():
    result = _run("import pyautograd; print(pyautograd.get_backend(), pyautograd.mat(1).backend)",
                  PYAUTOGRAD_BACKEND="python")
    assert result.stdout.split() == ["python", "python"], result.stderr


def test_missing_c_build_falls_back_to_python_with_one_warning():
    result = _run(HIDE_C + "import pyautograd\nimport pyautograd.matrix\n"
                  "print(pyautograd.get_backend(), (pyautograd.mat([[2.0]]) * 3).item())")
    assert result.stdout.split() == ["python", "6.0"], result.stderr
    assert result.stderr.count("C extension is not built") == 1
    assert "pip install -e ." in result.stderr


def test_asking_for_c_without_the_build_raises():
    result = _run(HIDE_C + "import pyautograd\ntry:\n    pyautograd.set_backend('c')\n"
                  "except RuntimeError as e:\n    print('raised:', e)")
    assert "raised: backend 'c' is not available" in result.stdout, result.stderr
    assert "pip install -e ." in result.stdout
    result = _run(HIDE_C + "import pyautograd", PYAUTOGRAD_BACKEND="c")
    assert result.returncode != 0 and "backend 'c' is not available" in result.stderr


def test_set_backend_and_the_backend_block(backend_name):
    other = "python" if backend_name == "c" or not C_ENABLED else "c"
    before = ag.get_backend()
    with ag.backend(other):
        assert ag.get_backend() == other and ag.mat(1.0).backend == other
        with pytest.raises(KeyError):
            with ag.backend(backend_name):
                assert ag.get_backend() == backend_name
                raise KeyError("leaves the block")
        assert ag.get_backend() == other
    assert ag.get_backend() == before
    previous = backends._default_name
    try:
        ag.set_backend("python")
        with ag.backend(backend_name):
            assert ag.get_backend() == backend_name
    finally:
        ag.set_backend(previous)


@needs_c
def test_backend_blocks_are_private_to_their_thread():
    seen = {}
    barrier = threading.Barrier(2)

    def worker(name):
        with ag.backend(name):
            barrier.wait()
            seen[name] = (ag.get_backend(), ag.mat(1.0).backend)
            barrier.wait()

    in_threads(worker, ["python", "c"])
    assert seen == {"python": ("python", "python"), "c": ("c", "c")}


@needs_c
def test_mixing_backends_raises_and_to_converts_with_gradient():
    with ag.backend("python"):
        p = ag.mat([[1.0, 2.0]])
    with ag.backend("c"):
        c = ag.mat([[3.0, 4.0]])
    with pytest.raises(TypeError, match=r"add: cannot mix backends 'python' and 'c'"):
        p + c
    with pytest.raises(TypeError, match=r"matmul: cannot mix backends 'c' and 'python'"):
        c @ p.T
    moved = p.to("c")
    assert moved.backend == "c" and moved.tolist() == p.tolist()
    assert p.to("python") is p
    (moved * c).sum().backward()
    assert p.grad.tolist() == [[3.0, 4.0]] and type(p.grad).backend_name == "python"


def test_the_storage_classes_report_their_names():
    assert backends.storage_class("python").backend_name == "python"
    if C_ENABLED:
        assert backends.storage_class("c").backend_name == "c"


@needs_c
def test_the_matmul_gives_the_same_bits_on_any_thread_count():
    from pyautograd.backends.carray import CArray
    rng = np.random.default_rng(3)
    a, b = CArray.from_array(rng.standard_normal((300, 257))), CArray.from_array(rng.standard_normal((257, 190)))
    before = ag.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            ag.set_num_threads(n)
            assert ag.get_num_threads() == n
            results.append((a @ b).numpy().copy())
            acc = CArray.from_array(np.ones((257, 257)))
            acc.add_matmul_(a, a, trans_a=True)
            results.append(acc.numpy().copy())
        assert all(np.array_equal(results[i], results[i % 2]) for i in range(len(results)))
        with pytest.raises(ValueError, match="set_num_threads: expected a positive integer, got 0"):
            ag.set_num_threads(0)
    finally:
        ag.set_num_threads(before)
