"""Ops that move elements without changing them; backward moves the gradient back."""
import functools

import numpy as np

from ..function import Function
from .arraylike import ARRAYS, permute


def concatenate(pieces, axis):
    if all(isinstance(p, ARRAYS) for p in pieces):
        return np.concatenate(pieces, axis=axis)
    return Cat.apply(axis, *pieces)


def stack(pieces, axis):
    if all(isinstance(p, ARRAYS) for p in pieces):
        return np.stack(pieces, axis=axis)
    return Stack.apply(axis, *pieces)


def scatter(grad, index, shape):
    """A zero array of `shape` with `grad` added at `index` (repeats add up): the backward
    of indexing, on arrays or (as the op Scatter) on Tensors."""
    if isinstance(grad, ARRAYS):
        return scatter_array(grad, index, shape)
    return Scatter.apply(grad, index, shape)


def scatter_array(grad, index, shape):
    out = np.zeros(shape, dtype=grad.dtype)
    np.add.at(out, index, grad)
    return out


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        out = a.reshape(shape)
        ctx.in_shape, ctx.out_shape = a.shape, out.shape
        return out

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None

    @staticmethod
    def jvp(ctx, t, _):
        return t.reshape(ctx.out_shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        try:
            out = a.transpose(axes)  # numpy checks the axes: in range, each once
        except ValueError:
            n = a.ndim  # our message: wrapping 3 to 1 on a 2-d tensor would hide a bug
            raise ValueError(f"permute: {axes} is not an ordering of the {n} axes (each in "
                             f"range -{n}..{n - 1})") from None
        ctx.axes = axes
        return out

    @staticmethod
    def backward(ctx, g):
        return permute(g, _inverse(ctx.axes)), None

    @staticmethod
    def jvp(ctx, t, _):
        return permute(t, ctx.axes)


@functools.lru_cache(maxsize=256)
def _inverse(axes):
    """The permutation that undoes `axes`: g's axis i goes back to where it came from."""
    inverse = [0] * len(axes)
    for i, d in enumerate(axes):
        inverse[d] = i  # (a negative d counts from the end here as in numpy)
    return tuple(inverse)


class Expand(Function):
    """Broadcast to `shape`; -1 keeps the size of the (right-aligned) input axis, as PyTorch."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        lead = len(shape) - a.ndim
        shape = tuple(a.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(shape))
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums it back to the input's shape

    @staticmethod
    def jvp(ctx, t, _):
        return t


class Index(Function):
    """a[index], for any numpy index. Backward scatters the gradient back; an element picked
    twice (a[[0, 0]]) gets both gradients."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.index, ctx.in_shape = index, a.shape
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return scatter(g, ctx.index, ctx.in_shape), None

    @staticmethod
    def jvp(ctx, t, _):
        return t[ctx.index]


class Scatter(Function):
    """The backward of indexing, as an op of its own so create_graph can differentiate it."""

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index, ctx.shape = index, shape
        return scatter_array(g, index, shape)

    @staticmethod
    def backward(ctx, gg):
        return gg[ctx.index], None, None

    @staticmethod
    def jvp(ctx, t, _index, _shape):
        return scatter(t, ctx.index, ctx.shape)  # linear: the same scatter of the tangent


class Cat(Function):
    """cat(tensors, dim): backward slices the gradient into the pieces that were joined."""

    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim, ctx.shapes = dim, [np.shape(a) for a in arrays]
        ctx.bounds = np.cumsum([0] + [s[dim] for s in ctx.shapes])
        out = np.concatenate(arrays, axis=dim)
        ctx.dtype_ = out.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * (ctx.dim % len(g.shape))
        return (None,) + tuple(g[lead + (slice(lo, hi),)]
                               for lo, hi in zip(ctx.bounds[:-1], ctx.bounds[1:]))

    @staticmethod
    def jvp(ctx, _dim, *tangents):
        return concatenate([t if np.ndim(t) else np.zeros(s, ctx.dtype_)
                            for t, s in zip(tangents, ctx.shapes)], ctx.dim)


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim, ctx.count, ctx.shapes = dim, len(arrays), [np.shape(a) for a in arrays]
        out = np.stack(arrays, axis=dim)
        ctx.dtype_ = out.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * (ctx.dim % len(g.shape))
        return (None,) + tuple(g[lead + (i,)] for i in range(ctx.count))

    @staticmethod
    def jvp(ctx, _dim, *tangents):
        return stack([t if np.ndim(t) else np.zeros(s, ctx.dtype_)
                      for t, s in zip(tangents, ctx.shapes)], ctx.dim)
