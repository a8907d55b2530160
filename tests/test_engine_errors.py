"""Every error says what was wrong: the op, the shapes or dtypes involved, and what to do.

Each test triggers one mistake a student makes and checks the message names the specifics
(not just that something was raised)."""
import inspect
import re

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import Function


def leaf(values):
    return ad.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def message_of(excinfo):
    return str(excinfo.value)


def assert_mentions(message, *parts):
    for part in parts:
        assert part in message, f"error message does not mention {part!r}:\n{message}"


# ---------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------
SHAPE_MISMATCHES = [
    # (description, op name the message must give, thunk, shapes it must give)
    ("a + b", "Add", lambda: leaf(np.ones((2, 3))) + leaf(np.ones(4)), ["(2, 3)", "(4,)"]),
    ("a - b", "Sub", lambda: leaf(np.ones((2, 3))) - leaf(np.ones((3, 2))), ["(2, 3)", "(3, 2)"]),
    ("a * b", "Mul", lambda: leaf(np.ones((5,))) * leaf(np.ones(4)), ["(5,)", "(4,)"]),
    ("a / b", "Div", lambda: leaf(np.ones((2, 2))) / leaf(np.ones(3)), ["(2, 2)", "(3,)"]),
    ("a @ b", "MatMul", lambda: leaf(np.ones((2, 3))) @ leaf(np.ones((4, 5))),
     ["(2, 3)", "(4, 5)"]),
    ("batched a @ b", "MatMul", lambda: leaf(np.ones((2, 3, 4))) @ leaf(np.ones((3, 4, 2))),
     ["(2, 3, 4)", "(3, 4, 2)"]),
    ("cat", "Cat", lambda: ad.cat([leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))]),
     ["(2, 3)", "(2, 4)"]),
    ("stack", "Stack", lambda: ad.stack([leaf(np.ones((2, 3))), leaf(np.ones((3, 2)))]),
     ["(2, 3)", "(3, 2)"]),
    ("where", "Where", lambda: ad.where(np.ones((2, 3), bool), leaf(np.ones(4)), 0.0),
     ["(2, 3)", "(4,)"]),
    ("reshape", "Reshape", lambda: leaf(np.ones((2, 3))).reshape(4, 2), ["(2, 3)", "(4, 2)"]),
    ("expand", "Expand", lambda: leaf(np.ones((2, 3))).expand(4, 3), ["(2, 3)", "(4, 3)"]),
    ("linear", "linear", lambda: F.linear(leaf(np.ones((5, 3))), leaf(np.ones((4, 2)))),
     ["3", "(4, 2)"]),
    ("mse_loss", "mse_loss", lambda: F.mse_loss(leaf(np.ones((2, 3))), np.ones((3, 2))),
     ["(2, 3)", "(3, 2)"]),
    ("mse_loss none", "mse_loss", lambda: F.mse_loss(leaf(np.ones(3)), np.ones(4), "none"),
     ["(3,)", "(4,)"]),
    ("cross_entropy index", "cross_entropy",
     lambda: F.cross_entropy(leaf(np.ones((4, 3))), np.array([0, 1])), ["(4,)", "(2,)"]),
    ("cross_entropy probs", "cross_entropy",
     lambda: F.cross_entropy(leaf(np.ones((4, 3))), np.ones((4, 2))), ["(4, 3)", "(4, 2)"]),
    ("layer_norm", "layer_norm", lambda: F.layer_norm(leaf(np.ones((2, 3))), (4,)),
     ["(4,)", "(2, 3)"]),
]


@pytest.mark.parametrize("what,op,thunk,shapes", SHAPE_MISMATCHES,
                         ids=[s[0] for s in SHAPE_MISMATCHES])
def test_shape_mismatch_names_the_op_and_both_shapes(what, op, thunk, shapes):
    with pytest.raises((RuntimeError, ValueError)) as e:
        thunk()
    assert_mentions(message_of(e), op, *shapes)


def test_backward_on_a_non_scalar_without_gradient():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError) as e:
        (x * 2).backward()
    assert_mentions(message_of(e), "scalar", "(2, 3)", "gradient")


def test_backward_gradient_of_the_wrong_shape_names_both_shapes():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError) as e:
        (x * 2).backward(gradient=np.ones((3, 2)))
    assert_mentions(message_of(e), "(3, 2)", "(2, 3)")


