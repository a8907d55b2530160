"""The engine's benchmarks, in one run: `python benchmarks/run.py` (or `make bench`).

1. Two-layer MLP training step at four sizes, fused (nn.Linear, F.mse_loss) and composed
   (x @ W.T + b, .relu(), ((y - t) ** 2).mean()): the engine's time ÷ hand-written numpy's
   (and PyTorch eager's, when torch is installed), against the speed targets.
2. Per-op overhead: forward + backward of one elementwise op on a 4-element vector.
3. Checkpointing a deep residual MLP: step time and tape memory against no checkpointing.

Every comparison first checks that the engine's gradients equal the reference's, so a
wrong engine fails here rather than being timed. Everything runs on one thread.

    --quick        a fast smoke run (every row, rough timings; the tests use it)
    --only PARTS   comma-separated subset of: mlp, ops, checkpoint
    --no-torch     leave PyTorch out even when it is installed
    --strict       exit with status 1 if any target is missed
    --clock CLOCK  cpu (default: process CPU time, robust when other work shares the cores)
                   or wall
    --malloc MODE  default (glibc's adaptive thresholds: what a user gets, the headline; the
                   MLP's medium and large sizes are then run again in a fresh process with
                   fixed thresholds, as a second line) or steady (fixed thresholds: glibc
                   keeps freed memory, so nobody pays page faults on fresh memory)
    --sizes LIST   comma-separated subset of the MLP sizes: tiny, small, medium, large

It exits with status 1 when a section fails (a gradient that differs, an engine error).
"""
import argparse
import os
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import machine  # noqa: E402  (imports neither numpy nor torch)

machine.pin_threads()  # before numpy or torch load their BLAS

from benchmarks import checkpointing, mlp_step, op_overhead  # noqa: E402
from benchmarks.report import heading, mib, noise, ratio, status, table  # noqa: E402
from benchmarks import timing  # noqa: E402
from benchmarks.timing import fmt_time  # noqa: E402

PARTS = ("mlp", "ops", "checkpoint")


def print_machine(torch, quick, torch_absent, clock, malloc):
    print(heading("Engine benchmarks" + (" (--quick: timings are rough, for a smoke test only)"
                                         if quick else "")))
    rows = machine.info(torch, torch_absent)
    rows.append(("clock", "process CPU time (time.process_time)" if clock == "cpu" else
                 "wall clock (time.perf_counter)"))
    rows.append(("malloc", malloc or "glibc's defaults (adaptive thresholds), as users get"))
    print(table(None, rows))


def mlp_rows(results, torch):
    """Table rows for MLP results, and (name, passed) outcomes for rows with a target."""
    rows, outcomes = [], []
    for r in results:
        row = [r.size.label, r.form, fmt_time(r.numpy.best), fmt_time(r.engine.best),
               ratio(r.ratio), "-" if r.target is None else f"≤ {r.target:g}×",
               "" if r.passed is None else status(r.passed)]
        if torch is not None:
            row += [fmt_time(r.torch.best), ratio(r.torch_ratio)]
        row += [f"{r.numpy.faults_per_call:.0f} / {r.engine.faults_per_call:.0f}",
                noise(r.numpy, r.engine, r.torch)]
        rows.append(row)
        if r.passed is not None:
            outcomes.append((f"mlp {r.size.name} {r.form}", r.passed))
    return rows, outcomes


def mlp_headers(torch):
    headers = ["size", "form", "numpy", "engine", "engine÷numpy", "target", ""]
    if torch is not None:
        headers += ["torch", "torch÷numpy"]
    return headers + ["faults/step numpy / engine", "noise"]


def print_mlp(torch, quick, outcomes, sizes=None, malloc=None, rows_only=False):
    results = list(mlp_step.run(torch, quick, sizes))
    rows, met = mlp_rows(results, torch)
    outcomes += met
    print(table(mlp_headers(torch), rows, right=range(2, len(mlp_headers(torch)))))
    if rows_only:
        return
    print("Times: the fastest of the interleaved rounds (per step); ratios divide those. "
          "fused: nn.Linear and\nF.mse_loss; composed: x @ W.T + b, .relu(), ((y - t) ** "
          "2).mean(). faults/step: minor page faults\n(fresh memory) per step, median over "
          "rounds. noise: the largest (median - min) / min of a row,\nhigh when other work "
          "shares the machine. Gradients were checked against numpy's before and\nafter "
          "timing.")
    if malloc is None:  # the headline ran with glibc's defaults: add the fixed-malloc line
        print_steady_mlp(torch, quick)


STEADY_SIZES = ("medium", "large")  # where glibc's thresholds decide about page faults


def print_steady_mlp(torch, quick):
    """The large sizes again, in a fresh process with glibc's malloc thresholds fixed (no
    page faults for anyone): what the engine's bookkeeping costs with the allocator out of
    the picture. A second line, not the headline: users get glibc's defaults."""
    sizes = STEADY_SIZES[:1] if quick else STEADY_SIZES
    command = [sys.executable, os.path.abspath(__file__), "--only", "mlp", "--malloc",
               "steady", "--sizes", ",".join(sizes), "--rows-only"]
    command += ["--quick"] if quick else []
    command += ["--no-torch"] if torch is None else []
    child = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if child.returncode != 0:
        raise RuntimeError(f"the fixed-malloc run failed:\n{child.stdout}{child.stderr}")
    print(f"\nThe same step with glibc's malloc thresholds fixed ({machine.MALLOC_NOTE}), "
          f"in a fresh process:")
    print(child.stdout.rstrip())


