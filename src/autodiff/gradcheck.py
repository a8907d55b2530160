"""Compare the engine's Jacobian with central finite differences, in float64.

    J_num[:, j] = (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)     error O(eps²)
    J_ana[k, :] = backward of the basis cotangent e_k             one VJP per output element
"""
import numpy as np

from . import autograd
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _as_outputs(out):
    return out if isinstance(out, (tuple, list)) else (out,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True if every Jacobian entry agrees; otherwise raise (or return False) naming the
    input, the element and both values. Inputs that require grad are checked; they are
    copied to float64 first so the finite differences are accurate."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    xs = [Tensor(t.data.astype(np.float64), requires_grad=True)
          if isinstance(t, Tensor) and t.requires_grad else t for t in inputs]
    checked = [i for i, t in enumerate(xs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    outputs = _as_outputs(fn(*xs))
    for o, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: output {o} is a {type(out).__name__}; expected Tensor")
        analytical = _analytical(out, [xs[i] for i in checked])
        for n, i in enumerate(checked):
            numerical = _numerical(fn, xs, i, o, eps)
            bad = np.abs(analytical[n] - numerical) > atol + rtol * np.abs(numerical)
            if bad.any():
                k, j = np.argwhere(bad)[0]
                in_index = np.unravel_index(j, xs[i].shape)
                out_index = np.unravel_index(k, out.shape)
                message = (f"gradcheck: Jacobian mismatch for output {o} index "
                           f"{tuple(map(int, out_index))} with respect to input {i} index "
                           f"{tuple(map(int, in_index))}: numerical {numerical[k, j]:.8g}, "
                           f"analytical {analytical[n][k, j]:.8g} "
                           f"({int(bad.sum())} of {bad.size} entries differ)")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def _analytical(out, wrt):
    """One VJP per output element; each gives a row of every input's Jacobian."""
    size = out.data.size
    jac = [np.zeros((size, x.data.size)) for x in wrt]
    if not out.requires_grad:
        return jac
    for k in range(size):
        basis = np.zeros(size, dtype=out.dtype)
        basis[k] = 1
        grads = autograd.grad(out, wrt, basis.reshape(out.shape), retain_graph=True,
                              allow_unused=True)
        for n, g in enumerate(grads):
            if g is not None:
                jac[n][k] = g.data.reshape(-1)
    return jac


def _numerical(fn, xs, i, o, eps):
    x = xs[i].data
    flat = x.reshape(-1)  # a view: perturbing it perturbs the input
    columns = []
    for j in range(flat.size):  # not under no_grad: fn may itself differentiate (gradgradcheck)
        old = flat[j]
        flat[j] = old + eps
        plus = np.array(_as_outputs(fn(*xs))[o].data, dtype=np.float64)
        flat[j] = old - eps
        minus = np.array(_as_outputs(fn(*xs))[o].data, dtype=np.float64)
        flat[j] = old
        columns.append(((plus - minus) / (2 * eps)).reshape(-1))
    size = columns[0].size if columns else 0
    return np.stack(columns, axis=1) if columns else np.zeros((size, 0))


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0):
    """Check second derivatives: gradcheck the map x -> (d fn / dx)ᵀ u for a fixed random
    cotangent u, whose gradient backward computes with create_graph=True."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    xs = [Tensor(t.data.astype(np.float64), requires_grad=True)
          if isinstance(t, Tensor) and t.requires_grad else t for t in inputs]
    checked = [i for i, t in enumerate(xs) if isinstance(t, Tensor) and t.requires_grad]
    out = fn(*xs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = rng.standard_normal(out.shape)
    u = grad_outputs.data if isinstance(grad_outputs, Tensor) else np.asarray(grad_outputs)

    def first_derivative(*args):
        y = fn(*args)
        wrt = [args[i] for i in checked]
        grads = autograd.grad(y, wrt, Tensor(u), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(w.shape)) * w.sum()
                     for g, w in zip(grads, wrt))

    return gradcheck(first_derivative, xs, eps, atol, rtol, raise_exception)
