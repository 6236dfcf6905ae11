"""pyautograd.autograd: differentiable ops of your own (`Function`, `custom_vjp`, `custom_jvp`)."""
from .custom import custom_jvp, custom_vjp
from .function import Function, FunctionCtx

__all__ = ["Function", "FunctionCtx", "custom_vjp", "custom_jvp"]
