"""Exceptions of pyautograd's own (the rest are ValueError, TypeError and RuntimeError). This is
the ground floor: every other module may import it, it imports nothing of the package."""
from __future__ import annotations

from typing import Optional


class BackendDivergenceError(AssertionError):
    """In the verify backend, C and Python computed different results for the same op.

    `head` names the op and the shapes, `detail` the errors; the message puts between them where
    the op ran (`relocated` lets the layer that knows better, backward, say so)."""

    def __init__(self, message: str, head: str = "", detail: str = "",
                 phase: str = "", site: Optional[str] = None) -> None:
        super().__init__(message)
        self.head, self.detail, self.phase, self.site = head, detail, phase, site

    @classmethod
    def located(cls, head: str, detail: str, phase: str,
                site: Optional[str]) -> "BackendDivergenceError":
        """`head`: C and Python differ in `phase` (of the matrix created at `site`): `detail`."""
        where = f" in {phase} of the matrix created at {site}" if site else f" in {phase}"
        return cls(f"{head}: C and Python differ{where}: {detail}", head, detail, phase, site)

    def relocated(self, phase: str, site: Optional[str]) -> "BackendDivergenceError":
        """The same divergence, found while running `phase` for a matrix created at `site`."""
        if not self.head:
            return self
        return self.located(self.head, self.detail, phase, site or self.site)


class CaptureError(RuntimeError):
    """A step that compile cannot record faithfully: raised while recording (or before a replay
    starts, for inputs that share memory with the plan's buffers), never after a wrong replay."""
