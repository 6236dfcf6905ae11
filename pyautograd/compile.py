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

float64 and float32 steps replay alike: each recorded launch carries its dtype and the replay
calls the same kernel (pag_X or its twin pag_X_f32) over buffers of that type, its numbers
(table entries, constants) converted to float for a float32 kernel as cffi converts them for
an eager call. A step whose recording launches kernels of both dtypes is refused with a
CaptureError at trace time (a plan replays one dtype; compile the two parts as two steps), and
so is a value read with .item() from a matrix of one dtype handed to a kernel of the other.
The same compiled step called with float32 and with float64 inputs keeps a plan for each.

Like tinygrad's TinyJit and JAX's jit, the Python code of the step does not run on a replay:
Python control flow and Python numbers are frozen as they were when the step was recorded
(an `if` on a counter, a global learning rate). A change that compile can see retraces: other
input dtypes or shapes, another grad mode or thread count, a parameter replaced by assignment
(`p.data = ...`), an optimizer whose state was replaced or whose structure changed (momentum
switched on). What cannot be replayed is refused at trace time, never replayed wrongly: reading
values in the middle of the step (`.item()`, `.numpy()`, `.tolist()`, printing a matrix), an op
computed outside the C kernels (gelu), kernels of both dtypes in one step, state rebound
instead of updated in place, numbers that change between steps without an optimizer declaring
them, a scheduler stepping inside the step.
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

import _thread
import functools
import gc
import numbers
import os
import struct
import sys
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import numpy as np

from . import backends
from . import grad_mode as _grad_mode
from .errors import BackendDivergenceError
from .matrix import Matrix, _node as _leaf
from .optim import optimizer as _optimizer

F = TypeVar("F", bound=Callable[..., Any])
CACHE_SIZE = 8  # plans kept per compiled step (one per input signature), oldest dropped first


class CaptureError(RuntimeError):
    """A step that compile cannot record faithfully: raised while recording (or before a replay
    starts, for inputs that share memory with the plan's buffers), never after a wrong replay."""


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _c_half(storage: Any) -> Any:
    """The CArray holding a storage's values: itself on the C backend, its C half on verify."""
    return storage.c if storage.backend_name == "verify" else storage


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_LIST2D_FILE = os.path.join(_PACKAGE_DIR, "backends", "list2d.py")
_VERIFY_FILE = os.path.join(_PACKAGE_DIR, "backends", "verify.py")
_CARRAY_FILE = os.path.join(_PACKAGE_DIR, "backends", "carray.py")
_USER_READS = {"numpy", "tolist", "item", "__repr__"}  # VerifyArray methods a user reads through


def _verify_reads() -> bool:
    """True when a C value read during a verify-backend recording comes from verify's own
    comparison of C against Python (not from the step reading a matrix): such reads do not
    feed any kernel, so the recording stays faithful."""
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename) == _CARRAY_FILE:
        frame = frame.f_back
    return (frame is not None and os.path.abspath(frame.f_code.co_filename) == _VERIFY_FILE
            and frame.f_code.co_name not in _USER_READS)


class _ItemValue:
    """What `.item()` returns while a step is recorded: the value lives in a buffer that a replay
    refills, so the only thing it may do is go straight into a kernel (as the backward of
    `mean()` does); any Python use of it raises."""

    __slots__ = ("value", "buffer", "version")

    def __init__(self, value: float, buffer: int, version: int) -> None:
        self.value, self.buffer, self.version = value, buffer, version

    def _refuse(self, *args: Any) -> Any:
        raise CaptureError(
            "compile: the step reads a value with .item() and computes with it in Python; a "
            "replay does not run Python code, so that value would be stale. Return the matrix "
            "from the step and call .item() outside it")

    def __float__(self) -> float:
        # the verify backend's pure-Python half (List2D) takes the value it was given: it is the
        # reference eager run, and nothing it computes reaches a recorded kernel
        t = _tracing()
        caller = sys._getframe(1).f_code.co_filename
        if t is not None and t.verify and os.path.abspath(caller) == _LIST2D_FILE:
            return self.value
        return self._refuse()

    __int__ = __index__ = __bool__ = __round__ = __trunc__ = __floor__ = _refuse
    __ceil__ = __abs__ = __neg__ = __pos__ = __repr__ = __str__ = __format__ = __hash__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = _refuse
    __rpow__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __divmod__ = _refuse


numbers.Real.register(_ItemValue)  # so that as_scalar() calls __float__, which refuses clearly

# -- the recording --------------------------------------------------------------------------------

# Op kinds and scalar sources, as in csrc/pyautograd.h (checked against the C enums at import).
BINARY, SAME, SCALAR, UNARY, POW, FILL, AXPY, SIGMOID_BW, TRANSPOSE, REDUCE, MATMUL, COPY = range(12)
FROM_OP, FROM_TABLE, FROM_BUFFER = range(3)
DTYPE_CODE = {"double": 0, "float": 1}  # a launch's C element type -> enum pag_plan_dtype
_DTYPE_OF = {"double": "float64", "float": "float32"}
_KERNEL_OF = {"pag_binary": BINARY, "pag_binary_same": SAME, "pag_binary_scalar": SCALAR,
              "pag_unary": UNARY, "pag_pow_scalar": POW, "pag_fill": FILL, "pag_axpy": AXPY,
              "pag_sigmoid_backward": SIGMOID_BW, "pag_transpose": TRANSPOSE,
              "pag_reduce": REDUCE, "pag_matmul": MATMUL}
_NAME_OF = {v: k for k, v in _KERNEL_OF.items()}
_NAME_OF[COPY] = "copy"
# Op tuple fields: kind, code, flag0, flag1, accumulate, threads, size0..2, stride0..3, buf0,
# buf1, out, scalar_from, scalar_index, scalar (the layout of pag_plan_op).
_FIELDS = ("kind", "code", "flag0", "flag1", "accumulate", "num_threads", "size0", "size1",
           "size2", "stride0", "stride1", "stride2", "stride3", "buf0", "buf1", "out",
           "scalar_from", "scalar_index", "scalar")


