"""Turning user input (numbers, nested lists, NumPy arrays) into a 2-D float64 NumPy array.

One rule for every backend: real numbers of any kind become float64, NaN and inf are values like
any other; ragged, empty or deeper-than-2-D input is a ValueError; strings, None, complex numbers
and other objects are a TypeError. A 1-D sequence becomes a single row, as ``np.atleast_2d`` does.
"""
from __future__ import annotations

import numbers

import numpy as np


def _describe(values: object) -> str:
    text = repr(values)
    return text if len(text) <= 60 else text[:57] + "..."


def plain_ndarray(arr: np.ndarray) -> np.ndarray:
    """arr as a base-class ndarray over the same memory. A subclass can override shape, strides,
    flags or size with whatever it likes; the memory is described by the base class's own
    attributes only, and every size handed to a kernel must come from them."""
    return arr if type(arr) is np.ndarray else np.ndarray.view(arr, np.ndarray)


def to_float64_2d(values: object, op: str = "Matrix") -> np.ndarray:
    """Return `values` as a C-contiguous 2-D float64 array (a copy where conversion is needed)."""
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{op}: expected real numbers, got {type(values).__name__} {_describe(values)}")
    if isinstance(values, np.ndarray):
        arr = plain_ndarray(values)
    else:
        try:
            arr = np.asarray(values)
        except ValueError as exc:  # NumPy's word for ragged nesting
            raise ValueError(f"{op}: ragged nested input, every row must have the same length: "
                             f"{_describe(values)}") from exc
    kind = arr.dtype.kind
    if kind == "O":
        flat = arr.ravel()
        for item in flat:
            if isinstance(item, (list, tuple, np.ndarray)):
                raise ValueError(f"{op}: ragged nested input, every row must have the same length: "
                                 f"{_describe(values)}")
            if not isinstance(item, numbers.Real):
                raise TypeError(f"{op}: expected real numbers, got {type(item).__name__} "
                                f"{_describe(item)} in {_describe(values)}")
        arr = arr.astype(np.float64)
    elif kind == "c":
        raise TypeError(f"{op}: complex numbers are not supported: {_describe(values)}")
    elif kind not in "biuf":
        raise TypeError(f"{op}: expected real numbers, got dtype {arr.dtype} from {_describe(values)}")
    if arr.ndim > 2:
        raise ValueError(f"{op}: expected at most 2 dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{op}: empty input (shape {arr.shape}) is not a matrix")
    if arr.ndim < 2:
        arr = arr.reshape(1, -1)
    return np.ascontiguousarray(arr, dtype=np.float64)
