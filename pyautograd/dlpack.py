"""DLPack: matrices in from NumPy, PyTorch, JAX, CuPy-on-CPU... arrays without a copy where the
layout allows (`Matrix.__dlpack__` is the way out)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .factories import from_numpy
from .matrix import Matrix


def from_dlpack(x: Any, requires_grad: bool = False) -> Matrix:
    """A Matrix over any object with `__dlpack__` (a torch.Tensor, a NumPy or JAX array...).

    As from_numpy: on the C backend a writeable, C-contiguous 2-D float64 or float32 CPU array
    is shared, in its dtype (writes to one show in the other); anything else is copied, other
    dtypes into the default dtype (1-D becomes a row)."""
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a NumPy, PyTorch or JAX "
                        f"array), got {type(x).__name__}")
    if isinstance(x, Matrix):
        return Matrix(x.data.copy(), requires_grad)
    try:
        arr = np.from_dlpack(x)
    except (BufferError, RuntimeError, TypeError) as exc:
        raise type(exc)(f"from_dlpack: cannot import this {type(x).__name__}: {exc}") from exc
    return from_numpy(arr, requires_grad)
