"""Reverse mode as PyTorch defines it: where gradients go (accumulation, grad() vs backward(),
several paths, retain_grad, hooks, detach, grad modes, no aliasing between leaves), custom
Functions, and higher order (grad of grad against differences of the first gradient, SymPy,
Hessian-vector products, gradgradcheck)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import Function
from engine_strategies import (CASE_IDS, CASES, FEW, assert_close, assert_dtype,
                               check_gradients, check_second_order, normal, positive, rng_of,
                               seeds, shapes)


def leaf(values, dtype=np.float64):
    return ad.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------------------------------
# accumulation: backward() adds into .grad; grad() returns and touches nothing
# ---------------------------------------------------------------------------------------
def test_backward_adds_into_grad_across_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()                     # 2x
    assert_close(x.grad, [2.0, 4.0, 6.0], "after one backward of sum(x²)")
    (3 * x).sum().backward()                     # + 3
    assert_close(x.grad, [5.0, 7.0, 9.0], "after a second backward of sum(3x)")
    y = (x ** 3).sum()
    y.backward(retain_graph=True)
    y.backward()                                 # + 2 * 3x²
    assert_close(x.grad, [5 + 6.0, 7 + 24.0, 9 + 54.0], "after backward twice through one graph")


def test_grad_returns_gradients_and_never_touches_dot_grad():
    x, w = leaf([1.0, -2.0]), leaf([3.0, 0.5])
    gx, gw = ad.grad((x * w).sum(), [x, w])
    assert_close(gx, [3.0, 0.5], "grad wrt x of sum(x w)")
    assert_close(gw, [1.0, -2.0], "grad wrt w of sum(x w)")
    assert x.grad is None and w.grad is None, "grad() wrote into .grad"
    x.grad = ad.tensor([10.0, 10.0])
    g, = ad.grad((x * x).sum(), x)
    assert_close(g, [2.0, -4.0], "grad of sum(x²)")
    assert_close(x.grad, [10.0, 10.0], "existing .grad after grad()")
    g2, = ad.grad((x * w).sum(), [x])             # a list with one input
    assert_close(g2, [3.0, 0.5], "grad with inputs as a list")
    assert w.grad is None, "grad() wrote into .grad of a leaf it was not asked about"


def test_grad_of_a_non_leaf_and_of_several_outputs():
    x = leaf([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    gh, = ad.grad(y, h, retain_graph=True)
    assert_close(gh, 2 * h.data, "dy/dh for y = sum(h²)")
    a, b = (x * 2).sum(), (x ** 2).sum()
    gx, = ad.grad([a, b], [x], [ad.tensor(1.0), ad.tensor(10.0)])
    assert_close(gx, 2 + 10 * 2 * x.data, "grad of (a, b) weighted by (1, 10)")


def test_a_tensor_used_on_several_paths_gets_the_sum():
    x = leaf([0.5, -1.0, 2.0])
    h = x * 2                                    # h is used on three paths below
    y = (h * h).sum() + h.exp().sum() + h[0] * 4 + x.sum()
    y.backward()
    expected = 2 * (2 * h.data) + 2 * np.exp(h.data) + np.array([8.0, 0, 0]) + 1
    assert_close(x.grad, expected, "dy/dx with h = 2x used by h², exp(h), h[0] and x itself")


def test_unequal_path_lengths_are_ordered_correctly():
    """A diamond whose branches differ in depth: the short branch must wait for the long one
    (a wrong topological order would apply the shared node's backward too early)."""
    x = leaf([1.5])
    a = x * 2
    long = a
    for _ in range(10):
        long = long * 1.1
    y = (long + a).sum()
    y.backward()
    assert_close(x.grad, [2 * 1.1 ** 10 + 2], "d/dx (2x 1.1^10 + 2x)")


def test_deep_chains_do_not_hit_the_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, [1.0001 ** 5000], "d/dx of 5000 chained multiplications", rtol=1e-9)


