"""Known-wrong answers of the VJPs assignment.

The MLP part trains with the student's MatMul, Add, ReLU and SoftmaxCrossEntropy, so a wrong
one of these can break it too. Each entry's `breaks` says honestly which parts lose their
points (tests/test_exercise_vjps.py asserts exactly those): a transposed MatMul gradient
cannot even be applied to the weights, so the MLP fails as well; a missing broadcast
reduction is repaired by the engine, which sums any broadcast gradient to its input's shape,
so it costs only its own part; large-logit overflow never arises in that small model.
"""
from . import KnownWrong

_DELEGATING_MUL = """ta = ad.tensor(a, requires_grad=True)
        tb = ad.tensor(b, requires_grad=True)
        grad_a, grad_b = ad.grad(ta * tb, (ta, tb), grad)"""

WRONG = [
    KnownWrong("sum_to_shape sums only the new leading axes", "sum_to_shape",
               "return grad.sum(axis=stretched, keepdims=True)", "return grad",
               ("test_sum_to_shape", "test_matmul", "test_add", "test_mul")),
    KnownWrong("transposed gradient", "matmul",
               "np.swapaxes(a, -1, -2) @ grad", "np.swapaxes(grad, -1, -2) @ a",
               ("test_matmul", "test_mlp")),
    KnownWrong("missing broadcast reduction", "mul",
               "grad_b = sum_to_shape(grad * a, b.shape)", "grad_b = grad * a",
               ("test_mul",)),
    KnownWrong("delegates to the engine (autodiff.grad)", "mul",
               "grad_a = sum_to_shape(grad * b, a.shape)\n"
               "        grad_b = sum_to_shape(grad * a, b.shape)", _DELEGATING_MUL,
               ("test_mul",)),
    KnownWrong("gradient off by a factor of 2 (tanh as 2σ(2x) − 1, inner 2 dropped)", "tanh",
               "grad_a = grad * (1 - out * out)", "grad_a = grad * (1 - out * out) / 2",
               ("test_tanh",)),
    KnownWrong("mean without its 1/n", "mean",
               "kept / ctx.count", "kept",
               ("test_mean",)),
    KnownWrong("sign error", "softmax",
               "p * (grad - (grad * p).sum(axis=-1, keepdims=True))",
               "p * ((grad * p).sum(axis=-1, keepdims=True) - grad)",
               ("test_softmax",)),
    KnownWrong("softmax without the max-shift", "softmax_ce",
               "np.exp(logits - logits.max(axis=1, keepdims=True))", "np.exp(logits)",
               ("test_softmax_ce",)),
    KnownWrong("forgotten bias sum", "layer_norm",
               "grad_bias = sum_to_shape(grad, weight.shape)", "grad_bias = grad",
               ("test_layer_norm",)),
]
