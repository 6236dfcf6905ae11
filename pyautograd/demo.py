"""The main job: train the lecture's two-layer sigmoid network with BCE on a two-class data set,
show progress, report test accuracy and the time per epoch, then time the same epochs on the
pure-Python backend (checking it computes the same losses) and report the speed-up."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, TextIO

import numpy as np

from . import backends, data, nn, optim
from .compile import compile as compile_step
from .grad_mode import no_grad
from .matrix import Matrix


@dataclass
class Config:
    backend: str = "c"
    dataset: str = "moons"
    n: int = 1000
    noise: float = 0.1
    hidden: int = 16
    epochs: int = 100
    lr: float = 0.05
    batch_size: int = 32
    seed: int = 0
    optimizer: str = "adam"
    compile: bool = True  # replay the training step with pyautograd.compile (C backend only)
    dtype: str = "float64"  # or "float32": data, weights and optimizer state in that dtype


@dataclass
class Result:
    losses: List[float] = field(default_factory=list)  # mean training loss per epoch
    seconds_per_epoch: float = 0.0
    test_accuracy: float = 0.0
    model: Optional[nn.Module] = None


def two_layer_network(hidden: int, rng: np.random.Generator, dtype: str = "float64") -> nn.Module:
    """Z1 = X W1^T + b1, A1 = sigmoid(Z1), Z2 = A1 W2^T + b2, A2 = sigmoid(Z2)."""
    return nn.Sequential(nn.Linear(2, hidden, rng=rng, dtype=dtype), nn.Sigmoid(),
                         nn.Linear(hidden, 1, rng=rng, dtype=dtype), nn.Sigmoid())


def make_optimizer(name: str, params, lr: float) -> optim.Optimizer:
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; choose adam or sgd")


def accuracy(model: nn.Module, X: Matrix, Y: Matrix) -> float:
    with no_grad():
        return ((model(X) > 0.5) == Y).mean().item()


class ProgressBar:
    """One line redrawn in place on a terminal; a line per tenth of the run otherwise."""

    def __init__(self, total: int, out: TextIO, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.live = out.isatty()
        self.last_tenth = -1

    def update(self, done: int, loss: float) -> None:
        filled = self.width * done // self.total
        line = (f"epoch {done:>{len(str(self.total))}}/{self.total} "
                f"[{'#' * filled}{'.' * (self.width - filled)}] loss {loss:.4f}")
        if self.live:
            self.out.write("\r" + line + ("\n" if done == self.total else ""))
            self.out.flush()
        elif 10 * done // self.total != self.last_tenth:
            self.last_tenth = 10 * done // self.total
            self.out.write(line + "\n")


def train(cfg: Config, epochs: Optional[int] = None, progress: Optional[TextIO] = None) -> Result:
    """Train from cfg.seed on cfg.backend for `epochs` (default cfg.epochs) epochs."""
    epochs = cfg.epochs if epochs is None else epochs
    if cfg.dataset not in data.DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(data.DATASETS)}")
    result = Result()
    with backends.backend(cfg.backend):
        X, Y = data.DATASETS[cfg.dataset](cfg.n, noise=cfg.noise, seed=cfg.seed)
        X, Y = X.to(cfg.dtype), Y.to(cfg.dtype)  # not set_default_dtype: runs may share a process
        X_train, X_test, Y_train, Y_test = data.train_test_split(X, Y, 0.25, seed=cfg.seed)
        # its own generator, not the global one, so that runs in several threads are independent
        model = two_layer_network(cfg.hidden, np.random.default_rng(cfg.seed), cfg.dtype)
        optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
        loss_fn = nn.BCELoss()
        bar = ProgressBar(epochs, progress) if progress is not None else None
        step = training_step(model, loss_fn, optimizer, compiled=uses_compile(cfg))
        start = time.perf_counter()
        for epoch in range(epochs):
            total, count = 0.0, 0
            for xb, yb in data.batches(X_train, Y_train, cfg.batch_size, seed=cfg.seed + epoch):
                loss = step(xb, yb)
                total += loss.item() * xb.shape[0]
                count += xb.shape[0]
            result.losses.append(total / count)
            if bar is not None:
                bar.update(epoch + 1, result.losses[-1])
        result.seconds_per_epoch = (time.perf_counter() - start) / epochs
        result.test_accuracy = accuracy(model, X_test, Y_test)
        result.model = model
    return result


# -- compiled training (issue 15) -----------------------------------------------------------------

def uses_compile(cfg: Config) -> bool:
    """Whether the run replays its step with pyautograd.compile: asked for, on the C backend
    (in float64 or float32: compile replays both)."""
    return cfg.compile and cfg.backend == "c"


def training_step(model: nn.Module, loss_fn: nn.Module, optimizer: optim.Optimizer,
                  compiled: bool) -> Callable[[Matrix, Matrix], Matrix]:
    """One mini-batch step (forward, backward, update), compiled or eager: the same kernels."""
    def step(xb: Matrix, yb: Matrix) -> Matrix:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return compile_step(step) if compiled else step


def compare_compiled(cfg: Config, result: Result, out: TextIO, epochs: int) -> None:
    """Time the first epochs again without compile and report both times per epoch."""
    eager = train(Config(**{**cfg.__dict__, "compile": False}), epochs=epochs)
    same = "identical" if eager.losses == result.losses[:epochs] else "DIFFERENT"
    out.write(f"compiled: {result.seconds_per_epoch * 1e3:.2f} ms per epoch (all {cfg.epochs}, "
              f"recording included); eager: {eager.seconds_per_epoch * 1e3:.2f} ms per epoch "
              f"(first {epochs}), {eager.seconds_per_epoch / result.seconds_per_epoch:.1f}x; "
              f"losses {same}\n")


def plot(cfg: Config, result: Result, path: str) -> None:
    """A PNG of the loss curve and the decision boundary over the data (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with backends.backend(cfg.backend):
        X, Y = data.DATASETS[cfg.dataset](cfg.n, noise=cfg.noise, seed=cfg.seed)
        x, y = X.numpy(), Y.numpy()[:, 0]
        pad = 0.5
        gx, gy = np.meshgrid(np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 200),
                             np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 200))
        with no_grad():
            grid = result.model(Matrix(np.stack([gx.ravel(), gy.ravel()], 1), requires_grad=False))
        probability = grid.numpy().reshape(gx.shape)
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_loss.plot(range(1, len(result.losses) + 1), result.losses)
    ax_loss.set(xlabel="epoch", ylabel="training loss (BCE)", yscale="log", title="Loss")
    ax_map.contourf(gx, gy, probability, levels=20, cmap="RdBu_r", alpha=0.6)
    ax_map.contour(gx, gy, probability, levels=[0.5], colors="k")
    ax_map.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=12)
    ax_map.set(title=f"Decision boundary ({cfg.dataset}, test accuracy "
                     f"{result.test_accuracy:.1%})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(cfg: Config, out: TextIO = sys.stdout, compare_epochs: int = 5,
        plot_path: Optional[str] = None) -> Result:
    """The whole main job; prints as it goes and returns the main run's result."""
    out.write(f"pyautograd: a two-layer sigmoid network ({cfg.hidden} hidden units), BCE loss, "
              f"{cfg.optimizer}, on {cfg.dataset} ({cfg.n} points, 25% held out), "
              f"backend {cfg.backend!r}{', float32' if cfg.dtype == 'float32' else ''}\n")
    result = train(cfg, progress=out)
    out.write(f"test accuracy: {result.test_accuracy:.1%}\n")
    out.write(f"time per epoch on {cfg.backend!r}: {result.seconds_per_epoch * 1e3:.2f} ms\n")
    if uses_compile(cfg) and compare_epochs > 0:
        compare_compiled(cfg, result, out, min(compare_epochs, cfg.epochs))
    other = "python" if cfg.backend != "python" else None
    if other and compare_epochs > 0:
        k = min(compare_epochs, cfg.epochs)
        slow = train(Config(**{**cfg.__dict__, "backend": other}), epochs=k)
        drift = max(abs(a - b) for a, b in zip(slow.losses, result.losses[:k]))
        out.write(f"the same first {k} epochs on 'python': {slow.seconds_per_epoch * 1e3:.2f} ms "
                  f"per epoch; {cfg.backend!r} is {slow.seconds_per_epoch / result.seconds_per_epoch:.1f}x "
                  f"faster (losses agree to {drift:.1e})\n")
    if plot_path:
        try:
            plot(cfg, result, plot_path)
            out.write(f"plot written to {plot_path}\n")
        except ImportError:
            out.write("--plot needs matplotlib: pip install matplotlib (or pip install -e \".[plot]\")\n")
    return result
