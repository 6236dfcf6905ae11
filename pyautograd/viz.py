"""Pictures of compute graphs: Graphviz DOT text of the graph behind a Matrix, and rendering.

Parameters (leaves that require a gradient) are blue boxes, constants grey ellipses, ops white
rounded boxes, the root bold; a node holding inf or nan is red. Values and gradients are shown
when a matrix has at most `max_values` entries. Backward releases the graph, so draw it before,
or pass retain_graph=True to backward to draw it with its gradients."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Mapping, Optional

import numpy as np

from .matrix import Matrix

INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian, Ubuntu), `brew install "
                "graphviz` (macOS) or `conda install graphviz`")


def graph_nodes(root: Matrix) -> List[Matrix]:
    """Every matrix the root was computed from (constants included), children first."""
    seen: Dict[int, Matrix] = {id(root): root}
    stack = [root]
    while stack:
        for child in stack.pop()._children:
            if isinstance(child, Matrix) and id(child) not in seen:  # numbers are not nodes
                seen[id(child)] = child
                stack.append(child)
    return sorted(seen.values(), key=lambda m: m._seq)


def _format(values: np.ndarray) -> str:
    rows = ["[" + ", ".join(f"{v:.4g}" for v in row) + "]" for row in values]
    return "[" + ",\\n ".join(rows) + "]"


def _label(m: Matrix, name: Optional[str], max_values: int) -> str:
    kind = m._op or ("parameter" if m.requires_grad else "constant")
    lines = [f"{name} = {kind}" if name else kind, f"{m.shape[0]}x{m.shape[1]}"]
    values = m.numpy()
    if values.size <= max_values:
        lines.append(_format(values))
    if m._grad is not None:
        grad = m._grad.numpy()
        lines.append("grad " + (_format(grad) if grad.size <= max_values
                                else f"|max| {np.nanmax(np.abs(grad)):.4g}"))
    if not np.isfinite(values).all():
        lines.append("NON-FINITE VALUES")
    return "\\n".join(line.replace('"', '\\"') for line in lines)


def to_dot(root: Matrix, names: Optional[Mapping[str, Matrix]] = None, max_values: int = 16) -> str:
    """Graphviz DOT text of the graph that produced `root`: a node per matrix, an edge from
    each input to the result of the op that used it. `names` maps names to matrices."""
    if not isinstance(root, Matrix):
        raise TypeError(f"to_dot: expected a Matrix, got {type(root).__name__}")
    by_id = {id(m): n for n, m in (names or {}).items()}
    nodes = graph_nodes(root)
    key = {id(m): f"n{i}" for i, m in enumerate(nodes)}  # stable names: the same graph, the same text
    lines = ["digraph pyautograd {", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=10];']
    for m in nodes:
        style = []
        if m._op:
            style += ['shape=box', 'style="rounded"']
        elif m.requires_grad:
            style += ['shape=box', 'style="filled"', 'fillcolor="#cfe2f3"']
        else:
            style += ['shape=ellipse', 'style="filled"', 'fillcolor="#eeeeee"']
        if m is root:
            style.append("penwidth=2")
        if not np.isfinite(m.numpy()).all():
            style += ['color="#cc0000"', 'fontcolor="#cc0000"', "penwidth=2"]
        lines.append(f'  {key[id(m)]} [label="{_label(m, by_id.get(id(m)), max_values)}", '
                     + ", ".join(style) + "];")
    for m in nodes:
        for child in dict.fromkeys(c for c in m._children if isinstance(c, Matrix)):  # one edge each
            lines.append(f"  {key[id(child)]} -> {key[id(m)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(root: Matrix, path: str, names: Optional[Mapping[str, Matrix]] = None,
         max_values: int = 16) -> str:
    """Render the graph to `path` (.svg, .png or .pdf) with Graphviz's `dot`; returns the path."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"draw: the path must end in .svg, .png or .pdf, got {path!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(f"draw: the Graphviz `dot` program is not installed; {INSTALL_HINT} "
                           "(to_dot() gives the DOT text without it)")
    result = subprocess.run([dot, f"-T{fmt}", "-o", path], input=to_dot(root, names, max_values),
                            text=True, capture_output=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"draw: dot failed: {result.stderr.strip()}")
    return path
