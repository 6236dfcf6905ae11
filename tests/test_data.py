"""Synthetic data sets, splitting, batching, saving and loading."""
import numpy as np
import pytest

import pyautograd as ag
from pyautograd import data, nn


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_datasets_are_deterministic_two_class_sets(backend_name, name):
    make = data.DATASETS[name]
    X, Y = make(101, noise=0.2, seed=7)
    assert X.shape == (101, 2) and Y.shape == (101, 1)
    assert X.backend == backend_name and not X.requires_grad and not Y.requires_grad
    assert set(np.unique(Y.numpy())) == {0.0, 1.0}
    # balanced by construction, except xor whose labels follow uniformly drawn points
    assert abs(Y.numpy().sum() - 50.5) <= (15 if name == "xor" else 1)
    X2, Y2 = make(101, noise=0.2, seed=7)
    assert np.array_equal(X.numpy(), X2.numpy()) and np.array_equal(Y.numpy(), Y2.numpy())
    X3, _ = make(101, noise=0.2, seed=8)
    assert not np.array_equal(X.numpy(), X3.numpy())
    with pytest.raises(ValueError, match=f"make_{name}: n must be an integer of at least 2"):
        make(1)


def test_blobs_with_more_centers():
    _, Y = data.make_blobs(90, centers=3, seed=0)
    assert sorted(np.unique(Y.numpy())) == [0.0, 1.0, 2.0]


def test_split_and_batches_cover_every_row_once(backend_name):
    X = ag.mat(np.arange(20.0).reshape(10, 2), requires_grad=False)
    Y = ag.mat(np.arange(10.0).reshape(10, 1), requires_grad=False)
    X_train, X_test, Y_train, Y_test = data.train_test_split(X, Y, 0.3, seed=1)
    assert X_train.shape == (7, 2) and X_test.shape == (3, 2) and Y_test.shape == (3, 1)
    rows = np.concatenate([Y_train.numpy(), Y_test.numpy()]).ravel()
    assert sorted(rows) == list(range(10))
    assert np.array_equal(X_train.numpy()[:, 0], 2 * Y_train.numpy()[:, 0])  # rows stay paired
    seen = []
    sizes = []
    for xb, yb in data.batches(X, Y, 4, seed=3):
        sizes.append(xb.shape[0])
        assert np.array_equal(xb.numpy()[:, 0], 2 * yb.numpy()[:, 0])
        seen.extend(yb.numpy().ravel())
    assert sizes == [4, 4, 2] and sorted(seen) == list(range(10)) and seen != sorted(seen)
    ordered = [yb.numpy().ravel().tolist() for _, yb in data.batches(X, Y, 5, shuffle=False)]
    assert ordered == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(data.batches(X, Y, 0))
    with pytest.raises(ValueError, match="X has 10 rows, Y has 3"):
        data.train_test_split(X, Y_test)


def test_save_and_load_round_trip(backend_name, tmp_path):
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    path = tmp_path / "model.npz"
    data.save(model, str(path))
    ag.manual_seed(1)
    other = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    data.load(other, str(path))
    for a, b in zip(model.parameters(), other.parameters()):
        assert np.array_equal(a.numpy(), b.numpy()) and b.backend == backend_name
    with pytest.raises(ValueError, match="load: .* holds"):
        data.load(nn.Linear(2, 3), str(path))


def test_split_and_batches_take_arrays_matrices_or_a_mix(backend_name):
    X = np.arange(24.0).reshape(12, 2)
    labels = np.arange(12) % 3  # integer class labels, 1-D
    for x_in in (X, ag.mat(X, requires_grad=False)):
        X_train, X_test, y_train, y_test = data.train_test_split(x_in, labels, test_size=0.25, seed=0)
        assert type(X_train) is type(x_in) and type(X_test) is type(x_in)
        assert isinstance(y_train, np.ndarray) and y_train.dtype == labels.dtype
        assert y_train.shape == (9,) and y_test.shape == (3,)
        x_np = X_train if isinstance(X_train, np.ndarray) else X_train.numpy()
        np.testing.assert_array_equal(x_np[:, 0] / 2 % 3, y_train)  # rows stay paired
        if isinstance(X_train, ag.Matrix):
            assert X_train.backend == backend_name and not X_train.requires_grad
        for xb, yb in data.batches(x_in, labels, 5, seed=1):
            assert type(xb) is type(x_in) and yb.dtype == labels.dtype
            xb_np = xb if isinstance(xb, np.ndarray) else xb.numpy()
            np.testing.assert_array_equal(xb_np[:, 0] / 2 % 3, yb)
    sizes = [len(yb) for _, yb in data.batches(X, labels, 5, shuffle=False)]
    assert sizes == [5, 5, 2]
    with pytest.raises(TypeError, match="batches: Y must be a Matrix or a NumPy array, got list"):
        data.batches(X, list(labels), 4)
    with pytest.raises(ValueError, match="batches: X has 12 rows, Y has 11"):
        data.batches(X, labels[:11], 4)


