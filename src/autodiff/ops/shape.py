"""Ops that move elements without changing them; backward moves the gradient back."""
import numpy as np

from ..function import Function
from .arraylike import concatenate, permute, scatter, scatter_array, stack


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
        n = a.ndim  # each axis once, each in range: wrapping 3 to 1 on a 2-d tensor hides a bug
        if any(not -n <= d < n for d in axes) or sorted(d % n for d in axes) != list(range(n)):
            raise ValueError(f"permute: {axes} is not an ordering of the {n} axes "
                             f"(each in range -{n}..{n - 1})")
        ctx.axes = tuple(d % a.ndim for d in axes)
        return a.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return permute(g, tuple(np.argsort(ctx.axes))), None

    @staticmethod
    def jvp(ctx, t, _):
        return permute(t, ctx.axes)


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