def test_backward_with_a_gradient_argument_is_a_vector_jacobian_product():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    x, w = leaf(a), leaf(b)
    u = rng.standard_normal((3, 2))
    (x @ w).backward(gradient=ad.tensor(u))
    assert_close(x.grad, u @ b.T, "x.grad for backward(u) of x @ w: u wᵀ")
    assert_close(w.grad, a.T @ u, "w.grad for backward(u) of x @ w: xᵀ u")


def test_backward_on_a_one_element_tensor_needs_no_gradient_argument():
    x = leaf([[2.0]])
    (x * x).backward()
    assert_close(x.grad, [[4.0]], "d(x²)/dx on a (1, 1) tensor")


def test_leaf_gradients_never_alias_each_other():
    """Mutating one leaf's .grad must not change another's, whatever the graph hands back
    (the same array through add, a view through reshape, a broadcast through sum)."""
    rng = np.random.default_rng(1)
    graphs = {
        "a + b": ((2, 3), (2, 3), lambda a, b: (a + b) * ad.tensor(rng.standard_normal((2, 3)))),
        "a + b.reshape": ((2, 3), (6,), lambda a, b: (a + b.reshape(2, 3)) * 2.0),
        "a.sum() + b.sum()": ((2, 3), (2, 3), lambda a, b: a.sum() + b.sum()),
        "a + b broadcast": ((2, 3), (3,), lambda a, b: a + b),
        "a[idx] + b": ((2, 3), (3,), lambda a, b: a[0] + b),
        "b.expand + a": ((2, 3), (1, 3), lambda a, b: b.expand(2, 3) + a),
    }
    for name, (sa, sb, f) in graphs.items():
        a, b = leaf(np.zeros(sa)), leaf(np.zeros(sb))
        out = f(a, b)
        out.backward(gradient=np.ones(out.shape))
        before = b.grad.data.copy()
        a.grad.data[...] = 123.0                 # mutate a's gradient in place
        assert_close(b.grad, before, f"{name}: b.grad after writing into a.grad")
        b.grad.zero_()                           # and b's must be writable
        assert np.all(a.grad.data == 123.0), f"{name}: a.grad changed when b.grad was zeroed"


def test_dot_grad_is_writable_and_does_not_alias_the_gradient_argument():
    x = leaf(np.zeros((2, 3)))
    x.sum().backward()                           # a broadcast of one 1.0 inside the engine
    x.grad.data[0, 0] = 5.0
    assert_close(x.grad, [[5.0, 1, 1], [1, 1, 1]], "x.grad after writing one element")
    y = leaf([1.0, 2.0])
    u = np.array([3.0, 4.0])
    y.backward(gradient=u)                       # y is a leaf: its grad is the argument
    y.grad.data[0] = 0.0
    assert_close(u, [3.0, 4.0], "the gradient= array after writing into y.grad")


def test_retained_grad_of_a_non_leaf_does_not_alias_a_leaf_grad():
    x = leaf([1.0, 2.0])
    h = x + 0.0                                  # add hands its gradient through unchanged
    h.retain_grad()
    (h * 3).sum().backward()
    h.grad.data[0] = -1.0
    assert_close(x.grad, [3.0, 3.0], "x.grad after writing into h.grad")


# ---------------------------------------------------------------------------------------
# retain_grad, hooks, detach, grad modes
# ---------------------------------------------------------------------------------------
def test_retain_grad_on_non_leaves():
    x = leaf([1.0, -2.0])
    h = x * x
    k = h.exp()
    h.retain_grad()
    k.sum().backward()
    assert_close(h.grad, np.exp(h.data), "retained dL/dh for L = sum(exp(h))")
    assert k.grad is None, "a non-leaf without retain_grad kept a .grad"
    assert not h.is_leaf and x.is_leaf
    assert h.grad_fn is not None and x.grad_fn is None


