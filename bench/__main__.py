"""python -m bench: pyautograd (C and Python backends) against hand-written NumPy and PyTorch, and
in the train suites JAX and HIPS autograd (where installed)."""
from __future__ import annotations

import argparse
import os
import sys
import time

from . import memory, peers, report
from .harness import progress_line, run_case, threads, threadpool_limits, torch
from .suites import STEPS, SUITES, TRAIN_SIZES

HERE = os.path.dirname(os.path.abspath(__file__))
FAULTS_NOTE = ("Train cells also give minor page faults per step (`ru_minflt` over the timed loops): "
               "memory mapped afresh by the step instead of reused.")
TARGETS_HEADING = ("Targets (ratios of medians in one run, 1 thread; when the run has more thread "
                   f"counts, also the thread rule: {report.THREADED} never more than "
                   f"{100 * (report.THREAD_SLACK - 1):.0f}% slower on more threads than on 1)")
MEMORY_HEADING = (f"Peak memory growth over {memory.STEPS} train steps (peak resident set, each "
                  "implementation alone in a fresh process, 1 thread; it includes the step's copies "
                  "of the data and parameters and one-time costs: JAX's compilation, ag.compile's "
                  "recordings, pools and caches)")
# --quick measures memory in the processes that start fast (no torch or jax to import): a smoke test
QUICK_MEMORY_IMPLS = ("pyautograd-c", "compiled", "numpy")
SLOWER_HEADING = (f"Rows more than {100 * (report.THREAD_SLACK - 1):.0f}% slower on more threads "
                  f"than on 1 ({report.THREADED} first: the rule holds it to none; the other "
                  "implementations show how noisy the machine was)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="every suite once at tiny sizes (a smoke test; CI runs it)")
    parser.add_argument("--suites", default=",".join(SUITES),
                        help=f"comma-separated subset of {','.join(SUITES)}")
    parser.add_argument("--threads", default="1,2", help="thread counts to run at (default 1,2)")
    parser.add_argument("--repeats", type=int, default=15, help="samples per implementation")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory table of the train suites (one process per cell)")
    parser.add_argument("--no-results-md", action="store_true",
                        help="do not rewrite bench/RESULTS.md after a full run")
    args = parser.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {list(SUITES)}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    repeats, sample, cap = (1, 0.0, 5.0) if args.quick else (args.repeats, 0.05, 2.0)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    if os.environ.get("OPENBLAS_CORETYPE"):
        print("note: OPENBLAS_CORETYPE is set, which slows NumPy; unset it (and OPENBLAS_L2_SIZE) "
              "for this command to compare against NumPy at its best")
    if torch is None:
        print("note: PyTorch is not installed; its columns stay empty")
    if threadpool_limits is None:
        print("note: threadpoolctl is not installed, NumPy's threads are not controlled "
              "(pip install threadpoolctl)")
    for name, module in (("JAX", peers.jax), ("HIPS autograd", peers.autograd)):
        if module is None:
            print(f"note: {name} is not installed; its train columns stay empty "
                  "(pip install -e '.[bench]')")
    if peers.jax is not None:
        busy = peers.jax_busy_threads()
        print(f"jax: {peers.JAX_THREADS}; a jitted matmul kept {busy} thread(s) busy"
              + ("" if busy in (1, None) else " -- NOT held to one thread, its column is unfair"))

    results = []
    started = time.perf_counter()
    for n_threads in thread_counts:
        with threads(n_threads) as notes:
            if peers.jax is not None:
                notes["jax"] = "1 (fixed when jax is imported)"
            print(f"threads: {n_threads} ({', '.join(f'{k} {v}' for k, v in notes.items())})")
            for suite in suites:
                for case in SUITES[suite](args.quick):
                    run_case(case, repeats, sample, cap, progress_line)
                    results.append((n_threads, case))
    peak = {}
    if not args.no_memory:
        impls = QUICK_MEMORY_IMPLS if args.quick else memory.MEMORY_IMPLS
        peak = memory.memory_rows(memory_cases(suites, args.quick), impls, progress_line)
    progress_line("")
    print()
    text = report.table(results)
    found = report.slower_on_more_threads(results)
    targets = report.check_targets(results) + report.thread_target(results, found)
    slower = report.thread_lines(found)
    print(text)
    if any(case.show_faults for _, case in results):
        print(f"\n{FAULTS_NOTE}")
    print(f"\n{TARGETS_HEADING}:")
    print("\n".join(targets) if targets else "(none measured in this run)")
    if slower:
        print(f"\n{SLOWER_HEADING}:")
        print("\n".join(slower))
    memory_text = report.memory_table(peak) if peak else ""
    if memory_text:
        print(f"\n{MEMORY_HEADING}, MiB:\n{memory_text}")
    out_dir = os.path.join(HERE, "results")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report.write_json(results, os.path.join(out_dir, f"bench-{stamp}.json"), command, peak)
    plotted = report.write_plot(results, os.path.join(out_dir, "bench.png"))
    print(f"\nJSON in bench/results/bench-{stamp}.json"
          + ("; plot in bench/results/bench.png" if plotted else "; no plot (matplotlib missing)")
          + f"; {time.perf_counter() - started:.0f} s")
    if not args.quick and not args.no_results_md and set(suites) == set(SUITES):
        write_results_md(command, text, targets, slower, memory_text)
        print("bench/RESULTS.md rewritten")
    return 0


def memory_cases(suites, quick: bool):
    """(kind, size, dtype) of the peak-memory table: both steps at the largest train size in the
    dtypes of the selected train suites; the lecture step at (64, 16, 32) for --quick."""
    if quick:
        return [("lecture", TRAIN_SIZES[1], "float64")] if "train" in suites else []
    dtypes = [d for suite, d in (("train", "float64"), ("float32", "float32")) if suite in suites]
    return [(kind, TRAIN_SIZES[-1], dtype) for dtype in dtypes for kind in STEPS]


def write_results_md(command: str, text: str, targets, slower, memory_text: str = "") -> None:
    m = report.machine()
    profile = report.profile_paragraph()
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write(f"# Benchmark results\n\nWritten by `{command.strip()}` on {time.strftime('%Y-%m-%d')} "
                f"(regenerate with the same command).\n\n"
                f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy "
                f"{m['numpy']}, PyTorch {m['torch']}, JAX {m['jax']}, HIPS autograd "
                f"{m['autograd']}, pyautograd {m['pyautograd']}.\n\n"
                "Medians of interleaved samples; every implementation held to the thread count of "
                "its row. `c / torch` below 1 means pyautograd's C backend is faster. "
                f"{FAULTS_NOTE}\n\n"
                f"{text}\n\n"
                + (f"## Peak memory\n\n{MEMORY_HEADING}.\n\n{memory_text}\n\n" if memory_text else "")
                + f"## Targets\n\n{TARGETS_HEADING}.\n\n" + "\n".join(targets) +
                f"\n\n## Slower on 2 threads than on 1\n\n{SLOWER_HEADING}.\n\n"
                + ("\n".join(slower) if slower else
                   "None: no implementation ran more than 5% slower on 2 threads than on 1.") +
                "\n\nThe 2-thread rows are the noisiest: this machine's second core is shared, "
                "and NumPy's, PyTorch's and pyautograd's thread pools each spin for a while after "
                "a call; the bench pauses 20 ms between implementations, which is not always "
                "enough.\n"
                f"\n## Where the time goes\n\n{profile}\n")


if __name__ == "__main__":
    sys.exit(main())
