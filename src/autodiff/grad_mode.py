"""Switches that change what the engine records: grad mode, anomaly detection, forward mode.

They are module-level flags rather than thread-local state: the engine is single-threaded,
and a flag read is the cheapest check `Function.apply` can make on its hot path.
"""
import contextlib
import functools


class _State:
    grad_enabled = True
    anomaly = False
    forward_ad = 0  # depth of active jvp() calls; tangents are only propagated when > 0
    tensor_backward = False  # inside a create_graph backward: rules see Tensors, not arrays


state = _State()


def is_grad_enabled():
    return state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator, as in PyTorch: `with no_grad():` or `@no_grad()`."""

    enabled = True

    def __enter__(self):
        self.prev = state.grad_enabled
        state.grad_enabled = self.enabled

    def __exit__(self, *exc):
        state.grad_enabled = self.prev
        return False


class no_grad(_GradMode):
    """Ops run, but record nothing: outputs have no grad_fn and the tape saves no tensors."""

    enabled = False


class enable_grad(_GradMode):
    """Re-enables recording inside a `no_grad` block (checkpoint's recomputation needs it)."""

    enabled = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self.enabled = bool(mode)


class detect_anomaly(contextlib.ContextDecorator):
    """Record where each op was created; a NaN or inf produced in backward then raises,
    naming the op and the line of forward code that created it. Slow: for debugging."""

    def __init__(self, mode=True):
        self.mode = mode

    def __enter__(self):
        self.prev = state.anomaly
        state.anomaly = self.mode

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False


def _forward_ad(fn):
    """Mark a region where `Function.apply` computes tangents alongside values."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        state.forward_ad += 1
        try:
            return fn(*args, **kwargs)
        finally:
            state.forward_ad -= 1

    return wrapper
