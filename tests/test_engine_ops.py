"""Every op: forward value against numpy, gradient against central finite differences, over
random shapes (hypothesis) including broadcasting edge cases -- size-1 axes, 0-d tensors,
missing leading axes, empty batches -- and in float32 and float64 alike.

The finite differences and the comparisons are in engine_strategies.py; they do not use the
engine's own gradcheck.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
import autodiff.nn.functional as F
from engine_strategies import (BINARY, CASE_IDS, CASES, FEW, REDUCTIONS, SETTINGS, UNARY,
                               assert_close, assert_dtype, broadcastable, check_gradients, dims,
                               distinct, normal, positive, rng_of, seeds, shapes, sigmoid_ref)

# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)), shapes=broadcastable(2, min_side=0), seed=seeds)
def test_binary_op_broadcasts_and_reduces_gradient_to_each_input_shape(op, shapes, seed):
    engine, numpy_ref, domain_a, domain_b = BINARY[op]
    rng = rng_of(seed)
    a, b = domain_a(rng, shapes.input_shapes[0]), domain_b(rng, shapes.input_shapes[1])
    out = check_gradients(op, engine, [a, b], ref=numpy_ref, seed=seed)
    assert out.shape == shapes.result_shape, f"{op}: output shape {out.shape}"


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)), shape=shapes(min_side=0), scalar_left=st.booleans(),
       scalar=st.floats(0.5, 3.0), seed=seeds)
def test_binary_op_with_python_scalar_on_either_side(op, shape, scalar_left, scalar, seed):
    engine, numpy_ref, domain_a, domain_b = BINARY[op]
    rng = rng_of(seed)
    if scalar_left:  # scalar (op) x: x must suit the right operand's domain
        x = domain_b(rng, shape)
        check_gradients(f"{scalar} {op} x", lambda x: engine(scalar, x), [x],
                        ref=lambda x: numpy_ref(scalar, x), seed=seed)
    else:
        x = domain_a(rng, shape)
        check_gradients(f"x {op} {scalar}", lambda x: engine(x, scalar), [x],
                        ref=lambda x: numpy_ref(x, scalar), seed=seed)


@SETTINGS
@given(exponent=st.sampled_from([-2, -1.5, -1, 0, 0.5, 1, 2, 3, 2.7]), shape=shapes(),
       seed=seeds)
def test_pow_with_scalar_exponent_on_positive_bases(exponent, shape, seed):
    x = positive(rng_of(seed), shape)
    check_gradients(f"x ** {exponent}", lambda x: x ** exponent, [x],
                    ref=lambda x: x ** exponent, seed=seed)


@SETTINGS
@given(exponent=st.sampled_from([2, 3, 4]), shape=shapes(), seed=seeds)
def test_pow_with_integer_exponent_on_any_sign(exponent, shape, seed):
    x = normal(rng_of(seed), shape)
    check_gradients(f"x ** {exponent}", lambda x: x ** exponent, [x],
                    ref=lambda x: x ** exponent, seed=seed)




@SETTINGS
@given(op=st.sampled_from(sorted(UNARY)), shape=shapes(min_side=0), seed=seeds)
def test_unary_op(op, shape, seed):
    engine, numpy_ref, domain = UNARY[op]
    check_gradients(op, engine, [domain(rng_of(seed), shape)], ref=numpy_ref, seed=seed)


def test_sigmoid_is_finite_and_exact_for_large_inputs():
    x = ad.tensor([-800.0, -40.0, 0.0, 40.0, 800.0], requires_grad=True)
    y = x.sigmoid()
    assert np.all(np.isfinite(y.data)), f"sigmoid overflowed: {y.data}"
    assert_close(y.data, [0.0, sigmoid_ref(-40.0), 0.5, 1.0, 1.0], "sigmoid at large |x|",
                 atol=1e-300)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.data)), f"sigmoid gradient overflowed: {x.grad.data}"


def test_relu_and_abs_take_gradient_zero_at_zero_as_pytorch():
    x = ad.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert_close(x.grad, [0.0, 0.0, 1.0], "relu'(x) at x = -1, 0, 2")
    x.grad = None
    x.abs().sum().backward()
    assert_close(x.grad, [-1.0, 0.0, 1.0], "abs'(x) at x = -1, 0, 2")


@SETTINGS
@given(shape=shapes(min_side=0), lo=st.none() | st.floats(-1.5, 0.0),
       hi=st.none() | st.floats(0.0, 1.5), seed=seeds, via_module=st.booleans())
def test_clamp(shape, lo, hi, seed, via_module):
    assume(lo is not None or hi is not None)
    x = normal(rng_of(seed), shape)
    for bound in (lo, hi):  # keep finite differences off the kinks
        if bound is not None:
            x = np.where(np.abs(x - bound) < 1e-3, x + 0.01, x)
    engine = (lambda t: ad.clamp(t, lo, hi)) if via_module else (lambda t: t.clamp(lo, hi))
    check_gradients(f"clamp(min={lo}, max={hi})", engine, [x],
                    ref=lambda x: np.clip(x, lo, hi), seed=seed)


def test_clamp_passes_gradient_at_the_bounds_as_pytorch():
    x = ad.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x.clamp(-1.0, 1.0).sum().backward()
    assert_close(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0], "clamp(-1, 1)' at -2, -1, 0, 1, 2")


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------
def _np_axes(dim, ndim):
    return None if dim is None else tuple(d % ndim for d in (dim if isinstance(dim, tuple)
                                                            else (dim,)))




@SETTINGS
@given(op=st.sampled_from(sorted(REDUCTIONS)), data=st.data(), keepdim=st.booleans(),
       seed=seeds)
def test_reduction_over_dims(op, data, keepdim, seed):
    engine, numpy_ref, domain = REDUCTIONS[op]
    # sum over an empty axis is 0; mean and max of nothing are undefined
    shape = data.draw(shapes(min_dims=0 if op.endswith("sum") else 1,
                             min_side=0 if op.endswith("sum") else 1), "shape")
    dim = data.draw(dims(len(shape)), "dim")
    x = domain(rng_of(seed), shape)
    check_gradients(f"{op}(dim={dim}, keepdim={keepdim})", lambda t: engine(t, dim, keepdim),
                    [x], ref=lambda x: numpy_ref(x, axis=_np_axes(dim, x.ndim),
                                                 keepdims=keepdim), seed=seed)


@SETTINGS
@given(data=st.data(), keepdim=st.booleans(), seed=seeds)
def test_max_with_dim_returns_values_and_indices(data, keepdim, seed):
    shape = data.draw(shapes(min_dims=1), "shape")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), "dim")
    x = distinct(rng_of(seed), shape)
    values, indices = ad.tensor(x).max(dim, keepdim=keepdim)
    assert_close(indices.data, np.argmax(x, axis=dim, keepdims=keepdim),
                 f"max(dim={dim}, keepdim={keepdim}) indices on shape {shape}", atol=0)
    check_gradients(f"max(dim={dim}, keepdim={keepdim}).values",
                    lambda t: t.max(dim, keepdim=keepdim).values, [x],
                    ref=lambda x: np.max(x, axis=dim, keepdims=keepdim), seed=seed)


def test_amax_splits_gradient_equally_between_ties():
    x = ad.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.amax(dim=1).sum().backward()
    assert_close(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]], "amax(dim=1) gradient with ties")
    x.grad = None
    x.max().backward()
    assert_close(x.grad, [[0, 0.5, 0.5], [0, 0, 0]], "max() gradient with a tie")


def test_sum_of_a_0d_tensor_and_of_an_empty_tensor():
    x = ad.tensor(3.0, requires_grad=True)
    y = x.sum()
    assert y.shape == () and y.item() == 3.0
    y.backward()
    assert_close(x.grad, 1.0, "d sum(x)/dx for 0-d x")
    e = ad.tensor(np.zeros((0, 3)), requires_grad=True)
    s = e.sum()
    assert s.item() == 0.0
    s.backward()
    assert e.grad.shape == (0, 3), f"grad of an empty tensor has shape {e.grad.shape}"


# ---------------------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(shape=shapes(min_dims=0, min_side=0), data=st.data(), seed=seeds, use_view=st.booleans())
def test_reshape_and_view(shape, data, seed, use_view):
    sizes = list(shape) + [1] * data.draw(st.integers(0, 2), "extra ones")
    new = list(data.draw(st.permutations(sizes), "new shape"))
    if new and data.draw(st.booleans(), "use -1") and 0 not in new:
        new[data.draw(st.integers(0, len(new) - 1), "-1 at")] = -1
    x = normal(rng_of(seed), shape)
    method = "view" if use_view else "reshape"
    check_gradients(f"{method}{tuple(new)}", lambda t: getattr(t, method)(*new) ** 2, [x],
                    ref=lambda x: x.reshape(new) ** 2, seed=seed)
    check_gradients(f"{method}({tuple(new)})", lambda t: getattr(t, method)(tuple(new)), [x],
                    ref=lambda x: x.reshape(new), seed=seed)


@SETTINGS
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
def test_transpose_with_negative_dims(shape, data, seed):
    n = len(shape)
    d0, d1 = data.draw(st.integers(-n, n - 1), "d0"), data.draw(st.integers(-n, n - 1), "d1")
    x = normal(rng_of(seed), shape)
    check_gradients(f"transpose({d0}, {d1})", lambda t: t.transpose(d0, d1) * 2, [x],
                    ref=lambda x: np.swapaxes(x, d0, d1) * 2, seed=seed)
    check_gradients(f"ad.transpose({d0}, {d1})", lambda t: ad.transpose(t, d0, d1), [x],
                    ref=lambda x: np.swapaxes(x, d0, d1), seed=seed)


@SETTINGS
@given(shape=shapes(min_dims=0), data=st.data(), seed=seeds)
def test_permute_T_and_mT(shape, data, seed):
    n = len(shape)
    perm = data.draw(st.permutations(range(n)), "perm")
    perm = [p - n if data.draw(st.booleans()) else p for p in perm]  # negative dims too
    x = normal(rng_of(seed), shape)
    check_gradients(f"permute{tuple(perm)}", lambda t: t.permute(*perm) ** 2, [x],
                    ref=lambda x: np.transpose(x, [p % n for p in perm]) ** 2, seed=seed)
    check_gradients(f"permute({tuple(perm)})", lambda t: t.permute(tuple(perm)), [x],
                    ref=lambda x: np.transpose(x, [p % n for p in perm]), seed=seed)
    check_gradients(".T", lambda t: t.T ** 2, [x], ref=lambda x: x.T ** 2, seed=seed)
    if n >= 2:
        check_gradients(".mT", lambda t: t.mT ** 2, [x],
                        ref=lambda x: np.swapaxes(x, -1, -2) ** 2, seed=seed)


@SETTINGS
@given(shape=shapes(min_dims=0), data=st.data(), seed=seeds)
def test_unsqueeze_and_squeeze(shape, data, seed):
    n = len(shape)
    d = data.draw(st.integers(-n - 1, n), "unsqueeze dim")
    x = normal(rng_of(seed), shape)
    check_gradients(f"unsqueeze({d})", lambda t: t.unsqueeze(d) ** 2, [x],
                    ref=lambda x: np.expand_dims(x, d) ** 2, seed=seed)
    check_gradients("squeeze()", lambda t: t.squeeze() ** 2, [x],
                    ref=lambda x: np.squeeze(x) ** 2, seed=seed)
    ones = [i for i, s in enumerate(shape) if s == 1]
    if ones:
        d = data.draw(st.sampled_from(ones + [i - n for i in ones]), "squeeze dim")
        check_gradients(f"squeeze({d})", lambda t: t.squeeze(d) ** 2, [x],
                        ref=lambda x: np.squeeze(x, d) ** 2, seed=seed)


def test_squeeze_of_an_axis_that_is_not_size_1_is_a_no_op_as_pytorch():
    x = ad.tensor(np.ones((2, 1, 3)), requires_grad=True)
    assert x.squeeze(0).shape == (2, 1, 3)
    assert x.squeeze(-1).shape == (2, 1, 3)
    y = x.squeeze(1)
    assert y.shape == (2, 3)
    (y * 2).sum().backward()
    assert_close(x.grad, np.full((2, 1, 3), 2.0), "grad through squeeze(1)")


@SETTINGS
@given(shape=shapes(min_dims=0, max_dims=3), data=st.data(), seed=seeds)
def test_expand(shape, data, seed):
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2), "new leading axes")
    target = list(lead)
    for s in shape:
        if s == 1:
            target.append(data.draw(st.sampled_from([1, 2, 3, -1]), "size-1 axis to"))
        else:
            target.append(data.draw(st.sampled_from([s, -1]), "axis"))
    full = tuple(lead) + tuple(s if t == -1 else t for s, t in zip(shape, target[len(lead):]))
    x = normal(rng_of(seed), shape)
    out = check_gradients(f"expand{tuple(target)} of shape {shape}",
                          lambda t: t.expand(*target) ** 2, [x],
                          ref=lambda x: np.broadcast_to(x, full) ** 2, seed=seed)
    assert out.shape == full
    check_gradients(f"broadcast_to({full})", lambda t: t.broadcast_to(full), [x],
                    ref=lambda x: np.broadcast_to(x, full), seed=seed)


# ---------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_basic_indexing(data, seed):
    shape = data.draw(shapes(min_dims=1, max_side=5), "shape")
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), "index")
    x = normal(rng_of(seed), shape)
    check_gradients(f"x[{index!r}]", lambda t: t[index] ** 2, [x],
                    ref=lambda x: x[index] ** 2, seed=seed)


@SETTINGS
@given(data=st.data(), seed=seeds, as_tensor=st.booleans())
def test_advanced_indexing_with_repeated_indices(data, seed, as_tensor):
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=4), "shape")
    index = data.draw(hnp.integer_array_indices(
        shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)), "index")
    x = normal(rng_of(seed), shape)
    key = tuple(ad.tensor(i) for i in index) if as_tensor else index
    check_gradients(f"x[{index!r}]", lambda t: t[key] * 3, [x], ref=lambda x: x[index] * 3,
                    seed=seed)


@SETTINGS
@given(data=st.data(), seed=seeds)
def test_boolean_mask_indexing(data, seed):
    shape = data.draw(shapes(min_dims=1, max_dims=3), "shape")
    mask = data.draw(hnp.arrays(np.bool_, shape), "mask")
    x = normal(rng_of(seed), shape)
    check_gradients(f"x[mask {mask.tolist()}]", lambda t: t[ad.tensor(mask)] ** 2, [x],
                    ref=lambda x: x[mask] ** 2, seed=seed)


def test_repeated_index_accumulates_every_use():
    x = ad.tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = x[[0, 0, 2, 0]] * ad.tensor([1.0, 2.0, 3.0, 4.0])
    y.sum().backward()
    assert_close(x.grad, [7.0, 0.0, 3.0], "x[[0, 0, 2, 0]] weighted by [1, 2, 3, 4]")


# ---------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2,
                                                min_side=1, max_side=4), seed=seeds,
       form=st.sampled_from(["@", "ad.matmul", ".matmul"]))
def test_matmul_1d_2d_and_batched_broadcast(shapes, seed, form):
    a_shape, b_shape = shapes.input_shapes
    rng = rng_of(seed)
    a, b = normal(rng, a_shape), normal(rng, b_shape)
    engine = {"@": lambda a, b: a @ b, "ad.matmul": ad.matmul,
              ".matmul": lambda a, b: a.matmul(b)}[form]
    out = check_gradients(f"matmul {a_shape} {form} {b_shape}", engine, [a, b], ref=np.matmul,
                          seed=seed)
    assert out.shape == shapes.result_shape


def test_matmul_by_a_constant_numpy_array_on_either_side():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2))
    check_gradients("x @ ndarray", lambda x: x @ w, [rng.standard_normal((4, 3))],
                    ref=lambda x: x @ w)
    check_gradients("ndarray @ x", lambda x: w.T @ x, [rng.standard_normal((3, 5))],
                    ref=lambda x: w.T @ x)


# ---------------------------------------------------------------------------------------
# where, cat, stack
# ---------------------------------------------------------------------------------------
@SETTINGS
@given(shapes=broadcastable(3, min_side=0), data=st.data(), seed=seeds)
def test_where_broadcasts_condition_and_both_branches(shapes, data, seed):
    c_shape, a_shape, b_shape = shapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, c_shape), "cond")
    rng = rng_of(seed)
    a, b = normal(rng, a_shape), normal(rng, b_shape)
    check_gradients(f"where(cond {c_shape})", lambda a, b: ad.where(cond, a, b), [a, b],
                    ref=lambda a, b: np.where(cond, a, b), seed=seed)
    check_gradients("where(cond, a, 0.5)", lambda a: ad.where(ad.tensor(cond), a, 0.5), [a],
                    ref=lambda a: np.where(cond, a, 0.5), seed=seed)


@SETTINGS
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_cat_along_any_dim_including_empty_pieces(shape, data, seed):
    n = len(shape)
    dim = data.draw(st.integers(-n, n - 1), "dim")
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4), "sizes along dim")
    rng = rng_of(seed)
    pieces = []
    for s in sizes:
        piece = list(shape)
        piece[dim] = s
        pieces.append(normal(rng, tuple(piece)))
    check_gradients(f"cat(dim={dim}) of {[p.shape for p in pieces]}",
                    lambda *ts: ad.cat(list(ts), dim=dim), pieces,
                    ref=lambda *ps: np.concatenate(ps, axis=dim), seed=seed)


@SETTINGS
@given(shape=shapes(min_dims=0, max_dims=3), data=st.data(), seed=seeds)
def test_stack_along_any_dim(shape, data, seed):
    n = len(shape) + 1
    dim = data.draw(st.integers(-n, n - 1), "dim")
    count = data.draw(st.integers(1, 4), "count")
    rng = rng_of(seed)
    pieces = [normal(rng, shape) for _ in range(count)]
    check_gradients(f"stack(dim={dim}) of {count} x {shape}",
                    lambda *ts: ad.stack(ts, dim=dim), pieces,
                    ref=lambda *ps: np.stack(ps, axis=dim), seed=seed)


def test_cat_with_a_constant_piece_gives_gradient_only_to_the_others():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = ad.cat([x, ad.tensor([5.0]), x * 2]) * ad.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    y.sum().backward()
    assert_close(x.grad, [1.0 + 8.0, 2.0 + 10.0], "cat([x, const, 2x]) weighted")


# ---------------------------------------------------------------------------------------
# nn.functional
# ---------------------------------------------------------------------------------------
def _np_log_softmax(z, axis):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@SETTINGS
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds, log=st.booleans())
def test_softmax_and_log_softmax(shape, data, seed, log):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), "dim")
    z = normal(rng_of(seed), shape) * 3
    if log:
        check_gradients(f"log_softmax(dim={dim})", lambda t: F.log_softmax(t, dim=dim), [z],
                        ref=lambda z: _np_log_softmax(z, dim), seed=seed)
    else:
        check_gradients(f"softmax(dim={dim})", lambda t: F.softmax(t, dim=dim), [z],
                        ref=lambda z: np.exp(_np_log_softmax(z, dim)), seed=seed)


def test_softmax_is_stable_for_huge_logits():
    z = ad.tensor([[1000.0, 1001.0, -1000.0]], requires_grad=True)
    p = F.softmax(z, dim=-1)
    expected = np.exp(_np_log_softmax(z.data, -1))
    assert_close(p, expected, "softmax of logits near 1000")
    lp = F.log_softmax(z, dim=-1)
    assert_close(lp, _np_log_softmax(z.data, -1), "log_softmax of logits near 1000")
    (lp[0, 0] + p[0, 1]).backward()
    assert np.all(np.isfinite(z.grad.data)), f"non-finite gradient {z.grad.data}"


def _np_cross_entropy(z, probs, reduction):
    losses = -(_np_log_softmax(z, -1) * probs).sum(-1)
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](losses)


@SETTINGS
@given(n=st.integers(0, 5), classes=st.integers(1, 5), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), targets=st.sampled_from(
           ["index", "index_tensor", "probs", "probs_grad"]), batched=st.booleans())
def test_cross_entropy_with_index_and_probability_targets(n, classes, seed, reduction, targets,
                                                          batched):
    assume(not (reduction == "mean" and n == 0 and batched))  # a mean over nothing
    rng = rng_of(seed)
    shape = (n, classes) if batched else (classes,)
    z = normal(rng, shape) * 2
    label = f"cross_entropy({targets} targets, reduction={reduction}) on logits {shape}"
    if targets.startswith("index"):
        index = rng.integers(0, classes, shape[:-1])
        probs = np.eye(classes)[index]
        target = ad.tensor(index) if targets == "index_tensor" else index
        check_gradients(label, lambda t: F.cross_entropy(t, target, reduction=reduction), [z],
                        ref=lambda z: _np_cross_entropy(z, probs, reduction), seed=seed)
    elif targets == "probs":
        probs = rng.dirichlet(np.ones(classes), shape[:-1]) if shape[:-1] else \
            rng.dirichlet(np.ones(classes))
        check_gradients(label, lambda t: F.cross_entropy(t, ad.tensor(probs),
                                                         reduction=reduction), [z],
                        ref=lambda z: _np_cross_entropy(z, probs, reduction), seed=seed)
    else:  # a soft target that itself requires grad
        probs = positive(rng, shape)
        check_gradients(label, lambda t, p: F.cross_entropy(t, p, reduction=reduction),
                        [z, probs], ref=lambda z, p: _np_cross_entropy(z, p, reduction),
                        seed=seed)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n():
    """The hand-derived formula: d/dz mean_i(-log softmax(z_i)[y_i]) = (softmax(z) - onehot)/N."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 5))
    y = np.array([0, 4, 4, 2])
    t = ad.tensor(z, requires_grad=True)
    F.cross_entropy(t, y).backward()
    p = np.exp(_np_log_softmax(z, -1))
    assert_close(t.grad, (p - np.eye(5)[y]) / 4, "cross_entropy gradient vs (p - onehot)/N")


