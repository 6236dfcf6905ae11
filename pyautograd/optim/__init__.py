"""Optimizers and learning-rate schedulers in the PyTorch idiom: SGD, Adam, AdamW and RMSprop
follow torch.optim's update rules operation for operation, with parameter groups and state_dict.
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
