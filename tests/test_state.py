"""Model state: state_dict / load_state_dict, pickle and deepcopy of matrices and modules, and
data.save / data.load (atomic, suffix-symmetric, checked before anything changes)."""
import copy
import os
import pickle

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import data, nn, optim


def _model(seed=0):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Dropout(0.2), nn.Linear(4, 1), nn.Sigmoid())


def _same_outputs(a, b):
    x = np.random.default_rng(9).standard_normal((5, 2))
    a.eval(), b.eval()
    return np.array_equal(a(x).numpy(), b(x).numpy())


def test_state_dict_uses_pytorch_names_and_keeps_frozen_parameters(backend_name):
    model = _model()
    model[3].bias.requires_grad = False  # frozen: not a parameter for the optimizer, still state
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "3.weight"]
    assert all(not v.requires_grad for v in state.values())
    torch = pytest.importorskip("torch")
    twin = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    assert list(twin.state_dict()) == list(state)


def test_load_state_dict_strict_and_checked(backend_name):
    model, other = _model(0), _model(1)
    assert not _same_outputs(model, other)
    result = other.load_state_dict(model.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert _same_outputs(model, other)
    assert other[0].weight.backend == backend_name and other[0].weight.requires_grad
    before = other[0].weight.numpy().copy()
    state = {k: v.numpy() + 1 for k, v in model.state_dict().items()}
    state["3.weight"] = np.zeros((4, 1))  # wrong shape, after 0.weight
    with pytest.raises(RuntimeError, match=r"size mismatch for 3.weight: copying a param with shape \(4, 1\)"):
        other.load_state_dict(state)
    np.testing.assert_array_equal(other[0].weight.numpy(), before)  # nothing changed
    partial = {"0.weight": np.ones((4, 2)), "extra": np.ones(1)}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.bias", "3.weight", "3.bias"'):
        other.load_state_dict(partial)
    result = other.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["0.bias", "3.weight", "3.bias"] and result.unexpected_keys == ["extra"]
    assert (other[0].weight.numpy() == 1).all()
    with pytest.raises(RuntimeError, match="expected real numbers"):
        other.load_state_dict({**model.state_dict(), "0.bias": np.array([["a"] * 4])})


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_matrices_survive_pickle_and_deepcopy(backend_name, how):
    m = ag.mat([[1.0, -2.0], [3.5, 4.0]])
    frozen = ag.mat([[7.0]], requires_grad=False)
    (m * m).sum().backward()
    clone = (lambda x: pickle.loads(pickle.dumps(x))) if how == "pickle" else copy.deepcopy
    m2, f2 = clone(m), clone(frozen)
    assert m2.backend == backend_name and m2.requires_grad and not f2.requires_grad
    np.testing.assert_array_equal(m2.numpy(), m.numpy())
    assert m2.has_grad and np.array_equal(m2.grad.numpy(), 2 * m.numpy())
    assert not f2.has_grad and f2.tolist() == [[7.0]]
    with ag.no_grad():
        m2 += 1.0
    assert m.numpy()[0, 0] == 1.0  # independent storage
    shared = [m, m]
    twice = clone(shared)
    assert twice[0] is twice[1]  # one object stays one object


def test_deepcopy_of_a_non_leaf_is_refused_and_pickle_keeps_values(backend_name):
    y = ag.mat([[1.0, 2.0]]) * 3
    with pytest.raises(RuntimeError, match=r"deepcopy: only matrices created by the user.*op 'mul'"):
        copy.deepcopy(y)
    restored = pickle.loads(pickle.dumps(y))
    assert restored.is_leaf and restored.tolist() == [[3.0, 6.0]]


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "state_dict", "save"])
def test_a_model_round_trips_with_identical_outputs(backend_name, how, tmp_path):
    model = _model()
    model[3].bias.requires_grad = False
    opt = optim.Adam(model.parameters(), lr=0.05)
    x = np.random.default_rng(0).standard_normal((8, 2))
    for _ in range(3):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    if how == "pickle":
        twin = pickle.loads(pickle.dumps(model))
    elif how == "deepcopy":
        twin = copy.deepcopy(model)
    else:
        twin = _model(1)
        twin[3].bias.requires_grad = False
        if how == "state_dict":
            twin.load_state_dict(model.state_dict())
        else:
            data.save(model, tmp_path / "ckpt")
            data.load(twin, tmp_path / "ckpt")
    assert _same_outputs(model, twin)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert all(p.backend == backend_name for p in twin.parameters())
    if how in ("pickle", "deepcopy"):
        assert twin[0].weight is not model[0].weight and twin[0].weight.has_grad


def test_save_and_load_accept_the_suffix_or_not_symmetrically(backend_name, tmp_path):
    model, other = _model(0), _model(1)
    for saved, loaded in [("a", "a"), ("a", "a.npz"), ("b.npz", "b"), ("b.npz", "b.npz")]:
        written = data.save(model, str(tmp_path / saved))
        assert written.endswith(".npz") and os.path.exists(written)
        other = _model(1)
        data.load(other, tmp_path / loaded)
        assert _same_outputs(model, other)
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]  # no temporary files left


def test_a_save_that_fails_half_way_leaves_the_old_file_intact(backend_name, tmp_path, monkeypatch):
    old, new = _model(0), _model(1)
    path = tmp_path / "ckpt.npz"
    data.save(old, path)
    good = path.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def write_then_fail(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second array: the first is already in the file
            fp.write(b"half an array")
            raise OSError(28, "No space left on device")
        return real_write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        data.save(new, path)
    monkeypatch.undo()
    assert len(calls) == 2 and path.read_bytes() == good
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    restored = _model(1)
    data.load(restored, path)
    assert _same_outputs(old, restored)


def test_load_checks_everything_before_changing_anything(backend_name, tmp_path):
    model = _model()
    before = [p.numpy().copy() for p in model.parameters()]
    arrays = {k: v.numpy() for k, v in model.state_dict().items()}
    cases = {
        "shape": ({**arrays, "3.bias": np.ones((1, 2))}, r"load: 3.bias is \(1, 2\) in .*, \(1, 1\) in the module"),
        "int": ({**arrays, "3.bias": np.ones((1, 1), dtype=np.int64)}, "3.bias in .* has dtype int64, expected floating point"),
        "names": ({"0.weight": arrays["0.weight"]}, "load: .* holds"),
    }
    for name, (content, message) in cases.items():
        np.savez(tmp_path / name, **content)
        with pytest.raises(ValueError, match=message):
            data.load(model, tmp_path / name)
    np.savez(tmp_path / "pickled", **{**arrays, "3.bias": np.array([[object()]], dtype=object)})
    with pytest.raises(ValueError, match="3.bias in .* is not a plain array"):
        data.load(model, tmp_path / "pickled")
    with open(tmp_path / "evil.npz", "wb") as f:
        pickle.dump({"0.weight": 1}, f)
    with pytest.raises(ValueError, match="is not a file written by save"):
        data.load(model, tmp_path / "evil")
    np.save(tmp_path / "single.npy", np.ones(3))
    os.rename(tmp_path / "single.npy", tmp_path / "single.npz")
    with pytest.raises(ValueError, match="holds a single array"):
        data.load(model, tmp_path / "single.npz")
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
