"""`Function` and `Node`: how one op records itself on the tape.

Every op in the engine -- `+`, `matmul`, `softmax`, a student's custom op -- is a subclass of
`Function` with two static methods side by side:

    forward(ctx, *inputs)  -> numpy array       inputs arrive as numpy arrays
    backward(ctx, grad)    -> one grad per input  (None where an input needs none)

and optionally `jvp(ctx, *tangents)` for forward mode. `Function.apply` unwraps the Tensor
arguments, runs `forward`, wraps the result, and -- when some input requires grad -- records a
`Node` (the `ctx`) holding what backward needs and edges to the inputs' nodes. That Node is
the output's `grad_fn`; the collection of Nodes reachable from a loss is the tape.

Backward rules are written once and run on two kinds of values. In an ordinary backward pass
they receive numpy arrays (fast: no graph is built). With `create_graph=True` they receive
Tensors, so the backward computation is itself recorded and can be differentiated again --
which is all a higher-order derivative is. Rules therefore use operators and the helpers in
`autodiff.ops.arraylike`, which accept both.
"""
import itertools
import traceback
import weakref

import numpy as np

from . import memory
from .grad_mode import state

_creation_order = itertools.count()
Tensor = None  # set by tensor.py once the class exists: the two modules need each other


class Node:
    """The context an op's forward and backward share, and the op's place in the graph.

    `_next` holds, per forward argument, the Node that produced it (or a leaf's
    `AccumulateGrad`), or None where no gradient flows. Defaults live on the class so that
    creating a Node -- once per op call -- sets only its Function and its place on the tape.
    """

    _next = ()
    needs_input_grad = ()
    _saved = ()          # arrays given to save_for_backward
    _refs = None         # per saved array: (input tensor, its version) | (weakref to the
                         # output, its version: 0) | (None, None) for a constant
    _keys = None         # its saved buffers, as counted in memory.saved_bytes()
    _hooks = None        # hooks on the output tensor (a non-leaf's register_hook)
    _retained = None     # weakref to the output, if it called retain_grad()
    _shape = None        # the output's shape and dtype, which gradients must match
    _dtype = None
    _trace = None        # where forward created this node, under detect_anomaly

    def __init__(self, fn):
        self._fn = fn
        self._seq = next(_creation_order)  # its place on the tape

    @property
    def name(self):
        return self._fn.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    @property
    def next_functions(self):
        return tuple((n, 0) for n in self._next)

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The saved values, checked against in-place changes since they were saved.

        numpy arrays in an ordinary backward pass; Tensors (with their own history) under
        create_graph, so that backward can itself be differentiated.
        """
        if self._refs is None:  # not recorded on a tape (e.g. forward mode only)
            return self._saved
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to read saved tensors "
                f"of {self.name} after they were freed). Saved tensors are freed after "
                f"backward; pass retain_graph=True to the first backward if you need to "
                f"backward twice.")
        for i, (tensor, version) in enumerate(self._refs):
            if version is None:
                continue
            if type(tensor) is weakref.ref:  # this node's own output, if it is still alive
                tensor = tensor()
            if tensor is not None and tensor._counter()._version != version:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by "
                    f"an in-place operation: saved tensor {i} of {self.name}, of shape "
                    f"{tuple(tensor.shape)}, is at version {tensor._counter()._version}; "
                    f"expected version {version}. Do the in-place change (e.g. an optimizer step) after "
                    f"backward, or work on a copy.")
        if not state.tensor_backward:
            return self._saved
        return tuple(self._as_tensor(a, ref) for a, ref in zip(self._saved, self._refs))

    def _as_tensor(self, array, ref):
        tensor = ref[0]
        if tensor is None:  # a constant (a mask, a sign): its derivative is zero
            return array
        if isinstance(tensor, weakref.ref):  # this node's own output
            tensor = tensor()
            if tensor is None:  # the Tensor object is gone; rebuild it with its history
                tensor = Tensor._make(array, True)
                tensor.grad_fn = self
        return tensor

    def _record(self, args, arrays, out):
        """Resolve saved arrays to the tensors they came from (for version checks and
        create_graph) and count their bytes (`memory.saved_bytes`)."""
        refs, keys = [], []
        for saved in self._saved:
            for arg, array in zip(args, arrays):
                if saved is array:
                    if arg is array:  # a plain array passed in: an input, like a leaf
                        refs.append((None, None))
                        is_leaf = True
                    else:
                        refs.append((arg, arg._counter()._version))
                        is_leaf = arg.grad_fn is None
                    if type(saved) is np.ndarray:
                        keys.append(memory.hold(saved, is_leaf))
                    break
            else:
                refs.append((weakref.ref(out), 0) if saved is out.data else (None, None))
                if type(saved) is np.ndarray:
                    keys.append(memory.hold(saved, False))
        self._refs = refs
        self._keys = keys

    def release(self):
        """Free saved arrays after backward (unless retain_graph)."""
        if self._keys is not None:
            memory.drop(self._keys)
            self._keys = None
        if self._saved:
            self._saved = None

    def __del__(self):
        if self._keys is not None and memory is not None:
            memory.drop(self._keys)


class AccumulateGrad(Node):
    """The node behind a leaf that requires grad: backward ends here, adding into `.grad`."""

    _seq = -1  # after every op node: nothing is computed from a leaf's gradient

    def __init__(self, variable):
        self._fn = None
        self.variable = variable
        self._shape = variable.shape
        self._dtype = variable.dtype
        self._refs = ()

    @property
    def name(self):
        return "AccumulateGrad"


class Function:
    """Subclass with static `forward(ctx, ...)` and `backward(ctx, grad)`; call `.apply`."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a Function must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("a Function must define backward(ctx, grad_output)")

    @staticmethod
    def jvp(ctx, *tangents):
        raise NotImplementedError("forward mode (jvp) is not defined for this op")

    @classmethod
    def apply(cls, *args):
        ctx = Node(cls)
        arrays, needs, edges = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    needs.append(True)
                    edges.append(a.grad_fn or a._node())
                    continue
            else:
                arrays.append(a)
            needs.append(False)
            edges.append(None)
        try:
            out = cls.forward(ctx, *arrays)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, args, e) from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        requires = state.grad_enabled and True in needs
        result = Tensor._make(out, requires)
        if requires:
            if out.dtype.kind != "f":
                raise TypeError(f"{cls.__name__} produced dtype {out.dtype}, which cannot "
                                f"carry a gradient; expected a floating-point result")
            ctx.needs_input_grad = tuple(needs)
            ctx._next = tuple(edges)
            ctx._shape = out.shape
            ctx._dtype = out.dtype
            if ctx._saved:
                ctx._record(args, arrays, result)
            if state.anomaly:
                ctx._trace = "".join(traceback.format_stack()[:-2])
            result.grad_fn = ctx
        if state.forward_ad and any(isinstance(a, Tensor) and a._tangent is not None
                                    for a in args):
            result._tangent = _jvp(cls, ctx, args, out)
        return result


def _jvp(cls, ctx, args, out):
    """Forward mode: push the inputs' tangents through this op's jvp rule. An input without
    a tangent (a constant) gets the scalar 0.0, which broadcasts in elementwise rules and
    costs nothing; rules that need arrays (matmul, cat) skip such terms."""
    tangents = [a._tangent if isinstance(a, Tensor) and a._tangent is not None else 0.0
                for a in args]
    try:
        tangent = cls.jvp(ctx, *tangents)
    except NotImplementedError as e:
        raise NotImplementedError(f"{cls.__name__}: {e}") from None
    tangent = np.asarray(tangent, dtype=out.dtype)
    if tangent.shape != out.shape:
        tangent = np.broadcast_to(tangent, out.shape)
    return tangent


def _op_error(cls, args, error):
    """numpy's error, with the op's name and its inputs. A shape mismatch (numpy's
    ValueError) becomes a RuntimeError, as in PyTorch; bad indices and types keep their type."""
    shapes = ", ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in args)
    kind = RuntimeError if isinstance(error, ValueError) else type(error)
    return kind(f"{cls.__name__}: {error} (inputs: {shapes})")
