"""Saved-tensor accounting: how many bytes the tape holds, now and at its peak.

An array saved by several ops (an activation read by a ReLU and the next matmul) or a view
of another saved array counts once: the bytes are those of the underlying buffer, which is
what actually stays alive until backward frees it. A buffer that exists anyway -- a leaf
(an input, a parameter) or a view of one -- is told apart from an activation, which only
the tape keeps alive: `include_leaves=False` counts the activations alone.

Counting costs time on every op that saves something, so the engine counts only once a
measurement asks for it:

    with autodiff.memory.track():     # counts while inside (and what was alive on entry)
        loss = model(x)
        print(autodiff.saved_bytes(), autodiff.peak_saved_bytes())

Outside a `track()` block, the first call of `saved_bytes`, `peak_saved_bytes` or
`reset_peak_saved_bytes` starts the counting for the rest of the process. Either way it
starts by counting what the tapes alive at that moment already hold, so the numbers are
the same as if it had counted all along; a peak is the highest since counting started or
since the last `reset_peak_saved_bytes()`.
"""
import contextlib
import gc
import weakref

import numpy as np

tracking = False  # read by Function.apply: count each node's saved buffers as it is recorded

_live = {}           # id(buffer) -> [buffer, nbytes, number of holders, belongs to a leaf]
_current = [0, 0]    # bytes held now: [everything, activations only]
_peak = [0, 0]       # the most held since counting started or the last reset


@contextlib.contextmanager
def track():
    """Count saved bytes inside this block (it nests; leaving it stops counting only if it
    was off before)."""
    global tracking
    was_tracking = tracking
    _start()
    try:
        yield
    finally:
        tracking = was_tracking


def saved_bytes(include_leaves=True):
    """Bytes held by the tape now. `include_leaves=False` leaves out inputs and parameters
    (leaf tensors, and views of them), which exist anyway: what remains is the activation
    memory."""
    _start()
    return _current[0] if include_leaves else _current[1]


def peak_saved_bytes(include_leaves=True):
    """The most the tape has held since the last `reset_peak_saved_bytes()` (or since
    counting started); `include_leaves=False`: the most activation memory it has held."""
    _start()
    return _peak[0] if include_leaves else _peak[1]


def reset_peak_saved_bytes():
    _start()
    _peak[:] = _current


def _start():
    """Turn counting on; count what the live tapes hold already (their nodes were recorded
    while nobody counted)."""
    global tracking
    if tracking:
        return
    tracking = True
    from .function import Node
    for obj in gc.get_objects():
        # an op's node (type(), not isinstance: some objects' __class__ has side effects)
        # on a tape (it has edges), still holding what it saved, not counted yet
        if type(obj) is Node and obj._next and obj._saved and obj._held is None:
            hold(obj)
    _peak[:] = _current


def hold(node):
    """Count the buffers `node` saved, until it releases them or dies."""
    keys = [_hold_buffer(value, source.leaf)
            for value, source in zip(node._saved, node._sources)
            if type(value) is np.ndarray]
    if not keys:
        node._held = _nothing
        return
    node._held = weakref.finalize(node, _drop, keys)
    node._held.atexit = False


def _hold_buffer(array, is_leaf):
    while array.base is not None and type(array.base) is np.ndarray:
        array = array.base  # a view keeps its whole base alive
    key = id(array)
    entry = _live.get(key)
    if entry is not None:
        entry[2] += 1
        return key
    _live[key] = [array, array.nbytes, 1, is_leaf]
    _current[0] += array.nbytes
    _peak[0] = max(_peak[0], _current[0])
    if not is_leaf:
        _current[1] += array.nbytes
        _peak[1] = max(_peak[1], _current[1])
    return key


def _drop(keys):
    """One holder fewer for each buffer; a buffer nobody holds stops counting."""
    for key in keys:
        entry = _live[key]
        entry[2] -= 1
        if entry[2] == 0:
            del _live[key]
            _current[0] -= entry[1]
            if not entry[3]:
                _current[1] -= entry[1]


def _nothing():
    """The `_held` of a node that saved no arrays (only numbers): nothing to stop counting."""
