"""Gradient checkpointing: save a segment's inputs, not its activations, and run the segment
again during backward to get them back. Memory for time: the tape holds one tensor per
segment instead of every intermediate, and backward pays one extra forward of the segment.
"""
import numpy as np

from . import autograd
from .function import Function
from .grad_mode import enable_grad, no_grad, state
from .tensor import Tensor


class Checkpoint(Function):
    @staticmethod
    def forward(ctx, fn, _anchor, *arrays):
        ctx.segment = fn
        ctx.save_for_backward(*arrays)
        with no_grad():
            out = fn(*[Tensor._make(a, False) for a in arrays])
        return out.data

    @staticmethod
    def backward(ctx, g):
        if state.tensor_backward:
            raise RuntimeError("checkpoint does not support create_graph=True")
        arrays = ctx.saved_tensors
        inputs = [Tensor._make(a, need) for a, need in zip(arrays, ctx.needs_input_grad[2:])]
        with enable_grad():
            out = ctx.segment(*inputs)
        if out.requires_grad:
            autograd.backward(out, g)  # parameters inside fn get their .grad here
        return (None, None) + tuple(
            None if not t.requires_grad or t.grad is None else t.grad.data for t in inputs)


def checkpoint(fn, *args):
    """fn(*args), recomputed during backward instead of saving its intermediate tensors.

    Like PyTorch's reentrant checkpoint, parameters used inside `fn` receive their gradient
    by an inner backward into `.grad`, so use it with `backward()`, not `grad()`.
    """
    for i, a in enumerate(args):
        if not isinstance(a, Tensor):
            raise TypeError(f"checkpoint: argument {i} is a {type(a).__name__}; pass tensors "
                            f"(close over other values in fn)")
    # An input that requires grad makes sure the op is recorded even when only parameters
    # inside fn (which checkpoint cannot see) need gradients.
    anchor = Tensor._make(np.zeros(0), state.grad_enabled)
    return Checkpoint.apply(fn, anchor, *args)
