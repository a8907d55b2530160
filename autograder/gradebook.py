"""Scores into nbgrader's gradebook, so `nbgrader export`, formgrader and existing course
scripts see them as they would see `nbgrader autograde`'s.

SQLite in the course folder by default; any SQLAlchemy URL (nbgrader's `db_url`) otherwise.
Only the grader's parent process writes here, one submission at a time, in a transaction.
"""
import os
import sys
import warnings
from pathlib import Path

from . import notebooks


def default_url(course):
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def _ensure_alembic_on_path():
    # nbgrader creates a new gradebook by running `alembic` by name (notes.md)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _sa_warning():
    from sqlalchemy.exc import SAWarning
    return SAWarning


class Gradebook:
    def __init__(self, url):
        _ensure_alembic_on_path()
        from nbgrader.api import Gradebook as NbGradebook
        self._gb = NbGradebook(url)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._gb.close()

    def declare(self, assignment, sources):
        """The assignment, its notebooks and graded cells, as generate_assignment records
        them. `sources` maps notebook file names to source notebooks."""
        gb = self._gb
        gb.update_or_create_assignment(assignment)
        for name, nb in sources.items():
            stem = Path(name).stem
            gb.update_or_create_notebook(stem, assignment)
            for cell in nb.cells:
                gid = notebooks.grade_id(cell)
                if gid is None:
                    continue
                m = notebooks.meta(cell)
                if m.get("grade"):
                    gb.update_or_create_grade_cell(gid, stem, assignment,
                                                   max_score=float(m.get("points", 0)),
                                                   cell_type=cell.cell_type)
                if m.get("solution"):
                    gb.update_or_create_solution_cell(gid, stem, assignment)

    def record(self, assignment, student, results):
        """Set the auto score of every part of one submission (a list of PartResult)."""
        gb = self._gb
        gb.update_or_create_student(student)
        with warnings.catch_warnings():
            # nbgrader's own autograde triggers the same SQLAlchemy autoflush notices
            warnings.simplefilter("ignore", category=_sa_warning())
            gb.update_or_create_submission(assignment, student)
        for part in results:
            grade = gb.find_grade(part.grade_id, Path(part.notebook).stem, assignment, student)
            grade.auto_score = part.points
            grade.needs_manual_grade = False
        gb.db.commit()

    def scores(self, assignment, student):
        """{grade id: score} as nbgrader reports it (for tests and checks)."""
        sub = self._gb.find_submission(assignment, student)
        return {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}
