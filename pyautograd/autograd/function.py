"""Your own differentiable op, in PyTorch's shape: `ag.autograd.Function`.

    class Exp(ag.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    y = Exp.apply(x)

A Function subclass becomes one row of the rule table (`ops.Rule`), made once per class: its
value runs `forward` on the operands' values (constant matrices, grad mode off), its reverse
rule runs `backward`. In an ordinary `backward()` the rule gets storages and hands `backward`
constant matrices; under `gradients(create_graph=True)` (ag.grad of ag.grad, hessian, hvp) it
gets the graph's own matrices, and `ctx.saved_tensors` gives back the inputs and the output as
those graph matrices, so a `backward` written with library ops is differentiable again. A
`jvp(ctx, *tangents)` static method gives the forward rule; without one, forward mode raises
NotImplementedError naming the Function, as for a table row without one. (A matrix computed
inside forward and saved stays a constant for a second derivative: save inputs and outputs,
and compute the rest in backward, when the gradient itself is to be differentiated.)

When forward returns several matrices, the row's node is a 1x1 placeholder (the hub) and each
output a node over it: the outputs' reverse rules (made after the hub, so run before it) hand
their gradients to the call, and the hub's runs backward once with all of them.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

from ..backends.base import Storage
from ..errors import CaptureError
from ..grad_mode import no_grad
from ..matrix import Matrix, _forward_depth, apply
from ..ops import OTHER, Rule

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What `forward` hands to `backward` (and `jvp`): `save_for_backward(*matrices)` and
    `saved_tensors`, `needs_input_grad` (one bool per argument of `apply`),
    `mark_non_differentiable(output)`, and any attribute you set on it."""

    def __init__(self, name: str, needs_input_grad: Tuple[bool, ...]) -> None:
        self.needs_input_grad: Tuple[bool, ...] = needs_input_grad
        self._name = name
        self._saved: Optional[Tuple[Optional[Matrix], ...]] = None
        self._inputs: List[Matrix] = []  # forward's constant views of the Matrix arguments
        self._outputs: List[Matrix] = []  # what forward returned
        self._live: Optional[Tuple[List[Any], Any]] = None  # (inputs, output) while a rule runs
        self._non_differentiable: List[Matrix] = []

    def save_for_backward(self, *tensors: Optional[Matrix]) -> None:
        """Keep matrices (inputs, the output, or values computed in forward) for backward."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Matrix):
                raise TypeError(f"{self._name}.forward: save_for_backward takes matrices (or "
                                f"None); argument {i} is a {type(t).__name__}, keep it as an "
                                "attribute of ctx instead")
        self._saved = tensors

    @property
    def saved_tensors(self) -> Tuple[Optional[Matrix], ...]:
        """The matrices given to save_for_backward: an input or the output comes back as the
        graph's own matrix while a derivative is being recorded (double backward)."""
        if self._saved is None:
            return ()
        if self._live is None:
            return self._saved
        inputs, outputs = self._live
        out: List[Optional[Matrix]] = []
        for t in self._saved:
            if t is not None:
                for mine, live in ((self._inputs, inputs), (self._outputs, outputs)):
                    found = next((k for k, m in enumerate(mine) if t is m), None)
                    if found is not None:
                        t = live[found]
                        break
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *outputs: Matrix) -> None:
        """Declare an output without a gradient (an index, a mask): it records no graph."""
        self._non_differentiable.extend(outputs)

    def _versions(self) -> Tuple[Tuple[Storage, int], ...]:
        """(owner, version) of every saved matrix's storage, for backward's in-place check."""
        pairs = []
        for t in self._saved or ():
            if t is not None:
                owner = t._data._base or t._data
                pairs.append((owner, owner.version))
        return tuple(pairs)


