"""The backward traversal: order the tape, then run each node's backward once, in reverse.

    order = topological_order(root)        # newest first: each node after its consumers
    for node in order:
        g = grads.pop(node)                # the sum of what its consumers sent it
        for edge, gi in zip(node._next, node._fn.backward(node, g)):
            grads[edge] = grads[edge] + gi if edge in grads else gi

That `+` is where a tensor used on several paths gets the sum of their gradients.
`backward()` ends by adding into leaves' `.grad`; `grad()` runs the same loop but captures
the requested gradients and touches no `.grad`.
"""
import operator

import numpy as np

from .grad_mode import state
from .ops.arraylike import unbroadcast


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
    return sorted(seen, key=_sequence_number, reverse=True)


_sequence_number = operator.attrgetter("_seq")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Add d(tensors)/d(leaf) into `.grad` of every leaf that requires grad."""
    roots = _roots(tensors, grad_tensors, create_graph)
    _run(roots, retain_graph, create_graph, capture=None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned; no `.grad` is touched."""
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    capture = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}; expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {t.shape}) does not require grad, so "
                               f"it cannot be differentiated with respect to")
        capture.setdefault(t._node(), []).append(i)
    roots = _roots(outputs, grad_outputs, create_graph)
    found = _run(roots, retain_graph, create_graph, capture)
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
            if t.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this output has shape {t.shape}. Pass gradient= (a "
                                   f"tensor of that shape), or reduce it first, e.g. .sum()")
            g = np.ones_like(t.data)
        elif create_graph and isinstance(g, Tensor):
            # kept as it is, with its history: the result is then differentiable in g too
            # (the double-vjp trick: d/du <Jᵀu, v> = J v)
            if g.shape != t.shape:
                raise RuntimeError(f"gradient has shape {g.shape}, but the output it is for "
                                   f"has shape {t.shape}; they must match")
            roots.append((t._node(), g if g.dtype == t.dtype else g.to(t.dtype)))
            continue
        else:
            g = np.array(g.data if isinstance(g, Tensor) else g, dtype=t.dtype)  # a copy
            if g.shape != t.shape:
                raise RuntimeError(f"gradient has shape {g.shape}, but the output it is for "
                                   f"has shape {t.shape}; they must match")
        roots.append((t._node(), Tensor._make(g, False) if create_graph else g))
    return roots


def _run(roots, retain_graph, create_graph, capture):
    if retain_graph is None:
        retain_graph = create_graph
    grads = {}
    for node, g in roots:
        grads[node] = grads[node] + g if node in grads else g
    found = {}
    # ids of arrays that someone else may hold: handed to a .grad or a hook in this pass, or
    # returned by a user's backward rule. A .grad keeps a copy of those, never the array.
    stored = set()
    previous = state.tensor_backward, state.grad_enabled
    anomaly = state.anomaly
    # Backward rules see Tensors and are recorded only under create_graph.
    state.tensor_backward = state.grad_enabled = create_graph
    try:
        for node in topological_order(list(grads)):
            g = grads.pop(node, None)
            if g is None:
                continue
            if node._hooks is not None or node._retained is not None:
                g = _tensor_hooks(node, g, create_graph, stored)
            if capture is not None and node in capture:
                found[node] = g
            if node._fn is None:  # a leaf's AccumulateGrad: the end of this path
                if capture is None:
                    _accumulate_grad(node.variable, g, create_graph, stored)
                continue
            input_grads = node._fn.backward(node, g)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if len(input_grads) != len(node._next):
                raise RuntimeError(f"{node._fn.__name__}.backward returned {len(input_grads)} "
                                   f"gradients, but forward took {len(node._next)} inputs; "
                                   f"return one per input (None where none is needed)")
            if not node._fn._fresh_grads:
                stored.update(map(id, input_grads))
            for i, (edge, gi) in enumerate(zip(node._next, input_grads)):
                if edge is None or gi is None:
                    continue
                if type(gi) is not np.ndarray and not create_graph:
                    gi = np.asarray(gi)
                if gi.shape != edge._shape or gi.dtype is not edge._dtype:
                    gi = _conform(node, i, edge, gi, create_graph)
                if anomaly:
                    _check_finite(node, i, gi)
                if edge in grads:
                    grads[edge] = grads[edge] + gi  # the sum over paths
                else:
                    grads[edge] = gi
            if not retain_graph:
                node.release()
    finally:
        state.tensor_backward, state.grad_enabled = previous
    return found


def _conform(node, i, edge, gi, create_graph):
    """Bring a gradient to its input's shape and dtype.

    An op whose inputs were broadcast returns gradients in the broadcast shape; summing them
    back (`unbroadcast`) is done here, once for every op -- as PyTorch's engine does. Any
    other shape is a bug in the op's backward.
    """
    if gi.shape != edge._shape:
        if edge._fn is None and edge.variable.shape != edge._shape:
            raise RuntimeError(f"AccumulateGrad: the leaf of shape {edge._shape} that "
                               f"{node.name} used now has shape {edge.variable.shape} (its "
                               f".data was replaced); the gradient does not fit either")
        try:
            broadcastable = np.broadcast_shapes(edge._shape, gi.shape) == gi.shape
        except ValueError:
            broadcastable = False
        if not broadcastable:
            raise RuntimeError(f"{node._fn.__name__}.backward returned a gradient of shape "
                               f"{tuple(gi.shape)} for input {i}, which has shape "
                               f"{edge._shape}; expected that shape, or one it broadcasts to")
        gi = unbroadcast(gi, edge._shape)
    if gi.dtype == edge._dtype:
        return gi
    return gi.to(edge._dtype) if create_graph else gi.astype(edge._dtype)


def _accumulate_grad(tensor, g, create_graph, stored):
    """Add `g` into `tensor.grad`: a leaf's, or a non-leaf's that called retain_grad().

    As in PyTorch, a later pass adds into the same array in place, so `held = x.grad`
    follows; under create_graph it builds a new Tensor (the sum is part of the graph)."""
    grad = tensor.grad
    if grad is not None and grad.shape != tuple(np.shape(g)):
        raise RuntimeError(f"AccumulateGrad: a gradient of shape {tuple(np.shape(g))} cannot be "
                           f"added to the .grad of shape {grad.shape} of a tensor that now "
                           f"has shape {tensor.shape}: the leaf's shape changed (its .data "
                           f"was replaced) since .grad was set. Set .grad = None first "
                           f"(optimizer.zero_grad()).")
    if create_graph:
        tensor.grad = g if grad is None else grad + g
    elif grad is not None:
        data = grad.data
        if not grad.requires_grad and type(data) is np.ndarray and data.base is None and \
                data.flags.writeable and id(data) not in stored and \
                np.can_cast(g.dtype, data.dtype, "same_kind"):
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


def _tensor_hooks(node, g, create_graph, stored):
    if node._hooks:
        for hook in list(node._hooks):
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
    if node._retained is not None:
        out = node._retained()
        if out is not None:
            _accumulate_grad(out, g, create_graph, stored)
    return g


def _check_finite(node, i, g):
    values = g.data if hasattr(g, "grad_fn") else g
    if not np.all(np.isfinite(values)):
        where = node._trace or "(created outside detect_anomaly(); enable it before forward)"
        raise RuntimeError(f"Function '{node.name}' returned nan or inf values in its "
                           f"gradient for input {i}. The op was created at:\n{where}")


def _wrap(g):
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g), False)
