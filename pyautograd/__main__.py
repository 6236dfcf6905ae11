"""`python -m pyautograd`: train the lecture's two-layer network and compare the backends."""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from typing import List, NoReturn, Optional

from . import backends, data
from .demo import Config, run


PROG = "python -m pyautograd"
MAX_HIDDEN = 10_000  # the decision-boundary plot evaluates 40,000 points x hidden units
MAX_SEED = 2 ** 32 - 1


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): the message names the flag and value."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _check_plot_path(path: str) -> Optional[str]:
    """Why the plot cannot be written to `path`, or None: checked before training, not after."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"--plot {path}: is a directory, expected a file name such as loss.png"
    if not os.path.isdir(folder):
        return f"--plot {path}: the directory {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"--plot {path}: the directory {folder} is not writable"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib: pip install matplotlib (or pip install -e \".[plot]\")"
    from matplotlib.figure import Figure
    formats = Figure().canvas.get_supported_filetypes()
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext not in formats:
        return f"--plot {path}: unknown image format {ext!r}; use one of {', '.join(sorted(formats))}"
    return None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    d = Config()
    parser = _Parser(
        prog=PROG,
        description="Train the lecture's two-layer sigmoid network with binary cross-entropy on a "
                    "two-class data set, report test accuracy and time per epoch, and time the "
                    "same epochs on the pure-Python backend.")
    parser.add_argument("--backend", choices=["c", "python", "verify"],
                        default="c" if backends.c_available() else "python",
                        help="storage backend for the main run (default: c where built; verify "
                             "runs C and Python side by side and checks every op)")
    parser.add_argument("--dataset", choices=sorted(data.DATASETS), default=d.dataset,
                        help=f"built-in two-class data set (default: {d.dataset})")
    parser.add_argument("--hidden", type=int, default=d.hidden,
                        help=f"hidden units (default: {d.hidden})")
    parser.add_argument("--epochs", type=int, default=d.epochs,
                        help=f"passes over the training set (default: {d.epochs})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default: {d.lr})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size,
                        help=f"rows per step (default: {d.batch_size})")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help=f"seed of the data, the split and the weights (default: {d.seed})")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default=d.optimizer,
                        help=f"adam, or sgd with momentum 0.9 (default: {d.optimizer})")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=d.compile,
                        help="replay the training step with pyautograd.compile, one C call per "
                             "step, and also time it eagerly (C backend only; default: on)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default=d.dtype,
                        help="precision of the data, the weights and the optimizer state "
                             f"(default: {d.dtype})")
    parser.add_argument("--plot", metavar="PATH",
                        help="write a PNG of the loss curve and the decision boundary "
                             "(needs matplotlib)")
    args = parser.parse_args(argv)
    for name in ("hidden", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.hidden > MAX_HIDDEN:
        parser.error(f"--hidden {args.hidden} is too large: at most {MAX_HIDDEN:,} hidden units")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a positive finite number, got {args.lr}")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must be from 0 to {MAX_SEED}, got {args.seed}")
    if args.plot:
        problem = _check_plot_path(args.plot)
        if problem:
            parser.error(problem)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the main job; a Ctrl-C or a failed allocation ends it with one line and a non-zero
    exit status, not a traceback."""
    args = parse_args(argv)
    cfg = Config(backend=args.backend, dataset=args.dataset, hidden=args.hidden,
                 epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                 optimizer=args.optimizer, compile=args.compile, dtype=args.dtype)
    try:
        run(cfg, sys.stdout, plot_path=args.plot)
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130  # 128 + SIGINT, as a shell reports it
    except MemoryError as exc:
        sys.stderr.write(f"{PROG}: out of memory: {exc or 'an allocation failed'}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