def test_retained_grad_accumulates_like_a_leaf():
    x = leaf([1.0])
    h = x * 2
    h.retain_grad()
    y = (h * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(h.grad, [2 * 2 * 2.0], "retained h.grad after two backward calls")


def test_hook_can_modify_the_gradient_of_a_leaf_and_of_a_non_leaf():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    handle = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    assert_close(seen[0], [2.0, 4.0], "gradient the leaf hook saw")
    assert_close(x.grad, [20.0, 40.0], "leaf .grad after a hook multiplying by 10")
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0], "leaf .grad after the hook was removed")

    w = leaf([3.0])
    h = w * 2
    h.register_hook(lambda g: g * 0.5 + 1)
    (h * h).sum().backward()                     # dL/dh = 2h = 12 -> 7 -> dL/dw = 14
    assert_close(w.grad, [14.0], "grad reaching w through a hooked non-leaf")


def test_hooks_run_in_registration_order_and_removal_is_idempotent():
    x = leaf([1.0])
    order = []
    h1 = x.register_hook(lambda g: order.append(1))
    x.register_hook(lambda g: order.append(2))
    x.sum().backward()
    assert order == [1, 2], f"hooks ran in order {order}"
    h1.remove()
    h1.remove()
    x.sum().backward()
    assert order == [1, 2, 2], f"after removing the first hook: {order}"


def test_detach_shares_data_and_stops_the_gradient():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    y = (x * d).sum()                            # d is a constant: dy/dx = d
    y.backward()
    assert_close(x.grad, [3.0, 6.0], "d/dx of sum(x * detach(3x))")
    assert x.detach().data is x.data or np.shares_memory(x.detach().data, x.data), (
        "detach() copied the data")


def test_no_grad_records_nothing_and_enable_grad_inside_restores_recording():
    x = leaf([1.0, 2.0])
    with ad.no_grad():
        assert not ad.is_grad_enabled()
        y = x * 2
        with ad.enable_grad():
            assert ad.is_grad_enabled()
            z = x * 2
        w = x.exp()
    assert ad.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad, "op under no_grad was recorded"
    assert w.grad_fn is None and not w.requires_grad
    assert z.grad_fn is not None and z.requires_grad, "op under enable_grad was not recorded"
    z.sum().backward()
    assert_close(x.grad, [2.0, 2.0], "grad through the enable_grad op")


def test_no_grad_as_decorator_and_set_grad_enabled():
    x = leaf([1.0])

    @ad.no_grad()
    def double(t):
        return t * 2

    assert double(x).grad_fn is None
    with ad.set_grad_enabled(False):
        assert (x * 2).grad_fn is None
    with ad.set_grad_enabled(True):
        assert (x * 2).grad_fn is not None
    assert ad.is_grad_enabled(), "grad mode leaked out of the decorated function"


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with ad.no_grad():
            raise ValueError("boom")
    assert ad.is_grad_enabled()


def test_in_place_update_under_no_grad_changes_the_leaf_and_keeps_it_a_leaf():
    x = leaf([1.0, 2.0])
    with ad.no_grad():
        x.add_(1.0)
        x.mul_(2.0)
        x.sub_(ad.tensor([1.0, 1.0]), alpha=0.5)
    assert_close(x, [3.5, 5.5], "x after add_, mul_, sub_")
    assert x.is_leaf and x.requires_grad
    (x * x).sum().backward()
    assert_close(x.grad, [7.0, 11.0], "grad after in-place updates made before forward")


def test_optimizer_style_update_then_a_fresh_forward_works():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    with ad.no_grad():
        x.sub_(x.grad, alpha=0.5)                # x <- x - 0.5 * 2x = 0
    x.grad = None
    (x * 3).sum().backward()
    assert_close(x, [0.0, 0.0], "x after the step")
    assert_close(x.grad, [3.0, 3.0], "grad of the next forward")


# ---------------------------------------------------------------------------------------
# custom Functions
# ---------------------------------------------------------------------------------------
class Cube(Function):
    """x³ with its derivative written by hand; backward uses operators on saved tensors, so
    it is itself differentiable under create_graph."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x * x


class ScaledProduct(Function):
    """(a * b) * k with a constant k: returns None for the non-tensor argument."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return a * b * k

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b, _ = ctx.needs_input_grad
        return (g * b * ctx.k if need_a else None), (g * a * ctx.k if need_b else None), None


