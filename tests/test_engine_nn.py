"""Layers, optimizers, training, checkpointing and the tape's memory accounting.

Optimizer updates are checked against the update rules written out here by hand (and against
PyTorch in test_engine_torch.py); training must drive a loss down by a clear factor on data
generated in the test; checkpointing must give the same gradients for less saved memory.
"""
import gc

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from engine_strategies import assert_close, assert_dtype


# ---------------------------------------------------------------------------------------
# Module, Parameter, Linear, Sequential
# ---------------------------------------------------------------------------------------
def test_linear_has_weight_and_bias_of_pytorch_shapes_and_init_bounds():
    layer = nn.Linear(16, 3, generator=np.random.default_rng(0))
    params = layer.parameters()
    assert [p.shape for p in params] == [(3, 16), (3,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in params)
    bound = 1 / np.sqrt(16)
    for p in params:
        assert np.all(np.abs(p.data) <= bound), f"init outside ±1/sqrt(in): {p.data}"
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    no_bias = nn.Linear(4, 2, bias=False)
    assert [p.shape for p in no_bias.parameters()] == [(2, 4)] and no_bias.bias is None


def test_linear_forward_is_x_W_transpose_plus_b_on_batched_input():
    layer = nn.Linear(3, 2, generator=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((4, 5, 3))
    y = layer(ad.tensor(x))
    assert_close(y, x @ layer.weight.data.T + layer.bias.data, "Linear(3, 2) on (4, 5, 3)")
    y.sum().backward()
    assert_close(layer.bias.grad, np.full(2, 20.0), "bias grad: one per batch element")
    assert_close(layer.weight.grad, np.tile(x.reshape(-1, 3).sum(0), (2, 1)),
                 "weight grad of sum(x Wᵀ + b)")


def test_sequential_collects_parameters_in_order_with_dotted_names():
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(2, 4, generator=rng), nn.ReLU(),
                          nn.Linear(4, 4, bias=False, generator=rng), nn.Tanh(),
                          nn.Linear(4, 1, generator=rng), nn.Sigmoid())
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "4.weight", "4.bias"], names
    assert len(model) == 6 and isinstance(model[1], nn.ReLU)
    x = rng.standard_normal((5, 2))
    W0, b0, W2, W4, b4 = [p.data for p in model.parameters()]
    expected = 1 / (1 + np.exp(-(np.tanh(np.maximum(x @ W0.T + b0, 0) @ W2.T) @ W4.T + b4)))
    assert_close(model(ad.tensor(x)), expected, "Sequential forward vs numpy")


def test_custom_module_registers_nested_parameters_and_state_dict_round_trips():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
            self.head = nn.Linear(3, 1)
            self.scale = nn.Parameter(np.ones(1))
            self.not_a_param = ad.tensor([1.0])  # a plain tensor is not registered

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"], names
    state = net.state_dict()
    other = Net()
    other.load_state_dict(state)
    x = ad.tensor(np.ones((2, 3)))
    assert_close(other(x), net(x).data, "output after load_state_dict")
    with pytest.raises(KeyError, match="missing"):
        other.load_state_dict({"scale": np.ones(1)})


def test_zero_grad_on_module_and_optimizer():
    layer = nn.Linear(2, 2)
    layer(ad.tensor(np.ones((1, 2)))).sum().backward()
    layer.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    opt = ad.optim.SGD(layer.parameters(), lr=0.1)
    layer(ad.tensor(np.ones((1, 2)))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


def test_float32_linear_keeps_float32():
    layer = nn.Linear(3, 2, dtype=np.float32)
    y = layer(ad.tensor(np.ones((4, 3), dtype=np.float32)))
    assert_dtype(y, np.float32, "Linear(dtype=float32) output")
    y.sum().backward()
    assert_dtype(layer.weight.grad, np.float32, "Linear(dtype=float32) weight grad")


# ---------------------------------------------------------------------------------------
# optimizers: the update rules, written out by hand
# ---------------------------------------------------------------------------------------
GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.0, 1.0, -1.0])]
P0 = np.array([1.0, -2.0, 0.5])


