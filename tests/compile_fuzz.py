"""A differential fuzzer for ag.compile: random training programs run eagerly and compiled, side
by side from the same seed, with random events between calls; any difference is a divergence.

A program is drawn through a `Draw` (integers and choices), so that hypothesis can draw and
shrink it (tests/test_compile_fuzz.py) and a plain `random.Random` can draw thousands quickly
(`python tests/compile_fuzz.py 10000`, the long run reported in bench/RESULTS.md).
"""
from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import pyautograd as ag
from pyautograd import nn, optim
from pyautograd.errors import CaptureError
from pyautograd.optim import lr_scheduler

ACTIVATIONS = ("tanh", "relu", "sigmoid", "dropout")
LOSSES = ("mse", "bce_logits", "cross_entropy")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
EVENTS = ("freeze", "unfreeze", "lr", "opt_save", "opt_load", "opt_state_reset", "model_load",
          "train", "eval", "zero_grad", "shape", "pdata_inplace", "pdata_replace", "sched",
          "nothing")
PATTERNS = ("zero_first", "zero_last", "accumulate")


class Draw:
    """What a program generator asks for: an integer in [lo, hi] or one of a sequence."""

    def __init__(self, integer: Callable[[int, int], int]) -> None:
        self.integer = integer

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.integer(0, len(seq) - 1)]

    def flag(self) -> bool:
        return bool(self.integer(0, 1))


def random_draw(rng: random.Random) -> Draw:
    return Draw(rng.randint)


def program(d: Draw) -> Dict[str, Any]:
    """One random training program: model, loss, optimizer, scheduler, step pattern, calls and
    the events before each call."""
    n_layers = d.integer(1, 3)
    widths = [d.integer(1, 5) for _ in range(n_layers)]
    acts = [d.choice(ACTIVATIONS) for _ in range(n_layers)]
    opt = d.choice(OPTIMIZERS)
    hyper: Dict[str, Any] = {"lr": d.choice((0.1, 0.01, 0.003))}
    if opt == "sgd":
        hyper.update(momentum=d.choice((0.0, 0.9)), weight_decay=d.choice((0.0, 0.01)))
        hyper["nesterov"] = hyper["momentum"] > 0 and d.flag()
    elif opt in ("adam", "adamw"):
        hyper.update(betas=(d.choice((0.9, 0.5, 0.3)), d.choice((0.999, 0.9))),
                     weight_decay=d.choice((0.0, 0.01)), amsgrad=d.flag())
    else:
        hyper.update(alpha=d.choice((0.99, 0.5, 0.3)), momentum=d.choice((0.0, 0.5)),
                     centered=d.flag(), weight_decay=d.choice((0.0, 0.01)))
    n_calls = d.integer(5, 12)
    events = []
    for _ in range(n_calls):
        events.append([(d.choice(EVENTS), d.integer(0, 7)) for _ in range(d.integer(0, 2))])
    return {"seed": d.integer(0, 2 ** 16), "in": d.integer(1, 4), "widths": widths,
            "acts": acts, "dropout_p": d.choice((0.1, 0.5)), "loss": d.choice(LOSSES),
            "opt": opt, "hyper": hyper, "sched": d.choice((None, "step", "exp")),
            "pattern": d.choice(PATTERNS), "batch": d.integer(1, 5), "events": events,
            "warmup": d.choice((1, 1, 0, 2))}


