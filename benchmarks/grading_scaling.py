"""Grading throughput as workers are added: 1 and 2 local workers, and a Dask cluster.

    python benchmarks/grading_scaling.py [--assignment vjps] [--copies 2] [--quick]

Grades the same submissions (the reference, the blank version and every known-wrong answer,
`--copies` times over under different student ids) three ways, each as an instructor runs
it, start-up included: `autograder grade --jobs 1`, `--jobs 2`, and `--scheduler` on a Dask
scheduler with two single-threaded worker processes started here on loopback (the
cluster's own start-up is not counted, and its workers grade one submission before the clock
starts: a course's cluster runs all term). Every run must give the same CSV before any
number is printed.

Printed for each: the run's time, its start-up (the same command run again, with nothing
left to grade), the grading rate n / (run - start-up) in notebooks/s, the scaling efficiency
(the rate with W workers divided by W times the rate of one), and one worker's cost per
notebook, which the README's projection for N machines of W cores starts from.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from autograder import compare, notebooks  # noqa: E402
from autograder.grade import source_bytes  # noqa: E402
from autograder.gradebook import Gradebook, default_url  # noqa: E402
from grading import submissions, write_submissions  # noqa: E402
from servers import Cluster, missing  # noqa: E402


def timed_grade(assignment, subs, course, *how):
    """(seconds of the run, seconds of a rerun with nothing left to grade, the CSV). The
    course's gradebook is created first, untimed: a course creates it once a term (nbgrader
    runs alembic then, ~7 s here), not once a grading run."""
    course.mkdir(parents=True)
    if (subs.parent / "secret").exists():  # the same hidden cases for every run
        (course / ".autograder_secret").write_bytes((subs.parent / "secret").read_bytes())
    with Gradebook(default_url(course)):
        pass
    argv = [str(Path(sys.executable).parent / "autograder"), "grade", assignment,
            "--submissions", str(subs), "--course", str(course), *how]
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    if not (subs.parent / "secret").exists():
        (subs.parent / "secret").write_bytes((course / ".autograder_secret").read_bytes())
    return seconds[0], seconds[1], (course / "grades.csv").read_text()


def gradebook_write_seconds(assignment, folder, submissions=50):
    """Seconds the grader process spends writing one submission's scores to a SQLite
    gradebook: the part of grading that stays serial however many workers grade."""
    sources = {name: nbformat.reads(data.decode(), as_version=4)
               for name, data in source_bytes(assignment).items()}
    parts = [compare.PartResult(grade_id, name, 1.0, 1.0)
             for name, nb in sources.items() for grade_id in notebooks.points(nb)]
    with Gradebook(default_url(folder)) as gb:
        gb.declare(assignment, sources)
        gb.record(assignment, "warm-up", parts)
        start = time.perf_counter()
        for i in range(submissions):
            gb.record(assignment, f"student{i}", parts)
        return (time.perf_counter() - start) / submissions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="vjps")
    parser.add_argument("--copies", type=int, default=2,
                        help="how many times the corpus is submitted (default 2)")
    parser.add_argument("--quick", action="store_true", help="one copy: a smoke run")
    args = parser.parse_args(argv)
    why = missing()
    if why:
        print(f"cannot start a local cluster here: {why}")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        n = write_submissions(subs, args.assignment,
                              submissions(args.assignment, 1 if args.quick else args.copies))
        print(f"grading {n} notebooks of {args.assignment!r} ({os.cpu_count()} CPUs here)")
        runs = {}
        for jobs in (1, 2):
            runs[f"--jobs {jobs}"] = (jobs, *timed_grade(args.assignment, subs,
                                                       tmp / f"jobs{jobs}", "--jobs",
                                                       str(jobs)))
        cluster = Cluster(nworkers=2)
        try:
            # a course's cluster runs all term: its workers have graded before
            warm = tmp / "warm-up"
            (warm / "one").mkdir(parents=True)
            (subs / "reference-0").rename(warm / "one" / "reference-0")
            timed_grade(args.assignment, warm / "one", warm / "course", "--scheduler",
                        cluster.address)
            (warm / "one" / "reference-0").rename(subs / "reference-0")
            runs["Dask, 2 workers"] = (2, *timed_grade(args.assignment, subs, tmp / "dask",
                                                       "--scheduler", cluster.address))
        finally:
            cluster.close()
    csvs = {csv for _, _, _, csv in runs.values()}
    if len(csvs) != 1:
        print("ERROR: the runs gave different CSVs; not timing graders that disagree")
        return 1
    one = n / (runs["--jobs 1"][1] - runs["--jobs 1"][2])
    print(f"{'':16s} {'run':>7s} {'start-up':>9s}  {'grading rate':>14s}  scaling efficiency")
    for label, (workers, run, start_up, _) in runs.items():
        rate = n / (run - start_up)
        print(f"{label:16s} {run:6.1f}s {start_up:8.1f}s  {rate:5.2f} notebooks/s  "
              f"{rate / (workers * one):6.0%}")
    print(f"start-up: the same command again with nothing left to grade; grading rate: "
          f"notebooks / (run - start-up). One worker's cost per notebook: {1 / one:.2f} s. "
          f"The same CSV from every run.")
    with tempfile.TemporaryDirectory() as tmp:
        write = gradebook_write_seconds(args.assignment, Path(tmp))
    print(f"the grader's gradebook write per submission (SQLite): {write * 1000:.0f} ms, so "
          f"one grader process records at most {1 / write:.0f} submissions/s, the rate of "
          f"{1 / (write * one):.0f} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
