"""Shared strategies, oracles and assertion helpers for the engine's tests.

The oracles here are independent of the engine's own checking code: central finite
differences are written out below (not `autodiff.gradcheck`), and every comparison goes
through `assert_close`, whose message names the op, the shapes and the numbers, so a failing
test explains itself.

`CASES` is a table of one fixed example per op (inputs, value domain, the call written once
for both the engine and PyTorch). The dtype, forward-mode, second-order and PyTorch tests
all run over it; the hypothesis tests in test_engine_ops.py vary shapes per op family.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
import autodiff.nn.functional as adF

# Modest example counts keep the engine suite well under a minute on two cores.
SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(SETTINGS, max_examples=10)

# ---------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------
seeds = st.integers(0, 2**32 - 1)


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable(num_shapes, min_dims=0, max_dims=4, min_side=1, max_side=3):
    """Shapes that broadcast together: size-1 axes, missing leading axes, 0-d all appear."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                             max_dims=max_dims, min_side=min_side,
                                             max_side=max_side)


@st.composite
def dims(draw, ndim, allow_none=True, allow_tuple=True):
    """A `dim` argument for a reduction over an ndim-array: None, an int (either sign) or a
    tuple of distinct axes (either sign)."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).flatmap(
                lambda axes: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axes])))
    return draw(st.one_of(*options))


def rng_of(seed):
    return np.random.default_rng(seed)


# value domains: keep finite differences away from kinks and singularities
def normal(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def away_from_zero(rng, shape, margin=0.2, dtype=np.float64):
    x = rng.standard_normal(shape)
    return (np.where(x >= 0, 1.0, -1.0) * (np.abs(x) + margin)).astype(dtype)


def positive(rng, shape, lo=0.5, hi=2.0, dtype=np.float64):
    return rng.uniform(lo, hi, shape).astype(dtype)


def distinct(rng, shape, dtype=np.float64):
    """Values at least 0.05 apart (a shuffled grid): max/amax have no ties to split."""
    n = int(np.prod(shape))
    values = (rng.permutation(n) * 0.05 - n * 0.025).reshape(shape)
    return values.astype(dtype)


DOMAINS = {"normal": normal, "nonzero": away_from_zero, "positive": positive,
           "distinct": distinct}


# ---------------------------------------------------------------------------------------
# assertions with messages that name op, shapes and numbers
# ---------------------------------------------------------------------------------------
def _describe(x):
    return f"shape {tuple(np.shape(x))} {np.asarray(x).dtype}"


def assert_close(actual, expected, what, *, rtol=1e-5, atol=1e-7):
    """`actual` ≈ `expected` elementwise; otherwise fail naming `what`, the worst element
    and both values there."""
    actual = np.asarray(actual.data if isinstance(actual, ad.Tensor) else actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape}, expected {expected.shape}")
    if actual.size == 0:
        return
    a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
    bad = ~(np.abs(a64 - e64) <= atol + rtol * np.abs(e64))
    bad |= np.isnan(a64) != np.isnan(e64)
    if bad.any():
        err = np.where(bad, np.abs(a64 - e64), -1)
        err = np.where(np.isnan(err), np.inf, err)
        k = np.unravel_index(int(np.argmax(err)), actual.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {actual.size} elements differ "
            f"(rtol={rtol}, atol={atol}); worst at index {tuple(map(int, k))}: "
            f"got {a64[k]!r}, expected {e64[k]!r}\n got: {np.array2string(a64, threshold=20)}"
            f"\n expected: {np.array2string(e64, threshold=20)}")


def assert_dtype(t, dtype, what):
    got = np.asarray(t.data if isinstance(t, ad.Tensor) else t).dtype
    assert got == np.dtype(dtype), f"{what}: dtype {got}, expected {np.dtype(dtype)}"


# ---------------------------------------------------------------------------------------
# finite differences: the independent oracle
# ---------------------------------------------------------------------------------------
def numerical_gradient(scalar_fn, arrays, eps=1e-6):
    """Central differences (f(x + eps e_j) - f(x - eps e_j)) / 2 eps of a scalar function of
    several float64 arrays, one element at a time. Error O(eps²) + roundoff/eps."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        flat = a.reshape(-1)  # a view into a: perturbing it perturbs the argument
        g = np.zeros(flat.size)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            plus = scalar_fn(*arrays)
            flat[j] = old - eps
            minus = scalar_fn(*arrays)
            flat[j] = old
            g[j] = (plus - minus) / (2 * eps)
        grads.append(g.reshape(a.shape))
    return grads


