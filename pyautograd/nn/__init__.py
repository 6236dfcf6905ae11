"""Layers and losses in the PyTorch idiom."""
from . import functional
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .modules import Linear, Module, ReLU, Sequential, Sigmoid, Tanh

__all__ = ["Module", "Linear", "Sequential", "Sigmoid", "ReLU", "Tanh", "MSELoss", "BCELoss",
           "BCEWithLogitsLoss", "CrossEntropyLoss", "functional"]
