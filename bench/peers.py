"""Optional peers of the train suites (issue 24): JAX, the lecture's step and the `nn` step as one
`jax.jit` of `value_and_grad` plus the SGD update, and HIPS autograd, the same steps eager over
NumPy. `jax` and `autograd` below are None where the library is not installed: its columns then
show a dash.

JAX gets one thread at every thread count of the bench: it cannot change its thread pool once
created. XLA_FLAGS' `--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1` (set
here, before jax is imported) no longer holds jaxlib's CPU client to one thread, but the client
sizes its pool from the CPU affinity mask: the mask is one CPU while the client is created, then
restored. `jax_busy_threads()` checks it."""
from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np

LEARNING_RATE = 0.1  # suites.LEARNING_RATE (suites imports this module)
XLA_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _import_jax():
    """jax with float64 enabled and a one-thread CPU client, and a note on its threads; None and
    "not installed" where it is missing."""
    held = "jax" not in sys.modules and hasattr(os, "sched_setaffinity")
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + XLA_THREAD_FLAGS).strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    cpus = os.sched_getaffinity(0) if held else None
    try:
        if held:
            os.sched_setaffinity(0, {min(cpus)})
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.devices()  # creates the CPU client, whose thread pool fits the affinity mask
    except ImportError:
        return None, "not installed"
    finally:
        if held:
            os.sched_setaffinity(0, cpus)
    return jax, ("1 (XLA_FLAGS and one CPU while its client was created; every row)" if held
                 else "not controlled (imported before bench.peers, or no sched_setaffinity)")


jax, JAX_THREADS = _import_jax()
try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # HIPS autograd is a peer where installed, never a requirement
    autograd = anp = None


def _sigmoid(np_, z):
    return 1.0 / (1.0 + np_.exp(-z))


def _lecture_loss(np_):
    """The lecture's loss over weights [W1, b1, W2, b2], in the NumPy module np_ (jax.numpy or
    autograd.numpy)."""
    def loss(weights, x, y):
        W1, b1, W2, b2 = weights
        a2 = _sigmoid(np_, _sigmoid(np_, x @ W1.T + b1) @ W2.T + b2)
        return np_.mean((a2 - y) ** 2)
    return loss


def _nn_loss(np_):
    """The `nn` step's loss: layers [(weight, bias), ...], each Linear then Sigmoid, and MSE."""
    def loss(layers, x, y):
        a = x
        for weight, bias in layers:
            a = _sigmoid(np_, a @ weight.T + bias)
        return np_.mean((a - y) ** 2)
    return loss


LOSSES = {"lecture": _lecture_loss, "nn": _nn_loss}


def _parameters(kind: str, params):
    """W1, b1, W2, b2 as the `kind` step holds them: a flat list, or (weight, bias) per layer."""
    return list(params) if kind == "lecture" else [tuple(params[:2]), tuple(params[2:])]


def _sgd(params, grads, lr: float = LEARNING_RATE):
    """p - lr * g over nested lists and tuples (the same code traced by jax and run by autograd)."""
    if isinstance(params, (list, tuple)):
        return type(params)(_sgd(p, g, lr) for p, g in zip(params, grads))
    return params - lr * grads


_jitted = {}  # kind -> its jitted update, whose cache keeps one executable per shape and dtype