def print_ops(torch, quick, outcomes, **_):
    headers = ["op", "numpy", "engine", "engine-numpy", "target", ""]
    if torch is not None:
        headers += ["torch"]
    headers += ["noise"]
    rows = []
    for r in op_overhead.run(torch, quick):
        row = [r.op, fmt_time(r.numpy.best), fmt_time(r.engine.best),
               fmt_time(r.engine.best - r.numpy.best), f"≤ {fmt_time(op_overhead.TARGET)}",
               status(r.passed)]
        if torch is not None:
            row.append(fmt_time(r.torch.best))
        row.append(noise(r.numpy, r.engine, r.torch))
        rows.append(row)
        outcomes.append((f"op {r.op}", r.passed))
    print(table(headers, rows))
    print("numpy: the forward and the gradient formulas by hand; engine and torch: "
          "op(inputs).backward(g)\nwith .grad reset to None each time. Gradients were "
          "checked against numpy's.")


def print_checkpointing(torch, quick, outcomes, **_):
    r = checkpointing.run(quick)
    labels = ("tape after forward", "  of which activations", "peak tape over the step")
    rows = [["step time (forward + backward)", fmt_time(r.plain.best),
             fmt_time(r.checkpointed.best), ratio(r.time_ratio)]]
    for label, p, k, q in zip(labels, r.plain_memory, r.checkpointed_memory,
                              r.memory_ratios()):
        rows.append([label, mib(p), mib(k), ratio(q)])
    print(table(("", "no checkpointing", "checkpointed", "ratio"), rows))
    print("Memory: bytes the tape holds (autodiff.saved_bytes / peak_saved_bytes); "
          "activations leave out\nleaves (parameters, input). Gradients were checked equal "
          f"with and without checkpointing.\nnoise: {noise(r.plain, r.checkpointed) or '-'}")


def _titles():
    c = checkpointing
    return {
        "mlp": "1. Two-layer MLP training step: forward + backward, float64, 1 thread",
        "ops": f"2. Per-op overhead: forward + backward of one elementwise op, shape "
               f"{op_overhead.SHAPE}",
        "checkpoint": f"3. Checkpointing: {c.DEPTH} residual blocks x + W2 relu(W1 x), "
                      f"width {c.WIDTH}, batch {c.BATCH}, {c.SEGMENTS} segments",
    }


SECTIONS = {"mlp": print_mlp, "ops": print_ops, "checkpoint": print_checkpointing}


def run_section(part, torch, quick, outcomes, rows_only=False, **options):
    """Print one section; an exception (a wrong gradient, an engine error) is reported in
    its place and the run goes on with the next section. Returns the error, or None."""
    if not rows_only:
        print(heading(_titles()[part]), flush=True)
    try:
        SECTIONS[part](torch, quick, outcomes, rows_only=rows_only, **options)
    except Exception as e:  # noqa: BLE001  (reported, and the exit status says so)
        print(f"ERROR: this section failed, so it measured nothing:\n"
              f"{''.join(traceback.format_exception(e)).rstrip()}")
        return f"{part}: {type(e).__name__}"
    finally:
        sys.stdout.flush()
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fast smoke run, rough timings")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--clock", choices=sorted(timing.CLOCKS), default="cpu",
                        help="cpu: process CPU time (default); wall: perf_counter")
    parser.add_argument("--malloc", choices=("default", "steady"), default="default",
                        help="default: glibc's adaptive thresholds, what a user gets (the "
                             "headline); steady: fixed thresholds (no page faults)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated MLP sizes (default: all of "
                             f"{', '.join(s.name for s in mlp_step.SIZES)})")
    parser.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(PARTS)}")
    sizes = None if args.sizes is None else [s.strip() for s in args.sizes.split(",")]

    timing.use_clock(args.clock)
    malloc = machine.steady_malloc() if args.malloc == "steady" else None
    start = time.perf_counter()
    torch = None if args.no_torch else machine.import_torch()
    if not args.rows_only:
        print_machine(torch, args.quick,
                      "left out (--no-torch)" if args.no_torch else "not installed",
                      args.clock, malloc)
    outcomes = []
    errors = [e for e in (run_section(part, torch, args.quick, outcomes, args.rows_only,
                                      sizes=sizes, malloc=malloc)
                          for part in PARTS if part in parts) if e]
    if args.rows_only:
        return 1 if errors else 0
    missed = [name for name, passed in outcomes if not passed]
    print(heading("Summary"))
    print(f"targets met: {len(outcomes) - len(missed)} of {len(outcomes)}"
          + (f" (missed: {', '.join(missed)})" if missed else ""))
    if errors:
        print(f"FAILED sections: {'; '.join(errors)}")
    print(f"load at the end: {machine.load_average()}; "
          f"ran in {time.perf_counter() - start:.0f} s")
    return 1 if errors or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
