"""The backward traversal: each node's backward runs once, newest node first.

    ready = [root]                         # a heap: the newest waiting node comes out first
    while ready:
        node = pop the newest from ready
        g = grads.pop(node)                # the sum of what its consumers sent it
        for edge, gi in zip(node._next, node._fn.backward(node, g)):
            if edge in grads:
                grads[edge] = grads[edge] + gi   # one more path meets here
            else:
                grads[edge] = gi; push edge on ready

A node is always created after the nodes of its inputs, so all of a node's consumers are
newer than it: when it is the newest node still waiting, every consumer on the way from the
loss has run and sent its part, and `grads[node]` is complete. That `+` is where a tensor
used on several paths gets the sum of their gradients. Leaves' AccumulateGrad nodes end
every path and come last: `backward()` adds into their `.grad`. `grad()` runs the same loop
on the part of the graph between its outputs and its inputs only, returns the gradients of
the inputs and touches no leaf's `.grad` (a non-leaf that asked for `retain_grad()` still
gets its `.grad`, as in PyTorch).
"""
import heapq
import weakref

import numpy as np

from .grad_mode import state
from .ops.arraylike import sum_axes

Tensor = None  # set by tensor.py


def topological_order(roots):
    """Nodes reachable from `roots`, each before every node it sends gradients to.

    A node is always created after the nodes of its inputs, so creation order -- the order
    of the tape -- is already topological: find what is reachable, then sort it newest first.
    Leaves' AccumulateGrad nodes (sequence number -1) come last.
    """
    seen = set(roots)
    stack = list(roots)
    while stack:
        for child in stack.pop()._next:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
    return sorted(seen, key=lambda node: node._seq, reverse=True)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Add d(tensors)/d(leaf) into `.grad` of every leaf that requires grad."""
    _run(_roots(tensors, grad_tensors, create_graph), retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned; no leaf's `.grad` is touched.

    Only the nodes on a path from the outputs to an input run, as in PyTorch: for an
    intermediate input h, what produced h neither runs nor frees its saved tensors."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}; expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {t.shape}) does not require grad, so "
                               f"it cannot be differentiated with respect to")
    roots = _roots(outputs, grad_outputs, create_graph)
    found = _run(roots, retain_graph, create_graph, {t._node() for t in inputs})
    result = []
    for i, t in enumerate(inputs):
        g = found.get(t._node())
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: inputs[{i}] (shape {t.shape}) was not used to compute the outputs, so "
                f"it is not in their graph. Pass allow_unused=True to get None for it.")
        result.append(_wrap(g))
    return tuple(result)


def _roots(tensors, grads, create_graph):
    if isinstance(tensors, Tensor):
        tensors, grads = (tensors,), (grads,)
    elif grads is None:
        grads = (None,) * len(tensors)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn: nothing recorded it on the tape (was it computed "
                               "under no_grad(), or from tensors with requires_grad=False?)")
        if g is None:
            data = t.data
            if data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this output has shape {t.shape}. Pass gradient= (a "
                                   f"tensor of that shape), or reduce it first, e.g. .sum()")
            g = np.array(1.0, data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
        elif create_graph and isinstance(g, Tensor):
            # kept as it is, with its history: the result is then differentiable in g too
            # (the double-vjp trick: d/du <Jᵀu, v> = J v)
            _check_root_shape(g, t)
            roots.append((t._node(), g if g.dtype == t.dtype else g.to(t.dtype)))
            continue
        else:
            g = np.array(g.data if isinstance(g, Tensor) else g, dtype=t.dtype)  # a copy
            _check_root_shape(g, t)
        roots.append((t._node(), Tensor._make(g, False) if create_graph else g))
    return roots


def _check_root_shape(g, t):
    if g.shape != t.shape:
        raise RuntimeError(f"gradient has shape {g.shape}, but the output it is for has shape "
                           f"{t.shape}; they must match")


def _run(roots, retain_graph, create_graph, targets=None):
    """The traversal. Without `targets` (backward()): every node the roots depend on runs
    and leaves' `.grad` is added into. With `targets` (grad()): the gradients arriving at
    those nodes are returned, and only nodes on a path to one of them run."""
    if retain_graph is None:
        retain_graph = create_graph
    wanted = None if targets is None else _on_paths(roots, targets)
    grads = {}    # node -> the sum of the gradients its consumers have sent so far
    ready = []    # heap of (-creation number, node): op nodes with gradients, newest first
    leaves = []   # AccumulateGrad nodes reached: the ends of paths, done last
    found = {}
    for node, g in roots:
        if node in grads:
            grads[node] = grads[node] + g
        elif wanted is None or node in wanted:
            grads[node] = g
            if node._fn is None:
                leaves.append(node)
            else:
                heapq.heappush(ready, (-node._seq, node))
    # ids of arrays that someone else may hold: handed to a .grad or a hook in this pass, or
    # returned by a user's backward rule. A .grad keeps a copy of those, never the array.
    stored = set()
    previous = state.tensor_backward, state.grad_enabled
    anomaly = state.anomaly
    # Backward rules see Tensors and are recorded only under create_graph.
    state.tensor_backward = state.grad_enabled = create_graph
    try:
        while ready:
            node = heapq.heappop(ready)[1]
            g = grads.pop(node)
            if node._hooks is not None:
                g = _tensor_hooks(node, g, create_graph, stored)
            if wanted is None:
                input_grads = node._fn.backward(node, g)
            else:
                if node in targets:
                    found[node] = g
                if True not in wanted[node]:
                    continue  # a target from which no other target is reached
                input_grads = _backward_for(node, g, wanted[node])
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if not node._fn._built_in:
                _check_user_grads(node, input_grads, stored)
            for edge, gi in zip(node._next, input_grads):
                if edge is None or gi is None:
                    continue
                if type(gi) is not np.ndarray and not create_graph:
                    gi = np.asarray(gi)
                if gi.shape != edge._shape or gi.dtype is not edge._dtype:
                    gi = _conform(node, edge, gi, input_grads, create_graph)
                if anomaly:
                    _check_finite(node, edge, input_grads, gi)
                if edge in grads:
                    grads[edge] = grads[edge] + gi  # the sum over paths
                elif wanted is None or edge in wanted:
                    grads[edge] = gi
                    if edge._fn is None:
                        leaves.append(edge)
                    else:
                        heapq.heappush(ready, (-edge._seq, edge))
            if node._saved and not retain_graph:
                node.release()
        for node in leaves:
            g = grads.pop(node)
            if node._hooks is not None:
                g = _tensor_hooks(node, g, create_graph, stored)
            if targets is None:
                _accumulate_grad(node.variable, g, create_graph, stored)
            elif node in targets:
                found[node] = g
    finally:
        state.tensor_backward, state.grad_enabled = previous
    return found


def _check_user_grads(node, input_grads, stored):
    """A user's backward rule: one gradient per input, and arrays it may still hold (so a
    `.grad` keeps a copy of them, never the array itself)."""
    if len(input_grads) != len(node._next):
        raise RuntimeError(f"{node._fn.__name__}.backward returned {len(input_grads)} "
                           f"gradients, but forward took {len(node._next)} inputs; "
                           f"return one per input (None where none is needed)")
    stored.update(map(id, input_grads))


def _on_paths(roots, targets):
    """For grad(): the nodes on some path from a root to a target, each with which of its
    inputs lead on to a target -- the only gradients worth computing."""
    wanted = {}
    for node in reversed(topological_order([node for node, _ in roots])):  # inputs first
        leads_on = tuple(edge is not None and edge in wanted for edge in node._next)
        if node in targets or True in leads_on:
            wanted[node] = leads_on
    return wanted


def _backward_for(node, g, leads_on):
    """node's backward, told through `needs_input_grad` that only the gradients of the
    inputs in `leads_on` are wanted (as PyTorch tells its built-in nodes), then restored."""
    recorded = node.needs_input_grad
    needs = tuple(need and on for need, on in zip(recorded, leads_on))
    if needs == recorded:
        return node._fn.backward(node, g)
    node.needs_input_grad = needs
    try:
        return node._fn.backward(node, g)
    finally:
        node.needs_input_grad = recorded


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the backward of numpy broadcasting.

    Forward may have stretched an input along new leading axes or along its size-1 axes;
    every element it was copied to sent back a gradient, and they add up. Done here, once
    for every op, as PyTorch's engine does.
    """
    lead = len(grad.shape) - len(shape)
    if grad.shape[lead:] == shape:  # only new leading axes (a bias added to every row)
        return sum_axes(grad, tuple(range(lead)), keepdim=False)
    stretched = tuple(lead + i for i, n in enumerate(shape)
                      if n == 1 and grad.shape[lead + i] != 1)
    return sum_axes(grad, tuple(range(lead)) + stretched, keepdim=True).reshape(shape)


