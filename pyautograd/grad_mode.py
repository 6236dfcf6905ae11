"""Whether operations record a compute graph: `no_grad()` turns recording off for a block."""
from __future__ import annotations

import contextvars
import functools
from typing import Any, Callable

_enabled: contextvars.ContextVar = contextvars.ContextVar("pyautograd_grad_enabled", default=True)
# Set by pyautograd.explain(): a callable that runs (and narrates) one node's backward closure.
_tracer: contextvars.ContextVar = contextvars.ContextVar("pyautograd_backward_tracer", default=None)


def is_grad_enabled() -> bool:
    return _enabled.get()


class no_grad:
    """Context manager and decorator: operations inside record no graph and need no gradient.

    Use it for parameter updates (``p.data -= lr * p.grad``) and for inference."""

    def __enter__(self) -> None:
        self._token = _enabled.set(False)

    def __exit__(self, *exc: Any) -> None:
        _enabled.reset(self._token)

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return func(*args, **kwargs)
        return wrapper
