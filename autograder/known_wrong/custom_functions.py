"""Realistic mistakes in the custom_functions assignment, each breaking exactly one part."""
from . import KnownWrong

# A fused backward that builds the composed graph and asks the engine for its gradient
# (enable_grad: inside the engine's backward pass nothing is recorded otherwise).
_DELEGATED_LOGSUMEXP = """x, out = ctx.saved_tensors
        with ad.enable_grad():
            leaf = ad.tensor(x, requires_grad=True)
            composed = logsumexp_composed(leaf)
        return ad.grad(composed, leaf, grad_outputs=grad)[0].data"""

# A Cube backward "fixed" after np.square rejected a Tensor: converting to numpy cuts the
# history, so under create_graph nothing records the first derivative.
_NUMPY_CUBE = """x, = ctx.saved_tensors
        x = x.detach().numpy() if isinstance(x, ad.Tensor) else x
        return 3 * np.square(x) * grad"""

WRONG = [
    KnownWrong("gradient off by a factor of 2", "square",
               "return 2 * x * grad", "return x * grad", ("test_square",)),
    KnownWrong("logsumexp without the max-shift", "logsumexp",
               "out = np.log(np.exp(x - m).sum(axis=-1)) + m[..., 0]",
               "out = np.log(np.exp(x).sum(axis=-1))", ("test_logsumexp",)),
    KnownWrong("fused backward delegated to the composed graph", "logsumexp",
               """x, out = ctx.saved_tensors
        return grad[..., None] * np.exp(x - out[..., None])""", _DELEGATED_LOGSUMEXP,
               ("test_logsumexp",)),
    KnownWrong("straight-through estimator with round's true (zero) gradient", "quantize",
               "return grad * inside", "return np.zeros_like(grad)", ("test_quantize",)),
    KnownWrong("clipping the input instead of the gradient", "clip_gradient",
               """return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return np.clip(grad, -ctx.c, ctx.c), None""",
               """return np.clip(x, -c, c)

    @staticmethod
    def backward(ctx, grad):
        return grad, None""", ("test_clip_gradient",)),
    KnownWrong("gradient reversal with the wrong sign", "reverse_gradient",
               "return -ctx.lam * grad, None", "return ctx.lam * grad, None",
               ("test_reverse_gradient",)),
    KnownWrong("p.grad zeroed between the two backward calls", "accumulation",
               """    for loss_fn in loss_fns:
        loss_fn(p).backward()""", """    for loss_fn in loss_fns:
        p.grad = None
        loss_fn(p).backward()""", ("test_accumulation",)),
    KnownWrong(".backward() where grad() was asked (p.grad touched)", "accumulation",
               "return [ad.grad(loss_fn(p), p)[0] for loss_fn in loss_fns]",
               """gradients = []
    for loss_fn in loss_fns:
        p.grad = None
        loss_fn(p).backward()
        gradients.append(p.grad)
    return gradients""", ("test_accumulation",)),
    KnownWrong("double backward computed in numpy (breaks create_graph)", "cube",
               """x, = ctx.saved_tensors
        return 3 * x * x * grad""", _NUMPY_CUBE, ("test_double_backward",)),
]
