"""Compute-graph pictures and the lecture-style backward trace."""
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

import pyautograd as ag
from pyautograd import viz


def lecture_one_layer():
    """The slides' one-layer network, one named node per slide step."""
    X = ag.mat([[0.5, -1.0], [1.5, 2.0], [-0.5, 0.25]], requires_grad=False)
    Y = ag.mat([[1.0], [0.0], [1.0]], requires_grad=False)
    W = ag.mat([[0.2, -0.4]])
    b = ag.mat(0.1)
    gamma = X @ W.T          # gamma = X W^T
    Z = gamma + b            # Z = gamma + b
    A = Z.sigmoid()          # A = sigma(Z)
    rho = A - Y              # rho = A - Y
    phi = rho ** 2           # phi = rho^2
    L = (0.5 * phi).mean()   # L = 1/2 phi, averaged over the rows
    names = dict(X=X, Y=Y, W=W, b=b, gamma=gamma, Z=Z, A=A, rho=rho, phi=phi, L=L)
    return names


def _count_with_dot(text):
    out = subprocess.run(["dot", "-Tplain"], input=text, text=True, capture_output=True, check=True).stdout
    lines = out.splitlines()
    return sum(l.startswith("node ") for l in lines), sum(l.startswith("edge ") for l in lines)


def _count_by_parsing(text):
    return len(re.findall(r"^\s*n\d+ \[label=", text, re.M)), len(re.findall(r"^\s*n\d+ -> n\d+;", text, re.M))


def test_the_one_layer_network_has_the_nodes_the_lecture_draws(backend_name):
    names = lecture_one_layer()
    text = viz.to_dot(names["L"], names)
    # leaves X, Y, W, b; W^T, gamma, Z, A, rho, phi, the 1/2 product and the mean
    assert _count_by_parsing(text) == (12, 11)
    if shutil.which("dot"):
        assert _count_with_dot(text) == (12, 11)
    for name in ("X = constant", "W = parameter", "b = parameter", "gamma = matmul", "Z = add",
                 "A = sigmoid", "rho = sub", "phi = pow", "L = mean"):
        assert name in text
    assert 'fillcolor="#cfe2f3"' in text and 'fillcolor="#eeeeee"' in text


def test_gradients_appear_after_a_retained_backward_and_reused_inputs_get_one_edge(backend_name):
    a = ag.mat([[2.0]])
    c = (a * a) + a
    c.backward(retain_graph=True)
    text = viz.to_dot(c, {"a": a})
    assert "grad [[5]]" in text  # dc/da = 2a + 1
    assert _count_by_parsing(text) == (3, 3)  # a, a*a, sum: a -> mul once, a -> add, mul -> add


def test_non_finite_values_are_highlighted(backend_name):
    x = ag.mat([[0.0, 1.0]])
    y = x.log()
    text = viz.to_dot(y)
    assert "NON-FINITE VALUES" in text and 'color="#cc0000"' in text


def test_large_matrices_show_shape_not_values(backend_name):
    x = ag.mat(np.ones((10, 10)))
    text = viz.to_dot(x.sum())
    assert "10x10" in text and "[[1, 1" not in text


def test_draw_renders_svg_and_png_or_says_how_to_install(backend_name, tmp_path, monkeypatch):
    names = lecture_one_layer()
    if shutil.which("dot"):
        svg = viz.draw(names["L"], str(tmp_path / "g.svg"), names)
        assert open(svg).read().lstrip().startswith(("<?xml", "<svg"))
        png = viz.draw(names["L"], str(tmp_path / "g.png"), names)
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.draw(names["L"], str(tmp_path / "h.svg"))
    with pytest.raises(ValueError, match=r"must end in \.svg, \.png or \.pdf"):
        viz.draw(names["L"], str(tmp_path / "h.gif"))


EXPECTED_CHAIN = [
    ("L = mean(mul#1)", "dY/dA = 1/N"),
    ("mul#1 = mul(phi)", "dY/dA = s"),
    ("phi = pow(rho)", "dY/dA = p A^(p-1)"),
    ("rho = sub(A, Y)", "dY/dA = 1, dY/dB = -1"),
    ("A = sigmoid(Z)", "dA/dZ = sigma(Z)(1 - sigma(Z)) = A(1 - A)"),
    ("Z = add(gamma, b)", "dY/dA = 1, dY/dB = 1"),
    ("gamma = matmul(X, transpose#2)", "dL/dX = dL/dY @ W^T, dL/dW = X^T @ dL/dY"),
    ("transpose#2 = transpose(W)", "dL/dA = (dL/dY)^T"),
]


def test_explain_prints_the_slides_chain_step_by_step(backend_name):
    names = lecture_one_layer()
    out = io.StringIO()
    with ag.explain(names, file=out):
        names["L"].backward()
    text = out.getvalue()
    headers = re.findall(r"^\[(\d+)\] (.+?)  \(", text, re.M)
    assert [h for _, h in headers] == [step for step, _ in EXPECTED_CHAIN]
    blocks = re.split(r"^\[\d+\] ", text, flags=re.M)[1:]
    for block, (_, formula) in zip(blocks, EXPECTED_CHAIN):
        assert formula in block
    # the numbers are the slides' chain: dL/drho = rho / N, dL/dZ = dL/dA * A (1 - A), ...
    A, Y = names["A"].numpy(), names["Y"].numpy()
    n = A.shape[0]
    d_rho = (A - Y) / n
    d_Z = d_rho * A * (1 - A)
    assert f"added to dL/drho (3, 1): {np.array2string(d_rho, precision=4, separator=', ')}".replace("\n", "") in text
    assert f"added to dL/dZ (3, 1): {np.array2string(d_Z, precision=4, separator=', ')}".replace("\n", "") in text
    np.testing.assert_allclose(names["W"].grad.numpy(), d_Z.T @ names["X"].numpy(), rtol=1e-12)


def test_explain_is_silent_outside_its_block_and_abbreviates_large_values(backend_name, capsys):
    x = ag.mat(np.ones((20, 20)))
    (x * 2.0).sum().backward()
    assert capsys.readouterr().out == ""
    with ag.explain():
        (x.exp() * 2.0).sum().backward()
    text = capsys.readouterr().out
    assert "..." in text and text.count("\n") < 30


def test_the_same_graph_gives_the_same_dot_text(backend_name):
    first = lecture_one_layer()
    second = lecture_one_layer()
    assert viz.to_dot(first["L"], first) == viz.to_dot(second["L"], second)
