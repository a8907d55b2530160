"""Scores into nbgrader's gradebook, so `nbgrader export`, formgrader and existing course
scripts see them as they would see `nbgrader autograde`'s.

SQLite in the course folder by default; any SQLAlchemy URL (nbgrader's `db_url`) otherwise,
e.g. PostgreSQL: `postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE`. Only the grader's
parent process writes here, one submission at a time.

Several graders may share one PostgreSQL gradebook (other assignments, or a regrade, at the
same time). nbgrader's update_or_create_* look a row up and insert it if it is missing, so two
graders creating the same student (or the tables of a new database) at once would collide on
a unique constraint and one would fail. Each grader therefore holds a PostgreSQL advisory lock
while it writes: while it opens the gradebook, while it declares the assignment and while it
writes each submission. The writes are a few milliseconds per submission against seconds of
grading, so serialising them costs nothing measurable. The lock is held by a connection of its
own; a grader that dies loses its connection, and PostgreSQL releases the lock and rolls back
its unfinished transaction at once. (Tools that do not take the lock, such as nbgrader's own
autograde or formgrader writing at the same moment, are not serialised against.)
"""
import contextlib
import os
import sys
import warnings
from pathlib import Path

from . import notebooks


def default_url(course):
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


CONFIG_FILES = ("nbgrader_config.py", "nbgrader_config.json")


def course_url(course):
    """The gradebook nbgrader itself would use for this course: `c.CourseDirectory.db_url`
    from the course's nbgrader_config.py (or .json), else gradebook.db in the course."""
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader
    loaders = {".py": PyFileConfigLoader, ".json": JSONFileConfigLoader}
    url = None
    for name in CONFIG_FILES:  # nbgrader loads both; the later one wins
        path = Path(course) / name
        if path.is_file():
            config = loaders[path.suffix](name, path=str(path.parent)).load_config()
            url = config.get("CourseDirectory", {}).get("db_url", url)
    return url or default_url(course)


def _ensure_alembic_on_path():
    # nbgrader creates a new gradebook by running `alembic` by name (notes.md)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _sa_warning():
    from sqlalchemy.exc import SAWarning
    return SAWarning


LOCK_KEY = int.from_bytes(b"autogrdb", "big")  # the advisory lock's key (a signed bigint)


class _AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a connection of its own."""

    def __init__(self, url):
        from sqlalchemy import create_engine, pool, text
        self._engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        self._conn = self._engine.connect()
        self._lock = text(f"SELECT pg_advisory_lock({LOCK_KEY})")
        self._unlock = text(f"SELECT pg_advisory_unlock({LOCK_KEY})")

    @contextlib.contextmanager
    def held(self):
        self._conn.execute(self._lock)
        try:
            yield
        finally:
            self._conn.execute(self._unlock)

    def close(self):
        self._conn.close()
        self._engine.dispose()


class _NoLock:
    @contextlib.contextmanager
    def held(self):
        yield

    def close(self):
        pass


def _writer_lock(url):
    from sqlalchemy.engine import make_url
    if make_url(url).get_backend_name() == "postgresql":
        return _AdvisoryLock(url)
    return _NoLock()  # SQLite: one grader at a time per gradebook file


class Gradebook:
    def __init__(self, url):
        _ensure_alembic_on_path()
        from nbgrader.api import Gradebook as NbGradebook
        self._lock = _writer_lock(url)
        try:
            with self._lock.held():  # a new database: its tables are created here, once
                self._gb = NbGradebook(url)
        except BaseException:
            self._lock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._gb.close()
        self._lock.close()

    def declare(self, assignment, sources):
        """The assignment, its notebooks and graded cells, as generate_assignment records
        them. `sources` maps notebook file names to source notebooks."""
        with self._lock.held():
            self._declare(assignment, sources)

    def _declare(self, assignment, sources):
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
        with self._lock.held():
            try:
                self._record(assignment, student, results)
            except BaseException:
                self._gb.db.rollback()  # nothing of this submission half-written
                raise

    def _record(self, assignment, student, results):
        gb = self._gb
        gb.update_or_create_student(student)
        with warnings.catch_warnings():
            # nbgrader's own autograde triggers the same SQLAlchemy autoflush notices
            warnings.simplefilter("ignore", category=_sa_warning())
            submission = gb.update_or_create_submission(assignment, student)
        # the submission's grades in one walk (find_grade would query once per part)
        grades = {(nb.name, g.name): g for nb in submission.notebooks for g in nb.grades}
        for part in results:
            grade = grades[(Path(part.notebook).stem, part.grade_id)]
            grade.auto_score = part.points
            grade.needs_manual_grade = False
        gb.db.commit()

    def scores(self, assignment, student):
        """{grade id: score} as nbgrader reports it (for tests and checks)."""
        sub = self._gb.find_submission(assignment, student)
        return {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}