def test_custom_function_forward_and_backward():
    rng = np.random.default_rng(0)
    check_gradients("Cube.apply", Cube.apply, [rng.standard_normal((2, 3))],
                    ref=lambda x: x ** 3)
    check_gradients("ScaledProduct.apply", lambda a, b: ScaledProduct.apply(a, b, 2.5),
                    [rng.standard_normal((3,)), rng.standard_normal((3,))],
                    ref=lambda a, b: a * b * 2.5)
    x = leaf([2.0])
    y = Cube.apply(x)
    assert y.grad_fn is not None and "Cube" in y.grad_fn.name


def test_custom_function_sees_needs_input_grad():
    a, b = leaf([1.0, 2.0]), ad.tensor([3.0, 4.0])
    seen = {}

    class Spy(ScaledProduct):
        @staticmethod
        def backward(ctx, g):
            seen["needs"] = ctx.needs_input_grad
            return ScaledProduct.backward(ctx, g)

    Spy.apply(a, b, 1.0).sum().backward()
    assert seen["needs"] == (True, False, False), f"needs_input_grad = {seen['needs']}"
    assert_close(a.grad, [3.0, 4.0], "grad of the input that needs it")


def test_custom_function_under_create_graph_gives_second_derivative():
    x = leaf([0.5, -1.0, 2.0])
    g, = ad.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert_close(g, 3 * x.data ** 2, "first derivative of Cube")
    assert g.requires_grad, "create_graph=True gave a gradient without history"
    gg, = ad.grad(g.sum(), x)
    assert_close(gg, 6 * x.data, "second derivative of Cube: 6x")
    check_second_order("Cube.apply", Cube.apply, [np.array([0.3, -1.2])])


def test_custom_function_without_save_for_backward_and_identity_like():
    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    x = leaf([1.0, 2.0])
    Double.apply(Double.apply(x)).sum().backward()
    assert_close(x.grad, [4.0, 4.0], "d/dx of Double(Double(x))")


# ---------------------------------------------------------------------------------------
# higher order
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_grad_of_grad_matches_differences_of_the_first_gradient(case):
    """Hessian-vector products by create_graph=True, for every op (piecewise-linear ones
    must give 0 away from their kinks), against central differences of the first gradient."""
    check_second_order(case.name, case.engine_fn(), case.arrays(seed=3), seed=3)


SECOND_ORDER_FAMILIES = {
    "elementwise": (lambda a, b: (a * b).tanh() + (a / (b * b + 1)).exp() + (a * a + 1).sqrt()
                    + (b * b + 1) ** a + (a * a + 0.5).log() + a.sigmoid() * b,
                    [(normal, (2, 3)), (normal, (3,))]),
    "matmul": (lambda a, b: ((a @ b) * (a @ b)).sum(-1), [(normal, (2, 3, 4)), (normal, (4, 2))]),
    "reductions": (lambda a: (a * a).sum(0) * a.mean(-1, keepdim=True) + a.exp().amax(1, True),
                   [(normal, (3, 4))]),
    "softmax": (lambda a: F.softmax(a * a, dim=-1) * F.log_softmax(a, dim=0),
                [(normal, (3, 4))]),
}


@FEW
@given(family=st.sampled_from(sorted(SECOND_ORDER_FAMILIES)), seed=seeds)
def test_second_order_over_random_values(family, seed):
    fn, specs = SECOND_ORDER_FAMILIES[family]
    rng = rng_of(seed)
    check_second_order(family, fn, [domain(rng, shape) for domain, shape in specs], seed=seed)


