"""Layers, losses, initialisers and the bridge to PyTorch, in the PyTorch idiom."""
from . import functional, init, utils
from .losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss,
                     SmoothL1Loss)
from .module import Module
from .modules import (GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ModuleList, ReLU,
                      Sequential, Sigmoid, Softmax, Tanh)
from .normalization import BatchNorm1d, LayerNorm
from .sparse import Embedding
from .torch_bridge import from_torch, to_torch

__all__ = ["Module", "Linear", "Sequential", "ModuleList", "Identity", "Sigmoid", "ReLU", "Tanh",
           "LeakyReLU", "GELU", "Softmax", "LogSoftmax", "Dropout", "Flatten", "BatchNorm1d",
           "LayerNorm", "Embedding", "utils", "MSELoss", "BCELoss",
           "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "functional", "init", "to_torch", "from_torch"]
