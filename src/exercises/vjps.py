"""Probes for the VJPs assignment: each op's backward, called alone on plain arrays.

Every case holds the op's inputs and a random upstream gradient `g` (never all ones). The
forward used to compute the expected gradient is written here in numpy, so the oracle
depends on neither the engine nor the student.
"""
import numpy as np

from autodiff.function import Node

from .diagnose import compare
from .numerics import noncontiguous, numerical_vjp
from .probes import probe


def call_backward(fn, inputs, g, **forward_kwargs):
    """forward then backward of a Function class, outside any graph, on numpy arrays.

    The context is the engine's own Node, so `ctx.save_for_backward`/`ctx.saved_tensors`
    behave as under `fn.apply`; every input is marked as needing a gradient.
    """
    ctx = Node(fn)
    ctx.needs_input_grad = (True,) * len(inputs)
    out = fn.forward(ctx, *inputs, **forward_kwargs)
    grads = fn.backward(ctx, g)
    if not isinstance(grads, tuple):
        grads = (grads,)
    return out, grads


# ---- matmul ------------------------------------------------------------------------------

def _matmul_shapes(rng, hidden):
    if not hidden:
        return [((3, 4), (4, 2)), ((2, 3, 4), (4, 5))]
    n, k, m, b = (int(v) for v in rng.integers(1, 5, size=4))
    return [((n, k), (k, m)), ((b, n, k), (k, m)), ((n, k), (b, k, m)),
            ((b, 1, n, k), (2, k, m)), ((1, k), (k, 1))]


def _matmul_cases(rng, hidden):
    cases = []
    for sa, sb in _matmul_shapes(rng, hidden):
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        g = rng.standard_normal(np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]))
        cases.append({"a": a, "b": b, "g": g})
    return cases


@probe("vjps.matmul", cases=_matmul_cases, scan=("backward",), what="MatMul.backward")
def _run_matmul(MatMul, case):
    a, b = noncontiguous(case["a"]), noncontiguous(case["b"])
    out, grads = call_backward(MatMul, (a, b), case["g"])
    return {"out": out, "grad_a": grads[0], "grad_b": grads[1] if len(grads) > 1 else None}


@_run_matmul.judge
def _judge_matmul(out, case, hidden):
    a, b, g = case["a"], case["b"], case["g"]
    want_a, want_b = numerical_vjp(np.matmul, [a, b], g)
    return (compare("the forward output", out["out"], a @ b, hidden=hidden)
            or compare("the gradient of a", out["grad_a"], want_a, hidden=hidden)
            or compare("the gradient of b", out["grad_b"], want_b, hidden=hidden))
