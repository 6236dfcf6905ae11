"""Timing: warm-up, calibrated loops, interleaved samples, medians, thread counts held fixed;
and the minor page faults of the timed loops (memory mapped afresh instead of reused)."""
from __future__ import annotations

import contextlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

import pyautograd as ag

try:
    import torch
except ImportError:  # PyTorch is a peer where installed, never a requirement
    torch = None

try:
    import resource
except ImportError:  # Unix only; elsewhere page faults are not counted
    resource = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None


@dataclass
class Case:
    """One row of a table: the same work done by several implementations."""
    suite: str
    name: str
    impls: Dict[str, Callable[[], object]]
    flops: float = 0.0  # per call, for GFLOP/s where it means something
    show_faults: bool = False  # print the page faults in the table (JSON always has them)
    medians: Dict[str, float] = field(default_factory=dict)  # seconds per call
    faults: Dict[str, float] = field(default_factory=dict)  # minor page faults per call
    skipped: Dict[str, str] = field(default_factory=dict)


def minor_faults() -> int:
    """Minor page faults of this process so far (every thread); 0 where they are not counted."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


@contextlib.contextmanager
def threads(n: int) -> Iterator[Dict[str, str]]:
    """Hold every library to n threads; yields what was set, for the report."""
    notes = {}
    ag.set_num_threads(n)
    notes["pyautograd"] = str(n)
    old_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
        notes["torch"] = str(n)
    limiter = threadpool_limits(limits=n) if threadpool_limits is not None else contextlib.nullcontext()
    with limiter:
        notes["numpy"] = str(n) if threadpool_limits is not None else "not controlled (pip install threadpoolctl)"
        try:
            yield notes
        finally:
            if old_torch is not None:
                torch.set_num_threads(old_torch)


# Calls before the loop count is calibrated: a compiled step runs eagerly once and records twice
# before it replays; calibrated on a recording (tens of ms), it was timed one cold call a sample.
WARMUP_CALLS = 4


def _loops_for(fn: Callable[[], object], target: float) -> int:
    """How many calls make one sample of about `target` seconds."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(target / max(once, 1e-9)))


def run_case(case: Case, repeats: int, sample_seconds: float, cap_seconds: float,
             progress: Optional[Callable[[str], None]] = None, settle_seconds: float = 0.02) -> Case:
    """Warm up each implementation, then take `repeats` samples of each, interleaved
    (impl A, B, C, A, B, C, ...), so that machine noise falls on all of them alike. Minor page
    faults are counted over the timed loops only (not the warm-up), per call."""
    loops = {}
    for name, fn in case.impls.items():
        start = time.perf_counter()
        fn()  # warm-up (and the first-call costs: allocation, caches)
        once = time.perf_counter() - start
        if once > cap_seconds:
            case.skipped[name] = f"one call took {once:.2f} s > cap {cap_seconds} s"
            continue
        for _ in range(WARMUP_CALLS - 1):
            fn()
        loops[name] = _loops_for(fn, sample_seconds)
    samples: Dict[str, List[float]] = {name: [] for name in loops}
    faults = {name: 0 for name in loops}
    for rep in range(repeats):
        for name in loops:
            # Let the previous library's worker threads stop spinning: OpenBLAS and OpenMP
            # pools busy-wait after a call and would otherwise hold the other core.
            time.sleep(settle_seconds)
            if progress:
                progress(f"{case.suite}: {case.name} | {name} ({rep + 1}/{repeats})")
            fn, n = case.impls[name], loops[name]
            fn()  # untimed: wakes this library's thread pool after the others had the cores
            faults_before = minor_faults()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
            faults[name] += minor_faults() - faults_before
    case.medians = {name: statistics.median(values) for name, values in samples.items()}
    if resource is not None:
        case.faults = {name: faults[name] / (loops[name] * repeats) for name in loops}
    return case


_last_case = [""]


def progress_line(message: str) -> None:
    """Redraw one line on a terminal; elsewhere, one line per case."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + message[:110])
    elif message and message.split(" | ")[0] != _last_case[0]:
        _last_case[0] = message.split(" | ")[0]
        sys.stderr.write(f"running {_last_case[0]}\n")
    sys.stderr.flush()
