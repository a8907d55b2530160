"""Switches that change what the engine records: grad mode, anomaly detection, forward mode.

They are module-level flags rather than thread-local state: the engine is single-threaded,
and a flag read is the cheapest check `Function.apply` can make on its hot path.

Every switch restores the state it found, also when one instance is entered again before it
was left -- a `@no_grad()` function that calls itself, `with cm: ... with cm:` -- so each
entry pushes the state it found and each exit pops it.
"""
import contextlib


class _State:
    grad_enabled = True
    anomaly = False
    forward_level = 0  # the innermost active jvp(); tangents of levels 1..this propagate
    tensor_backward = False  # rules see Tensors, not arrays (create_graph, nested jvp)


state = _State()


def is_grad_enabled():
    return state.grad_enabled


def is_anomaly_enabled():
    return state.anomaly


class _Switch(contextlib.ContextDecorator):
    """Sets `state.<flag>` to `self.mode` on entry and restores what it found on exit.
    Context manager and decorator, as in PyTorch: `with no_grad():` or `@no_grad()`."""

    flag = "grad_enabled"
    mode = True

    def __enter__(self):
        if "_found" not in self.__dict__:
            self._found = []
        self._found.append(getattr(state, self.flag))  # a stack: entries may nest
        setattr(state, self.flag, self.mode)

    def __exit__(self, *exc):
        setattr(state, self.flag, self._found.pop())
        return False


class no_grad(_Switch):
    """Ops run, but record nothing: outputs have no grad_fn and the tape saves no tensors."""

    mode = False


class enable_grad(_Switch):
    """Re-enables recording inside a `no_grad` block (checkpoint's recomputation needs it)."""

    mode = True


class set_grad_enabled(_Switch):
    """`set_grad_enabled(False)` switches grad mode off at once, as a plain call (as in
    PyTorch); used with `with`, leaving the block restores what was there before the call."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._before_call = state.grad_enabled
        state.grad_enabled = self.mode

    def __enter__(self):
        super().__enter__()
        self._found[-1] = self._before_call  # the call itself already switched it

    def __call__(self, fn):
        # As a decorator (`@set_grad_enabled(False)`), the call at definition time must
        # not change anything: undo it; the decorated function switches on each call.
        state.grad_enabled = self._before_call
        return super().__call__(fn)

    def _recreate_cm(self):
        return _Scoped(self.mode)


class _Scoped(_Switch):
    def __init__(self, mode):
        self.mode = mode


class detect_anomaly(_Switch):
    """Record where each op was created; a NaN or inf produced in backward then raises,
    naming the op and the line of forward code that created it. Slow: for debugging."""

    flag = "anomaly"

    def __init__(self, mode=True):
        self.mode = bool(mode)
