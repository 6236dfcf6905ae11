"""`compile`: record the kernel launches of a training step once, replay them in one C call.

    step = ag.compile(step_fn)      # or @ag.compile on the definition
    for epoch in range(100):
        loss = step(X, Y)           # a fresh 1x1 Matrix, as step_fn's own result

`step_fn(*inputs)` is ordinary pyautograd code: forward, `loss.backward()`, an optimizer step and
`zero_grad()` (or a hand-written update under `no_grad`), returning the loss (a Matrix, a tuple
of matrices, or None). On the C backend, for each combination of input dtypes, shapes, grad
mode and thread count:

1. the first call runs eagerly (a warm-up: optimizers create their buffers);
2. the next two calls run eagerly while every kernel launch is recorded (kernel, sizes, numbers,
   buffers); the two recordings must agree, else the step is refused with a CaptureError that
   says what changed between the two steps;
3. every later call replays the recording in ONE C call (csrc/plan.c) over the same buffers:
   parameters and optimizer state are updated in place, input matrices are read where they
   are, optimizers' per-step numbers (learning rate, Adam's bias corrections) are recomputed
   in Python first, and parameters' gradients are left as the eager step leaves them.
   Replays compute the very bits eager execution would.

The layers: backends/recording.py records the kernel launches of an eager step,
backends/plan.py turns a trace into the C plan and replays it; this module is what a user
calls: the cache of plans per input signature, the guards on the state a plan was recorded
over (parameters, their gradients, optimizer state), and on verify the checked replay.

float64 and float32 steps replay alike: each recorded launch carries its dtype and the replay
calls the same kernel (pag_X or its twin pag_X_f32) over buffers of that type, its numbers
(table entries, constants) converted to float for a float32 kernel as cffi converts them for
an eager call. A step whose recording launches kernels of both dtypes is refused with a
CaptureError at trace time (a plan replays one dtype; compile the two parts as two steps), and
so is a value read with .item() from a matrix of one dtype handed to a kernel of the other.
The same compiled step called with float32 and with float64 inputs keeps a plan for each.

Like tinygrad's TinyJit and JAX's jit, the Python code of the step does not run on a replay:
Python control flow and Python numbers are frozen as they were when the step was recorded
(an `if` on a counter, a global learning rate). A replay is never stale: what the recording
depended on is guarded and a change records again: other input dtypes or shapes, another grad
mode or thread count, a parameter replaced by assignment (`p.data = ...`) or frozen/unfrozen
(`requires_grad`), an optimizer's state dict or param groups replaced (`load_state_dict`) or its
structure changed (momentum switched on), a module's `training` flag or another attribute read
through `recording.read_attr`. A change between the two recordings, or state created by the first
(optimizer buffers with warmup=0, accumulated gradients), starts the recording again instead of
refusing. Random numbers come from the counter-based stream of `factories.random_offset`, whose
position is a declared scalar: a replay draws afresh, in eager's order. What cannot be replayed is
refused at trace time, never replayed wrongly: reading values in the middle of the step
(`.item()`, `.numpy()`, `.tolist()`, printing a matrix), an op computed outside the C kernels
(gelu), random numbers drawn in Python, kernels of both dtypes in one step, state rebound
instead of updated in place, numbers that change between steps without being declared, a
scheduler stepping inside the step.
Value checks that must survive (binary_cross_entropy's range check) use `check_zero`: a replay
raises after the step ran. Matrices read from globals or closures are the ones read when the
step was recorded (their values are read live; rebinding the name is not seen, nor is replacing
a module's parameter object rather than its `.data`): pass changing data as arguments. Shapes
cannot depend on values without such a read, so a recorded plan's shapes are fixed by its
inputs'. On the `python` backend the step simply runs eagerly: it is the reference.

On the `verify` backend the plan is recorded from the C halves of its storages (verify's own
comparisons may read values while recording; the step may not), and every replay is checked
against eager execution: the replay runs, what it left is noted, the state it changed is put
back, the step runs eagerly (verify checking C against Python op by op), and the two must agree
to the bit in the returned matrices, the parameters, their gradients and the optimizers' state,
else BackendDivergenceError names the step, the call and the first differing value.
"""
from __future__ import annotations

