"""nbgrader source notebooks: their cells by grade id, the student version, a filled-in copy.

A source notebook (in `solutions/<assignment>/`) carries nbgrader metadata on its cells:
solution cells hold the reference between `### BEGIN SOLUTION` / `### END SOLUTION`, test
cells hold visible checks and, between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`,
hidden ones. Everything here works on nbformat notebooks in memory.
"""
import copy
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"

_SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?",
                     re.M | re.S)


def read(path):
    return nbformat.read(str(path), as_version=4)


def assignments(solutions=SOLUTIONS):
    """Assignment names: the folders of `solutions` that hold a notebook (none if the
    folder does not exist; the book passes the copy of the course it is built from)."""
    solutions = Path(solutions)
    if not solutions.is_dir():
        return []
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(assignment):
    folder = SOLUTIONS / assignment
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        known = ", ".join(assignments()) or "none"
        raise FileNotFoundError(f"no assignment {assignment!r}: {folder} holds no notebook "
                                f"(assignments: {known})")
    return found


def meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell):
    return meta(cell).get("grade_id")


def is_solution(cell):
    return bool(meta(cell).get("solution"))


def is_test(cell):
    m = meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.cell_type == "code"


def cells_by_id(nb):
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def points(nb):
    """{grade id of each graded test cell: its points}, in notebook order."""
    return {grade_id(c): float(meta(c).get("points", 0)) for c in nb.cells if is_test(c)}


def strip_hidden(source):
    return _HIDDEN.sub("", source)


def strip_solution_markers(source):
    return _SOLUTION.sub("", source)


def student_version(source_nb):
    """What a student downloads, made with nbgrader's own preprocessors (as
    `nbgrader generate_assignment` does, without its database): solutions cleared,
    hidden tests removed, outputs cleared, checksums recorded, given cells locked."""
    from nbgrader.preprocessors import (ClearHiddenTests, ClearOutput, ClearSolutions,
                                        ComputeChecksums, LockCells)
    nb = copy.deepcopy(source_nb)
    resources = {}
    for pre in (LockCells(), ClearSolutions(), ClearOutput(), ComputeChecksums(),
                ClearHiddenTests(), ComputeChecksums()):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def filled(source_nb, replace=None):
    """The student version with every solution cell filled in as the reference does it
    (its marker lines removed): the perfect submission. `replace` maps grade ids of
    solution cells to other source text, for known-wrong answers."""
    reference = cells_by_id(source_nb)
    nb = student_version(source_nb)
    replace = replace or {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if is_solution(cell):
            cell.source = replace.get(gid, strip_solution_markers(reference[gid].source))
    return nb
