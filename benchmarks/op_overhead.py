"""What one op costs the engine beyond its arithmetic: forward + backward of a single
elementwise op on a 4-element vector, where the numpy work is almost nothing and what is left
is bookkeeping (wrapping, recording the node, ordering the tape, accumulating `.grad`).

Each version computes the output and the gradients of every input from an incoming
gradient g: numpy by hand, the engine and PyTorch with `y.backward(g)`.
"""
from dataclasses import dataclass

import numpy as np

import autodiff

from .timing import interleaved

SHAPE = (4,)
TARGET = 4e-6  # seconds, engine forward + backward of one op


def _numpy_mul(a, b, g):
    out = a * b
    return out, g * b, g * a


def _numpy_tanh(a, g):
    out = np.tanh(a)
    return out, g * (1 - out * out)


# name -> (number of inputs, numpy version, how the op is written on a Tensor)
OPS = {
    "mul": (2, _numpy_mul, lambda a, b: a * b),
    "tanh": (1, _numpy_tanh, lambda a: a.tanh()),
}


@dataclass
class Result:
    op: str
    numpy: object   # timing.Samples
    engine: object
    torch: object   # None without torch

    @property
    def passed(self):
        return self.engine.best <= TARGET


def _stepper(inputs, g, op):
    """forward + backward with fresh gradients, for engine and PyTorch tensors alike."""
    def step():
        for t in inputs:
            t.grad = None
        op(*inputs).backward(g)
    return step


def measure(name, torch, rounds, min_batch):
    arity, numpy_fn, op = OPS[name]
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(SHAPE) for _ in range(arity)]
    g = rng.standard_normal(SHAPE)
    expected = numpy_fn(*arrays, g)[1:]

    inputs = [autodiff.tensor(a, requires_grad=True) for a in arrays]
    fns = {"numpy": lambda: numpy_fn(*arrays, g),
           "engine": _stepper(inputs, autodiff.tensor(g), op)}
    fns["engine"]()
    for t, e in zip(inputs, expected):
        np.testing.assert_allclose(t.grad.data, e, rtol=1e-14, err_msg=f"engine {name}")
    if torch is not None:
        t_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        fns["torch"] = _stepper(t_inputs, torch.tensor(g), op)
        fns["torch"]()
        for t, e in zip(t_inputs, expected):
            np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-14, err_msg=f"torch {name}")
    samples = interleaved(fns, rounds, min_batch)
    return Result(name, samples["numpy"], samples["engine"], samples.get("torch"))


def run(torch, quick=False):
    rounds, min_batch = (2, 0.002) if quick else (25, 0.02)
    for name in OPS:
        yield measure(name, torch, rounds, min_batch)
