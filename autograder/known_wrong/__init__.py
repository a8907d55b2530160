"""Known-wrong answers: realistic mistakes each test suite must catch, one module per
assignment (`known_wrong/<assignment>.py` defines `WRONG`, a list of `KnownWrong`).

Each is a small edit of the reference's solution cell, so it stays in step with the
reference: if the reference changes and the edited text is no longer there, the release
check says so instead of silently testing nothing.
"""
import importlib
from dataclasses import dataclass

from .. import notebooks


@dataclass(frozen=True)
class KnownWrong:
    name: str            # the mistake, as an instructor would name it
    cell: str            # grade id of the solution cell it edits
    old: str             # text in the reference's solution (markers removed) ...
    new: str             # ... and what the mistake puts there instead
    breaks: tuple        # grade ids of the test cells that must lose all their points
    notebook: str = ""   # file name of the notebook, if the assignment has several
    count: int = 1       # how many occurrences of `old` to replace (-1: all)

    def apply(self, source_nb):
        """The perfect submission with this one mistake in it."""
        cells = notebooks.cells_by_id(source_nb)
        if self.cell not in cells:
            raise KeyError(f"known-wrong answer {self.name!r}: no cell {self.cell!r}")
        text = notebooks.strip_solution_markers(cells[self.cell].source)
        if self.old not in text:
            raise ValueError(f"known-wrong answer {self.name!r}: the text {self.old!r} is "
                             f"no longer in the reference's cell {self.cell!r}; update it")
        return notebooks.filled(source_nb, {self.cell: text.replace(self.old, self.new,
                                                                    self.count)})


def for_assignment(assignment):
    """The known-wrong answers of `assignment` ([] if it declares none)."""
    try:
        module = importlib.import_module(f"{__name__}.{assignment}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{assignment}":
            return []
        raise
    return list(module.WRONG)


REFERENCE, BLANK = "reference", "blank"


def corpus(assignment):
    """What every suite is checked against: ({notebook: source}, {submission: {notebook:
    nb}}, {submission: KnownWrong}) with submissions "reference" (the perfect one),
    "blank" (the untouched student version) and "wrongNN" (one per known-wrong answer)."""
    sources = {p.name: notebooks.read(p) for p in notebooks.source_notebooks(assignment)}
    subs = {REFERENCE: {n: notebooks.filled(nb) for n, nb in sources.items()},
            BLANK: {n: notebooks.student_version(nb) for n, nb in sources.items()}}
    wrongs = {}
    for i, wrong in enumerate(for_assignment(assignment)):
        name = f"wrong{i:02d}"
        target = wrong.notebook or next(iter(sources))
        subs[name] = {n: (wrong.apply(nb) if n == target else notebooks.filled(nb))
                      for n, nb in sources.items()}
        wrongs[name] = wrong
    return sources, subs, wrongs
