"""The reparameterization assignment (solutions/reparam/reparam.ipynb), as graded.

- graded by real plain nbgrader: the reference scores full marks, the untouched student
  version 0, and each known-wrong answer loses exactly the parts its entry names;
- calibrated: the reference passes every probe on many seeds with a tolerance 100× tighter
  than the one used in grading; the statistical tests of the variance experiment fail a
  correct estimator with probability below 1e-6 per check (the bound is tested, and a
  correct estimator passes them on hundreds of fresh noise draws), yet catch a biased one;
- teaching: the visible check of each realistic mistake names it, hidden checks show no
  shapes or values of hidden inputs;
- delegation: the student's code may (must) use the engine's backward, but a part that
  imports another autodiff library scores 0 with a message saying so.
"""
import re
import sys

import numpy as np
import pytest

from autograder import notebooks
from exercises import diagnose, probes, reparam
from exercises.probes import check
from assignment_suite import Assignment, Contract, checks
from reference_ns import reference_namespace

ASSIGNMENT = "reparam"
A = Assignment(ASSIGNMENT)


class TestContract(Contract):
    assignment = A


PROBE_OF_CELL = {gid: checks(c.source)[0][0] for gid, c in A.test_cells.items()}
SOLUTION_OF_PROBE = {"reparam.sample": "sample", "reparam.score": "score",
                     "reparam.variance": "variance", "reparam.gumbel": "gumbel",
                     "reparam.straight_through": "straight_through"}


@pytest.fixture(scope="module")
def reference():
    return reference_namespace(ASSIGNMENT)


def _with_cell(reference, cell, text):
    """The reference's namespace with one solution cell replaced by `text` (exec'd on top,
    so that the notebook's experiment cell does not run the replaced function)."""
    ns = dict(reference)
    exec(compile(text, f"<{cell} edited>", "exec"), ns)
    return ns


def _edited(cell, old, new):
    text = notebooks.strip_solution_markers(A.cells[cell].source)
    assert text.count(old) == 1, (cell, old)
    return text.replace(old, new)


# ---- the notebook's shape ------------------------------------------------------------------

def test_five_parts_each_one_visible_check_that_lets_the_engine_backward_run():
    assert set(A.test_cells) == {"test_sample", "test_score", "test_variance", "test_gumbel",
                                 "test_straight_through"}
    assert set(PROBE_OF_CELL.values()) == set(SOLUTION_OF_PROBE)
    for gid, cell in A.test_cells.items():
        visible = checks(notebooks.strip_hidden(cell.source))
        assert len(visible) == 1, gid
        assert probes.get(visible[0][0]).guard is False  # the engine's backward is the point


# ---- calibration ---------------------------------------------------------------------------

@pytest.mark.parametrize("probe_name", A.probe_names)
def test_reference_passes_with_a_hundredfold_tighter_tolerance(probe_name, reference,
                                                                monkeypatch):
    """20 seeds plus the notebook's own hidden seed, at 1e-8: the reference's error is at
    least 100× inside the grading tolerance. (The expected values are complex-step
    derivatives of numpy forwards, exact to rounding, so only the reference's own rounding
    is measured.)"""
    monkeypatch.setattr(diagnose, "TOLERANCE", diagnose.TOLERANCE / 100)
    objects = A.objects(reference, probe_name)
    check(probe_name, *objects)
    for seed in [A.hidden_seeds[probe_name], *range(1, 21)]:
        check(probe_name, *objects, seed=seed)


def test_complex_step_oracle_matches_closed_forms():
    rng = np.random.default_rng(3)
    mu, log_sigma = rng.standard_normal(3), rng.standard_normal(3)
    eps = rng.standard_normal((4, 3))
    g = rng.standard_normal((4, 3))
    got_mu, got_log_sigma = reparam.complex_step_vjp(
        lambda m, s: reparam._sample_forward(m, s, eps), [mu, log_sigma], g)
    np.testing.assert_allclose(got_mu, g.sum(0), rtol=1e-14)
    np.testing.assert_allclose(got_log_sigma, (g * np.exp(log_sigma) * eps).sum(0), rtol=1e-14)
    reparam_, score = reparam._estimates(mu, log_sigma, reparam.SQUARE, eps)
    z = mu + np.exp(log_sigma) * eps
    np.testing.assert_allclose(reparam_, [2 * z, 2 * z * np.exp(log_sigma) * eps], rtol=1e-14)
    np.testing.assert_allclose(score, [z ** 2 * eps / np.exp(log_sigma), z ** 2 * (eps ** 2 - 1)],
                               rtol=1e-13)


# ---- the statistical tests of the variance experiment ----------------------------------------

def _variance_calls(seeds):
    return [probes.make_cases("reparam.variance", seed) for seed in seeds]


