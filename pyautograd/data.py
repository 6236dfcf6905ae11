"""Small synthetic data sets, splitting and batching, and saving a module's state.

Every generator is deterministic for a given seed; with seed=None (the default) every helper
here draws from the generator that pyautograd.manual_seed() seeds, so a run is reproducible after
the same manual_seed. Each generator returns (X, Y): X of shape (n, 2) and Y of
shape (n, 1) holding class labels (0.0, 1.0, ...), both matrices that require no gradient, on the
current backend. Splitting and batching take matrices, NumPy arrays or a mix, and give back the
kinds they were given (integer labels stay integer arrays)."""
from __future__ import annotations

import math
import os
import tempfile
from typing import Any, Dict, Iterator, Optional, Tuple, Union

import numpy as np

from . import backends
from .matrix import Matrix

Dataset = Tuple[Matrix, Matrix]
Rows = Union[Matrix, np.ndarray]
PathLike = Union[str, "os.PathLike[str]"]


def _rng(seed: Optional[int]) -> np.random.Generator:
    """A generator for `seed`, or the global one of manual_seed() when seed is None (looked up
    now: manual_seed replaces it)."""
    if seed is None:
        from .factories import generator
        return generator()
    return np.random.default_rng(seed)


def _check_n(name: str, n: int, minimum: int = 2) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: n must be an integer of at least {minimum}, got {n!r}")


def _check_noise(name: str, noise: float) -> None:
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not 0.0 <= noise < math.inf:
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise!r}")


def _finish(X: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Dataset:
    order = rng.permutation(len(X))
    cls = backends.current_storage()
    return (Matrix(cls.from_array(X[order]), requires_grad=False),
            Matrix(cls.from_array(labels[order].reshape(-1, 1).astype(float)), requires_grad=False))


def make_moons(n: int = 1000, noise: float = 0.1, seed: Optional[int] = None) -> Dataset:
    """Two interleaving half circles (class 0 on top, class 1 below), plus Gaussian noise."""
    _check_n("make_moons", n)
    _check_noise("make_moons", noise)
    rng = _rng(seed)
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
    _check_noise("make_spirals", noise)
    rng = _rng(seed)
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
    _check_noise("make_xor", noise)
    rng = _rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    X += rng.normal(0.0, noise, X.shape)
    return _finish(X, labels, rng)


def make_blobs(n: int = 1000, noise: float = 0.5, seed: Optional[int] = None,
               centers: int = 2) -> Dataset:
    """`centers` Gaussian blobs (standard deviation `noise`) on a circle of radius 2."""
    _check_n("make_blobs", n)
    _check_noise("make_blobs", noise)
    if isinstance(centers, bool) or not isinstance(centers, (int, np.integer)) or centers < 2:
        raise ValueError(f"make_blobs: centers must be an integer of at least 2, got {centers!r}")
    rng = _rng(seed)
    labels = np.arange(n) % centers
    angles = 2 * np.pi * labels / centers
    X = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1) + rng.normal(0.0, noise, (n, 2))
    return _finish(X, labels, rng)


DATASETS = {"moons": make_moons, "spirals": make_spirals, "xor": make_xor, "blobs": make_blobs}


def _check_rows(op: str, name: str, value: Any) -> int:
    """The number of rows of a Matrix or a NumPy array (anything else is a TypeError)."""
    if isinstance(value, Matrix):
        return value.shape[0]
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise ValueError(f"{op}: {name} is a 0-d array, it has no rows")
        return value.shape[0]
    raise TypeError(f"{op}: {name} must be a Matrix or a NumPy array, got {type(value).__name__}")


def _paired_rows(op: str, X: Rows, Y: Rows) -> int:
    n, m = _check_rows(op, "X", X), _check_rows(op, "Y", Y)
    if n != m:
        raise ValueError(f"{op}: X has {n} rows, Y has {m}")
    return n


def _take(value: Rows, index: np.ndarray) -> Rows:
    """The rows `index` of value, of the same kind: an array (same dtype) or a constant Matrix on
    the same backend."""
    if isinstance(value, np.ndarray):
        return value[index]
    return Matrix(type(value.data).from_array(value.numpy()[index]), requires_grad=False)


def train_test_split(X: Rows, Y: Rows, test_size: float = 0.25,
                     seed: Optional[int] = None) -> Tuple[Rows, Rows, Rows, Rows]:
    """(X_train, X_test, Y_train, Y_test): a random split of the rows, scikit-learn's order.
    X and Y are matrices or NumPy arrays (each comes back as the kind it was); test_size is
    the fraction of rows held out, in (0, 1)."""
    n = _paired_rows("train_test_split", X, Y)
    if isinstance(test_size, bool) or not isinstance(test_size, (float, int, np.floating)) \
            or not 0.0 < test_size < 1.0:
        raise ValueError(f"train_test_split: test_size must be a fraction in (0, 1), got "
                         f"{test_size!r}")
    n_test = int(round(n * test_size))
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size {test_size!r} of {n} rows leaves "
                         "an empty side")
    order = _rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return _take(X, train), _take(X, test), _take(Y, train), _take(Y, test)


def batches(X: Rows, Y: Rows, batch_size: int, shuffle: bool = True,
            seed: Optional[int] = None) -> Iterator[Tuple[Rows, Rows]]:
    """(X, Y) row batches of `batch_size` (the last may be smaller), shuffled when asked (the
    order is drawn now, from `seed` or the manual_seed generator); each of the same kind
    (Matrix or NumPy array, same dtype) as it was given."""
    n = _paired_rows("batches", X, Y)
    batch_size = _check_batch_size("batches", batch_size)
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    return _batches((X, Y), order, batch_size, False)


