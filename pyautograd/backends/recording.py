"""Recording the C kernel launches of one eager step (the storage layer of `ag.compile`).

While a step is recorded, carray's kernels, allocators, `lib` and `ffi` are swapped for
stand-ins (`Hooks`) that append each launch to a `Trace`: which kernel, its sizes and numbers,
and the buffers it read and wrote, each classified as an input, a buffer allocated during the
step, an external one (a parameter, optimizer state) or a constant made from Python data. The
trace is then turned into a plan (backends/plan.py) that replays it in one C call.

Only the thread that records sees the stand-ins: other threads run the real kernels. What a
replay could not reproduce is refused here with a CaptureError, while recording: reading a
matrix's values in Python, calling a C function no plan op knows, a kernel of the other dtype.

Library code above this layer talks to it through six functions: `capturing()` (a rule keeps a
value in its buffer instead of reading it), `check_zero()` (a value check that survives a
replay), `declare_scalars()` (an optimizer's per-step numbers, recomputed before each replay),
`read_attr()` (a Python attribute the step's kernels depend on, such as a module's `training`
flag: compile guards it), `random_draw()` (random numbers drawn in Python, which a replay would
freeze: refused) and `internal_read()` (verify's own comparisons, which feed no kernel).
"""
from __future__ import annotations

import _thread
import contextlib
import numbers
import struct
import threading
import weakref
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ..errors import CaptureError
try:
    from . import carray
except ImportError:  # no C build: nothing is ever recorded (every compiled step runs eagerly)
    carray = None  # type: ignore[assignment]

DTYPE_NAME = {"double": "float64", "float": "float32"}  # a launch's C element type


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


# -- the capture state ----------------------------------------------------------------------------

_active: List[Optional["Trace"]] = [None]  # the trace being recorded, if any
trace_lock = threading.Lock()  # one recording at a time (the kernel hooks are process-wide)


def tracing() -> Optional["Trace"]:
    """The trace this thread is recording, or None."""
    t = _active[0]
    if t is not None and t.thread == _thread.get_ident():
        return t
    return None


def capturing() -> bool:
    """True while this thread's step is being recorded by compile (library code that would read
    a value in Python takes a path that keeps it in a buffer instead)."""
    return tracing() is not None


@contextlib.contextmanager
def internal_read() -> Iterator[None]:
    """A read of C values that feeds no kernel (the verify backend comparing its halves): let
    through while recording, where a read by the step itself is refused."""
    t = tracing()
    if t is None:
        yield
        return
    t.internal_reads += 1
    try:
        yield
    finally:
        t.internal_reads -= 1


class ItemValue:
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

    __float__ = __int__ = __index__ = __bool__ = __round__ = __trunc__ = __floor__ = _refuse
    __ceil__ = __abs__ = __neg__ = __pos__ = __repr__ = __str__ = __format__ = __hash__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = _refuse
    __rpow__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __divmod__ = _refuse


numbers.Real.register(ItemValue)  # so that as_scalar() calls __float__, which refuses clearly


def plain_number(x: Any) -> Any:
    """x, or the number a recorded `.item()` stands for: for a reference computation that feeds
    no recorded kernel (the verify backend's Python half)."""
    return x.value if type(x) is ItemValue else x


# -- the trace ------------------------------------------------------------------------------------

# Scalar sources, as enum pag_plan_scalar; the op kinds are read from the library by name.
FROM_OP, FROM_TABLE, FROM_BUFFER = range(3)
# Op tuple fields, the layout of pag_plan_op (less its dtype, which is the plan's).
FIELDS = ("kind", "code", "flag0", "flag1", "accumulate", "num_threads", "size0", "size1",
          "size2", "stride0", "stride1", "stride2", "stride3", "buf0", "buf1", "out",
          "scalar_from", "scalar_index", "scalar")
SCALAR_FROM = FIELDS.index("scalar_from")


class Buffer:
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


class Declared(NamedTuple):
    """Numbers declared by library code (an optimizer's per-step numbers): table entries
    first..first+n, recomputed before each replay by whoever reads `source`; `key` is what must
    be the same in two recordings."""
    source: Any
    key: Any
    first: int
    n: int