@SETTINGS
@given(shape=shapes(min_dims=0, min_side=0), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), target_grad=st.booleans())
def test_mse_loss_reductions(shape, seed, reduction, target_grad):
    assume(not (reduction == "mean" and 0 in shape))
    rng = rng_of(seed)
    y, t = normal(rng, shape), normal(rng, shape)
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    label = f"mse_loss(reduction={reduction})"
    if target_grad:
        check_gradients(label, lambda y, t: F.mse_loss(y, t, reduction=reduction), [y, t],
                        ref=lambda y, t: reduce((y - t) ** 2), seed=seed)
    else:
        check_gradients(label, lambda y: F.mse_loss(y, ad.tensor(t), reduction=reduction), [y],
                        ref=lambda y: reduce((y - t) ** 2), seed=seed)


@SETTINGS
@given(batch=shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
       n_in=st.integers(1, 4), n_out=st.integers(1, 4), bias=st.booleans(), seed=seeds)
def test_linear_with_and_without_bias_on_batched_input(batch, n_in, n_out, bias, seed):
    rng = rng_of(seed)
    x, w, b = normal(rng, batch + (n_in,)), normal(rng, (n_out, n_in)), normal(rng, (n_out,))
    label = f"linear(x {x.shape}, W {w.shape}, bias={bias})"
    if bias:
        out = check_gradients(label, F.linear, [x, w, b], ref=lambda x, w, b: x @ w.T + b,
                              seed=seed)
    else:
        out = check_gradients(label, F.linear, [x, w], ref=lambda x, w: x @ w.T, seed=seed)
    assert out.shape == batch + (n_out,)