def _jax_update(kind: str):
    """The `kind` step as one jitted function of (parameters, x, y): loss, gradients and the
    SGD update, the parameters' buffers donated (updated in place)."""
    if kind not in _jitted:
        loss_fn = LOSSES[kind](jax.numpy)

        def update(state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(state, x, y)
            return loss, _sgd(state, grads)
        _jitted[kind] = jax.jit(update, donate_argnums=0)
    return _jitted[kind]


def jax_step(kind: str, X: np.ndarray, Y: np.ndarray, params, dtype: str = "float64"):
    """JAX's step, compiled here (on a copy of the parameters, which stay as they are) so that
    the bench's warm-up does not time XLA, and built again for free at the next thread count."""
    jnp = jax.numpy
    update = _jax_update(kind)
    state = _parameters(kind, [jnp.array(p.astype(dtype)) for p in params])
    x, y = jnp.array(X.astype(dtype)), jnp.array(Y.astype(dtype))
    jax.block_until_ready(update(jax.tree_util.tree_map(jnp.copy, state), x, y))

    def step():
        nonlocal state
        loss, state = update(state, x, y)
        return jax.block_until_ready(loss)  # the update is in the same computation
    return step


def hips_step(kind: str, X: np.ndarray, Y: np.ndarray, params, dtype: str = "float64"):
    """HIPS autograd: `value_and_grad` of the loss over NumPy arrays, then the SGD update."""
    loss_and_grads = autograd.value_and_grad(LOSSES[kind](anp))
    state = _parameters(kind, [p.astype(dtype) for p in params])
    x, y = X.astype(dtype), Y.astype(dtype)

    def step():
        nonlocal state
        loss, grads = loss_and_grads(state, x, y)
        state = _sgd(state, grads)
        return loss
    return step


def _thread_ticks() -> dict:
    """CPU time (clock ticks) of each thread of this process, from /proc."""
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks[tid] = int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:  # the thread ended
            pass
    return ticks


def jax_busy_threads(n: int = 1024, calls: int = 8) -> Optional[int]:
    """How many threads did a tenth or more of the work of `calls` jitted n x n matmuls: 1 when
    JAX is held to one thread. None without jax or without /proc."""
    if jax is None or not os.path.isdir("/proc/self/task"):
        return None
    a = jax.numpy.ones((n, n))
    square = jax.jit(lambda m: m @ m)
    square(a).block_until_ready()
    before = _thread_ticks()
    for _ in range(calls):
        square(a).block_until_ready()
    used = [t - before.get(tid, 0) for tid, t in _thread_ticks().items()]
    return sum(1 for u in used if u > 0.1 * max(sum(used), 1))


def _pinn_u(np_, p, z):
    """The PINN's network u(z): 1 -> H -> H -> 1, tanh (no output bias), as suites.pinn_steps."""
    return np_.tanh(np_.tanh(z @ p[0] + p[1]) @ p[2] + p[3]) @ p[4]


def jax_pinn_step(weights, xs: np.ndarray, lr: float, adam=(0.9, 0.999, 1e-8)):
    """The PINN step of suites.pinn_steps as one jax.jit: the loss holds u'' at every point
    (jax.grad twice, per point through vmap) and u'(0); its value_and_grad and an Adam update,
    the state's buffers donated."""
    jnp = jax.numpy
    b1, b2, eps = adam

    def u_scalar(p, z):  # u at one point, a number
        return _pinn_u(jnp, p, z.reshape(1, 1))[0, 0]

    du = jax.grad(u_scalar, argnums=1)
    d2u = jax.grad(lambda p, z: du(p, z), argnums=1)

    def loss(p, x):
        second = jax.vmap(lambda z: d2u(p, z))(x[:, 0]).reshape(-1, 1)
        zero = jnp.zeros(())
        return (jnp.mean((second + _pinn_u(jnp, p, x)) ** 2) + u_scalar(p, zero) ** 2
                + (du(p, zero) - 1.0) ** 2)

    def update(state, x):
        p, m, v, t = state
        value, g = jax.value_and_grad(loss)(p, x)
        t = t + 1
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = [pi - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps) for pi, mi, vi in zip(p, m, v)]
        return value, (p, m, v, t)
    jitted = jax.jit(update, donate_argnums=0)
    fresh = lambda: ([jnp.array(w) for w in weights], [jnp.zeros(w.shape) for w in weights],  # noqa: E731
                     [jnp.zeros(w.shape) for w in weights], jnp.zeros((), jnp.float64))
    x = jnp.array(xs)
    jax.block_until_ready(jitted(fresh(), x))  # compiled here, not in the timed warm-up
    state = fresh()

    def step():
        nonlocal state
        value, state = jitted(state, x)
        return jax.block_until_ready(value)
    return step
