"""Adam and AdamW (with AMSGrad), as torch.optim.Adam and torch.optim.AdamW, operation for
operation so that 100 steps agree with PyTorch to the last few bits."""
from __future__ import annotations

from typing import Any, Dict, Tuple

from ..backends.base import Storage
from ..matrix import Matrix
from .optimizer import Optimizer, ParamGroup, Params, check_hyper


def lerp_(start: Storage, end: Storage, weight: float, rest: float) -> Storage:
    """start + weight * (end - start), evaluated as PyTorch's lerp does (from the nearer end),
    in start's buffer (a compiled step replays state updated in place); `rest` is 1 - weight,
    computed by the caller's _scalars so that a replay recomputes it too. From the far end,
    end - (end - start) * rest is computed exactly as end + (start - end) * rest, since IEEE
    rounding is symmetric under negation."""
    if weight < 0.5:
        return start.add_scaled_(end - start, weight)
    start -= end
    start *= rest
    start += end
    return start


class Adam(Optimizer):
    """m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), with v replaced by its running
    maximum under amsgrad. Adam folds weight decay into g (L2); AdamW decays p directly."""

    _decoupled = False

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _check(self, group: Dict[str, Any]) -> None:
        super()._check(group)
        name = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (check_hyper(name, "beta parameter at index 0", betas[0], 0.0, 1.0, True),
                          check_hyper(name, "beta parameter at index 1", betas[1], 0.0, 1.0, True))
        group["eps"] = check_hyper(name, "epsilon value", group["eps"])
        group["weight_decay"] = check_hyper(name, "weight_decay value", group["weight_decay"])
        group["amsgrad"] = bool(group["amsgrad"])

    def _init_state(self, p: Matrix, group: ParamGroup, state: Dict[str, Any]) -> None:
        cls = type(p.data)
        state["step"] = 0.0
        state["exp_avg"] = cls.zeros(*p.shape)
        state["exp_avg_sq"] = cls.zeros(*p.shape)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = cls.zeros(*p.shape)

    def _scalars(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[float, ...]:
        """Count the step; (weight_decay, 1 - lr weight_decay, 1 - b1, b2, 1 - b2,
        sqrt(1 - b2^t), eps, -lr / (1 - b1^t), 1 - (1 - b1)), as new floats."""
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state["step"] += 1.0
        t = state["step"]
        return (wd * 1.0, 1.0 - lr * wd, 1.0 - b1, b2 * 1.0, 1.0 - b2, (1.0 - b2 ** t) ** 0.5,
                eps * 1.0, -(lr / (1.0 - b1 ** t)), 1.0 - (1.0 - b1))

    def _structure(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[Any, ...]:
        return (bool(group["weight_decay"]), self._decoupled, group["amsgrad"],
                1.0 - group["betas"][0] < 0.5)

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any],
                scalars: Tuple[float, ...]) -> None:
        wd, decay, weight1, b2, one_minus_b2, bias_correction2_sqrt, eps, neg_step_size, rest1 = \
            scalars
        g = grad
        if wd:
            if self._decoupled:
                p.data *= decay
            else:
                g = g.copy().add_scaled_(p.data, wd)
        state["exp_avg"] = m = lerp_(state["exp_avg"], g, weight1, rest1)
        v = state["exp_avg_sq"]
        v *= b2
        v += g * one_minus_b2 * g
        if group["amsgrad"]:  # the running maximum, kept in place (a compiled step replays it)
            v_max = state["max_exp_avg_sq"]
            v_max._inplace("maximum", v)
            v = v_max
        denom = (v ** 0.5) / bias_correction2_sqrt + eps
        p.data += m * neg_step_size / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    _decoupled = True

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
