"""Probes for the custom_functions assignment: a student's own `autodiff.Function`s.

Parts whose answer is a backward rule (Square, LogSumExp, Quantize, ClipGradient,
GradientReversal) call the student's forward and backward alone, on plain (non-contiguous)
arrays, under the delegation guard. The two parts about the engine itself -- `.backward()`
accumulating versus `grad()`, and differentiating a backward under `create_graph=True` --
run the student's code through the engine.

Expected derivatives come from finite differences of numpy forwards written here (`_stencil`,
`_second_stencil`); what a straight-through estimator or a gradient clip returns is a
definition, not a derivative, and is written out as such.
"""
import numpy as np

import autodiff as ad

from . import diagnose
from .diagnose import compare
from .numerics import away_from_zero, noncontiguous, rel_error
from .probes import probe
from .vjps import call_backward

# Five-point central stencils at these steps: for the functions here the truncation error
# (h⁴ f⁽⁵⁾/30, h⁴ f⁽⁶⁾/90) and the rounding error (≈ 1.5 eps |f| / h, 5.3 eps |f| / h²)
# stay near 1e-9 relative or below, two orders under diagnose.TOLERANCE; the calibration
# test checks the reference against them at TOLERANCE / 100.
FIRST_STEP = 1e-3
SECOND_STEP = 1e-2


def _stencil(f, h=FIRST_STEP):
    """d/dt f(t) at t = 0, for an array-valued f of a scalar t: error O(h⁴)."""
    return (f(-2 * h) - 8 * f(-h) + 8 * f(h) - f(2 * h)) / (12 * h)


def _second_stencil(f, h=SECOND_STEP):
    """d²/dt² f(t) at t = 0: error O(h⁴), exact for polynomials up to degree 5."""
    return (-f(-2 * h) + 16 * f(-h) - 30 * f(0.0) + 16 * f(h) - f(2 * h)) / (12 * h * h)


def _elementwise_shapes(rng, hidden):
    if not hidden:
        return [(3,), (2, 3)]
    n, m = (int(v) for v in rng.integers(1, 5, size=2))
    return [(), (n,), (n, 1, m), (1, m)]


def _matches(got, want):
    """Does `got` equal `want` within the tolerance (for naming a specific mistake)?"""
    return got is not None and np.shape(got) == np.shape(want) and (
        rel_error(got, want) <= diagnose.TOLERANCE)


def _saved_bytes_of(apply, x, *, include_leaves):
    """Bytes the tape holds for one call of `apply` on a leaf made from `x`, as the
    engine's own accounting (`autodiff.saved_bytes`) counts them."""
    leaf = ad.tensor(x, requires_grad=True)
    before = ad.saved_bytes(include_leaves)
    out = apply(leaf)
    held = ad.saved_bytes(include_leaves) - before
    del out  # frees the node, and with it what it saved
    return held


def _one_per_input(out, n_inputs, name):
    if int(out["n_grads"]) != n_inputs:
        return (f"{name}.backward returned {int(out['n_grads'])} gradient(s), but forward "
                f"takes {n_inputs} inputs: return one per input, None for the constant")
    return None


# ---- 1. Square: save_for_backward --------------------------------------------------------

def _square_cases(rng, hidden):
    return [{"x": rng.standard_normal(s), "g": rng.standard_normal(s)}
            for s in _elementwise_shapes(rng, hidden)]


@probe("custom_functions.square", cases=_square_cases, scan=("backward",), what="Square")
def _run_square(Square, case):
    out, grads = call_backward(Square, (noncontiguous(case["x"]),), case["g"])
    return {"out": out, "grad": grads[0],
            "saved_bytes": np.array(_saved_bytes_of(Square.apply, case["x"],
                                                    include_leaves=True))}