def test_backward_on_a_tensor_that_does_not_require_grad():
    x = ad.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError) as e:
        (x * 2).sum().backward()
    assert_mentions(message_of(e), "does not require grad")
    with ad.no_grad():
        y = (leaf([1.0]) * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


# ---------------------------------------------------------------------------------------
# freed graphs and in-place changes
# ---------------------------------------------------------------------------------------
def test_second_backward_through_a_freed_graph_says_to_retain_it():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as e:
        y.backward()
    assert_mentions(message_of(e), "second time", "retain_graph=True", "MulBackward")


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(x.data) * (1 + x.data))


def test_optimizer_step_between_forward_and_backward_is_caught_by_the_version_counter():
    layer = ad.nn.Linear(3, 2, generator=np.random.default_rng(0))
    opt = ad.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(ad.tensor(np.ones((4, 3)))).tanh().sum()
    loss.backward(retain_graph=True)
    opt.step()                                   # changes weight in place
    with pytest.raises(RuntimeError) as e:
        loss.backward()                          # LinearBackward saved the old weight
    assert_mentions(message_of(e), "in-place", "LinearBackward", "(2, 3)", "version 1",
                    "expected version 0")


def test_add_in_place_to_a_saved_input_is_caught():
    x = leaf([1.0, 2.0])
    c = ad.tensor([3.0, 4.0])
    y = (x * c).sum()
    c.add_(1.0)                                  # c does not require grad: allowed, but saved
    with pytest.raises(RuntimeError) as e:
        y.backward()
    assert_mentions(message_of(e), "in-place", "MulBackward", "(2,)")


def test_in_place_change_to_a_saved_output_is_caught():
    """Exp, Tanh, Sigmoid, Sqrt, Relu, Softmax, LogSoftmax save their own output: changing
    it in place would silently corrupt their gradient, so it must raise (as in PyTorch)."""
    x = leaf([1.0, 2.0])
    y = x.exp()
    with ad.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    assert_mentions(message_of(e), "in-place", "ExpBackward", "version 1", "expected version 0")


def test_in_place_on_a_leaf_that_requires_grad_while_recording():
    x = leaf([1.0])
    with pytest.raises(RuntimeError) as e:
        x.add_(1.0)
    assert_mentions(message_of(e), "add_", "leaf", "no_grad")
    y = x * 2
    with pytest.raises(RuntimeError) as e:
        y.mul_(3.0)
    assert_mentions(message_of(e), "mul_", "no_grad")


# ---------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------
def test_a_dtype_the_op_cannot_take_is_named():
    with pytest.raises((RuntimeError, TypeError)) as e:
        ad.tensor([1, 2, 3]).mean()
    assert_mentions(message_of(e), "mean", "int64")
    with pytest.raises(TypeError) as e:
        ad.where(np.array([1, 0]), leaf([1.0, 2.0]), 0.0)
    assert_mentions(message_of(e), "where", "bool", "int64")
    with pytest.raises(TypeError) as e:
        F.cross_entropy(leaf(np.ones((2, 3))), np.array([True, False]))
    assert_mentions(message_of(e), "cross_entropy", "bool")
    with pytest.raises(TypeError) as e:
        ad.tensor(["a", "b"])
    assert_mentions(message_of(e), "numeric", "<U1")


def test_requires_grad_on_an_integer_tensor_names_the_dtype():
    with pytest.raises(RuntimeError) as e:
        ad.tensor([1, 2], requires_grad=True)
    assert_mentions(message_of(e), "floating", "int64")


def test_a_function_whose_output_cannot_carry_a_gradient():
    class Round(Function):
        @staticmethod
        def forward(ctx, x):
            return np.round(x).astype(np.int64)

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError) as e:
        Round.apply(leaf([1.4]))
    assert_mentions(message_of(e), "Round", "int64", "floating")


# ---------------------------------------------------------------------------------------
# grad() inputs
# ---------------------------------------------------------------------------------------
def test_grad_for_an_input_not_in_the_graph():
    x, unused = leaf([1.0]), leaf(np.ones((2, 2)))
    with pytest.raises(RuntimeError) as e:
        ad.grad((x * 2).sum(), [x, unused])
    assert_mentions(message_of(e), "inputs[1]", "(2, 2)", "not used", "allow_unused=True")
    gx, gu = ad.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.data.tolist() == [2.0]


