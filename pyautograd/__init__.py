"""pyautograd: reverse-mode automatic differentiation over C kernels, with a pure-Python reference.

    >>> import pyautograd as ag
    >>> a = ag.mat([[3.0]])
    >>> f = 4 * (a - 2) ** 2 - 3
    >>> f.backward()
    >>> a.grad.item()   # d/da 4(a-2)^2 - 3 = 8(a-2)
    8.0
"""
from .backends import (backend, get_backend, get_default_dtype, get_num_threads, set_backend,
                       set_default_dtype, set_num_threads)
from .factories import (arange, float32, float64, from_numpy, full, linspace, manual_seed, mat, ones,
                        randn, tensor, zeros)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .errors import BackendDivergenceError
from .explain import explain
from .forward import grad, hessian, hvp, jacobian, jvp
from .matrix import (Matrix, ValuesIndices, cat, cos, exp, log, maximum, minimum, relu, sigmoid,
                     sin, sqrt, stack, tanh, where)
# ag.abs, ag.max and ag.min, as torch's; left out of __all__ so that `from pyautograd import *`
# does not shadow the builtins
from .matrix import abs, max, min  # noqa: F401,A004
from .config import VERSION as __version__, show_config  # noqa: F401  (the version)
from .memory import cache_info, empty_cache, set_cache_limit
from .dlpack import from_dlpack
from . import autograd  # noqa: E402  (after matrix and forward: your own ops build on them)
from .autograd.custom import custom_jvp, custom_vjp  # noqa: E402
from . import data, nn, optim  # noqa: E402  (after Matrix: they build on it)
from .compile import CaptureError, CompiledStep, compile  # noqa: E402,A001  (after optim)

__all__ = [
    "Matrix", "mat", "zeros", "ones", "full", "randn", "from_numpy", "manual_seed", "no_grad",
    "is_grad_enabled", "set_backend", "get_backend", "backend", "gradcheck", "GradcheckError",
    "set_num_threads", "get_num_threads", "BackendDivergenceError", "explain", "jvp", "grad",
    "jacobian", "hessian", "hvp", "autograd", "enable_grad", "set_grad_enabled", "from_dlpack", "nn", "optim", "data",
    "empty_cache", "set_cache_limit", "cache_info", "compile", "CompiledStep", "CaptureError",
    "cat", "where", "maximum", "minimum", "show_config", "float32", "float64",
    "set_default_dtype", "get_default_dtype", "tensor", "arange", "linspace", "stack",
    "ValuesIndices", "exp", "log", "sqrt", "sigmoid", "tanh", "relu", "sin", "cos",
    "autograd", "custom_vjp", "custom_jvp",
]  # ag.abs, ag.max and ag.min exist but stay out of `import *`: they would shadow the builtins
