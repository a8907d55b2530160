"""autodiff: a small reverse- and forward-mode automatic differentiation engine on numpy,
with PyTorch's names.

Where things live (the course, in files):
    tensor.py     Tensor: data, grad, requires_grad, grad_fn
    function.py   Function and Node: how an op records itself on the tape
    autograd.py   the backward traversal: backward() and grad()
    ops/          every op, forward and backward side by side
    forward.py    forward mode (jvp) and Jacobians both ways
    checkpoint.py recompute instead of save;  memory.py  bytes the tape holds
    gradcheck.py  finite-difference checks;   nn/, optim.py  layers and optimizers
"""
from . import memory
from .autograd import backward, grad, topological_order
from .checkpoint import checkpoint
from .forward import jacfwd, jacrev, jvp, vjp
from .function import Function
from .grad_mode import (detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled,
                        no_grad, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .memory import peak_saved_bytes, reset_peak_saved_bytes, saved_bytes
from .tensor import Tensor, tensor
from .toplevel import (abs, amax, bool_, cat, clamp, exp, float16, float32, float64, int32,
                       int64, log, matmul, mean, ones, ones_like, randn, relu, reshape,
                       sigmoid, sqrt, stack, sum, tanh, transpose, where, zeros, zeros_like)
from . import nn, optim  # noqa: E402  (nn imports the names above)

__all__ = [
    "Tensor", "tensor", "Function", "backward", "grad", "topological_order", "jvp", "vjp",
    "jacfwd", "jacrev", "checkpoint", "gradcheck", "gradgradcheck", "GradcheckError",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
    "is_anomaly_enabled",
    "saved_bytes", "peak_saved_bytes", "reset_peak_saved_bytes", "memory", "nn", "optim",
    "matmul", "where", "cat", "stack", "exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs",
    "clamp", "sum", "mean", "amax", "reshape", "transpose", "zeros", "ones", "zeros_like",
    "ones_like", "randn", "float16", "float32", "float64", "int32", "int64", "bool_",
]
