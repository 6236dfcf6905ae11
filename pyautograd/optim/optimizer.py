"""The Optimizer base class: parameter groups, per-parameter state, and state_dict, as torch.optim.

A subclass lists its hyper-parameters with their defaults, checks them in `_check` and updates
one parameter in `_update`. `step()` visits only the parameters that received a gradient since
`zero_grad()` (`Matrix.has_grad`): as in PyTorch, a parameter whose gradient is "None" is left
alone (no weight decay, no momentum, no moment update), even though its `.grad` reads as zeros.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, Iterable, List, Tuple, Union

import numpy as np

from ..backends.base import Storage
from ..backends.recording import capturing, declare_scalars
from ..grad_mode import no_grad
from ..matrix import Matrix

ParamGroup = Dict[str, Any]
Params = Union[Iterable[Matrix], Iterable[ParamGroup]]


def check_hyper(op: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
                high_open: bool = False) -> float:
    """`value` as a float in [low, high] (or [low, high) with high_open), else a ValueError
    naming the optimizer, the hyper-parameter and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    above = value >= high if high_open else value > high
    if not value >= low or above:  # `not >=` also rejects NaN
        bracket = ")" if high_open else "]"
        raise ValueError(f"{op}: invalid {name} {value!r}, must lie in [{low}, {high}{bracket}")
    return value


class Optimizer:
    """Holds `param_groups` (a list of dicts: "params" plus the hyper-parameters of the group)
    and `state` (per-parameter buffers, keyed by the parameter)."""

    defaults: Dict[str, Any]

    def __init__(self, params: Params, defaults: Dict[str, Any]) -> None:
        name = type(self).__name__
        if callable(getattr(params, "parameters", None)):
            raise TypeError(f"{name}: got the module {type(params).__name__} itself; pass its "
                            "parameters: model.parameters()")
        if isinstance(params, (Matrix, dict)):
            raise TypeError(f"{name}: params must be an iterable of Matrices or of dicts, got a "
                            f"single {type(params).__name__}")
        self.defaults = dict(defaults)
        self._check(self.defaults)
        self.param_groups: List[ParamGroup] = []
        self.state: Dict[Matrix, Dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- groups ---------------------------------------------------------------------------------
    def add_param_group(self, group: ParamGroup) -> None:
        """Add a group: its own hyper-parameters override the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' key, got "
                            f"{type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Matrix) else list(params)
        for p in params:
            if not isinstance(p, Matrix):
                raise TypeError(f"{name}: parameters must be Matrix objects, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Matrix ({p.shape}, made by "
                                 f"op {p._op!r})")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{name}: unknown hyper-parameter(s) {sorted(unknown)} in a "
                             f"parameter group; this optimizer takes {sorted(self.defaults)}")
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError(f"{name}: a parameter appears twice in one parameter group")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if ids & taken:
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._check(full)
        full["params"] = params
        self.param_groups.append(full)

    def _check(self, group: Dict[str, Any]) -> None:
        """Raise ValueError for hyper-parameters PyTorch would refuse."""
        group["lr"] = check_hyper(type(self).__name__, "learning rate", group["lr"])

    # -- gradients ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Release every parameter's gradient (set_to_none=True, PyTorch's default: the next step
        skips the parameters that no backward reaches in between), or zero it in place (False:
        every parameter then has a gradient of zeros and is stepped, as in PyTorch)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad(set_to_none)

    @no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        recording = capturing()  # compile is recording this step: declare the per-step numbers
        for group in self.param_groups:
            for p in group["params"]:
                if p.has_grad:
                    state = self.state.setdefault(p, {})
                    if not state:
                        self._init_state(p, group, state)
                    scalars = self._scalars(group, state)
                    if recording:  # recomputed before each replay (see compile.py)
                        structure = self._structure(group, state)
                        scalars = declare_scalars(scalars, (self, group, p, state, structure),
                                                  (id(self), id(group), id(p), structure))
                    self._update(p, p.grad, group, state, scalars)

    # A subclass splits its update in three, so that pyautograd.compile can replay it: the
    # buffers it keeps (`_init_state`, run once), the numbers it hands to kernels this step
    # (`_scalars`: Python bookkeeping such as step counts, and every number that may change
    # between steps, recomputed before each replay) and the kernel work (`_update`), which may
    # branch only on what `_structure` returns (a replay checks that it has not changed).
    def _init_state(self, p: Matrix, group: ParamGroup, state: Dict[str, Any]) -> None:
        """Create the parameter's buffers before its first update (none by default)."""

    def _scalars(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[float, ...]:
        """Advance the parameter's step count, if any; return the numbers `_update` passes to
        kernels this step, each a new float object computed here."""
        raise NotImplementedError(f"{type(self).__name__} must define _scalars()")

    def _structure(self, group: ParamGroup, state: Dict[str, Any]) -> Tuple[Any, ...]:
        """Everything `_update`'s control flow depends on (besides the parameter's shape)."""
        raise NotImplementedError(f"{type(self).__name__} must define _structure()")

    def _update(self, p: Matrix, grad: Storage, group: ParamGroup, state: Dict[str, Any],
                scalars: Tuple[float, ...]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """{"state": {index: {name: ndarray or number}}, "param_groups": [{..., "params": [index]}]}
        with parameters numbered across the groups in order, as torch.optim; arrays are copies."""
        index: Dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            numbered = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                numbered.append(index[id(p)])
            groups.append({**{k: copy.deepcopy(v) for k, v in group.items() if k != "params"},
                           "params": numbered})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {k: (v.numpy().copy() if isinstance(v, Storage) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyper-parameters and buffers saved by state_dict(), after checking that the
        groups, their sizes and every buffer's shape match (nothing changes otherwise)."""
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or not isinstance(state_dict.get("state"), dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups', as returned by state_dict()")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(groups)} parameter "
                             f"groups, the optimizer {len(self.param_groups)}")
        params: Dict[int, Matrix] = {}
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: a saved parameter group has "
                                 f"{len(saved['params'])} parameters, the optimizer's has "
                                 f"{len(group['params'])}")
            params.update(zip(saved["params"], group["params"]))
        new_state: Dict[Matrix, Dict[str, Any]] = {}
        for key, buffers in state_dict["state"].items():
            if key not in params:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter {key!r}")
            p = params[key]
            restored = {}
            for k, v in buffers.items():
                if isinstance(v, (np.ndarray, Matrix)):
                    arr = np.asarray(v.numpy() if isinstance(v, Matrix) else v, dtype=np.float64)
                    if arr.shape != p.shape:
                        raise ValueError(f"{name}.load_state_dict: buffer {k!r} of parameter "
                                         f"{key} has shape {arr.shape}, the parameter {p.shape}")
                    v = type(p.data).from_array(np.array(arr))
                restored[k] = v
            new_state[p] = restored
        for saved, group in zip(groups, self.param_groups):
            hyper = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            self._check({**group, **hyper})
        for saved, group in zip(groups, self.param_groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __getstate__(self) -> Dict[str, Any]:
        """For pickle and deepcopy: buffers travel as matrices (which pickle on every backend)."""
        attrs = dict(self.__dict__)
        attrs["state"] = {p: {k: Matrix(v, requires_grad=False) if isinstance(v, Storage) else v
                              for k, v in buffers.items()} for p, buffers in self.state.items()}
        return attrs

    def __setstate__(self, attrs: Dict[str, Any]) -> None:
        attrs["state"] = {p: {k: v.data if isinstance(v, Matrix) else v for k, v in buffers.items()}
                          for p, buffers in attrs["state"].items()}
        self.__dict__.update(attrs)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines) + "\n)"