_x = sp.Symbol("x")
SYMPY_ELEMENTWISE = [
    # (engine expression, sympy expression, domain)
    ("exp", lambda t: t.exp(), sp.exp(_x), normal),
    ("log", lambda t: t.log(), sp.log(_x), positive),
    ("tanh", lambda t: t.tanh(), sp.tanh(_x), normal),
    ("sigmoid", lambda t: t.sigmoid(), 1 / (1 + sp.exp(-_x)), normal),
    ("sqrt", lambda t: t.sqrt(), sp.sqrt(_x), positive),
    ("x**2.5", lambda t: t ** 2.5, _x ** sp.Rational(5, 2), positive),
    ("x**-1", lambda t: t ** -1, 1 / _x, positive),
    ("3**x", lambda t: 3.0 ** t, 3 ** _x, normal),
    ("x**x", lambda t: t ** t, _x ** _x, positive),
    ("1/(1+x²)", lambda t: 1 / (1 + t * t), 1 / (1 + _x ** 2), normal),
    ("exp(tanh(x)) * x", lambda t: t.tanh().exp() * t, sp.exp(sp.tanh(_x)) * _x, normal),
]


@pytest.mark.parametrize("name,engine,expr,domain", SYMPY_ELEMENTWISE,
                         ids=[s[0] for s in SYMPY_ELEMENTWISE])
def test_first_second_and_third_derivatives_match_sympy(name, engine, expr, domain):
    x = domain(np.random.default_rng(4), (6,))
    t = leaf(x)
    d1, = ad.grad(engine(t).sum(), t, create_graph=True)
    d2, = ad.grad(d1.sum(), t, create_graph=True)
    d3, = ad.grad(d2.sum(), t)
    for order, got in ((1, d1), (2, d2), (3, d3)):
        exact = sp.lambdify(_x, sp.diff(expr, _x, order), "numpy")(x)
        assert_close(got, np.broadcast_to(exact, x.shape),
                     f"d^{order}/dx^{order} {name} at x = {np.round(x, 3)}: engine vs SymPy",
                     rtol=1e-9, atol=1e-10)


def test_mixed_partials_are_symmetric():
    x, y = leaf([0.7]), leaf([-1.3])
    f = (x * x * y).exp() + x * y.tanh()
    fx, = ad.grad(f.sum(), x, create_graph=True)
    fy, = ad.grad(f.sum(), y, create_graph=True)
    fxy, = ad.grad(fx.sum(), y, retain_graph=True)  # fy shares this graph
    fyx, = ad.grad(fy.sum(), x)
    X, Y = sp.symbols("X Y")
    exact = float(sp.diff(sp.exp(X * X * Y) + X * sp.tanh(Y), X, Y).subs({X: 0.7, Y: -1.3}))
    assert_close(fxy, [exact], "d²f/dydx vs SymPy")
    assert_close(fyx, [exact], "d²f/dxdy vs SymPy")


def test_hessian_vector_product_of_rosenbrock_matches_the_hand_derived_hessian():
    """f(x) = sum 100 (x_{i+1} - x_i²)² + (1 - x_i)²; H v by grad(<∇f, v>) vs the Hessian
    written out by hand."""
    rng = np.random.default_rng(5)
    x0, v = rng.standard_normal(5), rng.standard_normal(5)
    x = leaf(x0)
    f = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
    g, = ad.grad(f, x, create_graph=True)
    hv, = ad.grad((g * ad.tensor(v)).sum(), x)
    n = len(x0)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x0[i] ** 2 - 400 * x0[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] += -400 * x0[i]
        H[i + 1, i] += -400 * x0[i]
    assert_close(hv, H @ v, "Rosenbrock H v: grad of grad vs hand-derived Hessian", rtol=1e-10)


def test_hessian_vector_product_of_an_mlp_loss_matches_differences_of_its_gradient():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 4, 8)
    w1, w2 = rng.standard_normal((5, 3)), rng.standard_normal((4, 5))

    def loss(w1, w2):
        return F.cross_entropy(F.linear(F.linear(ad.tensor(x), w1).tanh(), w2), y)

    check_second_order("MLP loss", loss, [w1, w2], seed=6)


