"""`grad(outputs, inputs)` runs only the part of the graph that leads from the outputs to the
inputs, as PyTorch's engine does: differentiating with respect to an intermediate tensor h
stops at h (what produced h is neither run nor freed), and a branch that leads to no input
is never entered (its hooks are not called, its saved tensors stay). `backward()` still
runs everything the loss depends on.

PyTorch is the oracle where it is installed; the hand-derived values do not need it.
"""
import numpy as np
import pytest

import autodiff as ad
from engine_strategies import assert_close

try:
    import torch
except ImportError:  # the oracle rows skip; the rest runs
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


class Counted(ad.Function):
    """exp, counting its backward calls."""
    calls = 0

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        Counted.calls += 1
        out, = ctx.saved_tensors
        return g * out


X0 = np.array([0.5, -1.0, 2.0])


def test_grad_wrt_an_intermediate_is_dy_dh_and_stops_there():
    Counted.calls = 0
    x = ad.tensor(X0, requires_grad=True)
    h = Counted.apply(x)
    y = (h * h).sum()
    g, = ad.grad(y, [h])
    assert_close(g, 2 * np.exp(X0), "dy/dh of y = sum(h²)")
    assert Counted.calls == 0, (f"grad(y, [h]) ran the backward of the op that produced h "
                                f"{Counted.calls} time(s); it should stop at h")
    assert x.grad is None, "grad() touched a leaf's .grad"
    # h's own graph was not run, so it was not freed either: backward through it works
    h.sum().backward()
    assert Counted.calls == 1
    assert_close(x.grad, np.exp(X0), "d sum(h)/dx after grad(y, [h])")


def test_grad_wrt_an_intermediate_and_a_leaf_behind_it():
    x = ad.tensor(X0, requires_grad=True)
    h = x.exp()
    y = (h * h).sum()
    gh, gx = ad.grad(y, [h, x])
    assert_close(gh, 2 * np.exp(X0), "dy/dh")
    assert_close(gx, 2 * np.exp(2 * X0), "dy/dx = 2 e^{2x}")


def test_grad_never_enters_a_branch_that_leads_to_no_input():
    x = ad.tensor(X0, requires_grad=True)
    c = ad.tensor(3.0, requires_grad=True)
    side = c * c                               # on the output's graph, not on x's path
    calls = []
    side.register_hook(lambda g: calls.append(g))
    z = (x * 2.0).sum() + side
    g, = ad.grad(z, [x])
    assert_close(g, np.full(3, 2.0), "dz/dx")
    assert calls == [], "grad(z, [x]) ran a branch of the graph that does not lead to x"
    assert c.grad is None
    side.backward()                            # that branch kept its saved tensors
    assert_close(c.grad, 6.0, "d(c²)/dc after grad(z, [x])")


def test_grad_computes_no_gradient_for_an_input_of_an_op_that_no_target_needs():
    """A node on the path whose other input leads nowhere: its rule is told (through
    needs_input_grad) that only the gradient on the path is wanted, as PyTorch's built-in
    nodes are."""
    seen = []

    class Spy(ad.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.needs_input_grad)
            return g, g

    x = ad.tensor(X0, requires_grad=True)
    w = ad.tensor(X0, requires_grad=True)
    out = Spy.apply(x.exp(), w.exp()).sum()
    ad.grad(out, [x], retain_graph=True)
    assert seen == [(True, False)], seen
    out.backward()                             # and the node is unchanged for backward()
    assert seen[-1] == (True, True) and w.grad is not None


def test_backward_still_runs_every_branch():
    x = ad.tensor(X0, requires_grad=True)
    c = ad.tensor(3.0, requires_grad=True)
    side = c * c
    calls = []
    side.register_hook(lambda g: calls.append(g))
    ((x * 2.0).sum() + side).backward()
    assert len(calls) == 1 and float(c.grad.data) == 6.0


@needs_torch
def test_grad_wrt_intermediates_matches_pytorch():
    def program(lib, x, w):
        h = (x * w).tanh()
        k = h.exp() * w
        y = (k * h).sum() + (w * w).sum()
        return h, k, y

    rng = np.random.default_rng(3)
    xs, ws = rng.standard_normal(4), rng.standard_normal(4)
    x, w = ad.tensor(xs, requires_grad=True), ad.tensor(ws, requires_grad=True)
    h, k, y = program(ad, x, w)
    ours = ad.grad(y, [k, h, w])
    tx, tw = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    th, tk, ty = program(torch, tx, tw)
    theirs = torch.autograd.grad(ty, [tk, th, tw])
    for name, a, b in zip(("k", "h", "w"), ours, theirs):
        assert_close(a, b.numpy(), f"dy/d{name} vs torch", rtol=1e-12, atol=1e-14)
    assert x.grad is None and w.grad is None
