"""PyTorch as the oracle: for every op, the same inputs give the same forward values, the same
gradients, and the same Hessian-vector products; SGD and Adam make the same updates.

Skipped cleanly when torch is not installed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from engine_strategies import (CASE_IDS, CASES, SETTINGS, SMOOTH_CASES, ENGINE, assert_close,
                               broadcastable, normal, positive, rng_of, seeds, torch_namespace)

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the suite runs under xdist: no thread oversubscription
TORCH = torch_namespace()
DTYPES = {"float64": (np.float64, 1e-10, 1e-12), "float32": (np.float32, None, 1e-5)}


def run_engine(case, arrays, u):
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = case.call(ENGINE, *xs)
    grads = ad.grad(out, xs, ad.tensor(u), allow_unused=True)
    return out.data, [None if g is None else g.data for g in grads]


def run_torch(case, arrays, u):
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = case.call(TORCH, *xs)
    grads = torch.autograd.grad(out, xs, torch.from_numpy(u), allow_unused=True)
    return out.detach().numpy(), [None if g is None else g.numpy() for g in grads]


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_and_gradients_match_pytorch(case, dtype):
    np_dtype, rtol, atol = DTYPES[dtype]
    rtol = case.float32_rtol if rtol is None else rtol
    arrays = case.arrays(seed=21, dtype=np_dtype)
    out_e = case.call(ENGINE, *[ad.tensor(a) for a in arrays]).data
    u = np.random.default_rng(21).standard_normal(out_e.shape).astype(np_dtype)
    out_e, grads_e = run_engine(case, arrays, u)
    out_t, grads_t = run_torch(case, arrays, u)
    label = f"{case.name} ({dtype}, inputs {[a.shape for a in arrays]})"
    assert out_e.dtype == out_t.dtype, f"{label}: dtype {out_e.dtype}, torch {out_t.dtype}"
    assert_close(out_e, out_t, f"{label}: forward vs torch", rtol=rtol, atol=atol)
    for i, (ge, gt) in enumerate(zip(grads_e, grads_t)):
        gt = np.zeros(arrays[i].shape, np_dtype) if gt is None else gt
        ge = np.zeros(arrays[i].shape, np_dtype) if ge is None else ge
        assert ge.dtype == gt.dtype, f"{label}: grad {i} dtype {ge.dtype}, torch {gt.dtype}"
        assert_close(ge, gt, f"{label}: gradient of input {i} vs torch", rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", SMOOTH_CASES, ids=[c.name for c in SMOOTH_CASES])
def test_hessian_vector_products_match_pytorch_double_backward(case):
    arrays = case.arrays(seed=22)
    rng = np.random.default_rng(22)
    out_shape = case.call(ENGINE, *[ad.tensor(a) for a in arrays]).shape
    u = rng.standard_normal(out_shape)
    ws = [rng.standard_normal(a.shape) for a in arrays]

    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    gs = ad.grad(case.call(ENGINE, *xs), xs, ad.tensor(u), create_graph=True, allow_unused=True)
    s = sum(((g * ad.tensor(w)).sum() for g, w in zip(gs, ws) if g is not None),
            ad.tensor(0.0))
    hv_e = (ad.grad(s, xs, allow_unused=True) if s.requires_grad else [None] * len(xs))

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    gt = torch.autograd.grad(case.call(TORCH, *ts), ts, torch.from_numpy(u), create_graph=True,
                             allow_unused=True)
    st_ = sum((g * torch.from_numpy(w)).sum() for g, w in zip(gt, ws) if g is not None)
    hv_t = (torch.autograd.grad(st_, ts, allow_unused=True) if torch.is_tensor(st_)
            and st_.requires_grad else [None] * len(ts))
    for i, (he, ht) in enumerate(zip(hv_e, hv_t)):
        he = np.zeros(arrays[i].shape) if he is None else he.data
        ht = np.zeros(arrays[i].shape) if ht is None else ht.detach().numpy()
        assert_close(he, ht, f"{case.name}: Hessian-vector product for input {i} vs torch",
                     rtol=1e-9, atol=1e-11)


BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)),
       shapes=broadcastable(2, min_side=0), seed=seeds)
def test_broadcasting_binary_ops_match_pytorch_on_random_shapes(op, shapes, seed):
    rng = rng_of(seed)
    a = positive(rng, shapes.input_shapes[0])
    b = normal(rng, shapes.input_shapes[1]) if op != "div" else positive(rng,
                                                                        shapes.input_shapes[1])
    f = BINARY[op]
    u = rng.standard_normal(shapes.result_shape)
    xe = [ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)]
    ye = f(*xe)
    ge = ad.grad(ye, xe, ad.tensor(u))
    xt = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    yt = f(*xt)
    gt = torch.autograd.grad(yt, xt, torch.from_numpy(u))
    label = f"{op} on {shapes.input_shapes}"
    assert_close(ye.data, yt.detach().numpy(), f"{label}: forward vs torch", rtol=1e-12)
    for i in range(2):
        assert_close(ge[i], gt[i].numpy(), f"{label}: grad {i} vs torch", rtol=1e-10,
                     atol=1e-12)


@SETTINGS
@given(data=st.data(), seed=seeds, keepdim=st.booleans())
def test_reductions_match_pytorch_on_random_dims(data, seed, keepdim):
    from engine_strategies import dims, distinct, shapes
    shape = data.draw(shapes(min_dims=1), "shape")
    dim = data.draw(dims(len(shape), allow_none=False), "dim")
    op = data.draw(st.sampled_from(["sum", "mean", "amax"]), "op")
    x = distinct(rng_of(seed), shape)
    xe, xt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = getattr(xe, op)(dim, keepdim), getattr(xt, op)(dim, keepdim)
    u = rng_of(seed).standard_normal(yt.shape)
    (ye * ad.tensor(u)).sum().backward()
    (yt * torch.from_numpy(u)).sum().backward()
    label = f"{op}(dim={dim}, keepdim={keepdim}) on {shape}"
    assert_close(ye.data, yt.detach().numpy(), f"{label}: forward vs torch", rtol=1e-12)
    assert_close(xe.grad, xt.grad.numpy(), f"{label}: grad vs torch", rtol=1e-12)


def test_max_ties_split_the_gradient_like_torch_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    xe, xt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    xe.amax(1).sum().backward()
    xt.amax(1).sum().backward()
    assert_close(xe.grad, xt.grad.numpy(), "amax with ties vs torch")


# ---------------------------------------------------------------------------------------
# optimizers and a whole training step
# ---------------------------------------------------------------------------------------
OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS,
                         ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k in OPTIMIZERS])
def test_optimizer_updates_match_pytorch_on_the_same_gradients(name, kwargs):
    rng = np.random.default_rng(23)
    p0 = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape) for p in p0] for _ in range(5)]
    pe = [nn.Parameter(p.copy()) for p in p0]
    pt = [torch.nn.Parameter(torch.tensor(p)) for p in p0]
    oe = getattr(ad.optim, name)(pe, **kwargs)
    ot = getattr(torch.optim, name)(pt, **kwargs)
    for step, gs in enumerate(grads, start=1):
        for e, t, g in zip(pe, pt, gs):
            e.grad, t.grad = ad.tensor(g), torch.tensor(g)
        oe.step()
        ot.step()
        for i, (e, t) in enumerate(zip(pe, pt)):
            assert_close(e, t.detach().numpy(), f"{name}({kwargs}) step {step}, param {i} "
                         f"vs torch.optim", rtol=1e-12, atol=1e-14)


def test_an_mlp_training_step_matches_pytorch():
    rng = np.random.default_rng(24)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    model = nn.Sequential(nn.Linear(4, 8, generator=rng), nn.ReLU(),
                          nn.Linear(8, 8, generator=rng), nn.Tanh(),
                          nn.Linear(8, 3, generator=rng))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                                 torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            assert tuple(tp.shape) == p.shape, f"{name}: {p.shape} vs torch {tuple(tp.shape)}"
            tp.copy_(torch.from_numpy(p.data))
    opt = ad.optim.Adam(model.parameters(), lr=0.01)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01)
    for step in range(3):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(model(ad.tensor(x)), y)
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)),
                                                  torch.from_numpy(y))
        loss.backward()
        tloss.backward()
        assert_close(loss.item(), tloss.item(), f"step {step}: loss vs torch", rtol=1e-12)
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            assert_close(p.grad, tp.grad.numpy(), f"step {step}: {name}.grad vs torch",
                         rtol=1e-10, atol=1e-13)
        opt.step()
        topt.step()
