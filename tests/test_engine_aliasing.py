"""No silent wrong gradients, nothing kept alive (issue 11, "Correctness").

    aliases      every view of a buffer (reshape, permute, .T, indexing, expand, detach)
                 shares one version counter, so an in-place change through any of them is
                 caught by every node that saved another
    freeing      after backward nothing the graph saved stays alive, even while the loss is
                 kept, and saved_bytes() says so
    grad modes   no_grad / enable_grad / detect_anomaly restore the state they found, also
                 when one instance is re-entered (a decorated recursive function)
    dtypes       0-d tensors and scalars do not promote a tensor's dtype (as PyTorch), and
                 gradients keep their input's dtype, also under create_graph
    small ones   .grad accumulated in place, hooks get writeable arrays, a leaf whose shape
                 changed is blamed by name
"""
import gc
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff import Function
from engine_strategies import assert_close, assert_dtype


def leaf(values, dtype=np.float64):
    return ad.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------------------------------
# aliases share one version counter
# ---------------------------------------------------------------------------------------
VIEWS = {
    "reshape": lambda t: t.reshape(3, 2),
    "view": lambda t: t.view(-1),
    "flatten": lambda t: t.flatten(),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "permute": lambda t: t.permute(1, 0),
    "transpose": lambda t: t.transpose(0, 1),
    ".T": lambda t: t.T,
    ".mT": lambda t: t.mT,
    "slice": lambda t: t[:, 1:],
    "int index": lambda t: t[1],
    "expand": lambda t: t.unsqueeze(0).expand(4, 2, 3),
    "detach": lambda t: t.detach(),
    "view of a view": lambda t: t[:, 1:].T[0].unsqueeze(1),
}


def _saved_through(view):
    """x * view: MulBackward saves the view (it is needed for x's gradient)."""
    x = leaf(np.ones(view.shape))
    return x, (x * view).sum()


@pytest.mark.parametrize("name", list(VIEWS))
def test_an_in_place_change_to_the_base_is_seen_through_a_saved_view(name):
    c = ad.tensor(np.arange(6.0).reshape(2, 3))
    x, loss = _saved_through(VIEWS[name](c))
    c.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("name", [n for n in VIEWS if n != "expand"])
def test_an_in_place_change_through_a_view_is_seen_by_a_node_that_saved_the_base(name):
    c = ad.tensor(np.arange(6.0).reshape(2, 3))
    x, loss = _saved_through(c)
    VIEWS[name](c).mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("name", [".T", "transpose", "reshape", "detach"])
