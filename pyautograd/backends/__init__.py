"""Which storage backend new matrices use: `c` (default where built) or `python`; and in which
dtype: float64 (the default) or float32.

The process-wide choice comes from PYAUTOGRAD_BACKEND or `set_backend`; `with backend(name):`
overrides it for one block through a context variable, so threads and asyncio tasks do not see
each other's blocks. The default dtype is process-wide, as PyTorch's (`set_default_dtype`).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from typing import Iterator, Optional, Type

import numpy as np

from .base import FLOAT64, Storage, resolve_dtype
from .list2d import List2D

BUILD_HINT = ("build it with `pip install -e .` from the source tree (needs a C compiler and cffi)")
NAMES = ("c", "python", "verify")

_c_class: Optional[Type[Storage]] = None
_c_error: Optional[BaseException] = None
try:
    from .carray import CArray as _c_class  # noqa: F811
except ImportError as exc:  # the compiled extension is missing
    _c_error = exc


def c_available() -> bool:
    """True when the compiled C kernels imported."""
    return _c_class is not None


def c_error() -> Optional[str]:
    """Why the C kernels did not import, or None when they did."""
    return None if _c_error is None else str(_c_error)


def storage_class(name: str) -> Type[Storage]:
    """The storage class of a backend name, or an error saying why it cannot be had."""
    if name == "python":
        return List2D
    if name in ("c", "verify"):
        if _c_class is None:
            raise RuntimeError(f"backend {name!r} is not available: the C extension did not "
                               f"import ({_c_error}); {BUILD_HINT}")
        if name == "verify":
            from .verify import VerifyArray
            return VerifyArray
        return _c_class
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(map(repr, NAMES))}")


def _initial_backend() -> str:
    requested = os.environ.get("PYAUTOGRAD_BACKEND")
    if requested:
        storage_class(requested)  # raises for an unknown name or a missing C build
        return requested
    if _c_class is None:
        warnings.warn(f"pyautograd: the C extension is not built, using the slow pure-Python "
                      f"backend; {BUILD_HINT}", RuntimeWarning, stacklevel=3)
        return "python"
    return "c"


_default_name: str = _initial_backend()
_default_dtype: "np.dtype" = FLOAT64
_default_class: Type[Storage] = storage_class(_default_name)
_override: contextvars.ContextVar = contextvars.ContextVar("pyautograd_backend", default=None)


def current_storage() -> Type[Storage]:
    """The storage class that new matrices are made of, here and now (backend and dtype)."""
    override = _override.get()
    if override is None:
        return _default_class
    return override if _default_dtype is FLOAT64 else override.variants[_default_dtype]


def set_default_dtype(dtype: object) -> None:
    """The dtype of every matrix made from now on without an explicit dtype=: float64 (the
    default) or float32, in any spelling (ag.float32, np.float32, "float32"). Process-wide, as
    torch.set_default_dtype; matrices that exist keep theirs."""
    global _default_dtype, _default_class
    resolved = resolve_dtype(dtype, "set_default_dtype")
    _default_dtype = resolved
    _default_class = storage_class(_default_name).variants[resolved]


def get_default_dtype() -> "np.dtype":
    """The dtype new matrices get when none is asked for (a NumPy dtype: float64 or float32)."""
    return _default_dtype


def get_backend() -> str:
    """The name of the backend that new matrices use: 'c' or 'python'."""
    return current_storage().backend_name


def set_backend(name: str) -> None:
    """Choose the backend for every matrix made from now on (outside `with backend(...)` blocks)."""
    global _default_name, _default_class
    _default_class = storage_class(name).variants[_default_dtype]
    _default_name = name


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """Use backend `name` for the matrices made inside this block (this thread or task only)."""
    token = _override.set(storage_class(name))
    try:
        yield
    finally:
        _override.reset(token)


def set_num_threads(n: int) -> None:
    """How many threads the C kernels may use (the matmul uses them for large products)."""
    if _c_class is None:
        raise RuntimeError(f"set_num_threads: the C backend is not available; {BUILD_HINT}")
    from .carray import set_num_threads as _set
    _set(n)


def get_num_threads() -> int:
    """How many threads the C kernels may use (1 when the C backend is not built)."""
    if _c_class is None:
        return 1
    from .carray import get_num_threads as _get
    return _get()
