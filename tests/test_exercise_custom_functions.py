"""The custom_functions assignment (solutions/custom_functions/custom_functions.ipynb).

- graded by real plain nbgrader: the reference scores full marks, the untouched student
  version 0, and each known-wrong answer loses exactly the parts its entry names;
- calibrated: the reference passes every probe on many seeds with a tolerance 100× tighter
  than the one used in grading, against finite-difference oracles shown to be accurate far
  beyond that;
- teaching: the visible check of each realistic mistake names it; hidden checks show no
  shapes or values of hidden inputs;
- delegation: a backward that gets its gradient from the engine scores 0, by the scan of its
  source and, where the scan is dodged, by its behaviour;
- the fused op's comparison is real: the composition saves more than the fused op, and a
  fused op that keeps as much as the composition is refused.
"""
import re

import numpy as np
import pytest

import autodiff as ad
from autograder import notebooks
from exercises import custom_functions as cf
from exercises import diagnose, probes
from exercises.probes import check
from assignment_suite import Assignment, Contract, checks
from reference_ns import reference_namespace

ASSIGNMENT = "custom_functions"
A = Assignment(ASSIGNMENT)


class TestContract(Contract):
    assignment = A


def _probe_of(grade_id):
    return next(name for name, _, seed in checks(A.test_cells[grade_id].source) if seed is None)


@pytest.fixture(scope="module")
def reference():
    return reference_namespace(ASSIGNMENT)


def _edited(cell, old, new):
    """The reference namespace with `old` replaced by `new` in solution cell `cell`."""
    text = notebooks.strip_solution_markers(A.cells[cell].source)
    assert text.count(old) == 1, (cell, old)
    return reference_namespace(ASSIGNMENT, replace={cell: text.replace(old, new)})


_BACKWARD = "\n    @staticmethod\n    def backward(ctx, grad):\n        "  # between the methods


# ---- the notebook's shape ------------------------------------------------------------------

def test_seven_parts_with_their_points():
    assert notebooks.points(A.source) == {
        "test_square": 1, "test_logsumexp": 2, "test_quantize": 1, "test_clip_gradient": 1,
        "test_reverse_gradient": 1, "test_accumulation": 2, "test_double_backward": 2}


# ---- calibration ---------------------------------------------------------------------------

@pytest.mark.parametrize("probe_name", A.probe_names)
def test_reference_passes_with_a_hundredfold_tighter_tolerance(probe_name, reference,
                                                                monkeypatch):
    """The visible cases, the notebook's hidden seed and 20 more at 1e-8. (Measured: the
    reference's worst floored relative error over 30 seeds is ~1e-11.)"""
    monkeypatch.setattr(diagnose, "TOLERANCE", diagnose.TOLERANCE / 100)
    objects = A.objects(reference, probe_name)
    check(probe_name, *objects)
    for seed in [A.hidden_seeds[probe_name], *range(1, 21)]:
        check(probe_name, *objects, seed=seed)


