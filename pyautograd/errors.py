"""Exceptions of pyautograd's own (the rest are ValueError, TypeError and RuntimeError)."""


class BackendDivergenceError(AssertionError):
    """In the verify backend, C and Python computed different results for the same op."""
