"""Every example of the lecture, on every backend, with its numbers; and the slide slips shown
to be slips."""
import math
import sys

import numpy as np
import pytest

import pyautograd as ag
from conftest import load_example


def test_gradient_descent_finds_the_minimum_of_the_quadratic(backend_name):
    ex = load_example("minimize_quadratic")
    a, fa, history = ex.minimise(a0=0.0, learning_rate=0.1, steps=60)
    assert a == pytest.approx(2.0, abs=1e-14)
    assert fa == pytest.approx(-3.0, abs=1e-14)
    assert history[0] == 13.0  # f(0) = 4 * 4 - 3
    assert all(later <= earlier for earlier, later in zip(history, history[1:]))
    assert ex.f(ag.mat(1.8)).item() == pytest.approx(ex.f(ag.mat(2.2)).item(), abs=1e-14)


def test_the_four_partials_of_b_times_a_minus_c_squared_minus_d(backend_name):
    autograd, symbolic = load_example("partial_derivatives").four_partials(3.0, 2.0, 1.0, 5.0)
    assert autograd == symbolic == (8.0, 4.0, -8.0, -1.0)


@pytest.mark.parametrize("a,b", [(2.0, 3.0), (-1.5, 0.5), (0.3, -2.0)])
def test_partials_of_a_cubed_b_squared(backend_name, a, b):
    autograd, symbolic = load_example("partial_derivatives").cube_times_square(a, b)
    assert autograd == pytest.approx(symbolic, rel=1e-15)
    assert autograd == pytest.approx((3 * a * a * b * b, 2 * a * a * a * b), rel=1e-14)


def test_one_layer_network_autograd_equals_the_hand_derived_chain(backend_name):
    ex = load_example("one_layer_network")
    for seed in range(3):
        X, Y, W, b = ex.make_problem(n=7, d=3, seed=seed)
        loss, dW, db = ex.autograd_gradients(X, Y, W, b)
        mW, mb = ex.manual_gradients(X, Y, W, b)
        np.testing.assert_allclose(dW, mW, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(db, mb, rtol=1e-13, atol=1e-16)
        # and the loss itself, from NumPy
        A = 1 / (1 + np.exp(-(X.numpy() @ W.numpy().T + b.numpy())))
        assert loss == pytest.approx(np.mean(0.5 * (A - Y.numpy()) ** 2), rel=1e-14)


def test_two_layer_network_manual_gradients_equal_autograd(backend_name):
    ex = load_example("two_layer_network")
    X_np, Y_np, start = ex.make_problem(n=15, seed=1)
    X, Y = ag.mat(X_np, requires_grad=False), ag.mat(Y_np, requires_grad=False)
    params = [ag.mat(p) for p in start]
    loss = ex.bce(ex.forward(X, *params)[1], Y)
    loss.backward()
    manual = ex.manual_gradients(X, Y, *params)
    for p, g in zip(params, manual):
        np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-12, atol=1e-15)


def test_two_layer_training_manual_and_autograd_follow_the_same_path(backend_name):
    ex = load_example("two_layer_network")
    auto, auto_losses = ex.train(steps=100)
    manual, manual_losses = ex.train(steps=100, manual=True)
    for a, m in zip(auto, manual):
        np.testing.assert_allclose(a, m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(auto_losses, manual_losses, rtol=1e-10)
    assert auto_losses[-1] < 0.5 * auto_losses[0]


def test_the_slides_b1_update_with_db2_is_a_slip(backend_name):
    ex = load_example("two_layer_network")
    auto, _ = ex.train(steps=50)
    slipped, _ = ex.train(steps=50, manual=True, slip=True)
    assert abs(slipped[1] - auto[1]).max() > 0.1


def test_bce_without_its_minus_sign_climbs_instead_of_descending(backend_name):
    ex = load_example("two_layer_network")
    X_np, Y_np, start = ex.make_problem(seed=0)
    X, Y = ag.mat(X_np, requires_grad=False), ag.mat(Y_np, requires_grad=False)
    params = [ag.mat(p) for p in start]
    A2 = ex.forward(X, *params)[1]
    slide_loss = (Y * A2.log() + (1 - Y) * (1 - A2).log()).mean()  # as on the slide
    assert slide_loss.item() < 0 < ex.bce(A2, Y).item()
    assert slide_loss.item() == pytest.approx(-ex.bce(A2, Y).item(), rel=1e-15)
    slide_loss.backward()
    with ag.no_grad():
        for p in params:
            p -= 0.5 * p.grad
    assert ex.bce(ex.forward(X, *params)[1], Y).item() > ex.bce(A2, Y).item()


def test_the_slides_recursive_topological_sort_fails_where_backward_works(backend_name):
    depth = max(sys.getrecursionlimit(), 1000) * 2
    x = ag.mat(1.0)
    y = x
    for _ in range(depth):
        y = y * 1.0
    visited, order = set(), []

    def topological_sort(node):  # the slide's version
        if node not in visited:
            visited.add(node)
            for child in node._children:
                topological_sort(child)
            order.append(node)
    with pytest.raises(RecursionError):
        topological_sort(y)
    y.backward()
    assert x.grad.item() == 1.0


def test_examples_run_as_scripts(capsys):
    for name in ("minimize_quadratic", "partial_derivatives", "one_layer_network",
                 "two_layer_network"):
        load_example(name).main()
    out = capsys.readouterr().out
    assert "a = 2.0, f(a) = -3.0" in out
    assert "autograd (8.0, 4.0, -8.0, -1.0), symbolic (8.0, 4.0, -8.0, -1.0)" in out
    assert "autograd (108.0, 48.0), symbolic (108.0, 48.0)" in out
    assert not math.isnan(float(out.split("largest difference ")[1].split()[0]))


def test_the_networks_written_with_the_nn_api_match_the_manual_versions(backend_name):
    ex = load_example("nn_networks")
    one, two = load_example("one_layer_network"), load_example("two_layer_network")
    dW, db = ex.one_layer_with_nn(seed=1)
    mW, mb = one.manual_gradients(*one.make_problem(seed=1))
    np.testing.assert_allclose(dW, mW.reshape(dW.shape), rtol=1e-13)
    np.testing.assert_allclose(db, mb.reshape(db.shape), rtol=1e-13)
    params, losses = ex.two_layer_with_nn(steps=60)
    manual, manual_losses = two.train(steps=60, manual=True)
    for a, m in zip(params, manual):
        np.testing.assert_allclose(a, m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, manual_losses, rtol=1e-10)
