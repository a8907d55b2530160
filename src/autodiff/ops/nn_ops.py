"""Ops whose fused backward is simpler than the composition of their parts."""
import numpy as np

from ..function import Function
from .arraylike import exp, sum_keepdim


class Softmax(Function):
    """p = exp(z - max z) / sum exp(z - max z). Since dp_i/dz_j = p_i (δ_ij - p_j),
    the vector-Jacobian product is p ⊙ (g - <g, p>): no Jacobian is ever formed."""

    @staticmethod
    def forward(ctx, z, dim):
        e = np.exp(z - z.max(axis=dim, keepdims=True))
        p = e / e.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, g):
        p, = ctx.saved_tensors
        return p * (g - sum_keepdim(g * p, ctx.dim)), None

    @staticmethod
    def jvp(ctx, t, _):
        p, = ctx.saved_tensors
        return p * (t - sum_keepdim(t * p, ctx.dim))


class LogSoftmax(Function):
    """log p = z - logsumexp(z), computed with the max subtracted so exp never overflows."""

    @staticmethod
    def forward(ctx, z, dim):
        shifted = z - z.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        log_p, = ctx.saved_tensors
        return g - exp(log_p) * sum_keepdim(g, ctx.dim), None

    @staticmethod
    def jvp(ctx, t, _):
        log_p, = ctx.saved_tensors
        return t - sum_keepdim(exp(log_p) * t, ctx.dim)


class MSELoss(Function):
    """mean or sum of (y - t)²; d/dy = 2 (y - t) / n."""

    @staticmethod
    def forward(ctx, y, t, reduction):
        if y.shape != (t.shape if type(t) is np.ndarray else np.shape(t)):
            raise ValueError(f"mse_loss: input shape {np.shape(y)} and target shape "
                             f"{np.shape(t)} differ; they must be equal")
        ctx.save_for_backward(y, t)
        diff = y - t
        total = np.vdot(diff, diff) if diff.flags.c_contiguous else (diff * diff).sum()
        ctx.scale = 2 / diff.size if reduction == "mean" else 2
        return total / diff.size if reduction == "mean" else total

    @staticmethod
    def backward(ctx, g):
        y, t = ctx.saved_tensors
        gy = (g * ctx.scale) * (y - t)
        need_y, need_t = ctx.needs_input_grad[:2]
        return (gy if need_y else None), (-gy if need_t else None), None

    @staticmethod
    def jvp(ctx, ty, tt, _):
        y, t = ctx.saved_tensors
        return ctx.scale * ((y - t) * (ty - tt)).sum()
