"""One training step of a two-layer MLP, three ways: hand-written numpy, the engine, PyTorch.

    x (B, d) -> Linear(d, m) -> ReLU -> Linear(m, o) -> MSE against t (B, o)

A step is the forward pass to the loss and the backward pass to all four parameter gradients
(no optimizer update). float64 throughout. The numpy version is the baseline: the same
arithmetic written out by hand, with the in-place updates a careful person would use, so the
ratio measures what the engine's bookkeeping costs and nothing else.

The engine and PyTorch each run the step in two forms:
    fused      nn.Linear and F.mse_loss: one op per layer and one for the loss
    composed   x @ W.T + b, .relu(), ((y - t) ** 2).mean(): what the chapters and the
               exercises write, ten ops
"""
from dataclasses import dataclass

import numpy as np

import autodiff
import autodiff.nn.functional as F
from autodiff import nn

from .timing import interleaved


@dataclass(frozen=True)
class Size:
    name: str
    B: int
    d: int
    m: int
    o: int
    targets: dict  # form -> engine time / numpy time must stay at or below this (None: none)

    @property
    def label(self):
        return f"{self.name} B{self.B} d{self.d} m{self.m} o{self.o}"


FORMS = ("fused", "composed")
SIZES = (
    Size("tiny", 4, 8, 8, 2, {"fused": 2.5, "composed": 3.0}),
    Size("small", 32, 64, 64, 10, {"fused": 1.8, "composed": 2.0}),
    Size("medium", 256, 784, 512, 10, {"fused": 1.05, "composed": None}),
    Size("large", 1024, 1024, 2048, 1024, {"fused": 1.05}),  # ~1 s a step: fused only
)


def make_problem(size, seed=0):
    """Inputs, targets and parameters as numpy arrays (PyTorch's Linear initialisation)."""
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(size.d), 1 / np.sqrt(size.m)
    return dict(
        x=rng.standard_normal((size.B, size.d)),
        t=rng.standard_normal((size.B, size.o)),
        W1=rng.uniform(-b1, b1, (size.m, size.d)), b1=rng.uniform(-b1, b1, size.m),
        W2=rng.uniform(-b2, b2, (size.o, size.m)), b2=rng.uniform(-b2, b2, size.o),
    )


# ---- the baseline ------------------------------------------------------------------------
def numpy_step(x, t, W1, b1, W2, b2):
    """Forward, loss, and the manual backward: returns (loss, gW1, gb1, gW2, gb2)."""
    h = x @ W1.T
    h += b1
    np.maximum(h, 0, out=h)           # h is now relu's output a; a > 0 exactly where h > 0
    y = h @ W2.T
    y += b2
    y -= t                            # y - t, in place
    loss = np.vdot(y, y) / y.size
    y *= 2 / y.size                   # dL/dy
    gW2 = y.T @ h
    gb2 = y.sum(0)
    ga = y @ W2
    ga *= h > 0                       # through the ReLU
    gW1 = ga.T @ x
    gb1 = ga.sum(0)
    return loss, gW1, gb1, gW2, gb2


# ---- the engine and PyTorch: the same code, written the way a user writes it -------------
class TwoForms:
    """One training step in both forms; a subclass sets F (the functional module), l1, l2,
    params (W1, b1, W2, b2), x and t with its own library."""

    def fused(self):
        for q in self.params:
            q.grad = None
        loss = self.F.mse_loss(self.l2(self.F.relu(self.l1(self.x))), self.t)
        loss.backward()
        return loss

    def composed(self):
        for q in self.params:
            q.grad = None
        W1, b1, W2, b2 = self.params
        h = (self.x @ W1.T + b1).relu()
        y = h @ W2.T + b2
        loss = ((y - self.t) ** 2).mean()
        loss.backward()
        return loss