class _Call:
    """One application of a Function: its class, ctx, and where the Matrix arguments sit among
    the others (which pass through to forward untouched)."""

    __slots__ = ("fn", "ctx", "args", "positions", "several", "nodes", "grads", "tangents")

    def __init__(self, fn: type, ctx: FunctionCtx, args: Tuple[Any, ...],
                 positions: List[int]) -> None:
        self.fn, self.ctx, self.args, self.positions = fn, ctx, args, positions
        # When forward returns several matrices, the row's node is a hub (a 1x1 placeholder)
        # and each output a node of its own over it (the class's output row): their reverse
        # rules hand their gradients here, and the hub's runs backward once with all of them.
        self.several = False
        self.nodes: List[Matrix] = []
        self.grads: dict = {}
        self.tangents: List[Matrix] = []

    def arguments(self, matrices: List[Any]) -> List[Any]:
        full = list(self.args)
        for k, i in enumerate(self.positions):
            full[i] = matrices[k]
        return full


class _PausedForwardMode:
    """Forward mode off inside a user's forward or backward (its ops carry no tangents)."""

    def __enter__(self) -> None:
        self.depth, _forward_depth[0] = _forward_depth[0], 0

    def __exit__(self, *exc: Any) -> None:
        _forward_depth[0] = self.depth


def _refused(name: str, method: str, exc: CaptureError) -> CaptureError:
    detail = str(exc).removeprefix("compile: ")
    return CaptureError(f"compile: the Function {name!r} cannot be recorded: its {method} "
                        f"failed while recording: {detail}")


def _value(*args: Any) -> Storage:
    """The row's value: forward on constant matrices over the operands' storages."""
    call: _Call = args[-1]
    ctx, name = call.ctx, call.fn.__name__
    ctx._inputs = [Matrix(s, requires_grad=False) for s in args[:-1]]
    try:
        with no_grad(), _PausedForwardMode():
            out = call.fn.forward(ctx, *call.arguments(ctx._inputs))
    except CaptureError as exc:
        raise _refused(name, "forward", exc) from None
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, Matrix) for o in out):
        ctx._outputs = list(out)
        call.several = True
        return type(out[0]._data).zeros(1, 1)  # the hub: each output is a node over it
    if not isinstance(out, Matrix):
        raise TypeError(f"{name}.forward must return a Matrix or a tuple of matrices, got "
                        f"{type(out).__name__}")
    ctx._outputs = [out]
    data = out._data
    if any(data is m._data for m in ctx._inputs):  # forward returned an input: a new matrix
        data = data.copy()
    return data


def _output_value(hub: Storage, call: _Call, i: int) -> Storage:
    """Output i of a Function with several: forward's matrix (a copy where it is an input's or
    another output's)."""
    outputs = call.ctx._outputs
    data = outputs[i]._data
    if any(data is m._data for m in call.ctx._inputs) or any(
            data is o._data for o in outputs[:i]):
        data = data.copy()
    return data


def _output_vjp(grad: Any, out: Any, needs: Tuple[bool, ...], hub: Any, call: _Call,
                i: int) -> Tuple[Any]:
    """Output i's gradient, kept for the hub's reverse rule (which runs after every output's:
    the hub was made first); the hub itself gets a zero."""
    previous = call.grads.get(i)
    call.grads[i] = grad if previous is None else previous + grad
    if isinstance(grad, Storage):
        return (type(grad).zeros(1, 1),)
    return (Matrix(type(grad._data).zeros(1, 1), requires_grad=False),)


def _output_jvp(tangents: List[Optional[Matrix]], out: Matrix, hub: Matrix, call: _Call,
                i: int) -> Matrix:
    """Output i's tangent, from the user's jvp that the hub's forward rule ran."""
    return call.tangents[i]


def _check_gradient(name: str, i: int, g: Any, operand: Any, cls: type) -> Any:
    if not isinstance(g, Matrix):
        raise TypeError(f"{name}.backward: the gradient for input {i} must be a Matrix or "
                        f"None, got {type(g).__name__}")
    if g.shape != operand.shape:
        raise ValueError(f"{name}.backward: the gradient for input {i} has shape {g.shape}, "
                         f"input {i} has shape {operand.shape}")
    if g._data.backend_name != cls.backend_name:
        raise TypeError(f"{name}.backward: the gradient for input {i} is on backend "
                        f"{g.backend!r}, input {i} on {cls.backend_name!r}")
    return g