def test_an_optimizer_step_between_forward_and_backward_through_a_view_of_W_is_caught(name):
    """`loss = (x @ W.T).sum(); opt.step(); loss.backward()`: MatMul saved W.T (for x's
    gradient), and the step changed W in place."""
    rng = np.random.default_rng(0)
    W = ad.nn.Parameter(rng.standard_normal((2, 3)))
    x = leaf(rng.standard_normal((4, 3)))
    view = {".T": lambda: W.T, "transpose": lambda: W.transpose(0, 1),
            "reshape": lambda: W.reshape(2, 3).T, "detach": lambda: W.detach().T}[name]
    loss = (x @ view()).sum()
    W.grad = ad.tensor(np.ones((2, 3)))
    ad.optim.SGD([W], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_torch_agrees_that_a_step_through_W_T_invalidates_the_graph():
    torch = pytest.importorskip("torch")
    W = torch.nn.Parameter(torch.ones(2, 3))
    x = torch.ones(4, 3, requires_grad=True)
    loss = (x @ W.T).sum()
    with torch.no_grad():
        W.sub_(0.1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_an_in_place_change_through_a_detached_alias_of_a_dropped_output_is_caught():
    """ExpBackward saved its output; the output Tensor is gone, but a detached alias of the
    same buffer changes it. The counter belongs to the buffer, not to the dropped Tensor."""
    x = leaf([0.5, 1.0])
    y = x.exp()
    loss = y.sum() * 1.0
    alias = y.detach()
    del y
    gc.collect()
    alias.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_views_made_under_no_grad_are_aliases_too():
    c = ad.tensor(np.ones((2, 3)))
    with ad.no_grad():
        v = c.T
    x, loss = _saved_through(v)
    c.sub_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_a_copy_is_not_an_alias():
    """Advanced indexing and a reshape that must copy give new buffers: changing the
    original afterwards is harmless (as in PyTorch), and the gradient is right."""
    for make in (lambda t: t[[0, 1]], lambda t: t.T.reshape(-1), lambda t: t * 1.0):
        c = ad.tensor(np.arange(6.0).reshape(2, 3))
        v = make(c)
        expected = v.data.copy()
        x, loss = _saved_through(v)
        c.add_(100.0)
        loss.backward()
        assert_close(x.grad, expected, "x.grad through a copy of c after c changed")


def test_tensors_built_from_the_same_numpy_array_are_each_their_own_base():
    arr = np.arange(6.0)
    a, b = ad.tensor(arr), ad.tensor(arr[1:4])
    x, loss = _saved_through(b)
    a.add_(1.0)      # a copy of arr: b's data is not touched
    arr += 1.0       # nor by changing the caller's array
    loss.backward()
    assert_close(x.grad, [1.0, 2.0, 3.0], "x.grad with b built from a slice of arr")


def test_a_custom_function_returning_a_view_of_its_input_makes_an_alias():
    class Head(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.n = a.shape[0]
            return a[:2]

        @staticmethod
        def backward(ctx, g):
            out = np.zeros(ctx.n)
            out[:2] = g
            return out

    c = ad.tensor(np.arange(4.0))
    x, loss = _saved_through(Head.apply(c))
    c.mul_(3.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_a_view_still_gives_the_right_gradient_when_nothing_changed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0, x0 = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    W, x = leaf(w0), leaf(x0)
    ((x @ W.T).tanh()[1:, :].sum() + W.reshape(-1)[2] * 3).backward()
    Wt = torch.tensor(w0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    ((xt @ Wt.T).tanh()[1:, :].sum() + Wt.reshape(-1)[2] * 3).backward()
    assert_close(W.grad, Wt.grad.numpy(), "W.grad vs torch")
    assert_close(x.grad, xt.grad.numpy(), "x.grad vs torch")


# ---------------------------------------------------------------------------------------
# backward frees the graph
# ---------------------------------------------------------------------------------------
def _step(rng, W1, W2):
    """One composed MLP step on a fresh batch; returns the loss and weak references to the
    batch's and the hidden activation's buffers."""
    x = ad.tensor(rng.standard_normal((8, 5)))
    h = (x @ W1.T).relu()
    loss = ((h @ W2.T) ** 2).mean()
    refs = [weakref.ref(x.data), weakref.ref(h.data)]
    return loss, refs


def test_activations_are_freed_by_backward_while_the_caller_keeps_the_loss():
    rng = np.random.default_rng(0)
    W1, W2 = leaf(rng.standard_normal((6, 5))), leaf(rng.standard_normal((2, 6)))
    gc.collect()
    base = ad.saved_bytes()
    losses, refs = [], []
    for _ in range(4):
        loss, step_refs = _step(rng, W1, W2)
        loss.backward()
        losses.append(loss)                      # a training loop's loss history
        refs += step_refs
    alive = [i for i, r in enumerate(refs) if r() is not None]
    assert not alive, (f"after backward, {len(alive)} of {len(refs)} batch/activation "
                       f"buffers are still alive although only the losses are kept")
    assert ad.saved_bytes() == base, f"{ad.saved_bytes() - base} bytes counted after backward"
    assert all(loss.grad_fn is not None for loss in losses)


def test_a_second_backward_after_freeing_says_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_the_saved_tensors_alive_and_counted():
    x = leaf(np.ones(100))
    h = x * 2
    ref = weakref.ref(h.data)
    y = (h * h).sum()
    del h
    y.backward(retain_graph=True)
    assert ref() is not None, "retain_graph=True freed a saved activation"
    y.backward()
    assert ref() is None, "the second backward (without retain_graph) kept the activation"
    assert_close(x.grad, np.full(100, 16.0), "two backward passes of sum((2x)^2)")


# ---------------------------------------------------------------------------------------
# grad-mode switches are re-entrant
# ---------------------------------------------------------------------------------------
def test_no_grad_decorating_a_recursive_function_restores_grad_mode():
    seen = []

    @ad.no_grad()
    def depth(n):
        seen.append(ad.is_grad_enabled())
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert seen == [False] * 4
    assert ad.is_grad_enabled(), "grad mode stayed off after a recursive @no_grad() function"


def test_enable_grad_decorating_a_recursive_function_inside_no_grad_restores_no_grad():
    @ad.enable_grad()
    def depth(n):
        assert ad.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    with ad.no_grad():
        depth(2)
        assert not ad.is_grad_enabled(), "grad mode leaked out of @enable_grad() recursion"
    assert ad.is_grad_enabled()


def test_one_context_manager_instance_entered_twice_restores_each_state():
    off, on = ad.no_grad(), ad.enable_grad()
    with off:
        with off:
            pass
        assert not ad.is_grad_enabled()
    assert ad.is_grad_enabled(), "`with off: with off:` left grad mode off"
    with off:
        with on:
            with off:
                assert not ad.is_grad_enabled()
            assert ad.is_grad_enabled(), "inner `with off` did not restore enable_grad"
        assert not ad.is_grad_enabled(), "inner `with on` did not restore no_grad"
    assert ad.is_grad_enabled()


def test_detect_anomaly_decorating_a_recursive_function_restores_the_flag():
    @ad.detect_anomaly()
    def depth(n):
        assert ad.is_anomaly_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    depth(3)
    assert not ad.is_anomaly_enabled(), "anomaly detection stayed on"
    with ad.detect_anomaly():
        with ad.detect_anomaly(False):
            assert not ad.is_anomaly_enabled()
        assert ad.is_anomaly_enabled()
    assert not ad.is_anomaly_enabled()


def test_set_grad_enabled_works_as_a_plain_call():
    try:
        ad.set_grad_enabled(False)
        assert not ad.is_grad_enabled(), "set_grad_enabled(False) as a call did nothing"
        assert (leaf([1.0]) * 2).grad_fn is None
        ad.set_grad_enabled(True)
        assert ad.is_grad_enabled()
    finally:
        ad.set_grad_enabled(True)


def test_set_grad_enabled_as_context_manager_and_decorator():
    with ad.set_grad_enabled(False):
        assert not ad.is_grad_enabled()
        with ad.set_grad_enabled(True):
            assert ad.is_grad_enabled()
        assert not ad.is_grad_enabled()
    assert ad.is_grad_enabled()

    @ad.set_grad_enabled(False)
    def f(n):
        assert not ad.is_grad_enabled()
        return n if n == 0 else f(n - 1)

    assert ad.is_grad_enabled(), "decorating with set_grad_enabled(False) switched it off"
    f(2)
    assert ad.is_grad_enabled()


def test_torch_agrees_on_set_grad_enabled_as_a_call():
    torch = pytest.importorskip("torch")
    try:
        torch.set_grad_enabled(False)
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)


# ---------------------------------------------------------------------------------------
# dtype promotion as PyTorch, and gradients keep their input's dtype
# ---------------------------------------------------------------------------------------
SCALARS = {
    "0-d float64 tensor": lambda: ad.tensor(np.float64(2.0)),
    "numpy float64 scalar": lambda: np.float64(2.0),
    "python float": lambda: 2.0,
}
BINARY_OPS = {"mul": lambda a, b: a * b, "rmul": lambda a, b: b * a,
              "add": lambda a, b: a + b, "sub": lambda a, b: b - a,
              "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
              "where": lambda a, b: ad.where(a.data > 1.5, a, b)}


@pytest.mark.parametrize("op", list(BINARY_OPS))
@pytest.mark.parametrize("scalar", list(SCALARS))
def test_a_float32_tensor_with_a_0d_or_scalar_float64_stays_float32(op, scalar):
    x = leaf([1.0, 2.0], dtype=np.float32)
    y = BINARY_OPS[op](x, SCALARS[scalar]())
    assert_dtype(y, np.float32, f"{op} of a float32 tensor and a {scalar}")
    y.sum().backward()
    assert_dtype(x.grad, np.float32, f"x.grad of {op} with a {scalar}")


def test_dtype_promotion_matches_torch():
    torch = pytest.importorskip("torch")
    combos = [(np.float32, "0d", np.float64), (np.float16, "0d", np.float64),
              (np.float32, "np", np.float64), (np.float32, "1d", np.float64),
              (np.int32, "0d", np.float64), (np.int64, "0d", np.float32),
              (np.float64, "0d", np.float32), (np.int32, "0d", np.int64)]
    for dt, kind, other in combos:
        a = np.array([1, 2], dtype=dt)
        b = {"0d": np.array(3, dtype=other), "np": other(3),
             "1d": np.array([3, 4], dtype=other)}[kind]
        ours = ad.tensor(a) * (ad.tensor(b) if kind != "np" else b)
        theirs = torch.from_numpy(a) * (torch.from_numpy(np.asarray(b)) if kind != "np" else b)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (
            f"{np.dtype(dt)} tensor * {kind} {np.dtype(other)}: engine {ours.dtype}, "
            f"torch {theirs.dtype}")


def test_the_0d_float64_operand_gets_a_float64_gradient():
    x, s = leaf([1.0, 2.0], dtype=np.float32), leaf(3.0)
    (x * s).sum().backward()
    assert_dtype(s.grad, np.float64, "grad of the 0-d float64 factor")
    assert_close(s.grad, 3.0, "d sum(x s)/ds")


def test_create_graph_gradients_keep_their_input_dtype():
    x = leaf([1.0, 2.0], dtype=np.float32)
    w = ad.tensor(np.array([3.0, 4.0]))              # float64, 1-d: the product is float64
    g, = ad.grad((x * w * x).sum(), x, create_graph=True)
    assert_dtype(g, np.float32, "create_graph gradient of a float32 input")
    gg, = ad.grad(g.sum(), x)
    assert_dtype(gg, np.float32, "second derivative of a float32 input")
    assert_close(gg, [6.0, 8.0], "d²/dx² sum(w x²)")


# ---------------------------------------------------------------------------------------
# create_graph keeps grad_outputs differentiable: the double-vjp trick
# ---------------------------------------------------------------------------------------
def test_double_vjp_gives_the_jvp():
    """g(u) = Jᵀ u is linear in u, so d<g(u), v>/du = J v: forward mode from two reverse
    passes, if the first keeps u in its graph."""
    rng = np.random.default_rng(3)
    x0, v = rng.standard_normal(3), rng.standard_normal(3)
    A = rng.standard_normal((2, 3))
    x = leaf(x0)
    y = (ad.tensor(A) @ x.tanh()) * 2
    u = ad.tensor(np.zeros(2), requires_grad=True)
    g, = ad.grad(y, x, u, create_graph=True)
    jv, = ad.grad(g, u, ad.tensor(v))
    expected = 2 * A @ ((1 - np.tanh(x0) ** 2) * v)
    assert_close(jv, expected, "double-vjp J v of x -> 2 A tanh(x)")


def test_double_vjp_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x0, u0, v = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x, u = leaf(x0), leaf(u0)
    g, = ad.grad((x.exp() * x).sum(-1, keepdim=True) * x, x, u, create_graph=True)
    ours, = ad.grad(g, u, ad.tensor(v))
    xt = torch.tensor(x0, requires_grad=True)
    ut = torch.tensor(u0, requires_grad=True)
    gt, = torch.autograd.grad((xt.exp() * xt).sum(-1, keepdim=True) * xt, xt, ut,
                              create_graph=True)
    theirs, = torch.autograd.grad(gt, ut, torch.tensor(v))
    assert_close(ours, theirs.numpy(), "double-vjp vs torch")


def test_backward_with_a_gradient_that_requires_grad_under_create_graph():
    x = leaf([1.0, 2.0])
    u = leaf([3.0, 5.0])
    (x * x).backward(u, create_graph=True)           # x.grad = 2 x u
    du, = ad.grad(x.grad.sum(), u)
    assert_close(du, [2.0, 4.0], "d(sum 2 x u)/du")


# ---------------------------------------------------------------------------------------
# the smaller ones
# ---------------------------------------------------------------------------------------
def test_grad_is_accumulated_in_place_so_a_held_reference_follows():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    held = x.grad
    (x * 3).sum().backward()
    assert x.grad is held, "the second backward replaced .grad instead of adding into it"
    assert_close(held, [5.0, 5.0], "held .grad after two backward passes")


def test_torch_agrees_that_grad_is_accumulated_in_place():
    torch = pytest.importorskip("torch")
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    held = x.grad
    (x * 3).sum().backward()
    assert x.grad is held and held.tolist() == [5.0, 5.0]


def test_in_place_accumulation_never_writes_into_an_array_someone_else_holds():
    class Identity(Function):
        """Returns the saved input as a gradient -- an array the caller also holds."""
        @staticmethod
        def forward(ctx, a, ones):
            ctx.save_for_backward(ones)
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            ones, = ctx.saved_tensors
            return ones, None

    ones = ad.tensor(np.ones(2))
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    for _ in range(2):
        Identity.apply(a, ones).sum().backward()
    assert_close(ones, [1.0, 1.0], "the custom backward's saved array after accumulating")
    assert_close(a.grad, [2.0, 2.0], "a.grad")
    seen = []
    b.register_hook(lambda g: seen.append(g))
    for _ in range(2):
        (b + a).sum().backward()
    assert_close(seen[0], [1.0, 1.0], "the gradient a hook kept, after a second backward")
    assert_close(b.grad, [2.0, 2.0], "b.grad")
    assert_close(a.grad, [4.0, 4.0], "a.grad, which got the same array as b")


def test_create_graph_accumulation_is_out_of_place():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward(create_graph=True)
    first = x.grad
    (x * x).sum().backward(create_graph=True)
    assert_close(first, [2.0, 4.0], "the first create_graph .grad after a second pass")
    assert_close(x.grad, [4.0, 8.0], "accumulated create_graph .grad")


@pytest.mark.parametrize("make", [lambda x: x.sum() * 2, lambda x: x.expand(3, 2).sum(),
                                  lambda x: x.mean()])
def test_hooks_get_a_writeable_gradient_not_a_broadcast_view(make):
    x = leaf([1.0, 2.0])

    def hook(g):
        assert g.data.flags.writeable and 0 not in g.data.strides, (
            f"hook got a read-only or broadcast view: strides {g.data.strides}")
        g.data[0] = 0.0
        return g

    x.register_hook(hook)
    make(x).backward()
    assert x.grad.data[0] == 0.0


def test_a_leaf_whose_shape_changed_is_blamed_by_name():
    w = leaf([1.0, 2.0, 3.0])
    (w * 2).sum().backward()
    w.data = np.ones(4)
    with pytest.raises(RuntimeError) as e:
        (w * 2).sum().backward()
    message = str(e.value)
    assert "MulBackward" not in message, f"the error blames the op, not the leaf: {message}"
    for part in ("AccumulateGrad", "(3,)", "(4,)", ".grad"):
        assert part in message, f"the error does not mention {part!r}: {message}"
    w.grad = None
    (w * 2).sum().backward()
    assert_close(w.grad, [2.0] * 4, "grad of the resized leaf after clearing .grad")


@pytest.mark.parametrize("form", ["scaled", "a bias over rows"])
def test_a_leaf_replaced_after_its_graph_was_recorded_is_blamed(form):
    """The old graph's gradient has the old shape: it must not become the new leaf's .grad,
    whether it arrives as it is or summed over the rows a bias was added to."""
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * 2).sum() if form == "scaled" else (ad.tensor(np.ones((4, 3))) + w).sum()
    w.data = np.ones(5)
    with pytest.raises(RuntimeError) as e:
        loss.backward()
    message = str(e.value)
    for part in ("AccumulateGrad", "(3,)", "(5,)", ".data"):
        assert part in message, f"the error does not mention {part!r}: {message}"
    assert w.grad is None


def test_a_leaf_resized_to_a_broadcastable_shape_is_not_summed_silently():
    w = leaf([1.0])
    (w * 2).sum().backward()
    w.data = np.ones(3)
    w.grad = None
    (w * 2).sum().backward()
    assert_close(w.grad, [2.0, 2.0, 2.0], "grad of a leaf resized from (1,) to (3,)")
