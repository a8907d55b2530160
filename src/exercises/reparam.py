"""Probes for the reparameterization assignment: gradients of E_q[f(z)] through a sample.

The student's functions compose the engine's ops (its backward is the point), so these
probes run without the delegation guard; they only refuse other autodiff libraries. Every
probe passes the randomness in (Gaussian noise `eps`, uniform noise `u`), so the student's
output is a deterministic function of the case and is compared with this module's own
numpy, differentiated by the complex step: exact to rounding, where finite differences
would swamp the tiny entries of a peaked softmax or of a per-sample estimate.

The variance experiment also checks what holds only in expectation -- both estimators are
unbiased, the sample variances agree with the exact ones, and for f(z) = z² the
reparameterized estimator has the lower variance -- with bounds from exact moments that a
correct answer fails with probability below `FALSE_FAILURE` per check (see `_bounds`).
"""
import contextlib
import functools
import importlib.abc
import math
import sys

import numpy as np
from numpy.polynomial import polynomial as P

import autodiff as ad

from . import delegation, diagnose
from .diagnose import compare
from .numerics import complex_step_vjp, noncontiguous
from .probes import probe

FALSE_FAILURE = 1e-6   # the most a correct answer may fail one check(...) call, by chance
MAX_TESTS = 100        # statistical tests in one call at most (the cases assert it) ...
DELTA = FALSE_FAILURE / MAX_TESTS  # ... so each may fail with this, by the union bound
ONE_HOT_ATOL = 1e-12   # y_hard - y_soft + y_soft is one-hot up to one rounding


# ---- shared helpers ------------------------------------------------------------------------

