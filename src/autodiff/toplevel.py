"""The functions PyTorch keeps at `torch.*`: thin wrappers over Tensor methods and ops."""
import numpy as np

from .ops import elementwise as ew, shape as shape_ops
from .tensor import Tensor, sizes

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def matmul(a, b):
    return _tensor(a) @ b


def where(condition, input, other):
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    return ew.Where.apply(cond, input, other)


def _check_sequence(name, tensors):
    if isinstance(tensors, Tensor) or not len(tensors):
        raise TypeError(f"{name} expects a non-empty list of tensors")
    return [_tensor(t) for t in tensors]


def cat(tensors, dim=0):
    return shape_ops.Cat.apply(dim, *_check_sequence("cat", tensors))


def stack(tensors, dim=0):
    return shape_ops.Stack.apply(dim, *_check_sequence("stack", tensors))


def exp(x): return _tensor(x).exp()
def log(x): return _tensor(x).log()
def tanh(x): return _tensor(x).tanh()
def sigmoid(x): return _tensor(x).sigmoid()
def relu(x): return _tensor(x).relu()
def sqrt(x): return _tensor(x).sqrt()
def abs(x): return _tensor(x).abs()  # noqa: A001 (PyTorch's name)
def clamp(x, min=None, max=None): return _tensor(x).clamp(min, max)  # noqa: A002
def sum(x, dim=None, keepdim=False): return _tensor(x).sum(dim, keepdim)  # noqa: A001
def mean(x, dim=None, keepdim=False): return _tensor(x).mean(dim, keepdim)
def amax(x, dim=None, keepdim=False): return _tensor(x).amax(dim, keepdim)
def reshape(x, shape): return _tensor(x).reshape(shape)
def transpose(x, dim0, dim1): return _tensor(x).transpose(dim0, dim1)


def zeros(*shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.zeros(sizes(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.ones(sizes(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, requires_grad=False):
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*shape, dtype=np.float64, requires_grad=False, generator=None):
    """Standard normal samples; `generator` is a numpy Generator (default: a fresh one)."""
    rng = generator if generator is not None else np.random.default_rng()
    return Tensor(rng.standard_normal(sizes(shape)).astype(dtype), requires_grad=requires_grad)

