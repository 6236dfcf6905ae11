"""Peak resident memory of train steps (issue 24): each implementation runs `STEPS` steps in a
Python process of its own, which imports no other peer, and reports the growth of its resident
set: its peak after the last step less its size just before the step is built (the NumPy data
made), in MiB. That takes in the step's copies of the data and parameters, what it allocates,
and one-time costs: JAX's compilation, ag.compile's recordings, caches and pools. On Linux both
numbers come from /proc/self/status (VmHWM, VmRSS): `ru_maxrss` there starts at the parent's
peak, and a peak left by the imports would hide the steps' growth; elsewhere both are
`ru_maxrss`. `python -m bench.memory KIND NxDxH DTYPE IMPL [STEPS]` prints the number (or null)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

try:
    import resource
except ImportError:  # Unix only; elsewhere the memory columns stay empty
    resource = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 20
MEMORY_IMPLS = ("pyautograd-c", "compiled", "numpy", "torch", "jax", "hips-autograd")
PEER_MODULES = {"torch": "torch", "jax": "jax", "hips-autograd": "autograd"}


def _proc_status_mib(field: str) -> Optional[float]:
    """A `kB` field of /proc/self/status (VmHWM, VmRSS) in MiB; None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2 ** 10
    except OSError:
        pass
    return None


def max_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB: VmHWM where /proc has it, else
    `ru_maxrss` (Linux counts KiB, macOS bytes). On Linux `ru_maxrss` starts from the parent's
    peak after fork and exec: a child of a large bench process would show none of its own."""
    peak = _proc_status_mib("VmHWM")
    if peak is not None:
        return peak
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2 ** 20 if sys.platform == "darwin" else rss / 2 ** 10


def rss_now_mib() -> float:
    """This process's resident set size now, in MiB (its peak so far where /proc is missing)."""
    now = _proc_status_mib("VmRSS")
    return max_rss_mib() if now is None else now


def measure_here(kind: str, size: Sequence[int], dtype: str, impl: str,
                 steps: int = STEPS) -> Optional[float]:
    """In this process, on one thread: the peak RSS growth of building impl's step and running
    it `steps` times, in MiB; None where impl is not installed."""
    from .harness import threads
    from .suites import train_data, train_steps
    data = train_data(*size)
    with threads(1):
        before = rss_now_mib()
        built = train_steps(kind, *size, with_python=False, dtype=dtype, only={impl}, data=data)
        if impl not in built:
            return None
        for _ in range(steps):
            built[impl]()
        return max(0.0, max_rss_mib() - before)


def peak_growth_mib(kind: str, size: Sequence[int], dtype: str, impl: str, steps: int = STEPS,
                    timeout: float = 600.0) -> Optional[float]:
    """measure_here run in a fresh process; None where impl is not installed or memory is not
    measured (no `resource` module)."""
    if resource is None:
        return None
    command = [sys.executable, "-m", "bench.memory", kind, "x".join(str(s) for s in size), dtype,
               impl, str(steps)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_rows(cases: Sequence[tuple], impls: Sequence[str] = MEMORY_IMPLS,
                progress=None) -> Dict[tuple, Dict[str, Optional[float]]]:
    """{(kind, size, dtype): {impl: MiB or None}} for each (kind, size, dtype) in cases."""
    rows = {}
    for kind, size, dtype in cases:
        rows[(kind, tuple(size), dtype)] = row = {}
        for impl in impls:
            if progress:
                progress(f"memory: {kind} {dtype} {size} | {impl}")
            row[impl] = peak_growth_mib(kind, size, dtype, impl)
    return rows


def main(argv: Sequence[str]) -> None:
    kind, size, dtype, impl = argv[:4]
    for other, module in PEER_MODULES.items():
        if other != impl and module not in sys.modules:
            sys.modules[module] = None  # `import module` raises ImportError: the peer stays out
    steps = int(argv[4]) if len(argv) > 4 else STEPS
    print(json.dumps(measure_here(kind, [int(s) for s in size.split("x")], dtype, impl, steps)))


if __name__ == "__main__":
    main(sys.argv[1:])
