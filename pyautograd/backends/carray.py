"""CArray: the C storage backend. Every number is computed by a kernel of csrc/ through cffi.

A CArray owns one float64 buffer (allocated by cffi, freed when the CArray goes) and never loops
over elements in Python. Shapes are checked by the Storage base class before any kernel runs; the
kernels trust the sizes they are given, so nothing here passes a size it did not check.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

from ._ckernels import ffi, lib
from .base import Storage

_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_binary_kernel = lib.pag_binary
_same_kernel = lib.pag_binary_same
_scalar_kernel = lib.pag_binary_scalar
_unary_kernel = lib.pag_unary
_BINARY = {"add": lib.PAG_ADD, "sub": lib.PAG_SUB, "mul": lib.PAG_MUL, "div": lib.PAG_DIV,
           "lt": lib.PAG_LT, "le": lib.PAG_LE, "gt": lib.PAG_GT, "ge": lib.PAG_GE,
           "eq": lib.PAG_EQ, "ne": lib.PAG_NE, "maximum": lib.PAG_MAXIMUM,
           "minimum": lib.PAG_MINIMUM}
_UNARY = {"neg": lib.PAG_NEG, "exp": lib.PAG_EXP, "log": lib.PAG_LOG, "tanh": lib.PAG_TANH,
          "sigmoid": lib.PAG_SIGMOID, "relu": lib.PAG_RELU, "abs": lib.PAG_ABS,
          "sign": lib.PAG_SIGN}
_REDUCE = {"sum": lib.PAG_SUM, "mean": lib.PAG_MEAN, "max": lib.PAG_MAX}
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


class CArray(Storage):
    """A 2-D float64 matrix in one contiguous row-major C buffer."""

    __slots__ = ("buf",)
    backend_name = "c"

    def __init__(self, nrow: int, ncol: int):
        """An uninitialised nrow x ncol matrix (every kernel writes all of its output)."""
        self.nrow = nrow
        self.ncol = ncol
        self.buf = _alloc("double[]", nrow * ncol)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "CArray":
        nrow, ncol = arr.shape
        out = cls(nrow, ncol)
        ffi.memmove(out.buf, np.ascontiguousarray(arr, dtype=np.float64), nrow * ncol * 8)
        return out

    @classmethod
    def share(cls, arr: np.ndarray) -> "CArray":
        """A CArray over arr's own memory (no copy): arr must be a writeable, C-contiguous 2-D
        float64 array, and the CArray keeps it alive."""
        out = cls.__new__(cls)
        out.nrow, out.ncol = arr.shape
        out.buf = ffi.from_buffer("double[]", arr, require_writable=True)
        return out

    @classmethod
    def full(cls, nrow: int, ncol: int, value: float) -> "CArray":
        out = cls(nrow, ncol)
        lib.pag_fill(nrow * ncol, value, out.buf)
        return out

    def tolist(self) -> list:
        return self.numpy().tolist()

    def numpy(self) -> np.ndarray:
        """A read-only view of the buffer (no copy); it keeps the buffer alive."""
        arr = np.frombuffer(ffi.buffer(self.buf), dtype=np.float64).reshape(self.nrow, self.ncol)
        arr.flags.writeable = False
        return arr

    def copy(self) -> "CArray":
        out = CArray(self.nrow, self.ncol)
        ffi.memmove(out.buf, self.buf, self.nrow * self.ncol * 8)
        return out

    def item(self) -> float:
        if self.nrow != 1 or self.ncol != 1:
            return super().item()  # raises the shared error
        return self.buf[0]

    # -- primitives of the contract -------------------------------------------------------------
    def _binary(self, op: str, other: "CArray", shape) -> "CArray":
        nrow, ncol = shape
        out = CArray(nrow, ncol)
        if other.nrow == self.nrow == nrow and other.ncol == self.ncol == ncol:
            _same_kernel(_BINARY[op], nrow * ncol, self.buf, other.buf, out.buf)
            return out
        _binary_kernel(_BINARY[op], nrow, ncol,
                       self.buf, 0 if self.nrow == 1 else self.ncol, 0 if self.ncol == 1 else 1,
                       other.buf, 0 if other.nrow == 1 else other.ncol, 0 if other.ncol == 1 else 1,
                       out.buf)
        return out

    def _binary_scalar(self, op: str, s: float, reverse: bool) -> "CArray":
        out = CArray(self.nrow, self.ncol)
        _scalar_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, s, reverse, out.buf)
        return out

    def _unary(self, op: str) -> "CArray":
        out = CArray(self.nrow, self.ncol)
        _unary_kernel(_UNARY[op], self.nrow * self.ncol, self.buf, out.buf)
        return out

    def _pow(self, p: float) -> "CArray":
        out = CArray(self.nrow, self.ncol)
        lib.pag_pow_scalar(self.nrow * self.ncol, self.buf, p, out.buf)
        return out

    def _matmul(self, other: "CArray", ta: bool, tb: bool, m: int, n: int, k: int) -> "CArray":
        out = CArray(m, n)
        if lib.pag_matmul(ta, tb, m, n, k, self.buf, other.buf, 0, out.buf, _threads[0]) != 0:
            raise MemoryError(f"matmul: cannot allocate packing buffers for ({m}, {k}) @ ({k}, {n})")
        return out

    def _add_matmul(self, a: "CArray", b: "CArray", ta: bool, tb: bool, m: int, n: int,
                    k: int) -> None:
        if lib.pag_matmul(ta, tb, m, n, k, a.buf, b.buf, 1, self.buf, _threads[0]) != 0:
            raise MemoryError(f"matmul: cannot allocate packing buffers for ({m}, {k}) @ ({k}, {n})")

    def _transpose(self) -> "CArray":
        out = CArray(self.ncol, self.nrow)
        lib.pag_transpose(self.nrow, self.ncol, self.buf, out.buf)
        return out

    def _reduce(self, op: str, axis: Optional[int]) -> "CArray":
        out = CArray(1, 1) if axis is None else (
            CArray(1, self.ncol) if axis == 0 else CArray(self.nrow, 1))
        lib.pag_reduce(_REDUCE[op], _AXIS[axis], self.nrow, self.ncol, self.buf, out.buf)
        return out

    def _fill(self, value: float) -> None:
        lib.pag_fill(self.nrow * self.ncol, value, self.buf)

    def _inplace(self, op: str, other: "CArray") -> None:
        if other.nrow == self.nrow and other.ncol == self.ncol:
            _same_kernel(_BINARY[op], self.nrow * self.ncol, self.buf, other.buf, self.buf)
            return
        lib.pag_binary(_BINARY[op], self.nrow, self.ncol, self.buf, self.ncol, 1,
                       other.buf, 0 if other.nrow == 1 else other.ncol, 0 if other.ncol == 1 else 1,
                       self.buf)

    def _inplace_scalar(self, op: str, s: float) -> None:
        lib.pag_binary_scalar(_BINARY[op], self.nrow * self.ncol, self.buf, s, 0, self.buf)

    def _axpy(self, alpha: float, other: "CArray") -> None:
        lib.pag_axpy(self.nrow * self.ncol, alpha, other.buf, self.buf)

    def _dsigmoid(self, grad: "CArray") -> "CArray":
        out = CArray(self.nrow, self.ncol)
        lib.pag_sigmoid_backward(self.nrow * self.ncol, self.buf, grad.buf, out.buf)
        return out
