"""Helpers a backward rule can call on a numpy array or on a Tensor alike.

An ordinary backward pass hands rules numpy arrays; `create_graph=True` hands them Tensors so
the backward is recorded too, and a nested jvp hands forward-mode rules Tensors so that outer
jvps see through them. Operators (`+ * @`, `.T`, `.mT`, `.reshape`, indexing) mean the
same on both; the few things they spell differently are here, each written once. (In the
array case a value may also be a 0-d numpy scalar.)
"""
import numpy as np

_ARRAY = (np.ndarray, np.generic, float, int)  # anything that is not a Tensor


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the backward of numpy broadcasting.

    Forward may have stretched an input along new leading axes or along its size-1 axes;
    every element it was copied to sent back a gradient, and they add up.
    """
    if grad.shape == shape:
        return grad
    lead = len(grad.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return sum_keepdim(grad, axes).reshape(shape)


def sum_keepdim(x, axis):
    if isinstance(x, _ARRAY):
        return x.sum(axis=axis, keepdims=True)
    return x.sum(dim=axis, keepdim=True)


def sum_axes(x, axes, keepdim):
    if isinstance(x, _ARRAY):
        return np.asarray(x).sum(axis=axes, keepdims=keepdim)
    return x.sum(dim=axes, keepdim=keepdim)


def mean_axes(x, axes, keepdim):
    if isinstance(x, _ARRAY):
        return np.asarray(x).mean(axis=axes, keepdims=keepdim)
    return x.mean(dim=axes, keepdim=keepdim)


def expand(x, shape):
    """Broadcast `x` to `shape` (the backward of a sum)."""
    if isinstance(x, _ARRAY):
        return np.broadcast_to(x, shape)
    return x.expand(shape)


def permute(x, axes):
    if isinstance(x, _ARRAY):
        return x.transpose(axes)
    return x.permute(axes)


def exp(x):
    return np.exp(x) if isinstance(x, _ARRAY) else x.exp()


def log(x):
    return np.log(x) if isinstance(x, _ARRAY) else x.log()


def where(cond, a, b):
    """`cond` is a plain boolean array; `a` or `b` may be the scalar 0.0 (a constant's
    tangent)."""
    if isinstance(a, _ARRAY) and isinstance(b, _ARRAY):
        return np.where(cond, a, b)
    from .elementwise import Where
    return Where.apply(cond, a, b)


def concatenate(pieces, axis):
    if all(isinstance(p, _ARRAY) for p in pieces):
        return np.concatenate(pieces, axis=axis)
    from .shape import Cat
    return Cat.apply(axis, *pieces)


def stack(pieces, axis):
    if all(isinstance(p, _ARRAY) for p in pieces):
        return np.stack(pieces, axis=axis)
    from .shape import Stack
    return Stack.apply(axis, *pieces)


def scatter(grad, index, shape):
    """A zero array of `shape` with `grad` added at `index` (repeats add up): the backward
    of indexing."""
    if isinstance(grad, _ARRAY):
        return scatter_array(grad, index, shape)
    from .shape import Scatter
    return Scatter.apply(grad, index, shape)


def scatter_array(grad, index, shape):
    out = np.zeros(shape, dtype=grad.dtype)
    np.add.at(out, index, grad)
    return out
