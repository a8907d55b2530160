"""Nested forward mode: each jvp tags its perturbation with a level of its own.

    forward-over-forward   jvp(x -> jvp(f, x, v)[1], x, u)[1] = d²f[u, v]   (uᵀ H v for scalar f)
    forward-over-reverse   jvp(x -> grad(f(x), x, create_graph=True), x, v)[1] = H v

Oracles: hand-derived second derivatives, central differences of the inner derivative, and
torch.func where PyTorch is installed.
"""
import numpy as np
import pytest

import autodiff as ad
from engine_strategies import CASE_IDS, CASES, assert_close, engine_value


def _f(x):
    return (x.tanh() * x.exp()).sum()


def _hessian_of_f(x):
    """f = Σ tanh(x) eˣ: diagonal Hessian, (tanh eˣ)'' = eˣ (tanh + 2 sech² - 2 tanh sech²)."""
    t, e = np.tanh(x), np.exp(x)
    s2 = 1 - t * t
    return np.diag(e * (t + 2 * s2 - 2 * t * s2))


X0 = np.array([0.3, -0.7, 1.1])
U = np.array([1.0, 0.5, -2.0])
V = np.array([-0.4, 1.5, 0.25])


def test_forward_over_forward_gives_the_second_directional_derivative():
    inner = lambda x: ad.jvp(_f, (x,), (V,))[1]  # noqa: E731
    value, second = ad.jvp(inner, (X0,), (U,))
    assert_close(value, ad.jvp(_f, (X0,), (V,))[1], "outer primal = inner J v")
    assert_close(second, U @ _hessian_of_f(X0) @ V, "uᵀ H v by forward over forward",
                 rtol=1e-10)


def test_forward_over_forward_of_the_primal_is_the_first_derivative():
    _, jv = ad.jvp(lambda x: ad.jvp(_f, (x,), (V,))[0], (X0,), (U,))
    _, expected = ad.jvp(_f, (X0,), (U,))
    assert_close(jv, expected, "outer jvp through the inner jvp's primal output")


def test_same_direction_twice_gives_the_second_derivative_of_a_scalar_function():
    f = lambda x: x * x * x  # noqa: E731
    d1 = lambda x: ad.jvp(f, (x,), (np.ones(()),))[1]  # noqa: E731
    _, d2 = ad.jvp(d1, (np.array(2.0),), (np.ones(()),))
    assert_close(d2, 12.0, "d²/dx² x³ at 2")
    d3 = lambda x: ad.jvp(d1, (x,), (np.ones(()),))[1]  # noqa: E731
    _, third = ad.jvp(d3, (np.array(2.0),), (np.ones(()),))
    assert_close(third, 6.0, "d³/dx³ x³, three levels deep")


def test_perturbations_of_different_levels_are_not_confused():
    """The classic perturbation-confusion test (Siskind & Pearlmutter):
    d/dx [x · d/dy (x + y)] at x = 1 is 1, not 2."""
    def outer(x):
        inner = lambda y: x + y  # noqa: E731
        return x * ad.jvp(inner, (np.array(1.0),), (np.array(1.0),))[1]
    _, d = ad.jvp(outer, (np.array(1.0),), (np.array(1.0),))
    assert_close(d, 1.0, "d/dx [x · d/dy (x + y)]")


def _grad_of(f):
    def g(x):
        x.requires_grad_(True)
        out, = ad.grad(f(x), x, create_graph=True)
        return out
    return g


def test_forward_over_reverse_gives_the_hessian_vector_product():
    grad_value, hvp = ad.jvp(_grad_of(_f), (X0,), (V,))
    t, e = np.tanh(X0), np.exp(X0)
    assert_close(grad_value, e * (t + 1 - t * t), "gradient of Σ tanh(x) eˣ", rtol=1e-10)
    assert_close(hvp, _hessian_of_f(X0) @ V, "H v by forward over reverse", rtol=1e-10)
    assert hvp.grad_fn is None


