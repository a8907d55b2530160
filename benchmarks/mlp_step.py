"""One training step of a two-layer MLP, three ways: hand-written numpy, the engine, PyTorch.

    x (B, d) -> Linear(d, m) -> ReLU -> Linear(m, o) -> MSE against t (B, o)

A step is the forward pass to the loss and the backward pass to all four parameter gradients
(no optimizer update). float64 throughout. The numpy version is the baseline: the same
arithmetic written out by hand, with the in-place updates a careful person would use, so the
ratio measures what the engine's bookkeeping costs and nothing else.
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
    target: float  # engine time / numpy time must stay at or below this

    @property
    def label(self):
        return f"{self.name} B{self.B} d{self.d} m{self.m} o{self.o}"


SIZES = (
    Size("tiny", 4, 8, 8, 2, 2.5),
    Size("small", 32, 64, 64, 10, 1.8),
    Size("medium", 256, 784, 512, 10, 1.05),
    Size("large", 1024, 1024, 2048, 1024, 1.05),
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
class EngineMLP:
    def __init__(self, p):
        self.l1, self.l2 = nn.Linear(1, 1), nn.Linear(1, 1)
        for layer, w, b in ((self.l1, "W1", "b1"), (self.l2, "W2", "b2")):
            layer.weight = nn.Parameter(p[w].copy())
            layer.bias = nn.Parameter(p[b].copy())
        self.params = (self.l1.weight, self.l1.bias, self.l2.weight, self.l2.bias)
        self.x, self.t = autodiff.tensor(p["x"]), autodiff.tensor(p["t"])

    def step(self):
        for q in self.params:
            q.grad = None
        loss = F.mse_loss(self.l2(F.relu(self.l1(self.x))), self.t)
        loss.backward()
        return loss

    def grads(self):
        return [q.grad.data for q in self.params]


class TorchMLP:
    def __init__(self, torch, p):
        self.torch = torch
        self.F = torch.nn.functional
        self.l1 = torch.nn.Linear(1, 1, dtype=torch.float64)
        self.l2 = torch.nn.Linear(1, 1, dtype=torch.float64)
        for layer, w, b in ((self.l1, "W1", "b1"), (self.l2, "W2", "b2")):
            layer.weight = torch.nn.Parameter(torch.tensor(p[w]))
            layer.bias = torch.nn.Parameter(torch.tensor(p[b]))
        self.params = (self.l1.weight, self.l1.bias, self.l2.weight, self.l2.bias)
        self.x, self.t = torch.tensor(p["x"]), torch.tensor(p["t"])

    def step(self):
        for q in self.params:
            q.grad = None
        loss = self.F.mse_loss(self.l2(self.F.relu(self.l1(self.x))), self.t)
        loss.backward()
        return loss

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
    size: Size
    numpy: object       # timing.Samples
    engine: object
    torch: object       # None without torch

    @property
    def ratio(self):
        return self.engine.best / self.numpy.best

    @property
    def torch_ratio(self):
        return None if self.torch is None else self.torch.best / self.numpy.best

    @property
    def passed(self):
        return self.ratio <= self.size.target


def measure(size, torch, rounds, min_batch):
    p = make_problem(size)
    args = [p[k] for k in ("x", "t", "W1", "b1", "W2", "b2")]
    expected = numpy_step(*args)
    engine = EngineMLP(p)
    loss = engine.step()
    np.testing.assert_allclose(loss.item(), expected[0], rtol=1e-12)
    check_gradients("engine", size, engine.grads(), expected[1:])
    fns = {"numpy": lambda: numpy_step(*args), "engine": engine.step}
    if torch is not None:
        reference = TorchMLP(torch, p)
        reference.step()
        check_gradients("torch", size, reference.grads(), expected[1:])
        fns["torch"] = reference.step
    samples = interleaved(fns, rounds, min_batch)
    check_gradients("engine (after timing)", size, engine.grads(), expected[1:])
    return Result(size, samples["numpy"], samples["engine"], samples.get("torch"))


def run(torch, quick=False):
    """Yield one Result per size, smallest first."""
    for size in SIZES:
        slow = size.name == "large"  # ~0.3 s a step: each round times a single step
        if quick:
            rounds, min_batch = 1, 0.002
        else:
            rounds, min_batch = (5, 0.0) if slow else (15, 0.05)
        yield measure(size, torch, rounds, min_batch)