class _RefuseOtherAutodiff(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in delegation.FOREIGN:
            raise delegation.Delegated(f"it imported {name}; this assignment is about "
                                       f"autodiff's own ops, not another library's")
        return None


@contextlib.contextmanager
def _only_this_engine():
    """While the student's function runs, importing torch/jax/... raises `Delegated`.
    (`delegation.guard` would also block the engine's backward, which is the point here.)"""
    hidden = {m: sys.modules.pop(m) for m in list(sys.modules)
              if m.split(".")[0] in delegation.FOREIGN}
    finder = _RefuseOtherAutodiff()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        sys.modules.update(hidden)


def _leaf(x):
    return ad.tensor(x, requires_grad=True)


def _grad(t):
    """A leaf's gradient as an array, or None if none reached it."""
    return None if t.grad is None else np.array(t.grad.data)


def _backward(out, upstream):
    """Backpropagate `upstream` if the student's output is a Tensor on the tape with the
    right shape; otherwise leave the gradients None, for the judge to explain."""
    if isinstance(out, ad.Tensor) and out.requires_grad and out.shape == np.shape(upstream):
        out.backward(ad.tensor(upstream))


def _value(x):
    return x.detach().data if isinstance(x, ad.Tensor) else np.asarray(x, dtype=float)


def _outputs(out, **leaves):
    """The student's result (value, whether it is a Tensor) and each leaf's gradient."""
    result = {"value": _value(out), "is_tensor": np.array(isinstance(out, ad.Tensor))}
    result.update({f"grad_{name}": _grad(t) for name, t in leaves.items()})
    return result


def _not_a_tensor(out):
    if not out["is_tensor"]:
        return ("it returned a numpy array, not a Tensor: a gradient can only flow back "
                "through the engine's ops, so build the result from the Tensors you were given")
    return None


def _no_gradient(name, grad, why):
    if grad is None:
        return f"no gradient reaches {name} (it is None): {why}"
    if not np.any(grad):
        return f"the gradient of {name} is zero everywhere: {why}"
    return None


def _same(got, want):
    got = None if got is None else np.asarray(got)
    return (got is not None and got.shape == np.shape(want)
            and compare("", got, want, hidden=True) is None)


def _first_match(got, mistakes):
    """The message of the first likely mistake whose output `got` reproduces."""
    return next((message for message, want in mistakes if _same(got, want)), None)


# ---- part 1: z = μ + σ·ε --------------------------------------------------------------------

def _sample_forward(mu, log_sigma, eps):
    return mu + np.exp(log_sigma) * eps


def _sample_shapes(rng, hidden):
    """(μ, log σ, ε) shapes: per-element σ, one shared σ, 0-d, broadcasting both ways."""
    if not hidden:
        return [((3,), (3,), (4, 3)), ((2,), (), (5, 2))]
    n, d, r = (int(v) for v in rng.integers(1, 5, size=3))
    return [((d,), (d,), (n, d)), ((), (), (n,)), ((1, d), (r, 1), (n, r, d)),
            ((d,), (1,), (n, d)), ((r, d), (r, d), (1, r, d))]


def _sample_cases(rng, hidden):
    cases = []
    for s_mu, s_ls, s_eps in _sample_shapes(rng, hidden):
        cases.append({"mu": rng.standard_normal(s_mu),
                      "log_sigma": rng.uniform(-1.0, 1.0, size=s_ls),
                      "eps": rng.standard_normal(s_eps),
                      "g": rng.standard_normal(np.broadcast_shapes(s_mu, s_ls, s_eps))})
    return cases


@probe("reparam.sample", cases=_sample_cases, guard=False, what="sample_gaussian")
def _run_sample(sample_gaussian, case):
    mu, log_sigma = _leaf(case["mu"]), _leaf(case["log_sigma"])
    with _only_this_engine():
        z = sample_gaussian(mu, log_sigma, noncontiguous(case["eps"]))
        _backward(z, case["g"])
    return _outputs(z, mu=mu, log_sigma=log_sigma)


@_run_sample.judge
def _judge_sample(out, case, hidden):
    mu, log_sigma, eps, g = case["mu"], case["log_sigma"], case["eps"], case["g"]
    wrong_value = compare("z", out["value"], _sample_forward(mu, log_sigma, eps), hidden=hidden)
    if wrong_value:
        return _first_match(out["value"], [
            ("z uses log_sigma as if it were σ; the standard deviation is σ = exp(log_sigma)",
             mu + log_sigma * eps),
            ("z uses exp(log_sigma / 2), as if log_sigma were log σ²; here it is log σ, so "
             "σ = exp(log_sigma)", mu + np.exp(log_sigma / 2) * eps),
            ("z is missing the mean: z = μ + σ·ε", np.exp(log_sigma) * eps),
        ]) or wrong_value
    want_mu, want_log_sigma = complex_step_vjp(
        lambda m, s: _sample_forward(m, s, eps), [mu, log_sigma], g)
    return (_not_a_tensor(out)
            or _no_gradient("mu", out["grad_mu"], "compute z from mu itself with the "
                            "engine's ops, not from mu.data or a copy of it")
            or _no_gradient("log_sigma", out["grad_log_sigma"], "did you detach σ, or "
                            "build it from log_sigma.data? The point of z = μ + σ·ε is that σ "
                            "stays on the tape, so that the gradient reaches it")
            or compare("the gradient of mu", out["grad_mu"], want_mu, hidden=hidden)
            or compare("the gradient of log_sigma", out["grad_log_sigma"], want_log_sigma,
                       hidden=hidden))


# ---- part 2: the score-function surrogate -------------------------------------------------------

def _log_q(z, mu, log_sigma):
    return -0.5 * ((z - mu) * np.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi)


def _surrogates(z, fz):
    """(mistake, numpy surrogate whose gradient it is) for the right answer and the usual
    wrong ones; the gradient, not the value, is what is judged (constants are free)."""
    n = z.shape[0]
    return {
        "right": lambda m, s: np.sum(fz * _log_q(z, m, s)) / n,
        "the f(z) factor is missing: the estimator is the mean of f(z)·∇log q, and without "
        "f(z) it estimates ∇E[1] = 0": lambda m, s: np.sum(_log_q(z, m, s)) / n,
        "it weights f(z) by ∇q instead of ∇log q = ∇q / q: the surrogate is "
        "f(z)·log q(z), not f(z)·q(z)": lambda m, s: np.sum(fz * np.exp(_log_q(z, m, s))) / n,
    }


def _score_shapes(rng, hidden):
    """(μ, log σ, samples) shapes: the parameters' shapes, broadcast, 0-d, one sample."""
    if not hidden:
        return [((3,), (3,), 5), ((), (), 4)]
    n, d, r = (int(v) for v in rng.integers(2, 6, size=3))
    return [((d,), (d,), n), ((), (), 1), ((r, d), (r, d), n), ((d,), (1,), n)]


def _score_cases(rng, hidden):
    cases = []
    for s_mu, s_ls, n in _score_shapes(rng, hidden):
        mu, log_sigma = rng.standard_normal(s_mu), rng.uniform(-0.5, 0.5, size=s_ls)
        z = _sample_forward(mu, log_sigma, rng.standard_normal((n,) + np.broadcast_shapes(
            s_mu, s_ls)))
        a, b = rng.standard_normal(2)
        cases.append({"mu": mu, "log_sigma": log_sigma, "z": z, "fz": (z - a) ** 2 + b,
                      "c": rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0])})
    return cases