class _Buffer:
    """One buffer the recording touched: the cdata object (kept alive), its address, where it
    came from ('input', 'internal' = allocated during this step, 'external', 'const'), its C
    element type ('double' or 'float') and, when known, how many values it holds."""

    __slots__ = ("obj", "address", "origin", "capacity", "input", "data", "written", "version",
                 "ctype")

    def __init__(self, obj: Any, address: int, origin: str, capacity: Optional[int],
                 ctype: str) -> None:
        self.obj, self.address, self.origin, self.capacity = obj, address, origin, capacity
        self.ctype = ctype
        self.input: Optional[int] = None
        self.data: Optional[bytes] = None  # a constant's bytes
        self.written = False
        self.version = 0

    def signature(self) -> Tuple[Any, ...]:
        if self.origin == "external":
            return ("external", self.address)
        if self.origin == "input":
            return ("input", self.input)
        if self.origin == "const":
            return ("const", self.ctype, self.data)
        return ("internal", self.ctype, self.capacity)


class _Trace:
    """The kernel launches of one eager step, in order, with the buffers they touched."""

    def __init__(self, ffi: Any, inputs: Dict[int, int]) -> None:
        self.ffi = ffi
        self.thread = _thread.get_ident()
        self.verify = False  # recorded on the verify backend: its C halves' kernels
        self.ctype: Optional[str] = None  # the kernels' element type: 'double' or 'float'
        self.inputs = inputs  # input buffer address -> input position
        self.buffers: List[_Buffer] = []
        self.index: Dict[int, int] = {}  # address -> buffers position
        self.allocated: Dict[int, int] = {}  # address -> values, of buffers allocated now
        self.ops: List[Tuple[Any, ...]] = []
        self.extents: List[Tuple[Tuple[int, int], ...]] = []  # per op: (buffer, values used)
        self.slots: Dict[int, int] = {}  # id(float) -> scalar table position
        self.slot_values: List[float] = []  # keeps those floats alive (their ids stay unique)
        self.optimizers: List[Tuple[Any, ...]] = []  # (optimizer, group, param, state, first, n, structure)
        self.checks: List[Tuple[int, Callable[[], BaseException]]] = []  # (buffer, error) after a replay

    def address(self, obj: Any) -> int:
        return int(self.ffi.cast("uintptr_t", obj))

    def buffer(self, obj: Any) -> int:
        """The position of buffer `obj` in this trace, added on first sight."""
        addr = self.address(obj)
        found = self.index.get(addr)
        if found is not None:
            return found
        ctype = self.ffi.typeof(obj).item.cname
        if addr in self.inputs:
            buf = _Buffer(obj, addr, "input", None, ctype)
            buf.input = self.inputs[addr]
            buf.written = True
        elif addr in self.allocated:
            buf = _Buffer(obj, addr, "internal", self.allocated[addr], ctype)
        else:
            buf = _Buffer(obj, addr, "external", None, ctype)
            buf.written = True
        self.index[addr] = len(self.buffers)
        self.buffers.append(buf)
        return self.index[addr]

    def const(self, data: bytes, ctype: str) -> int:
        """A buffer holding bytes that Python handed to a kernel's output (a matrix made from
        NumPy or list data inside the step), values of C type `ctype`: the plan owns a copy and
        restores it each replay."""
        n = len(data) // self.ffi.sizeof(ctype)
        obj = self.ffi.new(f"{ctype}[]", max(n, 1))
        self.ffi.memmove(obj, data, len(data))
        buf = _Buffer(obj, self.address(obj), "const", max(n, 1), ctype)
        buf.data, buf.written = data, True
        self.buffers.append(buf)
        return len(self.buffers) - 1

    def scalar(self, value: Any, op_name: str) -> Tuple[int, int, float]:
        """(source, index, value) of a kernel's scalar argument (a double; pag_plan_run converts
        it to float for a float32 kernel, as cffi does for an eager call)."""
        if type(value) is _ItemValue:
            buf = self.buffers[value.buffer]
            if buf.version != value.version:
                raise CaptureError(f"compile: {op_name} uses a value read with .item() after the "
                                   "matrix it came from was changed; a replay cannot reproduce that")
            return FROM_BUFFER, value.buffer, value.value
        slot = self.slots.get(id(value))
        if slot is not None and self.slot_values[slot] is value:
            return FROM_TABLE, slot, value
        return FROM_OP, 0, float(value)

    def record(self, kind: int, ctype: str, ints: Tuple[int, ...],
               reads: Tuple[Tuple[int, int], ...], out: Tuple[int, int],
               scalar: Tuple[int, int, float] = (FROM_OP, 0, 0.0),
               bufs: Tuple[int, int] = (-1, -1), reads_out: bool = False) -> None:
        """Append one launch of the kernel over C type `ctype` ('double', or 'float' for the
        _f32 kernels): `ints` the 13 integer fields up to the strides, `reads` the (buffer,
        values) it reads, `out` the buffer it writes (reading it first if reads_out)."""
        name = _NAME_OF[kind] + ("_f32" if ctype == "float" else "")
        if self.ctype is None:
            self.ctype = ctype
        elif ctype != self.ctype:
            raise CaptureError(f"compile: the step launches {_DTYPE_OF[ctype]} kernels ({name}) "
                               f"and {_DTYPE_OF[self.ctype]} ones; a plan replays one dtype. "
                               "Compile the float32 and float64 parts as separate steps")
        touched = [b for b, _n in reads + (out,)]
        if scalar[0] == FROM_BUFFER:
            touched.append(scalar[1])
        for b in touched:
            if self.buffers[b].ctype != ctype:
                raise CaptureError(f"compile: {name} is handed a buffer of "
                                   f"{_DTYPE_OF.get(self.buffers[b].ctype, self.buffers[b].ctype)} "
                                   f"values (a value read with .item() from a matrix of the other "
                                   "dtype?); a replay cannot reproduce the conversion")
        for b, n in reads + ((out,) if reads_out else ()):
            if n and not self.buffers[b].written:
                raise CaptureError(f"compile: {name} reads a buffer that no kernel of the step "
                                   "wrote (uninitialised memory); it cannot be replayed")
        ob = self.buffers[out[0]]
        if ob.origin == "const":
            raise CaptureError(f"compile: {name} writes into a constant")
        ob.written = True
        ob.version += 1
        self.ops.append(ints + bufs + (out[0],) + scalar)
        self.extents.append(reads + (out,))

    def signature(self) -> Tuple[Any, ...]:
        # numbers from the scalar table or a buffer are read at replay: only their source counts
        ops = tuple(op[:-1] + (_bits(op[-1]) if op[16] == FROM_OP else b"",) for op in self.ops)
        opts = tuple((id(o), id(g), id(p), first, n, s) for o, g, p, _st, first, n, s in self.optimizers)
        checks = tuple(b for b, _error in self.checks)
        return self.ctype, ops, tuple(b.signature() for b in self.buffers), opts, checks


