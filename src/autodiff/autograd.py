"""The backward traversal: order the tape, then run each node's backward once, in reverse.

    order = topological_order(root)        # every node after all nodes that consume it
    for node in order:                     # root first
        g = grads.pop(node)                # the sum of what its consumers sent it
        for edge, gi in zip(node.next, node.fn.backward(node, g)):
            grads[edge] = grads[edge] + gi if edge in grads else gi

That `+` is where a tensor used on several paths gets the sum of their gradients.
`backward()` ends by adding into leaves' `.grad`; `grad()` runs the same loop but captures
the requested gradients and touches no `.grad`.
"""
import numpy as np

from .function import AccumulateGrad
from .grad_mode import set_grad_enabled, state


def topological_order(roots):
    """Nodes reachable from `roots`, each before every node it feeds gradients to.

    Iterative depth-first search (a deep network would overflow Python's recursion limit);
    the reversed post-order is a valid order for the backward pass.
    """
    post, seen = [], set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.next))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child is not None and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.next)))
                    break
            else:
                stack.pop()
                post.append(node)
    post.reverse()
    return post


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Add d(tensors)/d(leaf) into `.grad` of every leaf that requires grad."""
    roots = _roots(tensors, grad_tensors, create_graph)
    _run(roots, retain_graph, create_graph, capture=None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned; no `.grad` is touched."""
    from .tensor import Tensor
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
    from .tensor import Tensor
    if isinstance(tensors, Tensor):
        tensors, grads = (tensors,), (grads,)
    elif grads is None:
        grads = (None,) * len(tensors)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    roots = []
    for t, g in zip(tensors, grads):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn: nothing recorded it on the tape (was it computed "
                               "under no_grad(), or from tensors with requires_grad=False?)")
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this output has shape {t.shape}. Pass gradient= (a "
                                   f"tensor of that shape), or reduce it first, e.g. .sum()")
            g = np.ones_like(t.data)
        else:
            g = g.data if isinstance(g, Tensor) else np.asarray(g, dtype=t.dtype)
            if g.shape != t.shape:
                raise RuntimeError(f"gradient has shape {g.shape}, but the output it is for "
                                   f"has shape {t.shape}; they must match")
            g = g.astype(t.dtype, copy=True)
        roots.append((t._node(), Tensor._make(g, False) if create_graph else g))
    return roots


def _run(roots, retain_graph, create_graph, capture):
    if retain_graph is None:
        retain_graph = create_graph
    grads = {}
    for node, g in roots:
        grads[node] = grads[node] + g if node in grads else g
    order = topological_order([node for node, _ in roots])
    found = {}
    stored = set()  # arrays given to a leaf's .grad in this pass: never hand one out twice
    prev = state.tensor_backward
    state.tensor_backward = create_graph
    try:
        with set_grad_enabled(create_graph):
            for node in order:
                g = grads.pop(node, None)
                if g is None:
                    continue
                if node.hooks:
                    g = _run_hooks(node.hooks, g, create_graph)
                if node.retained is not None:
                    out = node.retained()
                    if out is not None:
                        out.grad = _accumulate(out.grad, g, create_graph)
                if capture is not None and node in capture:
                    found[node] = g
                if type(node) is AccumulateGrad:
                    if capture is None:
                        leaf = node.variable
                        if not create_graph:
                            if id(g) in stored:
                                g = g.copy()
                            stored.add(id(g))
                        leaf.grad = _accumulate(leaf.grad, g, create_graph)
                    continue
                _apply_backward(node, g, grads, create_graph)
                if not retain_graph:
                    node.release()
    finally:
        state.tensor_backward = prev
    return found


def _apply_backward(node, g, grads, create_graph):
    input_grads = node.fn.backward(node, g)
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    if len(input_grads) != len(node.next):
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(input_grads)} "
                           f"gradients, but forward took {len(node.next)} inputs; return one "
                           f"per input (None for inputs that need none)")
    for i, (edge, gi) in enumerate(zip(node.next, input_grads)):
        if edge is None or gi is None:
            continue
        if not hasattr(gi, "shape"):
            gi = np.asarray(gi)
        if gi.shape != edge.shape:
            raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape "
                               f"{tuple(gi.shape)} for input {i}, which has shape {edge.shape}")
        if not create_graph and gi.dtype != edge.dtype:
            gi = gi.astype(edge.dtype)
        if state.anomaly:
            _check_finite(node, i, gi)
        grads[edge] = grads[edge] + gi if edge in grads else gi


def _run_hooks(hooks, g, create_graph):
    from .tensor import Tensor
    for hook in list(hooks):
        result = hook(g if create_graph else Tensor._make(np.asarray(g), False))
        if result is not None:
            g = result if create_graph else np.asarray(result.data if isinstance(result, Tensor)
                                                       else result)
    return g


def _accumulate(existing, g, create_graph):
    from .tensor import Tensor
    if create_graph:
        return g if existing is None else existing + g
    if existing is None:
        return Tensor._make(np.asarray(g), False)
    return Tensor._make(np.asarray(existing.data + g), False)


def _check_finite(node, i, g):
    values = g.data if hasattr(g, "grad_fn") else g
    if not np.all(np.isfinite(values)):
        where = node.trace or "(created outside detect_anomaly(); enable it before forward)"
        raise RuntimeError(f"Function '{node.name}' returned nan or inf values in its "
                           f"gradient for input {i}. The op was created at:\n{where}")


def _wrap(g):
    from .tensor import Tensor
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g), False)