@probe("reparam.score", cases=_score_cases, guard=False, what="score_function_surrogate")
def _run_score(score_function_surrogate, case):
    mu, log_sigma = _leaf(case["mu"]), _leaf(case["log_sigma"])
    with _only_this_engine():
        loss = score_function_surrogate(mu, log_sigma, noncontiguous(case["z"]),
                                        noncontiguous(case["fz"]))
        if isinstance(loss, ad.Tensor) and loss.data.size == 1:
            _backward(loss, np.full(loss.shape, case["c"]))
    return _outputs(loss, mu=mu, log_sigma=log_sigma)


@_run_score.judge
def _judge_score(out, case, hidden):
    mu, log_sigma, c = case["mu"], case["log_sigma"], case["c"]
    if _not_a_tensor(out):
        return _not_a_tensor(out)
    if np.size(out["value"]) != 1:
        shown = "" if hidden else f" (it has shape {np.shape(out['value'])})"
        return (f"return one number{shown}: the surrogate (1/n) Σ_k Σ_i f(z_ki) log q(z_ki), "
                f"averaged over the n samples and summed over the elements")
    missing = (_no_gradient("mu", out["grad_mu"], "compute log q(z; μ, σ) from mu with the "
                            "engine's ops (z and f(z) are fixed numbers)")
               or _no_gradient("log_sigma", out["grad_log_sigma"], "compute log q(z; μ, σ) "
                               "from log_sigma with the engine's ops; did you detach σ?"))
    if missing:
        return missing
    surrogates = _surrogates(case["z"], case["fz"])
    want_mu, want_log_sigma = complex_step_vjp(surrogates.pop("right"), [mu, log_sigma], c)
    if np.shape(out["grad_mu"]) == np.shape(mu) and np.shape(out["grad_log_sigma"]) == (
            np.shape(log_sigma)):
        got = np.concatenate([np.ravel(out["grad_mu"]), np.ravel(out["grad_log_sigma"])])
        for mistake, surrogate in surrogates.items():
            grads = complex_step_vjp(surrogate, [mu, log_sigma], c)
            if _same(got, np.concatenate([g.ravel() for g in grads])):
                return mistake
    return (compare("the gradient of mu", out["grad_mu"], want_mu, hidden=hidden)
            or compare("the gradient of log_sigma", out["grad_log_sigma"], want_log_sigma,
                       hidden=hidden))


# ---- part 3: the variance experiment ----------------------------------------------------------

N_SAMPLES = 100_000  # enough that the bounds below prove the variance ordering for f(z) = z²
SQUARE = (0.0, 0.0, 1.0)  # f(z) = z², coefficients in ascending order


def _polynomial(coeffs, z):
    """Σ_k coeffs[k] z^k by Horner's rule, with + and * only: floats, complex arrays and
    Tensors alike."""
    out = 0.0
    for c in reversed(coeffs):
        out = out * z + float(c)
    return out


def _estimates(mu, log_sigma, coeffs, eps, h=1e-30):
    """Both estimators' per-sample estimates, each (2, n, *S): [∂/∂μ, ∂/∂log σ].

    By the complex step, elementwise: sample k's estimate depends on its own element only,
    so perturbing every element at once gives every sample's derivative in one evaluation.
    """
    sigma = np.exp(log_sigma)
    z = mu + sigma * eps
    fz = _polynomial(coeffs, z)
    reparam = np.stack([_polynomial(coeffs, mu + 1j * h + sigma * eps).imag / h,
                        _polynomial(coeffs, mu + np.exp(log_sigma + 1j * h) * eps).imag / h])
    score = np.stack([fz * _log_q(z, mu + 1j * h, log_sigma).imag / h,
                      fz * _log_q(z, mu, log_sigma + 1j * h).imag / h])
    return reparam, score


