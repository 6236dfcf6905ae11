"""Whether operations record a compute graph: `no_grad()` turns recording off for a block,
`enable_grad()` back on, and `set_grad_enabled(flag)` sets it either for a block or from now on."""
from __future__ import annotations

import contextvars
import functools
from typing import Any, Callable, Optional

_enabled: contextvars.ContextVar = contextvars.ContextVar("pyautograd_grad_enabled", default=True)
# Set by pyautograd.explain(): backward calls its before(node) and after(node) around each
# node's reverse rule, to narrate it.
_tracer: contextvars.ContextVar = contextvars.ContextVar("pyautograd_backward_tracer", default=None)


def is_grad_enabled() -> bool:
    return _enabled.get()


class _GradMode:
    """A context manager and decorator that sets grad mode to `_mode` and restores it after.

    Usable as `with no_grad():`, `@no_grad()` and, as in PyTorch, `@no_grad` without the
    parentheses."""

    _mode = True

    def __new__(cls, func: Optional[Callable] = None) -> Any:
        self = super().__new__(cls)
        if func is None:
            return self
        if not callable(func):
            raise TypeError(f"{cls.__name__}: takes no argument, or decorates a function; got "
                            f"{type(func).__name__}")
        return self(func)

    def __enter__(self) -> None:
        self._token = _enabled.set(self._mode)

    def __exit__(self, *exc: Any) -> None:
        _enabled.reset(self._token)

    def __call__(self, func: Callable) -> Callable:
        mode = type(self)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Operations inside record no graph and need no gradient: parameter updates
    (``p.data -= lr * p.grad``) and inference."""

    _mode = False


class enable_grad(_GradMode):
    """Record graphs again inside a no_grad block (or a function decorated with it)."""

    _mode = True


class set_grad_enabled:
    """Turn graph recording on or off: called as a function it takes effect at once (and
    stays); used as `with set_grad_enabled(flag):` the previous mode comes back after the block."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__} "
                            f"{mode!r}")
        self._previous = _enabled.get()
        _enabled.set(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _enabled.set(self._previous)
