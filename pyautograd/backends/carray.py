"""CArray: the C storage backend. Every number is computed by a kernel of csrc/ through cffi.

A CArray owns one float64 buffer (allocated by cffi, freed when the CArray goes) and never loops
over elements in Python. Shapes are checked by the Storage base class before any kernel runs; the
kernels trust the sizes they are given, so nothing here passes a size it did not check.

CArray32 is the same class over float32 buffers and the _f32 kernels: its methods are CArray's
own code (the same function bodies, not copies of the source), bound to a namespace in which
the names of the kernels, the C element type and the item size mean their float32 versions (see
_float32_namespace). So the float64 hot paths keep their plain global lookups, and a fix to a
method fixes both dtypes.
"""
from __future__ import annotations

import os
import types
import warnings
from typing import Callable, Optional, Tuple

import numpy as np

from ._ckernels import ffi, lib
from .base import BINARY_OPS, FLOAT32, FLOAT64, REDUCE_OPS, SELECT_OPS, UNARY_OPS, Storage

_malloc = ffi.new_allocator(should_clear_after_alloc=False)
# The element type, as C, cffi and NumPy name it, and its size: the float32 namespace rebinds them.
_CTYPE = "double"
_POINTER = "double *"
_DOUBLES = ffi.typeof("double[]")
_NP_DTYPE = FLOAT64
_ITEMSIZE = 8
_pool_alloc, _pool_free, _gc, _cast, _NULL = lib.pag_alloc, lib.pag_free, ffi.gc, ffi.cast, ffi.NULL
_new = object.__new__
_binary_kernel = lib.pag_binary
_same_kernel = lib.pag_binary_same
_scalar_kernel = lib.pag_binary_scalar
_unary_kernel = lib.pag_unary
_matmul_kernel = lib.pag_matmul
# Buffers of at least this many values come from the C pool (csrc/pool.c); smaller ones from
# malloc, whose per-thread caches already reuse small blocks without page faults, at less cost
# per op than the pool's cffi destructor.
POOL_MIN_VALUES = 2048
MAX_VALUES = 1 << 53  # far beyond any machine's memory, and every size stays exact in a double


def _pooled(nrow: int, ncol: int):
    """A buffer of nrow * ncol doubles from the pool, or a MemoryError naming the shape."""
    n = nrow * ncol
    p = _pool_alloc(n * _ITEMSIZE) if n <= MAX_VALUES else _NULL
    if p == _NULL:
        raise MemoryError(f"cannot allocate a ({nrow}, {ncol}) {_NP_DTYPE} matrix: "
                          f"{n * _ITEMSIZE:,} bytes")
    return _gc(_cast(_POINTER, p), _pool_free, n * _ITEMSIZE)


def _empty(nrow: int, ncol: int, transposed: bool = False) -> "CArray":
    """An uninitialised CArray (every kernel writes all of its output). Built without __init__:
    this runs once per op, so it is kept to the bare slot stores."""
    out = _new(CArray)
    out.nrow = nrow
    out.ncol = ncol
    out.transposed = transposed
    out.version = 0
    out._base = None
    n = nrow * ncol
    out.buf = _malloc(_DOUBLES, n) if n < POOL_MIN_VALUES else _pooled(nrow, ncol)
    return out


def empty_cache() -> int:
    """Return every cached buffer of the pool to the system; returns how many bytes that was."""
    return lib.pag_pool_empty()