def test_grad_for_an_input_that_does_not_require_grad():
    x, c = leaf([1.0]), ad.tensor([2.0])
    with pytest.raises(RuntimeError) as e:
        ad.grad((x * c).sum(), [c])
    assert_mentions(message_of(e), "inputs[0]", "does not require grad")
    with pytest.raises(TypeError) as e:
        ad.grad((x * c).sum(), [np.ones(1)])
    assert_mentions(message_of(e), "inputs[0]", "ndarray")


# ---------------------------------------------------------------------------------------
# custom Functions that get backward wrong
# ---------------------------------------------------------------------------------------
class WrongCube(Function):
    """x³ with a deliberately wrong derivative: 2x² instead of 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 2 * x * x


def test_gradcheck_failure_names_the_input_the_index_and_both_values():
    # a scalar output, so the only element index in the message is the input's
    y = leaf([[0.0, 0.0], [1.0, 0.5]])
    with pytest.raises(ad.GradcheckError) as e:
        ad.gradcheck(lambda t: WrongCube.apply(t).sum(), [y])
    # (0, 0) and (0, 1) are right (0 = 0); (1, 0) is the first wrong one: 3 * 1² vs 2 * 1²
    message = message_of(e)
    assert re.search(r"input 0 index \(1, 0\)", message), message
    assert_mentions(message, "numerical 3", "analytical 2")
    assert ad.gradcheck(WrongCube.apply, [y], raise_exception=False) is False

    # the second input is the wrong one: the message must say so, at its first bad element
    a, b = leaf([1.0, 2.0]), leaf([0.0, 2.0])
    with pytest.raises(ad.GradcheckError) as e:
        ad.gradcheck(lambda a, b: (a * 2 + WrongCube.apply(b)).sum(), [a, b])
    message = message_of(e)
    assert re.search(r"input 1 index \(1,\)", message), message
    assert_mentions(message, "numerical 12", "analytical 8")
    numbers = [float(v) for v in re.findall(r"(?:numerical|analytical) (-?[\d.e+-]+)", message)]
    assert len(numbers) == 2 and not np.isclose(*numbers), message


def test_gradcheck_passes_a_correct_function_and_needs_an_input_that_requires_grad():
    assert ad.gradcheck(lambda t: t ** 3, [leaf([0.5, -1.0])])
    with pytest.raises(ValueError, match="requires grad"):
        ad.gradcheck(lambda t: t ** 3, [ad.tensor([0.5])])


def test_backward_returning_the_wrong_number_of_gradients():
    class TwoIn(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError) as e:
        TwoIn.apply(leaf([1.0]), leaf([2.0])).sum().backward()
    assert_mentions(message_of(e), "TwoIn", "1 gradients", "2 inputs")


def test_backward_returning_a_gradient_of_the_wrong_shape():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones(5)

    with pytest.raises(RuntimeError) as e:
        BadShape.apply(leaf(np.ones((2, 3)))).sum().backward()
    assert_mentions(message_of(e), "BadShape", "(5,)", "(2, 3)")


# ---------------------------------------------------------------------------------------
# detect_anomaly
# ---------------------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_and_the_forward_line_that_made_a_nan():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"), ad.detect_anomaly():
        root = x.sqrt()  # the line the message must point to
        line = inspect.currentframe().f_lineno - 1
        loss = (root * 0.0).sum()                # dloss/droot = 0; 0 / (2 sqrt 0) = nan
        with pytest.raises(RuntimeError) as e:
            loss.backward()
    message = message_of(e)
    assert_mentions(message, "SqrtBackward", "nan", "root = x.sqrt()", f"line {line}",
                    "test_engine_errors.py")


def test_without_detect_anomaly_the_nan_passes_silently():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"):
        (x.sqrt() * 0.0).sum().backward()
    assert np.isnan(x.grad.data[0]) and x.grad.data[1] == 0.0


def test_detect_anomaly_as_decorator_catches_an_inf_in_a_composite_op():
    @ad.detect_anomaly()
    def run():
        x = leaf([0.0, 1.0])
        with np.errstate(all="ignore"):
            x.log().sum().backward()             # 1 / 0 = inf in LogBackward

    with pytest.raises(RuntimeError) as e:
        run()
    assert_mentions(message_of(e), "LogBackward", "x.log().sum().backward()")


# ---------------------------------------------------------------------------------------
# everything else a student runs into
# ---------------------------------------------------------------------------------------
def test_numpy_on_a_tensor_that_requires_grad_says_detach():
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        leaf([1.0]).numpy()
    assert leaf([1.0]).detach().numpy().tolist() == [1.0]


def test_item_of_a_multi_element_tensor_names_the_shape():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        ad.tensor([1.0, 2.0]).item()


def test_requires_grad_off_on_a_non_leaf_and_hooks_on_constants():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="requires_grad"):
        ad.tensor([1.0]).retain_grad()
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        ad.tensor([1.0]).register_hook(lambda g: g)


def test_jvp_argument_errors_name_the_shapes():
    with pytest.raises(ValueError) as e:
        ad.jvp(lambda t: t * 2, (np.ones(3),), (np.ones(4),))
    assert_mentions(message_of(e), "tangent 0", "(4,)", "(3,)")
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        ad.jvp(lambda a, b: a * b, (np.ones(3), np.ones(3)), (np.ones(3),))
    with pytest.raises(TypeError, match="int64"):
        ad.jvp(lambda t: t * 2, (np.arange(3),), (np.ones(3),))


def test_loss_argument_errors():
    with pytest.raises(ValueError) as e:
        F.mse_loss(leaf([1.0]), np.ones(1), reduction="avg")
    assert_mentions(message_of(e), "'avg'", "mean", "sum", "none")
    with pytest.raises(IndexError) as e:
        F.cross_entropy(leaf(np.ones((2, 3))), np.array([0, 3]))
    assert_mentions(message_of(e), "class 3", "0..2")
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        F.cross_entropy(leaf(np.ones((2, 3, 4))), np.array([0, 1]))


def test_matmul_of_a_0d_tensor_says_to_use_mul():
    with pytest.raises(RuntimeError) as e:
        leaf(2.0) @ leaf([1.0])
    assert_mentions(message_of(e), "MatMul", "use *")


def test_optimizer_and_module_misuse():
    with pytest.raises(ValueError, match="empty parameter list"):
        ad.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        ad.optim.Adam([leaf([1.0])], lr=0.0)

    class Forgot(ad.nn.Module):
        def __init__(self):
            self.w = ad.nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_checkpoint_misuse():
    with pytest.raises(TypeError, match="argument 0"):
        ad.checkpoint(lambda a: a, np.ones(2))
    x = leaf([1.0, 2.0])
    y = ad.checkpoint(lambda a: a.tanh(), x).sum()
    with pytest.raises(RuntimeError, match="create_graph"):
        ad.grad(y, x, create_graph=True)


@pytest.mark.parametrize("what,thunk,op", [
    ("sum(5) of a 2-d tensor", lambda x: x.sum(5), "Sum"),
    ("mean(-3)", lambda x: x.mean(-3), "Mean"),
    ("amax(2)", lambda x: x.amax(2), "Amax"),
    ("sum((0, 2))", lambda x: x.sum((0, 2)), "Sum"),
    ("permute(0, 3)", lambda x: x.permute(0, 3), "Permute"),
    ("permute(0, -3)", lambda x: x.permute(0, -3), "Permute"),
])
def test_a_dim_out_of_range_is_an_error_not_silently_wrapped(what, thunk, op):
    """PyTorch raises for a dim outside [-ndim, ndim - 1]; wrapping it modulo ndim would
    reduce or move a different axis than the one asked for."""
    x = leaf(np.ones((2, 3)))
    with pytest.raises((RuntimeError, IndexError, ValueError)) as e:
        thunk(x)
    assert_mentions(message_of(e), op)
    assert re.search(r"range|axes", message_of(e)), message_of(e)


def test_jvp_through_a_custom_function_without_a_jvp_rule_names_it():
    class NoJvp(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    with pytest.raises(NotImplementedError) as e:
        ad.jvp(NoJvp.apply, (np.ones(2),), (np.ones(2),))
    assert_mentions(message_of(e), "NoJvp", "forward mode")


def test_in_place_change_through_a_detached_alias_is_caught():
    x, w = leaf([3.0, 4.0]), leaf([1.0, 2.0])
    y = (x * w).sum()                             # MulBackward saved x
    x.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_an_index_out_of_range_is_an_index_error_naming_the_op():
    x = ad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(IndexError, match="Index"):
        x[5]


def test_a_0d_leaf_accumulated_twice_keeps_an_array_grad():
    x = ad.tensor(2.0, requires_grad=True)
    (x * x).backward()
    (x * 3.0).backward()
    assert isinstance(x.grad.data, np.ndarray) and x.grad.item() == 7.0
