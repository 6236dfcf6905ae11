"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD."""
from __future__ import annotations

from typing import Any, Dict

from ..backends.base import Storage
from ..matrix import Matrix
from .optimizer import Optimizer, ParamGroup, Params, check_hyper


class SGD(Optimizer):
    """g = grad + weight_decay * p; with momentum, b = g at the first step, then
    b = momentum * b + (1 - dampening) * g, and g = b (or g + momentum * b with nesterov);
    p -= lr * g."""

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check(self, group: Dict[str, Any]) -> None:
        super()._check(group)
        group["momentum"] = check_hyper("SGD", "momentum", group["momentum"])
        group["dampening"] = check_hyper("SGD", "dampening", group["dampening"], -float("inf"))
        group["weight_decay"] = check_hyper("SGD", "weight_decay", group["weight_decay"])
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any]) -> None:
        g = grad
        if group["weight_decay"]:
            g = g.copy().add_scaled_(p.data, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf.add_scaled_(g, 1.0 - group["dampening"])
            if group["nesterov"]:
                g = g.copy().add_scaled_(buf, momentum)
            else:
                g = buf
        p.data.add_scaled_(g, -group["lr"])