class EngineMLP(TwoForms):
    F = F

    def __init__(self, p):
        self.l1, self.l2 = nn.Linear(1, 1), nn.Linear(1, 1)
        for layer, w, b in ((self.l1, "W1", "b1"), (self.l2, "W2", "b2")):
            layer.weight = nn.Parameter(p[w].copy())
            layer.bias = nn.Parameter(p[b].copy())
        self.params = (self.l1.weight, self.l1.bias, self.l2.weight, self.l2.bias)
        self.x, self.t = autodiff.tensor(p["x"]), autodiff.tensor(p["t"])

    def grads(self):
        return [q.grad.data for q in self.params]


class TorchMLP(TwoForms):
    def __init__(self, torch, p):
        self.F = torch.nn.functional
        self.l1 = torch.nn.Linear(1, 1, dtype=torch.float64)
        self.l2 = torch.nn.Linear(1, 1, dtype=torch.float64)
        for layer, w, b in ((self.l1, "W1", "b1"), (self.l2, "W2", "b2")):
            layer.weight = torch.nn.Parameter(torch.tensor(p[w]))
            layer.bias = torch.nn.Parameter(torch.tensor(p[b]))
        self.params = (self.l1.weight, self.l1.bias, self.l2.weight, self.l2.bias)
        self.x, self.t = torch.tensor(p["x"]), torch.tensor(p["t"])

    def grads(self):
        return [q.grad.numpy() for q in self.params]


def check_gradients(name, size, got, expected):
    """The benchmark measures only an engine that computes the right thing."""
    for param, g, e in zip(("W1", "b1", "W2", "b2"), got, expected):
        scale = np.abs(e).max() or 1.0
        np.testing.assert_allclose(
            g, e, rtol=1e-9, atol=1e-12 * scale,
            err_msg=f"{name} gradient of {param} differs from numpy's at {size.label}")


@dataclass
class Result:
    """One size, one form: the engine's and PyTorch's samples against numpy's, all from the
    same interleaved rounds."""
    size: Size
    form: str
    numpy: object       # timing.Samples
    engine: object
    torch: object       # None without torch

    @property
    def target(self):
        return self.size.targets.get(self.form)

    @property
    def ratio(self):
        return self.engine.best / self.numpy.best

    @property
    def torch_ratio(self):
        return None if self.torch is None else self.torch.best / self.numpy.best

    @property
    def passed(self):
        """None where this row has no target."""
        return None if self.target is None else self.ratio <= self.target


def measure(size, torch, rounds, min_batch):
    """Every form of the step at one size, timed in the same interleaved rounds as numpy;
    returns one Result per form."""
    p = make_problem(size)
    args = [p[k] for k in ("x", "t", "W1", "b1", "W2", "b2")]
    expected = numpy_step(*args)
    forms = [f for f in FORMS if f in size.targets]
    engine = EngineMLP(p)
    fns = {"numpy": lambda: numpy_step(*args)}
    reference = TorchMLP(torch, p) if torch is not None else None
    for form in forms:
        loss = getattr(engine, form)()
        np.testing.assert_allclose(loss.item(), expected[0], rtol=1e-12)
        check_gradients(f"engine ({form})", size, engine.grads(), expected[1:])
        fns[f"engine {form}"] = getattr(engine, form)
        if reference is not None:
            getattr(reference, form)()
            check_gradients(f"torch ({form})", size, reference.grads(), expected[1:])
            fns[f"torch {form}"] = getattr(reference, form)
    samples = interleaved(fns, rounds, min_batch)
    for form in forms:  # the timed runs computed the right thing too
        getattr(engine, form)()
        check_gradients(f"engine ({form}, after timing)", size, engine.grads(), expected[1:])
    return [Result(size, form, samples["numpy"], samples[f"engine {form}"],
                   samples.get(f"torch {form}")) for form in forms]


def run(torch, quick=False, sizes=None):
    """Yield one Result per size and form, smallest size first; `sizes`: names to run."""
    for size in SIZES:
        if sizes is not None and size.name not in sizes:
            continue
        slow = size.name == "large"  # ~0.3 s a step: each round times a single step
        if quick:
            rounds, min_batch = 1, 0.002
        else:
            rounds, min_batch = (5, 0.0) if slow else (15, 0.05)
        yield from measure(size, torch, rounds, min_batch)
