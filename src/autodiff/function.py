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

import numpy as np

from . import memory
from .grad_mode import state

_creation_order = itertools.count()
Tensor = None  # set by tensor.py once the class exists: the two modules need each other


class VersionCounter:
    """How many in-place changes a buffer has had. One per buffer: a tensor and each of its
    aliases (a view such as `W.T` or `x[1:]`, a `detach()`) share the same counter object,
    as PyTorch's views share their base's, so a change through any of them is seen by every
    node that saved any of them. The counter lives as long as someone holds it, not as long
    as the tensor that made it.

    `leaf` says whose buffer it is: a leaf's (an input or a parameter, memory that exists
    whether or not a tape holds it) or an activation's; a view of W is W's buffer."""

    value = 0
    leaf = False


class SavedTensor:
    """Where one value given to `save_for_backward` came from (PyTorch's SavedVariable).

    tensor   the input Tensor it is; None for the op's own output (the node must not keep
             its output alive) and for a constant
    counter  its buffer's VersionCounter, None for a constant (a mask or sign computed in
             forward, a plain array argument): in-place changes cannot reach those
    version  counter.value when it was saved; backward checks that it is unchanged
    leaf     its buffer exists anyway (a leaf, a view of one, a plain array argument), as
             opposed to an activation that only the tape keeps alive
    """

    __slots__ = ("tensor", "counter", "version", "leaf")

    def __init__(self, tensor, counter, leaf):
        self.tensor, self.counter, self.leaf = tensor, counter, leaf
        self.version = 0 if counter is None else counter.value


_ARGUMENT = SavedTensor(None, None, True)   # a plain array passed to the op
_COMPUTED = SavedTensor(None, None, False)  # made by forward itself (a mask, a sign)


class Node:
    """The context an op's forward and backward share, and the op's place in the graph.

    `_next` holds, per forward argument, the Node that produced it (or a leaf's
    `AccumulateGrad`), or None where no gradient flows. A Node is made on every op call:
    what the traversal reads on every node is a slot, set once here; what few nodes have
    has a default on the class; an op's own notes (`ctx.axes = ...`) go in its `__dict__`.
    """

    __slots__ = (
        "_fn", "_seq",       # the Function, and its place on the tape (creation order)
        "_next",
        "needs_input_grad",  # per forward argument: is its gradient (or tangent) wanted?
        "_saved",            # the values given to save_for_backward; None once freed
        "_sources",          # a SavedTensor per saved value, once the node is on the tape
        "_hooks",            # functions of the output's gradient: register_hook's, then
                             # retain_grad's (which runs last, as in PyTorch)
        "_shape", "_dtype",  # the output's shape and dtype, which gradients must match
        "__dict__", "__weakref__")
    _trace = None        # where forward created this node, under detect_anomaly
    _out_tangent = None  # forward mode: the output's tangents, for when its Tensor is gone
    _held = None         # memory accounting: stops counting this node's buffers (memory.py)

    def __init__(self, fn):
        self._fn = fn
        self._seq = next(_creation_order)
        self._next = self.needs_input_grad = self._saved = ()
        self._sources = self._hooks = self._shape = self._dtype = None

    @property
    def name(self):
        return self._fn.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    @property
    def next_functions(self):
        return tuple((n, 0) for n in self._next)

    def save_for_backward(self, *values):
        self._saved = values

    @property
    def saved_tensors(self):
        """The saved values, checked against in-place changes since they were saved.

        numpy arrays in an ordinary backward pass; Tensors (with their own history, and
        their tangents) under create_graph or a nested jvp, so that the rule using them can
        itself be differentiated.
        """
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to read saved tensors "
                f"of {self.name} after they were freed). Saved tensors are freed after "
                f"backward; pass retain_graph=True to the first backward if you need to "
                f"backward twice.")
        sources = self._sources
        if sources is None:  # not on the tape (forward mode only, or a bare Node)
            return saved
        for source in sources:
            if source.counter is not None and source.counter.value != source.version:
                raise self._modified_error()
        if not state.tensor_backward:
            return saved
        return tuple(self._as_tensor(value, source) for value, source in zip(saved, sources))

    def _modified_error(self):
        for i, (value, source) in enumerate(zip(self._saved, self._sources)):
            if source.counter is not None and source.counter.value != source.version:
                return RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by "
                    f"an in-place operation: saved tensor {i} of {self.name}, of shape "
                    f"{tuple(value.shape)}, is at version {source.counter.value}; expected "
                    f"version {source.version}. Do the in-place change (e.g. an optimizer "
                    f"step) after backward, or work on a copy.")

    def _as_tensor(self, value, source):
        if source.tensor is not None:  # an input, with its history
            return source.tensor
        if source.counter is None:  # a constant (a mask, a sign): its derivative is zero
            return value
        on_tape = bool(self._next)  # (a node of a nested jvp alone is not on the tape)
        out = Tensor._make(value, on_tape)  # this node's own output, with its history
        if on_tape:
            out.grad_fn = self
        out._version_counter = source.counter
        out._tangent = self._out_tangent
        return out

    def _record(self, args, arrays, out):
        """Resolve each saved value to where it came from (an input Tensor, this op's
        output, or a constant), for the version checks and for rules that must see
        Tensors."""
        sources = []
        for value in self._saved:
            for arg, array in zip(args, arrays):
                if value is array:
                    if arg is array:
                        sources.append(_ARGUMENT)
                    else:
                        counter = arg._version_counter or arg._counter()
                        sources.append(SavedTensor(arg, counter,
                                                   arg.grad_fn is None or counter.leaf))
                    break
            else:
                if value is out.data:
                    sources.append(SavedTensor(None, out._counter(), False))
                else:
                    sources.append(_COMPUTED)
        self._sources = sources

    def release(self):
        """Free what backward needed (unless retain_graph): the saved values and the tensors
        they came from, so that nothing the graph saved outlives it, even if the caller
        keeps the output (a loss appended to a list)."""
        if self._saved:
            if self._held is not None:
                self._held()  # stop counting its buffers
            self._saved = None
            self._sources = None


