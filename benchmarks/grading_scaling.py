"""Grading throughput as workers are added: 1 and 2 local workers, and a Dask cluster.

    python benchmarks/grading_scaling.py [--assignment vjps] [--copies 2] [--quick]

Grades the same submissions (the reference, the blank version and every known-wrong answer,
`--copies` times over under different student ids) three ways, each as an instructor runs
it, start-up included: `autograder grade --jobs 1`, `--jobs 2`, and `--scheduler` on a Dask
scheduler with two single-threaded worker processes started here on loopback (the
cluster's own start-up is not counted, and its workers grade one submission before the clock
starts: a course's cluster runs all term). Every run must give the same CSV before any
number is printed.

Printed: notebooks/s for each, the scaling efficiency (throughput with W workers divided by
W times the throughput of one), and the per-notebook cost that the README's projection for
N machines of W cores starts from.
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

from autograder import known_wrong  # noqa: E402
from servers import Cluster, missing  # noqa: E402


def write_submissions(folder, assignment, copies):
    _, subs, _ = known_wrong.corpus(assignment)
    notebooks = 0
    for i in range(copies):
        for name, nbs in subs.items():
            for file_name, nb in nbs.items():
                target = folder / f"{name}-{i}" / assignment / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, str(target))
                notebooks += 1
    return notebooks


def timed_grade(assignment, subs, course, *how):
    course.mkdir(parents=True)
    if (subs.parent / "secret").exists():  # the same hidden cases for every run
        (course / ".autograder_secret").write_bytes((subs.parent / "secret").read_bytes())
    argv = [str(Path(sys.executable).parent / "autograder"), "grade", assignment,
            "--submissions", str(subs), "--course", str(course), *how]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    if not (subs.parent / "secret").exists():
        (subs.parent / "secret").write_bytes((course / ".autograder_secret").read_bytes())
    return seconds, (course / "grades.csv").read_text()


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
        n = write_submissions(subs, args.assignment, 1 if args.quick else args.copies)
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
    csvs = {csv for _, _, csv in runs.values()}
    if len(csvs) != 1:
        print("ERROR: the runs gave different CSVs; not timing graders that disagree")
        return 1
    one = n / runs["--jobs 1"][1]
    for label, (workers, seconds, _) in runs.items():
        rate = n / seconds
        print(f"{label:16s} {seconds:6.1f} s  {rate:5.2f} notebooks/s  "
              f"scaling efficiency {rate / (workers * one):4.0%}")
    per_notebook = runs["--jobs 1"][1] / n
    print(f"one worker's cost per notebook (start-up included): {per_notebook:.2f} s; "
          f"the same CSV from every run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
