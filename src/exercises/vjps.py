"""Probes for the VJPs assignment: each op's backward, called alone on plain arrays, then a
small MLP trained with the student's own Functions.

Every rule's case holds the op's inputs and a random upstream gradient `g` (never all ones).
The forward used to compute the expected gradient is written here in numpy and
differentiated numerically (`complex_step_vjp`), so the oracle depends on neither the engine
nor the student.
"""
import numpy as np

from autodiff import Tensor, optim, topological_order
from autodiff.function import Node

from . import diagnose
from .diagnose import compare
from .numerics import away_from_zero, complex_step_vjp, noncontiguous, rel_error
from .probes import probe


def call_backward(fn, inputs, g, **forward_kwargs):
    """forward then backward of a Function class, outside any graph, on numpy arrays.

    The context is the engine's own Node, so `ctx.save_for_backward`/`ctx.saved_tensors`
    behave as under `fn.apply`; every input is marked as needing a gradient.
    """
    ctx = Node(fn)
    ctx.needs_input_grad = (True,) * len(inputs)
    out = fn.forward(ctx, *inputs, **forward_kwargs)
    grads = fn.backward(ctx, g)
    if not isinstance(grads, tuple):
        grads = (grads,)
    return out, grads


def _forward(f, inputs):
    """The numpy forward on the real inputs, as a real array."""
    return np.real(f(*[np.asarray(x, dtype=np.float64) for x in inputs]))


def rule_probe(name, *, what, cases, forward, inputs, bias=()):
    """Register the probe of a Function's backward: forward and backward on each case's
    `inputs` (strided views), judged against `forward` and its complex-step VJP.

    `bias` names inputs that are added to every row of a batch, so that a gradient left
    unsummed gets the "sum over the batch" message.
    """
    @probe(name, cases=cases, scan=("backward",), what=what)
    def run(fn, case):
        out, grads = call_backward(fn, [noncontiguous(case[k]) for k in inputs], case["g"])
        grads = grads + (None,) * (len(inputs) - len(grads))
        return {"out": out, **{f"grad_{k}": grads[i] for i, k in enumerate(inputs)}}

    @run.judge
    def judge(out, case, hidden):
        values = [case[k] for k in inputs]
        message = compare("the forward output", out["out"], _forward(forward, values),
                          hidden=hidden)
        for k, want in zip(inputs, complex_step_vjp(forward, values, case["g"])):
            message = message or compare(f"the gradient of {k}", out[f"grad_{k}"], want,
                                         hidden=hidden, bias=k in bias)
        return message

    return run


def _with_upstream(rng, inputs, out_shape):
    return {**inputs, "g": rng.standard_normal(out_shape)}


# ---- sum_to_shape: the backward of broadcasting ------------------------------------------

def _sum_to_shape_cases(rng, hidden):
    if not hidden:
        pairs = [((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((3, 4), (3, 4)), ((2, 3), ())]
    else:
        n, m, b = (int(v) for v in rng.integers(2, 5, size=3))
        pairs = [((b, n, m), (m,)), ((b, n, m), (n, 1)), ((b, n, m), (1, n, 1)),
                 ((n, m), ()), ((n, m), (n, m)), ((b, 1, m), (1, m)), ((), ())]
    return [{"g": rng.standard_normal(big), "shape": np.array(small, dtype=np.int64)}
            for big, small in pairs]


@probe("vjps.sum_to_shape", cases=_sum_to_shape_cases, what="sum_to_shape")
def _run_sum_to_shape(sum_to_shape, case):
    shape = tuple(int(n) for n in case["shape"])
    return {"out": sum_to_shape(noncontiguous(case["g"]), shape)}


@_run_sum_to_shape.judge
def _judge_sum_to_shape(out, case, hidden):
    g = case["g"]
    shape = tuple(int(n) for n in case["shape"])
    # sum_to_shape is the VJP of broadcasting an array of `shape` to g's shape
    want, = complex_step_vjp(lambda x: np.broadcast_to(x, g.shape), [np.zeros(shape)], g)
    return compare("sum_to_shape(grad, shape)", out["out"], want, hidden=hidden)


# ---- matmul ------------------------------------------------------------------------------

def _matmul_shapes(rng, hidden):
    if not hidden:
        return [((3, 4), (4, 2)), ((2, 3, 4), (4, 5))]
    n, k, m, b = (int(v) for v in rng.integers(1, 5, size=4))
    return [((n, k), (k, m)), ((b, n, k), (k, m)), ((n, k), (b, k, m)),
            ((b, 1, n, k), (2, k, m)), ((1, k), (k, 1))]


def _matmul_cases(rng, hidden):
    cases = []
    for sa, sb in _matmul_shapes(rng, hidden):
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out_shape = np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])
        cases.append(_with_upstream(rng, {"a": a, "b": b}, out_shape))
    return cases


