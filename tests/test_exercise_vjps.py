"""The VJPs assignment (solutions/vjps/vjps.ipynb), as a student and an instructor meet it.

- graded by real plain nbgrader: the reference scores full marks, the untouched student
  version 0, and each known-wrong answer loses exactly the parts its entry names;
- calibrated: the reference passes every probe on many seeds with a tolerance 100× tighter
  than the one used in grading, and the MLP's loss falls far below the judge's bound;
- teaching: the visible check of each realistic mistake names it, hidden checks show no
  shapes or values of hidden inputs;
- delegation: a Mul.backward that gets its gradient from the engine scores 0, by the scan
  of its source and, where the scan is dodged, by its behaviour.
"""
import re

import numpy as np
import pytest

from autograder import notebooks
from exercises import diagnose, probes, vjps
from exercises.probes import check
from assignment_suite import Assignment, Contract, checks
from reference_ns import reference_namespace

ASSIGNMENT = "vjps"
A = Assignment(ASSIGNMENT)


class TestContract(Contract):
    assignment = A


@pytest.fixture(scope="module")
def reference():
    return reference_namespace(ASSIGNMENT)


def _namespace_with(wrong):
    text = notebooks.strip_solution_markers(A.cells[wrong.cell].source)
    return reference_namespace(ASSIGNMENT, replace={
        wrong.cell: text.replace(wrong.old, wrong.new, wrong.count)})


# ---- the notebook's shape ------------------------------------------------------------------

def test_thirteen_parts_of_one_to_three_points():
    assert len(A.test_cells) == 13, sorted(A.test_cells)
    assert all(1 <= notebooks.meta(c)["points"] <= 3 for c in A.test_cells.values())


# ---- calibration ---------------------------------------------------------------------------

@pytest.mark.parametrize("probe_name", A.probe_names)
def test_reference_passes_with_a_hundredfold_tighter_tolerance(probe_name, reference,
                                                                monkeypatch):
    """20 seeds plus the notebook's own hidden seed, at 1e-8: the reference's floored
    relative error is at least 100× inside the grading tolerance. (The expected gradients
    are complex-step derivatives, exact to rounding, so only the reference's own rounding
    is measured.)"""
    monkeypatch.setattr(diagnose, "TOLERANCE", diagnose.TOLERANCE / 100)
    objects = A.objects(reference, probe_name)
    check(probe_name, *objects)
    for seed in [A.hidden_seeds[probe_name], *range(1, 21)]:
        check(probe_name, *objects, seed=seed)


def test_mlp_loss_falls_far_below_the_judges_bound(reference):
    """The judge asks for a final loss below MLP_FALL (0.1) of the first; over 100 seeds
    the reference ends below a third of that, so the bound rejects only real failures."""
    ratios = []
    for seed in [None, *range(100)]:
        for case in probes.make_cases("vjps.mlp", seed):
            losses, _ = vjps.train_mlp(*A.objects(reference, "vjps.mlp"), case["X"], case["y"],
                                       [case[k] for k in ("W1", "b1", "W2", "b2")])
            ratios.append(losses[-1] / losses[0])
    assert max(ratios) < vjps.MLP_FALL / 3, max(ratios)


def test_complex_step_oracle_matches_central_differences_and_a_closed_form():
    rng = np.random.default_rng(5)
    a, b, g = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    got_a, got_b = vjps.complex_step_vjp(np.matmul, [a, b], g)
    np.testing.assert_allclose(got_a, g @ b.T, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got_b, a.T @ g, rtol=1e-14, atol=1e-15)
    from exercises.numerics import numerical_vjp
    z = rng.standard_normal((2, 5))
    u = rng.standard_normal((2, 5))
    np.testing.assert_allclose(vjps.complex_step_vjp(vjps._softmax, [z], u)[0],
                               numerical_vjp(vjps._softmax, [z], u)[0], atol=1e-8)


# ---- messages ------------------------------------------------------------------------------

VISIBLE_MESSAGES = {
    "sum_to_shape sums only the new leading axes":
        r"with shape \(3, 1\), got \(3, 4\).*summed over the broadcast axes",
    "transposed gradient": r"gradient of b with shape \(4, 2\), got \(2, 4\) — did you transpose",
    "missing broadcast reduction": r"gradient of b with shape \(4,\), got \(3, 4\).*"
                                   r"summed over the broadcast axes",
    "delegates to the engine (autodiff.grad)": r"scored 0 because the rule is not your own"
                                               r".*calls grad\(",
    "gradient off by a factor of 2 (tanh as 2σ(2x) − 1, inner 2 dropped)":
        r"off by a constant factor of 0\.5",
    "mean without its 1/n": r"n = 12 times too large: the mean divides",
    "sign error": r"gradient of z has the wrong sign",
    "softmax without the max-shift": r"gradient of logits contains NaN or inf.*"
                                     r"subtract the max",
    "forgotten bias sum": r"gradient of bias with shape \(3,\), got \(4, 3\): the bias is "
                          r"added to every row of the batch",
}