def run_optimizer(make, grads=GRADS):
    p = nn.Parameter(P0.copy())
    opt = make([p])
    history = []
    for g in grads:
        p.grad = ad.tensor(g)
        opt.step()
        history.append(p.data.copy())
    return history


def test_sgd_plain_is_p_minus_lr_g():
    history = run_optimizer(lambda ps: ad.optim.SGD(ps, lr=0.1))
    assert_close(history[0], P0 - 0.1 * GRADS[0], "SGD step 1")
    assert_close(history[2], P0 - 0.1 * sum(GRADS), "SGD after 3 steps")


def test_sgd_momentum_and_nesterov_and_weight_decay_by_hand():
    lr, mu, wd = 0.1, 0.9, 0.01
    history = run_optimizer(lambda ps: ad.optim.SGD(ps, lr=lr, momentum=mu))
    v1 = GRADS[0]
    v2 = mu * v1 + GRADS[1]
    v3 = mu * v2 + GRADS[2]
    assert_close(history[0], P0 - lr * v1, "SGD momentum step 1 (buffer = g)")
    assert_close(history[1], P0 - lr * (v1 + v2), "SGD momentum step 2")
    assert_close(history[2], P0 - lr * (v1 + v2 + v3), "SGD momentum step 3")

    history = run_optimizer(lambda ps: ad.optim.SGD(ps, lr=lr, momentum=mu, nesterov=True))
    assert_close(history[1], P0 - lr * (GRADS[0] + mu * v1) - lr * (GRADS[1] + mu * v2),
                 "SGD nesterov step 2")

    history = run_optimizer(lambda ps: ad.optim.SGD(ps, lr=lr, weight_decay=wd), GRADS[:1])
    assert_close(history[0], P0 - lr * (GRADS[0] + wd * P0), "SGD weight decay step")


def test_adam_first_step_moves_each_parameter_by_lr_times_sign_of_g():
    """With bias correction, m̂ = g and v̂ = g² after one step: the update is lr g/|g|."""
    history = run_optimizer(lambda ps: ad.optim.Adam(ps, lr=0.01), GRADS[:1])
    assert_close(history[0], P0 - 0.01 * np.sign(GRADS[0]), "Adam step 1", rtol=1e-7)


def test_adam_three_steps_by_hand():
    lr, b1, b2, eps, wd = 0.05, 0.8, 0.95, 1e-8, 0.1
    history = run_optimizer(lambda ps: ad.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps,
                                                     weight_decay=wd))
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        assert_close(history[t - 1], p, f"Adam step {t}", rtol=1e-12)


def test_optimizers_skip_parameters_without_grad():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    for opt in (ad.optim.SGD([a, b], lr=0.1, momentum=0.9), ad.optim.Adam([a, b], lr=0.1)):
        a.grad, b.grad = ad.tensor([1.0]), None
        before = b.data.copy()
        opt.step()
        assert_close(b, before, f"{type(opt).__name__}: parameter without grad")


# ---------------------------------------------------------------------------------------
# training: the loss must go down by a clear factor
# ---------------------------------------------------------------------------------------
def two_moons(n, rng):
    """Two interleaved half circles with noise: not linearly separable."""
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return x + 0.1 * rng.standard_normal((n, 2)), label


def test_training_an_mlp_classifier_with_adam_drives_the_loss_down():
    rng = np.random.default_rng(0)
    x, y = two_moons(200, rng)
    model = nn.Sequential(nn.Linear(2, 32, generator=rng), nn.Tanh(),
                          nn.Linear(32, 32, generator=rng), nn.ReLU(),
                          nn.Linear(32, 2, generator=rng))
    opt = ad.optim.Adam(model.parameters(), lr=0.02)
    xs = ad.tensor(x)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = (model(xs).data.argmax(-1) == y).mean()
    assert losses[-1] < losses[0] / 10, f"cross-entropy {losses[0]:.4f} -> {losses[-1]:.4f}"
    assert accuracy > 0.95, f"training accuracy {accuracy:.3f} on two moons"


