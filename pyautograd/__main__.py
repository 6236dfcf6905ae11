"""`python -m pyautograd`: train the lecture's two-layer network and compare the backends."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import backends, data
from .demo import Config, run


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    d = Config()
    parser = argparse.ArgumentParser(
        prog="python -m pyautograd",
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
    parser.add_argument("--plot", metavar="PATH",
                        help="write a PNG of the loss curve and the decision boundary "
                             "(needs matplotlib)")
    args = parser.parse_args(argv)
    for name in ("hidden", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.lr > 0:
        parser.error("--lr must be positive")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config(backend=args.backend, dataset=args.dataset, hidden=args.hidden,
                 epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                 optimizer=args.optimizer, compile=args.compile)
    run(cfg, sys.stdout, plot_path=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
