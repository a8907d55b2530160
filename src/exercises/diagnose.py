"""Comparing a student's array with the expected one, and saying what the difference means.

A wrong gradient usually has a recognisable shape: transposed, not summed over the axes
forward broadcast, a bias not summed over the batch, NaN from an unshifted exp, a constant
factor (a forgotten 2, a sign). `compare` names the first of these it sees, so that a
failing test points at the bug rather than at a number.
"""
import numpy as np

from .numerics import rel_error

TOLERANCE = 1e-6  # floored relative error; see tests/test_exercise_tolerances.py


def compare(what, got, want, *, hidden, tol=None, bias=False):
    """None if `got` matches `want` within `tol` (default `TOLERANCE`, read at each call so
    the calibration test can tighten it), else the likely bug, in words.

    `what` names the array ("the gradient of W"). With `hidden`, the message says what is
    wrong but shows no shape of a hidden input, no input and no expected value.
    """
    tol = TOLERANCE if tol is None else tol
    want = np.asarray(want, dtype=np.float64)
    if got is None:
        return f"{what} is None; return an array for every input that needs a gradient"
    got = np.asarray(got)
    if got.shape != want.shape:
        return _shape_message(what, got.shape, want.shape, hidden, bias)
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return (f"{what} contains NaN or inf where the expected values are finite; an exp "
                f"of large inputs overflows: subtract the max first")
    err = rel_error(got, want)
    if err <= tol:
        return None
    return _value_message(what, got, want, err, tol, hidden)


def _shape_message(what, got, want, hidden, bias):
    shown = "" if hidden else f" with shape {want}, got {got}"
    if len(got) == len(want) >= 2 and got == want[:-2] + want[-2:][::-1] and got != want:
        return f"expected {what}{shown} — did you transpose?"
    if _reduces_to(got, want):
        if bias:
            return (f"expected {what}{shown}: the bias is added to every row of the batch, "
                    f"so its gradient is the sum over the batch")
        return (f"expected {what}{shown}: forward broadcast this input, so its gradient "
                f"must be summed over the broadcast axes (reduce it to the input's shape)")
    return f"expected {what}{shown or ' with the shape of the input'}"


def _reduces_to(big, small):
    """Could `small` be broadcast to `big`? Then summing `big` would give `small`."""
    try:
        return np.broadcast_shapes(big, small) == tuple(big) and tuple(big) != tuple(small)
    except ValueError:
        return False


def _value_message(what, got, want, err, tol, hidden):
    scale = np.vdot(got, want) / max(np.vdot(want, want), 1e-300)
    if rel_error(got, scale * want) <= tol and abs(scale) > 1e-12:
        if abs(scale + 1) < 1e-6:
            return f"{what} has the wrong sign"
        return f"{what} is off by a constant factor of {scale:.3g}"
    if hidden:
        return f"{what} is wrong: relative error {err:.1e} (tolerance {tol:.0e})"
    worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
    return (f"{what} is wrong: relative error {err:.1e} (tolerance {tol:.0e}); at index "
            f"{tuple(int(i) for i in worst)} expected {want[worst]:.6g}, got {got[worst]:.6g}")
