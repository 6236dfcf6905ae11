"""A recorded trace turned into a C plan, replayed in one call of `pag_plan_run` (csrc/plan.c).

The plan holds the op array (one `pag_plan_op` per launch), the buffer table (every buffer the
trace touched, kept alive as long as the plan; the inputs' slots are pointed at each call's
input buffers), the scalar table (numbers recomputed before each replay) and the value checks
to raise after it. Every launch's extent was checked against its buffer's size when the plan
was built, and an input is checked against what the recording read from it at every bind, so a
replay never reads or writes outside a buffer. What the plan replays is what eager execution
ran: the same kernels, in the same order, on the same values, so the same bits.
"""
from __future__ import annotations

import gc
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import CaptureError
try:
    from . import carray
except ImportError:  # no C build: nothing is ever recorded (every compiled step runs eagerly)
    carray = None  # type: ignore[assignment]
from .recording import FIELDS, FROM_BUFFER, SCALAR_FROM, Buffer, Trace

DTYPE_CODE = {"double": "PAG_PLAN_FLOAT64", "float": "PAG_PLAN_FLOAT32"}  # enum pag_plan_dtype
SCALAR_CODES = {"PAG_SCALAR_OP": 0, "PAG_SCALAR_TABLE": 1, "PAG_SCALAR_BUFFER": 2}  # recording's


def check_scalar_codes(lib: Any) -> None:
    """The scalar sources recording.py writes are enum pag_plan_scalar's values."""
    for name, value in SCALAR_CODES.items():
        if getattr(lib, name) != value:
            raise ImportError(f"pyautograd: {name} differs between C and Python")


def external_sizes(ffi: Any, buffers: Sequence[Buffer]) -> Dict[int, int]:
    """Values held by each external buffer: an array's length, else the largest storage found
    holding it (a CArray's buffer holds at least nrow * ncol values)."""
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
            if type(obj) in (carray.CArray, carray.CArray32) and hasattr(obj, "buf"):  # (not half-built)
                addr = int(ffi.cast("uintptr_t", obj.buf))
                if addr in pending:
                    sizes[addr] = max(sizes.get(addr, 0), obj.nrow * obj.ncol)
    return sizes