# Moments: with f a polynomial, each per-sample estimate is a polynomial in ε ~ N(0, 1),
# so its moments are sums of the Gaussian moments E ε^k = (k-1)!! (k even): exact up to
# float rounding (~1e-13 relative here), far inside the slack of the bounds.

def _expectation(p):
    moments = [math.prod(range(1, k, 2)) if k % 2 == 0 else 0 for k in range(len(p))]
    return float(np.dot(p, moments))


def _compose(coeffs, inner):
    """The polynomial coeffs(inner(ε)), coefficients in ascending order."""
    out = np.zeros(1)
    for c in reversed(coeffs):
        out = P.polyadd(P.polymul(out, inner), [c])
    return out


def _centered_square(p):
    """((p - E p)², E p)."""
    m = _expectation(p)
    centered = P.polysub(p, [m])
    return P.polymul(centered, centered), m


@functools.lru_cache(maxsize=4096)
def _bounds(coeffs, mu, sigma, n):
    """{(estimator, parameter index): (mean m, variance v, t_mean, t_low, t_high)} of n iid
    per-sample estimates X = p(ε) for one element, z = μ + σε.

    Each test fails a correct estimator with probability at most DELTA:
    * |X̄ - m| ≥ t_mean: Markov on the fourth moment E(X̄ - m)⁴ = (μ₄ + 3(n-1)v²)/n³;
    * with Y = (X - m)² ≥ 0, whose mean Ȳ has E Ȳ = v (the variance about the exact mean):
      Ȳ ≥ v + t_high by the same Markov bound with Y's moments, and Ȳ ≤ v - t_low by
      exp(-n t²/(2 E Y²)), since e^{-x} ≤ 1 - x + x²/2 for x ≥ 0 (and E Y² = μ₄).
    A normal-approximation z-bound would be tighter but is not safe here: Y is a
    polynomial of degree up to 8 in ε, and a single large ε moves Ȳ further than the normal
    tail allows long before the central limit theorem takes over.
    """
    z = np.array([mu, sigma])
    f, df = _compose(coeffs, z), _compose(P.polyder(coeffs), z)
    polys = {("reparam", 0): df, ("reparam", 1): P.polymul(df, [0, sigma]),  # f'(z)·σε
             ("score", 0): P.polymul(f, [0, 1 / sigma]),  # f(z)·∂log q/∂μ = f(z)·ε/σ
             ("score", 1): P.polymul(f, [-1, 0, 1])}  # f(z)·∂log q/∂log σ = f(z)·(ε² - 1)

    def markov(second, fourth):
        return ((fourth + 3 * (n - 1) * second ** 2) / n ** 3 / DELTA) ** 0.25

    found = {}
    for key, p in polys.items():
        q2, m = _centered_square(p)
        y2, v = _centered_square(q2)
        mu4, var_y, mu4_y = _expectation(P.polymul(q2, q2)), _expectation(y2), _expectation(
            P.polymul(y2, y2))
        found[key] = (m, v, markov(v, mu4), math.sqrt(2 * mu4 * math.log(1 / DELTA) / n),
                      markov(var_y, mu4_y))
    return found


def _element_bounds(mu, log_sigma, coeffs, n):
    """{(estimator, parameter index, element index): _bounds(...)} for every element."""
    sigma, coeffs = np.exp(log_sigma), tuple(float(c) for c in coeffs)
    return {(est, k, e): b for e in np.ndindex(np.shape(mu))
            for (est, k), b in _bounds(coeffs, float(mu[e]), float(sigma[e]), n).items()}


def _case_bounds(case):
    return _element_bounds(case["mu"], case["log_sigma"], case["coeffs"], case["eps"].shape[0])


def _ordering_is_proven(bounds):
    """True if, whenever every test passes, the reparameterized sample variance is below
    the score function's, for each parameter and element."""
    return all(bounds["reparam", k, e][1] + bounds["reparam", k, e][4]
               < bounds["score", k, e][1] - bounds["score", k, e][3]
               for (est, k, e) in bounds if est == "reparam")


