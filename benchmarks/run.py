"""The engine's benchmarks, in one run: `python benchmarks/run.py` (or `make bench`).

1. Two-layer MLP training step at four sizes: the engine's time ÷ hand-written numpy's
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
    --malloc MODE  steady (default: glibc keeps freed memory, so no implementation pays page
                   faults on fresh memory by the luck of glibc's adaptive thresholds) or default

It exits with status 1 when a section fails (a gradient that differs, an engine error).
"""
import argparse
import os
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
    rows.append(("malloc", malloc or "the C library's defaults"))
    print(table(None, rows))


def print_mlp(torch, quick, outcomes):
    headers = ["size", "numpy", "engine", "engine÷numpy", "target", ""]
    if torch is not None:
        headers += ["torch", "torch÷numpy"]
    headers += ["noise"]
    rows = []
    for r in mlp_step.run(torch, quick):
        row = [r.size.label, fmt_time(r.numpy.best), fmt_time(r.engine.best), ratio(r.ratio),
               f"≤ {r.size.target:g}×", status(r.passed)]
        if torch is not None:
            row += [fmt_time(r.torch.best), ratio(r.torch_ratio)]
        row.append(noise(r.numpy, r.engine, r.torch))
        rows.append(row)
        outcomes.append((f"mlp {r.size.name}", r.passed))
    print(table(headers, rows))
    print("Times: the fastest of the interleaved rounds (per step); ratios divide those. "
          "noise: the largest\n(median - min) / min of a row, high when other work shares "
          "the machine. Gradients were\nchecked against numpy's before and after timing.")


def print_ops(torch, quick, outcomes):
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


def print_checkpointing(torch, quick, outcomes):
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


def run_section(part, torch, quick, outcomes):
    """Print one section; an exception (a wrong gradient, an engine error) is reported in
    its place and the run goes on with the next section. Returns the error, or None."""
    print(heading(_titles()[part]), flush=True)
    try:
        SECTIONS[part](torch, quick, outcomes)
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
    parser.add_argument("--malloc", choices=("steady", "default"), default="steady",
                        help="steady: fixed glibc malloc thresholds (default); default: glibc's")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(PARTS)}")

    timing.use_clock(args.clock)
    malloc = machine.steady_malloc() if args.malloc == "steady" else None
    start = time.perf_counter()
    torch = None if args.no_torch else machine.import_torch()
    print_machine(torch, args.quick, "left out (--no-torch)" if args.no_torch else "not installed",
                  args.clock, malloc)
    outcomes = []
    errors = [e for e in (run_section(part, torch, args.quick, outcomes)
                          for part in PARTS if part in parts) if e]
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