def set_cache_limit(nbytes: int) -> int:
    """Cap the bytes the pool keeps cached for reuse (0 disables caching); returns the old cap."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or not 0 <= nbytes < 1 << 63:
        raise ValueError(f"set_cache_limit: expected a byte count >= 0, got {nbytes!r}")
    return lib.pag_pool_set_limit(nbytes)


def cache_info() -> dict:
    """{'cached': bytes held for reuse now, 'limit': the cap}."""
    return {"cached": lib.pag_pool_cached(), "limit": lib.pag_pool_limit()}


def _unknown_op(kernel: str, code: int) -> ValueError:
    """A kernel refused an op code outside its enum (it wrote nothing)."""
    return ValueError(f"{kernel}: the C kernel has no op {code}")


def _codes(names: Tuple[str, ...]) -> dict:
    """{op name: its C enum value (PAG_ + the name in capitals)}; a name the extension lacks is
    an ImportError naming it (an extension older than this Python code: rebuild it)."""
    missing = [n for n in names if not hasattr(lib, "PAG_" + n.upper())]
    if missing:
        raise ImportError(f"the C extension lacks the op(s) {', '.join(missing)} of backends/base.py; "
                          "rebuild it (pip install -e .)")
    return {n: getattr(lib, "PAG_" + n.upper()) for n in names}


_BINARY = _codes(BINARY_OPS)
_UNARY = _codes(UNARY_OPS)
_REDUCE = _codes(REDUCE_OPS)
_SELECT = _codes(SELECT_OPS)
_AXIS = {None: -1, 0: 0, 1: 1}
_threads = [len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)]
MAX_THREADS = 1024  # far above any core count, far below what an OpenMP team can be asked for
_in_forked_child = [False]


def _after_fork_in_child() -> None:
    """OpenMP's thread pool does not survive fork(): the child has the parent's pool state but
    not its threads, and a parallel region there waits for them forever. The child runs its
    matmuls on one thread instead (the results are the same: threads split columns)."""
    _in_forked_child[0] = True
    _threads[0] = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_num_threads(n: int) -> None:
    """How many threads the C matmul may use (it uses one for small products); 1 to MAX_THREADS.
    In a child process made by fork() it stays 1, with a warning (see _after_fork_in_child)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    if n > MAX_THREADS:
        raise ValueError(f"set_num_threads: {n} threads is more than the {MAX_THREADS} the C "
                         f"matmul can be given; use at most {MAX_THREADS} (one per core is best)")
    if _in_forked_child[0] and n > 1:
        warnings.warn(f"set_num_threads({n}): this process was forked, and OpenMP cannot start "
                      "threads after fork(); the C matmul stays on 1 thread here (use the "
                      "'spawn' or 'forkserver' start method for threaded workers)",
                      RuntimeWarning, stacklevel=3)
        return
    _threads[0] = int(n)


def get_num_threads() -> int:
    return _threads[0]


def _int64s(positions: np.ndarray):
    """A pointer to an index array's int64 values (index_positions made it contiguous)."""
    return ffi.from_buffer("int64_t[]", positions)


def _strides(x: "CArray") -> Tuple[int, int]:
    """(row stride, column stride) of x's values in its buffer; 0 along a dimension of size 1,
    which is how the kernels broadcast it."""
    if x.transposed:
        return (0 if x.nrow == 1 else 1), (0 if x.ncol == 1 else x.nrow)
    return (0 if x.nrow == 1 else x.ncol), (0 if x.ncol == 1 else 1)


