"""`Tensor`: a numpy array, plus what reverse mode needs to know about where it came from.

A Tensor is a thin record: `data` (the numpy array), `requires_grad`, `grad`, and `grad_fn`,
the Node of the op that produced it (None for leaves: inputs and parameters). All arithmetic
lives in `autodiff.ops`; the methods here only name it, with PyTorch's names.
"""
import numpy as np

from . import autograd, function
from .autograd import RetainGrad
from .function import AccumulateGrad, VersionCounter
from .grad_mode import state

_FLOAT_KINDS = "f"
_new = object.__new__
_ALLOWED_KINDS = "fiub"


class Tensor:
    __array_ufunc__ = None  # `ndarray * Tensor` defers to Tensor.__rmul__
    __hash__ = object.__hash__
    # A Tensor is made on every op call: what every one sets is a slot (cheaper to make and
    # to read than a dict per instance); what few set has a default on the class.
    __slots__ = (
        "data", "requires_grad", "grad_fn",
        "_version_counter",  # its buffer's VersionCounter, shared by all aliases; made on
                             # first use (saving, a view, an in-place change)
        "__dict__", "__weakref__")
    grad = None
    _tangent = None       # forward mode: {level: d(this)/d(input) along that jvp's direction}
    _accumulator = None   # a leaf's AccumulateGrad node, made on first use

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        array = np.array(data, dtype=dtype)
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"Tensor data must be numeric (bool, int or float); got dtype "
                            f"{array.dtype} from {type(data).__name__}")
        self.data = array
        self.requires_grad = False
        self.grad_fn = self._version_counter = None
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, requires_grad):
        """The fast constructor `Function.apply` uses: no copy, no checks."""
        t = _new(Tensor)
        t.data = data
        t.requires_grad = requires_grad
        t.grad_fn = t._version_counter = None
        return t

    # ---- what it is ------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    is_leaf = property(lambda self: self.grad_fn is None)

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float64 else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape "
                             f"{self.shape}")
        return self.data.item()

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad: its values "
                               "would escape the tape. Use tensor.detach().numpy().")
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    # ---- the tape ----------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise RuntimeError(f"only floating-point tensors can require gradients; this one "
                               f"has dtype {self.dtype}. Convert it first, e.g. "
                               f"tensor(x, dtype=autodiff.float64).")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; "
                               "use .detach() for a non-leaf")
        self.requires_grad = requires_grad
        return self

    def _node(self):
        """The node gradients for this tensor flow into: its grad_fn, or for a leaf the
        AccumulateGrad that adds into `.grad` (one per leaf, so all uses meet there)."""
        if self.grad_fn is not None:
            return self.grad_fn
        acc = self._accumulator
        if acc is not None and acc._array is self.data:
            return acc
        if acc is None or acc._shape != self.data.shape or acc._dtype != self.data.dtype:
            # first use, or `.data` was replaced by an array of another shape or dtype: the
            # graphs recorded from now on expect the new one (older ones keep the old node)
            self._accumulator = acc = AccumulateGrad(self, acc)
        acc._array = self.data
        return acc

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        autograd.backward(self, gradient, retain_graph, create_graph)

    def _counter(self):
        """The VersionCounter of this tensor's buffer (shared with every alias of it)."""
        counter = self._version_counter
        if counter is None:
            counter = self._version_counter = VersionCounter()
            counter.leaf = self.grad_fn is None  # a view takes its base's counter instead
        return counter

    @property
    def _version(self):
        """How many in-place changes this tensor's buffer has had (as PyTorch's `_version`)."""
        return 0 if self._version_counter is None else self._version_counter.value

    def detach(self):
        """Same data, no history: the result is a leaf that does not require grad. It shares
        the version counter, so an in-place change through it is still caught."""
        t = Tensor._make(self.data, False)
        t._version_counter = self._counter()
        return t

    def retain_grad(self):
        """Keep `.grad` on a non-leaf after backward (leaves keep it anyway): a hook that
        runs after every other hook on this tensor."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
        if self.grad_fn is None or self.retains_grad:
            return
        if self.grad_fn._hooks is None:
            self.grad_fn._hooks = []
        self.grad_fn._hooks.append(RetainGrad(self))

    @property
    def retains_grad(self):
        hooks = self.grad_fn._hooks if self.grad_fn is not None else None
        return any(type(h) is RetainGrad and h.tensor() is self for h in hooks or ())

    def register_hook(self, hook):
        """`hook(grad)` runs when this tensor's gradient is computed; returning a Tensor
        replaces the gradient. Returns a handle with `.remove()`."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require grad")
        node = self._node()
        if node._hooks is None:
            node._hooks = []
        hooks = node._hooks
        retains = sum(type(h) is RetainGrad for h in hooks)  # they stay last
        hooks.insert(len(hooks) - retains, hook)
        return _HookHandle(hooks, hook)

    # ---- in place (they bump the version counter that saved tensors are checked against)
    def _inplace(self, op, other):
        if state.grad_enabled and self.requires_grad:
            kind = "a leaf Tensor" if self.is_leaf else "a Tensor"
            raise RuntimeError(f"{op}: {kind} that requires grad is being changed in place "
                               f"while recording; wrap the update in `with no_grad():`")
        self._counter().value += 1
        return other.data if isinstance(other, Tensor) else other

    def add_(self, other, alpha=1):
        other = self._inplace("add_", other)
        if alpha != 1:
            other = other * alpha
        np.add(self.data, other, out=self.data, casting="same_kind")
        return self

    def sub_(self, other, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        np.multiply(self.data, self._inplace("mul_", other), out=self.data, casting="same_kind")
        return self

    def div_(self, other):
        np.divide(self.data, self._inplace("div_", other), out=self.data, casting="same_kind")
        return self

    def copy_(self, other):
        self.data[...] = self._inplace("copy_", other)
        return self

    def fill_(self, value):
        return self.copy_(value)

    def zero_(self):
        return self.copy_(0)

    # ---- arithmetic, delegated to ops ---------------------------------------------------
    def __add__(self, other): return ew.Add.apply(self, other)
    def __radd__(self, other): return ew.Add.apply(other, self)
    def __sub__(self, other): return ew.Sub.apply(self, other)
    def __rsub__(self, other): return ew.Sub.apply(other, self)
    def __mul__(self, other): return ew.Mul.apply(self, other)
    def __rmul__(self, other): return ew.Mul.apply(other, self)
    def __truediv__(self, other): return ew.Div.apply(self, other)
    def __rtruediv__(self, other): return ew.Div.apply(other, self)
    def __pow__(self, other): return ew.Pow.apply(self, other)
    def __rpow__(self, other): return ew.Pow.apply(other, self)
    def __matmul__(self, other): return linalg.MatMul.apply(self, other)
    def __rmatmul__(self, other): return linalg.MatMul.apply(other, self)
    def __neg__(self): return ew.Neg.apply(self)
    def __getitem__(self, index): return shape_ops.Index.apply(self, _unwrap_index(index))

    # Comparisons have no gradient: they return plain boolean tensors.
    def __lt__(self, other): return Tensor._make(self.data < _raw(other), False)
    def __le__(self, other): return Tensor._make(self.data <= _raw(other), False)
    def __gt__(self, other): return Tensor._make(self.data > _raw(other), False)
    def __ge__(self, other): return Tensor._make(self.data >= _raw(other), False)
    def __eq__(self, other): return Tensor._make(self.data == _raw(other), False)
    def __ne__(self, other): return Tensor._make(self.data != _raw(other), False)

    def add(self, other): return self + other
    def sub(self, other): return self - other
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def pow(self, exponent): return self ** exponent
    def matmul(self, other): return self @ other
    def exp(self): return ew.Exp.apply(self)
    def log(self): return ew.Log.apply(self)
    def tanh(self): return ew.Tanh.apply(self)
    def sigmoid(self): return ew.Sigmoid.apply(self)
    def relu(self): return ew.Relu.apply(self)
    def sqrt(self): return ew.Sqrt.apply(self)
    def abs(self): return ew.Abs.apply(self)
    def clamp(self, min=None, max=None): return ew.Clamp.apply(self, min, max)

    def sum(self, dim=None, keepdim=False): return reduce.Sum.apply(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return reduce.Mean.apply(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return reduce.Amax.apply(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        """Like PyTorch: the maximum value, or with `dim` a (values, indices) pair.
        Ties share the gradient equally (as `amax` does)."""
        values = self.amax(dim, keepdim)
        if dim is None:
            return values
        indices = np.argmax(self.data, axis=dim)
        if keepdim:
            indices = np.expand_dims(indices, dim)
        return reduce.MaxResult(values, Tensor._make(indices, False))

    def argmax(self, dim=None, keepdim=False):
        indices = np.argmax(self.data, axis=dim, keepdims=keepdim)
        return Tensor._make(np.asarray(indices), False)

    def softmax(self, dim): return nn_ops.Softmax.apply(self, dim)
    def log_softmax(self, dim): return nn_ops.LogSoftmax.apply(self, dim)

    def reshape(self, *shape):
        return shape_ops.Reshape.apply(self, sizes(shape))

    view = reshape

    def flatten(self):
        return self.reshape(-1)

    def transpose(self, dim0, dim1):
        for d in (dim0, dim1):
            if not -self.ndim <= d < self.ndim:
                raise IndexError(f"transpose: dim {d} is out of range for a tensor with "
                                 f"{self.ndim} dimensions (shape {self.shape})")
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return shape_ops.Permute.apply(self, tuple(axes))

    swapaxes = transpose

    def permute(self, *dims):
        return shape_ops.Permute.apply(self, sizes(dims))

    @property
    def T(self):
        n = self.data.ndim
        return shape_ops.Permute.apply(self, (1, 0) if n == 2 else tuple(range(n - 1, -1, -1)))

    @property
    def mT(self):
        if self.ndim < 2:
            raise ValueError(f".mT needs at least 2 dimensions; this tensor has shape "
                             f"{self.shape}")
        return self.transpose(-2, -1)

    def unsqueeze(self, dim):
        return self.reshape(np.expand_dims(self.data, dim).shape)

    def squeeze(self, dim=None):
        """Drop size-1 axes; as in PyTorch, squeezing an axis whose size is not 1 is a no-op."""
        if dim is not None and self.shape[dim] != 1:
            return self.reshape(self.shape)
        return self.reshape(np.squeeze(self.data, dim).shape)

    def expand(self, *shape):
        return shape_ops.Expand.apply(self, sizes(shape))

    def broadcast_to(self, shape):
        return shape_ops.Expand.apply(self, tuple(shape))

    def to(self, dtype):
        return self if np.dtype(dtype) == self.dtype else ew.Cast.apply(self, np.dtype(dtype))

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def sizes(args):
    """A shape (or dims) given as `f(2, 3)` or as `f((2, 3))`: PyTorch takes both."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _unwrap_index(index):
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


def tensor(data, requires_grad=False, dtype=None):
    """A new leaf Tensor holding a copy of `data` (float64 for Python floats, as numpy)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


function.Tensor = autograd.Tensor = Tensor

# The op modules import Tensor; import them last so the names above resolve at call time.
from .ops import elementwise as ew, linalg, nn_ops, reduce, shape as shape_ops  # noqa: E402
