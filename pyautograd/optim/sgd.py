"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD."""
from __future__ import annotations

from typing import Any, Dict, Tuple

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

    def _scalars(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[float, ...]:
        """(weight_decay, momentum, 1 - dampening, -lr), as new floats."""
        return (group["weight_decay"] * 1.0, group["momentum"] * 1.0, 1.0 - group["dampening"],
                -group["lr"])

    def _structure(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[Any, ...]:
        return (bool(group["weight_decay"]), bool(group["momentum"]), group["nesterov"],
                "momentum_buffer" in state)

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any],
                scalars: Tuple[float, ...]) -> None:
        weight_decay, momentum, undamped, neg_lr = scalars
        g = grad
        if weight_decay:
            g = g.copy().add_scaled_(p.data, weight_decay)
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf.add_scaled_(g, undamped)
            if group["nesterov"]:
                g = g.copy().add_scaled_(buf, momentum)
            else:
                g = buf
        p.data.add_scaled_(g, neg_lr)
