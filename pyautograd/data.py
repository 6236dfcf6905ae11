"""Small synthetic data sets, splitting and batching, and saving a module's parameters.

Every generator is deterministic for a given seed and returns (X, Y): X of shape (n, 2) and Y of
shape (n, 1) holding class labels (0.0, 1.0, ...), both matrices that require no gradient, on the
current backend."""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np

from . import backends
from .matrix import Matrix

Dataset = Tuple[Matrix, Matrix]


def _check_n(name: str, n: int, minimum: int = 2) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: n must be an integer of at least {minimum}, got {n!r}")


def _finish(X: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Dataset:
    order = rng.permutation(len(X))
    cls = backends.current_storage()
    return (Matrix(cls.from_array(X[order]), requires_grad=False),
            Matrix(cls.from_array(labels[order].reshape(-1, 1).astype(float)), requires_grad=False))


def make_moons(n: int = 1000, noise: float = 0.1, seed: Optional[int] = None) -> Dataset:
    """Two interleaving half circles (class 0 on top, class 1 below), plus Gaussian noise."""
    _check_n("make_moons", n)
    rng = np.random.default_rng(seed)
    n_top = n // 2
    t_top = np.linspace(0.0, np.pi, n_top)
    t_bottom = np.linspace(0.0, np.pi, n - n_top)
    X = np.concatenate([np.stack([np.cos(t_top), np.sin(t_top)], 1),
                        np.stack([1.0 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)], 1)])
    X += rng.normal(0.0, noise, X.shape)
    return _finish(X, np.repeat([0, 1], [n_top, n - n_top]), rng)


def make_spirals(n: int = 1000, noise: float = 0.1, seed: Optional[int] = None,
                 turns: float = 1.5) -> Dataset:
    """Two spirals wound around each other `turns` times, plus Gaussian noise."""
    _check_n("make_spirals", n)
    rng = np.random.default_rng(seed)
    half = n // 2
    counts = (half, n - half)
    parts = []
    for label, count in enumerate(counts):
        r = np.linspace(0.05, 1.0, count)
        theta = r * turns * 2 * np.pi + label * np.pi
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], 1))
    X = np.concatenate(parts) + rng.normal(0.0, noise, (n, 2))
    return _finish(X, np.repeat([0, 1], counts), rng)


def make_xor(n: int = 1000, noise: float = 0.1, seed: Optional[int] = None) -> Dataset:
    """Points in [-1, 1]^2, class 1 where both coordinates have the same sign; noise jitters
    the points after labelling, so classes overlap near the axes."""
    _check_n("make_xor", n)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    X += rng.normal(0.0, noise, X.shape)
    return _finish(X, labels, rng)


def make_blobs(n: int = 1000, noise: float = 0.5, seed: Optional[int] = None,
               centers: int = 2) -> Dataset:
    """`centers` Gaussian blobs (standard deviation `noise`) on a circle of radius 2."""
    _check_n("make_blobs", n)
    if centers < 2:
        raise ValueError(f"make_blobs: centers must be at least 2, got {centers!r}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % centers
    angles = 2 * np.pi * labels / centers
    X = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1) + rng.normal(0.0, noise, (n, 2))
    return _finish(X, labels, rng)


DATASETS = {"moons": make_moons, "spirals": make_spirals, "xor": make_xor, "blobs": make_blobs}


def _rows(m: Matrix, index: np.ndarray) -> Matrix:
    return Matrix(type(m.data).from_array(m.numpy()[index]), requires_grad=False)


def train_test_split(X: Matrix, Y: Matrix, test_fraction: float = 0.25,
                     seed: Optional[int] = None) -> Tuple[Matrix, Matrix, Matrix, Matrix]:
    """(X_train, X_test, Y_train, Y_test): a random split of the rows, scikit-learn's order."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"train_test_split: X has {X.shape[0]} rows, Y has {Y.shape[0]}")
    n = X.shape[0]
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_fraction {test_fraction!r} of {n} rows leaves "
                         "an empty side")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return _rows(X, train), _rows(X, test), _rows(Y, train), _rows(Y, test)


def batches(X: Matrix, Y: Matrix, batch_size: int, shuffle: bool = True,
            seed: Optional[int] = None) -> Iterator[Tuple[Matrix, Matrix]]:
    """(X, Y) row batches of `batch_size` (the last may be smaller), shuffled when asked."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"batches: X has {X.shape[0]} rows, Y has {Y.shape[0]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    x_all, y_all = X.numpy(), Y.numpy()
    cls_x, cls_y = type(X.data), type(Y.data)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield (Matrix(cls_x.from_array(x_all[index]), requires_grad=False),
               Matrix(cls_y.from_array(y_all[index]), requires_grad=False))


def save(module, path: str) -> None:
    """Write the module's parameters, by name, to a NumPy .npz file."""
    np.savez(path, **{name: p.numpy() for name, p in module.named_parameters()})


def load(module, path: str) -> None:
    """Read parameters written by save() into the module (names and shapes must match)."""
    with np.load(path) as stored:
        params = dict(module.named_parameters())
        if set(stored.files) != set(params):
            raise ValueError(f"load: {path} holds {sorted(stored.files)}, the module has "
                             f"{sorted(params)}")
        for name, p in params.items():
            values = stored[name]
            if values.shape != p.shape:
                raise ValueError(f"load: {name} is {values.shape} in {path}, {p.shape} in the module")
            p.data = type(p.data).from_array(values)
