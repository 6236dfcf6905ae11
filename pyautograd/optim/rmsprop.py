"""RMSprop (plain, centered, with momentum), as torch.optim.RMSprop."""
from __future__ import annotations

from typing import Any, Dict

from ..backends.base import Storage
from ..matrix import Matrix
from .adam import lerp_
from .optimizer import Optimizer, ParamGroup, Params, check_hyper


class RMSprop(Optimizer):
    """s = alpha s + (1 - alpha) g^2; avg = sqrt(s) (centered: sqrt(s - mean_g^2)) + eps;
    p -= lr * g / avg, or through a momentum buffer b = momentum b + g / avg."""

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check(self, group: Dict[str, Any]) -> None:
        super()._check(group)
        for key, label in (("alpha", "alpha value"), ("eps", "epsilon value"),
                           ("weight_decay", "weight_decay value"), ("momentum", "momentum value")):
            group[key] = check_hyper("RMSprop", label, group[key])
        group["centered"] = bool(group["centered"])

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any]) -> None:
        alpha, wd, momentum = group["alpha"], group["weight_decay"], group["momentum"]
        if not state:
            cls = type(p.data)
            state["step"] = 0.0
            state["square_avg"] = cls.zeros(*p.shape)
            if momentum > 0:
                state["momentum_buffer"] = cls.zeros(*p.shape)
            if group["centered"]:
                state["grad_avg"] = cls.zeros(*p.shape)
        state["step"] += 1.0
        g = grad.copy().add_scaled_(p.data, wd) if wd else grad
        s = state["square_avg"]
        s *= alpha
        s += g * (1.0 - alpha) * g
        if group["centered"]:
            mean_g = state["grad_avg"] = lerp_(state["grad_avg"], g, 1.0 - alpha)
            avg = (s + mean_g * -1.0 * mean_g) ** 0.5
        else:
            avg = s ** 0.5
        avg += group["eps"]
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # momentum switched on after the state was made
                buf = state["momentum_buffer"] = type(p.data).zeros(*p.shape)
            buf *= momentum
            buf += g / avg
            p.data.add_scaled_(buf, -group["lr"])
        else:
            p.data += g * -group["lr"] / avg
