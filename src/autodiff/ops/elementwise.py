"""Elementwise ops. Each: forward, the backward rule (the local derivative times the incoming
gradient), and the forward-mode rule (the same derivative times the incoming tangent).

Binary ops broadcast their inputs, so a backward rule's gradient has the output's shape; the
engine sums it back down to each input's shape (`autograd.unbroadcast`), once for all ops.

Rules read the inputs and outputs they need from `ctx.saved_tensors`, never from values
computed on the side, so that under create_graph the rule stays differentiable. Derivatives
that are piecewise constant (masks, signs) are saved as plain arrays: their own derivative is 0.
"""
import math

import numpy as np

from ..function import Function
from .arraylike import ARRAYS, log


def as_pytorch(out, *operands):
    """`out` in the dtype PyTorch gives for these operands.

    numpy (NEP 50) lets a 0-d array or a numpy scalar promote an array of the same kind:
    float32 array * float64 0-d = float64. PyTorch does not: within a category (bool < int
    < float) the dimensioned operands decide, then 0-d tensors, then Python/numpy scalars,
    and a lower group only counts when it brings a higher category (int32 * 2.5 is float).
    The common case -- every operand already has out's dtype, or is a Python number numpy
    left alone -- is one comparison per operand."""
    dtype = out.dtype
    for x in operands:
        if getattr(x, "dtype", dtype) is not dtype:
            break
    else:
        return out
    groups = ([], [], [])  # dimensioned, 0-d, scalars
    for x in operands:
        if isinstance(x, np.ndarray):
            groups[x.ndim == 0].append(x.dtype)
        elif x is not None:  # a Python or numpy scalar counts as a Python one, as in PyTorch
            kind = np.asarray(x).dtype.kind
            groups[2].append(np.dtype({"b": np.bool_, "f": np.float64}.get(kind, np.int64)))
    dims, zeros, scalars = (np.result_type(*g) if g else None for g in groups)
    wanted = _combine(dims, _combine(zeros, scalars))
    return out if wanted == dtype else out.astype(wanted)


def _combine(higher, lower):
    """PyTorch's combine_categories: `lower` only matters if it brings a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if lower.kind == "f":
        return lower if higher.kind in "biu" else higher
    return np.promote_types(higher, lower) if higher.kind == "b" else higher


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return as_pytorch(a + b, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g

    @staticmethod
    def jvp(ctx, ta, tb):
        return ta + tb


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return as_pytorch(a - b, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        return ta - tb


class Mul(Function):
    """a * b. Each factor's gradient is the other factor times g, so a factor is saved only
    when the other one's gradient is wanted: x * c with a constant c keeps c, not x."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return as_pytorch(a * b, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (ta * b if need_a else 0.0) + (a * tb if need_b else 0.0)


class Div(Function):
    """a / b: d/da = 1/b needs only b; d/db = -a/b² needs a too."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return as_pytorch(a / b, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g / b if need_a else None,
                -g * a / (b * b) if need_b else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved_tensors
        return ta / b - (a * tb / (b * b) if ctx.needs_input_grad[1] else 0.0)


class Pow(Function):
    """a ** b. With a constant exponent only d/da = b a^(b-1) is needed; d/db = a^b log a
    is the one that needs the output, so the output is saved only for it."""

    @staticmethod
    def forward(ctx, a, b):
        out = as_pytorch(a ** b, a, b)
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_b = None
        if need_b:  # a Python-number base keeps a Python log: np.log would return a float64
            # scalar, which promotes a float32 gradient (as in 2.0 ** x)
            grad_b = g * out * (math.log(a) if isinstance(a, (int, float)) else log(a))
        if not need_a:
            return None, grad_b
        if type(b) is int and b == 2:  # the common square: d/da a² = 2a, without a ** 1
            return g * (2 * a), grad_b
        return g * b * a ** (b - 1), grad_b

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b, out = ctx.saved_tensors
        tangent = ta * b * a ** (b - 1)
        if type(tb) is not float:  # the exponent has a tangent (then out was saved)
            tangent = tangent + tb * out * (math.log(a) if isinstance(a, (int, float))
                                            else log(a))
        return tangent


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g

    @staticmethod
    def jvp(ctx, t):
        return -t


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * out

    @staticmethod
    def jvp(ctx, t):
        out, = ctx.saved_tensors
        return t * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g / a

    @staticmethod
    def jvp(ctx, t):
        a, = ctx.saved_tensors
        return t / a


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * (1 - out * out)

    @staticmethod
    def jvp(ctx, t):
        out, = ctx.saved_tensors
        return t * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # exp of a negative number only: no overflow for large |a|
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * out * (1 - out)

    @staticmethod
    def jvp(ctx, t):
        out, = ctx.saved_tensors
        return t * out * (1 - out)


class Relu(Function):
    """Saves its output, not its input: out > 0 exactly where the input was, and the next
    layer's matmul saves the same array, so the tape holds it once."""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0.0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * (out > 0)

    @staticmethod
    def jvp(ctx, t):
        out, = ctx.saved_tensors
        return t * (out > 0)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g / (2 * out)

    @staticmethod
    def jvp(ctx, t):
        out, = ctx.saved_tensors
        return t / (2 * out)


class Abs(Function):
    """d|a|/da = sign(a); at 0 we take 0, as PyTorch does."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(np.sign(a))
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        sign, = ctx.saved_tensors
        return g * sign

    @staticmethod
    def jvp(ctx, t):
        sign, = ctx.saved_tensors
        return t * sign


class Clamp(Function):
    """Gradient 1 inside [min, max] (bounds included, as PyTorch), 0 where clipped."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clamp needs at least one of min and max")
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save_for_backward(inside)
        return as_pytorch(np.clip(a, lo, hi), a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        inside, = ctx.saved_tensors
        return g * inside, None, None

    @staticmethod
    def jvp(ctx, t, _lo, _hi):
        inside, = ctx.saved_tensors
        return t * inside


def where(cond, a, b):
    """where() on arrays or Tensors; `cond` is a plain boolean array, `a` or `b` may be the
    scalar 0.0 (a constant's tangent)."""
    if isinstance(a, ARRAYS) and isinstance(b, ARRAYS):
        return np.where(cond, a, b)
    return Where.apply(cond, a, b)


class Where(Function):
    """where(cond, a, b): the gradient goes to whichever input was chosen, element by element."""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        return as_pytorch(np.where(cond, a, b), a, b)

    @staticmethod
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        return (None, g * cond,
                g * ~cond)

    @staticmethod
    def jvp(ctx, _tc, ta, tb):
        cond, = ctx.saved_tensors
        return where(cond, ta, tb)


class Cast(Function):
    """A dtype change; the gradient changes back."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype_in = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, np.ndarray):
            return g.astype(ctx.dtype_in), None
        return g.to(ctx.dtype_in), None

    @staticmethod
    def jvp(ctx, t, _):
        return t
