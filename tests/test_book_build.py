"""The book builds with warnings as errors, fails on wrong math, and publishes only the toc.

The real book is built once per test run (``bookbuild.built_book``); the tests that need a
book that fails, or one with planted files, build small throwaway copies of its
configuration with the same ``make book``.
"""

from __future__ import annotations

import re
import shutil
import zlib
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from autograder import notebooks, release
from bookbuild import (
    HTML,
    ROOT,
    build_lock,
    built_book,
    chapter_pages,
    make_book,
    make_book_copy,
    myst_notebook,
    toc_pages,
)
from leakcheck import find_leaks, forbidden_strings, plant_secrets

# Pages Sphinx adds to every build besides the toc's (index.html redirects to the root).
GENERATED_PAGES = {"index", "search", "genindex"}


@pytest.fixture(scope="module")
def book():
    return built_book().require_ok()


def test_book_builds_with_warnings_as_errors(book):
    assert "--warningiserror" in book.log and "--keep-going" in book.log, (
        "`make book` must build with warnings as errors; its command line was not in the log"
    )
    assert (HTML / "index.html").is_file()
    for page in toc_pages():
        assert (HTML / f"{page}.html").is_file(), f"{page} is in _toc.yml but was not built"
    assert re.search(r"The book is at .*_build/html/index\.html", book.log), (
        "`make book` should end by printing where index.html is"
    )


def test_rebuild_with_nothing_changed_reuses_the_cache(book):
    with build_lock():
        again = make_book(ROOT)
    again.require_ok()
    assert "Executing notebook" not in again.log, (
        "a rebuild with nothing changed executed a notebook again:\n" + again.tail()
    )
    assert again.seconds < 60, f"no-change rebuild took {again.seconds:.1f} s"
    print(f"cold/first build {book.seconds:.1f} s, no-change rebuild {again.seconds:.1f} s")


DERIVATIVE_CELL = """
import sympy as sp

x = sp.symbols("x")
derived = {formula}  # the chapter's derivation of d/dx sin(x)
assert sp.simplify(sp.diff(sp.sin(x), x) - derived) == 0, (
    f"derived d/dx sin(x) = {{derived}}, SymPy says {{sp.diff(sp.sin(x), x)}}"
)
"""


@pytest.mark.parametrize(
    "formula, builds",
    [("sp.cos(x)", True), ("sp.sin(x)", False)],
    ids=["right-derivative-builds", "wrong-derivative-fails"],
)
def test_a_wrong_derivation_fails_the_build(tmp_path, formula, builds):
    chapter = myst_notebook(
        "A derivation",
        DERIVATIVE_CELL.format(formula=formula),
        markdown=r"Claim: $\frac{d}{dx}\sin x = \cos x$.",
    )
    copy = make_book_copy(tmp_path / "book", chapters={"chapters/derivation.md": chapter})
    result = make_book(copy)
    if builds:
        result.require_ok()
    else:
        assert not result.ok, "a chapter whose SymPy check raises must fail the build"
        assert "AssertionError" in result.log and "derived d/dx sin(x) = sin(x)" in result.log, (
            "the build failed, but not because of the wrong derivation:\n" + result.tail()
        )


def test_a_warning_fails_the_build(tmp_path):
    chapter = myst_notebook(
        "A broken reference", "1 + 1", markdown="See {ref}`a-label-that-does-not-exist`."
    )
    copy = make_book_copy(tmp_path / "book", chapters={"chapters/broken_ref.md": chapter})
    result = make_book(copy)
    assert not result.ok, "a build with a warning (undefined label) must fail"
    assert "a-label-that-does-not-exist" in result.log, result.tail()