def test_forward_over_reverse_matches_torch_func():
    torch = pytest.importorskip("torch")
    from torch.func import grad as tgrad, jvp as tjvp
    rng = np.random.default_rng(5)
    A, x0, v = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)

    def ours(x):
        h = (ad.tensor(A) @ x).tanh()
        return ad.nn.functional.log_softmax(h, dim=0)[1] + (x * x).sum().sqrt()

    def theirs(x):
        h = (torch.tensor(A) @ x).tanh()
        return torch.log_softmax(h, dim=0)[1] + (x * x).sum().sqrt()

    _, hvp = ad.jvp(_grad_of(ours), (x0,), (v,))
    _, expected = tjvp(tgrad(theirs), (torch.tensor(x0),), (torch.tensor(v),))
    assert_close(hvp, expected.numpy(), "H v vs torch.func jvp(grad)", rtol=1e-9)
    ff = lambda x: ad.jvp(ours, (x,), (v,))[1]  # noqa: E731
    _, uHv = ad.jvp(ff, (x0,), (v,))
    assert_close(uHv, v @ expected.numpy(), "vᵀ H v by forward over forward", rtol=1e-9)


def _random_like(rng, arrays):
    return [rng.standard_normal(np.shape(a)) for a in arrays]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_over_forward_matches_central_differences_of_the_jvp(case):
    """For every op: d/dε [J(x + ε u) v] at 0, by nested jvp and by central differences."""
    primals = case.arrays(seed=21)
    rng = np.random.default_rng(21)
    vs, us = _random_like(rng, primals), _random_like(rng, primals)
    fn = case.engine_fn()

    def jv_of(*xs):
        return ad.jvp(fn, xs, vs)[1]

    _, second = ad.jvp(jv_of, primals, us)
    eps = 1e-5
    plus = jv_of(*[p + eps * u for p, u in zip(primals, us)]).data
    minus = jv_of(*[p - eps * u for p, u in zip(primals, us)]).data
    assert_close(second, (plus - minus) / (2 * eps),
                 f"{case.name}: d²f[u, v] by nested jvp vs central differences of J v",
                 rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_over_reverse_matches_central_differences_of_the_gradient(case):
    primals = case.arrays(seed=22)
    rng = np.random.default_rng(22)
    vs = _random_like(rng, primals)
    fn = case.engine_fn()
    u = rng.standard_normal(engine_value(fn, primals).shape)

    def grads(*xs):
        for x in xs:
            x.requires_grad_(True)
        out = fn(*xs) * 1.0  # the op's own output Tensor dies: its node must keep the tangent
        gs = ad.grad(out, xs, ad.tensor(u), create_graph=True, allow_unused=True)
        return ad.cat([(g if g is not None else x * 0.0).reshape(-1) for g, x in zip(gs, xs)])

    _, hv = ad.jvp(grads, primals, vs)
    eps = 1e-5
    plus = grads(*[ad.tensor(p + eps * v) for p, v in zip(primals, vs)]).data
    minus = grads(*[ad.tensor(p - eps * v) for p, v in zip(primals, vs)]).data
    assert_close(hv, (plus - minus) / (2 * eps),
                 f"{case.name}: H v by forward over reverse vs central differences",
                 rtol=1e-4, atol=1e-6)


def test_nested_jvp_leaves_no_tangents_behind():
    x = ad.tensor(X0)
    ad.jvp(lambda t: ad.jvp(_f, (t,), (V,))[1], (x,), (U,))
    assert x._tangent is None and (x * 2)._tangent is None


def test_a_saved_output_of_a_0d_op_is_differentiated_under_create_graph():
    """exp of a 0-d array is a numpy scalar, which the engine wraps: the saved output must
    still be recognised as the output, or its derivative is silently dropped."""
    x = ad.tensor(0.5, requires_grad=True)
    g, = ad.grad(x.exp() * 1.0, x, create_graph=True)
    gg, = ad.grad(g, x)
    assert_close(gg, np.exp(0.5), "d²/dx² exp(x) at a 0-d x")
    _, hv = ad.jvp(_grad_of(lambda t: t.sqrt() * 1.0), (np.array(4.0),), (np.array(1.0),))
    assert_close(hv, -0.25 * 4.0 ** -1.5, "d²/dx² sqrt(x) at 4, forward over reverse")
