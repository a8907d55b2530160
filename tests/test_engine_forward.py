"""Forward mode and its agreement with reverse mode.

    uᵀ (J v) = (Jᵀ u)ᵀ v          jvp against vjp, for random u and v, over every op
    J v ≈ (f(x + eps v) - f(x - eps v)) / 2 eps      jvp against central differences
    jacfwd(f)(x) == jacrev(f)(x)  column by column vs row by row
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autodiff as ad
import autodiff.nn.functional as F
from engine_strategies import (BINARY, CASE_IDS, CASES, FEW, REDUCTIONS, SETTINGS, UNARY,
                               assert_close, broadcastable, dims, engine_value, normal,
                               positive, rng_of, seeds, shapes)


def _random_like(rng, arrays):
    return [rng.standard_normal(np.shape(a)) for a in arrays]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_jvp_and_vjp_are_adjoint(case):
    """<u, J v> computed by one forward-mode pass equals <Jᵀ u, v> by one reverse pass."""
    rng = np.random.default_rng(11)
    primals = case.arrays(seed=11)
    tangents = _random_like(rng, primals)
    fn = case.engine_fn()
    out, jv = ad.jvp(fn, primals, tangents)
    out_v, pull = ad.vjp(fn, *primals)
    assert_close(out, out_v, f"{case.name}: jvp and vjp primal outputs")
    assert_close(out, engine_value(fn, primals), f"{case.name}: jvp output vs plain forward")
    assert jv.shape == out.shape, f"{case.name}: J v has shape {jv.shape}, output {out.shape}"
    u = rng.standard_normal(out.shape)
    jtu = pull(ad.tensor(u))
    lhs = float(np.sum(u * jv.data))
    rhs = sum(float(np.sum(g.data * v)) for g, v in zip(jtu, tangents) if g is not None)
    assert_close(lhs, rhs, f"{case.name} on {[p.shape for p in primals]}: uᵀ(J v) vs (Jᵀu)ᵀv",
                 rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_jvp_matches_central_differences(case):
    primals = case.arrays(seed=12)
    tangents = _random_like(np.random.default_rng(12), primals)
    fn = case.engine_fn()
    _, jv = ad.jvp(fn, primals, tangents)
    eps = 1e-6
    plus = engine_value(fn, [p + eps * t for p, t in zip(primals, tangents)])
    minus = engine_value(fn, [p - eps * t for p, t in zip(primals, tangents)])
    assert_close(jv, (plus - minus) / (2 * eps),
                 f"{case.name}: J v by jvp vs central differences along v", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_jacfwd_equals_jacrev(case):
    """Full Jacobian with respect to the first input (the others held constant), built
    column by column with jvp and row by row with vjp."""
    first, *rest = case.arrays(seed=13)
    constants = [ad.tensor(r) for r in rest]

    def f(x):
        return case.call(ad_namespace(), x, *constants)

    jf = ad.jacfwd(f)(first)
    jr = ad.jacrev(f)(ad.tensor(first))
    out_shape = engine_value(lambda x: f(x), [first]).shape
    assert jf.shape == out_shape + first.shape, f"{case.name}: jacfwd shape {jf.shape}"
    assert_close(jf, jr, f"{case.name}: jacfwd vs jacrev", rtol=1e-10, atol=1e-12)


def ad_namespace():
    from engine_strategies import ENGINE
    return ENGINE


def test_jacobian_of_matmul_by_a_matrix_is_the_matrix():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3))
    x = rng.standard_normal(3)
    for build in (ad.jacfwd, ad.jacrev):
        jac = build(lambda t: ad.tensor(a) @ t)(ad.tensor(x))
        assert_close(jac, a, f"{build.__name__} of x -> A x")


def test_jacobian_of_softmax_is_diag_p_minus_p_pT():
    z = np.array([0.3, -1.0, 2.0, 0.5])
    p = np.exp(z) / np.exp(z).sum()
    expected = np.diag(p) - np.outer(p, p)
    for build in (ad.jacfwd, ad.jacrev):
        jac = build(lambda t: F.softmax(t, dim=0))(ad.tensor(z))
        assert_close(jac, expected, f"{build.__name__} of softmax vs diag(p) - p pᵀ", rtol=1e-10)


@SETTINGS
@given(shape=shapes(min_dims=1, max_dims=2, max_side=3), seed=seeds)
def test_jacfwd_equals_jacrev_for_a_composite_function(shape, seed):
    x = normal(rng_of(seed), shape)
    w = normal(rng_of(seed + 1), (shape[-1], 2))

    def f(t):
        h = (t @ ad.tensor(w)).tanh()
        return F.log_softmax(h * t.sum(-1, keepdim=True), dim=-1)

    jf, jr = ad.jacfwd(f)(x), ad.jacrev(f)(ad.tensor(x))
    assert_close(jf, jr, f"jacfwd vs jacrev of a composite on shape {shape}", rtol=1e-10,
                 atol=1e-12)


@FEW
@given(n=st.integers(1, 4), seed=seeds)
def test_adjoint_identity_with_several_inputs_and_random_u_v(n, seed):
    rng = rng_of(seed)
    primals = [rng.standard_normal((n, 3)), rng.standard_normal((3,)), rng.standard_normal((n,))]

    def f(a, b, c):
        return (a * b).exp() / (1 + c.unsqueeze(-1) ** 2) + a @ b.unsqueeze(-1)

    tangents = _random_like(rng, primals)
    out, jv = ad.jvp(f, primals, tangents)
    _, pull = ad.vjp(f, *primals)
    u = rng.standard_normal(out.shape)
    grads = pull(u)
    rhs = sum(float(np.sum(g.data * v)) for g, v in zip(grads, tangents))
    assert_close(float(np.sum(u * jv.data)), rhs, "uᵀ(J v) vs (Jᵀu)ᵀv, three inputs",
                 rtol=1e-10)


def test_vjp_function_can_be_called_many_times():
    x = np.array([1.0, 2.0, 3.0])
    out, pull = ad.vjp(lambda t: t * t, x)
    for k in range(3):
        u = np.eye(3)[k]
        g, = pull(u)
        assert_close(g, 2 * x * u, f"vjp row {k} of diag(2x)")


def test_jvp_records_nothing_on_the_tape_and_leaves_no_tangents_behind():
    base = ad.saved_bytes()
    x = ad.tensor([1.0, 2.0])
    out, jv = ad.jvp(lambda t: (t.exp() * t).sum(), (x,), (np.array([1.0, 0.0]),))
    assert out.grad_fn is None and jv.grad_fn is None
    assert ad.saved_bytes() == base, "jvp left saved tensors on the tape"
    assert_close(jv, np.exp(1.0) * 2, "d/dx0 of sum(exp(x) x) at x = (1, 2)")
    y = x * 2
    assert y._tangent is None, "a tangent leaked out of jvp into later ops"


def test_jvp_with_a_constant_numpy_operand():
    """A numpy array in the computation is a constant: its tangent is zero."""
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -1.0])
    for name, f, jv_expected in [
        ("x @ W", lambda t: t @ w, v @ w),
        ("Wᵀ @ x", lambda t: w.T @ t, w.T @ v),
        ("x * W[:, 0]", lambda t: t * w[:, 0], v * w[:, 0]),
        ("linear(x, Wᵀ)", lambda t: F.linear(t, w.T), v @ w),
        ("mse_loss(x, W[:, 1])", lambda t: F.mse_loss(t, w[:, 1], reduction="sum"),
         2 * np.dot(x - w[:, 1], v)),
    ]:
        _, jv = ad.jvp(f, (x,), (v,))
        assert_close(jv, jv_expected, f"jvp of {name}")


def test_jvp_keeps_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    out, jv = ad.jvp(lambda t: (t * 2.0).tanh(), (x,), (np.ones(2, np.float32),))
    assert out.dtype == np.float32 and jv.dtype == np.float32, (out.dtype, jv.dtype)


def test_an_input_the_function_does_not_use_gets_a_zero_row_or_column():
    """uᵀJ and J v are zero for an input f ignores, and for an f that ignores all its
    inputs (as torch.func.vjp / jacrev / jacfwd give)."""
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    _, pull = ad.vjp(lambda a, b: a * 2, x, y)
    ga, gb = pull(np.ones(2))
    assert_close(ga, [2.0, 2.0], "vjp for the used input")
    assert_close(gb, np.zeros(3), "vjp for the unused input")
    constant = ad.tensor([7.0, 8.0, 9.0])
    for build in (ad.jacrev, ad.jacfwd):
        jac = build(lambda t: constant * 1.0)(ad.tensor(x))
        assert_close(jac, np.zeros((3, 2)), f"{build.__name__} of a constant function")
    _, pull = ad.vjp(lambda a: constant, x)
    g, = pull(np.ones(3))
    assert_close(g, np.zeros(2), "vjp of a constant function")


def _adjoint_gap(f, primals, seed):
    rng = rng_of(seed)
    tangents = _random_like(rng, primals)
    out, jv = ad.jvp(f, primals, tangents)
    _, pull = ad.vjp(f, *primals)
    u = rng.standard_normal(out.shape)
    lhs = float(np.sum(u * jv.data))
    rhs = sum(float(np.sum(g.data * v)) for g, v in zip(pull(u), tangents))
    return lhs, rhs


@SETTINGS
@given(data=st.data(), seed=seeds)
def test_adjoint_identity_over_random_shapes(data, seed):
    kind = data.draw(st.sampled_from(["binary", "unary", "reduction", "matmul"]), "kind")
    rng = rng_of(seed)
    if kind == "binary":
        op = data.draw(st.sampled_from(sorted(BINARY)), "op")
        f, _, dom_a, dom_b = BINARY[op]
        shapes_ = data.draw(broadcastable(2, min_side=0), "shapes").input_shapes
        primals = [dom_a(rng, shapes_[0]), dom_b(rng, shapes_[1])]
    elif kind == "unary":
        op = data.draw(st.sampled_from(sorted(UNARY)), "op")
        f, _, dom = UNARY[op]
        primals = [dom(rng, data.draw(shapes(min_side=0), "shape"))]
    elif kind == "reduction":
        op = data.draw(st.sampled_from(sorted(REDUCTIONS)), "op")
        g, _, dom = REDUCTIONS[op]
        shape = data.draw(shapes(min_dims=1), "shape")
        dim, keep = data.draw(dims(len(shape)), "dim"), data.draw(st.booleans(), "keepdim")
        primals = [dom(rng, shape)]
        f = lambda t: g(t, dim, keep)  # noqa: E731
        op = f"{op}(dim={dim}, keepdim={keep})"
    else:
        op = "matmul"
        f = lambda a, b: a @ b  # noqa: E731
        shapes_ = data.draw(hnp.mutually_broadcastable_shapes(
            signature=np.matmul.signature, max_dims=2, max_side=3), "shapes").input_shapes
        primals = [positive(rng, s) for s in shapes_]
    lhs, rhs = _adjoint_gap(f, primals, seed)
    assert_close(lhs, rhs, f"{op} on {[p.shape for p in primals]}: uᵀ(J v) vs (Jᵀu)ᵀv",
                 rtol=1e-10, atol=1e-10)
