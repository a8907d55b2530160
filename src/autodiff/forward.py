"""Forward mode, and full Jacobians built either way.

`jvp` pushes a tangent forward alongside the values: one pass gives J v, a column's worth
of the Jacobian. `vjp` records the tape and pulls a cotangent back: one pass gives uᵀ J, a
row's worth. For f: R^d -> R, the gradient is one row, so reverse mode needs 1 pass and
forward mode d -- the asymmetry chapter 1 measures.
"""
import numpy as np

from . import autograd
from .grad_mode import state
from .tensor import Tensor


def _alias(t, below):
    """`t` without history: same buffer and version counter, and its tangents of the levels
    below `below` (the outer jvp()s, which must still see through it); None if it has none."""
    out = t.detach()
    if t._tangent is not None:
        outer = {level: v for level, v in t._tangent.items() if level < below}
        out._tangent = outer or None
    return out


def _leaves(primals, requires_grad):
    """The inputs f is called on: new leaves aliasing the primals (an in-place change to a
    primal is still caught), keeping the primals' tangents of the active jvp()s."""
    out = []
    for i, p in enumerate(primals):
        if isinstance(p, Tensor):
            x = _alias(p, state.forward_level + 1)
        else:
            x = Tensor._make(np.asarray(p), False)
        if x.dtype.kind != "f":
            raise TypeError(f"primal {i} has dtype {x.dtype}; expected floating point")
        x.requires_grad = requires_grad
        out.append(x)
    return out


def jvp(f, primals, tangents):
    """(f(*primals), J v): the Jacobian of f at `primals` times `tangents`, in one forward
    pass. Nothing is recorded for the primals (they do not require grad).

    Calls nest: each jvp() takes the next level, and its tangents are tagged with it (see
    `function._push_tangents`), so the jvp of a function that itself calls jvp -- or
    grad(..., create_graph=True) -- differentiates the inner derivative: forward over
    forward gives d²f[u, v], forward over reverse the Hessian-vector product H v.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    level = state.forward_level + 1
    inputs = _leaves(primals, False)
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        if isinstance(t, Tensor) and t._tangent is not None:  # depends on an outer level
            t = _alias(t, level).to(x.dtype)
        else:
            t = np.asarray(t.data if isinstance(t, Tensor) else t, dtype=x.dtype)
        if t.shape != x.shape:
            raise ValueError(f"jvp: tangent {i} has shape {t.shape}, but its primal has "
                             f"shape {x.shape}")
        x._tangent = {**(x._tangent or {}), level: t}
    state.forward_level = level
    try:
        out = f(*inputs)
    finally:
        state.forward_level = level - 1
    tangent = out._tangent.get(level) if out._tangent is not None else None
    if tangent is None:
        tangent = np.zeros_like(out.data)
    if not isinstance(tangent, Tensor):
        tangent = Tensor._make(tangent, False)
    return _alias(out, level), _alias(tangent, level)


def vjp(f, *primals):
    """(f(*primals), vjp_fn), where vjp_fn(u) returns uᵀ J for each primal: one backward
    pass per call. The tape is kept, so vjp_fn can be called many times."""
    inputs = _leaves(primals, True)
    out = f(*inputs)

    def vjp_fn(cotangent):
        if out.requires_grad:
            grads = autograd.grad(out, inputs, cotangent, retain_graph=True, allow_unused=True)
        else:  # f does not depend on its inputs at all: nothing was recorded
            grads = (None,) * len(inputs)
        # an input f does not use has uᵀJ = 0 (as torch.func.vjp), not a missing gradient
        return tuple(Tensor._make(np.zeros_like(x.data), False) if g is None else g
                     for g, x in zip(grads, inputs))

    return _alias(out, state.forward_level + 1), vjp_fn


def jacrev(f):
    """J = df/dx built row by row: one vjp per output element."""
    def jacobian(x):
        out, pull = vjp(f, x)
        rows = []
        for k in range(out.data.size):
            basis = np.zeros(out.data.size, dtype=out.dtype)
            basis[k] = 1
            g, = pull(basis.reshape(out.shape))
            rows.append(np.zeros(x.shape, out.dtype) if g is None else g.data)
        return Tensor._make(np.stack(rows).reshape(out.shape + np.shape(x)), False)
    return jacobian


def jacfwd(f):
    """J = df/dx built column by column: one jvp per input element."""
    def jacobian(x):
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        columns, out = [], None
        for j in range(data.size):
            basis = np.zeros(data.size, dtype=data.dtype)
            basis[j] = 1
            out, col = jvp(f, (data,), (basis.reshape(data.shape),))
            columns.append(col.data.reshape(-1))
        if out is None:
            raise ValueError("jacfwd: the input has no elements")
        return Tensor._make(np.stack(columns, axis=-1).reshape(out.shape + data.shape), False)
    return jacobian