def _probe_of(grade_id):
    return next(name for name, _, seed in checks(A.test_cells[grade_id].source) if seed is None)


@pytest.mark.parametrize("wrong", A.wrong, ids=[w.name for w in A.wrong])
def test_visible_message_names_the_mistake(wrong):
    ns = _namespace_with(wrong)
    assert re.search(VISIBLE_MESSAGES[wrong.name], A.message(ns, _probe_of(wrong.breaks[0])))


def test_the_max_shift_mistake_fails_only_on_large_logits():
    """Without the shift the rule is right for logits of order one: only the ~1000 cases
    catch it, so every case list must hold them."""
    wrong = next(w for w in A.wrong if w.name == "softmax without the max-shift")
    ns = _namespace_with(wrong)
    for seed in (None, A.hidden_seeds["vjps.softmax_ce"]):
        cases = probes.make_cases("vjps.softmax_ce", seed)
        assert any(np.abs(c["logits"]).min() > 900 for c in cases)
        outputs = probes.collect("vjps.softmax_ce", [ns["SoftmaxCrossEntropy"]], cases)
        small = [i for i, c in enumerate(cases) if np.abs(c["logits"]).max() < 100]
        assert small and all(vjps._judge_cross_entropy(outputs[i], cases[i], True) is None
                             for i in small)
    assert "subtract the max" in A.message(ns, "vjps.softmax_ce", seed=3)


@pytest.mark.parametrize("wrong", A.wrong, ids=[w.name for w in A.wrong])
def test_hidden_messages_say_what_is_wrong_without_shapes_or_values(wrong):
    ns = _namespace_with(wrong)
    for gid in wrong.breaks:
        probe_name = _probe_of(gid)
        message = A.message(ns, probe_name, seed=A.hidden_seeds[probe_name])
        text = re.sub(r"\(hidden case \d+ of \d+\)", "", message)
        if probe_name == "vjps.mlp":  # its architecture is public, only its data are hidden
            text = re.sub(r"shape \(\d+, \d+\)", "", text)
        assert not re.search(r"\(\d+(, \d+)*,?\)|\bgot \d|expected -?\d|at index", text), message


# ---- delegation ----------------------------------------------------------------------------

_MUL_RULE = ("grad_a = sum_to_shape(grad * b, a.shape)\n"
             "        grad_b = sum_to_shape(grad * a, b.shape)")

DELEGATIONS = {
    "autodiff.grad": (
        "ta, tb = ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)\n"
        "        grad_a, grad_b = ad.grad(ta * tb, (ta, tb), grad)",
        r"not your own.*calls grad\("),
    ".backward()": (
        "ta, tb = ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)\n"
        "        (ta * tb).backward(ad.tensor(grad))\n"
        "        grad_a, grad_b = ta.grad.data, tb.grad.data",
        r"not your own.*calls backward\("),
    "the built-in op's backward": (
        "from autodiff.ops.elementwise import Mul as Builtin\n"
        "        grad_a, grad_b = Builtin.backward(ctx, grad)",
        r"not your own.*imports autodiff"),
    "an import of torch": (
        "import torch\n"
        "        grad_a, grad_b = grad * b, grad * a",
        r"not your own.*imports torch"),
    # names spelled so that the scan cannot read them: the behaviour check must catch these
    "the engine's backward, hidden from the scan": (
        "ta, tb = ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)\n"
        "        getattr(ta * tb, 'back' + 'ward')(ad.tensor(grad))\n"
        "        grad_a, grad_b = ta.grad.data, tb.grad.data",
        r"scored 0 because it called the engine's backward pass"),
    "a built-in backward, hidden from the scan": (
        "node = (ad.tensor(a, requires_grad=True) * ad.tensor(b)).grad_fn\n"
        "        grad_a, grad_b = getattr(node._fn, 'back' + 'ward')(ctx, grad)",
        r"scored 0 because it called the built-in Mul.backward"),
}


@pytest.mark.parametrize("form", sorted(DELEGATIONS))
@pytest.mark.parametrize("seed", [None, A.hidden_seeds["vjps.mul"]])
def test_a_delegating_rule_scores_zero_with_a_message_that_says_why(form, seed):
    code, message = DELEGATIONS[form]
    text = notebooks.strip_solution_markers(A.cells["mul"].source)
    ns = reference_namespace(ASSIGNMENT, replace={"mul": text.replace(_MUL_RULE, code)})
    assert re.search(message, A.message(ns, "vjps.mul", seed=seed))


def test_the_mlp_part_lets_the_engine_run_but_needs_the_students_classes(reference):
    """The MLP is trained through the engine (no guard), yet a model built from the
    engine's own ops instead of the given classes is refused."""
    import autodiff as ad

    class EngineMatMul(ad.Function):
        apply = staticmethod(ad.matmul)

    objects = A.objects(reference, "vjps.mlp")
    with pytest.raises(AssertionError, match="not built from your Functions"):
        check("vjps.mlp", EngineMatMul, *objects[1:])
