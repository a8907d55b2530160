"""Student versions of the assignments: what `autograder release` writes and the book offers.

An assignment is a folder `solutions/<assignment>/` of nbgrader source notebooks. Its student
version is made by nbgrader's own preprocessors (`notebooks.student_version`): solution
regions become `raise NotImplementedError()`, hidden tests are removed, outputs cleared,
given cells locked. Each notebook is written to `<out>/<assignment>/<notebook>.ipynb`, the
layout of an nbgrader course's `release/` folder. Only notebooks are released: the helpers
they import live in the installed `exercises` package, not beside them.

Making the versions and writing them are two steps, so that a check of the versions can run
between them (`autograder release` does that) and the book can write them without it.
"""
from pathlib import Path

import nbformat

from . import notebooks

# Relative to the current directory, like an nbgrader course's release/ (git-ignored here).
DEFAULT_OUT = Path("release")


class UnknownAssignment(LookupError):
    """An assignment name with no notebooks under the solutions folder."""


assignments = notebooks.assignments


def student_versions(assignment, solutions=notebooks.SOLUTIONS):
    """{notebook file name: its student version} for one assignment, in name order."""
    known = assignments(solutions)
    if assignment not in known:  # also keeps names like "../tests" out
        raise UnknownAssignment(
            f"no assignment {assignment!r} in {solutions}; "
            f"the assignments are: {', '.join(known) or 'none'}")
    sources = sorted((Path(solutions) / assignment).glob("*.ipynb"))
    return {path.name: notebooks.student_version(notebooks.read(path)) for path in sources}


def write(versions, folder):
    """Write each notebook into `folder`; [(path, changed)] in name order.

    A file whose content is already the same is left untouched, so its modification time
    stays and an incremental book build sees nothing to redo.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notebook in versions.items():
        path = folder / name
        text = nbformat.writes(notebook) + "\n"  # as nbformat.write ends a file
        changed = not (path.is_file() and path.read_text(encoding="utf8") == text)
        if changed:
            path.write_text(text, encoding="utf8")
        written.append((path, changed))
    return written