def test_the_statistical_bound_is_below_one_in_a_million_per_check():
    """Each test may fail a correct estimator with probability DELTA (proved in
    `reparam._bounds`); a check runs at most MAX_TESTS of them, so by the union bound it
    fails a correct answer with probability ≤ MAX_TESTS · DELTA = 1e-6. For f(z) = z² the
    bounds also prove the variance ordering: where every test passes, it holds."""
    assert reparam.MAX_TESTS * reparam.DELTA <= 1e-6
    for cases in _variance_calls([None, A.hidden_seeds["reparam.variance"], *range(10)]):
        tests = sum(3 * len(reparam._case_bounds(c)) for c in cases)
        assert tests <= reparam.MAX_TESTS
        for case in cases:
            bounds = reparam._case_bounds(case)
            if case["ordered"]:
                assert reparam._ordering_is_proven(bounds)
            for m, v, t_mean, t_low, t_high in bounds.values():
                assert 0 < t_low and 0 < t_mean and 0 < t_high and v > 0


def test_a_correct_estimator_passes_the_statistics_on_hundreds_of_fresh_noise_draws():
    """The host's own exact per-sample estimates on 300 seeds' noise: no failure. (With a
    false-failure probability ≤ 1e-6 per check, the chance of any here is ≤ 3e-4; the
    bounds are loose enough that in practice the margin is wide, see the next test.)"""
    failures = []
    for seed in range(1000, 1300):
        for case in probes.make_cases("reparam.variance", seed):
            est = dict(zip(("reparam", "score"), reparam._estimates(
                case["mu"], case["log_sigma"], case["coeffs"], case["eps"])))
            message = reparam._judge_statistics(est, case, hidden=True)
            if message:
                failures.append((seed, message))
    assert failures == []


def test_the_statistics_catch_a_biased_estimator_and_a_reversed_ordering():
    """They are not vacuous: an estimator shifted by twice its bound is called biased; a
    'reparameterized' estimator with the score function's variance breaks the ordering or
    the variance bound."""
    case = probes.make_cases("reparam.variance")[0]
    est = dict(zip(("reparam", "score"), reparam._estimates(
        case["mu"], case["log_sigma"], case["coeffs"], case["eps"])))
    t_mean = reparam._case_bounds(case)["reparam", 0, (0,)][2]
    biased = {"reparam": est["reparam"] + np.array([2 * t_mean, 0])[:, None, None],
              "score": est["score"]}
    assert "biased" in reparam._judge_statistics(biased, case, hidden=False)
    hidden_message = reparam._judge_statistics(biased, case, hidden=True)
    assert "biased" in hidden_message and _hidden_numbers(hidden_message) == []
    swapped = {"reparam": est["score"], "score": est["reparam"]}
    assert re.search("variance|lower variance", reparam._judge_statistics(swapped, case,
                                                                          hidden=True))


# ---- messages ------------------------------------------------------------------------------

VISIBLE_MESSAGES = {
    "σ where log σ was meant": r"z uses log_sigma as if it were σ.*σ = exp\(log_sigma\)",
    "the sample detaches σ": r"no gradient reaches log_sigma \(it is None\): did you detach σ",
    "σ built from .data": r"no gradient reaches log_sigma.*log_sigma\.data",
    "score function with the wrong sign": r"gradient of mu has the wrong sign",
    "score function without the f(z) factor": r"the f\(z\) factor is missing",
    "score function weighted by ∇q instead of ∇log q":
        r"weights f\(z\) by ∇q instead of ∇log q",
    "log q without the ½: a gradient off by a factor of 2":
        r"gradient of mu is off by a constant factor of 2\b",
    "the two estimators swapped": r"the two estimators are swapped",
    "score estimate of ∂/∂σ where ∂/∂log σ was meant":
        r"score-function estimates of ∂/∂log σ: that is ∂/∂σ",
    "the experiment delegates to another autodiff library":
        r"scored 0 because it imported jax; this assignment is about autodiff's own ops",
    "Gumbel noise with the wrong sign": r"Gumbel noise has the wrong sign: g = -log\(-log u\)",
    "temperature multiplied instead of divided": r"temperature multiplies the logits; it divides",
    "softmax without the max-shift": r"case 2 of 2\): the sample y contains NaN or inf.*"
                                     r"subtract the max",
    "straight-through that returns the soft sample forward":
        r"forward pass returns the soft sample; straight-through returns its one-hot",
    "straight-through without a gradient": r"no gradient reaches the logits.*"
                                           r"y_hard \+ y_soft - y_soft\.detach\(\)",
}

