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
import traceback
import weakref

import numpy as np

from . import memory
from .grad_mode import state


class Node:
    """The context an op's forward and backward share, and the op's place in the graph.

    `next` holds, per forward argument, the Node that produced it (or a leaf's
    `AccumulateGrad`), or None where no gradient flows.
    """

    def __init__(self, fn):
        self.fn = fn
        self.next = ()
        self.needs_input_grad = ()
        self._saved = ()          # arrays given to save_for_backward
        self._refs = None         # per saved array: (tensor | weakref | None, version)
        self._tracked = False
        self.hooks = None         # hooks on the output tensor (a non-leaf's register_hook)
        self.retained = None      # weakref to the output, if it called retain_grad()
        self.shape = None
        self.dtype = None
        self.trace = None         # where forward created this node, under detect_anomaly

    @property
    def name(self):
        return self.fn.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    @property
    def next_functions(self):
        return tuple((n, 0) for n in self.next)

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The saved values, checked against in-place changes since they were saved.

        numpy arrays in an ordinary backward pass; Tensors (with their own history) under
        create_graph, so that backward can itself be differentiated.
        """
        refs = self._refs
        if refs is None:  # not recorded on a tape (e.g. forward mode only)
            return self._saved
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to read saved tensors "
                f"of {self.name} after they were freed). Saved tensors are freed after "
                f"backward; pass retain_graph=True to the first backward if you need to "
                f"backward twice.")
        for i, (ref, version) in enumerate(refs):
            if ref is not None and not isinstance(ref, weakref.ref) and ref._version != version:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by "
                    f"an in-place operation: input {i} of {self.name}, a Tensor of shape "
                    f"{tuple(ref.shape)}, is at version {ref._version}; expected version "
                    f"{version}. Do the in-place change (e.g. an optimizer step) after "
                    f"backward, or work on a copy.")
        if not state.tensor_backward:
            return self._saved
        return tuple(self._as_tensor(a, ref) for a, ref in zip(self._saved, refs))

    def _as_tensor(self, array, ref):
        from .tensor import Tensor
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
        """Resolve saved arrays to the tensors they came from, for version checks and
        create_graph; start counting their bytes."""
        refs = []
        for a in self._saved:
            ref = (None, 0)
            for arg, arr in zip(args, arrays):
                if a is arr and arg is not arr:
                    ref = (arg, arg._version)
                    break
            else:
                if a is out.data:
                    ref = (weakref.ref(out), 0)
            refs.append(ref)
        self._refs = refs
        if self._saved:
            memory.track(self)
            self._tracked = True

    def release(self):
        """Free saved arrays after backward (unless retain_graph)."""
        if self._tracked:
            memory.untrack(self)
            self._tracked = False
        if self._saved:
            self._saved = None

    def __del__(self):
        if self._tracked and memory is not None:
            memory.untrack(self)


class AccumulateGrad(Node):
    """The node behind a leaf that requires grad: backward ends here, adding into `.grad`."""

    def __init__(self, variable):
        super().__init__(None)
        self.variable = variable
        self.shape = variable.shape
        self.dtype = variable.dtype
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
        from .tensor import Tensor
        ctx = Node(cls)
        arrays = [a.data if type(a) is Tensor or isinstance(a, Tensor) else a for a in args]
        try:
            out = cls.forward(ctx, *arrays)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, args, e) from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        requires = state.grad_enabled and any(
            isinstance(a, Tensor) and a.requires_grad for a in args)
        result = Tensor._make(out, requires)
        if requires:
            if out.dtype.kind != "f":
                raise TypeError(f"{cls.__name__} produced dtype {out.dtype}, which cannot "
                                f"carry a gradient; expected a floating-point result")
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            ctx.next = tuple(a._node() if need else None
                             for a, need in zip(args, ctx.needs_input_grad))
            ctx.shape = out.shape
            ctx.dtype = out.dtype
            ctx._record(args, arrays, result)
            if state.anomaly:
                ctx.trace = "".join(traceback.format_stack()[:-2])
            result.grad_fn = ctx
        if state.forward_ad and any(isinstance(a, Tensor) and a._tangent is not None
                                    for a in args):
            result._tangent = _jvp(cls, ctx, args, out)
        return result


def _jvp(cls, ctx, args, out):
    """Forward mode: push the inputs' tangents through this op's jvp rule. An input without
    a tangent (a constant) has tangent zero."""
    from .tensor import Tensor
    tangents = [(np.zeros_like(a.data) if a._tangent is None else a._tangent)
                if isinstance(a, Tensor) else 0.0 for a in args]
    try:
        tangent = cls.jvp(ctx, *tangents)
    except NotImplementedError as e:
        raise NotImplementedError(f"{cls.__name__}: {e}") from None
    tangent = np.asarray(tangent, dtype=out.dtype)
    if tangent.shape != out.shape:
        tangent = np.broadcast_to(tangent, out.shape)
    return tangent


def _op_error(cls, args, error):
    shapes = ", ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in args)
    return RuntimeError(f"{cls.__name__}: {error} (inputs: {shapes})")
