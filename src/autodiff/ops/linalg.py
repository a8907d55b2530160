"""Matrix products. For C = A B the backward is dA = dC Bᵀ and dB = Aᵀ dC: the forward
weights, transposed, carry the gradient back."""
import numpy as np

from ..function import Function
from .arraylike import sum_axes


class MatMul(Function):
    """numpy's matmul: 1-D operands are treated as a row (left) or column (right) vector,
    and leading batch axes broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        if getattr(a, "ndim", 0) == 0 or getattr(b, "ndim", 0) == 0:
            raise ValueError("matmul needs operands with at least one dimension; use * for "
                             "scalars")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_shape, b_shape = a.shape, b.shape
        # View vectors as matrices so one pair of formulas covers every case.
        if len(a_shape) == 1:
            a = a.reshape((1,) + a_shape)
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:]) if len(b_shape) > 1 else \
                g.reshape(g.shape + (1,))
        if len(b_shape) == 1:
            b = b.reshape(b_shape + (1,))
            g = g.reshape(g.shape + (1,))
        need_a, need_b = ctx.needs_input_grad
        ga = g @ b.mT if need_a else None
        gb = a.mT @ g if need_b else None
        if len(b_shape) == 1 and need_b:
            gb = gb.reshape(gb.shape[:-1])  # the column vector back to a vector
        # Leading axes that were broadcast (or added to a vector) are summed by the engine.
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved_tensors
        tangent = ta @ b if np.ndim(ta) else 0.0  # a constant's tangent is the scalar 0
        return tangent + a @ tb if np.ndim(tb) else tangent


class Linear(Function):
    """y = x Wᵀ + b, as one op: the layer every MLP is made of, fused so that the tape holds
    x and W once and backward is three products."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.shape[-1] != weight.shape[-1] or weight.ndim != 2:
            raise ValueError(f"linear: input has {x.shape[-1]} features but weight has shape "
                             f"{weight.shape}; expected weight of shape (out_features, "
                             f"{x.shape[-1]})")
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1]) if len(g.shape) != 2 else g
        x2 = x.reshape(-1, x.shape[-1]) if len(x.shape) != 2 else x
        gx = g @ weight if need_x else None
        gw = g2.T @ x2 if need_w else None
        gb = sum_axes(g2, 0, False) if need_b else None
        return gx, gw, gb

    @staticmethod
    def jvp(ctx, tx, tw, tb):
        x, weight = ctx.saved_tensors
        tangent = tx @ weight.T if np.ndim(tx) else 0.0  # a constant's tangent is the scalar 0
        if np.ndim(tw):
            tangent = tangent + x @ tw.T
        return tangent + tb