# Further realistic mistakes, not in the graded corpus: (cell, old, new, message).
MORE_MISTAKES = {
    "log σ taken for log σ²": ("sample", "sigma = log_sigma.exp()",
                               "sigma = (log_sigma / 2).exp()", r"as if log_sigma were log σ²"),
    "the mean forgotten": ("sample", "return mu + sigma * eps", "return sigma * eps",
                           r"z is missing the mean"),
    "a numpy array returned": ("sample", "return mu + sigma * eps",
                               "return (mu + sigma * eps).detach().numpy()",
                               r"returned a numpy array, not a Tensor"),
    "μ built from .data": ("sample", "return mu + sigma * eps",
                           "return mu.data + sigma * eps", r"no gradient reaches mu"),
    "surrogate averaged over every element": (
        "score", "return (fz * log_q).sum() / n", "return (fz * log_q).mean()",
        r"gradient of mu is off by a constant factor of 0\.333"),
    "surrogate left per sample": ("score", "return (fz * log_q).sum() / n",
                                  "return (fz * log_q).mean(0)",
                                  r"return one number \(it has shape \(3,\)\)"),
    "reparameterized ∂/∂σ": ("variance", "log_sigma_k.grad.numpy()",
                             "log_sigma_k.grad.numpy() / np.exp(log_sigma)",
                             r"reparameterized estimates of ∂/∂log σ: that is ∂/∂σ"),
    "score estimate without f(z)": ("variance", "fz * eps / sigma", "eps / sigma",
                                    r"score-function estimates of ∂/∂μ: the f\(z\) factor"),
    "exponential noise": ("gumbel", "g = -np.log(-np.log(u))", "g = -np.log(u)",
                          r"the noise is -log u \(exponential\)"),
    "no noise": ("gumbel", "g = -np.log(-np.log(u))", "g = 0.0", r"no Gumbel noise was added"),
    "softmax over the batch axis": ("gumbel", "dim=-1", "dim=0", r"over the wrong axis"),
    "straight-through without detach": (
        "straight_through", "return y_hard - y_soft.detach() + y_soft",
        "return y_hard - y_soft + y_soft", r"gradient of the logits is zero everywhere"),
    "one-hot at the argmin": ("straight_through", ".argmax(axis=-1)", ".argmin(axis=-1)",
                              r"one-hot, but not at the largest entry"),
}


@pytest.mark.parametrize("wrong", A.wrong, ids=[w.name for w in A.wrong])
def test_visible_message_names_the_mistake(wrong, reference):
    ns = _with_cell(reference, wrong.cell, _edited(wrong.cell, wrong.old, wrong.new))
    message = A.message(ns, PROBE_OF_CELL[wrong.breaks[0]])
    assert re.search(VISIBLE_MESSAGES[wrong.name], message), message


@pytest.mark.parametrize("name", sorted(MORE_MISTAKES))
def test_visible_message_names_more_mistakes(name, reference):
    cell, old, new, pattern = MORE_MISTAKES[name]
    ns = _with_cell(reference, cell, _edited(cell, old, new))
    probe_name = next(p for p, c in SOLUTION_OF_PROBE.items() if c == cell)
    message = A.message(ns, probe_name)
    assert re.search(pattern, message), message


def _hidden_numbers(message):
    """Numbers in a hidden message other than 'case i of n', the bounds, and measures of
    the student's own output (its error, a constant factor)."""
    message = re.sub(r"hidden case \d+ of \d+", "", message)
    message = re.sub(r"probability \de-\d+|factor of [\d.]+|tolerance \de-\d+|"
                     r"error [\d.e+-]+", "", message)
    return re.findall(r"\d+\.\d+|\(\d+,[\d, ]*\)", message)  # values and shapes


@pytest.mark.parametrize("case", [*[(w.cell, w.old, w.new) for w in A.wrong],
                                  *[m[:3] for m in MORE_MISTAKES.values()]],
                         ids=[*[w.name for w in A.wrong], *MORE_MISTAKES])
def test_hidden_messages_show_no_hidden_input_or_expected_value(case, reference):
    cell, old, new = case
    ns = _with_cell(reference, cell, _edited(cell, old, new))
    probe_name = next(p for p, c in SOLUTION_OF_PROBE.items() if c == cell)
    message = A.message(ns, probe_name, seed=A.hidden_seeds[probe_name])
    assert "hidden case" in message
    assert _hidden_numbers(message) == [], message


# ---- delegation ----------------------------------------------------------------------------

IMPORTS = ["import torch", "import jax.numpy as jnp", "from torch import autograd",
           "__import__('tensorflow')"]


@pytest.mark.parametrize("statement", IMPORTS)
@pytest.mark.parametrize("cell", sorted(SOLUTION_OF_PROBE.values()))
def test_importing_another_autodiff_library_scores_zero_with_a_reason(cell, statement,
                                                                       reference):
    """Inside any of the five functions; the engine stays usable and the import hook is
    gone afterwards."""
    text = notebooks.strip_solution_markers(A.cells[cell].source)
    body = text.index('"""', text.index('"""') + 3) + 3  # after the docstring
    ns = _with_cell(reference, cell, f"{text[:body]}\n    {statement}{text[body:]}")
    probe_name = next(p for p, c in SOLUTION_OF_PROBE.items() if c == cell)
    message = A.message(ns, probe_name)
    assert re.search(r"scored 0 because it imported (torch|jax|tensorflow)", message), message
    assert not any(isinstance(f, reparam._RefuseOtherAutodiff) for f in sys.meta_path)
    check(probe_name, *A.objects(reference, probe_name))