def test_training_a_regression_mlp_with_sgd_momentum_drives_the_loss_down():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (128, 1))
    y = np.sin(2 * x) + 0.5 * x
    model = nn.Sequential(nn.Linear(1, 32, generator=rng), nn.Tanh(),
                          nn.Linear(32, 1, generator=rng))
    opt = ad.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xs, ys = ad.tensor(x), ad.tensor(y)
    first = None
    for _ in range(400):
        opt.zero_grad()
        loss = F.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = F.mse_loss(model(xs), ys).item()
    assert final < first / 20, f"mse {first:.4f} -> {final:.4f}"


# ---------------------------------------------------------------------------------------
# memory accounting and checkpointing
# ---------------------------------------------------------------------------------------
@pytest.fixture
def clean_tape():
    gc.collect()  # graphs of earlier tests still waiting for collection hold saved bytes
    yield ad.saved_bytes()
    gc.collect()


def test_saved_bytes_of_a_small_mlp_by_hand_and_back_to_baseline_after_backward(clean_tape):
    """Linear saves (x, W), ReLU saves its output, which the next Linear saves again: the
    activations held are one (B, h) buffer per ReLU (counted once) plus the MSE input."""
    B, d, h = 8, 3, 5
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(d, h, generator=rng), nn.ReLU(),
                          nn.Linear(h, h, generator=rng), nn.ReLU(),
                          nn.Linear(h, 1, generator=rng))
    base = ad.saved_bytes()
    base_activations = ad.saved_bytes(include_leaves=False)
    x, target = ad.tensor(rng.standard_normal((B, d))), ad.tensor(np.zeros((B, 1)))
    loss = F.mse_loss(model(x), target)
    activations = ad.saved_bytes(include_leaves=False) - base_activations
    assert activations == 8 * (2 * B * h + B), (
        f"saved activations {activations} bytes; expected 8 * (2 * {B}*{h} + {B}) "
        f"= {8 * (2 * B * h + B)} (each ReLU output once, plus the prediction)")
    weights = sum(p.data.nbytes for p in model.parameters() if p.ndim == 2)
    leaves = x.data.nbytes + weights + target.data.nbytes
    assert ad.saved_bytes() - base == activations + leaves, (
        f"saved bytes with leaves {ad.saved_bytes() - base}; expected {activations + leaves}")
    loss.backward()
    assert ad.saved_bytes() == base, f"{ad.saved_bytes() - base} bytes still held after backward"


def test_a_buffer_saved_by_two_ops_or_through_a_view_counts_once(clean_tape):
    x = ad.tensor(np.ones((100,)), requires_grad=True)
    h = x * 2                                    # non-leaf, 800 bytes
    base = ad.saved_bytes(include_leaves=False)
    p = h * ad.tensor(np.ones(100))              # Mul keeps the constant, not h
    q = h * h                                    # saves h twice
    r = h.reshape(10, 10).T @ ad.tensor(np.ones((10, 2)))  # MatMul saves a view of h
    held = ad.saved_bytes(include_leaves=False) - base
    assert held == 800, f"h saved by three ops (and as a view) counted as {held} bytes, not 800"
    (p.sum() + q.sum() + r.sum()).backward()
    assert ad.saved_bytes(include_leaves=False) == base, "activations held after backward"
    del p, q, r