class Side:
    """One run of a program: the model, optimizer, scheduler and step, eager or compiled."""

    def __init__(self, prog: Dict[str, Any], compiled: bool) -> None:
        ag.manual_seed(prog["seed"])
        layers: List[nn.Module] = []
        width = prog["in"]
        self.linears = []
        for w, act in zip(prog["widths"], prog["acts"]):
            lin = nn.Linear(width, w)
            self.linears.append(lin)
            layers.append(lin)
            layers.append({"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}[act]()
                          if act != "dropout" else nn.Dropout(prog["dropout_p"]))
            width = w
        self.n_out = max(width, 2) if prog["loss"] == "cross_entropy" else width
        if self.n_out != width:
            lin = nn.Linear(width, self.n_out)
            self.linears.append(lin)
            layers.append(lin)
        self.model = nn.Sequential(*layers)
        params = self.model.parameters()
        cls = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
               "rmsprop": optim.RMSprop}[prog["opt"]]
        self.opt = cls(params, **prog["hyper"])
        self.sched = None
        if prog["sched"] == "step":
            self.sched = lr_scheduler.StepLR(self.opt, step_size=2, gamma=0.5)
        elif prog["sched"] == "exp":
            self.sched = lr_scheduler.ExponentialLR(self.opt, gamma=0.9)
        self.loss = {"mse": nn.MSELoss, "bce_logits": nn.BCEWithLogitsLoss,
                     "cross_entropy": nn.CrossEntropyLoss}[prog["loss"]]()
        self.saved_opt: Optional[Dict[str, Any]] = None
        self.saved_model = {k: v.copy() if hasattr(v, "copy") else v
                            for k, v in self.model.state_dict().items()}
        model, loss_fn, opt, pattern = self.model, self.loss, self.opt, prog["pattern"]

        def step(x: ag.Matrix, y: ag.Matrix) -> ag.Matrix:
            if pattern == "zero_first":
                opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            if pattern != "accumulate":
                opt.step()
            if pattern == "zero_last":
                opt.zero_grad()
            return loss
        self.step = ag.compile(step, warmup=prog["warmup"]) if compiled else step

    def event(self, name: str, k: int) -> None:
        """Apply event `name` with the small integer `k` choosing its target."""
        lin = self.linears[k % len(self.linears)]
        if name == "freeze":
            for p in lin.parameters():
                p.requires_grad = False
        elif name == "unfreeze":
            for p in (lin.weight, lin.bias):
                p.requires_grad = True
        elif name == "lr":
            for g in self.opt.param_groups:
                g["lr"] = g["lr"] * (0.5 if k % 2 else 1.5)
        elif name == "opt_save":
            self.saved_opt = self.opt.state_dict()
        elif name == "opt_load":
            self.opt.load_state_dict(self.saved_opt if self.saved_opt is not None
                                     else self.opt.state_dict())
        elif name == "opt_state_reset":
            self.opt.state = {}
        elif name == "model_load":
            self.model.load_state_dict(self.saved_model)
        elif name == "train":
            self.model.train()
        elif name == "eval":
            self.model.eval()
        elif name == "zero_grad":
            self.opt.zero_grad()
        elif name == "pdata_inplace":
            lin.weight.data *= 0.5
        elif name == "pdata_replace":
            lin.weight.data = lin.weight.data * 0.5
        elif name == "sched" and self.sched is not None:
            self.sched.step()

    def observe(self) -> List[Tuple[str, Any]]:
        """Parameters, their gradients and the optimizer's state dict, as comparable values."""
        seen: List[Tuple[str, Any]] = []
        for i, p in enumerate(self.model.parameters() + [q for lin in self.linears
                                                          for q in (lin.weight, lin.bias)]):
            seen.append((f"parameter {i}", p.numpy().tobytes()))
            seen.append((f"requires_grad {i}", p.requires_grad))
            seen.append((f"gradient {i}", p.grad.numpy().tobytes() if p.has_grad else None))
        sd = self.opt.state_dict()
        for key, buffers in sorted(sd["state"].items()):
            for name, v in sorted(buffers.items()):
                seen.append((f"optimizer state {key} {name!r}",
                             v.tobytes() if isinstance(v, np.ndarray) else v))
        seen.append(("param_groups", repr(sd["param_groups"])))
        return seen


