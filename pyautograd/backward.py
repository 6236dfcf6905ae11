"""The reverse loop: `backward()` and `gradients()`, over the graph that `apply` records.

A graph node (a Matrix, see matrix.py) carries its operands (`_children`), the row of the rule
table that made it (`_rule`), the values that row's reverse rule reads (`_args`), which
operands need a gradient (`_needs`) and the versions of the values it saved (`_saved`). This
module only reads those fields and never builds a Matrix itself but through a node's own class,
so it stands below matrix.py.

`run_backward` collects the non-leaf nodes reachable from the output with an explicit stack (no
recursion: a chain of 100,000 ops works), orders them by creation number (a node is always made
after its operands, so this is a topological order), seeds the output and runs each node's
reverse rule from the output back, adding each operand's share into its gradient (a broadcast
operand's share summed back to its shape first). Leaf gradients accumulate until zero_grad();
intermediate ones are reset at the start of each backward. `gradients` runs the same rules on
matrices instead of storages, so that with create_graph=True what it returns is differentiable.
"""
from __future__ import annotations

import operator
import threading
from typing import Any, List, Optional, Sequence, Tuple

from . import ops
from .backends.base import Storage
from .errors import BackendDivergenceError
from .grad_mode import _tracer, set_grad_enabled
from .ops import Rule

Node = Any  # a Matrix: this module reads its graph fields and never imports the class
ONE_NEEDED = (True,)  # `_needs` of a one-operand op
creation_number = operator.attrgetter("_seq")


def _released_vjp(*args: Any) -> None:
    raise RuntimeError("backward: this part of the graph was already released by an earlier "
                       "backward(); call the first backward with retain_graph=True to "
                       "backpropagate through it again")


RELEASED = Rule("released", _released_vjp, _released_vjp, ops.OTHER, "(released)")


def run_backward(root: Node, seed: Storage, retain_graph: bool) -> None:
    """root.backward(seed): every leaf's gradient += d(<seed, root>)/d(leaf)."""
    if root._rule is None:  # a leaf: nothing to propagate, only to accumulate
        accumulate(root, seed)
        return
    order = topological_order(root)
    for node in order:
        node._grad = None  # intermediate gradients are recomputed, never over-counted
    root._grad = seed
    tracer = _tracer.get()  # pyautograd.explain() narrates; otherwise nothing to check
    node = root
    try:
        for node in reversed(order):
            if node._saved:  # refuse values changed in place since the op recorded them
                for owner, version in node._saved:
                    if owner.version != version:
                        _modified(node, owner, version)
            if tracer is not None:
                tracer.before(node)
            grad = node._grad  # the hot path: node's reverse rule, shares added in
            if grad is None:
                grad = node.grad
            args = node._args
            n = len(args)  # a plain call: Python inlines it, a *args call it cannot
            if n == 2:
                grads = node._rule.vjp(grad, node._data, node._needs, args[0], args[1])
            elif n == 1:
                grads = node._rule.vjp(grad, node._data, ONE_NEEDED, args[0])
            else:
                grads = node._rule.vjp(grad, node._data, node._needs, *args)
            i = 0
            for child in node._children:
                g = grads[i]
                i += 1
                if g is None:
                    continue
                cd = child._data
                if g.nrow != cd.nrow or g.ncol != cd.ncol:  # broadcast in the forward
                    g = (g.unbroadcast(cd.nrow, cd.ncol) if g.nrow >= cd.nrow and
                         g.ncol >= cd.ncol else ops.fit(g, cd.shape))
                if child._grad is None and child._rule is not None and type(g) is type(cd):
                    child._grad = g if g is not grad else g.copy()  # accumulate's first case
                else:
                    accumulate(child, g, g is not grad)
            if tracer is not None:
                tracer.after(node)
    except BackendDivergenceError as exc:  # the verify backend: name the node, not backward()
        raise exc.relocated(f"the backward pass of {node._op!r}",
                            getattr(node._data, "site", None)) from None
    if not retain_graph:
        release(order)


def release(nodes: Sequence[Node]) -> None:
    """Drop what the reverse rules of these nodes would read (the graph is freed); a later
    backward through them raises a RuntimeError that says to retain the graph."""
    for node in nodes:
        if node._rule is not None:
            node._rule = RELEASED
            node._children = ()
            node._args = ()
            node._saved = ()


