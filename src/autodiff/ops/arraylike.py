"""Helpers a backward rule can call on a numpy array or on a Tensor alike.

An ordinary backward pass hands rules numpy arrays; `create_graph=True` hands them Tensors so
the backward is recorded too, and a nested jvp hands forward-mode rules Tensors so that outer
jvps see through them. Operators (`+ * @`, `.T`, `.mT`, `.reshape`, indexing) mean the
same on both; the few things they spell differently are here, each written once. (In the
array case a value may also be a 0-d numpy scalar.) Helpers that need an op of their own in
the Tensor case (where, cat, stack, scatter) live beside that op, so this module needs only
numpy.
"""
import math

import numpy as np

ARRAYS = (np.ndarray, np.generic, float, int)  # what a value is when it is not a Tensor


def sum_keepdim(x, axis):
    return sum_axes(x, axis, True)


def sum_axes(x, axes, keepdim):
    if isinstance(x, ARRAYS):
        return np.add.reduce(x, axis=axes, keepdims=keepdim)  # = x.sum(), one call fewer
    return x.sum(dim=axes, keepdim=keepdim)


def mean_axes(x, axes, keepdim):
    if isinstance(x, ARRAYS):
        return np.asarray(x).mean(axis=axes, keepdims=keepdim)
    return x.mean(dim=axes, keepdim=keepdim)


_SMALL = 4096  # elements: below this, a filled copy is cheaper than np.broadcast_to's view


def expand(x, shape):
    """Broadcast `x` to `shape` (the backward of a sum): for arrays a read-only view, or
    for small shapes a filled copy (np.broadcast_to costs as much as filling 4096 values)."""
    if isinstance(x, ARRAYS):
        if math.prod(shape) > _SMALL:
            return np.broadcast_to(x, shape)
        out = np.empty(shape, np.result_type(x))
        out[...] = x
        return out
    return x.expand(shape)


def permute(x, axes):
    if isinstance(x, ARRAYS):
        return x.transpose(axes)
    return x.permute(axes)


def exp(x):
    return np.exp(x) if isinstance(x, ARRAYS) else x.exp()


def log(x):
    return np.log(x) if isinstance(x, ARRAYS) else x.log()