def test_the_stencils_are_accurate_far_below_the_tolerance():
    """The oracles against closed forms: ≤ 1e-10 relative, so a 1e-8 calibration measures
    the reference, not the oracle."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, 50)
    assert cf.rel_error(cf._stencil(lambda t: np.tanh(x + t)), 1 - np.tanh(x) ** 2) < 1e-10
    assert cf.rel_error(cf._stencil(lambda t: (x + t) ** 3), 3 * x ** 2) < 1e-10
    assert cf.rel_error(cf._second_stencil(lambda t: (x + t) ** 3), 6 * x) < 1e-10
    z = rng.standard_normal((4, 6)) * 2
    softmax = np.exp(z - z.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    assert cf.rel_error(cf._row_partials(cf._logsumexp, z - z.max(-1, keepdims=True)),
                        softmax) < 1e-10


def test_every_logsumexp_case_list_holds_large_logits():
    """Without the max-shift, logsumexp is right for inputs of order one; only the ~1000
    cases catch it."""
    for seed in (None, A.hidden_seeds["custom_functions.logsumexp"], 3):
        assert any(np.abs(c["x"]).min() > 900 for c in probes.make_cases(
            "custom_functions.logsumexp", seed))


def test_quantize_cases_avoid_ties_and_the_clip_and_cover_both_sides_of_it():
    for seed in (None, A.hidden_seeds["custom_functions.quantize"], *range(10)):
        x = np.concatenate([c["x"].ravel() for c in probes.make_cases(
            "custom_functions.quantize", seed)])
        assert np.all(np.abs((4 * np.abs(x)) % 1 - 0.5) >= 0.05)
        assert np.all(np.abs(np.abs(x) - 1) >= 0.05)
        assert np.any(np.abs(x) > 1) and np.any(np.abs(x) < 1)


def test_clip_cases_have_upstream_values_on_both_sides_of_c():
    for seed in (None, A.hidden_seeds["custom_functions.clip_gradient"], *range(10)):
        cases = probes.make_cases("custom_functions.clip_gradient", seed)
        beyond = [np.abs(c["g"]) > c["c"] for c in cases]
        assert any(b.any() for b in beyond) and any((~b).any() for b in beyond)


# ---- the fused op's memory -----------------------------------------------------------------

def test_the_composition_saves_more_than_the_fused_reference(reference):
    x = np.random.default_rng(2).standard_normal((8, 16))
    before = ad.saved_bytes()
    fused = cf._saved_bytes_of(reference["LogSumExp"].apply, x, include_leaves=False)
    composed = cf._saved_bytes_of(cf._logsumexp_composed, x, include_leaves=False)
    assert ad.saved_bytes() == before  # nothing leaks into the accounting
    assert fused == 8 * 8  # the output: one float64 per row; x is a leaf
    assert composed == (8 * 16 + 8) * 8  # exp(x - m) for Exp, the row sums for Log


def test_a_fused_op_that_keeps_as_much_as_the_composition_is_refused():
    """Keeping the softmax (as large as x) and the output: as many activation bytes as the
    composition, which the part exists to beat."""
    ns = _edited("logsumexp",
                 "ctx.save_for_backward(x, out)\n        return out\n" + _BACKWARD
                 + "x, out = ctx.saved_tensors\n"
                 "        return grad[..., None] * np.exp(x - out[..., None])",
                 "ctx.save_for_backward(np.exp(x - out[..., None]), out)\n        return out\n"
                 + _BACKWARD + "softmax, out = ctx.saved_tensors\n"
                 "        return grad[..., None] * softmax")
    assert re.search(r"saves no less than the composition of engine ops \(\d+ bytes.*"
                     r"recompute exp\(x - out\) in backward",
                     A.message(ns, "custom_functions.logsumexp"))


# ---- messages ------------------------------------------------------------------------------

VISIBLE_MESSAGES = {
    "gradient off by a factor of 2": r"gradient of x is off by a constant factor of 0\.5",
    "logsumexp without the max-shift": r"NaN or inf.*subtract the max",
    "fused backward delegated to the composed graph":
        r"scored 0 because the rule is not your own: LogSumExp\.backward: it calls grad\(",
    "straight-through estimator with round's true (zero) gradient":
        r"zero everywhere: that is the true derivative of round",
    "clipping the input instead of the gradient": r"the forward clipped x",
    "gradient reversal with the wrong sign": r"wrong sign: reversal multiplies grad by -λ",
    "p.grad zeroed between the two backward calls": r"only the last loss's gradient",
    ".backward() where grad() was asked (p.grad touched)": r"separate_gradients changed p\.grad",
    "double backward computed in numpy (breaks create_graph)":
        r"second derivative is missing: the first derivative was not recorded",
}

# Further realistic mistakes, checked in-process: (cell, old, new, test cell, message).
MORE_MISTAKES = {
    "ctx.x instead of save_for_backward": (
        "square", "ctx.save_for_backward(x)\n        return x * x\n" + _BACKWARD + "x, = ctx.saved_tensors",
        "ctx.x = x\n        return x * x\n" + _BACKWARD + "x = ctx.x", "test_square",
        r"saved nothing on the tape"),
    "straight-through estimator without the saturation mask": (
        "quantize", "return grad * inside", "return grad", "test_quantize",
        r"passes through everywhere, but where \|x\| > 1 the forward is clipped"),
    "gradient passed through unclipped": (
        "clip_gradient", "return np.clip(grad, -ctx.c, ctx.c), None", "return grad, None",
        "test_clip_gradient", r"passed through unclipped"),
    "no None for the constant": (
        "clip_gradient", "return np.clip(grad, -ctx.c, ctx.c), None",
        "return np.clip(grad, -ctx.c, ctx.c)", "test_clip_gradient",
        r"returned 1 gradient\(s\), but forward takes 2 inputs"),
    "reversal without λ": (
        "reverse_gradient", "return -ctx.lam * grad, None", "return -grad, None",
        "test_reverse_gradient", r"negated but not scaled"),
    "stale p.grad not cleared": (
        "accumulation", "    p.grad = None\n    for", "    for", "test_accumulation",
        r"still holds the stale gradient"),
    "np.square on the saved tensor": (
        "cube", "return 3 * x * x * grad", "return 3 * np.square(x) * grad",
        "test_double_backward", r"does not support ufuncs.*use operators"),
    "a slope precomputed in forward": (
        "cube", "ctx.save_for_backward(x)\n        return x * x * x\n" + _BACKWARD
        + "x, = ctx.saved_tensors\n        return 3 * x * x * grad",
        "ctx.save_for_backward(3 * x * x)\n        return x * x * x\n" + _BACKWARD
        + "slope, = ctx.saved_tensors\n        return slope * grad",
        "test_double_backward", r"second derivative is missing"),
}


def _namespace_with(wrong):
    return _edited(wrong.cell, wrong.old, wrong.new)


@pytest.mark.parametrize("wrong", A.wrong, ids=[w.name for w in A.wrong])
def test_visible_message_names_the_known_wrong_mistake(wrong):
    ns = _namespace_with(wrong)
    message = A.message(ns, _probe_of(wrong.breaks[0]))
    assert re.search(VISIBLE_MESSAGES[wrong.name], message), message


@pytest.mark.parametrize("mistake", sorted(MORE_MISTAKES))
def test_visible_message_names_other_realistic_mistakes(mistake):
    cell, old, new, test_cell, pattern = MORE_MISTAKES[mistake]
    ns = _edited(cell, old, new)
    message = A.message(ns, _probe_of(test_cell))
    assert re.search(pattern, message), message


# What a hidden message may show: the case's place in the list, the error measure, a
# constant factor, and constants of the assignment's statement; nothing else with a digit.
_ALLOWED_IN_HIDDEN = [r"\(hidden case \d+ of \d+\)", r"relative error \S+ \(tolerance \S+\)",
                      r"constant factor of \S+", r"\|x\| (<=|>) 1", r"±1",
                      r"returned \d+ gradient\(s\), but forward takes \d+ inputs", r"line \d+",
                      r"scored 0"]


def _hidden_mistakes():
    for wrong in A.wrong:
        yield wrong.name, (wrong.cell, wrong.old, wrong.new, wrong.breaks[0])
    for name, (cell, old, new, test_cell, _) in MORE_MISTAKES.items():
        yield name, (cell, old, new, test_cell)


@pytest.mark.parametrize("mistake", [m for m, _ in _hidden_mistakes()])
def test_hidden_messages_say_what_is_wrong_without_shapes_or_values(mistake):
    cell, old, new, test_cell = dict(_hidden_mistakes())[mistake]
    probe_name = _probe_of(test_cell)
    message = A.message(_edited(cell, old, new), probe_name, seed=A.hidden_seeds[probe_name])
    text = message
    for pattern in _ALLOWED_IN_HIDDEN:
        text = re.sub(pattern, "", text)
    assert not re.search(r"\d", text), message


# ---- delegation ----------------------------------------------------------------------------

_LSE_RULE = ("x, out = ctx.saved_tensors\n"
             "        return grad[..., None] * np.exp(x - out[..., None])")
_HELPERS = '''

def engine_gradient(x, grad):
    with ad.enable_grad():
        leaf = ad.tensor(x, requires_grad=True)
        y = logsumexp_composed(leaf)
    return ad.grad(y, leaf, grad_outputs=grad)[0].data


def builtin_exp_backward(x, grad):
    from autodiff.ops.elementwise import Exp
    with ad.enable_grad():
        node = ad.tensor(x, requires_grad=True).exp().grad_fn
    return Exp.backward(node, grad)
'''

# Each form works as a backward (the demo cell runs it through the engine, where grad mode
# is off during backward unless enable_grad turns it back on); each must still score 0.
DELEGATIONS = {
    "autodiff.grad": (
        "x, out = ctx.saved_tensors\n"
        "        with ad.enable_grad():\n"
        "            leaf = ad.tensor(x, requires_grad=True)\n"
        "            y = logsumexp_composed(leaf)\n"
        "        return ad.grad(y, leaf, grad)[0].data",
        r"not your own.*calls grad\("),
    ".backward()": (
        "x, out = ctx.saved_tensors\n"
        "        with ad.enable_grad():\n"
        "            leaf = ad.tensor(x, requires_grad=True)\n"
        "            logsumexp_composed(leaf).backward(ad.tensor(grad))\n"
        "        return leaf.grad.data",
        r"not your own.*calls backward\("),
    "an import of torch": (
        "try:\n"
        "            import torch  # noqa: F401  (not installed here; a student may have it)\n"
        "        except ImportError:\n"
        "            pass\n"
        "        " + _LSE_RULE,
        r"not your own.*imports torch"),
    # out of the scan's sight (in a helper the backward calls): the guard must catch these
    "the engine's backward, in a helper": (
        "x, out = ctx.saved_tensors\n"
        "        return engine_gradient(x, grad)",
        r"scored 0 because it called the engine's backward pass"),
    "a built-in backward, in a helper": (
        "x, out = ctx.saved_tensors\n"
        "        return builtin_exp_backward(x - out[..., None], grad[..., None])",
        r"scored 0 because it called the built-in Exp\.backward"),
}


@pytest.mark.parametrize("form", sorted(DELEGATIONS))
@pytest.mark.parametrize("seed", [None, A.hidden_seeds["custom_functions.logsumexp"]])
def test_a_delegating_fused_backward_scores_zero_with_a_message_that_says_why(form, seed):
    code, pattern = DELEGATIONS[form]
    text = notebooks.strip_solution_markers(A.cells["logsumexp"].source)
    ns = reference_namespace(ASSIGNMENT, replace={
        "logsumexp": text.replace(_LSE_RULE, code) + _HELPERS})
    # the demo cell defines logsumexp_composed after the class; the helpers need it
    assert re.search(pattern, A.message(ns, "custom_functions.logsumexp", seed=seed))


@pytest.mark.parametrize("probe_name", ["custom_functions.square", "custom_functions.quantize",
                                        "custom_functions.clip_gradient",
                                        "custom_functions.reverse_gradient"])
def test_the_other_rule_parts_refuse_the_engines_backward_too(probe_name, reference):
    """A Function whose backward asks the engine (dodging the scan through a helper):
    the guard stops it in every part that asks for a rule."""
    def engine_identity(grad):
        leaf = ad.tensor(np.zeros_like(grad), requires_grad=True)
        return ad.grad((leaf * 1.0).sum(), leaf)[0].data * 0 + grad

    takes_a_constant = probe_name in ("custom_functions.clip_gradient",
                                      "custom_functions.reverse_gradient")

    class Delegating(A.objects(reference, probe_name)[0]):
        @staticmethod
        def backward(ctx, grad):
            result = engine_identity(grad)
            return (result, None) if takes_a_constant else result

    message = A.message({A.arguments[probe_name][0]: Delegating}, probe_name)
    assert "scored 0 because it called the engine's backward pass" in message


def test_the_engine_parts_run_the_engine_but_still_scan_the_double_backward(reference):
    """Parts 5 and 6 call ad.grad themselves (no guard); Cube's backward is still read."""
    assert not probes.get("custom_functions.accumulation").guard
    assert not probes.get("custom_functions.double_backward").guard
    assert probes.get("custom_functions.double_backward").scan == ("backward",)
    ns = _edited("cube", "return 3 * x * x * grad",
                 "leaf = ad.tensor(x.data, requires_grad=True)\n"
                 "        return ad.grad(leaf ** 3, leaf, grad)[0]")
    assert "not your own" in A.message(ns, "custom_functions.double_backward")
