"""Grade notebooks with plain nbgrader (0.9.x) on a throwaway course, as an instructor would.

    from nbgrader_course import autograde_corpus

    scores = autograde_corpus("vjps")     # {submission name: {test grade id: points}}

`autograde_corpus` builds the corpus every exercise test asks about -- the reference, the
untouched student version and each known-wrong answer (autograder/known_wrong) -- copies
`solutions/<assignment>` as the course's `source/`, runs `nbgrader generate_assignment` and
`nbgrader autograde` (`autograder.plain_nbgrader`), and reads the scores from nbgrader's
gradebook. The corpus is graded
once per test run, even under pytest-xdist (a file lock, results in a JSON file), and in two
halves at once (nbgrader itself grades one notebook at a time).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import known_wrong, notebooks  # noqa: E402
from autograder.known_wrong import BLANK, REFERENCE  # noqa: E402,F401  (for the tests)
from autograder.plain_nbgrader import autograde  # noqa: E402

CACHE = ROOT / "_build" / "nbgrader-tests"


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
