"""RMSprop (plain, centered, with momentum), as torch.optim.RMSprop."""
from __future__ import annotations

from typing import Any, Dict, Tuple

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

    def _init_state(self, p: Matrix, group: ParamGroup, state: Dict[str, Any]) -> None:
        cls = type(p.data)
        state["step"] = 0.0
        state["square_avg"] = cls.zeros(*p.shape)
        if group["momentum"] > 0:
            state["momentum_buffer"] = cls.zeros(*p.shape)
        if group["centered"]:
            state["grad_avg"] = cls.zeros(*p.shape)

    def _scalars(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[float, ...]:
        """Count the step; (weight_decay, alpha, 1 - alpha, eps, momentum, -lr,
        1 - (1 - alpha)), as new floats."""
        state["step"] += 1.0
        return (group["weight_decay"] * 1.0, group["alpha"] * 1.0, 1.0 - group["alpha"],
                group["eps"] * 1.0, group["momentum"] * 1.0, -group["lr"],
                1.0 - (1.0 - group["alpha"]))

    def _structure(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[Any, ...]:
        return (bool(group["weight_decay"]), group["centered"], group["momentum"] > 0,
                "momentum_buffer" in state, 1.0 - group["alpha"] < 0.5)

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any],
                scalars: Tuple[float, ...]) -> None:
        wd, alpha, one_minus_alpha, eps, momentum, neg_lr, rest = scalars
        g = grad.copy().add_scaled_(p.data, wd) if wd else grad
        s = state["square_avg"]
        s *= alpha
        s += g * one_minus_alpha * g
        if group["centered"]:
            mean_g = state["grad_avg"] = lerp_(state["grad_avg"], g, one_minus_alpha, rest)
            avg = (s + mean_g * -1.0 * mean_g) ** 0.5
        else:
            avg = s ** 0.5
        avg += eps
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # momentum switched on after the state was made
                buf = state["momentum_buffer"] = type(p.data).zeros(*p.shape)
            buf *= momentum
            buf += g / avg
            p.data.add_scaled_(buf, neg_lr)
        else:
            p.data += g * neg_lr / avg
