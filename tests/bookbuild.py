"""Build the book once per test session, and build throwaway copies of it.

Shared by ``test_book_build.py``, ``test_browser.py`` and any other test that needs the
built HTML::

    from bookbuild import HTML, built_book

    def test_something():
        book = built_book()        # builds on first use, then returns the same result
        book.require_ok()          # fails the test (with the build log) if the build failed
        html = (HTML / "intro.html").read_text()

Both go through ``make book`` (so the tests build exactly what a reader's ``make book``
builds: same flags, same MathJax install). The real book is built into ``_build/`` once per
pytest run, even under pytest-xdist: workers take an ``fcntl`` lock on
``_build/.tests-build.lock``, and the first one to get it records its result in
``_build/.tests-build-<run id>.json`` for the others.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
BUILD_TIMEOUT_S = 1800

# What a copy of the book needs besides its chapters (see make_book_copy).
BOOK_FILES = ["_config.yml", "_toc.yml", "intro.md", "book", "_static"]


@dataclass
class BuildResult:
    book_dir: str
    returncode: int
    seconds: float
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def html(self) -> Path:
        return Path(self.book_dir) / "_build" / "html"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def require_ok(self) -> "BuildResult":
        if not self.ok:
            pytest.fail(
                f"`make book` failed for {self.book_dir} (exit {self.returncode}); "
                f"last lines of its log:\n{self.tail()}",
                pytrace=False,
            )
        return self


def make_book(book_dir: Path = ROOT, timeout: float = BUILD_TIMEOUT_S) -> BuildResult:
    """Run ``make book BOOK=<book_dir>`` in the repository; never raises on build failure."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["NO_COLOR"] = "1"
    start = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "book", f"BOOK={book_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=timeout,
    )
    return BuildResult(
        book_dir=str(book_dir),
        returncode=proc.returncode,
        seconds=time.monotonic() - start,
        log=strip_ansi(proc.stdout),
    )


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class build_lock:
    """Exclusive lock over the real book's _build/ (blocks until free)."""

    def __enter__(self):
        BUILD.mkdir(exist_ok=True)
        self._fh = open(BUILD / ".tests-build.lock", "w")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


_session_result: BuildResult | None = None


def _run_id() -> str:
    # The same for every xdist worker of one pytest run; absent without xdist.
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def built_book() -> BuildResult:
    """The result of building the real book into _build/ during this test run."""
    global _session_result
    if _session_result is not None:
        return _session_result
    with build_lock():
        record = BUILD / f".tests-build-{_run_id()}.json"
        if record.exists():
            _session_result = BuildResult(**json.loads(record.read_text()))
        else:
            for old in BUILD.glob(".tests-build-*.json"):
                old.unlink()
            _session_result = make_book(ROOT)
            record.write_text(json.dumps(asdict(_session_result)))
    return _session_result


def toc_pages(book_dir: Path = ROOT) -> list[str]:
    """Docnames _toc.yml publishes, root first (e.g. ["intro", "chapters/01_chain_rule"])."""
    import yaml

    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return pages


def chapter_pages(book_dir: Path = ROOT) -> list[str]:
    """The toc's pages that are MyST-markdown notebooks (the chapters)."""
    from myst_nb.core.read import is_myst_markdown_notebook

    return [
        page
        for page in toc_pages(book_dir)
        if (book_dir / f"{page}.md").is_file()
        and is_myst_markdown_notebook((book_dir / f"{page}.md").read_text())
    ]


def make_book_copy(
    dest: Path,
    *,
    chapters: dict[str, str] | None = None,
    with_real_chapters: bool = False,
    reuse_execution_cache: bool = False,
) -> Path:
    """A throwaway copy of the book's configuration in ``dest``, ready for make_book(dest).

    chapters: extra chapter files, {"chapters/x.md": text}; each is appended to the toc.
    with_real_chapters: also copy chapters/ and exercises.md, link solutions/, and keep the
        real _toc.yml.
    reuse_execution_cache: copy the real build's jupyter cache, so unchanged chapters are
        not executed again (the cache matches notebooks by content, not by path).
    """
    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dest / name)
    (dest / "node_modules").symlink_to(ROOT / "node_modules")
    if with_real_chapters:  # the real toc: its chapters, the Exercises page and what it offers
        shutil.copytree(ROOT / "chapters", dest / "chapters")
        shutil.copy2(ROOT / "exercises.md", dest / "exercises.md")
        (dest / "solutions").symlink_to(ROOT / "solutions")
        toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    else:
        toc = {"format": "jb-book", "root": "intro", "chapters": []}
    for rel, text in (chapters or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
        toc.setdefault("chapters", []).append({"file": str(Path(rel).with_suffix(""))})
    if not toc["chapters"]:
        del toc["chapters"]
    (dest / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    if reuse_execution_cache and (BUILD / ".jupyter_cache").is_dir():
        with build_lock():
            shutil.copytree(BUILD / ".jupyter_cache", dest / "_build" / ".jupyter_cache")
    return dest


def myst_notebook(title: str, *code_cells: str, markdown: str = "") -> str:
    """Text of a small MyST-markdown notebook in the chapters' format."""
    header = (
        "---\n"
        "jupytext:\n"
        "  text_representation:\n"
        "    extension: .md\n"
        "    format_name: myst\n"
        "    format_version: 0.13\n"
        "kernelspec:\n"
        "  display_name: Python 3\n"
        "  language: python\n"
        "  name: python3\n"
        "---\n\n"
    )
    body = f"# {title}\n\n{markdown}\n\n" if markdown else f"# {title}\n\n"
    cells = "".join(f"```{{code-cell}} ipython3\n{code.strip()}\n```\n\n" for code in code_cells)
    return header + body + cells
