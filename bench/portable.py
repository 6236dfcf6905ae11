"""The `portable` suite: the default (portable, runtime-dispatched) build of the C kernels against
a -march=native build of the same sources, on the matmul at n = 256, 512, 1024.

Both variants are compiled here, into a temporary directory, under module names of their own, so
that the comparison does not depend on how the installed extension was built. The target
(issue 14): the portable build reaches at least 90% of the native build's GFLOP/s, i.e.
median(native) / median(portable) >= 0.9 per row.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from typing import Dict, List

import numpy as np

from .harness import Case

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {"pyautograd-c": {}, "pyautograd-c-native": {"PYAUTOGRAD_NATIVE": "1"}}
_built: Dict[str, object] = {}  # variant -> its compiled module, once per process


def build(variant: str, tmpdir: str):
    """Compile the kernels with the variant's flags as `_pag_bench_<variant>._ckernels` in tmpdir
    and import it (the module's own name must end in _ckernels for its init function)."""
    sys.path.insert(0, os.path.join(ROOT, "pyautograd", "backends"))
    try:
        from _build_c import make_builder
    finally:
        sys.path.pop(0)
    package = "_pag_bench_" + variant.replace("-", "_")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYAUTOGRAD_NATIVE", "PYAUTOGRAD_SANITIZE", "PYAUTOGRAD_PORTABLE")}
    env.update(VARIANTS[variant])
    path = make_builder(f"{package}._ckernels", env, absolute=True).compile(tmpdir=tmpdir)
    spec = importlib.util.spec_from_file_location(f"{package}._ckernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _modules() -> Dict[str, object]:
    if not _built:
        tmpdir = tempfile.mkdtemp(prefix="pyautograd-portable-")
        try:
            for variant in VARIANTS:
                _built[variant] = build(variant, os.path.join(tmpdir, variant))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)  # a loaded .so stays mapped
    return _built


def _matmul(module, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    ffi, lib = module.ffi, module.lib
    n = a.shape[0]
    pa, pb, pc = (ffi.from_buffer("double[]", x) for x in (a, b, c))

    def run() -> np.ndarray:
        # One thread: the comparison is of instruction sets, not of thread pools.
        if lib.pag_matmul(0, 0, n, n, n, pa, pb, 0, pc, 1) != 0:
            raise MemoryError(f"matmul ({n}, {n}) @ ({n}, {n}): packing buffers")
        return c
    return run


def variant_names() -> Dict[str, str]:
    """Which kernel variant each build runs on this CPU (for the report)."""
    return {name: module.ffi.string(module.lib.pag_cpu_variant()).decode()
            for name, module in _modules().items()}


def portable(quick: bool) -> List[Case]:
    """Rows `matmul n=N portable vs native`: impl `pyautograd-c` is the portable build,
    `pyautograd-c-native` the -march=native one, both on one thread."""
    modules = _modules()
    rng = np.random.default_rng(0)
    cases = []
    for n in ([64] if quick else [256, 512, 1024]):
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        impls = {name: _matmul(module, a, b, np.empty((n, n))) for name, module in modules.items()}
        cases.append(Case("portable", f"matmul n={n} portable vs native", impls, flops=2.0 * n ** 3))
    return cases
