"""Gradient checkpointing: memory saved, time paid, on a deep residual MLP.

    x -> 64 blocks of  x + W2 relu(W1 x + b1) + b2  -> MSE against t

Once with every activation on the tape, once with `autodiff.checkpoint` over 8 segments of
8 blocks: the tape then keeps each segment's input, and backward runs each segment's forward
again. Memory is what the tape holds (`autodiff.saved_bytes`, `peak_saved_bytes`): at the end
of forward, with and without leaves (parameters and the input, which exist anyway), and the
peak over the whole step (leaves included: a segment's recomputation saves its weights).
"""
from dataclasses import dataclass

import numpy as np

import autodiff
import autodiff.nn.functional as F
from autodiff import nn

from .timing import interleaved

DEPTH, WIDTH, BATCH, SEGMENTS = 64, 256, 64, 8


class ResidualMLP:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.blocks = [(nn.Linear(WIDTH, WIDTH, generator=rng),
                        nn.Linear(WIDTH, WIDTH, generator=rng)) for _ in range(DEPTH)]
        self.params = [p for block in self.blocks for layer in block for p in layer.parameters()]
        self.x = autodiff.tensor(rng.standard_normal((BATCH, WIDTH)))
        self.t = autodiff.tensor(rng.standard_normal((BATCH, WIDTH)))

    @staticmethod
    def _run_blocks(blocks, x):
        for l1, l2 in blocks:
            x = x + l2(F.relu(l1(x)))
        return x

    def forward(self, checkpointed):
        if not checkpointed:
            return F.mse_loss(self._run_blocks(self.blocks, self.x), self.t)
        per = DEPTH // SEGMENTS
        x = self.x
        for s in range(SEGMENTS):
            segment = self.blocks[s * per:(s + 1) * per]
            x = autodiff.checkpoint(lambda h, seg=segment: self._run_blocks(seg, h), x)
        return F.mse_loss(x, self.t)

    def step(self, checkpointed):
        for p in self.params:
            p.grad = None
        self.forward(checkpointed).backward()

    def memory(self, checkpointed):
        """(bytes after forward, activation bytes after forward, peak bytes over the step),
        counted inside `memory.track()` so that the timed steps run without the accounting."""
        for p in self.params:
            p.grad = None
        with autodiff.memory.track():
            autodiff.reset_peak_saved_bytes()
            before = autodiff.saved_bytes(), autodiff.saved_bytes(include_leaves=False)
            loss = self.forward(checkpointed)
            held = autodiff.saved_bytes() - before[0]
            activations = autodiff.saved_bytes(include_leaves=False) - before[1]
            loss.backward()
            return held, activations, autodiff.peak_saved_bytes() - before[0]

    def grads(self):
        return [p.grad.data.copy() for p in self.params]


@dataclass
class Result:
    plain: object        # timing.Samples
    checkpointed: object
    plain_memory: tuple  # see ResidualMLP.memory
    checkpointed_memory: tuple

    @property
    def time_ratio(self):
        return self.checkpointed.best / self.plain.best

    def memory_ratios(self):
        return [c / p for c, p in zip(self.checkpointed_memory, self.plain_memory)]


def run(quick=False):
    model = ResidualMLP()
    plain_memory = model.memory(False)
    expected = model.grads()
    checkpointed_memory = model.memory(True)
    for p, e in zip(model.params, expected):
        np.testing.assert_allclose(p.grad.data, e, rtol=1e-9, atol=1e-12 * np.abs(e).max(),
                                   err_msg="checkpointed gradients differ from plain ones")
    rounds, min_batch = (1, 0.0) if quick else (10, 0.2)
    samples = interleaved({"plain": lambda: model.step(False),
                           "checkpointed": lambda: model.step(True)}, rounds, min_batch)
    return Result(samples["plain"], samples["checkpointed"], plain_memory, checkpointed_memory)