@pytest.mark.parametrize("name,fn,shapes_", [
    ("mul-div", lambda a, b: a * b / (b * b + 1), [(2, 3), (3,)]),
    ("matmul", lambda a, b: a @ b, [(2, 3), (3, 2)]),
    ("sum-mean-amax", lambda a: (a * a).sum(1) + a.mean(0).exp().amax(), [(3, 4)]),
    ("softmax", lambda a: F.softmax(a, dim=-1), [(2, 4)]),
    ("log_softmax", lambda a: F.log_softmax(a, dim=0), [(3, 2)]),
    ("cross_entropy", lambda a: F.cross_entropy(a, np.array([1, 0, 3])), [(3, 4)]),
    ("layer_norm", lambda a, w: F.layer_norm(a, (3,), w), [(2, 3), (3,)]),
    ("linear-tanh", lambda x, w, b: F.linear(x, w, b).tanh(), [(4, 3), (2, 3), (2,)]),
])
def test_gradgradcheck(name, fn, shapes_):
    rng = np.random.default_rng(7)
    inputs = [leaf(rng.standard_normal(s)) for s in shapes_]
    assert ad.gradgradcheck(fn, inputs), f"gradgradcheck of {name}"


@FEW
@given(shape=shapes(min_dims=1, max_dims=2), seed=seeds)
def test_create_graph_grad_keeps_float32(shape, seed):
    x = leaf(normal(rng_of(seed), shape), dtype=np.float32)
    g, = ad.grad((x.tanh() * x).sum(), x, create_graph=True)
    gg, = ad.grad(g.sum(), x)
    assert_dtype(g, np.float32, "first derivative under create_graph")
    assert_dtype(gg, np.float32, "second derivative")


def test_backward_with_create_graph_builds_differentiable_dot_grad():
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad, "backward(create_graph=True) left .grad without history"
    gg, = ad.grad(x.grad.sum(), x)
    assert_close(gg, 6 * x.data, "d/dx of x.grad = 3x²")


def test_backward_of_several_roots_at_once_sums_their_gradients():
    x = leaf([1.0, 2.0])
    a, b = x * x, x.exp().sum()
    ad.backward([a, b], [ad.tensor([1.0, 10.0]), None])
    assert_close(x.grad, 2 * x.data * [1.0, 10.0] + np.exp(x.data),
                 "backward([x², sum(exp x)], [(1, 10), None])")


def test_hooks_and_retain_grad_under_create_graph_stay_differentiable():
    x = leaf([1.0, 2.0])
    h = x * x
    h.retain_grad()
    handle = h.register_hook(lambda g: g * 3)
    (h * h).sum().backward(create_graph=True)     # dL/dh = 2h, hooked to 6h = 6x²
    assert_close(h.grad, 6 * h.data, "retained grad after a hook, create_graph=True")
    assert_close(x.grad, 6 * h.data * 2 * x.data, "x.grad = 6x² · 2x")
    # As in PyTorch the hook fires again when the second backward reaches h: S = sum(6h 2x)
    # gives 12h through x directly, and 12x · 3 (hook) · 2x through h = x²: 84x² in all.
    gg, = ad.grad(x.grad.sum(), x, retain_graph=True)
    assert_close(gg, 84 * x.data ** 2, "d/dx sum(x.grad) with the hook firing again on h")
    handle.remove()
    gg, = ad.grad(x.grad.sum(), x)
    assert_close(gg, 36 * x.data ** 2, "d/dx of 12x³ once the hook is removed")


def test_a_detached_output_does_not_keep_its_graph_alive():
    x = ad.tensor(np.ones(3), requires_grad=True)
    before = ad.saved_bytes()
    y = (x.exp() * 2.0).sum()
    kept = y.detach()
    assert ad.saved_bytes() > before
    del y
    assert ad.saved_bytes() == before, "the detached alias still holds the tape"
    assert kept.item() == pytest.approx(6 * np.e)
