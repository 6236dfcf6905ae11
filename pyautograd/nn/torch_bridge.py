"""The way out to PyTorch (and back): `to_torch(module)` builds the equivalent torch.nn module
with the same weights (in their dtype, float64 or float32; Linear's (1, n) bias as PyTorch's
(n,)), `from_torch(module)` the reverse (in the default dtype, as ag.mat), for the layers both
libraries have. PyTorch stays optional: it is imported here,
when called, with a clear error when it is missing."""
from __future__ import annotations

from typing import Any, Callable, Dict

import numpy as np

from .. import backends
from ..matrix import Matrix
from . import losses, modules
from .module import Module
from .normalization import BatchNorm1d, LayerNorm
from .sparse import Embedding


def _torch(op: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(f"{op} needs PyTorch, which is not installed (pip install torch); "
                          "pyautograd itself does not depend on it") from None
    return torch


def _linear_to_torch(torch: Any, m: modules.Linear) -> Any:
    layer = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None,
                            dtype=getattr(torch, str(m.weight.dtype)))  # float64 or float32
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(m.weight.numpy().copy()))
        layer.weight.requires_grad_(m.weight.requires_grad)
        if m.bias is not None:
            layer.bias.copy_(torch.from_numpy(m.bias.numpy().reshape(-1).copy()))
            layer.bias.requires_grad_(m.bias.requires_grad)
    return layer


def _state_to_torch(torch: Any, ours: Module, layer: Any) -> Any:
    """`layer` (a fresh torch module of the same kind) in ours' dtype with ours' state: each
    matrix reshaped to the tensor's shape, num_batches_tracked as PyTorch's int64 counter."""
    first = next(iter(ours.state_dict().values()), None)  # none: BatchNorm1d without any state
    dtype = getattr(torch, str(first.dtype if first is not None else backends.current_storage().dtype))
    layer = layer.to(dtype)
    theirs = layer.state_dict()
    state = {}
    for name, m in ours.state_dict().items():
        values = torch.from_numpy(m.numpy().copy()).reshape(theirs[name].shape)
        state[name] = values.to(theirs[name].dtype)
    layer.load_state_dict(state)
    return layer


def _norm_to_torch(torch: Any, m: Module) -> Any:
    if isinstance(m, BatchNorm1d):
        layer = torch.nn.BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum,
                                     affine=m.affine, track_running_stats=m.track_running_stats)
    elif isinstance(m, LayerNorm):
        layer = torch.nn.LayerNorm(m.normalized_shape, eps=m.eps,
                                   elementwise_affine=m.elementwise_affine, bias=m.bias is not None)
    else:
        layer = torch.nn.Embedding(m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx)
    return _state_to_torch(torch, m, layer)


def _state_from_torch(t: Any, ours: Module) -> Module:
    ours.load_state_dict({k: v.detach().cpu().double().numpy() for k, v in t.state_dict().items()})
    return ours


_SIMPLE = ("ReLU", "Sigmoid", "Tanh", "Identity", "GELU")


def to_torch(module: Module) -> Any:
    """The torch.nn equivalent of `module` (Linear, Sequential, ModuleList, the activations,
    Dropout and the losses), with copies of its weights in their dtype (float64 or float32)
    and its training mode."""
    torch = _torch("to_torch")
    kind = type(module).__name__
    if isinstance(module, modules.Linear):
        result = _linear_to_torch(torch, module)
    elif type(module) is modules.Sequential:
        result = torch.nn.Sequential(*(to_torch(m) for m in module))
    elif type(module) is modules.ModuleList:
        result = torch.nn.ModuleList([to_torch(m) for m in module])
    elif kind in _SIMPLE and type(module) is getattr(modules, kind):
        result = getattr(torch.nn, kind)()
    elif type(module) is modules.LeakyReLU:
        result = torch.nn.LeakyReLU(module.negative_slope)
    elif type(module) in (modules.Softmax, modules.LogSoftmax):
        result = getattr(torch.nn, kind)(dim=1 if module.dim is None else module.dim)
    elif type(module) is modules.Dropout:
        result = torch.nn.Dropout(module.p)
    elif type(module) in (losses.CrossEntropyLoss, losses.NLLLoss):
        weight = None if module.weight is None else torch.tensor(module.weight.numpy().ravel())
        extra = {"label_smoothing": module.label_smoothing} if kind == "CrossEntropyLoss" else {}
        result = getattr(torch.nn, kind)(weight=weight, ignore_index=module.ignore_index,
                                         reduction=module.reduction, **extra)
    elif type(module) in (losses.MSELoss, losses.BCELoss, losses.BCEWithLogitsLoss, losses.L1Loss):
        result = getattr(torch.nn, kind)(reduction=module.reduction)
    elif type(module) is losses.SmoothL1Loss:
        result = torch.nn.SmoothL1Loss(reduction=module.reduction, beta=module.beta)
    elif type(module) is losses.HuberLoss:
        result = torch.nn.HuberLoss(reduction=module.reduction, delta=module.delta)
    elif type(module) in (BatchNorm1d, LayerNorm, Embedding):
        result = _norm_to_torch(torch, module)
    elif type(module) is modules.Flatten:
        result = torch.nn.Flatten(module.start_dim, module.end_dim)
    else:
        raise TypeError(f"to_torch: no PyTorch equivalent for {kind}; supported: Linear, "
                        "Sequential, ModuleList, ReLU, Sigmoid, Tanh, Identity, GELU, LeakyReLU, "
                        "Softmax, LogSoftmax, Dropout, Flatten, BatchNorm1d, LayerNorm, "
                        "Embedding, MSELoss, L1Loss, SmoothL1Loss, "
                        "HuberLoss, BCELoss, BCEWithLogitsLoss, NLLLoss, CrossEntropyLoss")
    return result.train(module.training)


