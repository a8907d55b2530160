"""Reductions. Forward collapses axes; backward spreads the gradient back over them."""
import math
from collections import namedtuple

import numpy as np

from ..function import Function
from .arraylike import expand, mean_axes, sum_axes

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _axes(dim, ndim):
    """The axes `dim` names, sorted and non-negative. As in PyTorch, a dim outside
    [-ndim, ndim - 1] is an error (wrapping it would reduce another axis), and a 0-d tensor
    takes dim 0 or -1, reducing nothing."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    bound = max(ndim, 1)
    for d in dims:
        if not -bound <= d < bound:
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions "
                             f"(expected -{bound}..{bound - 1})")
    return tuple(sorted(d % ndim for d in dims)) if ndim else ()


def _spread(ctx, g):
    """Put back the reduced axes as size 1, then broadcast to the input's shape."""
    if not ctx.keepdim:
        g = g.reshape(ctx.kept_shape)
    return expand(g, ctx.in_shape)


def _prepare(ctx, a, dim, keepdim):
    if dim is None:  # all of them (a loss): no dims to check
        axes = tuple(range(a.ndim))
        kept_shape = (1,) * a.ndim
    else:
        axes = _axes(dim, a.ndim)
        kept_shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    ctx.in_shape, ctx.keepdim, ctx.axes, ctx.kept_shape = a.shape, keepdim, axes, kept_shape
    return axes


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        axes = _prepare(ctx, a, dim, keepdim)
        return np.add.reduce(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _spread(ctx, g), None, None

    @staticmethod
    def jvp(ctx, t, _dim, _keepdim):
        return sum_axes(t, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        axes = _prepare(ctx, a, dim, keepdim)
        ctx.count = a.size if dim is None else math.prod(a.shape[i] for i in axes)
        dtype = a.dtype
        if dtype.kind != "f":
            raise TypeError(f"mean needs a floating-point tensor; got dtype {dtype}")
        if dtype == np.float16:  # numpy sums float16 in float32 for its mean
            return a.mean(axis=axes, keepdims=keepdim)
        return np.add.reduce(a, axis=axes, keepdims=keepdim) / ctx.count  # = numpy's mean

    @staticmethod
    def backward(ctx, g):
        return _spread(ctx, g / ctx.count), None, None

    @staticmethod
    def jvp(ctx, t, _dim, _keepdim):
        return mean_axes(t, ctx.axes, ctx.keepdim)


class Amax(Function):
    """The gradient goes to the maximal elements; ties share it equally."""

    @staticmethod
    def forward(ctx, a, dim, keepdim):
        axes = _prepare(ctx, a, dim, keepdim)
        if a.size == 0:
            raise ValueError("max of an empty tensor is undefined")
        out = a.max(axis=axes, keepdims=True)
        is_max = a == out
        ctx.save_for_backward((is_max / is_max.sum(axis=axes, keepdims=True)).astype(a.dtype))
        return out if keepdim else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        share, = ctx.saved_tensors
        return _spread(ctx, g) * share, None, None

    @staticmethod
    def jvp(ctx, t, _dim, _keepdim):
        share, = ctx.saved_tensors
        return sum_axes(t * share, ctx.axes, ctx.keepdim)
