"""Grade submissions with plain nbgrader (0.9.x) on a throwaway course, as an instructor
running `nbgrader generate_assignment` and `nbgrader autograde` would.

The yardstick the autograder is measured against: its tests compare scores with it, and
`benchmarks/grading.py` times it.
"""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from . import notebooks


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