class Trace:
    """The kernel launches of one eager step, in order, with the buffers they touched."""

    def __init__(self, ffi: Any, inputs: Dict[int, int]) -> None:
        self.ffi = ffi
        self.thread = _thread.get_ident()
        self.internal_reads = 0  # > 0 inside internal_read()
        self.ctype: Optional[str] = None  # the kernels' element type: 'double' or 'float'
        self.inputs = inputs  # input buffer address -> input position
        self.buffers: List[Buffer] = []
        self.index: Dict[int, int] = {}  # address -> buffers position
        self.allocated: Dict[int, int] = {}  # address -> values, of buffers allocated now
        self.ops: List[Tuple[Any, ...]] = []
        self.names: List[str] = []  # per op: the kernel's name, for messages
        self.extents: List[Tuple[Tuple[int, int], ...]] = []  # per op: (buffer, values used)
        self.slots: Dict[int, int] = {}  # id(float) -> scalar table position
        self.slot_values: List[float] = []  # keeps those floats alive (their ids stay unique)
        self.declared: List[Declared] = []
        self.checks: List[Tuple[int, Callable[[], BaseException]]] = []  # (buffer, error) after a replay
        self.attrs: List[Tuple[Any, str, Any]] = []  # (weakref to object, attribute, value read)
        self.attr_seen: Dict[Tuple[int, str], int] = {}  # (id, attribute) -> attrs position
        self.random: List[str] = []  # what drew random numbers in Python (refused: see random_draw)

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
            buf = Buffer(obj, addr, "input", None, ctype)
            buf.input = self.inputs[addr]
            buf.written = True
        elif addr in self.allocated:
            buf = Buffer(obj, addr, "internal", self.allocated[addr], ctype)
        else:
            buf = Buffer(obj, addr, "external", None, ctype)
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
        buf = Buffer(obj, self.address(obj), "const", max(n, 1), ctype)
        buf.data, buf.written = data, True
        self.buffers.append(buf)
        return len(self.buffers) - 1

    def scalar(self, value: Any, op_name: str) -> Tuple[int, int, float]:
        """(source, index, value) of a kernel's scalar argument (a double; pag_plan_run converts
        it to float for a float32 kernel, as cffi does for an eager call)."""
        if type(value) is ItemValue:
            buf = self.buffers[value.buffer]
            if buf.version != value.version:
                raise CaptureError(f"compile: {op_name} uses a value read with .item() after the "
                                   "matrix it came from was changed; a replay cannot reproduce that")
            return FROM_BUFFER, value.buffer, value.value
        slot = self.slots.get(id(value))
        if slot is not None and self.slot_values[slot] is value:
            return FROM_TABLE, slot, value
        return FROM_OP, 0, float(value)

    def record(self, name: str, kind: int, ctype: str, ints: Tuple[int, ...],
               reads: Tuple[Tuple[int, int], ...], out: Tuple[int, int],
               scalar: Tuple[int, int, float] = (FROM_OP, 0, 0.0),
               reads_out: bool = False) -> None:
        """Append one launch of kernel `name` (plan kind `kind`) over C type `ctype` ('double',
        or 'float' for the _f32 kernels): `ints` the 12 integer fields after the kind, `reads`
        the (buffer, values) it reads, `out` the buffer it writes (reading it first if
        reads_out)."""
        if self.ctype is None:
            self.ctype = ctype
        elif ctype != self.ctype:
            raise CaptureError(f"compile: the step launches {DTYPE_NAME[ctype]} kernels ({name}) "
                               f"and {DTYPE_NAME[self.ctype]} ones; a plan replays one dtype. "
                               "Compile the float32 and float64 parts as separate steps")
        touched = [b for b, _n in reads + (out,)]
        if scalar[0] == FROM_BUFFER:
            touched.append(scalar[1])
        for b in touched:
            if self.buffers[b].ctype != ctype:
                raise CaptureError(f"compile: {name} is handed a buffer of "
                                   f"{DTYPE_NAME.get(self.buffers[b].ctype, self.buffers[b].ctype)} "
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
        bufs = tuple(b for b, _n in reads[:2]) + (-1,) * (2 - len(reads[:2]))
        self.ops.append((kind,) + ints + bufs + (out[0],) + scalar)
        self.names.append(name)
        self.extents.append(reads + (out,))

    def signature(self) -> Tuple[Any, ...]:
        # numbers from the scalar table or a buffer are read at replay: only their source counts
        ops = tuple(op[:-1] + (bits(op[-1]) if op[SCALAR_FROM] == FROM_OP else b"",)
                    for op in self.ops)
        declared = tuple((d.key, d.first, d.n) for d in self.declared)
        checks = tuple(b for b, _error in self.checks)
        attrs = tuple((id(ref()), name, type(v), v) for ref, name, v in self.attrs)
        return (self.ctype, ops, tuple(b.signature() for b in self.buffers), declared, checks,
                attrs)


def check_zero(count: Any, error: Callable[[], BaseException]) -> None:
    """A value check that survives compilation: `count` (a 1x1 storage, computed by kernels)
    must be 0, else `error()` is raised: now, and after every replay of a step recorded with it
    (a replay raises once the step has run, since it runs in one C call)."""
    t = tracing()
    if t is None:
        value = count.item()
    else:
        count = count.c if count.backend_name == "verify" else count
        b = t.buffer(count.buf)
        t.checks.append((b, error))
        value = hooks().item(count)
    if value != 0.0:
        raise error()


def read_attr(obj: Any, name: str) -> Any:
    """`obj.name`, noted while a step is recorded: library code calls it for a Python attribute
    that decides which kernels run or with which numbers (a module's `training` flag, dropout's
    probability), so that compile replays only while it keeps the value it had (else records
    again). Outside a recording it is plain getattr."""
    value = getattr(obj, name)
    t = tracing()
    if t is not None and (id(obj), name) not in t.attr_seen:
        try:
            ref: Callable[[], Any] = weakref.ref(obj)
        except TypeError:  # an object without weak references: kept alive by the plan
            ref = lambda: obj  # noqa: E731
        t.attr_seen[(id(obj), name)] = len(t.attrs)
        t.attrs.append((ref, name, value))
    return value


def random_draw(what: str) -> None:
    """Random numbers are drawn in Python for `what` (an op name with its shape): a recording
    would freeze them into constants, so a step recorded with it is refused (never replayed with
    the same numbers)."""
    t = tracing()
    if t is not None:
        t.random.append(what)


def declare_scalars(scalars: Tuple[float, ...], source: Any, key: Any) -> Tuple[float, ...]:
    """Numbers computed in Python that the step hands to kernels and that change from step to
    step (an optimizer's learning rate and bias corrections): while recording, they become
    entries of the plan's scalar table, recognised in kernel arguments by their identity, and
    the caller's `source` says how to recompute them before a replay (see compile.py); `key`
    must be equal in two recordings. Outside a recording the numbers pass through."""
    t = tracing()
    if t is None:
        return scalars
    fresh = tuple(float(x) * 1.0 for x in scalars)  # new objects, nobody else's
    t.declared.append(Declared(source, key, len(t.slot_values), len(fresh)))
    for x in fresh:
        t.slots[id(x)] = len(t.slot_values)
        t.slot_values.append(x)
    return fresh


# -- the recordable kernels: one row each ---------------------------------------------------------

class Launch(NamedTuple):
    """A kernel call as a plan op: the 12 integer fields after the kind (code, flag0, flag1,
    accumulate, num_threads, size0..2, stride0..3), the (buffer, values) it reads (the first
    two become buf0 and buf1), the (buffer, values) it writes, and whether it reads that
    output first."""
    ints: Tuple[int, ...]
    reads: Tuple[Tuple[Any, int], ...]
    out: Tuple[Any, int]
    reads_out: bool = False


class Kernel(NamedTuple):
    """A recordable kernel: its plan kind (PAG_PLAN_<kind> in pyautograd.h), its arguments (in
    the header's order) as a Launch, and the position of its scalar argument (None: none)."""
    kind: str
    launch: Callable[..., Launch]
    scalar_at: Optional[int] = None


def _span(nrow: int, ncol: int, rs: int, cs: int) -> int:
    return (nrow - 1) * rs + (ncol - 1) * cs + 1 if nrow and ncol else 0


def _n(n: int) -> Tuple[int, ...]:
    return (n, 0, 0, 0, 0, 0, 0)


# One row per recordable kernel; csrc/plan.inc calls each kernel back from the same fields. A
# new kernel becomes replayable with a row here, its PAG_PLAN_ kind and its case in plan.inc.
KERNELS: Dict[str, Kernel] = {
    "pag_binary": Kernel("BINARY", lambda code, nrow, ncol, a, ars, acs, b, brs, bcs, out: Launch(
        (code, 0, 0, 0, 0, nrow, ncol, 0, ars, acs, brs, bcs),
        ((a, _span(nrow, ncol, ars, acs)), (b, _span(nrow, ncol, brs, bcs))), (out, nrow * ncol))),
    "pag_binary_same": Kernel("BINARY_SAME", lambda code, n, a, b, out: Launch(
        (code, 0, 0, 0, 0) + _n(n), ((a, n), (b, n)), (out, n))),
    "pag_binary_scalar": Kernel("BINARY_SCALAR", lambda code, n, a, s, left, out: Launch(
        (code, int(left), 0, 0, 0) + _n(n), ((a, n),), (out, n)), 3),
    "pag_unary": Kernel("UNARY", lambda code, n, a, out: Launch(
        (code, 0, 0, 0, 0) + _n(n), ((a, n),), (out, n))),
    "pag_pow_scalar": Kernel("POW_SCALAR", lambda n, a, p, out: Launch(
        (0, 0, 0, 0, 0) + _n(n), ((a, n),), (out, n)), 2),
    "pag_fill": Kernel("FILL", lambda n, value, out: Launch(
        (0, 0, 0, 0, 0) + _n(n), (), (out, n)), 1),
    "pag_axpy": Kernel("AXPY", lambda n, alpha, x, y: Launch(
        (0, 0, 0, 0, 0) + _n(n), ((x, n),), (y, n), True), 1),
    "pag_sigmoid_backward": Kernel("SIGMOID_BACKWARD", lambda n, s, grad, out: Launch(
        (0, 0, 0, 0, 0) + _n(n), ((s, n), (grad, n)), (out, n))),
    "pag_transpose": Kernel("TRANSPOSE", lambda nrow, ncol, a, out: Launch(
        (0, 0, 0, 0, 0, nrow, ncol, 0, 0, 0, 0, 0), ((a, nrow * ncol),), (out, nrow * ncol))),
    "pag_reduce": Kernel("REDUCE", lambda code, axis, nrow, ncol, a, out: Launch(
        (code, axis, 0, 0, 0, nrow, ncol, 0, 0, 0, 0, 0), ((a, nrow * ncol),),
        (out, 1 if axis == -1 else (ncol if axis == 0 else nrow)))),
    "pag_matmul": Kernel("MATMUL", lambda ta, tb, m, n, k, a, b, acc, c, threads: Launch(
        (0, int(ta), int(tb), int(acc), threads, m, n, k, 0, 0, 0, 0),
        ((a, m * k), (b, k * n)), (c, m * n), bool(acc))),
    "pag_random_mask": Kernel("RANDOM_MASK", lambda n, threshold, offset, out: Launch(
        (0, 0, 0, 0, 0, n, threshold, 0, 0, 0, 0, 0), (), (out, n)), 2),
}
COPY_KIND = "COPY"  # memmove of a buffer or of Python data into one: recorded by FfiProxy


def plan_codes(lib: Any) -> Dict[str, int]:
    """enum pag_plan_kind by name, read from the library (as carray reads its op codes)."""
    kinds = {k.kind for k in KERNELS.values()} | {COPY_KIND}
    missing = sorted(k for k in kinds if not hasattr(lib, "PAG_PLAN_" + k))
    if missing:
        raise ImportError(f"pyautograd: the C library lacks the plan kinds {missing}")
    return {k: getattr(lib, "PAG_PLAN_" + k) for k in kinds}


def base_name(name: str) -> str:
    """The float64 kernel's name of a kernel: pag_X for pag_X_f32."""
    return name[:-4] if name.endswith("_f32") else name


def _refuse_kernel(name: str, real: Callable) -> Callable:
    def refuse(*args: Any) -> Any:
        if tracing() is not None:
            raise CaptureError(f"compile: the step calls the C function {name}, which compile "
                               "does not know how to replay")
        return real(*args)
    return refuse


def _recorder(name: str, real: Callable, codes: Dict[str, int]) -> Callable:
    """A stand-in for kernel `name` (a float64 kernel, or its _f32 twin) that records the launch
    (in the tracing thread) and runs it."""
    base = base_name(name)
    kernel = KERNELS[base]
    kind, build, scalar_at = codes[kernel.kind], kernel.launch, kernel.scalar_at
    ctype = "float" if base != name else "double"

    def run(*args: Any) -> Any:
        t = tracing()
        if t is None:
            return real(*args)
        for i, a in enumerate(args):
            if type(a) is ItemValue and i != scalar_at:
                a._refuse()
        launch = build(*args)
        scalar = (FROM_OP, 0, 0.0)
        if scalar_at is not None:
            scalar = t.scalar(args[scalar_at], name)
            args = args[:scalar_at] + (scalar[2],) + args[scalar_at + 1:]
        reads = tuple((t.buffer(obj), n) for obj, n in launch.reads)
        out = (t.buffer(launch.out[0]), launch.out[1])
        t.record(name, kind, ctype, launch.ints, reads, out, scalar, launch.reads_out)
        return real(*args)
    run.__name__ = name
    return run


class LibProxy:
    """carray's `lib` while a step is recorded: kernels record, the pool passes through, any
    other C function refuses (in the recording thread)."""

    def __init__(self, lib: Any, allocating: Callable, codes: Dict[str, int]) -> None:
        self._lib = lib
        self._allocating = allocating
        self._codes = codes

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._lib, name)
        if not callable(value):  # an enum constant
            return value
        name = getattr(value, "__name__", name)  # the C name: float32 code asks pag_X for pag_X_f32
        if base_name(name) in KERNELS:
            value = _recorder(name, value, self._codes)
        elif name == "pag_alloc":
            value = self._allocating
        elif not name.startswith("pag_pool") and name != "pag_free":
            value = _refuse_kernel(name, value)
        setattr(self, name, value)
        return value


