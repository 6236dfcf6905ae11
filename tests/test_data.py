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