def _conform(node, edge, gi, input_grads, create_graph):
    """Bring a gradient to its input's shape and dtype: an op whose inputs were broadcast
    returns gradients in the broadcast shape (`unbroadcast` sums them back); any other
    shape is a bug in the op's backward."""
    shape = gi.shape
    lead = len(shape) - len(edge._shape)
    if lead > 0 and shape[lead:] == edge._shape and not create_graph:
        # the common case, a bias added to every row: sum the new leading axes, inline
        gi = np.add.reduce(gi, axis=0 if lead == 1 else tuple(range(lead)))
    elif shape != edge._shape:
        if edge._fn is None and edge.variable.shape != edge._shape:
            raise RuntimeError(f"AccumulateGrad: the leaf of shape {edge._shape} that "
                               f"{node.name} used now has shape {edge.variable.shape} (its "
                               f".data was replaced); the gradient does not fit either")
        if not _broadcasts_to(edge._shape, gi.shape):
            i = _position(node, edge, input_grads, gi)
            raise RuntimeError(f"{node._fn.__name__}.backward returned a gradient of shape "
                               f"{tuple(gi.shape)} for input {i}, which has shape "
                               f"{edge._shape}; expected that shape, or one it broadcasts to")
        gi = unbroadcast(gi, edge._shape)
    if gi.dtype == edge._dtype:
        return gi
    return gi.to(edge._dtype) if create_graph else gi.astype(edge._dtype)