def _vjp(grad: Any, out: Any, needs: Tuple[bool, ...], *args: Any) -> Tuple[Any, ...]:
    """The row's reverse rule: the user's backward, its gradients checked (one per argument,
    each None or of its input's shape)."""
    call: _Call = args[-1]
    operands = args[:-1]
    ctx, name = call.ctx, call.fn.__name__
    on_storages = isinstance(grad, Storage)
    if call.several:  # the outputs' gradients (zeros for one that got none)
        found = [call.grads.pop(k, None) for k in range(len(call.nodes))]
        call.grads.clear()
        zeros = [type(m._data).zeros(*m.shape) for m in call.nodes]
        if on_storages:
            grads_in = [z if f is None else f for f, z in zip(found, zeros)]
            outs = [m._data for m in call.nodes]
        else:
            grads_in = [Matrix(z, requires_grad=False) if f is None else f
                        for f, z in zip(found, zeros)]
            outs = list(call.nodes)
    else:
        grads_in, outs = [grad], [out]
    if on_storages:  # an ordinary backward: constant matrices, nothing recorded
        gs = [Matrix(s, requires_grad=False) for s in grads_in]
        inputs: List[Any] = [Matrix(s, requires_grad=False) for s in operands]
        outputs = [Matrix(s, requires_grad=False) for s in outs]
    else:  # create_graph: the graph's matrices, so the gradient is recorded
        gs, inputs, outputs = grads_in, list(operands), outs
    ctx._live = (inputs, outputs)
    try:
        if on_storages:
            with no_grad(), _PausedForwardMode():
                result = call.fn.backward(ctx, *gs)
        else:  # forward mode stays on: inside a jvp, the gradient carries a tangent
            result = call.fn.backward(ctx, *gs)
    except CaptureError as exc:
        raise _refused(name, "backward", exc) from None
    finally:
        ctx._live = None
    grads = result if isinstance(result, tuple) else (result,)
    if len(grads) > len(call.args) and all(gi is None for gi in grads[len(call.args):]):
        grads = grads[:len(call.args)]  # Nones for defaulted arguments apply was not given
    if len(grads) != len(call.args):
        raise ValueError(f"{name}.backward returned {len(grads)} gradient"
                         f"{'s' if len(grads) != 1 else ''}, expected {len(call.args)} (one per "
                         "argument of apply, None where there is none)")
    positions = set(call.positions)
    for i, gi in enumerate(grads):
        if i not in positions and gi is not None:
            raise ValueError(f"{name}.backward: input {i} is not a Matrix "
                             f"({type(call.args[i]).__name__}); its gradient must be None")
    found: List[Any] = []
    aliases = None
    for k, i in enumerate(call.positions):
        gi = grads[i]
        if gi is None or not needs[k]:
            found.append(None)
            continue
        operand = operands[k]
        _check_gradient(name, i, gi, operand, type(operand if on_storages else operand._data))
        if on_storages:
            data = gi._data
            if aliases is None:  # a gradient may not be a value the graph still holds, nor
                aliases = {id(s) for s in operands} | {id(s) for s in outs} | {  # another's
                    id(t._data) for t in (ctx._saved or ()) if t is not None} | {
                    id(s) for s in grads_in}
            if id(data) in aliases:
                data = data.copy()
            aliases.add(id(data))
            found.append(data)
        else:
            found.append(gi)
    return tuple(found)