@_run_square.judge
def _judge_square(out, case, hidden):
    x, g = case["x"], case["g"]
    want = g * _stencil(lambda t: (x + t) ** 2)
    message = (compare("the forward output", out["out"], x * x, hidden=hidden)
               or compare("the gradient of x", out["grad"], want, hidden=hidden))
    if message:
        return message
    if int(out["saved_bytes"]) == 0:
        return ("Square.apply saved nothing on the tape: keep x with "
                "ctx.save_for_backward(x) and read it back from ctx.saved_tensors (an "
                "attribute such as ctx.x escapes the engine's version checks and accounting)")
    return None


# ---- 2. LogSumExp: a fused op with its own backward -----------------------------------------

def _logsumexp(x):
    """log Σ exp over the last axis, shifted by the max so that exp cannot overflow."""
    m = x.max(axis=-1, keepdims=True)
    return np.log(np.exp(x - m).sum(axis=-1)) + m[..., 0]


def _logsumexp_composed(x):
    """The same function from the engine's ops, as the notebook builds it. The shift is
    detached: lse(x) does not depend on it, so no gradient needs to flow through it."""
    m = x.detach().amax(dim=-1, keepdim=True)
    return (x - m).exp().sum(dim=-1).log() + m.reshape(m.shape[:-1])


def _row_partials(f, x):
    """∂f(x)[r] / ∂x[r, j] for f reducing the last axis: row r depends on x[r] only, so
    moving column j of every row at once gives column j of all the partials."""
    partials = np.empty_like(x)
    for j in range(x.shape[-1]):
        step = np.zeros(x.shape[-1])
        step[j] = 1.0
        partials[..., j] = _stencil(lambda t: f(x + t * step))
    return partials


def _logsumexp_cases(rng, hidden):
    if not hidden:
        return [{"x": rng.standard_normal((3, 4)), "g": rng.standard_normal(3)},
                {"x": 1000 + rng.standard_normal((2, 5)), "g": rng.standard_normal(2)},
                {"x": rng.standard_normal((4, 1)), "g": rng.standard_normal(4)}]
    n, b = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    shapes = [(n,), (b, n), (b, 1, n), (b, 1)]
    cases = [{"x": rng.standard_normal(s), "g": rng.standard_normal(s[:-1])} for s in shapes]
    large = rng.choice([-1000.0, 1000.0]) + rng.standard_normal((b, n))  # exp over/underflows
    return cases + [{"x": large, "g": rng.standard_normal(b)}]


@probe("custom_functions.logsumexp", cases=_logsumexp_cases, scan=("backward",),
       what="LogSumExp")
def _run_logsumexp(LogSumExp, case):
    out, grads = call_backward(LogSumExp, (noncontiguous(case["x"]),), case["g"])
    return {"out": out, "grad": grads[0],
            "saved_bytes": np.array(_saved_bytes_of(LogSumExp.apply, case["x"],
                                                    include_leaves=False))}


@_run_logsumexp.judge
def _judge_logsumexp(out, case, hidden):
    x, g = case["x"], case["g"]
    # lse(x - c) = lse(x) - c for a per-row constant c: the gradient is the same, and
    # differences near 0 are exact to ~1e-13 where at 1000 they would lose 3 digits.
    shifted = x - x.max(axis=-1, keepdims=True)
    want = g[..., None] * _row_partials(_logsumexp, shifted)
    message = (compare("the forward output", out["out"], _logsumexp(x), hidden=hidden)
               or compare("the gradient of x", out["grad"], want, hidden=hidden))
    if message:
        return message
    fused = int(out["saved_bytes"])
    composed = _saved_bytes_of(_logsumexp_composed, x, include_leaves=False)
    if fused >= composed:
        numbers = "" if hidden else f" ({fused} bytes of activations; the composition {composed})"
        return (f"LogSumExp saves no less than the composition of engine ops{numbers}: save x "
                f"(an input, which exists anyway) and the output, and recompute "
                f"exp(x - out) in backward instead of keeping it")
    return None


# ---- 3. Quantize: a straight-through estimator ---------------------------------------------