def _broadcasts_to(shape, target):
    """Whether numpy broadcasting stretches `shape` to exactly `target`."""
    lead = len(target) - len(shape)
    if lead < 0:
        return False
    for n, m in zip(shape, target[lead:]):
        if n != m and n != 1:
            return False
    return True


def _position(node, edge, input_grads, gi):
    """Which input a gradient is for, for error messages."""
    for i, g in enumerate(input_grads):
        if g is gi:
            return i
    return node._next.index(edge)  # gi was converted on the way


def _accumulate_grad(tensor, g, create_graph, stored):
    """Add `g` into `tensor.grad`: a leaf's, or a non-leaf's that called retain_grad().

    As in PyTorch, a later pass adds into the same array in place, so `held = x.grad`
    follows; under create_graph it builds a new Tensor (the sum is part of the graph)."""
    if g.shape != tensor.data.shape:
        raise RuntimeError(f"AccumulateGrad: the graph was recorded with this leaf at shape "
                           f"{tuple(g.shape)}, but it now has shape {tensor.shape} (its .data "
                           f"was replaced after the forward pass); its gradient does not "
                           f"fit. Run the forward pass again after changing .data.")
    grad = tensor.grad
    if grad is not None and grad.shape != g.shape:
        raise RuntimeError(f"AccumulateGrad: a gradient of shape {tuple(g.shape)} cannot be "
                           f"added to the .grad of shape {grad.shape} of a tensor that now "
                           f"has shape {tensor.shape}: the leaf's shape changed (its .data "
                           f"was replaced) since .grad was set. Set .grad = None first "
                           f"(optimizer.zero_grad()).")
    if create_graph:
        tensor.grad = g if grad is None else grad + g
    elif grad is not None:
        data = grad.data
        if not grad.requires_grad and type(data) is np.ndarray and data.base is None and \
                id(data) not in stored and data.flags.writeable and \
                (g.dtype is data.dtype or np.can_cast(g.dtype, data.dtype, "same_kind")):
            np.add(data, g, out=data)
            if grad._version_counter is not None:  # an in-place change like any other
                grad._version_counter.value += 1
        else:
            tensor.grad = Tensor._make(np.asarray(data + g), False)  # 0-d stays an array
    else:
        # Keep the array only if nobody else can see it: it owns its memory (not a view,
        # not a broadcast) and was not given out already -- it will be added into later.
        if g.base is not None or id(g) in stored:
            g = np.array(g)
        stored.add(id(g))
        tensor.grad = Tensor._make(g, False)


class RetainGrad:
    """The hook `retain_grad()` puts on a non-leaf: it keeps the gradient in `.grad`. It
    stays the last of the tensor's hooks, as in PyTorch, so `.grad` is what the other hooks
    made of the gradient."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = weakref.ref(tensor)  # the graph must not keep the tensor alive


def _tensor_hooks(node, g, create_graph, stored):
    """Run the hooks on the gradient of the tensor behind `node`, in order; a hook that
    returns a value replaces the gradient for the hooks after it and for the graph."""
    for hook in list(node._hooks):
        if type(hook) is RetainGrad:
            tensor = hook.tensor()
            if tensor is not None:
                _accumulate_grad(tensor, g, create_graph, stored)
            continue
        if not create_graph:
            if not g.flags.writeable:  # a broadcast view (the backward of sum)
                g = np.array(g)
            stored.add(id(g))  # the hook may keep it
        result = hook(g if create_graph else Tensor._make(g, False))
        if result is not None:
            g = result if create_graph else np.asarray(
                result.data if isinstance(result, Tensor) else result)
            if not create_graph:
                stored.add(id(g))
    return g


def _check_finite(node, edge, input_grads, g):
    values = g.data if hasattr(g, "grad_fn") else g
    if not np.all(np.isfinite(values)):
        where = node._trace or "(created outside detect_anomaly(); enable it before forward)"
        i = _position(node, edge, input_grads, g)
        raise RuntimeError(f"Function '{node.name}' returned nan or inf values in its "
                           f"gradient for input {i}. The op was created at:\n{where}")


def _wrap(g):
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g), False)