class AccumulateGrad(Node):
    """The node behind a leaf that requires grad: backward ends here, adding into `.grad`."""

    __slots__ = ("variable", "_array")  # the leaf, and the array it held when this was made

    def __init__(self, variable, previous=None):
        super().__init__(None)
        self._seq = -1  # after every op node: nothing is computed from a leaf's gradient
        self.variable = variable
        self._array = variable.data
        self._shape = variable.shape
        self._dtype = variable.dtype
        if previous is not None:  # the leaf changed shape: its hooks stay registered
            self._hooks = previous._hooks

    @property
    def name(self):
        return "AccumulateGrad"


class Function:
    """Subclass with static `forward(ctx, ...)` and `backward(ctx, grad)`; call `.apply`."""

    # The engine's own ops are trusted by the traversal: their backward rules return one
    # gradient per input, as new arrays (or views of them) that `.grad` may keep and later
    # add into in place. A user's rule is checked, and may return an array it also holds.
    _built_in = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._built_in = cls.__module__.startswith(__package__ + ".")

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
        recording = state.grad_enabled
        arrays, needs, edges = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if recording and a.requires_grad:
                    needs.append(True)
                    edges.append(a.grad_fn or a._node())
                    continue
            else:
                arrays.append(a)
            needs.append(False)
            edges.append(None)
        requires = True in needs
        if state.forward_level:  # a tangent is a derivative wanted too (see _push_tangents)
            needs = [n or (isinstance(a, Tensor) and a._tangent is not None)
                     for n, a in zip(needs, args)]
        ctx.needs_input_grad = tuple(needs)  # forward may read it: save only what is needed
        try:
            out = cls.forward(ctx, *arrays)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, args, e) from e
        if type(out) is not np.ndarray:  # e.g. a numpy scalar from an op on a 0-d array
            raw, out = out, np.asarray(out)
            if ctx._saved:  # a saved output is still recognised as the output
                ctx._saved = tuple(out if a is raw else a for a in ctx._saved)
        result = Tensor._make(out, requires)
        if out.base is not None:  # a view (reshape, .T, x[1:], expand): maybe an alias
            _share_counter(result, args, arrays)
        if requires:
            if out.dtype.kind != "f":
                raise TypeError(f"{cls.__name__} produced dtype {out.dtype}, which cannot "
                                f"carry a gradient; expected a floating-point result")
            ctx._next = tuple(edges)
            ctx._shape = out.shape
            ctx._dtype = out.dtype
            result.grad_fn = ctx
            if ctx._saved:
                ctx._record(args, arrays, result)
                if memory.tracking:  # someone is measuring: count what it saved
                    memory.hold(ctx)
            if state.anomaly:
                ctx._trace = "".join(traceback.format_stack()[:-2])
        if state.forward_level:
            for a in args:
                if isinstance(a, Tensor) and a._tangent is not None:
                    _push_tangents(cls, ctx, args, arrays, result)
                    break
        return result


