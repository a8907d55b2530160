"""Every graded check is a named probe: generated inputs → the student's outputs → a verdict.

A probe has three steps, kept apart so they can run in different places:

    cases(rng, hidden)         → inputs, as dicts of numpy arrays     (trusted: the grader)
    run(*student_objects, case) → outputs, as dicts of numpy arrays   (untrusted: the sandbox)
    judge(outputs, case, hidden) → None, or what is wrong, in words   (trusted: the grader)

In a notebook, `check(name, *objects, seed=None)` does all three in the kernel, which is
what plain nbgrader can grade. The autograder runs only `collect` (the middle step) inside
its sandbox and `verdict` outside, on plain data, where student code cannot reach.

`seed=None` gives the visible cases: fixed, small, and judged with messages that show
numbers. A seed gives hidden cases, judged with messages that say what is wrong in words
but never show an input or an expected value.
"""
import contextlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import delegation

PROBES = {}
VISIBLE_SEED = 0


@dataclass(frozen=True)
class Probe:
    name: str
    cases: Callable    # (rng, hidden) -> list[dict[str, ndarray]]
    run: Callable      # (*objects, case) -> dict[str, ndarray]
    judge: Callable    # (outputs, case, hidden) -> str | None
    scan: tuple = ()   # methods of the first object whose source must not delegate
    guard: bool = True  # run under delegation.guard (off where the engine is the point)
    what: str = ""     # the part, as a student would name it, for messages
    compare_keys: tuple = field(default=None)  # outputs that must equal the reference's


def probe(name, *, cases, scan=(), guard=True, what="", compare_keys=None):
    """Register `run` under `name`; `judge` is attached with `@<run>.judge`."""
    def register(run):
        def attach_judge(judge):
            PROBES[name] = Probe(name, cases, run, judge, tuple(scan), guard, what or name,
                                 compare_keys)
            return judge
        run.judge = attach_judge
        return run
    return register


def get(name):
    _load_assignments()
    try:
        return PROBES[name]
    except KeyError:
        raise KeyError(f"no probe named {name!r}; known: {', '.join(sorted(PROBES))}") from None


def _load_assignments():
    from . import custom_functions, reparam, vjps  # noqa: F401  (they register probes)


def make_cases(name, seed=None):
    p = get(name)
    hidden = seed is not None
    rng = np.random.default_rng(VISIBLE_SEED if seed is None else seed)
    return p.cases(rng, hidden)


def collect(name, objects, cases):
    """Run the student's objects on every case; one dict of arrays per case, or
    {"error": message} where the student's code raised or returned something unusable.
    This is the only step that runs student code."""
    p = get(name)
    results = []
    for case in cases:
        try:
            with _quiet(), (delegation.guard() if p.guard else contextlib.nullcontext()):
                out = p.run(*objects, {k: np.array(v) for k, v in case.items()})
            results.append(_plain(out))
        except delegation.Delegated as e:
            results.append({"error": f"delegated: {e}"})
        except NotImplementedError:
            results.append({"error": "not implemented yet: replace `raise "
                                     "NotImplementedError()` with your code"})
        except Exception as e:  # noqa: BLE001  (any failure of student code is a verdict)
            results.append({"error": f"it raised {type(e).__name__}: {e}"})
    return results


@contextlib.contextmanager
def _quiet():
    """No warnings on stderr: nbgrader scores a cell that writes to stderr 0, and an
    overflow in a wrong answer shows up in its outputs anyway."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _plain(out):
    if not isinstance(out, dict):
        raise TypeError(f"the probe returned {type(out).__name__}, expected a dict")
    plain = {}
    for key, value in out.items():
        if value is None:
            plain[key] = None
            continue
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{key} is {type(value).__name__} of dtype {array.dtype}; "
                            f"expected a numeric array")
        plain[key] = np.array(array)  # a copy that owns its memory, not a view into theirs
    return plain


def verdict(name, cases, outputs, hidden, scan_findings=()):
    """None if every case passed, else the first failure, in words (trusted side)."""
    p = get(name)
    if scan_findings:
        return (f"{p.what}: scored 0 because the rule is not your own: "
                + "; ".join(scan_findings) + ". Write it with numpy from the derivation.")
    for i, (case, out) in enumerate(zip(cases, outputs)):
        label = f"{p.what} (hidden case {i + 1} of {len(cases)})" if hidden else (
            f"{p.what} (case {i + 1} of {len(cases)})")
        if "error" in out:
            error = out["error"]
            if error.startswith("delegated:"):
                return f"{label}: scored 0 because {error[len('delegated: '):]}."
            return f"{label}: {_masked(error) if hidden else error}"
        message = p.judge(out, case, hidden)
        if message:
            return f"{label}: {message}"
    return None


def _masked(error):
    """An exception's message with its numbers hidden: numpy's errors quote the shapes
    (and sometimes values) of the hidden inputs that caused them."""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "…", error)


def check(name, *objects, seed=None):
    """Run probe `name` on the student's objects; raise AssertionError saying what is wrong."""
    p = get(name)
    findings = delegation.scan_object(objects[0], p.scan) if p.scan else []
    cases = make_cases(name, seed)
    outputs = collect(name, objects, cases) if not findings else []
    message = verdict(name, cases, outputs, hidden=seed is not None, scan_findings=findings)
    if message:
        raise AssertionError(message)
    print(f"{p.what}: all {len(cases)} {'hidden ' if seed is not None else ''}cases pass")
