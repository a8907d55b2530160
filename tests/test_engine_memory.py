"""What the tape saves, and what `saved_bytes` / `peak_saved_bytes` report about it.

- An op saves what its backward rule reads for the gradients that are wanted: a product
  x * c with only x requiring grad keeps c, not x (as PyTorch's MulBackward).
- A leaf is a leaf however it is saved: W saved as `W.T` (a view) counts with the leaves,
  not with the activations.
- `peak_saved_bytes(include_leaves=False)` is the high-water mark of the activations.
- cross_entropy with class indices builds no (C, C) one-hot matrix.
- The accounting is exact whether it is on from the start (`with memory.track():`) or
  starts when a measurement first asks, with graphs already alive.
"""
import gc
import tracemalloc

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import memory
from engine_strategies import assert_close


@pytest.fixture
def clean_tape():
    gc.collect()  # graphs of earlier tests still waiting for collection hold saved bytes
    yield
    gc.collect()


def leaf(a):
    return ad.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def saved_kinds(out, *inputs):
    """What `out`'s node saved, each named by the input it is, 'output', or 'other' (None
    stands for a value the op did not need to save)."""
    kinds = []
    for a in out.grad_fn.saved_tensors:
        if a is None:
            continue
        names = [f"input {i}" for i, x in enumerate(inputs) if a is x.data]
        kinds += names or ["output" if a is out.data else "other"]
    return kinds


# ---------------------------------------------------------------------------------------
# a product saves only the factor the wanted gradient needs
# ---------------------------------------------------------------------------------------
def test_mul_saves_only_what_the_wanted_gradients_read(clean_tape):
    x, w = leaf(np.ones(100)), leaf(np.full(100, 2.0))
    c = ad.tensor(np.full(100, 3.0))               # a constant: no gradient wanted
    assert saved_kinds(x * w, x, w) == ["input 0", "input 1"]
    assert saved_kinds(x * c, x, c) == ["input 1"], "x * c must keep c (d/dx = c), not x"
    assert saved_kinds(c * x, c, x) == ["input 0"], "c * x must keep c (d/dx = c), not x"


def test_mul_by_a_constant_adds_no_activation_memory(clean_tape):
    x = leaf(np.ones(100))
    h = x + 1.0                                    # an activation no op has saved yet
    c = ad.tensor(np.full(100, 3.0))
    with memory.track():
        before = ad.saved_bytes(), ad.saved_bytes(include_leaves=False)
        y = h * c
        held = ad.saved_bytes() - before[0], ad.saved_bytes(include_leaves=False) - before[1]
        assert held == (800, 0), (f"h * c held {held} (all, activations); expected c's 800 "
                                  f"bytes, a leaf, and no activation")
        y.sum().backward()
    assert_close(x.grad, np.full(100, 3.0), "d sum((x + 1) * 3)/dx")


def test_mul_gradients_forward_mode_and_double_backward_with_one_constant_factor():
    rng = np.random.default_rng(0)
    xs, cs, v = (rng.standard_normal(4) for _ in range(3))
    x, c = leaf(xs), ad.tensor(cs)
    g, = ad.grad((x * c * x).sum(), x, create_graph=True)   # d/dx = 2 c x
    assert_close(g, 2 * cs * xs, "d/dx sum(c x²)")
    hv, = ad.grad(g, x, ad.tensor(v))
    assert_close(hv, 2 * cs * v, "Hessian-vector product of sum(c x²)")
    _, t = ad.jvp(lambda a: a * ad.tensor(cs), (xs,), (v,))
    assert_close(t, cs * v, "jvp of x * c")
    _, t = ad.jvp(lambda a: ad.tensor(cs) * a, (xs,), (v,))
    assert_close(t, cs * v, "jvp of c * x")


def test_no_grad_product_saves_nothing():
    x = leaf(np.ones(3))
    with ad.no_grad():
        y = x * x
    assert y.grad_fn is None


# ---------------------------------------------------------------------------------------
# a leaf saved through a view is a leaf
# ---------------------------------------------------------------------------------------
def test_a_leaf_saved_through_a_view_counts_as_a_leaf(clean_tape):
    x = leaf(np.ones((8, 4)))
    W = leaf(np.ones((3, 4)))
    with memory.track():
        before = ad.saved_bytes(), ad.saved_bytes(include_leaves=False)
        y = x @ W.T                                 # MatMul saves x and the view W.T
        z = x.reshape(4, 8)[0] * W.reshape(-1)[:8]  # views of leaves, saved by a Mul
        activations = ad.saved_bytes(include_leaves=False) - before[1]
        total = ad.saved_bytes() - before[0]
        assert activations == 0, (f"leaves saved through views counted as {activations} "
                                  f"bytes of activations; expected 0")
        assert total == x.data.nbytes + W.data.nbytes, total
        del y, z