def engine_value(fn, arrays):
    """fn's output as a float64 array, run on constant (no-grad) tensors."""
    with ad.no_grad():
        out = fn(*[ad.tensor(a) for a in arrays])
    return np.asarray(out.data, dtype=np.float64)


def check_gradients(op, fn, arrays, *, ref=None, seed=0, eps=1e-6, rtol=1e-5, atol=1e-6):
    """Check fn's forward against `ref` (numpy) and every input's gradient against central
    finite differences of L(x) = <u, fn(x)>, for a random cotangent u."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shapes_ = [a.shape for a in arrays]
    label = f"{op} on input shapes {shapes_}"
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    assert isinstance(out, ad.Tensor), f"{label}: returned {type(out).__name__}, not Tensor"
    if ref is not None:
        assert_close(out.data, ref(*arrays), f"{label}: forward value vs numpy", rtol=1e-10,
                     atol=1e-12)
    u = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:
        grads = ad.grad(out, xs, u, allow_unused=True)
    else:
        grads = (None,) * len(xs)
    grads = [np.zeros(a.shape) if g is None else g.data for a, g in zip(arrays, grads)]
    numeric = numerical_gradient(lambda *a: float(np.sum(u * engine_value(fn, a))), arrays,
                                 eps)
    for i, (g, n) in enumerate(zip(grads, numeric)):
        assert np.shape(g) == shapes_[i], (
            f"{label}: gradient for input {i} has shape {np.shape(g)}, expected {shapes_[i]}")
        assert_close(g, n, f"{label}: d<u, out>/d input {i}, engine vs central differences",
                     rtol=rtol, atol=atol)
    return out


def first_gradient(fn, arrays, u):
    """d<u, fn(x)>/dx for each input, by the engine's ordinary (first-order) backward."""
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    grads = ad.grad(out, xs, u, allow_unused=True)
    return [np.zeros(a.shape) if g is None else g.data for a, g in zip(arrays, grads)]