@pytest.mark.parametrize("bad", [0, 1, 1.0, 0.0, -0.5, True, "0.3", float("nan")])
def test_test_size_must_be_a_fraction(bad):
    X, Y = np.ones((10, 2)), np.ones(10)
    with pytest.raises(ValueError, match="test_size must be a fraction in"):
        data.train_test_split(X, Y, test_size=bad)
    with pytest.raises(ValueError, match="leaves an empty side"):
        data.train_test_split(X, Y, test_size=0.01)


def test_generator_arguments_are_validated():
    with pytest.raises(ValueError, match="make_blobs: centers must be an integer of at least 2, got 2.5"):
        data.make_blobs(10, centers=2.5)
    with pytest.raises(ValueError, match="make_blobs: centers must be an integer"):
        data.make_blobs(10, centers=True)
    for make in data.DATASETS.values():
        with pytest.raises(ValueError, match="noise must be a finite number >= 0, got -0.1"):
            make(10, noise=-0.1)
        with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
            make(10, noise=float("inf"))
    X, Y = data.make_moons(10, noise=0.0, seed=0)  # no noise is fine
    assert X.shape == (10, 2)


# -- issue 22: TensorDataset, DataLoader, and seed=None following ag.manual_seed ----------------

def test_every_helper_with_seed_none_follows_manual_seed(backend_name):
    def run():
        X, Y = data.make_moons(40, noise=0.3)
        parts = data.train_test_split(X, Y)
        order = [xb.numpy().copy() for xb, _ in data.batches(parts[0], parts[2], 7)]
        blobs = data.make_blobs(12)[0].numpy().copy()
        spirals, xor = data.make_spirals(10)[0].numpy().copy(), data.make_xor(10)[0].numpy().copy()
        loader = [b[0].numpy().copy() for b in data.DataLoader(data.TensorDataset(X, Y), 8, shuffle=True)]
        return [X.numpy().copy(), *[p.numpy().copy() for p in parts], *order, blobs, spirals, xor, *loader]

    ag.manual_seed(11)
    first = run()
    ag.manual_seed(11)
    again = run()
    ag.manual_seed(12)
    other = run()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_batches_draws_its_order_when_called(backend_name):
    X, Y = np.arange(10.0).reshape(10, 1), np.arange(10)
    ag.manual_seed(0)
    it = data.batches(X, Y, 10)
    ag.manual_seed(5)  # too late: the order was drawn by the call
    got = next(it)[1]
    ag.manual_seed(0)
    assert np.array_equal(got, next(data.batches(X, Y, 10))[1])


def test_tensor_dataset_and_data_loader(backend_name):
    X = ag.mat(np.arange(20.0).reshape(10, 2), requires_grad=False)
    labels = np.arange(10) % 3
    ds = data.TensorDataset(X, labels)
    assert len(ds) == 10
    row, label = ds[-1]
    assert row.tolist() == [[18.0, 19.0]] and label == 0
    loader = data.DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], ag.Matrix) and batches[0][1].dtype.kind == "i"
    assert batches[1][0].tolist() == [[8.0, 9.0], [10.0, 11.0], [12.0, 13.0], [14.0, 15.0]]
    assert [len(b[1]) for b in data.DataLoader(ds, 4, drop_last=True)] == [4, 4]
    assert len(data.DataLoader(ds, 4, drop_last=True)) == 2
    assert [b[1].tolist() for b in data.DataLoader(ds)][:2] == [[0], [1]]  # batch_size=1
    shuffled = data.DataLoader(ds, 3, shuffle=True, generator=np.random.default_rng(0))
    one, two = [np.concatenate([b[1] for b in shuffled]) for _ in range(2)]
    assert sorted(one) == sorted(labels) and not np.array_equal(one, two)  # a new order per pass
    seen = np.concatenate([b[0].numpy()[:, 0] for b in data.DataLoader(ds, 3, shuffle=True)])
    assert sorted(seen) == list(np.arange(0.0, 20.0, 2.0))
    generic = data.DataLoader([(ag.mat([[float(i)]]), np.array([i])) for i in range(5)], batch_size=2)
    first = next(iter(generic))
    assert first[0].tolist() == [[0.0], [1.0]] and first[1].tolist() == [[0], [1]]


def test_data_loader_errors():
    X = ag.mat(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"TensorDataset: every tensor needs the same number of rows, got \[3, 2\]"):
        data.TensorDataset(X, np.ones(2))
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive integer, got 0"):
        data.DataLoader(data.TensorDataset(X), batch_size=0)
    with pytest.raises(TypeError, match="DataLoader: dataset must support len"):
        data.DataLoader(5)
    with pytest.raises(IndexError, match="TensorDataset: index 3 out of range for 3 rows"):
        data.TensorDataset(X)[3]
    with pytest.raises(TypeError, match="DataLoader: generator must be a numpy.random.Generator"):
        data.DataLoader(data.TensorDataset(X), generator=3)