@SETTINGS
@given(shape=shapes(min_dims=1, max_dims=3, min_side=2), data=st.data(), seed=seeds,
       affine=st.booleans())
def test_layer_norm(shape, data, seed, affine):
    k = data.draw(st.integers(1, len(shape)), "normalized dims")
    normalized = shape[len(shape) - k:]
    rng = rng_of(seed)
    x = normal(rng, shape)
    axes = tuple(range(len(shape) - k, len(shape)))

    def ref(x, w=1.0, b=0.0):
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + b

    label = f"layer_norm(normalized_shape={normalized}, affine={affine})"
    if affine:
        w, b = normal(rng, normalized), normal(rng, normalized)
        check_gradients(label, lambda x, w, b: F.layer_norm(x, normalized, w, b), [x, w, b],
                        ref=ref, seed=seed, rtol=1e-4)
    else:
        check_gradients(label, lambda x: F.layer_norm(x, normalized), [x], ref=ref, seed=seed,
                        rtol=1e-4)


# ---------------------------------------------------------------------------------------
# the table of one example per op: gradients, and dtype preserved end to end
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_case_gradient_matches_finite_differences(case):
    check_gradients(case.name, case.engine_fn(), case.arrays(seed=1), seed=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dtype_is_preserved_in_outputs_and_gradients(case, dtype):
    arrays = case.arrays(seed=2, dtype=dtype)
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = case.engine_fn()(*xs)
    assert_dtype(out, dtype, f"{case.name}: output for {np.dtype(dtype)} inputs")
    (out * ad.tensor(np.ones(out.shape, dtype=dtype))).sum().backward()
    for i, x in enumerate(xs):
        assert x.grad is not None, f"{case.name}: input {i} got no gradient"
        assert_dtype(x.grad, dtype, f"{case.name}: .grad of input {i}")
    # higher order keeps the dtype as well
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = case.engine_fn()(*xs)
    u = ad.tensor(np.ones(out.shape, dtype=dtype))
    grads = ad.grad(out, xs, u, create_graph=True)
    for i, g in enumerate(grads):
        assert_dtype(g, dtype, f"{case.name}: create_graph gradient of input {i}")


@SETTINGS
@given(op=st.sampled_from(sorted(UNARY)), shape=shapes(), seed=seeds)
def test_float32_gradient_agrees_with_float64(op, shape, seed):
    engine, _, domain = UNARY[op]
    x64 = domain(rng_of(seed), shape)
    grads = {}
    for dtype in (np.float32, np.float64):
        x = ad.tensor(x64.astype(dtype), requires_grad=True)
        engine(x).sum().backward()
        assert_dtype(x.grad, dtype, f"{op}: grad")
        grads[dtype] = x.grad.data
    assert_close(grads[np.float32], grads[np.float64], f"{op}: float32 vs float64 gradient",
                 rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3, dtype=np.int32), [True, False]],
                         ids=["int64", "int32", "bool"])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(RuntimeError, match=r"floating.point.*dtype (int|bool)"):
        ad.tensor(data, requires_grad=True)
    t = ad.tensor(data)
    with pytest.raises(RuntimeError, match=r"floating.point.*dtype (int|bool)"):
        t.requires_grad_()