def _matrix(tensor: Any, shape: Any = None) -> Matrix:
    arr = tensor.detach().cpu().double().numpy()
    storage = backends.current_storage()  # the default dtype's class
    arr = np.ascontiguousarray(arr if shape is None else arr.reshape(shape), dtype=storage.dtype)
    return Matrix(storage.from_array(arr), tensor.requires_grad)


def _linear_from_torch(t: Any) -> modules.Linear:
    layer = modules.Linear(t.in_features, t.out_features, bias=t.bias is not None,
                           rng=np.random.default_rng(0))  # replaced below; spares the global seed
    layer.weight = _matrix(t.weight)
    if t.bias is not None:
        layer.bias = _matrix(t.bias, (1, -1))
    return layer


def from_torch(torch_module: Any) -> Module:
    """The pyautograd module equivalent to a torch.nn module built from the supported layers
    (see to_torch), on the current backend, with its weights in the default dtype (float64
    unless ag.set_default_dtype changed it, whatever the tensors' dtype, as ag.mat) and its
    training mode."""
    torch = _torch("from_torch")
    nn = torch.nn
    if not isinstance(torch_module, nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(torch_module).__name__}")
    kind = type(torch_module).__name__
    makers: Dict[type, Callable[[Any], Module]] = {
        nn.Linear: _linear_from_torch,
        nn.Sequential: lambda t: modules.Sequential(*(from_torch(m) for m in t)),
        nn.ModuleList: lambda t: modules.ModuleList([from_torch(m) for m in t]),
        nn.LeakyReLU: lambda t: modules.LeakyReLU(t.negative_slope),
        nn.Softmax: lambda t: modules.Softmax(t.dim),
        nn.LogSoftmax: lambda t: modules.LogSoftmax(t.dim),
        nn.Dropout: lambda t: modules.Dropout(t.p),
        nn.CrossEntropyLoss: lambda t: losses.CrossEntropyLoss(
            weight=_class_weight(t), ignore_index=t.ignore_index, reduction=t.reduction,
            label_smoothing=t.label_smoothing),
        nn.NLLLoss: lambda t: losses.NLLLoss(weight=_class_weight(t), ignore_index=t.ignore_index,
                                             reduction=t.reduction),
        nn.SmoothL1Loss: lambda t: losses.SmoothL1Loss(reduction=t.reduction, beta=t.beta),
        nn.HuberLoss: lambda t: losses.HuberLoss(reduction=t.reduction, delta=t.delta),
        nn.Flatten: lambda t: modules.Flatten(t.start_dim, t.end_dim),
        nn.BatchNorm1d: lambda t: _state_from_torch(t, BatchNorm1d(
            t.num_features, eps=t.eps, momentum=t.momentum, affine=t.affine,
            track_running_stats=t.track_running_stats)),
        nn.LayerNorm: lambda t: _state_from_torch(t, LayerNorm(
            t.normalized_shape, eps=t.eps, elementwise_affine=t.elementwise_affine,
            bias=getattr(t, "bias", None) is not None)),
        nn.Embedding: lambda t: _state_from_torch(t, Embedding(
            t.num_embeddings, t.embedding_dim, padding_idx=t.padding_idx, rng=np.random.default_rng(0))),
    }
    for name in ("ReLU", "Sigmoid", "Tanh", "Identity"):
        makers[getattr(nn, name)] = lambda t, name=name: getattr(modules, name)()
    for name in ("MSELoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss"):
        makers[getattr(nn, name)] = lambda t, name=name: getattr(losses, name)(t.reduction)
    makers[nn.GELU] = _gelu_from_torch
    maker = makers.get(type(torch_module))
    if maker is None:
        raise TypeError(f"from_torch: {kind} has no pyautograd equivalent; supported: "
                        + ", ".join(sorted(t.__name__ for t in makers)))
    if type(torch_module) in (nn.BCELoss, nn.BCEWithLogitsLoss) \
            and getattr(torch_module, "weight", None) is not None:
        raise TypeError(f"from_torch: {kind} with class weights has no pyautograd equivalent")
    return maker(torch_module).train(torch_module.training)


def _class_weight(t: Any) -> Any:
    return None if t.weight is None else t.weight.detach().cpu().double().numpy()


def _gelu_from_torch(t: Any) -> modules.GELU:
    if t.approximate != "none":
        raise TypeError(f"from_torch: GELU(approximate={t.approximate!r}) has no pyautograd "
                        "equivalent; only the exact GELU (approximate='none') is supported")
    return modules.GELU()
