"""Activation and loss functions, as in `torch.nn.functional`."""
import numpy as np

from ..ops.elementwise import Relu, Sigmoid, Tanh
from ..ops.linalg import Linear
from ..ops.nn_ops import LogSoftmax, MSELoss, Softmax
from ..tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def relu(x): return Relu.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def tanh(x): return Tanh.apply(x)
def softmax(x, dim=-1): return Softmax.apply(x, dim)
def log_softmax(x, dim=-1): return LogSoftmax.apply(x, dim)


def linear(x, weight, bias=None):
    """x Wᵀ + b, one fused op."""
    return Linear.apply(x, weight, bias)


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    _check_reduction(reduction)
    if reduction == "none":
        if input.shape != np.shape(target):
            raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                             f"{np.shape(target)} differ; they must be equal")
        diff = input - target
        return diff * diff
    return MSELoss.apply(input, target, reduction)


def cross_entropy(input, target, reduction="mean"):
    """-log softmax(input)[target], from logits of shape (N, C) (or (C,)).

    `target` holds class indices (integers, shape (N,)) or class probabilities (shape (N, C)).
    Through log_softmax, so it is stable for any logits; its gradient is softmax - target.
    Class indices pick one log-probability per row: no one-hot matrix is built.
    """
    _check_reduction(reduction)
    if input.ndim not in (1, 2):
        raise ValueError(f"cross_entropy: input must be logits of shape (N, C) or (C,); got "
                         f"shape {input.shape}")
    classes = input.shape[-1]
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind in "iu":
        if t.shape != input.shape[:-1]:
            raise ValueError(f"cross_entropy: class-index target must have shape "
                             f"{input.shape[:-1]} for input of shape {input.shape}; got "
                             f"{t.shape}")
        if t.size and (t.min() < 0 or t.max() >= classes):
            bad = t.min() if t.min() < 0 else t.max()
            raise IndexError(f"cross_entropy: target holds class {bad}, outside "
                             f"0..{classes - 1}")
        rows = (np.arange(len(t)), t) if input.ndim == 2 else t
        losses = -log_softmax(input, dim=-1)[rows]
    elif t.dtype.kind == "f":
        if t.shape != input.shape:
            raise ValueError(f"cross_entropy: probability target must have the input's shape "
                             f"{input.shape}; got {t.shape}")
        losses = -(log_softmax(input, dim=-1) * target).sum(-1)
    else:
        raise TypeError(f"cross_entropy: target must hold integer class indices or float "
                        f"probabilities; got dtype {t.dtype}")
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) axes, then scale and shift. Composed of
    primitive ops, so its gradient (and second derivative) comes from theirs."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    if input.shape[input.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} does not match "
                         f"the trailing axes of input shape {input.shape}")
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    mu = input.mean(dims, keepdim=True)
    centered = input - mu
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
