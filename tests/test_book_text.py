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

The checks live in the book's extension book/_ext/page_text.py, which fails the build on
either; here they run on the sources without a build, on planted violations (so that a
check which silently stopped finding anything would fail), and once through a build.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from myst_nb.core.read import is_myst_markdown_notebook

from bookbuild import ROOT, make_book, make_book_copy, myst_notebook, toc_pages

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from page_text import MAX_CODE_LINE, forbidden_mentions, long_code_lines  # noqa: E402


def published_sources(book_dir: Path = ROOT) -> list[Path]:
    """Every page's source the toc publishes, plus every chapters/*.md."""
    paths = []
    for page in toc_pages(book_dir):
        for suffix in (".md", ".ipynb"):
            if (book_dir / f"{page}{suffix}").is_file():
                paths.append(book_dir / f"{page}{suffix}")
    paths += sorted((book_dir / "chapters").glob("*.md"))
    return sorted(set(paths))


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


def test_a_build_fails_on_a_mention_or_a_long_code_line(tmp_path):
    page = myst_notebook("Planted", "x = 1  # " + "y" * MAX_CODE_LINE,
                         markdown="As the syllabus says, this page is planted.")
    result = make_book(make_book_copy(tmp_path / "book", chapters={"chapters/planted.md": page}))
    assert not result.ok, "a page mentioning the syllabus, with a long code line, was built"
    assert "mentions the book's source document ('syllabus')" in result.log, result.tail()
    assert f"has a line of {MAX_CODE_LINE + 9} characters" in result.log, result.tail()