class FfiProxy:
    """carray's `ffi` while a step is recorded: memmove records a copy (or a constant), buffer()
    (how .numpy() reads values) refuses; everything else passes through."""

    def __init__(self, ffi: Any, copy_kind: int) -> None:
        self._ffi = ffi
        self._copy_kind = copy_kind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ffi, name)

    def memmove(self, dest: Any, src: Any, n: int) -> None:
        t = tracing()
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
            t.record("copy", self._copy_kind, ctype, (0, 0, 0, 0, 0) + _n(n // size),
                     ((ia, n // size),), (io, n // size))
        self._ffi.memmove(dest, src, n)

    def buffer(self, *args: Any) -> Any:
        t = tracing()
        if t is not None and not t.internal_reads:
            raise CaptureError(
                "compile: the step reads a matrix's values in Python (.numpy(), .tolist(), "
                "printing it, or an op computed with NumPy such as gelu, or a value check such "
                "as binary_cross_entropy's, or a float32/float64 conversion: mixed dtypes, "
                ".float(), .double()); a replay runs no Python code, so it cannot be "
                "captured. Move the read out of the compiled step")
        return self._ffi.buffer(*args)


class Hooks:
    """Swaps carray's kernels, allocators, `lib`, `ffi` and CArray.item for recording stand-ins
    for the duration of one recorded step, and restores them. `lib` and `ffi` are the real ones
    (made once, while no step is recorded)."""

    def __init__(self) -> None:
        lib, ffi = carray.lib, carray.ffi
        self.lib, self.ffi = lib, ffi
        self.codes = plan_codes(lib)
        functions = {}
        for name in dir(lib):
            value = getattr(lib, name)
            if callable(value):
                functions[id(value)] = name
        malloc, pool_alloc = carray._malloc, lib.pag_alloc

        def allocating_malloc(ctype: Any, n: int) -> Any:
            obj = malloc(ctype, n)
            t = tracing()
            if t is not None:
                t.allocated[int(ffi.cast("uintptr_t", obj))] = n
            return obj

        def pool(itemsize: int) -> Callable[[int], Any]:
            def allocating_pool(nbytes: int) -> Any:
                p = pool_alloc(nbytes)
                t = tracing()
                if t is not None and p != ffi.NULL:
                    t.allocated[int(ffi.cast("uintptr_t", p))] = nbytes // itemsize
                return p
            return allocating_pool

        ffi_proxy = FfiProxy(ffi, self.codes[COPY_KIND])
        self.swaps: Dict[str, Any] = {"lib": LibProxy(lib, pool(8), self.codes), "ffi": ffi_proxy,
                                      "_malloc": allocating_malloc}
        # float32 storage (CArray32) runs CArray's code over its own globals: swap there too
        self.swaps32: Dict[str, Any] = {
            "lib": LibProxy(carray.FLOAT32_GLOBALS["lib"], pool(4), self.codes),
            "ffi": ffi_proxy, "_malloc": allocating_malloc}
        for swaps, module, itemsize in ((self.swaps, vars(carray), 8),
                                        (self.swaps32, carray.FLOAT32_GLOBALS, 4)):
            for name, value in module.items():
                kernel = functions.get(id(value))
                if kernel is None or name in swaps:
                    continue
                if base_name(kernel) in KERNELS:
                    swaps[name] = _recorder(kernel, value, self.codes)
                elif kernel == "pag_alloc":
                    swaps[name] = pool(itemsize)
                elif kernel != "pag_free" and not kernel.startswith("pag_pool"):
                    swaps[name] = _refuse_kernel(kernel, value)
        item = carray.CArray.item  # CArray32's is the same code over its globals: reads buf[0]

        def traced_item(storage: Any) -> Any:
            t = tracing()
            if t is None or storage.nrow != 1 or storage.ncol != 1:
                return item(storage)
            b = t.buffer(storage.buf)
            if not t.buffers[b].written:
                raise CaptureError("compile: .item() reads a buffer no kernel of the step wrote")
            return ItemValue(item(storage), b, t.buffers[b].version)
        self.item, self.item32, self.traced_item = item, carray.CArray32.item, traced_item

    def __enter__(self) -> None:
        module = vars(carray)
        self.saved = {name: module[name] for name in self.swaps}
        module.update(self.swaps)
        self.saved32 = {name: carray.FLOAT32_GLOBALS[name] for name in self.swaps32}
        carray.FLOAT32_GLOBALS.update(self.swaps32)
        carray.CArray.item = carray.CArray32.item = self.traced_item

    def __exit__(self, *exc: Any) -> None:
        carray.CArray.item = self.item
        carray.CArray32.item = self.item32
        vars(carray).update(self.saved)
        carray.FLOAT32_GLOBALS.update(self.saved32)


_hooks: List[Optional[Hooks]] = [None]


def hooks() -> Hooks:
    """The one set of stand-ins (made on first use, under the recording lock)."""
    if _hooks[0] is None:
        with trace_lock:
            if _hooks[0] is None:
                _hooks[0] = Hooks()
    return _hooks[0]


def record(fn: Callable[..., Any], inputs: Dict[int, int], *args: Any, **kwargs: Any
           ) -> Tuple[Trace, Any]:
    """Run fn(*args, **kwargs) once, eagerly, recording its kernel launches: the trace and
    fn's result. `inputs` maps the input buffers' addresses to the inputs' positions."""
    h = hooks()
    trace = Trace(h.ffi, inputs)
    with trace_lock:
        _active[0] = trace
        try:
            with h:
                result = fn(*args, **kwargs)
        finally:
            _active[0] = None
    return trace, result


def created_state(a: Trace, b: Trace) -> bool:
    """True when the two recordings differ only where a buffer allocated in the first is read
    as outside state by the second: the first step created state it kept (an optimizer's
    buffers on first use, a gradient that later calls accumulate into)."""
    kinds = {(x.origin, y.origin) for x, y in zip(a.buffers, b.buffers)
             if x.signature() != y.signature()}
    return ("internal", "external") in kinds


def allocated_in(trace: Trace, buf: Any) -> bool:
    """True when the C buffer `buf` was allocated while `trace` was recorded."""
    found = trace.index.get(trace.address(buf))
    return found is not None and trace.buffers[found].origin == "internal"


def first_user(trace: Trace, buffer: int) -> str:
    """The first launch touching `buffer`, in words (for messages)."""
    for i, (op, extents) in enumerate(zip(trace.ops, trace.extents)):
        if any(b == buffer for b, _n in extents):
            return f"launch #{i} ({trace.names[i]})"
    return "a kernel"


def describe_difference(a: Trace, b: Trace) -> str:
    """Why two recordings of the same step differ, in words."""
    for i, (x, y) in enumerate(zip(a.ops, b.ops)):
        if x[:-1] == y[:-1] and x[SCALAR_FROM] == FROM_OP and bits(x[-1]) != bits(y[-1]):
            return (f"launch #{i} ({a.names[i]}) got the number {x[-1]!r} in one step and "
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
            user = first_user(b, i)
            if "const" in (x.origin, y.origin):
                return (f"a matrix made from Python or NumPy data inside the step (read by "
                        f"{user}) changed from one step to the next; make it outside the step "
                        "and pass it as an input")
            if x.origin == "internal" and y.origin == "external":
                return (f"{user} reads a buffer that the first step created and kept (optimizer "
                        "state created on first use, or gradients accumulated across calls "
                        "without zero_grad() inside the step), and the next call did not find "
                        "the same one")
            if x.origin == "external" and y.origin == "external":
                return (f"{user} read a buffer made by the first step instead of the one the "
                        "first read: some state (a parameter, an optimizer buffer) is replaced "
                        "every step rather than updated in place (e.g. `p.data = p.data - ...`); "
                        "update it in place (`p.data -= ...`)")
            return (f"{user} reads a buffer of another kind ({x.origin} in one step, {y.origin} "
                    "in the next)")
    if [d.key for d in a.declared] != [d.key for d in b.declared]:
        return "the optimizers' parameters or structure changed between the two steps"
    return "the kernels launched by the step differ between two steps"