def _variance_cases(rng, hidden):
    specs = [((2,), SQUARE)] if not hidden else [((3,), SQUARE),
                                                 ((), tuple(rng.standard_normal(3)))]
    cases = []
    for shape, coeffs in specs:
        ordered = coeffs == SQUARE
        while True:  # redraw the parameters (never the noise) until the ordering is proven
            mu = rng.uniform(-1.0, 1.0, size=shape)
            log_sigma = rng.uniform(-0.3, 0.3, size=shape)
            if not ordered or _ordering_is_proven(_element_bounds(mu, log_sigma, coeffs,
                                                                  N_SAMPLES)):
                break
        cases.append({"mu": mu, "log_sigma": log_sigma, "coeffs": np.array(coeffs),
                      "eps": rng.standard_normal((N_SAMPLES,) + shape),
                      "ordered": np.array(ordered)})
    tests = sum(3 * 4 * max(1, int(np.prod(c["eps"].shape[1:]))) for c in cases)
    assert tests <= MAX_TESTS, f"{tests} statistical tests in one call; raise MAX_TESTS"
    return cases


@probe("reparam.variance", cases=_variance_cases, guard=False, what="gradient_estimates")
def _run_variance(gradient_estimates, case):
    coeffs = case["coeffs"]
    with _only_this_engine():
        reparam, score = gradient_estimates(noncontiguous(case["mu"]),
                                            noncontiguous(case["log_sigma"]),
                                            lambda z: _polynomial(coeffs, z),
                                            noncontiguous(case["eps"]))
    return {"reparam": _value(reparam), "score": _value(score)}


ESTIMATOR = {"reparam": "reparameterized", "score": "score-function"}
PARAMETER = ("∂/∂μ", "∂/∂log σ")


@_run_variance.judge
def _judge_variance(out, case, hidden):
    mu, log_sigma, eps = case["mu"], case["log_sigma"], case["eps"]
    want = dict(zip(("reparam", "score"), _estimates(mu, log_sigma, case["coeffs"], eps)))
    for est in want:
        message = compare(f"the {ESTIMATOR[est]} estimates", out[est], want[est],
                          hidden=hidden, tol=np.inf)  # shape and NaN only; values below
        if message:
            return message + " (row 0: ∂/∂μ, row 1: ∂/∂log σ, one column per sample)"
    if _samples_match(out["reparam"], want["score"]) and _samples_match(out["score"],
                                                                        want["reparam"]):
        return ("the two estimators are swapped: the reparameterized estimate differentiates "
                "f(μ + σε) through the sample, the score-function one is f(z)·∇log q(z)")
    sigma = np.exp(log_sigma)
    per_sigma = "that is ∂/∂σ, but the parameter is log σ: ∂/∂log σ = σ·∂/∂σ"
    mistakes = {("reparam", 1): [(per_sigma, want["reparam"][1] / sigma)],
                ("score", 0): [("the f(z) factor is missing", eps / sigma)],
                ("score", 1): [(per_sigma, want["score"][1] / sigma),
                               ("the f(z) factor is missing", eps ** 2 - 1)]}
    for est in want:
        for k, parameter in enumerate(PARAMETER):
            what = f"the {ESTIMATOR[est]} estimates of {parameter}"
            if not _samples_match(out[est][k], want[est][k]):
                mistake = next((m for m, w in mistakes.get((est, k), [])
                                if _samples_match(out[est][k], w)), None)
                return (f"{what}: {mistake}" if mistake else
                        _samples_message(what, out[est][k], want[est][k], hidden))
    return _judge_statistics(out, case, hidden)


def _max_norm_error(got, want):
    """max |got - want| / max |want|: relative to the array's scale, not elementwise, since
    many of n per-sample estimates are near zero (ε² ≈ 1, z ≈ 0), where rounding in a
    correct answer is large relative to the entry itself."""
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def _samples_match(got, want):
    got = np.asarray(got, dtype=float)
    return got.shape == np.shape(want) and _max_norm_error(got, want) <= diagnose.TOLERANCE