import functools
import gc
import threading
import warnings
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import numpy as np

from . import backends
from . import grad_mode as _grad_mode
from .backends import recording
from .backends.base import Storage
from .backends.plan import Plan
from .errors import BackendDivergenceError, CaptureError
from .matrix import Matrix, _node as _leaf

__all__ = ["CaptureError", "CompiledStep", "compile"]

F = TypeVar("F", bound=Callable[..., Any])
CACHE_SIZE = 8  # plans kept per compiled step (one per input signature), oldest dropped first
GRAD_ANY, GRAD_IS = 0, 1  # a guarded matrix's gradient: whatever, or this one (or None)
_MISSING = object()  # an attribute deleted since it was read


def _c_half(storage: Any) -> Any:
    """The CArray holding a storage's values: itself on the C backend, its C half on verify."""
    return storage.c if storage.backend_name == "verify" else storage


def _flatten(result: Any) -> Tuple[Optional[List[Any]], str]:
    """The matrices a step returned, and how to rebuild its result from them."""
    if result is None:
        return [], "none"
    if isinstance(result, Matrix):
        return [result], "one"
    if isinstance(result, (tuple, list)) and all(isinstance(r, Matrix) for r in result):
        return list(result), type(result).__name__
    raise CaptureError(f"compile: the step must return a Matrix, a tuple or list of matrices, or "
                       f"None; got {type(result).__name__}")


def _rebuild(values: List[Matrix], form: str) -> Any:
    if form == "none":
        return None
    if form == "one":
        return values[0]
    return tuple(values) if form == "tuple" else list(values)


def _first_difference(got: List[Tuple[str, Any]], want: List[Tuple[str, Any]]) -> Optional[str]:
    """The first value of a replay (`got`) that differs from eager's (`want`), in words; None
    when all agree to the bit (NaN with NaN, as verify compares exact ops)."""
    if [name for name, _v in got] != [name for name, _v in want]:
        return (f"the replay left {[name for name, _v in got]}, eager execution "
                f"{[name for name, _v in want]}")
    for (name, r), (_name, e) in zip(got, want):
        if not isinstance(r, np.ndarray) or not isinstance(e, np.ndarray):
            if type(r) is not type(e) or r != e:
                shown = [f"a {x.shape[0]}x{x.shape[1]} matrix" if isinstance(x, np.ndarray)
                         else repr(x) for x in (r, e)]
                return f"{name}: replay {shown[0]}, eager {shown[1]}"
            continue
        if r.shape != e.shape:
            return f"{name}: replay shape {r.shape}, eager {e.shape}"
        bad = ~((r == e) | (np.isnan(r) & np.isnan(e)))
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            return (f"{name} at {first}: replay {float(r[first])!r}, eager {float(e[first])!r} "
                    f"({int(bad.sum())} of {bad.size} values differ)")
    return None



def _matrices_over(trace: recording.Trace) -> List[Matrix]:
    """Every live Matrix whose values are an external buffer of the trace."""
    from .backends.carray import CArray, CArray32
    from .backends.verify import VerifyArray, VerifyArray32
    external = {b.address for b in trace.buffers if b.origin == "external"}
    cast = trace.ffi.cast
    kinds = (CArray, CArray32, VerifyArray, VerifyArray32)
    # (a Matrix whose __init__ raised, still held by a traceback, has no storage: skipped)
    return [obj for obj in gc.get_objects()
            if type(obj) is Matrix and type(getattr(obj, "_data", None)) in kinds
            and int(cast("uintptr_t", _c_half(obj.data).buf)) in external]


