"""`autograder grade` on a cluster: a real Dask scheduler with two worker processes and a real
PostgreSQL server, both started here, in temporary folders, listening on loopback only.

- The cluster with the gradebook on PostgreSQL gives exactly the CSV (and gradebook scores)
  that grading on this machine's process pool with SQLite gives.
- A worker killed mid-grade: its jobs run again on the other worker; every submission is
  graded and recorded once, with the same scores.
- The grader killed with kill -9 and run again: the same CSV, nothing lost or doubled.
- Two graders (two assignments) on one new PostgreSQL gradebook at once, and a stress test of
  the gradebook alone: no row lost, none doubled.

The corpus is the pre-release check's: the reference, the blank student version and a few
known-wrong answers (autograder.known_wrong), whose scores are known in advance.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from servers import Cluster, Postgres, missing, wait_for

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import known_wrong, notebooks  # noqa: E402
from autograder.sandbox import Sandbox  # noqa: E402

available, why = Sandbox.available()
pytestmark = [
    pytest.mark.skipif(not available, reason=f"no sandbox here: {why}"),
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
]

VJPS, CUSTOM = "vjps", "custom_functions"
STUDENTS = ["reference", "blank", "wrong00", "wrong01", "wrong02", "wrong03"]
TIMEOUT = 240


@pytest.fixture(scope="module")
def postgres():
    server = Postgres()
    yield server
    server.close()


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.close()


# ---- the corpus and the grader ----------------------------------------------------------


def corpus(folder, assignment, students=STUDENTS):
    _, subs, _ = known_wrong.corpus(assignment)
    for student in students:
        (folder / student / assignment).mkdir(parents=True)
        for name, nb in subs[student].items():
            nbformat.write(nb, str(folder / student / assignment / name))
    return folder


def expected_scores(assignment, students=STUDENTS):
    sources, _, wrongs = known_wrong.corpus(assignment)
    points = {g: p for nb in sources.values() for g, p in notebooks.points(nb).items()}
    full = sum(points.values())
    return {s: (full if s == known_wrong.REFERENCE else 0.0 if s == known_wrong.BLANK
                else full - sum(points[g] for g in wrongs[s].breaks)) for s in students}


def grade_argv(assignment, subs, course, *more):
    return [sys.executable, "-m", "autograder.cli", "grade", assignment, "--submissions",
            str(subs), "--course", str(course), *more]


def grade(*argv):
    done = subprocess.run(grade_argv(*argv), cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start_grading(*argv):
    return subprocess.Popen(grade_argv(*argv), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def csv_rows(course):
    with open(course / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def graded_once(output, students):
    """Each student appears in exactly one progress line of this run."""
    lines = [line for line in output.splitlines() if line.startswith("[")]
    for student in students:
        assert sum(f" - {student}: " in line for line in lines) == 1, output


def assert_gradebook(postgres, database, assignments, students):
    """One student row per student, one submission per (assignment, student), one grade per
    (submission, graded cell), every grade scored."""
    cells = {a: sum(len(notebooks.points(notebooks.read(p)))
                    for p in notebooks.source_notebooks(a)) for a in assignments}
    assert postgres.count(database, "SELECT count(*) FROM student") == len(students)
    assert postgres.count(database, "SELECT count(*) FROM assignment") == len(assignments)
    assert (postgres.count(database, "SELECT count(*) FROM submitted_assignment")
            == len(assignments) * len(students))
    assert (postgres.count(database, "SELECT count(*) FROM grade")
            == sum(cells.values()) * len(students))
    assert postgres.count(database, "SELECT count(*) FROM grade WHERE auto_score IS NULL") == 0
    assert postgres.count(database, "SELECT count(*) FROM grade_cells") == sum(cells.values())


def pg_scores(url, assignment, students):
    from autograder.gradebook import Gradebook
    with Gradebook(url) as gb:
        return {s: gb.scores(assignment, s) for s in students}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The corpus graded on this machine (process pool, SQLite): what the cluster must give."""
    tmp = tmp_path_factory.mktemp("local")
    subs = corpus(tmp / "subs", VJPS)
    course = tmp / "course"
    grade(VJPS, subs, course, "--jobs", "2")
    rows = csv_rows(course)
    assert {r["student_id"]: float(r["score"]) for r in rows} == expected_scores(VJPS)
    return subs, course