class CArray(Storage):
    """A 2-D float64 matrix (CArray32: float32) in one C buffer, row-major, or column-major
    when it is a transposed view (`transposed`): `.T` flips the flag instead of copying, the
    matrix product reads either layout through its transpose flags, element-wise kernels through
    strides, and the few kernels that need a row-major buffer get one materialised."""

    __slots__ = ("buf", "transposed")
    backend_name = "c"
    dtype = FLOAT64

    def __init__(self, nrow: int, ncol: int, transposed: bool = False):
        """An uninitialised nrow x ncol matrix (every kernel writes all of its output)."""
        self.nrow = nrow
        self.ncol = ncol
        n = nrow * ncol
        self.buf = _malloc(_DOUBLES, n) if n < POOL_MIN_VALUES else _pooled(nrow, ncol)
        self.transposed = transposed
        self.version = 0
        self._base = None

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "CArray":
        nrow, ncol = arr.shape
        out = _empty(nrow, ncol)
        ffi.memmove(out.buf, np.ascontiguousarray(arr, dtype=_NP_DTYPE), nrow * ncol * _ITEMSIZE)
        return out

    @classmethod
    def share(cls, arr: np.ndarray) -> "CArray":
        """A CArray over arr's own memory (no copy): arr must be a writeable, C-contiguous 2-D
        array of the class's dtype, and the CArray keeps it alive. Writes made through NumPy are
        invisible to the version counter (NumPy keeps none): only writes through the CArray
        count."""
        out = cls.__new__(cls)
        out.nrow, out.ncol = arr.shape
        out.buf = ffi.from_buffer(_DOUBLES, arr, require_writable=True)
        out.transposed = False
        out.version = 0
        out._base = None
        return out

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "CArray":
        out = _empty(nrow, ncol)
        lib.pag_fill(nrow * ncol, value, out.buf)
        return out

    def tolist(self) -> list:
        return self.numpy().tolist()

    def numpy(self) -> np.ndarray:
        """A read-only view of the buffer (no copy; a transposed view is Fortran-ordered)."""
        n = self.nrow * self.ncol
        arr = np.frombuffer(ffi.buffer(self.buf, n * _ITEMSIZE), dtype=_NP_DTYPE)
        arr = arr.reshape(self.ncol, self.nrow).T if self.transposed else arr.reshape(self.nrow, self.ncol)
        arr.flags.writeable = False
        return arr

    def copy(self) -> "CArray":
        out = _empty(self.nrow, self.ncol, self.transposed)
        ffi.memmove(out.buf, self.buf, self.nrow * self.ncol * _ITEMSIZE)
        return out

    def item(self) -> float:
        if self.nrow != 1 or self.ncol != 1:
            return super().item()  # raises the shared error
        return self.buf[0]

    def _in_layout(self, transposed: bool) -> "CArray":
        """These values stored row-major (transposed=False) or column-major: self when they
        already are, else a copy through the transpose kernel."""
        if self.transposed == transposed or self.nrow == 1 or self.ncol == 1:
            return self
        out = _empty(self.nrow, self.ncol, transposed)
        if transposed:
            lib.pag_transpose(self.nrow, self.ncol, self.buf, out.buf)
        else:
            lib.pag_transpose(self.ncol, self.nrow, self.buf, out.buf)
        return out

    # -- primitives of the contract -------------------------------------------------------------
    def _binary(self, op: str, other: "CArray", shape) -> "CArray":
        nrow, ncol = shape
        if (other.nrow == self.nrow == nrow and other.ncol == self.ncol == ncol
                and other.transposed == self.transposed):
            out = _empty(nrow, ncol, self.transposed)
            if _same_kernel(_BINARY[op], nrow * ncol, self.buf, other.buf, out.buf):
                raise _unknown_op("pag_binary_same", _BINARY[op])
            return out
        out = _empty(nrow, ncol)
        if _binary_kernel(_BINARY[op], nrow, ncol, self.buf, *_strides(self), other.buf,
                          *_strides(other), out.buf):
            raise _unknown_op("pag_binary", _BINARY[op])
        return out

    def _binary_scalar(self, op: str, s: float, reverse: bool) -> "CArray":
        out = _empty(self.nrow, self.ncol, self.transposed)
        if _scalar_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, s, reverse, out.buf):
            raise _unknown_op("pag_binary_scalar", _BINARY[op])
        return out

    def _unary(self, op: str) -> "CArray":
        out = _empty(self.nrow, self.ncol, self.transposed)
        if _unary_kernel(_UNARY[op], self.nrow * self.ncol, self.buf, out.buf):
            raise _unknown_op("pag_unary", _UNARY[op])
        return out

    def _pow(self, p: float) -> "CArray":
        out = _empty(self.nrow, self.ncol, self.transposed)
        lib.pag_pow_scalar(self.nrow * self.ncol, self.buf, p, out.buf)
        return out

    def _matmul(self, other: "CArray", ta: bool, tb: bool, m: int, n: int, k: int) -> "CArray":
        out = _empty(m, n)
        # a transposed view is its parent's buffer read the other way round: flip the flag
        if _matmul_kernel(ta != self.transposed, tb != other.transposed, m, n, k, self.buf,
                          other.buf, 0, out.buf, _threads[0]) != 0:
            raise MemoryError(f"matmul: cannot allocate packing buffers for ({m}, {k}) @ ({k}, {n})")
        return out

    def _add_matmul(self, a: "CArray", b: "CArray", ta: bool, tb: bool, m: int, n: int,
                    k: int) -> None:
        if self.transposed:  # accumulate C^T = op(b)^T op(a)^T into the row-major buffer
            status = _matmul_kernel(tb == b.transposed, ta == a.transposed, n, m, k, b.buf, a.buf,
                                    1, self.buf, _threads[0])
        else:
            status = _matmul_kernel(ta != a.transposed, tb != b.transposed, m, n, k, a.buf, b.buf,
                                    1, self.buf, _threads[0])
        if status != 0:
            raise MemoryError(f"matmul: cannot allocate packing buffers for ({m}, {k}) @ ({k}, {n})")

    def _transpose(self) -> "CArray":
        """A view: the same buffer, read column-major. A vector's layout is the same either way."""
        out = CArray.__new__(CArray)
        out.nrow, out.ncol, out.buf = self.ncol, self.nrow, self.buf
        out.transposed = not self.transposed and self.nrow > 1 and self.ncol > 1
        out.version = 0
        out._base = self if self._base is None else self._base  # its writes count on the buffer's owner
        return out

    def _reduce(self, op: str, axis: Optional[int]) -> "CArray":
        out = _empty(1, 1) if axis is None else (
            _empty(1, self.ncol) if axis == 0 else _empty(self.nrow, 1))
        if not self.transposed:
            if lib.pag_reduce(_REDUCE[op], _AXIS[axis], self.nrow, self.ncol, self.buf, out.buf):
                raise _unknown_op("pag_reduce", _REDUCE[op])
        elif axis is None:  # the reference sums in row-major order: so must we
            row_major = self._in_layout(False)
            if lib.pag_reduce(_REDUCE[op], -1, self.nrow, self.ncol, row_major.buf, out.buf):
                raise _unknown_op("pag_reduce", _REDUCE[op])
        else:  # a column of the view is a row of the buffer; (1, n) and (n, 1) share a layout
            if lib.pag_reduce(_REDUCE[op], 1 - axis, self.ncol, self.nrow, self.buf, out.buf):
                raise _unknown_op("pag_reduce", _REDUCE[op])
        return out

    def _select(self, op: str, axis: Optional[int]) -> "CArray":
        """min, argmax or argmin (csrc/select.c), on the row-major values: an index counts in
        row-major order, whatever the layout."""
        out = _empty(1, 1) if axis is None else (
            _empty(1, self.ncol) if axis == 0 else _empty(self.nrow, 1))
        values = self._in_layout(False)
        if lib.pag_select(_SELECT[op], _AXIS[axis], self.nrow, self.ncol, values.buf, out.buf):
            raise _unknown_op("pag_select", _SELECT[op])
        return out

    def _element_strides(self) -> Tuple[int, int]:
        """(row stride, column stride) of the buffer, without broadcasting's zeros."""
        return (1, self.nrow) if self.transposed else (self.ncol, 1)

    def _gather(self, rows: np.ndarray, cols: np.ndarray) -> "CArray":
        out = _empty(len(rows), len(cols))
        lib.pag_gather(len(rows), len(cols), self.buf, *self._element_strides(),
                       _int64s(rows), _int64s(cols), out.buf)
        return out

    def _scatter(self, rows: np.ndarray, cols: np.ndarray, block: "CArray",
                 accumulate: bool) -> None:
        block = block._in_layout(False)
        if block.buf == self.buf:  # m[...] = m: read a copy, not the values being written
            block = block.copy()
        lib.pag_scatter(len(rows), len(cols), block.buf, _int64s(rows), _int64s(cols), self.buf,
                        *self._element_strides(), 1 if accumulate else 0)

    def _reshape(self, nrow: int, ncol: int) -> "CArray":
        out = _empty(nrow, ncol)
        ffi.memmove(out.buf, self._in_layout(False).buf, nrow * ncol * _ITEMSIZE)
        return out

    def _where(self, a: "CArray", b: "CArray", shape) -> "CArray":
        nrow, ncol = shape
        out = _empty(nrow, ncol)
        lib.pag_where(nrow, ncol, self.buf, *_strides(self), a.buf, *_strides(a), b.buf,
                      *_strides(b), out.buf)
        return out

    def _fill(self, value: float) -> None:
        lib.pag_fill(self.nrow * self.ncol, value, self.buf)

    def _random_mask(self, threshold: int, offset: float) -> None:
        lib.pag_random_mask(self.nrow * self.ncol, threshold, offset, self.buf)

    def _inplace(self, op: str, other: "CArray") -> None:
        if (other.nrow == self.nrow and other.ncol == self.ncol
                and other.transposed == self.transposed):
            if _same_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, other.buf, self.buf):
                raise _unknown_op("pag_binary_same", _BINARY[op])
            return
        if other.buf is self.buf:  # W += W.T: read a copy, not the values being written
            other = other._in_layout(self.transposed)
            if other.nrow == self.nrow and other.ncol == self.ncol:
                if _same_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, other.buf, self.buf):
                    raise _unknown_op("pag_binary_same", _BINARY[op])
                return
        (rs, cs), (ors, ocs) = _strides(self), _strides(other)
        if self.transposed:  # walk the buffer in its own (column-major) order
            if _binary_kernel(_BINARY[op], self.ncol, self.nrow, self.buf, cs, rs, other.buf, ocs,
                              ors, self.buf):
                raise _unknown_op("pag_binary", _BINARY[op])
        else:
            if _binary_kernel(_BINARY[op], self.nrow, self.ncol, self.buf, rs, cs, other.buf, ors,
                              ocs, self.buf):
                raise _unknown_op("pag_binary", _BINARY[op])

    def _inplace_scalar(self, op: str, s: float) -> None:
        if _scalar_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, s, 0, self.buf):
            raise _unknown_op("pag_binary_scalar", _BINARY[op])

    def _axpy(self, alpha: float, other: "CArray") -> None:
        lib.pag_axpy(self.nrow * self.ncol, alpha, other._in_layout(self.transposed).buf, self.buf)

    def _dsigmoid(self, grad: "CArray") -> "CArray":
        out = _empty(self.nrow, self.ncol, self.transposed)
        lib.pag_sigmoid_backward(self.nrow * self.ncol, self.buf,
                                 grad._in_layout(self.transposed).buf, out.buf)
        return out