def test_saved_bytes_are_kept_by_retain_graph_and_freed_when_the_graph_dies(clean_tape):
    base = ad.saved_bytes()
    x = ad.tensor(np.ones((50, 50)), requires_grad=True)
    y = (x.tanh() @ x).exp().sum()
    held = ad.saved_bytes() - base
    assert held > 0
    y.backward(retain_graph=True)
    assert ad.saved_bytes() - base == held, "retain_graph=True freed saved tensors"
    y.backward()
    assert ad.saved_bytes() == base
    z = (x.tanh() @ x).exp().sum()
    assert ad.saved_bytes() > base
    del z
    gc.collect()
    assert ad.saved_bytes() == base, "an abandoned graph kept its saved bytes"


def test_no_grad_saves_nothing(clean_tape):
    base = ad.saved_bytes()
    x = ad.tensor(np.ones((20, 20)), requires_grad=True)
    with ad.no_grad():
        y = (x @ x).tanh().exp()
    assert ad.saved_bytes() == base and y.grad_fn is None


def test_peak_saved_bytes_tracks_the_high_water_mark(clean_tape):
    ad.reset_peak_saved_bytes()
    start = ad.peak_saved_bytes()
    x = ad.tensor(np.ones((30, 30)), requires_grad=True)
    y = (x.exp() * x).tanh().sum()
    during = ad.saved_bytes()
    y.backward()
    assert ad.peak_saved_bytes() >= during > ad.saved_bytes()
    assert ad.peak_saved_bytes() >= start
    ad.reset_peak_saved_bytes()
    assert ad.peak_saved_bytes() == ad.saved_bytes()


def deep_mlp(depth, width, rng):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, generator=rng), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 1, generator=rng))


def _train_step(model, x, segments):
    model.zero_grad()
    ad.reset_peak_saved_bytes()
    base = ad.saved_bytes()
    h = x
    blocks = list(model._modules.values())
    head, body = blocks[-1], blocks[:-1]
    size = len(body) // segments if segments else len(body)
    for start in range(0, len(body), size):
        segment = nn.Sequential(*body[start:start + size])
        h = ad.checkpoint(segment, h) if segments else segment(h)
    loss = (head(h) ** 2).mean()
    loss.backward()
    return loss.item(), ad.peak_saved_bytes() - base, {
        n: p.grad.data.copy() for n, p in model.named_parameters()}


def test_checkpoint_gives_the_same_gradients_for_less_saved_memory(clean_tape):
    rng = np.random.default_rng(0)
    model = deep_mlp(depth=16, width=64, rng=rng)
    x = ad.tensor(rng.standard_normal((128, 64)))
    loss_plain, peak_plain, grads_plain = _train_step(model, x, segments=0)
    loss_ckpt, peak_ckpt, grads_ckpt = _train_step(model, x, segments=4)
    assert loss_plain == loss_ckpt
    for name in grads_plain:
        assert_close(grads_ckpt[name], grads_plain[name],
                     f"{name}.grad with checkpoint vs without", rtol=1e-12, atol=1e-14)
    assert peak_ckpt < 0.5 * peak_plain, (
        f"peak saved bytes with 4 checkpointed segments {peak_ckpt} vs {peak_plain} without")
    assert ad.saved_bytes() == clean_tape, "checkpointing left bytes on the tape"


def test_checkpoint_gradients_for_inputs_and_closed_over_parameters():
    rng = np.random.default_rng(1)
    w = ad.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x = ad.tensor(rng.standard_normal((4, 3)), requires_grad=True)

    def segment(a):
        return (a @ w).tanh() * a

    segment(x).exp().sum().backward()
    gx, gw = x.grad.data.copy(), w.grad.data.copy()
    x.grad = w.grad = None
    ad.checkpoint(segment, x).exp().sum().backward()
    assert_close(x.grad, gx, "input grad through checkpoint", rtol=1e-12)
    assert_close(w.grad, gw, "closed-over parameter grad through checkpoint", rtol=1e-12)
    # only parameters inside need grad: the op must still be recorded
    x_const = ad.tensor(x.data)
    w.grad = None
    ad.checkpoint(segment, x_const).sum().backward()
    assert w.grad is not None, "parameter inside a checkpoint of a constant input got no grad"