def _quantize_inputs(rng, shape):
    """Values in [-1.6, 1.6], away from the rounding ties of 4x and from the clip at ±1."""
    size = int(np.prod(shape))
    x = rng.uniform(-1.6, 1.6, size=8 * size + 16)
    tie = np.abs((4 * np.abs(x)) % 1 - 0.5) < 0.05
    edge = np.abs(np.abs(x) - 1) < 0.05
    return x[~tie & ~edge][:size].reshape(shape)


def _quantize_cases(rng, hidden):
    if not hidden:
        x = np.array([-1.4, -0.9, -0.3, 0.1, 0.6, 1.3])
        return [{"x": x, "g": rng.standard_normal(6)},
                {"x": x.reshape(2, 3)[::-1], "g": rng.standard_normal((2, 3))}]
    n, m = (int(v) for v in rng.integers(1, 5, size=2))
    shapes = [(), (n,), (n, 1, m), (8,)]
    return [{"x": _quantize_inputs(rng, s), "g": rng.standard_normal(s)} for s in shapes]


@probe("custom_functions.quantize", cases=_quantize_cases, scan=("backward",),
       what="Quantize")
def _run_quantize(Quantize, case):
    out, grads = call_backward(Quantize, (noncontiguous(case["x"]),), case["g"])
    return {"out": out, "grad": grads[0]}


@_run_quantize.judge
def _judge_quantize(out, case, hidden):
    x, g = case["x"], case["g"]
    message = compare("the forward output", out["out"],
                      np.clip(np.round(4 * x) / 4, -1, 1), hidden=hidden)
    if message:
        return message
    # The estimator's definition: the gradient of the identity where the quantizer follows
    # x (|x| <= 1), and of the constant where it saturates.
    want = g * (np.abs(x) <= 1)
    message = compare("the gradient of x", out["grad"], want, hidden=hidden)
    if message and _matches(out["grad"], np.zeros_like(want)):
        return ("the gradient is zero everywhere: that is the true derivative of round (zero "
                "almost everywhere), through which nothing upstream could learn. A "
                "straight-through estimator passes grad through unchanged where |x| <= 1")
    if message and _matches(out["grad"], g):
        return ("the gradient passes through everywhere, but where |x| > 1 the forward is "
                "clipped to ±1 (flat): the gradient must be zero there")
    return message


# ---- 4. ClipGradient and GradientReversal: gradients changed on purpose ---------------------

def _clip_cases(rng, hidden):
    if not hidden:
        return [{"x": np.array([-1.8, -0.6, 0.2, 0.9, 1.5]),
                 "g": np.array([-2.5, -0.4, 0.3, 1.7, 3.0]), "c": np.array(1.0)}]
    cases = []
    for s in _elementwise_shapes(rng, hidden) + [(6,)]:
        # about half of the upstream values beyond ±c, none within 0.05 of it
        c = rng.uniform(0.5, 1.5)
        magnitude = np.where(rng.random(s) < 0.5, rng.uniform(0.05, c - 0.05, s),
                             rng.uniform(c + 0.05, c + 2.0, s))
        g = np.where(rng.random(s) < 0.5, -magnitude, magnitude)
        cases.append({"x": rng.standard_normal(s), "g": g, "c": np.array(c)})
    return cases


def _identity_forward_message(out, x):
    if _matches(out, x):
        return None
    return "the forward must return x unchanged: this op changes only the gradient"


@probe("custom_functions.clip_gradient", cases=_clip_cases, scan=("backward",),
       what="ClipGradient")
def _run_clip(ClipGradient, case):
    x, c = noncontiguous(case["x"]), float(case["c"])
    out, grads = call_backward(ClipGradient, (x, c), case["g"])
    return {"out": out, "grad": grads[0], "n_grads": np.array(len(grads))}


@_run_clip.judge
def _judge_clip(out, case, hidden):
    x, g, c = case["x"], case["g"], float(case["c"])
    if _matches(out["out"], np.clip(x, -c, c)) and not _matches(out["out"], x):
        return ("the forward clipped x: gradient clipping leaves the values alone; return x "
                "unchanged and clip grad in backward")
    message = _identity_forward_message(out["out"], x) or _one_per_input(out, 2, "ClipGradient")
    if message:
        return message
    message = compare("the gradient of x", out["grad"], np.clip(g, -c, c), hidden=hidden)
    if message and _matches(out["grad"], g):
        return "the gradient was passed through unclipped: clip grad to [-c, c]"
    if message and _matches(out["grad"], g * (np.abs(x) <= c)):
        return ("the gradient was zeroed where |x| > c: that is the gradient of clamping x; "
                "clip the values of grad itself to [-c, c]")
    return message