def test_a_view_of_an_activation_is_still_an_activation(clean_tape):
    x = leaf(np.ones((8, 4)))
    with memory.track():
        base = ad.saved_bytes(include_leaves=False)
        h = x.exp()                                 # saves its output: 256 bytes
        k = h.T @ x                                 # saves the view h.T: the same buffer
        assert ad.saved_bytes(include_leaves=False) - base == 256
        del k


# ---------------------------------------------------------------------------------------
# peaks, with and without leaves
# ---------------------------------------------------------------------------------------
def test_peak_saved_bytes_without_leaves_is_the_activation_high_water_mark(clean_tape):
    x = leaf(np.ones(100))                          # 800 bytes
    with memory.track():
        ad.reset_peak_saved_bytes()
        base_all, base_act = ad.saved_bytes(), ad.saved_bytes(include_leaves=False)
        h1 = x.exp()                                # saves out: +800 activation
        h2 = h1.tanh()                              # saves out: +800 activation
        loss = (h2 * x).sum()                       # saves h2 (held) and x (+800 leaf)
        assert ad.saved_bytes(include_leaves=False) - base_act == 1600
        assert ad.saved_bytes() - base_all == 2400
        loss.backward()
        del h1, h2, loss
        assert ad.saved_bytes() == base_all
        assert ad.peak_saved_bytes(include_leaves=False) - base_act == 1600
        assert ad.peak_saved_bytes() - base_all == 2400
        assert ad.peak_saved_bytes(include_leaves=True) == ad.peak_saved_bytes()


def test_the_accounting_started_late_counts_graphs_already_alive(clean_tape):
    """Counting can begin while a graph is alive (a first saved_bytes() call, or entering
    track()): what the live tapes hold is counted then, and freed exactly once later."""
    with memory.track():
        base = ad.saved_bytes()
    x = leaf(np.ones(50))
    y = x.exp().tanh()                              # recorded while nobody counts
    with memory.track():
        assert ad.saved_bytes() - base == 2 * 400 + 0, ad.saved_bytes() - base
        z = (y * y).sum()                           # saves y (already held) twice
        assert ad.saved_bytes() - base == 800
        z.backward()
        assert ad.saved_bytes() == base
    del x, y, z


def test_saved_bytes_is_the_same_whether_counted_all_along_or_started_late(clean_tape):
    def build():
        x = leaf(np.ones((6, 5)))
        W = leaf(np.ones((4, 5)))
        return ((x @ W.T).relu() * 2.0).exp().sum(), x, W

    with memory.track():
        base = ad.saved_bytes(), ad.saved_bytes(include_leaves=False)
        kept = build()
        along = ad.saved_bytes() - base[0], ad.saved_bytes(include_leaves=False) - base[1]
    del kept
    gc.collect()
    kept = build()                                  # built while nobody counts
    with memory.track():
        late = ad.saved_bytes() - base[0], ad.saved_bytes(include_leaves=False) - base[1]
    assert late == along, (late, along)


# ---------------------------------------------------------------------------------------
# cross_entropy: no (C, C) matrix
# ---------------------------------------------------------------------------------------
def test_cross_entropy_with_class_indices_allocates_memory_linear_in_classes():
    N, C = 4, 4000                                  # a (C, C) float64 eye: 128 MB
    rng = np.random.default_rng(0)
    logits = leaf(rng.standard_normal((N, C)))
    target = rng.integers(0, C, N)
    tracemalloc.start()
    try:
        loss = F.cross_entropy(logits, target)
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = 20 * N * C * 8
    assert peak < limit, (f"cross_entropy of ({N}, {C}) logits peaked at {peak / 1e6:.1f} MB "
                          f"of allocations; expected O(N·C), under {limit / 1e6:.1f} MB")
    z = logits.data - logits.data.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    assert_close(loss, -log_p[np.arange(N), target].mean(), "cross_entropy value")
    expected = np.exp(log_p)
    expected[np.arange(N), target] -= 1
    assert_close(logits.grad, expected / N, "d cross_entropy / d logits = (p - onehot) / N")
