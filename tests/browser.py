"""Open built HTML from disk in a real, offline browser and record what goes wrong.

A small helper for any test that looks at a page in Chromium (the book, the widget, ...).
It drives Debian's ``/usr/bin/chromium`` through Playwright's sync API: headless, with the
network cut off (every request that is not a ``file://`` URL under the site's folder is
aborted and recorded), and collects console errors, uncaught exceptions and failed loads.

Use it as a context manager::

    from browser import open_page, require_chromium

    def test_widget_page():
        require_chromium()                      # skips cleanly if chromium is missing
        with open_page("_build/html/chapters/02_mlp_backprop.html") as (page, errors, external):
            page.click("text=Run")
            assert errors == [], errors         # console errors, page errors, failed loads
            assert external == [], external     # requests that tried to leave the folder

or, to reuse one browser for many pages (faster), with the ``chromium`` fixture::

    from browser import chromium, open_page   # importing the fixture makes pytest see it

    def test_many(chromium):
        for path in paths:
            with open_page(path, browser=chromium) as visit:
                assert visit.console_errors == []

``open_page`` yields a ``PageVisit(page, console_errors, external_requests)`` named tuple.
Every visit gets a fresh browser context: empty localStorage, cookies and cache, as on a
reader's first visit. A browser launched by Playwright runs on a fresh temporary profile
(user-data-dir), which Playwright deletes when the browser closes.

The "site folder" (``root``) defaults to the nearest ancestor of the page that holds a
``searchindex.js`` (a Sphinx build's top), else the page's own folder. Anything outside it,
even another local file, counts as external.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple
from urllib.parse import unquote, urlparse

import pytest

CHROMIUM = os.environ.get("BOOK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 30_000
_META_REFRESH = re.compile(r"<meta[^>]+http-equiv=[\"']?refresh", re.IGNORECASE)


class PageVisit(NamedTuple):
    page: "playwright.sync_api.Page"  # noqa: F821  (the open Playwright page)
    console_errors: list[str]  # console.error messages, uncaught exceptions, failed loads
    external_requests: list[str]  # URLs outside the site folder (all were blocked)


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        return f"Chromium not found at {CHROMIUM} (install Debian's `chromium` package)" + (
            f"; there is one at {found}: set BOOK_TEST_CHROMIUM" if found else ""
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is not installed (pip install -e '.[test]')"
    return None


def require_chromium() -> None:
    """Skip the calling test, with the reason, if Chromium or Playwright is missing."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


@contextmanager
def launch_chromium() -> Iterator["playwright.sync_api.Browser"]:  # noqa: F821
    """Launch headless Debian Chromium (skips the test if it is not available)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for a test module (import this fixture into the module)."""
    with launch_chromium() as browser:
        yield browser


def site_root_for(path: Path) -> Path:
    """The folder whose files a page may load: the enclosing Sphinx build, else its own."""
    for folder in [path.parent, *path.parent.parents]:
        if (folder / "searchindex.js").is_file():
            return folder
    return path.parent


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def _is_inside(url: str, root: Path) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True  # inline content, never leaves the page
    local = _local_path(url)
    if local is None:
        return False
    try:
        Path(os.path.normpath(local)).relative_to(root)
        return True
    except ValueError:
        return False


@contextmanager
def open_page(
    path: str | os.PathLike,
    *,
    query: str = "",
    root: str | os.PathLike | None = None,
    browser=None,
    wait_for_mathjax: bool = True,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Iterator[PageVisit]:
    """Open ``path`` (an HTML file on disk) offline and yield ``PageVisit``.

    query:   appended to the URL, e.g. ``"?q=chain"`` for Sphinx's search.html.
    root:    the folder the page may load from (default: see ``site_root_for``).
    browser: a Playwright ``Browser`` to reuse (e.g. the ``chromium`` fixture); by default
             a Chromium is launched for this visit and closed afterwards.
    wait_for_mathjax: after the load event, wait until MathJax (if the page loads it) has
             finished typesetting.

    The lists in the yielded tuple keep growing while the page stays open, so assert on
    them after interacting with the page.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no page at {path} (was the book built?)")
    root_dir = Path(root).resolve() if root is not None else site_root_for(path)

    if browser is None:
        with launch_chromium() as own_browser:
            with open_page(
                path,
                query=query,
                root=root_dir,
                browser=own_browser,
                wait_for_mathjax=wait_for_mathjax,
                timeout_ms=timeout_ms,
            ) as visit:
                yield visit
        return

    console_errors: list[str] = []
    external: list[str] = []
    context = browser.new_context(offline=True, service_workers="block")
    context.set_default_timeout(timeout_ms)

    def record(url: str) -> None:
        if not _is_inside(url, root_dir) and url not in external:
            external.append(url)

    def route(route_obj):
        url = route_obj.request.url
        if _is_inside(url, root_dir):
            route_obj.continue_()
        else:
            record(url)
            route_obj.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: record(request.url))
    page.on("websocket", lambda ws: record(ws.url))
    page.on(
        "console",
        lambda msg: msg.type == "error"
        and console_errors.append(f"console.error: {msg.text} ({msg.location.get('url', '')})"),
    )
    page.on("pageerror", lambda exc: console_errors.append(f"uncaught exception: {exc}"))
    page.on(
        "requestfailed",
        lambda request: _is_inside(request.url, root_dir)
        and console_errors.append(f"failed to load {request.url}: {request.failure}"),
    )
    try:
        start_url = path.as_uri() + query
        page.goto(start_url, wait_until="load")
        if _META_REFRESH.search(path.read_text(encoding="utf8", errors="replace")):
            # e.g. Jupyter Book's index.html: follow the redirect to the real page
            page.wait_for_url(lambda url: url != start_url, wait_until="load")
        if wait_for_mathjax:
            try:
                wait_for_mathjax_typeset(page, timeout_ms)
            except AssertionError as err:
                raise AssertionError(f"{err}; console errors: {console_errors}") from None
        yield PageVisit(page, console_errors, external)
    finally:
        context.close()


def wait_for_mathjax_typeset(page, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> bool:
    """Wait until MathJax 3 has typeset the page; False if the page does not load MathJax."""
    loads_mathjax = page.evaluate(
        "() => Array.from(document.scripts).some(s => /mathjax/i.test(s.src))"
    )
    if not loads_mathjax:
        return False
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        raise AssertionError(
            f"{page.url}: loads MathJax, but MathJax did not start within {timeout_ms} ms"
        ) from None
    page.evaluate("() => MathJax.startup.promise.then(() => true)")
    return True
