"""Grade notebooks with plain nbgrader (0.9.x) on a throwaway course, as an instructor would.

    from nbgrader_course import autograde_corpus

    scores = autograde_corpus("vjps")     # {submission name: {test grade id: points}}

`autograde_corpus` builds the corpus every exercise test asks about -- the reference, the
untouched student version and each known-wrong answer (autograder/known_wrong) -- copies
`solutions/<assignment>` as the course's `source/`, runs `nbgrader generate_assignment` and
`nbgrader autograde`, and reads the scores from nbgrader's gradebook. The corpus is graded
once per test run, even under pytest-xdist (a file lock, results in a JSON file), and in two
halves at once (nbgrader itself grades one notebook at a time).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import known_wrong, notebooks  # noqa: E402
from autograder.known_wrong import BLANK, REFERENCE  # noqa: E402,F401

CACHE = ROOT / "_build" / "nbgrader-tests"


def autograde(assignment, submissions, workdir, halves=2):
    """Grade {student: {notebook name: nb}} with nbgrader; {student: {grade id: score}}."""
    names = sorted(submissions)
    groups = [names[i::halves] for i in range(halves) if names[i::halves]]
    with ThreadPoolExecutor(len(groups)) as pool:
        parts = pool.map(lambda ig: _autograde_group(assignment, submissions, ig[1],
                                                     Path(workdir) / f"course{ig[0]}"),
                         enumerate(groups))
    scores = {}
    for part in parts:
        scores.update(part)
    return scores


def _autograde_group(assignment, submissions, students, course):
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'course'\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    shutil.copytree(notebooks.SOLUTIONS / assignment, course / "source" / assignment,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    _nbgrader(course, "generate_assignment", assignment, "--force")
    for student in students:
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        for name, nb in submissions[student].items():
            nbformat.write(nb, str(folder / name))
    _nbgrader(course, "autograde", assignment, "--force", "--create")
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            sub = gb.find_submission(assignment, student)
            scores[student] = {g.name: float(g.score) for nb in sub.notebooks
                               for g in nb.grades}
    return scores


def _nbgrader(course, *args):
    env = dict(os.environ)
    # nbgrader runs `alembic` by name to create the gradebook: the venv's bin/ must be on PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-6000:]}")
    return proc.stdout


def _run_id() -> str:
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def autograde_corpus(assignment):
    """Scores of the assignment's whole corpus under plain nbgrader, graded once per run:
    ({submission: {grade id: score}}, {submission: KnownWrong}, {grade id: max points})."""
    _, subs, wrongs = known_wrong.corpus(assignment)
    max_points = {}
    for p in notebooks.source_notebooks(assignment):
        max_points.update(notebooks.points(notebooks.read(p)))
    CACHE.mkdir(parents=True, exist_ok=True)
    record = CACHE / f"{assignment}-{_run_id()}.json"
    with open(CACHE / f"{assignment}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            for old in CACHE.glob(f"{assignment}-*.json"):
                old.unlink()
            with tempfile.TemporaryDirectory(prefix=f"nbgrader-{assignment}-") as tmp:
                record.write_text(json.dumps(autograde(assignment, subs, tmp)))
        scores = json.loads(record.read_text())
    return scores, wrongs, max_points