class _Guarded:
    """A plan with what it was recorded over: the matrices over its buffers (parameters,
    closed-over data) and their gradients, the optimizers' state and structure. `valid()`
    says whether a replay would still compute what eager execution computes."""

    def __init__(self, trace: recording.Trace, outputs: List[Matrix], form: str,
                 before: Dict[int, Tuple[Any, Any]]) -> None:
        h = recording.hooks()
        self.plan = plan = Plan(trace, h.lib, h.ffi)
        self._matrix_guards(trace, before)
        self.out_specs = [plan.output_spec(_c_half(m.data)) for m in outputs]
        self.form = form
        self.verify = backends.current_storage().backend_name == "verify"  # as recorded
        self._state_guards(trace)

    def _state_guards(self, trace: recording.Trace) -> None:
        """The Python state the recording depended on besides gradients, as flat lists checked
        at every replay: per parameter, its optimizer's state dict (by identity, as
        `load_state_dict` or `opt.state = {}` replace it), how many entries it had and the
        buffers among them; per optimizer and group, the group's place in `param_groups` and the
        structure its update branched on; the attributes read with `recording.read_attr`
        (modules' `training` flags, dropout's p)."""
        self.optimizers = []
        self.structures = []
        seen = set()
        self.scalar_sources: List[Tuple[Callable[..., Any], Tuple[Any, ...]]] = []
        self.draws = []  # the random stream's declared draws (callables with a snapshot())
        for declared in trace.declared:
            if callable(declared.source):  # a random stream's draw (factories.random_offset)
                self.scalar_sources.append((declared.source, ()))
                self.draws.append(declared.source)
                continue
            opt, group, p, state, structure = declared.source
            self.scalar_sources.append((opt._scalars, (group, state)))
            held = tuple((k, v) for k, v in state.items() if isinstance(v, Storage))
            self.optimizers.append((opt, group, p, state, len(state), held))
            if (id(opt), id(group)) not in seen:  # (a group added or a parameter list changed
                seen.add((id(opt), id(group)))  # later would be skipped by a replay: checked)
                self.structures.append((opt, group, state, structure, opt.param_groups,
                                        opt.param_groups.index(group), len(opt.param_groups),
                                        len(group["params"])))
        # the same checks and numbers as flat lists, for the replay's Python side; they hold
        # the matrices themselves (no weakref to call per replay: the plan holds their buffers
        # alive anyway, and a matrix is a few slots more)
        self.grad_is = [(ref(), data, grad, rg) for ref, data, mode, grad, rg in self.guards
                        if mode == GRAD_IS and ref() is not None]
        self.grad_any = [(ref(), data, rg) for ref, data, mode, _grad, rg in self.guards
                         if mode == GRAD_ANY and ref() is not None]
        self.state_dicts = [(opt, p, state, n) for opt, _g, p, state, n, _h in self.optimizers]
        self.held = [(state, k, v) for _o, _g, _p, state, _n, held in self.optimizers for k, v in held]
        self.attrs = list(trace.attrs)

    @classmethod
    def state_of(cls, trace: recording.Trace) -> "_Guarded":
        """The guards of a first recording, without a plan: valid() says whether the state it
        ran over (less gradients) is still there when the second recording starts."""
        self = cls.__new__(cls)
        self._matrix_guards(trace, {})
        self._state_guards(trace)
        # every matrix's storage and requires_grad, whatever its gradient
        self.grad_any = [(ref(), data, rg) for ref, data, _mode, _grad, rg in self.guards
                         if ref() is not None]
        self.grad_is = []
        # whether each had a gradient when the step ended: a next step that finds a gradient
        # released (zero_grad() between calls) or set runs other kernels
        self.presence = [(m, m._grad is None) for m, _data, _rg in self.grad_any]
        return self

    def unchanged(self) -> bool:
        """For a first recording's guards: the state is as the step left it (valid(), and
        each matrix's gradient present or released as the step left it)."""
        return self.valid() and all((m._grad is None) is none for m, none in self.presence)

    def _matrix_guards(self, trace: recording.Trace, before: Dict[int, Tuple[Any, Any]]) -> None:
        """For every Matrix whose values are an external buffer of the plan (parameters,
        closed-over data): its storage must be unchanged at a replay; its gradient as the step
        found it (`before`: None, or the same storage when the step touched it) wherever that
        could change what the step does; and the gradient the step left is put back after each
        replay (a zero_grad()/backward step leaves a gradient of its own)."""
        self.guards: List[Tuple[Any, Any, int, Any, bool]] = []
        self.post: List[Tuple[Any, Any]] = []
        for m in _matrices_over(trace):
            ref = weakref.ref(m)
            found = before.get(id(m))
            rg = m.requires_grad  # freezing or unfreezing changes what backward computes
            if found is None or found[0]() is not m:  # not seen when the step began
                self.guards.append((ref, m.data, GRAD_IS, m._grad, rg))
                continue
            grad = found[1]
            if grad is None:
                self.guards.append((ref, m.data, GRAD_IS, None, rg))
            elif trace.address(_c_half(grad).buf) in trace.index:
                self.guards.append((ref, m.data, GRAD_IS, grad, rg))
            else:
                self.guards.append((ref, m.data, GRAD_ANY, None, rg))
            if m._grad is not grad:
                self.post.append((ref, m._grad))

    def valid(self) -> bool:
        """The state the plan was recorded over is still there: parameters' storages,
        requires_grad flags and gradients, optimizers' state dicts, buffers and structure,
        the attributes the step read (checked at every replay, from flat lists made once; a
        first recording's guards (state_of) check no gradients)."""
        for m, data, grad, rg in self.grad_is:
            if m._data is not data or m._grad is not grad or m.requires_grad is not rg:
                return False
        for m, data, rg in self.grad_any:
            if m._data is not data or m.requires_grad is not rg:
                return False
        for opt, p, state, n_entries in self.state_dicts:
            if opt.state.get(p) is not state or len(state) != n_entries:
                return False
        for state, k, v in self.held:
            if state.get(k) is not v:
                return False
        for opt, group, state, structure, groups, at, n_groups, n_params in self.structures:
            if (opt.param_groups is not groups or len(groups) != n_groups
                    or groups[at] is not group or len(group["params"]) != n_params
                    or opt._structure(group, state) != structure):
                return False
        for ref, name, value in self.attrs:
            obj = ref()
            if obj is not None:
                now = getattr(obj, name, _MISSING)
                if now is not value and (type(now) is not type(value) or now != value):
                    return False
        return True

    def bind_inputs(self, matrices: List[Matrix]) -> None:
        self.plan.bind_inputs([_c_half(m.data) for m in matrices])

    def run(self, matrices: List[Matrix]) -> Any:
        plan = self.plan
        if plan.input_slots:
            self.bind_inputs(matrices)
        if self.scalar_sources:
            values: List[float] = []
            for recompute, args in self.scalar_sources:  # in the order eager computes them
                values += recompute(*args)
            plan.set_scalars(values)
        try:
            plan.run()
        finally:
            for ref, grad in self.post:
                m = ref()
                if m is not None:
                    m._grad = grad
        if self.form == "one":  # a new leaf, as Matrix(storage, False)
            return _leaf(plan.output(self.out_specs[0]), (), "compiled")
        out = []  # (a loop: a comprehension is one more call per replay in Python 3.11)
        for spec in self.out_specs:
            out.append(_leaf(plan.output(spec), (), "compiled"))
        return _rebuild(out, self.form)

    # -- the verify backend: a replay checked against eager execution ----------------------------

    def save(self, matrices: List[Matrix]) -> Tuple[Any, ...]:
        """Everything a replay changes that eager execution would find: the values it writes
        outside its scratch buffers, the gradients it sets, the optimizers' state dicts (their
        step counts)."""
        self.bind_inputs(matrices)
        values = self.plan.save_values()
        grads = [(m, m._grad) for m in (ref() for ref, *_rest in self.guards) if m is not None]
        states = [(state, dict(state)) for _opt, _group, _p, state, _n, _held in self.optimizers]
        streams = [draw.snapshot() for draw in self.draws[:1]]  # (one stream: one snapshot)
        return values, grads, states, streams

    def restore(self, saved: Tuple[Any, ...]) -> None:
        values, grads, states, streams = saved
        self.plan.restore_values(values)
        for put_back in streams:
            put_back()
        for m, grad in grads:
            m._grad = grad
        for state, items in states:
            state.clear()
            state.update(items)

    def observe(self, outputs: List[Matrix]) -> List[Tuple[str, Any]]:
        """What the user sees after a step, in an order that does not depend on how the step
        ran: the returned matrices, the matrices over the plan's buffers (parameters) with
        their gradients, and the optimizers' state."""
        seen: List[Tuple[str, Any]] = []
        for i, m in enumerate(outputs):
            seen.append(("the returned matrix" if len(outputs) == 1 else f"returned matrix #{i}",
                         np.array(m.numpy())))
        for ref, *_rest in self.guards:
            m = ref()
            if m is None:
                continue
            name = self.describe(m)
            grad = m._grad
            seen.append((name, np.array(m.numpy())))
            seen.append((f"the gradient of {name}", None if grad is None else np.array(grad.numpy())))
        for opt, _group, p, state, _n, _held in self.optimizers:
            for k, v in state.items():
                value = np.array(v.numpy()) if isinstance(v, Storage) else v
                seen.append((f"{type(opt).__name__}'s state {k!r} of {self.describe(p)}", value))
        return seen

    def describe(self, m: Matrix) -> str:
        """A parameter by its place in its optimizer, another matrix by its shape and origin."""
        for opt, group, *_rest in self.structures:
            for i, p in enumerate(group["params"]):
                if p is m:
                    where = "" if len(opt.param_groups) == 1 else \
                        f" of group {opt.param_groups.index(group)}"
                    return f"parameter #{i}{where} ({m.shape[0]}x{m.shape[1]})"
        site = getattr(m.data, "site", None)
        return f"the {m.shape[0]}x{m.shape[1]} matrix" + (f" made at {site}" if site else "")