_active: List[Optional[_Trace]] = [None]  # the trace being recorded, if any
_trace_lock = threading.Lock()  # one recording at a time (the kernel hooks are process-wide)


def _tracing() -> Optional[_Trace]:
    t = _active[0]
    if t is not None and t.thread == _thread.get_ident():
        return t
    return None


def capturing() -> bool:
    """True while this thread's step is being recorded by compile (library code that would read
    a value in Python takes a path that keeps it in a buffer instead)."""
    return _tracing() is not None


def check_zero(count: Any, error: Callable[[], BaseException]) -> None:
    """A value check that survives compilation: `count` (a 1x1 storage, computed by kernels)
    must be 0, else `error()` is raised: now, and after every replay of a step recorded with it
    (a replay raises once the step has run, since it runs in one C call)."""
    t = _tracing()
    if t is not None:
        count = _c_half(count)
        b = t.buffer(count.buf)
        t.checks.append((b, error))
    value = _hooks().item(count) if t is not None else count.item()
    if value != 0.0:
        raise error()


def _refuse_kernel(name: str, real: Callable) -> Callable:
    def refuse(*args: Any) -> Any:
        if _tracing() is not None:
            raise CaptureError(f"compile: the step calls the C function {name}, which compile "
                               "does not know how to replay")
        return real(*args)
    return refuse


def _recorder(name: str, real: Callable) -> Callable:
    """A stand-in for kernel `name` (a float64 kernel, or its _f32 twin) that records the launch
    (in the tracing thread) and runs it."""
    base = _base_name(name)
    kind = _KERNEL_OF[base]
    ctype = "float" if base != name else "double"

    def run(*args: Any) -> Any:
        t = _tracing()
        if t is None:
            return real(*args)
        for a in args:
            if type(a) is _ItemValue and base not in ("pag_binary_scalar", "pag_pow_scalar",
                                                      "pag_fill", "pag_axpy"):
                a._refuse()
        B = t.buffer
        z = (0,) * 4
        if kind == SAME:
            code, n, a, b, out = args
            ia, ib, io = B(a), B(b), B(out)
            t.record(kind, ctype, (kind, code, 0, 0, 0, 0, n, 0, 0) + z, ((ia, n), (ib, n)),
                     (io, n), bufs=(ia, ib))
        elif kind == BINARY:
            code, nrow, ncol, a, ars, acs, b, brs, bcs, out = args
            ia, ib, io = B(a), B(b), B(out)
            span = (lambda rs, cs: (nrow - 1) * rs + (ncol - 1) * cs + 1 if nrow and ncol else 0)
            t.record(kind, ctype, (kind, code, 0, 0, 0, 0, nrow, ncol, 0, ars, acs, brs, bcs),
                     ((ia, span(ars, acs)), (ib, span(brs, bcs))), (io, nrow * ncol), bufs=(ia, ib))
        elif kind == SCALAR:
            code, n, a, s, left, out = args
            sc = t.scalar(s, name)
            ia, io = B(a), B(out)
            t.record(kind, ctype, (kind, code, int(left), 0, 0, 0, n, 0, 0) + z, ((ia, n),),
                     (io, n), sc, bufs=(ia, -1))
            args = (code, n, a, sc[2], left, out)
        elif kind == UNARY:
            code, n, a, out = args
            ia, io = B(a), B(out)
            t.record(kind, ctype, (kind, code, 0, 0, 0, 0, n, 0, 0) + z, ((ia, n),), (io, n),
                     bufs=(ia, -1))
        elif kind == POW:
            n, a, p, out = args
            sc = t.scalar(p, name)
            ia, io = B(a), B(out)
            t.record(kind, ctype, (kind, 0, 0, 0, 0, 0, n, 0, 0) + z, ((ia, n),), (io, n), sc,
                     bufs=(ia, -1))
            args = (n, a, sc[2], out)
        elif kind == FILL:
            n, value, out = args
            sc = t.scalar(value, name)
            t.record(kind, ctype, (kind, 0, 0, 0, 0, 0, n, 0, 0) + z, (), (B(out), n), sc)
            args = (n, sc[2], out)
        elif kind == AXPY:
            n, alpha, x, y = args
            sc = t.scalar(alpha, name)
            ix, iy = B(x), B(y)
            t.record(kind, ctype, (kind, 0, 0, 0, 0, 0, n, 0, 0) + z, ((ix, n),), (iy, n), sc,
                     bufs=(ix, -1), reads_out=True)
            args = (n, sc[2], x, y)
        elif kind == SIGMOID_BW:
            n, s, grad, out = args
            i_s, ig, io = B(s), B(grad), B(out)
            t.record(kind, ctype, (kind, 0, 0, 0, 0, 0, n, 0, 0) + z, ((i_s, n), (ig, n)), (io, n),
                     bufs=(i_s, ig))
        elif kind == TRANSPOSE:
            nrow, ncol, a, out = args
            ia, io = B(a), B(out)
            t.record(kind, ctype, (kind, 0, 0, 0, 0, 0, nrow, ncol, 0) + z, ((ia, nrow * ncol),),
                     (io, nrow * ncol), bufs=(ia, -1))
        elif kind == REDUCE:
            code, axis, nrow, ncol, a, out = args
            ia, io = B(a), B(out)
            n_out = 1 if axis == -1 else (ncol if axis == 0 else nrow)
            t.record(kind, ctype, (kind, code, axis, 0, 0, 0, nrow, ncol, 0) + z,
                     ((ia, nrow * ncol),), (io, n_out), bufs=(ia, -1))
        elif kind == MATMUL:
            ta, tb, m, n, k, a, b, acc, c, threads = args
            ia, ib, ic = B(a), B(b), B(c)
            t.record(kind, ctype, (kind, 0, int(ta), int(tb), int(acc), threads, m, n, k) + z,
                     ((ia, m * k), (ib, k * n)), (ic, m * n), bufs=(ia, ib), reads_out=bool(acc))
        return real(*args)
    run.__name__ = name
    return run


