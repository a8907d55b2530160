"""Grading throughput: plain `nbgrader autograde` against `autograder grade --jobs 2`.

    python benchmarks/grading.py [--assignment vjps] [--copies 2] [--jobs 2] [--quick]

Both grade the same submissions of one assignment -- the reference, the blank version and
every known-wrong answer, `--copies` times over under different student ids -- the way an
instructor runs them: plain nbgrader as `generate_assignment` + `autograde` (serial, its
CLI start-up included), the autograder as its command (sandbox on, its start-up included).
Both must agree on every score before the ratio is printed: a faster grader that scores
differently is not faster. The goal: at least 2x nbgrader's throughput on 2 cores.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import known_wrong  # noqa: E402
from autograder.plain_nbgrader import autograde  # noqa: E402

GOAL = 2.0


def submissions(assignment, copies):
    _, subs, _ = known_wrong.corpus(assignment)
    return {f"{name}-{i}": nbs for i in range(copies) for name, nbs in subs.items()}


def time_nbgrader(assignment, subs, workdir):
    start = time.perf_counter()
    scores = autograde(assignment, subs, workdir, halves=1)
    return time.perf_counter() - start, scores


def write_submissions(folder, assignment, subs):
    """{student: {file name: notebook}} as a submissions folder; how many notebooks."""
    import nbformat
    for student, nbs in subs.items():
        (folder / student / assignment).mkdir(parents=True)
        for name, nb in nbs.items():
            nbformat.write(nb, str(folder / student / assignment / name))
    return sum(map(len, subs.values()))


def time_autograder(assignment, subs, workdir, jobs):
    folder = Path(workdir) / "submissions"
    write_submissions(folder, assignment, subs)
    course = Path(workdir) / "course"
    course.mkdir()
    start = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "autograder"), "grade",
                           assignment, "--submissions", str(folder), "--course", str(course),
                           "--jobs", str(jobs)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"autograder grade failed:\n{proc.stdout}\n{proc.stderr}")
    from autograder.gradebook import Gradebook, default_url
    with Gradebook(default_url(course)) as gb:
        scores = {s: gb.scores(assignment, s) for s in subs}
    return seconds, scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="vjps")
    parser.add_argument("--copies", type=int, default=2,
                        help="how many times the corpus is submitted (default 2)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one copy: a smoke run")
    args = parser.parse_args(argv)
    copies = 1 if args.quick else args.copies
    subs = submissions(args.assignment, copies)
    print(f"grading {len(subs)} submissions of {args.assignment!r} "
          f"({os.cpu_count()} CPUs here)")
    with tempfile.TemporaryDirectory() as tmp:
        nb_seconds, nb_scores = time_nbgrader(args.assignment, subs, Path(tmp) / "nbgrader")
        ag_seconds, ag_scores = time_autograder(args.assignment, subs, Path(tmp) / "ours",
                                                args.jobs)
        shutil.rmtree(tmp, ignore_errors=True)
    differ = [s for s in subs if nb_scores[s] != ag_scores[s]]
    if differ:
        for s in differ:
            print(f"  {s}: nbgrader {nb_scores[s]} vs autograder {ag_scores[s]}")
        print("ERROR: the two graders disagree; not timing a grader that scores differently")
        return 1
    ratio = nb_seconds / ag_seconds
    print(f"nbgrader autograde (serial, no sandbox): {nb_seconds:6.1f} s  "
          f"{len(subs) / nb_seconds:5.2f} submissions/s")
    print(f"autograder grade --jobs {args.jobs} (sandboxed):   {ag_seconds:6.1f} s  "
          f"{len(subs) / ag_seconds:5.2f} submissions/s")
    print(f"throughput ratio: {ratio:.2f}x (goal {GOAL:g}x: "
          f"{'met' if ratio >= GOAL else 'MISSED'}); every score agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
