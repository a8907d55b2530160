"""Saved-tensor accounting: how many bytes the tape holds, now and at its peak.

An array saved by several ops (an activation read by a ReLU and the next matmul) or a view
of another saved array counts once: the bytes are those of the underlying buffer, which is
what actually stays alive until backward frees it.
"""
_live = {}          # id(buffer) -> [buffer, nbytes, number of holders, belongs to a leaf]
_current = 0
_peak = 0


def _buffer(array):
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def track(node):
    global _current, _peak
    for array, (ref, _) in zip(node._saved, node._refs):
        if not hasattr(array, "nbytes"):
            continue
        buf = _buffer(array)
        entry = _live.get(id(buf))
        if entry is None:
            is_leaf = ref is not None and not callable(ref) and ref.grad_fn is None
            _live[id(buf)] = [buf, buf.nbytes, 1, is_leaf]
            _current += buf.nbytes
        else:
            entry[2] += 1
    if _current > _peak:
        _peak = _current


def untrack(node):
    global _current
    for array in node._saved or ():
        if not hasattr(array, "nbytes"):
            continue
        key = id(_buffer(array))
        entry = _live.get(key)
        if entry is None:
            continue
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