def check_second_order(op, fn, arrays, *, seed=0, eps=1e-5, rtol=1e-4, atol=1e-6):
    """Grad of grad: the Hessian-vector product H w of L(x) = <u, fn(x)>, from a backward
    through a create_graph=True gradient, against central differences of the first
    gradient along w: (g(x + eps w) - g(x - eps w)) / 2 eps."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    label = f"{op} on input shapes {[a.shape for a in arrays]}"
    rng = np.random.default_rng(seed)
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    u = rng.standard_normal(out.shape)
    ws = [rng.standard_normal(a.shape) for a in arrays]
    gs = ad.grad(out, xs, u, create_graph=True, allow_unused=True)
    terms = [(g * w).sum() for g, w in zip(gs, ws) if g is not None]
    s = terms[0]
    for t in terms[1:]:
        s = s + t
    if s.requires_grad:
        hv = ad.grad(s, xs, allow_unused=True)
        hv = [np.zeros(a.shape) if h is None else h.data for a, h in zip(arrays, hv)]
    else:  # the first gradient does not depend on x: the op is linear
        hv = [np.zeros(a.shape) for a in arrays]
    plus = first_gradient(fn, [a + eps * w for a, w in zip(arrays, ws)], u)
    minus = first_gradient(fn, [a - eps * w for a, w in zip(arrays, ws)], u)
    for i in range(len(arrays)):
        numeric = (plus[i] - minus[i]) / (2 * eps)
        assert_close(hv[i], numeric, f"{label}: Hessian-vector product for input {i} "
                     f"(grad of grad, create_graph=True) vs differences of the first gradient",
                     rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------
# op tables shared by the hypothesis tests: engine call, numpy reference, value domain
# ---------------------------------------------------------------------------------------
BINARY = {
    # name: (engine, numpy, domain of a, domain of b)
    "add": (lambda a, b: a + b, np.add, normal, normal),
    "sub": (lambda a, b: a - b, np.subtract, normal, normal),
    "mul": (lambda a, b: a * b, np.multiply, normal, normal),
    "div": (lambda a, b: a / b, np.divide, normal, away_from_zero),
    "pow": (lambda a, b: a ** b, np.power, positive, normal),
}


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    # name: (engine, numpy, domain)
    "neg": (lambda x: -x, np.negative, normal),
    "exp": (lambda x: x.exp(), np.exp, normal),
    "log": (lambda x: x.log(), np.log, positive),
    "tanh": (lambda x: x.tanh(), np.tanh, normal),
    "sigmoid": (lambda x: x.sigmoid(), sigmoid_ref, normal),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), away_from_zero),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, positive),
    "abs": (lambda x: x.abs(), np.abs, away_from_zero),
    "ad.exp": (ad.exp, np.exp, normal),
    "ad.log": (ad.log, np.log, positive),
    "ad.tanh": (ad.tanh, np.tanh, normal),
    "ad.sigmoid": (ad.sigmoid, sigmoid_ref, normal),
    "ad.relu": (ad.relu, lambda x: np.maximum(x, 0), away_from_zero),
    "ad.sqrt": (ad.sqrt, np.sqrt, positive),
    "ad.abs": (ad.abs, np.abs, away_from_zero),
}


REDUCTIONS = {
    "sum": (lambda x, dim, keep: x.sum(dim, keep), np.sum, normal),
    "mean": (lambda x, dim, keep: x.mean(dim=dim, keepdim=keep), np.mean, normal),
    "amax": (lambda x, dim, keep: x.amax(dim, keepdim=keep), np.amax, distinct),
    "ad.sum": (lambda x, dim, keep: ad.sum(x, dim, keep), np.sum, normal),
    "ad.mean": (lambda x, dim, keep: ad.mean(x, dim, keep), np.mean, normal),
    "ad.amax": (lambda x, dim, keep: ad.amax(x, dim, keep), np.amax, distinct),
}


# ---------------------------------------------------------------------------------------
# one example per op, written once for the engine and for PyTorch
# ---------------------------------------------------------------------------------------
ENGINE = SimpleNamespace(
    name="autodiff", matmul=ad.matmul, where=ad.where, cat=ad.cat, stack=ad.stack, F=adF,
    const=lambda a: ad.tensor(a), like=lambda a, x: ad.tensor(a, dtype=x.dtype))


def torch_namespace():
    import torch
    import torch.nn.functional as tF
    return SimpleNamespace(name="torch", matmul=torch.matmul, where=torch.where, cat=torch.cat,
                           stack=torch.stack, F=tF, const=lambda a: torch.as_tensor(np.array(a)),
                           like=lambda a, x: torch.from_numpy(np.asarray(a)).to(x.dtype))


@dataclass
class Case:
    """op name; differentiable inputs as (shape, domain); `call(m, *xs)` with m = ENGINE or
    the torch namespace; `smooth`: twice differentiable at the sampled points (piecewise
    linear ops have second derivative 0 there, which is checked too)."""
    name: str
    inputs: list
    call: Callable
    smooth: bool = True
    float32_rtol: float = 1e-4
    tags: set = field(default_factory=set)

    def arrays(self, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        return [DOMAINS[domain](rng, shape).astype(dtype) for shape, domain in self.inputs]

    def engine_fn(self):
        return lambda *xs: self.call(ENGINE, *xs)


_IDX = np.array([[0, 2], [2, 2]])          # repeated indices: gradients must add
_ROWS, _COLS = np.array([0, 1, 1]), np.array([2, 0, 2])
_MASK = np.array([[True, False, True, True], [False, False, True, False],
                  [True, True, False, False]])
_COND = np.array([[True], [False]])         # broadcasts against (2, 3)
_TARGET = np.array([2, 0, 1, 1])
_PROBS = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]])

CASES = [
    # elementwise, binary (broadcasting), and with Python scalars on either side
    Case("add", [((2, 3), "normal"), ((3,), "normal")], lambda m, a, b: a + b),
    Case("add_scalar", [((2, 3), "normal")], lambda m, a: 2.5 + a + 1),
    Case("sub", [((2, 1), "normal"), ((1, 3), "normal")], lambda m, a, b: a - b),
    Case("rsub_scalar", [((3,), "normal")], lambda m, a: 1.5 - a),
    Case("mul", [((2, 3), "normal"), ((2, 1), "normal")], lambda m, a, b: a * b),
    Case("mul_scalar", [((2, 3), "normal")], lambda m, a: 3 * a * 0.5),
    Case("mul_0d", [((), "normal"), ((2, 3), "normal")], lambda m, a, b: a * b),
    Case("div", [((2, 3), "normal"), ((3,), "nonzero")], lambda m, a, b: a / b),
    Case("rdiv_scalar", [((4,), "nonzero")], lambda m, a: 2.0 / a),
    Case("pow_tensor", [((2, 3), "positive"), ((3,), "normal")], lambda m, a, b: a ** b),
    Case("pow_int", [((2, 3), "normal")], lambda m, a: a ** 3),
    Case("pow_float", [((2, 3), "positive")], lambda m, a: a ** -1.5),
    Case("pow_half", [((2, 3), "positive")], lambda m, a: a ** 0.5),
    Case("rpow", [((4,), "normal")], lambda m, a: 2.0 ** a),
    Case("neg", [((2, 3), "normal")], lambda m, a: -a),
    Case("exp", [((2, 3), "normal")], lambda m, a: a.exp()),
    Case("log", [((2, 3), "positive")], lambda m, a: a.log()),
    Case("tanh", [((2, 3), "normal")], lambda m, a: a.tanh()),
    Case("sigmoid", [((2, 3), "normal")], lambda m, a: a.sigmoid()),
    Case("relu", [((3, 4), "nonzero")], lambda m, a: a.relu(), smooth=False),
    Case("sqrt", [((2, 3), "positive")], lambda m, a: a.sqrt()),
    Case("abs", [((3, 4), "nonzero")], lambda m, a: a.abs(), smooth=False),
    Case("clamp", [((3, 4), "distinct")], lambda m, a: a.clamp(-0.22, 0.18), smooth=False),
    Case("clamp_min", [((3, 4), "distinct")], lambda m, a: a.clamp(min=-0.12), smooth=False),
    Case("clamp_max", [((3, 4), "distinct")], lambda m, a: a.clamp(max=0.13), smooth=False),
    # reductions
    Case("sum", [((2, 3, 4), "normal")], lambda m, a: a.sum()),
    Case("sum_dim", [((2, 3, 4), "normal")], lambda m, a: a.sum(-1)),
    Case("sum_dims_keepdim", [((2, 3, 4), "normal")], lambda m, a: a.sum((0, -1), keepdim=True)),
    Case("mean", [((2, 3, 4), "normal")], lambda m, a: a.mean()),
    Case("mean_dims", [((2, 3, 4), "normal")], lambda m, a: a.mean((-1, 0))),
    Case("mean_keepdim", [((2, 3), "normal")], lambda m, a: a.mean(1, keepdim=True)),
    Case("amax", [((3, 4), "distinct")], lambda m, a: a.amax(), smooth=False),
    Case("amax_dim", [((2, 3, 4), "distinct")], lambda m, a: a.amax(-2), smooth=False),
    Case("amax_dims_keepdim", [((2, 3, 4), "distinct")],
         lambda m, a: a.amax((0, 2), keepdim=True), smooth=False),
    Case("max", [((3, 4), "distinct")], lambda m, a: a.max(), smooth=False),
    Case("max_dim", [((3, 4), "distinct")], lambda m, a: a.max(1).values, smooth=False),
    Case("max_dim_keepdim", [((3, 4), "distinct")], lambda m, a: a.max(-2, keepdim=True)[0],
         smooth=False),
    # shape
    Case("reshape", [((2, 3, 2), "normal")], lambda m, a: a.reshape(3, 4) ** 2),
    Case("reshape_tuple", [((2, 6), "normal")], lambda m, a: a.reshape((4, -1)) ** 2),
    Case("view", [((2, 3), "normal")], lambda m, a: a.view(-1) ** 2),
    Case("transpose", [((2, 3, 4), "normal")], lambda m, a: a.transpose(0, -1) ** 2),
    Case("permute", [((2, 3, 4), "normal")], lambda m, a: a.permute(2, 0, 1) ** 2),
    Case("T", [((2, 3), "normal")], lambda m, a: a.T ** 2),
    Case("mT", [((4, 2, 3), "normal")], lambda m, a: a.mT ** 2),
    Case("unsqueeze", [((2, 3), "normal")], lambda m, a: a.unsqueeze(-2) ** 2),
    Case("squeeze", [((2, 1, 3, 1), "normal")], lambda m, a: a.squeeze() ** 2),
    Case("squeeze_dim", [((2, 1, 3), "normal")], lambda m, a: a.squeeze(1) ** 2),
    Case("expand", [((3, 1), "normal")], lambda m, a: a.expand(2, 3, 4) ** 2),
    Case("expand_minus1", [((3, 1), "normal")], lambda m, a: a.expand(-1, 4) ** 2),
    # indexing
    Case("index_int", [((3, 4), "normal")], lambda m, a: a[1] ** 2),
    Case("index_slice", [((3, 4), "normal")], lambda m, a: a[:, 1:3] ** 2),
    Case("index_step_neg", [((5, 4), "normal")], lambda m, a: a[::2, -1] ** 2),
    Case("index_ellipsis_none", [((2, 3, 4), "normal")], lambda m, a: a[None, ..., 0] ** 2),
    Case("index_repeated", [((3, 4), "normal")], lambda m, a: a[m.const(_IDX)] ** 2),
    Case("index_pairs", [((3, 4), "normal")],
         lambda m, a: a[m.const(_ROWS), m.const(_COLS)] ** 2),
    Case("index_mixed", [((3, 4), "normal")], lambda m, a: a[1:, m.const(_COLS)] ** 2),
    Case("index_mask", [((3, 4), "normal")], lambda m, a: a[m.const(_MASK)] ** 2),
    # matmul
    Case("matmul_1d_1d", [((3,), "normal"), ((3,), "normal")], lambda m, a, b: a @ b),
    Case("matmul_1d_2d", [((3,), "normal"), ((3, 4), "normal")], lambda m, a, b: a @ b),
    Case("matmul_2d_1d", [((2, 3), "normal"), ((3,), "normal")], lambda m, a, b: a @ b),
    Case("matmul_2d_2d", [((2, 3), "normal"), ((3, 4), "normal")], lambda m, a, b: m.matmul(a, b)),
    Case("matmul_batched", [((2, 1, 3, 4), "normal"), ((5, 4, 2), "normal")],
         lambda m, a, b: a @ b),
    Case("matmul_1d_batched", [((4,), "normal"), ((2, 4, 3), "normal")], lambda m, a, b: a @ b),
    Case("matmul_batched_1d", [((2, 2, 3), "normal"), ((3,), "normal")], lambda m, a, b: a @ b),
    # selection and joining
    Case("where", [((2, 3), "normal"), ((3,), "normal")],
         lambda m, a, b: m.where(m.const(_COND), a, b)),
    Case("where_scalar", [((2, 3), "normal")], lambda m, a: m.where(m.const(_COND), a, 0.0)),
    Case("cat", [((2, 3), "normal"), ((1, 3), "normal"), ((2, 3), "normal")],
         lambda m, a, b, c: m.cat([a, b, c], 0)),
    Case("cat_neg_dim", [((2, 3), "normal"), ((2, 1), "normal")],
         lambda m, a, b: m.cat([a, b], dim=-1)),
    Case("stack", [((2, 3), "normal"), ((2, 3), "normal")], lambda m, a, b: m.stack([a, b])),
    Case("stack_neg_dim", [((2, 3), "normal"), ((2, 3), "normal")],
         lambda m, a, b: m.stack([a, b], dim=-1)),
    # nn.functional
    Case("softmax", [((3, 4), "normal")], lambda m, a: m.F.softmax(a, dim=-1)),
    Case("softmax_dim0", [((3, 4), "normal")], lambda m, a: m.F.softmax(a, dim=0)),
    Case("log_softmax", [((3, 4), "normal")], lambda m, a: m.F.log_softmax(a, dim=-1)),
    Case("log_softmax_dim1", [((2, 3, 4), "normal")], lambda m, a: m.F.log_softmax(a, dim=1)),
    Case("cross_entropy", [((4, 3), "normal")],
         lambda m, a: m.F.cross_entropy(a, m.const(_TARGET))),
    Case("cross_entropy_sum", [((4, 3), "normal")],
         lambda m, a: m.F.cross_entropy(a, m.const(_TARGET), reduction="sum")),
    Case("cross_entropy_none", [((4, 3), "normal")],
         lambda m, a: m.F.cross_entropy(a, m.const(_TARGET), reduction="none")),
    Case("cross_entropy_1d", [((3,), "normal")],
         lambda m, a: m.F.cross_entropy(a, m.const(np.array(1)))),
    Case("cross_entropy_probs", [((4, 3), "normal")],
         lambda m, a: m.F.cross_entropy(a, m.like(_PROBS, a))),
    Case("cross_entropy_probs_grad", [((4, 3), "normal"), ((4, 3), "positive")],
         lambda m, a, t: m.F.cross_entropy(a, t)),
    Case("mse_loss", [((2, 3), "normal"), ((2, 3), "normal")],
         lambda m, a, b: m.F.mse_loss(a, b)),
    Case("mse_loss_sum", [((2, 3), "normal"), ((2, 3), "normal")],
         lambda m, a, b: m.F.mse_loss(a, b, reduction="sum")),
    Case("mse_loss_none", [((2, 3), "normal"), ((2, 3), "normal")],
         lambda m, a, b: m.F.mse_loss(a, b, reduction="none")),
    Case("linear", [((5, 3), "normal"), ((4, 3), "normal"), ((4,), "normal")],
         lambda m, x, w, b: m.F.linear(x, w, b)),
    Case("linear_nobias", [((5, 3), "normal"), ((4, 3), "normal")],
         lambda m, x, w: m.F.linear(x, w)),
    Case("linear_batched", [((2, 5, 3), "normal"), ((4, 3), "normal"), ((4,), "normal")],
         lambda m, x, w, b: m.F.linear(x, w, b)),
    Case("linear_1d", [((3,), "normal"), ((4, 3), "normal"), ((4,), "normal")],
         lambda m, x, w, b: m.F.linear(x, w, b)),
    Case("layer_norm", [((3, 4), "normal")], lambda m, x: m.F.layer_norm(x, (4,)),
         float32_rtol=1e-3),
    Case("layer_norm_affine", [((2, 3, 4), "normal"), ((4,), "normal"), ((4,), "normal")],
         lambda m, x, w, b: m.F.layer_norm(x, (4,), w, b), float32_rtol=1e-3),
    Case("layer_norm_2d", [((2, 3, 4), "normal"), ((3, 4), "normal"), ((3, 4), "normal")],
         lambda m, x, w, b: m.F.layer_norm(x, (3, 4), w, b), float32_rtol=1e-3),
    Case("relu_fn", [((3, 4), "nonzero")], lambda m, a: m.F.relu(a), smooth=False),
    Case("sigmoid_fn", [((3, 4), "normal")], lambda m, a: m.F.sigmoid(a)),
    Case("tanh_fn", [((3, 4), "normal")], lambda m, a: m.F.tanh(a)),
]
CASE_IDS = [c.name for c in CASES]
SMOOTH_CASES = [c for c in CASES if c.smooth]