def inputs(prog: Dict[str, Any], call: int, batch: int, n_out: int) -> Tuple[ag.Matrix, ag.Matrix]:
    """The call's (x, y), the same for both sides."""
    rng = np.random.default_rng(prog["seed"] * 1000 + call)
    x = rng.standard_normal((batch, prog["in"]))
    if prog["loss"] == "mse":
        y = rng.standard_normal((batch, n_out))
    elif prog["loss"] == "bce_logits":
        y = (rng.random((batch, n_out)) < 0.5).astype(float)
    else:
        y = np.eye(n_out)[rng.integers(0, n_out, batch)]
    return ag.mat(x, requires_grad=False), ag.mat(y, requires_grad=False)


def run(prog: Dict[str, Any]) -> Tuple[str, str]:
    """('equal' | 'refused' | 'diverged', detail) for one program on the C backend."""
    with ag.backend("c"):
        eager, compiled = Side(prog, False), Side(prog, True)
        batch = prog["batch"]
        for call, events in enumerate(prog["events"]):
            for name, k in events:
                if name == "shape":
                    batch = 1 + (batch + k) % 5
                    continue
                eager.event(name, k)
                compiled.event(name, k)
            x, y = inputs(prog, call, batch, eager.n_out)
            xc, yc = inputs(prog, call, batch, eager.n_out)
            state = ag.factories.generator().bit_generator.state
            position = ag.factories._stream[0]  # dropout's stream: the same draws for both
            try:
                want = eager.step(x, y)
            except Exception as exc:  # the step itself fails (every layer frozen): so must both
                ag.factories.generator().bit_generator.state = state
                ag.factories._stream[0] = position
                try:
                    compiled.step(xc, yc)
                except type(exc) as exc2:
                    if str(exc2) == str(exc):
                        return "equal", f"both raised {exc!r}; stats {compiled.step.stats}"
                return "diverged", f"call {call}: eager raised {exc!r}, compiled did not alike"
            after_eager = ag.factories.generator().bit_generator.state, ag.factories._stream[0]
            ag.factories.generator().bit_generator.state = state  # the same draws for both
            ag.factories._stream[0] = position
            try:
                got = compiled.step(xc, yc)
            except CaptureError as exc:
                return "refused", str(exc)
            if (ag.factories.generator().bit_generator.state,
                    ag.factories._stream[0]) != after_eager:
                return "diverged", f"call {call}: the random generator advanced differently"
            if got.numpy().tobytes() != want.numpy().tobytes():
                return "diverged", f"call {call}: loss {got.item()!r} != eager {want.item()!r}"
            for (name, a), (_n, b) in zip(compiled.observe(), eager.observe()):
                if a != b:
                    return "diverged", f"call {call}: {name} differs"
        return "equal", f"stats {compiled.step.stats}"


def cause(detail: str) -> str:
    """A refusal's message shortened to its cause, for counting."""
    detail = re.sub(r"\d+x\d+", "NxM", re.sub(r"#\d+", "#i", detail))
    detail = detail.replace("two consecutive steps did not launch the same kernels on the same "
                            "state, so neither can be replayed: ", "")
    return re.sub(r"\d+ and \d+", "n and m", detail.split(";")[0])[:150]


def main(argv: List[str]) -> int:
    n = int(argv[0]) if argv else 1000
    seed = int(argv[1]) if len(argv) > 1 else 0
    rng = random.Random(seed)
    counts: Counter = Counter()
    causes: Counter = Counter()
    replays = 0
    start = time.time()
    for i in range(n):
        prog = program(random_draw(rng))
        outcome, detail = run(prog)
        counts[outcome] += 1
        if outcome == "refused":
            causes[cause(detail)] += 1
        elif outcome == "diverged":
            print(f"DIVERGED #{i}: {detail}\n  {prog}", flush=True)
        else:
            replays += "'replayed': 0" not in detail
    print(f"{n} programs (seed {seed}) in {time.time() - start:.0f} s: {dict(counts)}; "
          f"{replays} of the equal ones replayed at least once")
    for c, k in causes.most_common():
        print(f"  refused {k}: {c}")
    return 1 if counts["diverged"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