rule_probe("vjps.matmul", what="MatMul.backward", cases=_matmul_cases, forward=np.matmul,
           inputs=("a", "b"))


# ---- broadcasting add and mul ------------------------------------------------------------

def _binary_cases(rng, hidden):
    if not hidden:
        pairs = [((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((2, 3), ())]
    else:
        n, m, b = (int(v) for v in rng.integers(1, 5, size=3))
        pairs = [((n, m), (m,)), ((b, 1, m), (n, 1)), ((), (n, m)), ((n, m), (n, m)),
                 ((1, m), (n, 1))]
    return [_with_upstream(rng, {"a": rng.standard_normal(sa), "b": rng.standard_normal(sb)},
                           np.broadcast_shapes(sa, sb)) for sa, sb in pairs]


rule_probe("vjps.add", what="Add.backward", cases=_binary_cases, forward=np.add,
           inputs=("a", "b"))
rule_probe("vjps.mul", what="Mul.backward", cases=_binary_cases, forward=np.multiply,
           inputs=("a", "b"))


# ---- elementwise activations -------------------------------------------------------------

def _unary_shapes(rng, hidden):
    if not hidden:
        return [(3, 4), (2, 1, 3)]
    n, m, b = (int(v) for v in rng.integers(1, 5, size=3))
    return [(), (n,), (b, n, m), (n, 1)]


def _activation_cases(sample):
    def cases(rng, hidden):
        return [_with_upstream(rng, {"a": sample(rng, s)}, s) for s in _unary_shapes(rng, hidden)]
    return cases


def _relu(x):
    return np.where(x.real > 0, x, 0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# relu's inputs stay away from its kink at 0; sigmoid and tanh get inputs where they bend
rule_probe("vjps.relu", what="ReLU.backward", forward=_relu, inputs=("a",),
           cases=_activation_cases(away_from_zero))
rule_probe("vjps.sigmoid", what="Sigmoid.backward", forward=_sigmoid, inputs=("a",),
           cases=_activation_cases(lambda rng, s: 2 * rng.standard_normal(s)))
rule_probe("vjps.tanh", what="Tanh.backward", forward=np.tanh, inputs=("a",),
           cases=_activation_cases(lambda rng, s: 1.5 * rng.standard_normal(s)))


# ---- sum and mean over an axis -----------------------------------------------------------
# `dim` travels as an int array plus its kind (None, an int, a tuple), since a case holds
# arrays only.

_DIM_NONE, _DIM_INT, _DIM_TUPLE = 0, 1, 2


def _reduce_cases(rng, hidden):
    if not hidden:
        specs = [((3, 4), None, False), ((3, 4), 1, False), ((2, 3, 4), (0, 2), True),
                 ((2, 3, 4), -1, True)]
    else:
        shape = tuple(int(v) for v in rng.integers(1, 5, size=3))
        pair = tuple(int(d) for d in rng.choice(3, size=2, replace=False))
        specs = [(shape, None, bool(rng.integers(2))), (shape, int(rng.integers(-3, 3)), False),
                 (shape, int(rng.integers(-3, 3)), True), (shape, pair, bool(rng.integers(2))),
                 ((), None, False)]
    cases = []
    for shape, dim, keepdim in specs:
        axes = _axes(dim, len(shape))
        out_shape = np.sum(np.zeros(shape), axis=axes, keepdims=keepdim).shape
        cases.append(_with_upstream(rng, {"a": rng.standard_normal(shape),
                                          **_encode_dim(dim), "keepdim": np.array(keepdim)},
                                    out_shape))
    return cases


def _encode_dim(dim):
    kind = _DIM_NONE if dim is None else _DIM_INT if isinstance(dim, int) else _DIM_TUPLE
    dims = () if dim is None else (dim,) if kind == _DIM_INT else dim
    return {"dims": np.array(dims, dtype=np.int64), "dim_kind": np.array(kind)}


def _decode_dim(case):
    kind, dims = int(case["dim_kind"]), tuple(int(d) for d in case["dims"])
    return None if kind == _DIM_NONE else dims[0] if kind == _DIM_INT else dims


def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, tuple) else (dim,)
    return tuple(sorted(d % ndim for d in dims))


def _reduce_probe(name, what, reduce):
    @probe(name, cases=_reduce_cases, scan=("backward",), what=what)
    def run(fn, case):
        out, grads = call_backward(fn, [noncontiguous(case["a"])], case["g"],
                                   dim=_decode_dim(case), keepdim=bool(case["keepdim"]))
        return {"out": out, "grad_a": grads[0]}

    @run.judge
    def judge(out, case, hidden):
        axes = _axes(_decode_dim(case), case["a"].ndim)
        def forward(a):
            return reduce(a, axis=axes, keepdims=bool(case["keepdim"]))
        want, = complex_step_vjp(forward, [case["a"]], case["g"])
        count = int(np.prod([case["a"].shape[i] for i in axes]))
        return (compare("the forward output", out["out"], _forward(forward, [case["a"]]),
                        hidden=hidden)
                or (reduce is np.mean
                    and _mean_without_1_over_n(out["grad_a"], want, count, hidden))
                or compare("the gradient of a", out["grad_a"], want, hidden=hidden))

    return run


def _mean_without_1_over_n(got, want, count, hidden):
    """The gradient of a mean that forgot to divide by the number of averaged elements."""
    if count == 1 or not _is_multiple(got, want, count):
        return None
    n = "n" if hidden else f"n = {count}"
    return (f"the gradient of a is {n} times too large: the mean divides by the number of "
            f"elements it averages, so each of them gets 1/n of the upstream gradient")


def _is_multiple(got, want, factor):
    """Is `got` (finite, of want's shape) `factor` times `want`?"""
    if got is None or np.shape(got) != want.shape or not np.isfinite(got).all():
        return False
    return rel_error(got, factor * want) <= diagnose.TOLERANCE


_reduce_probe("vjps.sum", "Sum.backward", np.sum)
_reduce_probe("vjps.mean", "Mean.backward", np.mean)


# ---- softmax, fused softmax-cross-entropy, layer norm -------------------------------------

def _softmax(z):
    e = np.exp(z - z.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_cases(rng, hidden):
    if not hidden:
        specs = [((4,), 0.0), ((2, 3), 0.0), ((2, 5), 1000.0)]
    else:
        n, c, b = (int(v) for v in rng.integers(1, 6, size=3))
        specs = [((c,), 0.0), ((n, c), 0.0), ((b, n, c), 0.0), ((n, 1), 0.0),
                 ((n, c), 1000.0)]
    return [_with_upstream(rng, {"z": offset + rng.standard_normal(s)}, s) for s, offset in specs]


rule_probe("vjps.softmax", what="Softmax.backward", cases=_softmax_cases, forward=_softmax,
           inputs=("z",))


def _cross_entropy(logits, targets):
    """Mean over the batch of -log softmax(logits)[target], stable for any logits."""
    c = logits.real.max(axis=-1, keepdims=True)
    log_p = logits - c - np.log(np.exp(logits - c).sum(axis=-1, keepdims=True))
    return -log_p[np.arange(len(targets)), targets].mean()


def _cross_entropy_cases(rng, hidden):
    # logits near +-1000 overflow an exp that was not shifted by the row's max
    if not hidden:
        specs = [(4, 3, 0.0), (3, 5, 1000.0), (2, 4, -1000.0)]
    else:
        specs = [(int(rng.integers(1, 6)), int(rng.integers(2, 6)), offset)
                 for offset in (0.0, 0.0, 1000.0, -1000.0)]
    cases = []
    for n, classes, offset in specs:
        cases.append({"logits": offset + 2 * rng.standard_normal((n, classes)),
                      "targets": rng.integers(0, classes, size=n),
                      "g": np.array(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0))})
    return cases


@probe("vjps.softmax_ce", cases=_cross_entropy_cases, scan=("backward",),
       what="SoftmaxCrossEntropy.backward")
def _run_cross_entropy(fn, case):
    out, grads = call_backward(fn, [noncontiguous(case["logits"]), case["targets"]], case["g"])
    return {"out": out, "grad_logits": grads[0]}


@_run_cross_entropy.judge
def _judge_cross_entropy(out, case, hidden):
    logits, targets = case["logits"], case["targets"]
    def loss(z):
        return _cross_entropy(z, targets)
    want, = complex_step_vjp(loss, [logits], case["g"])
    return (compare("the forward output (the loss)", out["out"], _forward(loss, [logits]),
                    hidden=hidden)
            or _batch_mean_forgotten(out["grad_logits"], want, len(targets), hidden)
            or compare("the gradient of logits", out["grad_logits"], want, hidden=hidden))


def _batch_mean_forgotten(got, want, n, hidden):
    if n == 1 or not _is_multiple(got, want, n):
        return None
    shown = "N" if hidden else f"N = {n}"
    return (f"the gradient of logits is {shown} times too large: the loss is the mean over "
            f"the batch, so each row's gradient carries a factor 1/N")


def _layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias


def _layer_norm_cases(rng, hidden):
    if not hidden:
        shapes = [(4, 3), (2, 3, 5), (3,)]
    else:
        n, d, b = int(rng.integers(1, 5)), int(rng.integers(2, 6)), int(rng.integers(1, 4))
        shapes = [(n, d), (b, n, d), (d,), (1, d)]
    cases = []
    for s in shapes:
        x = rng.uniform(-2, 2) + rng.uniform(0.5, 2) * rng.standard_normal(s)
        inputs = {"x": x, "weight": rng.standard_normal(s[-1]),
                  "bias": rng.standard_normal(s[-1])}
        cases.append(_with_upstream(rng, inputs, s))
    return cases


rule_probe("vjps.layer_norm", what="LayerNorm.backward", cases=_layer_norm_cases,
           forward=_layer_norm, inputs=("x", "weight", "bias"), bias=("bias",))


# ---- a small MLP trained with the student's Functions --------------------------------------
# The architecture is the same in visible and hidden cases (2 features, 16 hidden units, 3
# classes); only the data and the initial weights are drawn from the seed, so an error
# message from the engine (which names shapes) gives nothing hidden away.

MLP_FEATURES, MLP_WIDTH, MLP_CLASSES, MLP_POINTS = 2, 16, 3, 60
MLP_STEPS, MLP_LR = 60, 0.5
# The final loss must be below this fraction of the first. Training is deterministic given
# the seed; on 600 seeded datasets the reference ended at 0.015 of its first loss or lower,
# and tests/test_exercise_vjps.py keeps 100 of them below a third of this bound.
MLP_FALL = 0.1


def train_mlp(MatMul, Add, ReLU, SoftmaxCrossEntropy, X, y, params, lr=MLP_LR,
              steps=MLP_STEPS):
    """Full-batch SGD on Linear → ReLU → Linear → softmax-cross-entropy, every op one of the
    given Functions (via `.apply`), gradients from the engine's `loss.backward()`.

    Returns the loss before each step and, per Function, how many of its nodes the first
    step's tape holds (so a judge can see that these classes, not others, built the model).
    """
    W1, b1, W2, b2 = (Tensor(p, requires_grad=True) for p in params)
    x = Tensor(X)
    sgd = optim.SGD([W1, b1, W2, b2], lr=lr)
    losses, uses = [], None
    for _ in range(steps):
        hidden = ReLU.apply(Add.apply(MatMul.apply(x, W1), b1))
        loss = SoftmaxCrossEntropy.apply(Add.apply(MatMul.apply(hidden, W2), b2), y)
        if uses is None:
            fns = [node._fn for node in topological_order([loss.grad_fn])]
            uses = [fns.count(cls) for cls in (MatMul, Add, ReLU, SoftmaxCrossEntropy)]
        losses.append(float(loss.data))
        sgd.zero_grad()
        loss.backward()
        sgd.step()
    return np.array(losses), np.array(uses)


MLP_USES = (2, 2, 1, 1)  # MatMul, Add, ReLU, SoftmaxCrossEntropy nodes in one forward


def _mlp_cases(rng, hidden):
    return [_blobs(rng) for _ in range(2 if hidden else 1)]


def _blobs(rng):
    """Three Gaussian blobs around a circle, in random orientation, and initial weights."""
    angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(MLP_CLASSES) / MLP_CLASSES
    centers = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    y = rng.permutation(np.arange(MLP_POINTS) % MLP_CLASSES)
    X = centers[y] + 0.6 * rng.standard_normal((MLP_POINTS, MLP_FEATURES))
    return {"X": X, "y": y,
            "W1": rng.standard_normal((MLP_FEATURES, MLP_WIDTH)) / np.sqrt(MLP_FEATURES),
            "b1": 0.1 * rng.standard_normal(MLP_WIDTH),
            "W2": rng.standard_normal((MLP_WIDTH, MLP_CLASSES)) / np.sqrt(MLP_WIDTH),
            "b2": np.zeros(MLP_CLASSES)}


# The engine is the point here: no guard, no scan (the rule parts catch delegation).
@probe("vjps.mlp", cases=_mlp_cases, guard=False, what="the MLP trained with your Functions")
def _run_mlp(MatMul, Add, ReLU, SoftmaxCrossEntropy, case):
    params = [case[k] for k in ("W1", "b1", "W2", "b2")]
    losses, uses = train_mlp(MatMul, Add, ReLU, SoftmaxCrossEntropy, case["X"], case["y"],
                             params)
    return {"losses": losses, "uses": uses}


@_run_mlp.judge
def _judge_mlp(out, case, hidden):
    losses, uses = np.asarray(out["losses"]), tuple(int(u) for u in out["uses"])
    if uses != MLP_USES:
        return ("the model was not built from your Functions: one forward should record "
                "2 MatMul, 2 Add, 1 ReLU and 1 SoftmaxCrossEntropy nodes on the tape, it "
                f"recorded {uses[0]}, {uses[1]}, {uses[2]}, {uses[3]}; let `.apply` work as "
                f"the engine defines it")
    first = _mlp_initial_loss(case)
    if not np.isfinite(losses).all():
        step = int(np.argmin(np.isfinite(losses)))
        where = "" if hidden else f" at step {step}"
        return (f"the loss became NaN or inf{where}: some gradient is far too large or "
                f"not finite")
    if rel_error(losses[0], first) > diagnose.TOLERANCE:
        return ("the first loss is not the cross-entropy of the initial model: a forward "
                "(given code) has been changed")
    if losses[-1] > MLP_FALL * losses[0]:
        shown = "" if hidden else f" (from {losses[0]:.3f} to {losses[-1]:.3f})"
        return (f"the loss did not fall below {MLP_FALL:g} of its first value in "
                f"{len(losses)} steps{shown}: check the backward rules the model uses "
                f"(MatMul, Add, ReLU, SoftmaxCrossEntropy)")
    return None


def _mlp_initial_loss(case):
    hidden = np.maximum(case["X"] @ case["W1"] + case["b1"], 0)
    return _cross_entropy(hidden @ case["W2"] + case["b2"], case["y"])