# -- the compiled step ------------------------------------------------------------------------------

class _Entry:
    """One input signature's progress: eager warm-up calls, recordings, then the plan."""

    __slots__ = ("calls", "first", "first_state", "plan", "error", "restarts")

    def __init__(self) -> None:
        self.calls = 0
        self.restarts = 0  # recordings taken as warm-ups (they created state the next read)
        self.first: Optional[recording.Trace] = None
        self.first_state: Optional[_Guarded] = None  # the state the first recording ran over
        self.plan: Optional[_Guarded] = None
        self.error: Optional[CaptureError] = None


class CompiledStep:
    """A step function that replays its recorded kernels on the C backend (see the module
    docstring). `stats` counts eager calls, recordings and replays."""

    def __init__(self, fn: Callable[..., Any], warmup: int = 1, cache_size: int = CACHE_SIZE) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"compile: warmup must be an integer >= 0, got {warmup!r}")
        self.fn = fn
        self.warmup = warmup
        self.cache_size = cache_size
        self._entries: Dict[Any, _Entry] = {}
        self._lock = threading.RLock()
        self.stats = {"eager": 0, "traced": 0, "replayed": 0}
        self._warned = False  # about plans dropped from a full cache
        functools.update_wrapper(self, fn)

    def reset(self) -> None:
        """Forget every recording (the next calls trace again)."""
        with self._lock:
            self._entries.clear()

    def _key(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Any, List[Matrix]]:
        """What a plan is recorded for: backend, grad mode, thread count, the matrices' storage
        types (their dtype), shapes, layouts and requires_grad, the other arguments' values;
        and the matrices."""
        if not args and not kwargs:
            return (_current_storage(), _grad_enabled(), _threads[0]), []
        parts: List[Any] = [_current_storage(), _grad_enabled(), _threads[0]]
        matrices = []
        for a in args:
            if isinstance(a, Matrix):
                d = a.data
                parts.append((type(d), d.nrow, d.ncol, d.transposed, a.requires_grad))
                matrices.append(a)
            else:
                parts.append(("value", type(a), a))
        for k in sorted(kwargs):
            v = kwargs[k]
            if isinstance(v, Matrix):
                raise TypeError("compile: pass matrices to a compiled step positionally")
            parts.append((k, type(v), v))
        return tuple(parts), matrices

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if recording.capturing():  # called from a step being recorded: becomes part of it
            return self.fn(*args, **kwargs)
        with self._lock:
            key, matrices = self._key(args, kwargs)
            try:
                entry = self._entries.get(key)
            except TypeError:
                raise TypeError("compile: a compiled step's arguments must be matrices or "
                                "hashable values (they are part of the cache key)") from None
            if entry is not None and entry.plan is not None:
                if entry.plan.valid():
                    self.stats["replayed"] += 1
                    if entry.plan.verify:
                        return self._checked_replay(entry.plan, matrices, args, kwargs)
                    return entry.plan.run(matrices)
                entry = None  # parameters or optimizer state replaced: record again
                del self._entries[key]
            if not self._capturable(matrices):
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            if entry is None:
                while len(self._entries) >= self.cache_size:
                    self._evict()
                entry = self._entries[key] = _Entry()
            if entry.error is not None:
                raise entry.error
            entry.calls += 1
            if entry.calls <= self.warmup:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            try:
                return self._trace(entry, matrices, args, kwargs)
            except CaptureError as exc:
                entry.error = exc
                raise

    def _evict(self) -> None:
        """Drop the oldest plan; the first time, warn: a step recorded for more signatures than
        the cache holds is mostly running eagerly (a number argument new at every call?)."""
        oldest = next(iter(self._entries))
        del self._entries[oldest]
        if not self._warned:
            self._warned = True
            numbers = [i for i, part in enumerate(oldest[3:]) if isinstance(part, tuple)
                       and part[:1] == ("value",) and isinstance(part[2], float)]
            hint = (f" (argument {numbers[0]} is a float: each new value records the step "
                    "again; pass a number that changes as a 1x1 Matrix input)" if numbers else "")
            warnings.warn(f"compile: {getattr(self.fn, '__qualname__', self.fn)!s} was called "
                          f"with more than {self.cache_size} argument signatures, so the oldest "
                          f"plans are dropped and most calls run eagerly{hint}",
                          RuntimeWarning, stacklevel=3)

    def _checked_replay(self, plan: _Guarded, matrices: List[Matrix], args: Tuple[Any, ...],
                        kwargs: Dict[str, Any]) -> Any:
        """The verify backend's replay: replay the step, note what it left, put the state back,
        run the step eagerly (verify checks C against Python op by op) and require the replay
        to have computed the same bits: it runs the very kernels eager execution ran, so
        verify's exact tolerance applies (NaN equals NaN). A difference raises
        BackendDivergenceError naming the step, the call and the first differing value; the
        state is then eager's. Eager's result is returned."""
        call = sum(self.stats.values())
        name = getattr(self.fn, "__qualname__", None) or repr(self.fn)
        where = f"compiled step {name!r}, call {call}"
        saved = plan.save(matrices)
        replay_error: Optional[BaseException] = None
        try:
            got = plan.observe(_flatten(plan.run(matrices))[0])
        except Exception as exc:  # a value check (check_zero) raised after the replay
            replay_error = exc
        plan.restore(saved)
        try:
            result = self.fn(*args, **kwargs)
        except Exception as exc:
            if replay_error is None:
                raise BackendDivergenceError(f"{where}: eager execution raised {exc!r}, the "
                                             "replay did not") from exc
            raise
        if replay_error is not None:
            raise BackendDivergenceError(f"{where}: the replay raised {replay_error!r}, eager "
                                         "execution did not") from replay_error
        difference = _first_difference(got, plan.observe(_flatten(result)[0]))
        if difference is not None:
            raise BackendDivergenceError(f"{where}: the replay and eager execution differ: "
                                         + difference)
        return result

    def _capturable(self, matrices: List[Matrix]) -> bool:
        storage = _current_storage()
        if storage.backend_name not in ("c", "verify"):
            return False
        kinds = storage.variants.values()  # float64 or float32 (a mix is refused when recording)
        return all(type(m.data) in kinds for m in matrices)

    def _trace(self, entry: _Entry, matrices: List[Matrix], args: Tuple[Any, ...],
               kwargs: Dict[str, Any]) -> Any:
        for i, m in enumerate(matrices):
            if m.requires_grad:
                raise CaptureError(f"compile: input {i} requires grad; a replay would not give the "
                                   "new input a gradient. Pass inputs with requires_grad=False "
                                   "(parameters are closed over, not passed)")
        if entry.first is not None and not entry.first_state.unchanged():
            # the state changed between the two recordings (a layer frozen, an optimizer's
            # state loaded, train()/eval(), gradients released): a first recording again
            entry.first = entry.first_state = None
            entry.restarts = 0  # new state: it may create state again (opt.state = {})
        ffi = recording.hooks().ffi
        inputs: Dict[int, int] = {}
        for i, m in enumerate(matrices):
            addr = int(ffi.cast("uintptr_t", _c_half(m.data).buf))
            if addr in inputs:
                raise CaptureError("compile: two inputs share their memory")
            inputs[addr] = i
        # the optimizers' hyper-parameters as the first recording left them: a step that
        # changes them itself (a scheduler stepping inside it) cannot be replayed
        groups = [] if entry.first is None else [
            (d.source[1], {k: v for k, v in d.source[1].items() if k != "params"})
            for d in entry.first.declared if not callable(d.source)]
        # the gradients of the parameters (and other matrices) as the second recording finds them
        before = {} if entry.first is None else {
            id(m): (weakref.ref(m), m._grad) for m in _matrices_over(entry.first)}
        try:
            trace, result = recording.record(self.fn, inputs, *args, **kwargs)
            outputs, form = _flatten(result)
        except BaseException as exc:
            if not isinstance(exc, CaptureError):
                entry.first = None  # an error of the step itself: record afresh next time
            raise
        self.stats["traced"] += 1
        if trace.random:
            raise CaptureError(f"compile: the step draws random numbers in Python "
                               f"({trace.random[0]}); a replay would reuse them as constants. "
                               "Call the step eagerly, or put the model in eval() mode")
        for group, hyper in groups:
            if {k: v for k, v in group.items() if k != "params"} != hyper:
                raise CaptureError("compile: the step changes an optimizer's hyper-parameters "
                                   "itself (a learning-rate scheduler stepping inside the step?); "
                                   "a replay would not. Step schedulers outside the compiled step")
        if entry.first is None:
            entry.first = trace
            entry.first_state = _Guarded.state_of(trace)
        else:
            first, entry.first, entry.first_state = entry.first, None, None
            if (first.signature() != trace.signature() and entry.restarts < 2
                    and (recording.created_state(first, trace) or _kept_from(first, before))):
                # the first recording created state the second read (buffers made on first
                # use, gradients accumulated): it was a warm-up; record once more against it
                entry.restarts += 1
                entry.first, entry.first_state = trace, _Guarded.state_of(trace)
            elif first.signature() != trace.signature():
                raise CaptureError("compile: two consecutive steps did not launch the same "
                                   "kernels on the same state, so neither can be replayed: "
                                   + recording.describe_difference(first, trace))
            else:
                entry.plan = _Guarded(trace, outputs, form, before)
        copies = [Matrix(m.data.copy(), requires_grad=False) for m in outputs]
        return _rebuild(copies, form)