def _reversal_cases(rng, hidden):
    if not hidden:
        return [{"x": rng.standard_normal(4), "g": rng.standard_normal(4), "lam": np.array(0.5)}]
    return [{"x": rng.standard_normal(s), "g": rng.standard_normal(s),
             "lam": np.array(rng.uniform(0.2, 2.0))} for s in _elementwise_shapes(rng, hidden)]


@probe("custom_functions.reverse_gradient", cases=_reversal_cases, scan=("backward",),
       what="GradientReversal")
def _run_reversal(GradientReversal, case):
    x, lam = noncontiguous(case["x"]), float(case["lam"])
    out, grads = call_backward(GradientReversal, (x, lam), case["g"])
    return {"out": out, "grad": grads[0], "n_grads": np.array(len(grads))}


@_run_reversal.judge
def _judge_reversal(out, case, hidden):
    x, g, lam = case["x"], case["g"], float(case["lam"])
    message = (_identity_forward_message(out["out"], x)
               or _one_per_input(out, 2, "GradientReversal"))
    if message:
        return message
    message = compare("the gradient of x", out["grad"], -lam * g, hidden=hidden)
    if message and _matches(out["grad"], lam * g):
        return "the gradient has the wrong sign: reversal multiplies grad by -λ"
    if message and _matches(out["grad"], -g):
        return "the gradient was negated but not scaled: multiply grad by -λ, not only negate it"
    return message


# ---- 5. backward() accumulates into .grad; grad() returns and touches nothing ----------------

def _accumulation_cases(rng, hidden):
    shapes = [(3,)] if not hidden else [(int(rng.integers(1, 5)),), (2, 3), ()]
    return [{"p": rng.uniform(-2, 2, s), "a": rng.standard_normal(s),
             "b": rng.standard_normal(s), "stale": rng.standard_normal(s)} for s in shapes]


def _engine_losses(case):
    """The two losses, built from engine ops: Σ a·tanh(p) and Σ b·p²."""
    a, b = ad.tensor(case["a"]), ad.tensor(case["b"])
    return [lambda p: (a * p.tanh()).sum(), lambda p: (b * p * p).sum()]


def _loss_gradients(case):
    """Their gradients, by differences of the same losses in numpy (each is a sum of
    elementwise terms, so the partials are the elementwise derivatives)."""
    p, a, b = case["p"], case["a"], case["b"]
    return (_stencil(lambda t: a * np.tanh(p + t)), _stencil(lambda t: b * (p + t) ** 2))


def _array(value):
    if value is None:
        return None
    return value.data if isinstance(value, ad.Tensor) else np.asarray(value)


@probe("custom_functions.accumulation", cases=_accumulation_cases, guard=False,
       what="summed_gradient and separate_gradients")
def _run_accumulation(summed_gradient, separate_gradients, case):
    p = ad.tensor(case["p"], requires_grad=True)
    p.grad = ad.tensor(case["stale"])  # left over from "an earlier step"
    summed = _array(summed_gradient(p, _engine_losses(case)))
    after_summed = _array(p.grad)
    p.grad = ad.tensor(case["stale"])
    separate = separate_gradients(p, _engine_losses(case))
    return {"summed": summed, "grad_after_summed": after_summed,
            "separate": np.stack([_array(s) for s in separate]),
            "grad_after_separate": _array(p.grad)}


@_run_accumulation.judge
def _judge_accumulation(out, case, hidden):
    first, second = _loss_gradients(case)
    return (_judge_summed(out, case, first, second, hidden)
            or _judge_separate(out, case, first, second, hidden))