def _jvp(tangents: List[Optional[Matrix]], out: Matrix, *args: Any) -> Matrix:
    """The row's forward rule: the user's jvp(ctx, *tangents) (zeros for an operand without a
    tangent, None for a non-Matrix argument)."""
    call: _Call = args[-1]
    operands = args[:-1]
    ctx, name = call.ctx, call.fn.__name__
    filled = [t if t is not None else Matrix(type(o._data).zeros(*o.shape), requires_grad=False)
              for t, o in zip(tangents, operands)]
    full: List[Any] = [None] * len(call.args)
    for k, i in enumerate(call.positions):
        full[i] = filled[k]
    if call.several:  # the outputs are made after the hub: forward's values stand for them
        outputs = [Matrix(o._data, requires_grad=False) for o in ctx._outputs]
        shapes = [o.shape for o in ctx._outputs]
    else:
        outputs, shapes = [out], [out.shape]
    ctx._live = (list(operands), outputs)
    try:
        result = call.fn.jvp(ctx, *full)
    finally:
        ctx._live = None
    results = list(result) if call.several and isinstance(result, (tuple, list)) else [result]
    got = [r.shape if isinstance(r, Matrix) else type(r).__name__ for r in results]
    if got != shapes:
        raise ValueError(f"{name}.jvp must return the outputs' tangents, matrices of shapes "
                         f"{shapes}; got {got}")
    if not call.several:
        return result
    call.tangents = results
    return Matrix(type(out._data).zeros(1, 1), requires_grad=False)


class Function:
    """A differentiable op of your own (PyTorch's torch.autograd.Function): define static
    methods `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` (and optionally
    `jvp(ctx, *tangents)`), then call `YourFunction.apply(*args)`. `formula`, if given, is what
    `explain()` prints as the local derivative."""

    formula: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__}: a Function is not instantiated; call "
                        f"{type(self).__name__}.apply(...)")

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Matrix:
        """The output, computed from the arguments (grad mode is off)."""
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Matrix) -> Any:
        """One gradient per argument of apply (None where there is none)."""
        raise NotImplementedError("a Function subclass must define backward(ctx, *grad_outputs)")

    @staticmethod
    def jvp(ctx: FunctionCtx, *tangents: Optional[Matrix]) -> Matrix:
        """The output's tangent from the inputs' (forward mode); optional."""
        raise NotImplementedError

    @classmethod
    def _rule(cls) -> Rule:
        """This Function's row of the rule table (made once per class)."""
        row = cls.__dict__.get("_row")  # the class's own, not a base class's
        if row is None:
            name = cls.__name__
            formula = cls.formula or f"{name}: a user-defined Function (dL/dA from {name}.backward)"
            jvp = _jvp if cls.jvp is not Function.jvp else None
            row = Rule(name, _value, _vjp, OTHER, formula, jvp=jvp,
                       doc=(cls.__doc__ or "").strip())
            cls._row = row
            cls._out_row = Rule(f"{name}.output", _output_value, _output_vjp, OTHER,
                                f"{name}.output: one output of {name}, whose gradient "
                                f"{name}.backward receives", jvp=_output_jvp)
        return row

    @classmethod
    def apply(cls, *args: Any) -> Union[Matrix, Tuple[Matrix, ...]]:
        """Run forward on args and record the op, so that backward runs cls.backward (with one
        gradient per output: zeros for an output that got none)."""
        if cls is Function:
            raise TypeError("Function.apply: subclass Function and define forward and backward")
        from ..grad_mode import is_grad_enabled
        grad_on = is_grad_enabled()
        needs = tuple(isinstance(a, Matrix) and a.requires_grad and grad_on for a in args)
        positions = [i for i, a in enumerate(args) if isinstance(a, Matrix)]
        ctx = FunctionCtx(cls.__name__, needs)
        call = _Call(cls, ctx, args, positions)
        result = apply(cls._rule(), tuple(args[i] for i in positions), (call,))
        if result._rule is not None and ctx._saved:
            result._saved = ctx._versions()
        constant = [any(m is o for m in ctx._non_differentiable) for o in ctx._outputs]
        if not call.several:
            return _constant(result) if constant[0] else result
        out_row = cls.__dict__["_out_row"]
        outputs = []
        for i, c in enumerate(constant):
            o = apply(out_row, (result,), (call, i))
            outputs.append(_constant(o) if c else o)
        call.nodes = outputs
        call.tangents = []
        return tuple(outputs)


def _constant(m: Matrix) -> Matrix:
    """m without its graph or tangent (an output marked non-differentiable)."""
    return Matrix(m._data, requires_grad=False)
