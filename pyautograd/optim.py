"""Optimizers in the PyTorch idiom: SGD (with momentum) and Adam. Each `step()` updates the
parameters' data in place under no_grad, following torch.optim's update rules term by term."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from .backends.base import Storage
from .grad_mode import no_grad
from .matrix import Matrix


class Optimizer:
    def __init__(self, params: Iterable[Matrix], lr: float) -> None:
        self.params: List[Matrix] = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Matrix):
                raise TypeError(f"{type(self).__name__}: parameters must be Matrix objects, "
                                f"got {type(p).__name__}")
        if not lr >= 0.0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr!r}")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def _gradient(self, p: Matrix, weight_decay: float) -> Storage:
        """The gradient with L2 weight decay folded in, as torch.optim does."""
        if not weight_decay:
            return p.grad
        return p.grad.copy().add_scaled_(p.data, weight_decay)


class SGD(Optimizer):
    """p -= lr * g, where g = grad + weight_decay * p, or with momentum the running
    buffer b = momentum * b + g (b = g at the first step)."""

    def __init__(self, params: Iterable[Matrix], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum!r}")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self._buffers: Dict[int, Storage] = {}

    @no_grad()
    def step(self) -> None:
        for p in self.params:
            g = self._gradient(p, self.weight_decay)
            if self.momentum:
                buf = self._buffers.get(id(p))
                if buf is None:
                    buf = self._buffers[id(p)] = g.copy()
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data.add_scaled_(g, -self.lr)


class Adam(Optimizer):
    """Adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params: Iterable[Matrix], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas!r}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._state: Dict[int, Tuple[Storage, Storage]] = {}
        self.t = 0

    @no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1.0 - b1 ** self.t)
        correction2_sqrt = (1.0 - b2 ** self.t) ** 0.5
        for p in self.params:
            g = self._gradient(p, self.weight_decay)
            state = self._state.get(id(p))
            if state is None:
                cls = type(p.data)
                state = self._state[id(p)] = (cls.zeros(*p.shape), cls.zeros(*p.shape))
            m, v = state
            m.add_scaled_(g - m, 1.0 - b1)
            v *= b2
            v.add_scaled_(g * g, 1.0 - b2)
            p.data.add_scaled_(m / ((v ** 0.5) / correction2_sqrt + self.eps), -step_size)
