"""The built book, opened from disk in a real browser with the network cut off.

Every built page loads with a clean console, requests nothing outside the book's folder,
and has its math typeset by the MathJax copy inside the build; search works from disk.
Skips (with the reason) where Debian's chromium or Playwright is missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bookbuild import HTML, built_book, chapter_pages, toc_pages
from browser import chromium, chromium_missing_reason, open_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(
    chromium_missing_reason() is not None, reason=str(chromium_missing_reason())
)

# Every page the build writes: the toc's, plus the ones Sphinx adds.
PAGES = toc_pages() + ["index", "search", "genindex"]
CHAPTERS = chapter_pages()  # the toc's notebooks; the Exercises page is a plain page


@pytest.fixture(scope="module")
def book():
    return built_book().require_ok()


def test_the_pages_checked_here_are_all_the_pages_built(book):
    built = {
        str(p.relative_to(HTML).with_suffix(""))
        for p in HTML.rglob("*.html")
        if not str(p.relative_to(HTML)).startswith("_static/")
    }
    assert built == set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_page_is_clean_offline_and_renders_its_math(book, chromium, name):
    with open_page(HTML / f"{name}.html", browser=chromium) as (page, errors, external):
        math_nodes = page.locator(".math").count()
        unrendered = page.locator(".math:not(:has(mjx-container))").count()
        merrors = page.locator("mjx-merror").count()
        page.wait_for_timeout(200)  # let late async scripts report their errors
        assert errors == [], f"{name}: console errors from disk:\n" + "\n".join(errors)
        assert external == [], f"{name}: requests leaving the book's folder: {external}"
    assert unrendered == 0, f"{name}: {unrendered} of {math_nodes} math elements not typeset"
    assert merrors == 0, f"{name}: {merrors} MathJax errors (mjx-merror)"


def test_math_is_typeset_where_the_source_has_math(book, chromium):
    """Guards the test above against passing vacuously: the front page has math."""
    with open_page(HTML / "intro.html", browser=chromium) as visit:
        assert visit.page.locator("mjx-container").count() > 0
        assert visit.page.locator(".math:not(:has(mjx-container))").count() == 0


def _local_target(page_url: str, href: str) -> Path:
    return Path(unquote(urlparse(page_url).path)).parent.joinpath(href).resolve()


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_download_menu_offers_the_notebook(book, chromium, name):
    with open_page(HTML / f"{name}.html", browser=chromium, wait_for_mathjax=False) as visit:
        links = visit.page.locator(".dropdown-download-buttons a[href$='.ipynb']")
        assert links.count() == 1, f"{name}: no .ipynb entry in the download menu"
        href = links.first.get_attribute("href")
        target = _local_target(visit.page.url, href)
        assert target == (HTML / "_sources" / f"{name}.ipynb").resolve(), target
        assert target.is_file(), f"{name}: download link points at missing {target}"


def _search_hits(page) -> list[str]:
    # Sphinx's searchtools writes "Search finished, ..." into this paragraph when done.
    page.wait_for_function(
        "() => { const s = document.querySelector('#search-results p.search-summary');"
        " return s && s.innerText.trim().length > 0; }"
    )
    hrefs = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.href)")
    return [str(Path(unquote(urlparse(h).path)).relative_to(HTML).with_suffix("")) for h in hrefs]


def _title_word(name: str) -> str:
    title = re.search(r"^# (.+)$", (HTML.parent.parent / f"{name}.md").read_text(), re.M)
    words = [w for w in re.findall(r"[A-Za-z]{4,}", title.group(1)) if w.lower() != "with"]
    return words[0]


@pytest.mark.parametrize("name", toc_pages())
def test_search_from_disk_finds_each_page(book, chromium, name):
    word = _title_word(name)
    with open_page(HTML / "search.html", query=f"?q={word}", browser=chromium) as visit:
        hits = _search_hits(visit.page)
        assert name in hits, f"searching {word!r} from disk found {hits}, not {name}"
        assert visit.console_errors == [], visit.console_errors
        assert visit.external_requests == [], visit.external_requests


def test_search_box_on_a_chapter_page_leads_to_results(book, chromium):
    with open_page(HTML / "intro.html", browser=chromium) as visit:
        page = visit.page
        page.keyboard.press("Control+k")  # pydata-sphinx-theme's search dialog
        box = page.locator("input[name='q']:visible").first
        box.fill("chain rule")
        with page.expect_navigation(wait_until="load"):
            box.press("Enter")
        assert urlparse(page.url).path.endswith("/search.html"), page.url
        hits = _search_hits(page)
        assert "intro" in hits, hits
        assert visit.console_errors == [], visit.console_errors
        assert visit.external_requests == [], visit.external_requests


# ---- code cells fit the column (see _static/book_code.css and tests/test_book_text.py) ---

WIDE_WINDOW = {"width": 1280, "height": 900}  # a common laptop window; the theme's layout
CODE_LINE_LIMIT = 88  # the longest code line tests/test_book_text.py allows

_CODE_CELLS_SCROLLING = """() => Array.from(document.querySelectorAll('div.cell_input pre'))
    .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth)
    .map(pre => pre.textContent.split('\\n').reduce((a, b) => a.length > b.length ? a : b))"""

_SCROLLS_WITH = """n => {
    const pre = Array.from(document.querySelectorAll('div.cell_input pre'))
        .find(p => p.offsetParent !== null);
    const original = pre.textContent;
    pre.textContent = 'm'.repeat(n);
    const scrolls = pre.scrollWidth > pre.clientWidth;
    pre.textContent = original;
    return scrolls;
}"""


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_code_cell_scrolls_sideways_in_a_1280px_window(book, chromium, name):
    with open_page(HTML / f"{name}.html", browser=chromium, wait_for_mathjax=False) as visit:
        page = visit.page
        page.set_viewport_size(WIDE_WINDOW)
        assert page.locator("div.cell_input pre").count() > 0, f"{name}: no code cells?"
        scrolling = page.evaluate(_CODE_CELLS_SCROLLING)
        assert scrolling == [], f"{name}: code cells scroll sideways at 1280 px: {scrolling}"


def test_an_88_character_line_fits_and_a_longer_one_would_scroll(book, chromium):
    """The measurement above can fail: plant lines in a real code cell of a real page."""
    with open_page(HTML / f"{CHAPTERS[0]}.html", browser=chromium,
                   wait_for_mathjax=False) as visit:
        page = visit.page
        page.set_viewport_size(WIDE_WINDOW)
        assert page.evaluate(_SCROLLS_WITH, CODE_LINE_LIMIT) is False, (
            f"an {CODE_LINE_LIMIT}-character code line scrolls at 1280 px: "
            "_static/book_code.css no longer makes the code column wide enough"
        )
        assert page.evaluate(_SCROLLS_WITH, CODE_LINE_LIMIT + 8) is True, (
            "a line 8 characters over the limit does not scroll: the check cannot see "
            "scrolling (or the font shrank further than the CSS intends)"
        )
        size = page.evaluate("() => parseFloat(getComputedStyle("
                             "document.querySelector('div.cell_input pre')).fontSize)")
        assert size >= 11, f"code font shrank to {size}px"