class Plan:
    """A validated recording, ready to replay: C op array, buffer and scalar tables, checks."""

    def __init__(self, trace: Trace, lib: Any, ffi: Any) -> None:
        check_scalar_codes(lib)
        self.lib, self.ffi, self.trace_index = lib, ffi, trace.index
        buffers = trace.buffers
        sizes = external_sizes(ffi, buffers)
        for b in buffers:
            if b.capacity is None and b.origin == "external":
                b.capacity = sizes.get(b.address)
                if b.capacity is None:
                    raise CaptureError("compile: the step touches a buffer whose size cannot be "
                                       "determined (no matrix holds it); it cannot be replayed safely")
        self.buffers = buffers
        # inputs: their buffers are set at each replay; their sizes are checked then
        self.input_slots: List[Tuple[int, int]] = [(b.input, i) for i, b in enumerate(buffers)
                                                   if b.origin == "input"]
        self.input_addresses = {b.address for b in buffers if b.origin != "input"}
        # validate every launch's extents against the buffers' sizes
        self.input_need: Dict[int, int] = {}
        for name, op, extents in zip(trace.names, trace.ops, trace.extents):
            for b, n in extents:
                buf = buffers[b]
                if buf.origin == "input":
                    self.input_need[buf.input] = max(self.input_need.get(buf.input, 0), n)
                elif buf.capacity is None or n > buf.capacity:
                    raise CaptureError(f"compile: {name} would reach past the end of a "
                                       f"buffer ({n} values of {buf.capacity}); refusing the plan")
            if op[SCALAR_FROM] == FROM_BUFFER and buffers[op[SCALAR_FROM + 1]].capacity is not None \
                    and buffers[op[SCALAR_FROM + 1]].capacity < 1:
                raise CaptureError("compile: a value read with .item() comes from an empty buffer")
        # one dtype per plan (recording refused a mix): every op and buffer is of this C type
        ctype = trace.ctype or "double"
        self.pointer, self.itemsize = f"{ctype} *", ffi.sizeof(ctype)
        self.storage = carray.CArray32 if ctype == "float" else carray.CArray
        self.names = trace.names
        self.n_ops = len(trace.ops)
        self.ops = ffi.new("pag_plan_op[]", max(self.n_ops, 1))
        dtype = getattr(lib, DTYPE_CODE[ctype])
        for dst, op in zip(self.ops, trace.ops):
            for name, value in zip(FIELDS, op):
                setattr(dst, name, value)
            dst.dtype = dtype
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
        self.checks = trace.checks
        for b, _error in self.checks:
            if buffers[b].capacity is None or buffers[b].capacity < 1:
                raise CaptureError("compile: a value check reads an empty buffer")
        # what a replay writes outside its own scratch buffers (parameters, optimizer state,
        # gradients, inputs written in place), with how many values: saved before a replay
        # that is checked against eager execution from the same state
        written: Dict[int, int] = {}
        for extents in trace.extents:
            b, n = extents[-1]  # the buffer the launch writes
            if buffers[b].origin in ("external", "input"):
                written[b] = max(written.get(b, 0), n)
        self.written = sorted(written.items())

    def slot_of(self, storage: Any) -> Optional[int]:
        """The buffer table position of a C storage's buffer, or None when the step never
        touched it."""
        return self.trace_index.get(int(self.ffi.cast("uintptr_t", storage.buf)))

    def output_spec(self, storage: Any) -> Tuple[int, int, int, bool]:
        """Where the plan finds a returned storage's values: (slot, nrow, ncol, transposed)."""
        idx = self.slot_of(storage)
        if idx is None:
            raise CaptureError("compile: the step returns a matrix that no C kernel of the "
                               "step touched (made on another backend?)")
        capacity = self.buffers[idx].capacity
        if capacity is not None and capacity < storage.nrow * storage.ncol:
            raise CaptureError("compile: an output is larger than its buffer")
        return idx, storage.nrow, storage.ncol, storage.transposed

    def bind_inputs(self, storages: Sequence[Any]) -> None:
        """Point the input slots at this call's input buffers (C storages, by input position;
        checked: large enough, not one of the plan's other buffers, not shared)."""
        ffi, ptrs, objs = self.ffi, self.table_ptrs, self.input_objs
        changed = False
        for position, slot in self.input_slots:
            data = storages[position]
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

    def set_scalars(self, values: Sequence[float]) -> None:
        """The scalar table for the next replay, in the order the numbers were declared."""
        try:
            self.pack_scalars(self.scalar_bytes, 0, *values)
        except struct.error:
            raise RuntimeError(f"compiled step: {len(values)} numbers given for a plan "
                               f"recorded with {self.n_table}") from None

    def run(self) -> None:
        """Replay every launch (inputs bound and scalars set first), then the value checks."""
        failed = self.lib.pag_plan_run(self.ops, self.n_ops, self.table_arg, self.n_buffers,
                                       self.scalars, self.n_table)
        if failed:
            name = self.names[failed - 1]
            if name.startswith("pag_matmul"):
                raise MemoryError("compiled step: a matrix product could not allocate its "
                                  "packing buffers (the step stopped part way)")
            raise RuntimeError(f"compiled step: launch #{failed - 1} ({name}) was invalid")
        for b, error in self.checks:
            if self.table_ptrs[b][0] != 0.0:
                raise error()

    def output(self, spec: Tuple[int, int, int, bool]) -> Any:
        """A new storage holding a copy of the values at `spec` (see output_spec)."""
        idx, nrow, ncol, transposed = spec
        storage = self.storage(nrow, ncol, transposed)
        if nrow == ncol == 1:
            storage.buf[0] = self.table_ptrs[idx][0]
        else:
            self.ffi.memmove(storage.buf, self.table_ptrs[idx], nrow * ncol * self.itemsize)
        return storage

    def save_values(self) -> List[Tuple[int, bytes]]:
        """The values a replay writes outside its scratch buffers (inputs bound first)."""
        ffi, ptrs = self.ffi, self.table_ptrs
        return [(b, ffi.buffer(ptrs[b], n * self.itemsize)[:]) for b, n in self.written]

    def restore_values(self, saved: List[Tuple[int, bytes]]) -> None:
        for b, raw in saved:
            self.ffi.memmove(self.table_ptrs[b], raw, len(raw))