def _fast(op: str, generic: Callable, reverse: bool = False) -> Callable:
    """A hot operator of CArray: operands of the same shape and layout, and plain numbers, go
    straight to their kernel; everything else (broadcasting, mixed layouts, other backends,
    errors) takes the generic path of the Storage contract. `reverse`: number (op) self."""
    code = _BINARY[op]

    def operator(self: CArray, other: object) -> CArray:
        kind = type(other)
        if kind is CArray:
            if (not reverse and other.nrow == self.nrow and other.ncol == self.ncol
                    and other.transposed == self.transposed):
                out = _empty(self.nrow, self.ncol, self.transposed)
                if _same_kernel(code, self.nrow * self.ncol, self.buf, other.buf, out.buf):
                    raise _unknown_op("pag_binary_same", code)
                return out
        elif kind is float or kind is int:
            out = _empty(self.nrow, self.ncol, self.transposed)
            if _scalar_kernel(code, self.nrow * self.ncol, self.buf, other, reverse, out.buf):
                raise _unknown_op("pag_binary_scalar", code)
            return out
        return generic(self, other)
    operator.__name__, operator.__doc__ = generic.__name__, generic.__doc__
    return operator


def _fast_inplace(op: str, generic: Callable) -> Callable:
    """A hot in-place operator (gradient accumulation, parameter updates), likewise."""
    code = _BINARY[op]

    def operator(self: CArray, other: object) -> CArray:
        kind = type(other)
        if kind is CArray:
            if (other.nrow == self.nrow and other.ncol == self.ncol
                    and other.transposed == self.transposed):
                if _same_kernel(code, self.nrow * self.ncol, self.buf, other.buf, self.buf):
                    raise _unknown_op("pag_binary_same", code)
                self.version += 1
                if self._base is not None:
                    self._base.version += 1
                return self
        elif kind is float or kind is int:
            if _scalar_kernel(code, self.nrow * self.ncol, self.buf, other, 0, self.buf):
                raise _unknown_op("pag_binary_scalar", code)
            self.version += 1
            if self._base is not None:
                self._base.version += 1
            return self
        return generic(self, other)
    operator.__name__, operator.__doc__ = generic.__name__, generic.__doc__
    return operator


