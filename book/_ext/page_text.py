"""The build fails on a page a reader must not see as it is (warnings are errors with -W):

1. A mention of the document the book grew from ("the outline", "the syllabus", "the seed"
   as a document, its path). Readers never see that document, so a page pointing at it
   points at nothing.
2. A code-cell line longer than 88 characters, counted in characters, not bytes (several
   chapters use ×, σ, ∂ in their code). `_static/book_code.css` makes 88 characters fit the
   code column at the theme's width; a longer line scrolls sideways.

tests/test_book_text.py runs the same checks on every source without a build, and on
planted violations.
"""
from __future__ import annotations

import re

from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from sphinx.application import Sphinx
from sphinx.util import logging

MAX_CODE_LINE = 88

# Words that name the book's source document. Chosen so that ordinary text does not trip
# them: "seeded with 1", "seed=0", "the seeded sampler" and "default_rng(seed)" are fine;
# "the seed" is flagged unless it is plainly a random seed ("the seed 3", "the seed of
# the generator", "the seed value").
FORBIDDEN = {
    "outline": re.compile(r"\boutlines?\b", re.IGNORECASE),
    "syllabus": re.compile(r"\bsyllab(?:us|i|uses)\b", re.IGNORECASE),
    "the seed": re.compile(
        r"\bthe\s+seed\b(?!\s*(?:=|\d|value|of\s+the\s+(?:random|generator|rng)))",
        re.IGNORECASE,
    ),
    "seed document path": re.compile(r"shared/seed|\bseed/0", re.IGNORECASE),
}

logger = logging.getLogger(__name__)


def forbidden_mentions(text: str) -> list[tuple[int, str, str]]:
    """(line number, which word, the line) for each mention of the source document."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name, pattern in FORBIDDEN.items():
            if pattern.search(line):
                found.append((number, name, line.strip()))
    return found


def long_code_lines(text: str, limit: int = MAX_CODE_LINE) -> list[tuple[int, int, str]]:
    """(cell number, length in characters, the line) for each code-cell line over limit."""
    if not is_myst_markdown_notebook(text):
        return []
    notebook = read_myst_markdown_notebook(text)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return [(number, len(line), line)
            for number, cell in enumerate(code, start=1)
            for line in cell.source.splitlines() if len(line) > limit]


def check_page_text(app: Sphinx, docname: str, source: list[str]) -> None:
    text = source[0]
    for number, word, line in forbidden_mentions(text):
        logger.warning(f"mentions the book's source document ({word!r}): {line}",
                       location=(docname, number))
    for cell, length, line in long_code_lines(text):
        logger.warning(f"code cell {cell} has a line of {length} characters (at most "
                       f"{MAX_CODE_LINE} fit the column): {line}", location=docname)


def setup(app: Sphinx) -> dict:
    app.connect("source-read", check_page_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