def test_python_floats_become_float64_and_float32_stays_float32_with_python_scalars():
    assert ad.tensor([1.0, 2.0]).dtype == np.float64
    x = ad.tensor([1.0, 2.0], dtype=ad.float32, requires_grad=True)
    y = (2.5 * x + 1) / 3 - 0.5
    y = (y ** 2).sqrt().exp().log()
    assert_dtype(y, np.float32, "float32 through scalar arithmetic")
    y.sum().backward()
    assert_dtype(x.grad, np.float32, "float32 grad through scalar arithmetic")


@FEW
@given(shape=shapes(min_dims=1, max_dims=2), seed=seeds)
def test_cast_between_float32_and_float64(shape, seed):
    x = ad.tensor(normal(rng_of(seed), shape), requires_grad=True)
    y = x.float()
    assert_dtype(y, np.float32, "x.float()")
    (y.double() * 3).sum().backward()
    assert_dtype(x.grad, np.float64, "grad through float() then double()")
    assert_close(x.grad, np.full(shape, 3.0), "d sum(3 x)/dx through casts")


@pytest.mark.parametrize("op", ["sum", "mean", "amax"])
@pytest.mark.parametrize("dim", [0, -1, (0,), None])
def test_reducing_a_0d_tensor_over_dim_0_or_minus_1_as_pytorch(op, dim):
    x = ad.tensor(2.5, requires_grad=True)
    y = getattr(x, op)(dim)
    assert y.shape == () and y.item() == 2.5, f"{op}(dim={dim}) of a 0-d tensor: {y}"
    y.backward()
    assert_close(x.grad, 1.0, f"d {op}(x, dim={dim})/dx for 0-d x")
