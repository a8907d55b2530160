"""Saved-tensor accounting: how many bytes the tape holds, now and at its peak.

An array saved by several ops (an activation read by a ReLU and the next matmul) or a view
of another saved array counts once: the bytes are those of the underlying buffer, which is
what actually stays alive until backward frees it.
"""
import numpy as np

_live = {}          # id(buffer) -> [buffer, nbytes, number of holders, belongs to a leaf]
_current = 0
_peak = 0


def hold(array, is_leaf):
    """Count one more holder of `array`'s buffer; return the key to `drop` it with."""
    global _current, _peak
    while array.base is not None and type(array.base) is np.ndarray:
        array = array.base  # a view keeps its whole base alive
    key = id(array)
    entry = _live.get(key)
    if entry is not None:
        entry[2] += 1
        return key
    _live[key] = [array, array.nbytes, 1, is_leaf]
    _current += array.nbytes
    if _current > _peak:
        _peak = _current
    return key


def drop(keys):
    """One holder fewer for each buffer; a buffer nobody holds stops counting."""
    global _current
    for key in keys:
        entry = _live[key]
        entry[2] -= 1
        if entry[2] == 0:
            del _live[key]
            _current -= entry[1]


def saved_bytes(include_leaves=True):
    """Bytes held by the tape now. `include_leaves=False` leaves out inputs and parameters
    (leaf tensors), which exist anyway: what remains is the activation memory."""
    if include_leaves:
        return _current
    return sum(e[1] for e in _live.values() if not e[3])


def peak_saved_bytes():
    """The most the tape has held since the last `reset_peak_saved_bytes()`."""
    return _peak


def reset_peak_saved_bytes():
    global _peak
    _peak = _current