def test_a_page_cannot_pull_in_a_private_file(tmp_path):
    """{download}, {literalinclude} and {include} of solutions/ or autograder/ fail the build."""
    chapter = myst_notebook(
        "Leaky",
        "1 + 1",
        markdown=(
            "{download}`the answer <../solutions/answer.py>`\n\n"
            "```{literalinclude} ../autograder/grade.py\n```\n\n"
            "```{include} ../solutions/notes.md\n```\n"
        ),
    )
    copy = make_book_copy(tmp_path / "book", chapters={"chapters/leaky.md": chapter})
    for rel in ("solutions/answer.py", "autograder/grade.py", "solutions/notes.md"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_text("private = True\n")
    result = make_book(copy)
    assert not result.ok, "a page that publishes a private file must fail the build"
    for rel in ("solutions/answer.py", "autograder/grade.py", "solutions/notes.md"):
        assert f"pulls in {rel}, which is private" in result.log, result.tail()


# One lowercase word, unchanged by Sphinx's tokenizer and stemmer, so that a leak into
# searchindex.js shows up verbatim too.
SENTINEL = "xqzunpublished4817"


def plant_unpublished_files(book_dir: Path) -> list[str]:
    """Files that must never be published, each containing SENTINEL; returns their paths."""
    nb = myst_notebook(f"Solution {SENTINEL}", f'ANSWER = "{SENTINEL}"', markdown=SENTINEL)
    ipynb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(f"# Hidden tests {SENTINEL}"),
            nbformat.v4.new_code_cell(f'ANSWER = "{SENTINEL}"\nassert ANSWER'),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    files = {
        "solutions/01_chain_rule.md": nb,
        "solutions/01_chain_rule.ipynb": nbformat.writes(ipynb),
        "solutions/README.md": f"# Solutions {SENTINEL}\n",
        "solutions/hidden_tests.py": f"HIDDEN = '{SENTINEL}'\n",
        "autograder/README.md": f"# Autograder {SENTINEL}\n",
        "autograder/grade.py": f"SECRET = '{SENTINEL}'\n",
        "tests/test_hidden.md": f"# Test {SENTINEL}\n",
        "tests/test_hidden.py": f"def test(): assert '{SENTINEL}'\n",
        "src/autodiff_notes.md": f"# Engine notes {SENTINEL}\n",
        "benchmarks/results.md": f"# Benchmarks {SENTINEL}\n",
        "README.md": f"# README {SENTINEL}\n",
        "chapters/99_draft_not_in_toc.md": nb,
        "stray_page.md": f"# Stray {SENTINEL}\n",
    }
    for rel, text in files.items():
        (book_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (book_dir / rel).write_text(text)
    return sorted(files)


def published_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name == "objects.inv":  # a text header, then a zlib-compressed inventory
        header, _, compressed = data.partition(b"zlib.\n")
        data = header + zlib.decompress(compressed)
    return data


def test_unpublished_files_never_reach_the_html(book, tmp_path):
    copy = make_book_copy(tmp_path / "book", with_real_chapters=True, reuse_execution_cache=True)
    # The assignments the Exercises page and the chapters offer, copied (not linked) with
    # SENTINEL in every solution region and hidden test, and a control in a given cell.
    (copy / "solutions").unlink()
    shutil.copytree(notebooks.SOLUTIONS, copy / "solutions")
    given = "xqzgivencell6071"
    plant_secrets(copy / "solutions", SENTINEL, given)
    planted = plant_unpublished_files(copy)
    control = "xqzcontrol5293"  # proves the search below finds planted text, index included
    with (copy / "intro.md").open("a") as intro:
        intro.write(f"\n{control}\n")
    result = make_book(copy)
    html = result.html
    found = {
        marker: sorted(
            str(path.relative_to(html))
            for path in html.rglob("*")
            if path.is_file() and marker.encode() in published_bytes(path)
        )
        for marker in (SENTINEL, control, given)
    }
    assert found[SENTINEL] == [], f"text from unpublished files ({planted}) reached: {found[SENTINEL]}"
    names = {str(p.relative_to(html)) for p in html.rglob("*")}
    leaked_names = sorted(
        n for n in names if re.search(r"solutions|autograder|hidden|draft|stray|README", n)
    )
    assert leaked_names == [], f"unpublished files were copied into the build: {leaked_names}"
    result.require_ok()
    assert {"intro.html", "searchindex.js", "_sources/intro.md"} <= set(found[control]), (
        f"the control text added to intro.md was found only in {found[control]}"
    )
    downloads = {str(p.relative_to(html)) for p in html.glob("_downloads/*/*.ipynb")}
    assert downloads and set(found[given]) == downloads, (
        f"the control text in a given cell was found in {found[given]}, "
        f"not in every released notebook {sorted(downloads)}"
    )


def searchindex_docnames(html: Path) -> set[str]:
    text = (html / "searchindex.js").read_text()
    match = re.search(r'"docnames":\s*(\[[^\]]*\])', text)
    assert match, "no docnames in searchindex.js"
    import json

    return set(json.loads(match.group(1)))


def test_only_toc_pages_are_published(book):
    published = {str(p.relative_to(HTML).with_suffix("")) for p in HTML.rglob("*.html")}
    published = {p for p in published if not p.startswith("_static/")}
    assert published == set(toc_pages()) | GENERATED_PAGES
    assert searchindex_docnames(HTML) == set(toc_pages())
    sources = {str(p.relative_to(HTML / "_sources")) for p in (HTML / "_sources").rglob("*.*")}
    allowed = {f"{page}.md" for page in toc_pages()} | {f"{p}.ipynb" for p in CHAPTERS}
    assert sources <= allowed, f"unexpected files in _sources/: {sorted(sources - allowed)}"


# Tags that make the browser load something (unlike <a href>, which only links).
LOADING_TAG = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"
    r"\b(src|href|data)=[\"']?((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)


def test_no_page_loads_anything_from_the_internet(book):
    online = {
        f"{page.relative_to(HTML)}: {m.group(3)}"
        for page in HTML.rglob("*.html")
        if "_static/mathjax" not in str(page)
        for m in LOADING_TAG.finditer(page.read_text(errors="replace"))
    }
    assert online == set(), f"pages load online resources: {sorted(online)}"
    assert (HTML / "_static/mathjax/tex-chtml.js").is_file(), "MathJax was not copied"
    assert not (ROOT / "_static" / "mathjax").exists(), (
        "MathJax must not live in the source _static/ (Jupyter Book would add a <script> "
        "for each of its .js files to every page)"
    )


# Every page the toc lists after the root is a chapter, and every chapter is a notebook,
# except these plain MyST-markdown pages (not executed, no notebook download).
PLAIN_PAGES = ["exercises"]
CHAPTERS = chapter_pages()


def test_every_chapter_is_a_myst_notebook():
    assert CHAPTERS, "_toc.yml lists no chapters"
    assert set(PLAIN_PAGES) <= set(toc_pages()), "a plain page is missing from _toc.yml"
    assert CHAPTERS == [p for p in toc_pages()[1:] if p not in PLAIN_PAGES], (
        "some chapters are not MyST-markdown notebooks"
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_chapter_offers_a_valid_notebook_download(book, page):
    html = (HTML / f"{page}.html").read_text()
    href = f"{'../' * page.count('/')}_sources/{page}.ipynb"
    assert f'href="{href}"' in html, f"{page}.html has no download link to {href}"
    notebook_path = HTML / "_sources" / f"{page}.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(notebook)  # raises nbformat.ValidationError if invalid
    assert notebook.metadata.kernelspec.name == "python3"
    source = (ROOT / f"{page}.md").read_text()
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(code_cells) == len(re.findall(r"^```\{code-cell\}", source, re.MULTILINE))
    assert all(not c.get("outputs") for c in code_cells), "the download is the source, unrun"
    title = re.search(r"^# (.+)$", source, re.MULTILINE).group(1).strip()
    assert any(title in c.source for c in notebook.cells if c.cell_type == "markdown")


# ---- the exercises: their student versions are published, their solutions never ----------

RELEASED = [(a, p.name) for a in release.assignments() for p in notebooks.source_notebooks(a)]
# The chapters that carry a "Practise this" box, and the assignment it offers.
PRACTISED_IN = {
    "chapters/02_mlp_backprop": "vjps",
    "chapters/03_softmax_cross_entropy": "vjps",
    "chapters/04_autograd_machinery": "custom_functions",
    "chapters/05_custom_functions": "custom_functions",
    "chapters/09_when_the_gradient_lies": "reparam",
}
DOWNLOAD_LINK = re.compile(
    r'<a class="reference download internal"[^>]*\bhref="([^"]+)"[^>]*>(.*?)</a>', re.S
)


def source_and_student(assignment: str, name: str):
    source = notebooks.read(notebooks.SOLUTIONS / assignment / name)
    return source, notebooks.student_version(source)


def download_links(page: str) -> list[tuple[str, Path]]:
    """(link text, the file the link resolves to) for each download link of a built page."""
    text = (HTML / f"{page}.html").read_text()
    return [
        (re.sub(r"<[^>]*>", "", label).strip(), (HTML / page).parent.joinpath(unquote(href)))
        for href, label in DOWNLOAD_LINK.findall(text)
    ]


def offered_assignments(page: str) -> set[tuple[str, str]]:
    """The (assignment, notebook) pairs whose student version a page's links download."""
    offered = set()
    for label, target in download_links(page):
        assert target.resolve().is_relative_to(HTML.resolve()), f"{page}: {target} is outside"
        assert target.is_file(), f"{page}: the download {label} points at missing {target}"
        downloaded = nbformat.read(target, as_version=4)
        offered |= {
            (a, name)
            for a, name in RELEASED
            if name == label and downloaded == source_and_student(a, name)[1]
        }
    return offered


def test_no_built_file_holds_a_solution_or_hidden_test(book):
    """Every file of the HTML (pages, _sources, search index, downloads) against every
    secret line and hidden seed of every source notebook (see leakcheck). What any page or
    any student version shows is public: a solution line of one assignment that another
    gives (`return out`) is no secret."""
    pairs = [source_and_student(assignment, name) for assignment, name in RELEASED]
    public = "\n".join(
        [(ROOT / f"{page}.md").read_text() for page in toc_pages()]
        + [cell.source for _, student in pairs for cell in student.cells]
    )
    forbidden = set().union(*(forbidden_strings(src, student, public) for src, student in pairs))
    files = [path for path in HTML.rglob("*") if path.is_file()]
    downloads = [path for path in files if path.parent.parent.name == "_downloads"]
    assert len(downloads) >= len(RELEASED), f"the student versions are not published: {downloads}"
    assert find_leaks(files, forbidden) == {}


def test_the_exercises_page_offers_every_assignment(book):
    assert RELEASED, f"no assignments in {notebooks.SOLUTIONS}"
    missing = set(RELEASED) - offered_assignments("exercises")
    assert not missing, f"exercises.html has no working download of {sorted(missing)}"


@pytest.mark.parametrize("page, assignment", PRACTISED_IN.items())
def test_a_chapter_offers_the_exercise_that_practises_it(book, page, assignment):
    html = (HTML / f"{page}.html").read_text()
    assert "Practise this" in html, f"{page} has no 'Practise this' box"
    wanted = {(a, name) for a, name in RELEASED if a == assignment}
    assert wanted and wanted <= offered_assignments(page), (
        f"{page} does not offer a working download of every notebook of {assignment}"
    )


def test_an_assignment_left_off_the_exercises_page_fails_the_build(tmp_path):
    """As does a page offering an assignment that does not exist."""
    copy = make_book_copy(
        tmp_path / "book",
        chapters={"exercises.md": "# Exercises\n\n{assignment-download}`no_such_one`\n"},
    )
    shutil.copytree(notebooks.SOLUTIONS / RELEASED[0][0], copy / "solutions" / RELEASED[0][0])
    result = make_book(copy)
    assert not result.ok, "a build whose Exercises page leaves out an assignment must fail"
    assert f"assignment {RELEASED[0][0]!r} (solutions/{RELEASED[0][0]}) is not offered" in (
        result.log
    ), result.tail()
    assert "no assignment 'no_such_one' in solutions/" in result.log, result.tail()