def topological_order(root: Node) -> List[Node]:
    """Every non-leaf node that leads to root, children before parents.

    An iterative walk collects them (no recursion, so any depth works); since every node is
    created after its children, sorting by creation number is a topological order. Operands
    that are numbers are not nodes."""
    node_class = root.__class__  # operands of another class (numbers) are not nodes
    found = {id(root): root}
    stack = [root]
    while stack:
        for child in stack.pop()._children:
            if child.__class__ is node_class and child._rule is not None and id(child) not in found:
                found[id(child)] = child
                stack.append(child)
    if len(found) == 1:
        return [root]
    return sorted(found.values(), key=creation_number)


def check_versions(node: Node) -> None:
    for owner, version in node._saved:
        if owner.version != version:
            _modified(node, owner, version)


def gradients(outputs: Sequence[Node], inputs: Sequence[Node],
              seeds: Optional[Sequence[Node]] = None,
              create_graph: bool = False) -> Tuple[Optional[Node], ...]:
    """d(sum_k <seed_k, output_k>)/d(input) for each input (None where no path leads to it), as
    matrices, leaving every `.grad` alone (torch.autograd.grad). The reverse rules run on
    matrices, so with create_graph=True the gradients are recorded themselves and can be
    differentiated again; in forward mode they carry tangents (forward-over-reverse)."""
    outputs, inputs = tuple(outputs), tuple(inputs)
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError(f"gradients: an output of shape {out.shape} does not require a "
                               "gradient (none of the matrices it was computed from requires one)")
    grads: dict = {}
    with set_grad_enabled(create_graph):
        for k, out in enumerate(outputs):
            seed = (type(out)(type(out._data).full(out.shape[0], out.shape[1], 1.0), False)
                    if seeds is None else seeds[k])
            if seed.shape != out.shape:
                raise ValueError(f"gradients: seed {k} has shape {seed.shape}, its output {out.shape}")
            previous = grads.get(id(out))
            grads[id(out)] = seed if previous is None else previous + seed
        nodes = {id(n): n for out in outputs if out._rule is not None
                 for n in topological_order(out)}
        order = sorted(nodes.values(), key=creation_number)
        # only the paths that lead to an input: nodes whose rule must run, operands that get a
        # share (an input may stand on a graph of its own, which is not walked)
        wanted = {id(x) for x in inputs}
        run = set()
        for node in order:
            if node._rule is RELEASED:
                _released_vjp()
            for child in node._children:
                if id(child) in wanted:
                    run.add(id(node))
                    wanted.add(id(node))
                    break
        for node in reversed(order):
            if id(node) not in run:
                continue
            g = grads.get(id(node))
            if g is None:
                continue
            if node._saved:
                check_versions(node)
            rule = node._rule
            children = node._children
            params = node._args[len(children):]
            needs = tuple(need and id(child) in wanted
                          for need, child in zip(node._needs, children))
            for child, gi in zip(children, rule.vjp(g, node, needs, *children, *params)):
                if gi is not None and id(child) in wanted:
                    if gi.shape != child.shape:
                        gi = ops.fit(gi, child.shape)
                    if gi._data.dtype is not child._data.dtype:  # the operand's own dtype
                        gi = gi.to(child._data.dtype)
                    previous = grads.get(id(child))
                    grads[id(child)] = gi if previous is None else previous + gi
    return tuple(grads.get(id(x)) for x in inputs)


# A leaf may be shared by the backward passes of several threads (a model trained from a thread
# pool): every addition into a leaf's gradient holds this lock, as PyTorch's AccumulateGrad
# does, so that none is lost while a kernel runs without the GIL. Intermediate nodes belong to
# one graph, one thread: they skip it (an uncontended lock still costs ~0.2 us).
_leaf_lock = threading.Lock()


def accumulate(node: Node, g: Storage, owned: bool = True) -> None:
    """node.grad += g. The first gradient to arrive is adopted as node.grad (or copied, when the
    caller does not own it) instead of being added to a matrix of zeros. A gradient has its
    node's dtype: a float64 op's share for a float32 operand is rounded to float32."""
    if type(g) is not type(node._data):
        g = g.astype(node._data.dtype)
    leaf = node._rule is None
    if leaf:
        _leaf_lock.acquire()
    try:
        current = node._grad
        if current is None:
            node._grad = g if owned else g.copy()
        else:
            current += g
    finally:
        if leaf:
            _leaf_lock.release()


def _modified(node: Node, owner: Storage, version: int) -> None:
    """Refuse to backpropagate through an op whose saved values were changed in place since it
    recorded them (its gradient would silently be wrong), as PyTorch does."""
    raise RuntimeError(
        f"backward: a value needed to compute the gradient of {node._op!r} (its result is "
        f"{node.shape}) has been modified by an in-place operation: a {owner.shape} matrix is "
        f"at version {owner.version}, the op recorded version {version}. Change values after "
        "backward(), or change a copy (m.data.copy())")
