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
from .factories import float32, float64, from_numpy, full, manual_seed, mat, ones, randn, zeros
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .errors import BackendDivergenceError
from .explain import explain
from .forward import grad, hessian, hvp, jacobian, jvp
from .matrix import Matrix, cat, maximum, minimum, where
from .config import VERSION as __version__, show_config
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
    "jacobian", "hessian", "hvp", "enable_grad", "set_grad_enabled", "from_dlpack", "nn", "optim", "data",
    "empty_cache", "set_cache_limit", "cache_info", "compile", "CompiledStep", "CaptureError",
    "cat", "where", "maximum", "minimum", "show_config", "float32", "float64",
    "set_default_dtype", "get_default_dtype", "autograd", "custom_vjp", "custom_jvp",
]
