"""The benchmark runs end to end (`benchmarks/run.py --quick`) and prints every row.

It asserts nothing about speed: the targets live in the benchmark itself (`make bench`).
It does fail when the benchmark does, and the benchmark fails when the engine's gradients
differ from the hand-written numpy ones or an engine call raises.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    # 1. two-layer MLP step, one row per size
    "tiny B4 d8 m8 o2", "small B32 d64 m64 o10", "medium B256 d784 m512 o10",
    "large B1024 d1024 m2048 o1024",
    # 2. per-op overhead
    "mul ", "tanh ",
    # 3. checkpointing
    "step time (forward + backward)", "tape after forward", "of which activations",
    "peak tape over the step",
    # machine info and summary
    "python ", "numpy ", "torch ", "threads ", "targets met:",
]


def test_quick_benchmark_prints_every_row():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"benchmarks/run.py --quick failed:\n{output}"
    missing = [row for row in ROWS if not any(line.lstrip().startswith(row)
                                              for line in result.stdout.splitlines())]
    assert not missing, f"rows missing from the benchmark's output: {missing}\n{output}"
    assert "ERROR" not in result.stdout, output