def _check_batch_size(op: str, batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{op}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _batches(columns: Tuple[Rows, ...], order: np.ndarray, batch_size: int,
             drop_last: bool) -> Iterator[Tuple[Rows, ...]]:
    """Each run of batch_size positions of `order` as rows of every column, of its kind."""
    arrays = [c if isinstance(c, np.ndarray) else c.numpy() for c in columns]
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        batch = []  # a plain loop: tuple(<genexpr>) inside this generator broke under threads
        for c, a in zip(columns, arrays):
            batch.append(a[index] if c is a else Matrix(type(c.data).from_array(a[index]), False))
        yield tuple(batch)


class TensorDataset:
    """Matrices and/or NumPy arrays of the same number of rows, indexed together:
    dataset[i] is the tuple of their i-th rows ((1, C) matrices, or array rows)."""

    def __init__(self, *tensors: Rows) -> None:
        if not tensors:
            raise ValueError("TensorDataset: needs at least one Matrix or array")
        sizes = [_check_rows("TensorDataset", f"tensor {i}", t) for i, t in enumerate(tensors)]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: every tensor needs the same number of rows, got {sizes}")
        self.tensors: Tuple[Rows, ...] = tensors

    def __len__(self) -> int:
        return _check_rows("TensorDataset", "tensor 0", self.tensors[0])

    def __getitem__(self, index: int) -> Tuple[Rows, ...]:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"TensorDataset: index must be an integer, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"TensorDataset: index {index} out of range for {n} rows")
        return tuple(t[int(index)] for t in self.tensors)


class DataLoader:
    """Batches of a TensorDataset as tuples of matrices (or arrays: each the kind it was given),
    batch_size rows each: the rows in order, or shuffled afresh at every pass (from `generator`,
    a NumPy Generator, or else the one manual_seed() seeds); drop_last leaves out a smaller
    last batch. Iterate it outside ag.compile and pass the batches to the compiled step.
    A plain sequence of samples (tuples of rows) also works: its rows are stacked."""

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: Optional[np.random.Generator] = None) -> None:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must support len() and indexing, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _check_batch_size("DataLoader", batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Tuple[Rows, ...]]:
        n = len(self.dataset)
        if self.shuffle:
            from .factories import generator
            order = (self.generator or generator()).permutation(n)
        else:
            order = np.arange(n)
        if isinstance(self.dataset, TensorDataset):
            return _batches(self.dataset.tensors, order, self.batch_size, self.drop_last)
        return self._stacked(order)

    def _stacked(self, order: np.ndarray) -> Iterator[Tuple[Rows, ...]]:
        """Batches of a generic dataset: its samples' rows stacked with cat (or NumPy)."""
        from .matrix import cat
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            samples = [self.dataset[int(i)] for i in order[start:start + self.batch_size]]
            samples = [s if isinstance(s, tuple) else (s,) for s in samples]
            yield tuple(cat(list(parts)) if isinstance(parts[0], Matrix) else np.stack(parts)
                        for parts in zip(*samples))


# -- saving and loading ---------------------------------------------------------------------------

def _npz_path(path: PathLike) -> str:
    """The file a path names, for save and load alike: ".npz" is appended when missing."""
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    return path if path.endswith(".npz") else path + ".npz"


def _state_arrays(obj: Any) -> Dict[str, np.ndarray]:
    """A module's state_dict(), or a dict of name -> Matrix/array, as float64 arrays (float32
    ones stay float32: a float32 model is saved and loaded without a round trip through float64)."""
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    if not isinstance(state, dict):
        raise TypeError(f"save: expected a Module or a dict of arrays, got {type(obj).__name__}")
    arrays = {}
    for name, value in state.items():
        arr = value.numpy() if isinstance(value, Matrix) else np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"save: {name!r} has dtype {arr.dtype}, expected real numbers")
        kept = np.float32 if arr.dtype == np.float32 else np.float64
        arrays[str(name)] = np.array(arr, dtype=kept)
    return arrays


def save(module: Any, path: PathLike) -> str:
    """Write the module's state (every matrix, frozen ones included, by state_dict name) to a
    NumPy .npz file, appending ".npz" to `path` when missing; returns the path written.

    The file is written to a temporary file next to it, flushed to disk, then renamed over
    the old one: a save that fails half-way (a full disk, a crash) leaves the old file intact."""
    arrays = _state_arrays(module)
    target = _npz_path(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target


def load(module: Any, path: PathLike) -> None:
    """Read a state written by save() into the module, appending ".npz" to `path` when
    missing (as save does). The names, every shape and every dtype (float only) are checked
    before any parameter changes; pickled data is refused."""
    source = _npz_path(path)
    try:
        stored_file = np.load(source, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"load: {source} is not a file written by save(): {exc}") from exc
    if not isinstance(stored_file, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {source} holds a single array, not the .npz archive of save()")
    with stored_file as stored:
        own = dict(module.state_dict())
        if set(stored.files) != set(own):
            raise ValueError(f"load: {source} holds {sorted(stored.files)}, the module has "
                             f"{sorted(own)}")
        arrays = {}
        for name, m in own.items():
            try:
                values = stored[name]
            except ValueError as exc:  # an object array: would need pickle
                raise ValueError(f"load: {name} in {source} is not a plain array ({exc})") from exc
            if values.dtype.kind != "f":
                raise ValueError(f"load: {name} in {source} has dtype {values.dtype}, expected "
                                 "floating point")
            if values.shape != m.shape:
                raise ValueError(f"load: {name} is {values.shape} in {source}, {m.shape} in the "
                                 "module")
            arrays[name] = values
    module.load_state_dict(arrays)