def _kept_from(first: recording.Trace, before: Dict[int, Tuple[Any, Any]]) -> bool:
    """True when the first recording created state that the next step found: a gradient
    (which backward then accumulates into instead of allocating) or an optimizer's buffers."""
    for _ref, grad in before.values():
        if grad is not None and recording.allocated_in(first, _c_half(grad).buf):
            return True
    for declared in first.declared:
        if not callable(declared.source):
            state = declared.source[3]
            if any(isinstance(v, Storage) and recording.allocated_in(first, _c_half(v).buf)
                   for v in state.values()):
                return True
    return False


_current_storage = backends.current_storage
_grad_enabled = _grad_mode._enabled.get
try:
    from .backends.carray import _threads  # the matmul's thread count, read at every call
except ImportError:  # no C build: every step runs eagerly
    _threads = [1]


def compile(fn: Optional[F] = None, *, warmup: int = 1, cache_size: int = CACHE_SIZE) -> Any:
    """Compile a training step: `compile(step_fn)` or `@compile` (or `@compile(warmup=2)`).

    The returned callable runs `step_fn` eagerly `warmup` times per input signature, records
    its kernel launches over the next two calls and replays them in one C call from then on
    (C backend; on verify every replay is also checked against eager execution; the python
    backend runs the step eagerly). Steps in float64 or in float32 replay alike; one that
    launches kernels of both dtypes is refused with a CaptureError while it is recorded.
    Python control flow and numbers are frozen at trace time, as in tinygrad's TinyJit and JAX's jit; see the module docstring for what
    retraces and what is refused with a CaptureError."""
    if fn is None:
        return lambda f: CompiledStep(f, warmup, cache_size)
    return CompiledStep(fn, warmup, cache_size)