for _op, _name in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "truediv")):
    setattr(CArray, f"__{_name}__", _fast(_op, getattr(Storage, f"__{_name}__")))
    setattr(CArray, f"__r{_name}__", _fast(_op, getattr(Storage, f"__r{_name}__"), reverse=True))
for _op in ("add", "sub"):
    setattr(CArray, f"__i{_op}__", _fast_inplace(_op, getattr(Storage, f"__i{_op}__")))


class _Float32Lib:
    """`lib` as the float32 methods see it: lib.pag_X is the kernel pag_X_f32 where there is one
    (every kernel of csrc/pyautograd.h); the pool, the enums and the rest are lib's own."""

    def __init__(self, real_lib) -> None:
        self._lib = real_lib

    def __getattr__(self, name: str):
        value = getattr(self._lib, name + "_f32", None)
        if value is None:
            value = getattr(self._lib, name)
        setattr(self, name, value)
        return value


def _float32_namespace() -> dict:
    """This module's globals with the element type's names bound to float32: the kernels,
    the C type, the cffi array type, the NumPy dtype and the item size. The cloned functions
    of CArray32 and the operators below look their globals up here (backends/recording.py
    swaps the kernels in it too while it records a step, so float32 steps replay as well)."""
    ns = dict(globals())
    f32 = _Float32Lib(lib)
    ns.update(lib=f32, _CTYPE="float", _POINTER="float *", _DOUBLES=ffi.typeof("float[]"),
              _NP_DTYPE=FLOAT32, _ITEMSIZE=4, _binary_kernel=lib.pag_binary_f32,
              _same_kernel=lib.pag_binary_same_f32, _scalar_kernel=lib.pag_binary_scalar_f32,
              _unary_kernel=lib.pag_unary_f32, _matmul_kernel=lib.pag_matmul_f32)
    return ns


