"""The checks' own numerics: finite differences and error measures in plain float64 numpy.

Nothing here calls the engine or the student's code, so it is an independent oracle for
both: a gradient is right when it agrees with central differences of a forward written
here, not when it agrees with another backward.
"""
import numpy as np


def rel_error(x, y):
    """max |x - y| / max(1e-8, |x| + |y|), elementwise, as CS231n measures gradients."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_vjp(f, inputs, upstream, h=1e-6):
    """uᵀJ for every input of `f`, by central differences: d<u, f(x)>/dx_j, one j at a time.

    `f` takes and returns float64 arrays; `upstream` has f's output shape. The error is
    O(h²) from truncation plus O(eps/h) from rounding: ~1e-9 relative at h = 1e-6 for
    smooth f on inputs of order one.
    """
    inputs = [np.array(x, dtype=np.float64) for x in inputs]
    upstream = np.asarray(upstream, dtype=np.float64)
    grads = []
    for i, x in enumerate(inputs):
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            saved = flat[j]
            flat[j] = saved + h
            plus = np.vdot(upstream, f(*inputs))
            flat[j] = saved - h
            minus = np.vdot(upstream, f(*inputs))
            flat[j] = saved
            gflat[j] = (plus - minus) / (2 * h)
        grads.append(g)
    return grads


def complex_step_vjp(f, inputs, upstream, h=1e-30):
    """uᵀJ for every input of `f`, by the complex step: d<u, f(x)>/dx_j = Im <u, f(x + ih
    e_j)> / h.

    Like central differences it needs only a forward, but it subtracts no two nearby
    values, so it is exact to rounding for every entry, small ones included (central
    differences leave ~1e-10 absolute error: large beside a gradient entry of 1e-3, too
    coarse to show that a reference passes with margin). `f` must be analytic in its inputs
    (+, *, exp, log, tanh): compare, or take a max-shift of, `.real` only.
    """
    inputs = [np.array(x, dtype=np.complex128) for x in inputs]
    upstream = np.asarray(upstream, dtype=np.float64)
    grads = []
    for x in inputs:
        g = np.zeros(x.shape)
        flat = x.reshape(-1)  # a view: x is a fresh contiguous copy
        for j in range(flat.size):
            flat[j] += 1j * h
            g.flat[j] = np.sum(upstream * f(*inputs)).imag / h
            flat[j] -= 1j * h
        grads.append(g)
    return grads


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Random values with |x| in [low, high] and a random sign: no kinks of relu/abs at 0."""
    magnitude = rng.uniform(low, high, size=shape)
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


def noncontiguous(x):
    """The same values as a strided view (every other column of a wider array), so a rule
    that assumes C-contiguous memory, or writes into its input, shows it."""
    x = np.asarray(x)
    if x.ndim == 0:
        return x.copy()
    wide = np.repeat(x, 2, axis=-1)
    view = wide[..., ::2]
    assert not view.flags.c_contiguous or x.shape[-1] <= 1
    return view