def course_like(baseline, folder):
    """A new course folder with the baseline's secret, so hidden cases are the same ones."""
    folder.mkdir(parents=True)
    shutil.copy(baseline[1] / ".autograder_secret", folder / ".autograder_secret")
    return folder


# ---- the tests --------------------------------------------------------------------------


def test_the_cluster_with_postgresql_grades_as_the_local_pool_does(cluster, postgres, baseline,
                                                                     tmp_path):
    subs, local = baseline
    course = course_like(baseline, tmp_path / "course")
    url = postgres.create("same_as_local")
    out = grade(VJPS, subs, course, "--scheduler", cluster.address, "--db", url)
    assert f"on the Dask cluster at {cluster.address}: 2 workers" in out, out
    assert f"[{len(STUDENTS)}/{len(STUDENTS)}]" in out and "ETA" in out, out
    assert (course / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert not (course / "gradebook.db").exists()
    from autograder.gradebook import Gradebook, default_url
    with Gradebook(default_url(local)) as gb:
        local_scores = {s: gb.scores(VJPS, s) for s in STUDENTS}
    assert pg_scores(url, VJPS, STUDENTS) == local_scores
    assert_gradebook(postgres, "same_as_local", [VJPS], STUDENTS)
    # a rerun finds everything graded: nothing is sent to the cluster, nothing changes
    again = grade(VJPS, subs, course, "--scheduler", cluster.address, "--db", url)
    assert f"{len(STUDENTS)} of {len(STUDENTS)} already graded" in again, again
    assert (course / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert_gradebook(postgres, "same_as_local", [VJPS], STUDENTS)


def test_a_worker_killed_mid_grade_has_its_jobs_rerun_elsewhere(cluster, postgres, baseline,
                                                                 tmp_path):
    subs, local = baseline
    course = course_like(baseline, tmp_path / "course")
    url = postgres.create("worker_killed")
    pids = cluster.pids()
    proc = start_grading(VJPS, subs, course, "--scheduler", cluster.address, "--db", url)
    try:
        results = course / "autograded" / VJPS
        # once the workers are warm (a first result exists), kill one that holds jobs
        wait_for(lambda: results.is_dir() and any(results.glob("*.json")) or
                 proc.poll() is not None, TIMEOUT, "a first result")
        while proc.poll() is None:
            busy = {w: keys for w, keys in cluster.client.processing().items() if keys}
            if busy:
                break
            time.sleep(0.02)
        assert busy, "the grading ended before a worker could be killed"
        victim, keys = next(iter(busy.items()))
        os.kill(pids[victim], signal.SIGKILL)
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    # the job the killed worker was running was computed again, by another worker (the
    # scheduler's story of the key: it left `processing` twice)
    rerun = []
    for key in keys:
        story = cluster.client.story(key)
        left_processing = sum(entry[:3] == ("scheduler", key, "processing") for entry in story)
        computed_on = {entry[0] for entry in story if entry[1] == key} - {"scheduler"}
        if left_processing >= 2 and computed_on and victim not in computed_on:
            rerun.append(key)
    assert rerun, [cluster.client.story(k) for k in keys]
    graded_once(output, STUDENTS)
    assert (course / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert len(list(results.glob("*.json"))) == len(STUDENTS)
    assert_gradebook(postgres, "worker_killed", [VJPS], STUDENTS)
    cluster.wait_for_workers(2)  # its nanny restarts it
    assert victim not in cluster.pids()


def test_the_grader_killed_and_rerun_gives_the_same_csv(cluster, postgres, baseline, tmp_path):
    subs, local = baseline
    course = course_like(baseline, tmp_path / "course")
    url = postgres.create("grader_killed")
    proc = start_grading(VJPS, subs, course, "--scheduler", cluster.address, "--db", url)
    results = course / "autograded" / VJPS
    try:
        wait_for(lambda: results.is_dir() and len(list(results.glob("*.json"))) >= 2
                 or proc.poll() is not None, TIMEOUT, "two results")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    kept = {p.stem for p in results.glob("*.json")}
    assert 2 <= len(kept) < len(STUDENTS), f"{kept}: the grader was not killed mid-grade"
    assert not (course / "grades.csv").exists()
    out = grade(VJPS, subs, course, "--scheduler", cluster.address, "--db", url)
    assert f"{len(kept)} of {len(STUDENTS)} already graded" in out, out
    graded_once(out, [s for s in STUDENTS if s not in kept])  # the rest, each once
    assert not any(f" - {s}: " in out for s in kept), out
    assert (course / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert len(list(results.glob("*.json"))) == len(STUDENTS)
    assert_gradebook(postgres, "grader_killed", [VJPS], STUDENTS)


def test_two_graders_share_one_new_postgresql_gradebook(cluster, postgres, baseline, tmp_path):
    """Two assignments graded at the same moment into one gradebook that does not exist yet
    (both create its tables, its course, the same students): both finish, every row once."""
    subs, local = baseline
    url = postgres.create("two_graders")
    course_v = course_like(baseline, tmp_path / "vjps")
    course_c = tmp_path / "custom"
    subs_c = corpus(tmp_path / "subs_custom", CUSTOM)
    procs = [start_grading(VJPS, subs, course_v, "--scheduler", cluster.address, "--db", url),
             start_grading(CUSTOM, subs_c, course_c, "--scheduler", cluster.address, "--db",
                           url)]
    try:
        outputs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    assert (course_v / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert ({r["student_id"]: float(r["score"]) for r in csv_rows(course_c)}
            == expected_scores(CUSTOM))
    assert_gradebook(postgres, "two_graders", [VJPS, CUSTOM], STUDENTS)
    got = pg_scores(url, CUSTOM, STUDENTS)
    assert {s: sum(v.values()) for s, v in got.items()} == expected_scores(CUSTOM)


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import nbformat
from autograder import compare, notebooks
from autograder.gradebook import Gradebook
from autograder.grade import source_bytes
assignment, url, go, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
sources = {{k: nbformat.reads(b.decode(), as_version=4)
           for k, b in source_bytes(assignment).items()}}
parts = [compare.PartResult(g, k, 1.0, 1.0)
         for k, nb in sources.items() for g in notebooks.points(nb)]
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
with Gradebook(url) as gb:
    gb.declare(assignment, sources)
    for i in range(n):
        gb.record(assignment, f"student{{i:03d}}", parts)
print("done", flush=True)
"""


def test_concurrent_gradebook_writers_lose_no_row(postgres, tmp_path):
    """The gradebook alone, without grading, so the writes really overlap: two writers
    released at the same instant into a new database, the same 80 students each. Without
    the advisory lock, nbgrader's find-then-insert collides on a unique constraint here."""
    url = postgres.create("writers")
    go = tmp_path / "go"
    script = WRITER.format(root=str(ROOT))
    n = 80
    procs = [subprocess.Popen([sys.executable, "-c", script, a, url, str(go), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for a in (VJPS, CUSTOM)]
    try:
        for p in procs:  # both have imported everything and wait
            while (line := p.stdout.readline()) and line.strip() != "ready":
                pass
            assert line, p.communicate()[0]
        go.touch()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0 and "done" in out, out
    assert_gradebook(postgres, "writers", [VJPS, CUSTOM], [f"student{i:03d}" for i in range(n)])


def test_a_worker_whose_checks_differ_refuses_the_job(baseline, tmp_path):
    """A job carries the suite's hash; a worker whose checkout hashes differently (another
    commit of the checks or of the source notebooks) must not grade it."""
    from autograder.grade import Grader, grade_one
    subs, _ = baseline
    (tmp_path / "course").mkdir()
    grader = Grader(VJPS, subs, tmp_path / "course", out=lambda line: None)
    jobs, _ = grader.jobs_for(["reference"], None)
    job = grader._loaded(jobs[0])
    assert job["files"]["vjps.ipynb"] == (subs / "reference" / VJPS / "vjps.ipynb").read_bytes()
    with pytest.raises(RuntimeError, match="differ from the grader's"):
        grade_one({**job, "suite": "0" * 16})