def _base_name(name: str) -> str:
    """The float64 kernel's name of a kernel: pag_X for pag_X_f32."""
    return name[:-4] if name.endswith("_f32") else name


def _recorded(name: str) -> bool:
    return _base_name(name) in _KERNEL_OF


class _LibProxy:
    """carray's `lib` while a step is recorded: kernels record, the pool passes through, any
    other C function refuses (in the recording thread)."""

    def __init__(self, lib: Any, allocating: Callable) -> None:
        self._lib = lib
        self._allocating = allocating

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._lib, name)
        if not callable(value):  # an enum constant
            return value
        name = getattr(value, "__name__", name)  # the C name: float32 code asks pag_X for pag_X_f32
        if _recorded(name):
            value = _recorder(name, value)
        elif name == "pag_alloc":
            value = self._allocating
        elif not name.startswith("pag_pool") and name != "pag_free":
            value = _refuse_kernel(name, value)
        setattr(self, name, value)
        return value


class _FfiProxy:
    """carray's `ffi` while a step is recorded: memmove records a copy (or a constant), buffer()
    (how .numpy() reads values) refuses; everything else passes through."""

    def __init__(self, ffi: Any) -> None:
        self._ffi = ffi

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ffi, name)

    def memmove(self, dest: Any, src: Any, n: int) -> None:
        t = _tracing()
        if t is not None:
            ctype = self._ffi.typeof(dest).item.cname
            size = self._ffi.sizeof(ctype)
            if n % size:
                raise CaptureError("compile: the step copies a partial value")
            io = t.buffer(dest)
            if isinstance(src, self._ffi.CData):
                ia = t.buffer(src)
            else:
                ia = t.const(bytes(memoryview(src).cast("B")[:n]), ctype)
            t.record(COPY, ctype, (COPY, 0, 0, 0, 0, 0, n // size, 0, 0, 0, 0, 0, 0),
                     ((ia, n // size),), (io, n // size), bufs=(ia, -1))
        self._ffi.memmove(dest, src, n)

    def buffer(self, *args: Any) -> Any:
        t = _tracing()
        if t is not None and not (t.verify and _verify_reads()):
            raise CaptureError(
                "compile: the step reads a matrix's values in Python (.numpy(), .tolist(), "
                "printing it, or an op computed with NumPy such as gelu, or a value check such "
                "as binary_cross_entropy's, or a float32/float64 conversion: mixed dtypes, "
                ".float(), .double()); a replay runs no Python code, so it cannot be "
                "captured. Move the read out of the compiled step")
        return self._ffi.buffer(*args)


class _Hooks:
    """Swaps carray's kernels, allocators, `lib`, `ffi` and CArray.item for recording stand-ins
    for the duration of one recorded step, and restores them."""

    def __init__(self) -> None:
        from .backends import carray
        self.carray = carray
        lib, ffi = carray.lib, carray.ffi  # the real ones: made under the recording lock
        self.lib, self.ffi = lib, ffi
        functions = {}
        for name in dir(lib):
            value = getattr(lib, name)
            if callable(value):
                functions[id(value)] = name
        malloc, pool_alloc = carray._malloc, lib.pag_alloc

        def allocating_malloc(ctype: Any, n: int) -> Any:
            obj = malloc(ctype, n)
            t = _tracing()
            if t is not None:
                t.allocated[int(ffi.cast("uintptr_t", obj))] = n
            return obj

        def pool(itemsize: int) -> Callable[[int], Any]:
            def allocating_pool(nbytes: int) -> Any:
                p = pool_alloc(nbytes)
                t = _tracing()
                if t is not None and p != ffi.NULL:
                    t.allocated[int(ffi.cast("uintptr_t", p))] = nbytes // itemsize
                return p
            return allocating_pool

        self.swaps: Dict[str, Any] = {"lib": _LibProxy(lib, pool(8)), "ffi": _FfiProxy(ffi),
                                      "_malloc": allocating_malloc}
        # float32 storage (CArray32) runs CArray's code over its own globals: swap there too
        self.swaps32: Dict[str, Any] = {
            "lib": _LibProxy(carray.FLOAT32_GLOBALS["lib"], pool(4)),
            "ffi": self.swaps["ffi"], "_malloc": allocating_malloc}
        for swaps, module, itemsize in ((self.swaps, vars(carray), 8),
                                        (self.swaps32, carray.FLOAT32_GLOBALS, 4)):
            for name, value in module.items():
                kernel = functions.get(id(value))
                if kernel is None or name in swaps:
                    continue
                if _recorded(kernel):
                    swaps[name] = _recorder(kernel, value)
                elif kernel == "pag_alloc":
                    swaps[name] = pool(itemsize)
                elif kernel != "pag_free" and not kernel.startswith("pag_pool"):
                    swaps[name] = _refuse_kernel(kernel, value)
        item = carray.CArray.item  # CArray32's is the same code over its globals: reads buf[0]

        def traced_item(storage: Any) -> Any:
            t = _tracing()
            if t is None or storage.nrow != 1 or storage.ncol != 1:
                return item(storage)
            b = t.buffer(storage.buf)
            if not t.buffers[b].written:
                raise CaptureError("compile: .item() reads a buffer no kernel of the step wrote")
            return _ItemValue(item(storage), b, t.buffers[b].version)
        self.item, self.item32, self.traced_item = item, carray.CArray32.item, traced_item
        # the verify backend's .item() reads its C half, as a recorded value too
        from .backends.verify import VerifyArray
        self.verify_class = VerifyArray
        self.verify_own_item = vars(VerifyArray).get("item")  # None: inherited from Storage
        verify_item = VerifyArray.item

        def traced_verify_item(storage: Any) -> Any:
            if _tracing() is None or storage.nrow != 1 or storage.ncol != 1:
                return verify_item(storage)
            return traced_item(storage.c)
        self.traced_verify_item = traced_verify_item

    def __enter__(self) -> None:
        module = vars(self.carray)
        self.saved = {name: module[name] for name in self.swaps}
        module.update(self.swaps)
        self.saved32 = {name: self.carray.FLOAT32_GLOBALS[name] for name in self.swaps32}
        self.carray.FLOAT32_GLOBALS.update(self.swaps32)
        self.carray.CArray.item = self.carray.CArray32.item = self.traced_item
        self.verify_class.item = self.traced_verify_item
        _optimizer._capture_hook[0] = _optimizer_hook

    def __exit__(self, *exc: Any) -> None:
        _optimizer._capture_hook[0] = None
        self.carray.CArray.item = self.item
        self.carray.CArray32.item = self.item32
        if self.verify_own_item is None:
            del self.verify_class.item
        else:
            self.verify_class.item = self.verify_own_item
        vars(self.carray).update(self.saved)
        self.carray.FLOAT32_GLOBALS.update(self.saved32)


def _optimizer_hook(opt: Any, group: dict, p: Matrix, state: dict,
                    scalars: Tuple[float, ...]) -> Tuple[float, ...]:
    """Called by Optimizer.step() while a step is recorded: the per-step numbers become entries
    of the plan's scalar table, recognised in kernel arguments by their identity."""
    t = _tracing()
    if t is None:
        return scalars
    fresh = tuple(float(x) * 1.0 for x in scalars)  # new objects, nobody else's
    first = len(t.slot_values)
    for x in fresh:
        t.slots[id(x)] = len(t.slot_values)
        t.slot_values.append(x)
    t.optimizers.append((opt, group, p, state, first, len(fresh), opt._structure(group, state)))
    return fresh


# -- the plan -------------------------------------------------------------------------------------

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


def _describe_difference(a: _Trace, b: _Trace) -> str:
    """Why two recordings of the same step differ, in words."""
    for i, (x, y) in enumerate(zip(a.ops, b.ops)):
        if x[:-1] == y[:-1] and x[16] == FROM_OP and _bits(x[-1]) != _bits(y[-1]):
            return (f"launch #{i} ({_NAME_OF[x[0]]}) got the number {x[-1]!r} in one step and "
                    f"{y[-1]!r} in the next: a number computed in Python that changes from step "
                    "to step (only pyautograd's optimizers declare theirs for a replay to "
                    "recompute); pass it in as a 1x1 Matrix input instead")
        if x != y:
            break
    else:
        if len(a.ops) != len(b.ops):
            return (f"the two steps launched {len(a.ops)} and {len(b.ops)} kernels: the step's "
                    "Python control flow changes from step to step")
    for i, (x, y) in enumerate(zip(a.buffers, b.buffers)):
        if x.signature() != y.signature():
            if "const" in (x.origin, y.origin):
                return ("a matrix made from Python or NumPy data inside the step (or dropout's "
                        "random mask) changed from one step to the next; make it outside the "
                        "step and pass it as an input")
            return ("the second step read a buffer made by the first instead of the one the "
                    "first read: some state (a parameter, an optimizer buffer) is replaced "
                    "every step rather than updated in place (e.g. `p.data = p.data - ...` or an "
                    "optimizer rebinding its buffer, as Adam with beta1 < 0.5 does); "
                    "update it in place (`p.data -= ...`)")
    if a.optimizers != b.optimizers:
        return "the optimizers' parameters or structure changed between the two steps"
    return "the kernels launched by the step differ between two steps"


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


GRAD_ANY, GRAD_IS = 0, 1  # a guarded matrix's gradient: whatever, or this one (or None)


def _matrices_over(trace: _Trace) -> List[Matrix]:
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


class _Plan:
    """A validated recording, ready to replay: C op array, buffer and scalar tables, guards."""

    def __init__(self, trace: _Trace, outputs: List[Any], form: str,
                 before: Dict[int, Tuple[Any, Any]]) -> None:
        from .backends import carray
        hooks = _hooks()
        ffi, lib = hooks.ffi, hooks.lib  # not carray's globals: another thread may be recording
        self.lib = lib
        buffers = trace.buffers
        sizes = self._external_sizes(ffi, buffers)
        self._matrix_guards(trace, before)
        for b in buffers:
            if b.capacity is None and b.origin == "external":
                b.capacity = sizes.get(b.address)
                if b.capacity is None:
                    raise CaptureError("compile: the step touches a buffer whose size cannot be "
                                       "determined (no matrix holds it); it cannot be replayed safely")
        self.out_specs = []
        for m in outputs:
            d = m.data
            idx = trace.index.get(trace.address(_c_half(d).buf))
            if idx is None:
                raise CaptureError("compile: the step returns a matrix that no C kernel of the "
                                   "step touched (made on another backend?)")
            self.out_specs.append((idx, d.nrow, d.ncol, d.transposed))
            if buffers[idx].capacity is not None and buffers[idx].capacity < d.nrow * d.ncol:
                raise CaptureError("compile: an output is larger than its buffer")
        self.form = form
        # inputs: their buffers are set at each replay; their sizes come from the signature
        self.input_slots: List[Tuple[int, int]] = [(b.input, i) for i, b in enumerate(buffers)
                                                   if b.origin == "input"]
        self.input_addresses = {b.address for b in buffers if b.origin != "input"}
        # validate every launch's extents against the buffers' sizes
        self.input_need: Dict[int, int] = {}
        for op, extents in zip(trace.ops, trace.extents):
            for b, n in extents:
                buf = buffers[b]
                if buf.origin == "input":
                    self.input_need[buf.input] = max(self.input_need.get(buf.input, 0), n)
                elif buf.capacity is None or n > buf.capacity:
                    raise CaptureError(f"compile: {_NAME_OF[op[0]]} would reach past the end of a "
                                       f"buffer ({n} values of {buf.capacity}); refusing the plan")
            if op[16] == FROM_BUFFER and buffers[op[17]].capacity is not None \
                    and buffers[op[17]].capacity < 1:
                raise CaptureError("compile: a value read with .item() comes from an empty buffer")
        # one dtype per plan (record() refused a mix): every op and buffer is of this C type
        ctype = trace.ctype or "double"
        self.pointer, self.itemsize = f"{ctype} *", ffi.sizeof(ctype)
        self.n_ops = len(trace.ops)
        self.ops = ffi.new("pag_plan_op[]", max(self.n_ops, 1))
        for dst, op in zip(self.ops, trace.ops):
            for name, value in zip(_FIELDS, op):
                setattr(dst, name, value)
            dst.dtype = DTYPE_CODE[ctype]
        self.n_buffers = len(buffers)
        self.table_ptrs = ffi.new(f"{ctype} *[]", max(self.n_buffers, 1))  # typed, for Python
        self.table_arg = ffi.cast("void **", self.table_ptrs)  # the same table, as C takes it
        for i, b in enumerate(buffers):
            self.table_ptrs[i] = ffi.cast(self.pointer, b.obj)
        self.keep = [b.obj for b in buffers]  # every buffer stays alive as long as the plan
        self.input_objs: List[Any] = [None] * len(buffers)
        self.n_table = len(trace.slot_values)
        self.scalars = ffi.new("double[]", max(self.n_table, 1))
        self.scalar_bytes = ffi.buffer(self.scalars)  # refilled with one struct call per replay
        self.pack_scalars = struct.Struct(f"<{self.n_table}d").pack_into
        # per parameter: its state dict, how many entries it had and the buffers among them;
        # per optimizer and group: the structure its update branched on (one check each)
        self.optimizers = []
        self.structures = []
        seen = set()
        for opt, group, p, state, first, n, structure in trace.optimizers:
            held = tuple((k, v) for k, v in state.items() if isinstance(v, backends.base.Storage))
            self.optimizers.append((opt, group, p, state, len(state), held))
            if (id(opt), id(group)) not in seen:  # (a group added or a parameter list changed
                seen.add((id(opt), id(group)))  # later would be skipped by a replay: checked)
                self.structures.append((opt, group, state, structure, len(opt.param_groups),
                                        len(group["params"])))
        # the same checks and numbers as flat lists, for the replay's Python side
        self.grad_is = [(ref, data, grad) for ref, data, mode, grad in self.guards if mode == GRAD_IS]
        self.grad_any = [(ref, data) for ref, data, mode, _grad in self.guards if mode == GRAD_ANY]
        self.state_dicts = [(opt.state.get, p, state, n) for opt, _g, p, state, n, _h in self.optimizers]
        self.held = [(state, k, v) for _o, _g, _p, state, _n, held in self.optimizers for k, v in held]
        self.scalar_sources = [(opt._scalars, group, state)
                               for opt, group, _p, state, _n, _h in self.optimizers]
        self.checks = trace.checks
        for b, _error in self.checks:
            if buffers[b].capacity is None or buffers[b].capacity < 1:
                raise CaptureError("compile: a value check reads an empty buffer")
        self.ffi = ffi
        self.CArray = carray.CArray32 if ctype == "float" else carray.CArray
        self.verify = trace.verify
        # what a replay writes outside its own scratch buffers (parameters, optimizer state,
        # gradients, inputs written in place), with how many values: on the verify backend a
        # replay is checked against eager execution from the same state, so it is saved first
        written: Dict[int, int] = {}
        for extents in trace.extents:
            b, n = extents[-1]  # the buffer the launch writes
            if buffers[b].origin in ("external", "input"):
                written[b] = max(written.get(b, 0), n)
        self.written = sorted(written.items())

    @staticmethod
    def _external_sizes(ffi: Any, buffers: List[_Buffer]) -> Dict[int, int]:
        """Values held by each external buffer: an array's length, else the largest matrix
        found holding it (a CArray's buffer holds at least nrow * ncol values)."""
        from .backends.carray import CArray, CArray32
        sizes: Dict[int, int] = {}
        pending = set()
        for b in buffers:
            if b.origin != "external":
                continue
            if ffi.typeof(b.obj).kind == "array":
                sizes[b.address] = len(b.obj)
            else:
                pending.add(b.address)
        if pending:
            for obj in gc.get_objects():
                if type(obj) in (CArray, CArray32) and hasattr(obj, "buf"):  # (not half-built)
                    addr = int(ffi.cast("uintptr_t", obj.buf))
                    if addr in pending:
                        sizes[addr] = max(sizes.get(addr, 0), obj.nrow * obj.ncol)
        return sizes

    def _matrix_guards(self, trace: _Trace, before: Dict[int, Tuple[Any, Any]]) -> None:
        """For every Matrix whose values are an external buffer of the plan (parameters,
        closed-over data): its storage must be unchanged at a replay; its gradient as the step
        found it (`before`: None, or the same storage when the step touched it) wherever that
        could change what the step does; and the gradient the step left is put back after each
        replay (a zero_grad()/backward step leaves a gradient of its own)."""
        self.guards: List[Tuple[Any, Any, int, Any]] = []
        self.post: List[Tuple[Any, Any]] = []
        for m in _matrices_over(trace):
            ref = weakref.ref(m)
            found = before.get(id(m))
            if found is None or found[0]() is not m:  # not seen when the step began
                self.guards.append((ref, m.data, GRAD_IS, m._grad))
                continue
            grad = found[1]
            if grad is None:
                self.guards.append((ref, m.data, GRAD_IS, None))
            elif trace.address(_c_half(grad).buf) in trace.index:
                self.guards.append((ref, m.data, GRAD_IS, grad))
            else:
                self.guards.append((ref, m.data, GRAD_ANY, None))
            if m._grad is not grad:
                self.post.append((ref, m._grad))

    def valid(self) -> bool:
        """The state the plan was recorded over is still there: parameters' storages and
        gradients, optimizers' state dicts, buffers and structure (checked at every replay,
        from flat lists made once)."""
        for ref, data, grad in self.grad_is:
            m = ref()
            if m is not None and (m.data is not data or m._grad is not grad):
                return False
        for ref, data in self.grad_any:
            m = ref()
            if m is not None and m.data is not data:
                return False
        for state_of, p, state, n_entries in self.state_dicts:
            if state_of(p) is not state or len(state) != n_entries:
                return False
        for state, k, v in self.held:
            if state.get(k) is not v:
                return False
        for opt, group, state, structure, n_groups, n_params in self.structures:
            if (opt._structure(group, state) != structure or len(opt.param_groups) != n_groups
                    or len(group["params"]) != n_params):
                return False
        return True

    def bind_inputs(self, matrices: List[Matrix]) -> None:
        """Point the input slots at this call's input buffers (checked: large enough, not one
        of the plan's other buffers)."""
        ffi, ptrs, verify = self.ffi, self.table_ptrs, self.verify
        objs = self.input_objs
        changed = False
        for position, slot in self.input_slots:
            data = matrices[position].data
            if verify:
                data = data.c
            buf = data.buf
            if objs[slot] is buf:
                continue
            changed = True
            addr = int(ffi.cast("uintptr_t", buf))
            if addr in self.input_addresses:
                raise CaptureError("compile: an input shares its memory with a buffer of the "
                                   "compiled step (a parameter or a value made inside it)")
            if data.nrow * data.ncol < self.input_need.get(position, 0):
                raise CaptureError("compile: an input is smaller than when the step was recorded")
            ptrs[slot] = ffi.cast(self.pointer, buf)
            objs[slot] = buf
        if changed and len(self.input_slots) > 1:
            seen = {int(ffi.cast("uintptr_t", objs[slot])) for _position, slot in self.input_slots}
            if len(seen) != len(self.input_slots):
                for _position, slot in self.input_slots:
                    objs[slot] = None  # check again next time
                raise CaptureError("compile: two inputs share their memory")

    # -- the verify backend: a replay checked against eager execution ----------------------------

    def save(self, matrices: List[Matrix]) -> Tuple[Any, ...]:
        """Everything a replay changes that eager execution would find: the values it writes
        outside its scratch buffers, the gradients it sets, the optimizers' state dicts (their
        step counts)."""
        self.bind_inputs(matrices)
        ffi, ptrs = self.ffi, self.table_ptrs
        values = [(b, ffi.buffer(ptrs[b], n * self.itemsize)[:]) for b, n in self.written]
        grads = [(m, m._grad) for m in (ref() for ref, *_rest in self.guards) if m is not None]
        states = [(state, dict(state)) for _opt, _group, _p, state, _n, _held in self.optimizers]
        return values, grads, states

    def restore(self, saved: Tuple[Any, ...]) -> None:
        values, grads, states = saved
        for b, raw in values:
            self.ffi.memmove(self.table_ptrs[b], raw, len(raw))
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
                value = np.array(v.numpy()) if isinstance(v, backends.base.Storage) else v
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

    def run(self, matrices: List[Matrix]) -> Any:
        if self.input_slots:
            self.bind_inputs(matrices)
        if self.scalar_sources:
            values: List[float] = []
            for scalars_of, group, state in self.scalar_sources:
                values += scalars_of(group, state)
            try:
                self.pack_scalars(self.scalar_bytes, 0, *values)
            except struct.error:
                raise RuntimeError(f"compiled step: the optimizers gave {len(values)} numbers "
                                   f"for a plan recorded with {self.n_table}") from None
        failed = self.lib.pag_plan_run(self.ops, self.n_ops, self.table_arg, self.n_buffers,
                                       self.scalars, self.n_table)
        if failed:
            kind = self.ops[failed - 1].kind
            if kind == MATMUL:
                raise MemoryError("compiled step: a matrix product could not allocate its "
                                  "packing buffers (the step stopped part way)")
            raise RuntimeError(f"compiled step: launch #{failed - 1} was invalid")
        for ref, grad in self.post:
            m = ref()
            if m is not None:
                m._grad = grad
        for b, error in self.checks:
            if self.table_ptrs[b][0] != 0.0:
                raise error()
        out = []
        for idx, nrow, ncol, transposed in self.out_specs:
            storage = self.CArray(nrow, ncol, transposed)
            if nrow == ncol == 1:
                storage.buf[0] = self.table_ptrs[idx][0]
            else:
                self.ffi.memmove(storage.buf, self.table_ptrs[idx], nrow * ncol * self.itemsize)
            out.append(_leaf(storage, (), "compiled"))  # a new leaf, as Matrix(storage, False)
        if self.form == "one":
            return out[0]
        return _rebuild(out, self.form)


def _check_enums() -> None:
    from .backends.carray import lib
    expected = {"PAG_PLAN_BINARY": BINARY, "PAG_PLAN_BINARY_SAME": SAME,
                "PAG_PLAN_BINARY_SCALAR": SCALAR, "PAG_PLAN_UNARY": UNARY,
                "PAG_PLAN_POW_SCALAR": POW, "PAG_PLAN_FILL": FILL, "PAG_PLAN_AXPY": AXPY,
                "PAG_PLAN_SIGMOID_BACKWARD": SIGMOID_BW, "PAG_PLAN_TRANSPOSE": TRANSPOSE,
                "PAG_PLAN_REDUCE": REDUCE, "PAG_PLAN_MATMUL": MATMUL, "PAG_PLAN_COPY": COPY,
                "PAG_SCALAR_OP": FROM_OP, "PAG_SCALAR_TABLE": FROM_TABLE,
                "PAG_SCALAR_BUFFER": FROM_BUFFER, "PAG_PLAN_FLOAT64": DTYPE_CODE["double"],
                "PAG_PLAN_FLOAT32": DTYPE_CODE["float"]}
    for name, value in expected.items():
        if getattr(lib, name) != value:
            raise ImportError(f"pyautograd.compile: {name} differs between C and Python")


# -- the compiled step ------------------------------------------------------------------------------

class _Entry:
    """One input signature's progress: eager warm-up calls, recordings, then the plan."""

    __slots__ = ("calls", "first", "plan", "error")

    def __init__(self) -> None:
        self.calls = 0
        self.first: Optional[_Trace] = None
        self.plan: Optional[_Plan] = None
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
        if _active[0] is not None and _tracing() is not None:  # called from a step being
            # recorded: becomes part of it
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
                    del self._entries[next(iter(self._entries))]
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

    def _checked_replay(self, plan: _Plan, matrices: List[Matrix], args: Tuple[Any, ...],
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
        with _trace_lock:  # the hooks are made once, while no other thread records
            hooks = _hooks()
        inputs: Dict[int, int] = {}
        for i, m in enumerate(matrices):
            addr = int(hooks.ffi.cast("uintptr_t", _c_half(m.data).buf))
            if addr in inputs:
                raise CaptureError("compile: two inputs share their memory")
            inputs[addr] = i
        trace = _Trace(hooks.ffi, inputs)
        trace.verify = _current_storage().backend_name == "verify"
        # the optimizers' hyper-parameters as the first recording left them: a step that
        # changes them itself (a scheduler stepping inside it) cannot be replayed
        groups = [] if entry.first is None else [
            (g, {k: v for k, v in g.items() if k != "params"}) for _o, g, *_rest in entry.first.optimizers]
        # the gradients of the parameters (and other matrices) as the second recording finds them
        before = {} if entry.first is None else {
            id(m): (weakref.ref(m), m._grad) for m in _matrices_over(entry.first)}
        with _trace_lock:
            _active[0] = trace
            try:
                with hooks:
                    result = self.fn(*args, **kwargs)
                    outputs, form = _flatten(result)
            except BaseException as exc:
                if not isinstance(exc, CaptureError):
                    entry.first = None  # an error of the step itself: record afresh next time
                raise
            finally:
                _active[0] = None
        self.stats["traced"] += 1
        for group, hyper in groups:
            if {k: v for k, v in group.items() if k != "params"} != hyper:
                raise CaptureError("compile: the step changes an optimizer's hyper-parameters "
                                   "itself (a learning-rate scheduler stepping inside the step?); "
                                   "a replay would not. Step schedulers outside the compiled step")
        if entry.first is None:
            entry.first = trace
        else:
            first, entry.first = entry.first, None
            if first.signature() != trace.signature():
                raise CaptureError("compile: two consecutive steps did not launch the same "
                                   "kernels on the same state, so neither can be replayed: "
                                   + _describe_difference(first, trace))
            entry.plan = _Plan(trace, outputs, form, before)
        copies = [Matrix(m.data.copy(), requires_grad=False) for m in outputs]
        return _rebuild(copies, form)


_hooks_instance: List[Optional[_Hooks]] = [None]
_current_storage = backends.current_storage
_grad_enabled = _grad_mode._enabled.get
try:
    from .backends.carray import _threads  # the matmul's thread count, read at every call
except ImportError:  # no C build: every step runs eagerly
    _threads = [1]


def _hooks() -> _Hooks:
    if _hooks_instance[0] is None:
        _check_enums()
        _hooks_instance[0] = _Hooks()
    return _hooks_instance[0]


def compile(fn: Optional[F] = None, *, warmup: int = 1, cache_size: int = CACHE_SIZE) -> Any:
    """Compile a training step: `compile(step_fn)` or `@compile` (or `@compile(warmup=2)`).

    The returned callable runs `step_fn` eagerly `warmup` times per input signature, records
    its kernel launches over the next two calls and replays them in one C call from then on
    (C backend; on verify every replay is also checked against eager execution; the python
    backend runs the step eagerly). Steps in float64 or in float32 replay alike; one that
    launches kernels of both dtypes is refused with a CaptureError while it is recorded. Python control flow and numbers are frozen at
    trace time, as in tinygrad's TinyJit and JAX's jit; see the module docstring for what
    retraces and what is refused with a CaptureError."""
    if fn is None:
        return lambda f: CompiledStep(f, warmup, cache_size)
    return CompiledStep(fn, warmup, cache_size)
