"""Where the engine spends a two-layer MLP training step: a rough split, then cProfile.

    python benchmarks/profile_step.py [tiny|small|medium|large] [--form fused|composed]
                                      [--top N] [--steps N]

The split uses public API only, so it survives changes to the engine's internals:
the numpy baseline, the engine step, its forward with and without recording (no_grad), and
backward as the rest. The difference between "forward, recording" and "forward, no_grad" is
what recording the tape costs; "forward, no_grad" minus numpy's forward is what wrapping
costs (Function.apply's argument handling, Tensor and Node creation, the op's own checks).

cProfile adds a fixed cost to every Python call, so it inflates many small calls: read its
table for which functions run how often and which dominate, not as absolute times.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import machine  # noqa: E402

machine.pin_threads()

import cProfile  # noqa: E402
import pstats  # noqa: E402

import numpy as np  # noqa: E402

import autodiff  # noqa: E402
import autodiff.nn.functional as F  # noqa: E402
from benchmarks import mlp_step  # noqa: E402
from benchmarks.timing import fmt_time, interleaved  # noqa: E402


def numpy_forward(x, t, W1, b1, W2, b2):
    h = x @ W1.T
    h += b1
    np.maximum(h, 0, out=h)
    y = h @ W2.T
    y += b2
    y -= t
    return np.vdot(y, y) / y.size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("size", nargs="?", default="tiny",
                        choices=[s.name for s in mlp_step.SIZES])
    parser.add_argument("--top", type=int, default=25, help="rows of the cProfile table")
    parser.add_argument("--steps", type=int, default=None, help="steps to profile")
    parser.add_argument("--form", choices=mlp_step.FORMS, default="fused",
                        help="the step as fused ops (nn.Linear, F.mse_loss) or composed")
    args = parser.parse_args(argv)
    size = next(s for s in mlp_step.SIZES if s.name == args.size)
    p = mlp_step.make_problem(size)
    arrays = [p[k] for k in ("x", "t", "W1", "b1", "W2", "b2")]
    engine = mlp_step.EngineMLP(p)
    step = getattr(engine, args.form)

    def forward():
        if args.form == "fused":
            return F.mse_loss(engine.l2(F.relu(engine.l1(engine.x))), engine.t)
        W1, b1, W2, b2 = engine.params
        y = (engine.x @ W1.T + b1).relu() @ W2.T + b2
        return ((y - engine.t) ** 2).mean()

    def forward_no_grad():
        with autodiff.no_grad():
            return forward()

    slow = size.name in ("medium", "large")
    samples = interleaved({
        "numpy step": lambda: mlp_step.numpy_step(*arrays),
        "numpy forward": lambda: numpy_forward(*arrays),
        "engine step": step,
        "engine forward, recording": forward,
        "engine forward, no_grad": forward_no_grad,
    }, rounds=3 if slow else 9, min_batch=0.0 if slow else 0.05)
    best = {name: s.best for name, s in samples.items()}
    best["engine backward (step - forward)"] = (best["engine step"]
                                                - best["engine forward, recording"])
    print(f"{size.label}, {args.form}: the fastest of interleaved rounds, process CPU time")
    for name, seconds in best.items():
        print(f"  {name:36s} {fmt_time(seconds):>10s}")
    print(f"  {'engine ÷ numpy':36s} {best['engine step'] / best['numpy step']:>9.2f}×")

    steps = args.steps or (20 if slow else 5000)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(steps):
        step()
    profile.disable()
    print(f"\ncProfile of {steps} engine steps, by own time (tottime):")
    pstats.Stats(profile).strip_dirs().sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