def _judge_summed(out, case, first, second, hidden):
    summed, both = out["summed"], first + second
    if summed is None:
        return "summed_gradient returned None: return p.grad after the .backward() calls"
    message = compare("summed_gradient's result", summed, both, hidden=hidden)
    if message and _matches(summed, case["stale"] + both):
        return ("summed_gradient's result still holds the stale gradient p.grad had on "
                "entry: clear it (p.grad = None) before the first .backward(), as a training "
                "loop zeroes gradients before each step")
    if message and _matches(summed, second):
        return ("summed_gradient returned only the last loss's gradient: .backward() adds "
                "into p.grad, so clearing it between the calls throws the first one away")
    if message and _matches(summed, first):
        return "summed_gradient returned only the first loss's gradient: backward every loss"
    return message or compare("p.grad after summed_gradient", out["grad_after_summed"], both,
                              hidden=hidden)


def _judge_separate(out, case, first, second, hidden):
    after = out["grad_after_separate"]
    if after is None or not np.array_equal(after, case["stale"]):
        what = "cleared" if after is None else "changed"
        return (f"separate_gradients {what} p.grad: grad() returns the gradients and leaves "
                f".grad alone, so do not call .backward() or reset p.grad there")
    separate = out["separate"]
    if separate.shape[0] != 2:
        return (f"separate_gradients returned {separate.shape[0]} gradient(s); expected one "
                f"per loss")
    return (compare("separate_gradients' gradient of the first loss", separate[0], first,
                    hidden=hidden)
            or compare("separate_gradients' gradient of the second loss", separate[1], second,
                       hidden=hidden))


# ---- 6. Cube: a backward that is itself differentiable -------------------------------------

def _cube_cases(rng, hidden):
    # |x| >= 0.2 keeps the second derivative 6x well away from 0, where a relative error
    # says little
    return [{"x": away_from_zero(rng, s, 0.2, 2.0), "u": rng.standard_normal(s),
             "v": rng.standard_normal(s)} for s in _elementwise_shapes(rng, hidden)]


@probe("custom_functions.double_backward", cases=_cube_cases, scan=("backward",),
       guard=False, what="Cube (double backward)")
def _run_cube(Cube, case):
    x = ad.tensor(case["x"], requires_grad=True)
    y = Cube.apply(x)
    plain, = ad.grad(y, x, grad_outputs=case["u"])
    try:
        first, = ad.grad(Cube.apply(x), x, grad_outputs=case["u"], create_graph=True)
    except TypeError as e:
        raise TypeError(f"{e} -- under create_graph=True backward receives Tensors, which "
                        f"np. functions reject: use operators such as * and +") from None
    second = None
    if first.requires_grad:  # recorded on the tape: its backward used Tensor operations
        second, = ad.grad(first, x, grad_outputs=case["v"], allow_unused=True)
    return {"out": y.data, "first_plain": plain.data, "first": first.data,
            "second": _array(second)}


@_run_cube.judge
def _judge_cube(out, case, hidden):
    x, u, v = case["x"], case["u"], case["v"]

    def cube(t):
        return (x + t) ** 3

    message = (compare("the forward output", out["out"], x ** 3, hidden=hidden)
               or compare("the gradient of x (an ordinary backward pass)", out["first_plain"],
                          u * _stencil(cube), hidden=hidden)
               or compare("the gradient of x under create_graph=True", out["first"],
                          u * _stencil(cube), hidden=hidden))
    if message:
        return message
    if out["second"] is None:
        return ("the second derivative is missing: the first derivative was not recorded on "
                "the tape, so backward did not compute with the Tensors that "
                "ctx.saved_tensors hands it under create_graph (did it convert them with "
                ".numpy(), .data, np.asarray, or use a value not saved with "
                "save_for_backward?). Use operators such as * and + on the saved tensors")
    # d/dx <v, u f'(x)> = u v f''(x): the gradient of the first derivative, as the engine
    # computed it by differentiating the student's backward
    return compare("the second derivative", out["second"], u * v * _second_stencil(cube),
                   hidden=hidden)