def _share_counter(result, args, arrays):
    """An output that is a numpy view into an input's buffer is an alias of that input: it
    takes the input's version counter, so an in-place change through either one is seen by
    every node that saved the other. As PyTorch's views, aliasing is per buffer: numpy
    names a view's buffer by its `.base`, the array that owns the memory. (A view of a
    buffer forward made itself aliases nothing.)"""
    base = result.data.base
    for a, array in zip(args, arrays):
        if isinstance(a, Tensor) and (array is base or array.base is base):
            result._version_counter = a._counter()
            return


def _push_tangents(cls, ctx, args, arrays, out):
    """Forward mode: push the inputs' tangents through this op's jvp rule, level by level.

    Each active `jvp()` has a level (1 = outermost), and a tensor carries one tangent per
    level it depends on: `x._tangent = {level: tangent}` -- autodidax's tagged tracers, on
    one Tensor. The rule for level L runs with only the outer levels 1..L-1 active, on
    Tensors that carry their tangents of those levels: so the level-L tangent is itself
    differentiated by every outer jvp (the mixed terms d²f[u, v] of forward over forward),
    and a perturbation never leaks into a level it does not belong to (d/dx [x d/dy (x+y)]
    is 1, not 2). Levels go outermost first, so a rule reading the output finds its outer
    tangents already there. At level 1 there is nothing outer: the rule runs on arrays.

    An input without a tangent at a level (a constant) gets the Python float 0.0, which
    broadcasts in elementwise rules and costs nothing; rules that need arrays skip it.
    """
    top = state.forward_level
    levels = sorted({level for a in args if isinstance(a, Tensor) and a._tangent is not None
                     for level in a._tangent if level <= top})
    # the output's tangents, filled level by level; the node keeps them too, for rules that
    # read the saved output (rebuilt from the node, with these tangents)
    out._tangent = ctx._out_tangent = tangents = {}
    previous = state.forward_level, state.tensor_backward, state.grad_enabled
    state.grad_enabled = False  # the tape records values, not tangents
    try:
        for level in levels:
            state.forward_level = level - 1
            state.tensor_backward = level > 1
            if level > 1 and ctx._sources is None and ctx._saved:
                ctx._record(args, arrays, out)  # rules must see Tensors: resolve the saves
            inputs = [a._tangent.get(level, 0.0) if isinstance(a, Tensor) and a._tangent
                      else 0.0 for a in args]
            try:
                tangent = cls.jvp(ctx, *inputs)
            except NotImplementedError as e:
                raise NotImplementedError(f"{cls.__name__}: {e}") from None
            tangents[level] = _like(tangent, out.data)
    finally:
        state.forward_level, state.tensor_backward, state.grad_enabled = previous
    if not tangents:
        out._tangent = ctx._out_tangent = None


def _like(tangent, value):
    """A tangent with its value's shape and dtype: an array, or a Tensor if it carries
    tangents of outer levels."""
    if isinstance(tangent, Tensor):
        if tangent._tangent is None:
            tangent = tangent.data
        else:
            if tangent.dtype != value.dtype:
                tangent = tangent.to(value.dtype)
            return tangent if tangent.shape == value.shape else tangent.expand(value.shape)
    tangent = np.asarray(tangent, dtype=value.dtype)
    return tangent if tangent.shape == value.shape else np.broadcast_to(tangent, value.shape)


def _op_error(cls, args, error):
    """numpy's error, with the op's name and its inputs. A shape mismatch (numpy's
    ValueError) becomes a RuntimeError, as in PyTorch; bad indices and types keep their type."""
    shapes = ", ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in args)
    kind = RuntimeError if isinstance(error, ValueError) else type(error)
    return kind(f"{cls.__name__}: {error} (inputs: {shapes})")
