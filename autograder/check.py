"""The pre-release check: a test suite must tell right from wrong before students see it.

Every assignment is graded, through the same sandboxed pipeline as real submissions and
with a fresh secret (so hidden cases are new ones), against three kinds of submission:
the reference (must score full marks), the untouched student version (must score 0), and
each known-wrong answer (must lose all points of the parts it breaks, and keep the rest).
A suite that a wrong answer passes, or that fails the reference, stops the release.
"""
import shutil
import tempfile
from pathlib import Path

import nbformat

from . import notebooks, plan
from .known_wrong import BLANK, REFERENCE, corpus
from .grade import Grader
from .sandbox import Limits

def problems(assignment, jobs=2, unsandboxed=False, limits=Limits(), out=print):
    """What is wrong with the assignment's test suite, in words ([] if it may be released)."""
    try:
        sources, subs, wrongs = corpus(assignment)
        for name, nb in sources.items():
            plan.parts(nb, name)  # every test cell must be judgeable outside the kernel
    except (plan.TestCellError, KeyError, ValueError) as e:
        return [f"{assignment}: {e}"]
    with tempfile.TemporaryDirectory(prefix=f"check-{assignment}-") as tmp:
        tmp = Path(tmp)
        for student, nbs in subs.items():
            folder = tmp / "submissions" / student / assignment
            folder.mkdir(parents=True)
            for name, nb in nbs.items():
                nbformat.write(nb, str(folder / name))
        (tmp / "course").mkdir()
        grader = Grader(assignment, tmp / "submissions", tmp / "course", jobs=jobs,
                        limits=limits, unsandboxed=unsandboxed, out=lambda line: None)
        results = grader.run()
        shutil.rmtree(tmp / "course" / "autograded", ignore_errors=True)
    max_points = {}
    for nb in sources.values():
        max_points.update(notebooks.points(nb))
    found = []
    scores = {s: {p["grade_id"]: (p["points"], p["reason"]) for p in r["parts"]}
              for s, r in results.items()}
    for part, full in max_points.items():
        got, reason = scores[REFERENCE].get(part, (0.0, "not graded"))
        if got != full:
            found.append(f"{assignment}: the reference scores {got:g} of {full:g} on part "
                         f"{part}: {reason}")
        got, _ = scores[BLANK].get(part, (0.0, None))
        if got != 0:
            found.append(f"{assignment}: the blank student version scores {got:g} on part "
                         f"{part}: its tests pass without an answer")
    for student, wrong in wrongs.items():
        for part, full in max_points.items():
            got, _ = scores[student].get(part, (0.0, None))
            if part in wrong.breaks and got != 0:
                found.append(f"{assignment}: the known-wrong answer {wrong.name!r} keeps "
                             f"{got:g} points on part {part}: its tests do not catch it")
            elif part not in wrong.breaks and got != full:
                found.append(f"{assignment}: the known-wrong answer {wrong.name!r} loses "
                             f"points on part {part}, which it does not touch (a test that "
                             f"depends on another part?)")
    out(f"{assignment}: checked the reference, the blank version and {len(wrongs)} known-wrong "
        f"answers: {'OK' if not found else f'{len(found)} problem(s)'}")
    return found