def _samples_message(what, got, want, hidden):
    got = np.asarray(got, dtype=float)
    scale = np.vdot(got, want) / max(np.vdot(want, want), 1e-300)
    if abs(scale) > 1e-12 and _samples_match(got, scale * want):
        return (f"{what} have the wrong sign" if abs(scale + 1) < 1e-6 else
                f"{what} are off by a constant factor of {scale:.3g}")
    err = _max_norm_error(got, want)
    message = f"{what} are wrong: error {err:.1e} relative to the largest (tolerance " \
              f"{diagnose.TOLERANCE:.0e})"
    if hidden:
        return message
    k = int(np.argmax(np.abs(got - want).reshape(len(got), -1).max(axis=1)))
    return f"{message}; for sample {k} expected {np.ravel(want[k])}, got {np.ravel(got[k])}"


def _judge_statistics(out, case, hidden):
    """What holds in expectation, tested on the student's per-sample estimates with the
    bounds of `_bounds`. An answer that matched the deterministic check above fails here
    only by chance (< FALSE_FAILURE per call); these state what the experiment shows."""
    spread = {}
    for (est, k, e), (m, v, t_mean, t_low, t_high) in _case_bounds(case).items():
        x = np.asarray(out[est][k], dtype=float)[(slice(None),) + e]  # one element's samples
        what = f"the {ESTIMATOR[est]} estimates of {PARAMETER[k]}"
        if e and not hidden:
            what += f" (element {e})"
        chance = f"a correct estimator strays this far with probability below {DELTA:.0e}"
        if abs(x.mean() - m) > t_mean:
            if hidden:
                return f"{what} average far from the exact gradient: {chance}, so they are biased"
            return (f"{what} average {x.mean():.4g}, but the exact gradient is {m:.4g}: "
                    f"{chance}, so they are biased")
        spread[est, k, e] = np.mean((x - m) ** 2)
        if not v - t_low <= spread[est, k, e] <= v + t_high:
            if hidden:
                return f"the variance of {what} is far from the exact one: {chance}"
            return (f"the variance of {what} is {spread[est, k, e]:.4g}, but the exact one is "
                    f"{v:.4g}: {chance}")
    if case["ordered"]:
        for (est, k, e), s in spread.items():
            if est == "reparam" and not s < spread["score", k, e]:
                return (f"for f(z) = z² the reparameterized estimator of {PARAMETER[k]} should "
                        f"have the lower variance, but yours has the higher")
    return None


# ---- parts 4 and 5: Gumbel-softmax and straight-through Gumbel --------------------------------

def _gumbel_noise(u):
    return -np.log(-np.log(u))