FLOAT32_GLOBALS = _float32_namespace()


def _rebind(fn: Callable, namespace: dict) -> Callable:
    """fn's code over another globals namespace (its closure, defaults and name kept)."""
    clone = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__doc__, clone.__qualname__ = fn.__doc__, fn.__qualname__
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone


def _float32_class() -> type:
    """CArray32: a subclass of CArray whose every method is CArray's, rebound to the float32
    namespace (classmethods and operators too)."""
    body = {"__slots__": (), "dtype": FLOAT32,
            "__doc__": "A 2-D float32 matrix in one C buffer: CArray's code over the _f32 kernels."}
    for name, value in vars(CArray).items():
        if isinstance(value, classmethod):
            body[name] = classmethod(_rebind(value.__func__, FLOAT32_GLOBALS))
        elif isinstance(value, types.FunctionType):
            body[name] = _rebind(value, FLOAT32_GLOBALS)
    cls = type("CArray32", (CArray,), body)
    cls.__module__ = __name__
    return cls


CArray32 = _float32_class()
FLOAT32_GLOBALS.update(CArray=CArray32, _pooled=_rebind(_pooled, FLOAT32_GLOBALS),
                       _empty=_rebind(_empty, FLOAT32_GLOBALS))
CArray.variants = CArray32.variants = {FLOAT64: CArray, FLOAT32: CArray32}
