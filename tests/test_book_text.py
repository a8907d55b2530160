"""The book's sources, read as text: what a reader must never see, and code that fits.

1. No published page mentions the document the book grew from. Readers never see it, so
   "the outline", "the seed" or "the syllabus" in a page (prose, code or comments: the
   notebook download carries all of them) points at something that does not exist for
   them. Checked over every page _toc.yml publishes and every chapters/*.md (a chapter
   being written is checked before it reaches the toc).
2. Every line of every code cell is at most 88 characters, counted in characters, not
   bytes (several chapters use ×, σ, ∂ ... in their code). The book's CSS
   (_static/book_code.css) makes an 88-character line fit the code column at the
   theme's width; tests/test_browser.py checks that part in Chromium.

Neither needs a build. Each check is also run on planted violations, so that a check
which silently stopped finding anything would fail here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

from bookbuild import ROOT, toc_pages

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


def published_sources(book_dir: Path = ROOT) -> list[Path]:
    """Every page's source the toc publishes, plus every chapters/*.md."""
    paths = []
    for page in toc_pages(book_dir):
        for suffix in (".md", ".ipynb"):
            if (book_dir / f"{page}{suffix}").is_file():
                paths.append(book_dir / f"{page}{suffix}")
    paths += sorted((book_dir / "chapters").glob("*.md"))
    return sorted(set(paths))


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


SOURCES = published_sources()


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_sources_checked_here_include_every_chapter():
    names = {_name(p) for p in SOURCES}
    assert {"intro.md", "exercises.md"} <= names, names
    assert {f"chapters/{p.name}" for p in (ROOT / "chapters").glob("*.md")} <= names
    notebooks = [p for p in SOURCES if is_myst_markdown_notebook(p.read_text("utf8"))]
    assert len(notebooks) >= 7, "fewer chapters than the book has: is the toc read?"


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_no_page_mentions_the_document_the_book_grew_from(path):
    found = forbidden_mentions(path.read_text(encoding="utf8"))
    assert not found, f"{_name(path)} mentions the book's source document:\n" + "\n".join(
        f"  line {n} ({word!r}): {line}" for n, word, line in found
    )


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_code_cell_lines_fit_the_column(path):
    found = long_code_lines(path.read_text(encoding="utf8"))
    assert not found, (
        f"{_name(path)}: code lines longer than {MAX_CODE_LINE} characters:\n"
        + "\n".join(f"  code cell {c}, {n} chars: {line}" for c, n, line in found)
    )


# ---- the checks catch what they are for -------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "As the outline puts it, backprop is the whole game.",
        "The course Outline states a cost table.",
        "This matches the syllabus.",
        "Compare with the seed: it says O(m² k).",
        "the   seed's table is wrong",
        "See ../shared/seed/000_20e3365e50324ae1.txt for the claim.",
    ],
)
def test_a_planted_mention_is_caught(sentence):
    text = f"# A page\n\nSome prose.\n{sentence}\nMore prose.\n"
    found = forbidden_mentions(text)
    assert found and found[0][0] == 4, (sentence, found)


@pytest.mark.parametrize(
    "sentence",
    [
        "Reverse mode seeded with 1 is backprop.",
        "rng = np.random.default_rng(seed)  # seed=0 by default",
        "The derivative of the seeded sampler is exact.",
        "with the seed 3 the run is reproducible; the seed of the generator is fixed",
        "The seedling grows; an outlier is fine, and so is a contour outlining a region.",
    ],
)
def test_ordinary_text_is_not_flagged(sentence):
    assert forbidden_mentions(sentence) == [], sentence


def test_a_mention_planted_in_a_copy_of_a_real_chapter_is_caught(tmp_path):
    chapter = ROOT / "chapters" / "02_mlp_backprop.md"
    copy = tmp_path / chapter.name
    shutil.copy2(chapter, copy)
    assert forbidden_mentions(copy.read_text("utf8")) == []
    text = copy.read_text("utf8").replace(
        "## Claim 1:", "The syllabus lists four claims.\n\n## Claim 1:", 1
    )
    copy.write_text(text, encoding="utf8")
    assert [word for _, word, _ in forbidden_mentions(copy.read_text("utf8"))] == ["syllabus"]


def _notebook(*code: str) -> str:
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n"
              "    format_name: myst\n    format_version: 0.13\nkernelspec:\n"
              "  display_name: Python 3\n  language: python\n  name: python3\n---\n\n# T\n\n")
    return header + "".join(f"```{{code-cell}} ipython3\n{c}\n```\n\nprose\n\n" for c in code)


def test_a_planted_long_code_line_is_caught():
    ok = "x = 1  # " + "a" * (MAX_CODE_LINE - 9)
    too_long = ok + "b"
    assert len(ok) == MAX_CODE_LINE
    assert long_code_lines(_notebook(ok)) == []
    found = long_code_lines(_notebook("import numpy as np", ":tags: [remove-input]\n" + ok,
                                      "y = 2\n" + too_long))
    assert found == [(3, MAX_CODE_LINE + 1, too_long)], found


def test_line_length_counts_characters_not_bytes():
    wide = "σ = '" + "∂" * (MAX_CODE_LINE - 6) + "'"   # 88 characters, 260 bytes
    assert len(wide) == MAX_CODE_LINE and len(wide.encode()) > 2 * MAX_CODE_LINE
    assert long_code_lines(_notebook(wide)) == []
    assert long_code_lines(_notebook(wide + "#"))[0][1] == MAX_CODE_LINE + 1


def test_prose_lines_are_not_code():
    long_prose = "word " * 40
    assert long_code_lines(_notebook("x = 1") + long_prose + "\n") == []


def test_a_long_line_planted_in_a_copy_of_a_real_chapter_is_caught(tmp_path):
    chapter = ROOT / "chapters" / "01_chain_rule.md"
    text = chapter.read_text("utf8")
    assert long_code_lines(text) == []
    planted = text.replace("import numpy as np\n",
                           "import numpy as np  # " + "x" * MAX_CODE_LINE + "\n", 1)
    assert planted != text
    (tmp_path / chapter.name).write_text(planted, encoding="utf8")
    found = long_code_lines((tmp_path / chapter.name).read_text("utf8"))
    assert len(found) == 1 and found[0][2].startswith("import numpy as np  # x"), found
