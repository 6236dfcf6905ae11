"""The hardening table of issue 14: hostile input and process tricks that used to crash, hang or
round badly. Each row: never a crash, a clear error where the input is at fault, the right number
otherwise."""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyautograd as ag
from pyautograd.backends import list2d

from conftest import C_ENABLED, needs_c



def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


class Lying(np.ndarray):
    """An ndarray subclass that claims a far larger shape than its buffer has."""
    shape = property(lambda self: (4096, 4096))
    size = property(lambda self: 4096 * 4096)


def test_an_ndarray_subclass_lying_about_its_shape_is_read_by_its_real_buffer(backend_name):
    arr = np.arange(4.0).reshape(2, 2)
    liar = arr.view(Lying)
    assert liar.shape == (4096, 4096)
    m = ag.from_numpy(liar)
    assert m.shape == (2, 2)
    assert m.sum().item() == 6.0
    assert ag.mat(liar).tolist() == [[0.0, 1.0], [2.0, 3.0]]


@needs_c
def test_the_lying_subclass_does_not_crash_a_fresh_interpreter():
    result = _python("""
        import numpy as np, pyautograd as ag
        class Lying(np.ndarray):
            shape = property(lambda s: (4096, 4096))
        print(ag.from_numpy(np.zeros((2, 2)).view(Lying)).sum().item())
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.0"]


@needs_c
def test_a_forked_child_computes_a_matmul_after_the_parent_used_threads():
    # Before: the child waited forever for the parent's OpenMP threads, which fork() does not copy.
    result = _python("""
        import os
        import numpy as np, pyautograd as ag
        ag.set_num_threads(2)
        a = ag.mat(np.random.default_rng(0).standard_normal((400, 400)))
        expected = (a @ a).numpy().copy()            # large enough to run on 2 threads
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal((a @ a).numpy(), expected) and ag.get_num_threads() == 1
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), ag.get_num_threads())
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "2"]  # the child computed; the parent keeps its threads


@needs_c
def test_a_forked_child_asking_for_threads_is_warned_and_stays_on_one():
    result = _python("""
        import os, warnings
        import numpy as np, pyautograd as ag
        a = ag.mat(np.ones((300, 300)))
        a @ a
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ag.set_num_threads(2)
            ok = ag.get_num_threads() == 1 and "forked" in str(caught[0].message)
            (a @ a).sum()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]


def test_python_backend_refuses_a_huge_matrix_at_once_naming_its_size():
    with ag.backend("python"):
        with pytest.raises(MemoryError, match=r"zeros: a \(1000000, 1000000\) matrix has "
                                              r"1,000,000,000,000 values.*use the C backend"):
            ag.zeros(10 ** 6, 10 ** 6)
        with pytest.raises(MemoryError, match=r"randn: a \(100000, 100000\)"):
            ag.randn(10 ** 5, 10 ** 5)
        col, row = ag.ones(10 ** 5, 1), ag.ones(1, 10 ** 5)
        with pytest.raises(MemoryError, match=r"add: a \(100000, 100000\)"):
            col + row
        with pytest.raises(MemoryError, match=r"matmul: a \(100000, 100000\)"):
            col @ row
    list2d.check_size("zeros", 1, list2d.MAX_ELEMENTS)  # the limit itself is allowed
    with pytest.raises(MemoryError):
        list2d.check_size("zeros", 1, list2d.MAX_ELEMENTS + 1)


def test_sums_are_pairwise_with_numpy_level_error(backend_name):
    values = np.full((1000, 1000), 0.1)
    exact = math.fsum(values.ravel())
    m = ag.mat(values)
    assert abs(m.sum().item() - exact) / exact < 1e-15  # a running sum is off by 1.3e-11
    assert abs(m.mean().item() - exact / 1e6) / (exact / 1e6) < 1e-15
    rows = ag.mat(np.full((3, 1_000_000), 0.1)).sum(axis=1).numpy()[:, 0]
    assert np.all(np.abs(rows - 100000.0) / 100000.0 < 1e-15)


def test_pairwise_sums_agree_bit_for_bit_across_backends():
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 127, 128, 129, 255, 256, 1000, 4099, 100_003):
        values = rng.standard_normal((1, n)) * 10.0 ** rng.integers(-5, 6, (1, n))
        sums = []
        for backend in ("python", "c") if C_ENABLED else ("python",):
            with ag.backend(backend):
                m = ag.mat(values)
                sums.append((m.sum().item(), m.mean().item(), m.T.sum(axis=0).item()))
        assert len(set(sums)) == 1, (n, sums)
    assert list2d.pairwise_sum([-0.0]) == 0.0 and math.copysign(1, list2d.pairwise_sum([-0.0])) == 1


@needs_c
@pytest.mark.parametrize("n,message", [
    (2 ** 31, "set_num_threads: 2147483648 threads is more than the 1024 the C matmul can be given"),
    (1025, "set_num_threads: 1025 threads is more than the 1024"),
    (0, "set_num_threads: expected a positive integer, got 0"),
    (-1, "set_num_threads: expected a positive integer, got -1"),
    (2.0, "set_num_threads: expected a positive integer, got 2.0"),
    (True, "set_num_threads: expected a positive integer, got True"),
    ("4", "set_num_threads: expected a positive integer, got '4'"),
])
def test_set_num_threads_rejects_absurd_counts_up_front(n, message):
    before = ag.get_num_threads()
    with pytest.raises(ValueError, match=message):
        ag.set_num_threads(n)
    assert ag.get_num_threads() == before
    a = ag.mat(np.ones((300, 300)))
    assert (a @ a).sum().item() == 300.0 ** 3  # matmuls still run
    ag.set_num_threads(np.int64(1))
    ag.set_num_threads(before)


def test_assigning_data_converts_arrays_and_refuses_what_it_cannot_use(backend_name):
    """`W.data = ndarray` converts to W's backend (the layer then works); a storage of another
    backend or an object that is not values is a TypeError at the assignment, naming it."""
    from pyautograd import nn
    layer = nn.Linear(2, 3)
    layer.weight.data = np.ones((3, 2))
    assert layer.weight.backend == backend_name
    assert layer(np.ones((1, 2))).tolist() == (np.full((1, 3), 2.0) + layer.bias.numpy()).tolist()
    layer.weight.data = ag.mat([[0.5, 0.5]] * 3)  # a Matrix gives its values
    assert layer.weight.tolist() == [[0.5, 0.5]] * 3
    with pytest.raises(TypeError, match="data: expected real numbers, got str"):
        layer.weight.data = "weights"
    other = "python" if backend_name != "python" else "verify"
    if C_ENABLED:
        with ag.backend(other):
            foreign = ag.mat([[1.0, 2.0]]).data
        with pytest.raises(TypeError, match=f"data: the assigned storage is on backend '{other}'"):
            layer.weight.data = foreign
