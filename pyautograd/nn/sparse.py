"""Embedding: a lookup table of rows, gathered by class index."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import backends
from ..backends.recording import capturing
from ..errors import CaptureError
from ..factories import generator
from ..matrix import Matrix, where
from .module import Module


def _indices(op: str, x: Any, size: int) -> np.ndarray:
    """Indices from a 1-D int list/array or an (N, 1) Matrix / array of whole numbers."""
    if isinstance(x, Matrix):
        if x.shape[1] != 1:
            raise ValueError(f"{op}: a Matrix of indices must be one column (N, 1), got {x.shape}")
        values = x.numpy().ravel()
    else:
        values = np.asarray(x)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        if values.ndim != 1:
            raise ValueError(f"{op}: indices must be 1-D or one column (N, 1), got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{op}: got no indices")
    if values.dtype.kind == "f":
        if not np.all(values == np.floor(values)):  # NaN and inf fail too
            raise ValueError(f"{op}: indices must be whole numbers, got {values.tolist()}")
    elif values.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {values.dtype}")
    indices = values.astype(np.int64)
    if indices.min() < 0 or indices.max() >= size:
        raise IndexError(f"{op}: index out of range: got {indices.min()}..{indices.max()}, the "
                         f"table has {size} rows (0..{size - 1})")
    return indices


class Embedding(Module):
    """weight[indices]: an (num_embeddings, embedding_dim) table, initialised N(0, 1) from the
    generator of ag.manual_seed (the row padding_idx zeros, and it gets no gradient).

    Given N indices (a 1-D list or int array, or an (N, 1) matrix or array of whole numbers) it
    returns an (N, embedding_dim) matrix, one row per index (PyTorch returns (N, 1, dim) for an
    (N, 1) input; matrices stay 2-D here). Gradients of repeated indices add up. Refused inside
    ag.compile (CaptureError): the indices are read in Python, which a replay would freeze."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        op = type(self).__name__
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{op}: {name} must be a positive integer, got {n!r}")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, int) \
                    or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"{op}: padding_idx must be an integer within num_embeddings "
                                 f"({num_embeddings}), got {padding_idx!r}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        table = (rng if rng is not None else generator()).standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            table[padding_idx] = 0.0
        self.weight = Matrix(backends.current_storage().from_array(table))

    def forward(self, indices: Any) -> Matrix:
        op = type(self).__name__
        if capturing():
            raise CaptureError(f"compile: {op} reads its indices in Python, which a replay would "
                               "freeze; run the lookup outside the compiled step")
        index = _indices(op, indices, self.num_embeddings)
        rows = self.weight[index]
        if self.padding_idx is None or not (index == self.padding_idx).any():
            return rows
        keep = Matrix(type(rows.data).from_array((index != self.padding_idx).astype(float)
                                                 .reshape(-1, 1)), requires_grad=False)
        return where(keep, rows, rows.detach())  # the same values; no gradient to padding_idx

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