def _soft_sample(logits, u, tau):
    """softmax((logits + g) / τ) over the last axis, shifted by the (real) max."""
    x = (logits + _gumbel_noise(u)) / tau
    e = np.exp(x - x.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _gumbel_shapes(rng, hidden):
    """(logits shape, offset): one or several rows; an offset of 1000 overflows an exp that
    is not shifted by the max (softmax does not change when every logit moves together)."""
    if not hidden:
        return [((2, 4), 0.0), ((3,), 1000.0)]
    b, k = int(rng.integers(1, 4)), int(rng.integers(2, 6))
    return [((k,), 0.0), ((b, k), 0.0), ((b, 1, k), 0.0), ((b, k), 1000.0)]


def _temperature(rng):
    """τ in [0.3, 0.7] or [1.4, 2]: far from 1, where multiplying by τ would look right."""
    tau = rng.uniform(0.3, 0.7)
    return tau if rng.random() < 0.5 else 1 / tau


def _gumbel_cases(rng, hidden):
    cases = []
    for shape, offset in _gumbel_shapes(rng, hidden):
        logits = rng.standard_normal(shape) + offset
        while True:  # no near-ties of logits + g: the argmax is unambiguous
            u = rng.uniform(1e-3, 1 - 1e-3, size=shape)
            top2 = np.sort(logits + _gumbel_noise(u), axis=-1)[..., -2:]
            if np.all(top2[..., 1] - top2[..., 0] > 1e-3):
                break
        cases.append({"logits": logits, "u": u,
                      "tau": 0.5 if not hidden else _temperature(rng),
                      "g": rng.standard_normal(shape)})
    return cases


def _run_gumbel_like(fn, case):
    logits = _leaf(case["logits"])
    with _only_this_engine():
        y = fn(logits, noncontiguous(case["u"]), float(case["tau"]))
        _backward(y, case["g"])
    return _outputs(y, logits=logits)


def _soft_gradient(case):
    u, tau = case["u"], case["tau"]
    # the same gradient at logits shifted to mean zero: softmax ignores the shift, and the
    # complex step then needs no digits for the offset
    logits = case["logits"] - case["logits"].mean(axis=-1, keepdims=True)
    return complex_step_vjp(lambda x: _soft_sample(x, u, tau), [logits], case["g"])[0]


@probe("reparam.gumbel", cases=_gumbel_cases, guard=False, what="gumbel_softmax")
def _run_gumbel(gumbel_softmax, case):
    return _run_gumbel_like(gumbel_softmax, case)


@_run_gumbel.judge
def _judge_gumbel(out, case, hidden):
    logits, u, tau = case["logits"], case["u"], case["tau"]
    y = out["value"]
    wrong_value = compare("the sample y", y, _soft_sample(logits, u, tau), hidden=hidden)
    if wrong_value:
        noise = _gumbel_noise(u)
        mistakes = [
            ("the Gumbel noise has the wrong sign: g = -log(-log u)",
             _soft_sample(logits - 2 * noise, u, tau)),
            ("the temperature multiplies the logits; it divides them: softmax((logits + g) / τ)",
             _soft_sample(logits, u, 1 / tau)),
            ("no Gumbel noise was added: y = softmax((logits + g) / τ) with g = -log(-log u)",
             _soft_sample(logits - noise, u, tau)),
            ("the noise is -log u (exponential); Gumbel noise is g = -log(-log u)",
             _soft_sample(logits - noise - np.log(u), u, tau)),
        ]
        if np.ndim(logits) >= 2 and np.shape(logits)[0] > 1:
            x = (logits + noise) / tau
            e = np.exp(x - x.max(axis=0))
            mistakes.append(("the softmax runs over the wrong axis: the categories are on the "
                             "last one (dim=-1)", e / e.sum(axis=0)))
        return _first_match(y, mistakes) or wrong_value
    return (_not_a_tensor(out)
            or _no_gradient("the logits", out["grad_logits"], "build y from logits with the "
                            "engine's ops (the noise g needs no gradient)")
            or compare("the gradient of logits", out["grad_logits"], _soft_gradient(case),
                       hidden=hidden))


@probe("reparam.straight_through", cases=_gumbel_cases, guard=False,
       what="straight_through_gumbel")
def _run_straight_through(straight_through_gumbel, case):
    return _run_gumbel_like(straight_through_gumbel, case)


@_run_straight_through.judge
def _judge_straight_through(out, case, hidden):
    logits, u, tau = case["logits"], case["u"], case["tau"]
    soft = _soft_sample(logits, u, tau)
    hard = np.eye(soft.shape[-1])[np.argmax(soft, axis=-1)]
    y = out["value"]
    wrong_shape = compare("the sample y", y, hard, hidden=hidden, tol=np.inf)
    if wrong_shape:
        return wrong_shape
    one_hot = np.all((np.abs(y) <= ONE_HOT_ATOL) | (np.abs(y - 1) <= ONE_HOT_ATOL)) and np.all(
        np.abs(y.sum(axis=-1) - 1) <= ONE_HOT_ATOL)
    if not one_hot:
        if _same(y, soft):
            return ("the forward pass returns the soft sample; straight-through returns its "
                    "one-hot (a 1 at the argmax) forward and the soft sample's gradient backward")
        return "the forward pass is not one-hot: each row must be 0 everywhere but one 1"
    if np.max(np.abs(y - hard)) > ONE_HOT_ATOL:
        return ("the forward pass is one-hot, but not at the largest entry of the soft sample "
                "(the argmax of logits + g)")
    return (_not_a_tensor(out)
            or _no_gradient("the logits", out["grad_logits"], "argmax has no gradient, so the "
                            "backward must be the soft sample's: y_hard + y_soft - "
                            "y_soft.detach() has y_hard's value and y_soft's gradient")
            or compare("the gradient of logits (the soft sample's)", out["grad_logits"],
                       _soft_gradient(case), hidden=hidden))
