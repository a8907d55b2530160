"""Make the Jupyter Book 1.x HTML work from disk, offline, with a clean console.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``. What it does:

1. **MathJax from the build, not a CDN.** At ``build-finished`` it copies MathJax 3
   (``node_modules/mathjax/es5``, installed by ``npm ci`` from ``package-lock.json``) to
   ``<outdir>/_static/mathjax``. ``mathjax_path: mathjax/tex-chtml.js`` in ``_config.yml``
   points there; Sphinx makes that path relative to each page, so it works from ``file://``.
   MathJax must not live in the source ``_static/``: Jupyter Book 1.x adds a ``<script>``
   for every ``.js`` file there.
2. **Each chapter as a notebook.** For every MyST-markdown notebook page it writes the page's
   source, converted to ``.ipynb`` with MyST-NB's own reader (the notebook the build
   executes, without outputs), to ``_sources/<page>.ipynb`` and sets ``ipynb_source`` so
   sphinx-book-theme's download menu offers it. The notebook is validated with nbformat.
3. **No thebe.** sphinx-thebe is loaded unconditionally by Jupyter Book; it adds an inline
   ``const THEBE_JS_URL = "https://unpkg.com/..."`` to every page, twice in a fresh build of
   1.0.4.post1 (a reader's console: "Identifier 'THEBE_JS_URL' has already been declared"), a
   ``sphinx-thebe.js``/``.css`` pair, and appends to every page a thebe config naming a
   Binder repository and a ``kernelName`` script. The book has no thebe buttons, so all of
   it is dropped.
4. **Search from disk.** Sphinx's search page fetches every hit's page to show a summary;
   from ``file://`` Chromium refuses such fetches (CORS), so each hit logged errors. On
   ``file://`` only, an inline script turns the summaries off (``SHOW_SEARCH_SUMMARY``);
   served over http(s) they stay on. The hits themselves come from ``searchindex.js``.
5. **Private folders stay private.** ``exclude_patterns`` keeps solutions, hidden tests and
   the autograder from being *pages*, but a published page could still pull one in with
   ``{download}``, ``{include}``, ``{literalinclude}`` or an image. Any page that depends on
   a file under ``offline_book_private_dirs`` triggers a warning, which fails the build.
6. The theme-mode console error ("Got invalid theme mode") is fixed in ``_config.yml``
   (``html_context: default_mode: auto``), not here.
7. **The exercises as downloads.** At ``builder-inited`` (before any page is read) it writes
   the student version of every assignment in ``offline_book_solutions_dir`` with
   ``autograder.release``, the step ``autograder release`` runs, to
   ``_build/release/<assignment>/<notebook>.ipynb``: nbgrader's own preprocessors strip the
   solutions and hidden tests. A page offers them with the role
   ``{assignment-download}`vjps```, which becomes one ``{download}`` link per notebook of the
   assignment, so Sphinx copies the notebooks to ``_downloads/`` and links them relatively
   (fine from ``file://``). The pages depend on the released copies, never on
   ``solutions/``, so the private-folder check above still fails any page that pulls in a
   source notebook. Unchanged notebooks are not rewritten, so a rebuild re-reads nothing;
   a notebook added to or removed from an assignment re-reads the pages that offer it.
   Every assignment must be offered on ``offline_book_exercises_page`` (when that page is
   in the book), or the build warns (fails).
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_SUBDIR = "mathjax"  # under <outdir>/_static/

# Runs after documentation_options.js (priority 200) and before searchtools.js is used.
# DOCUMENTATION_OPTIONS is a top-level `const`, so it is not a property of `window`.
SEARCH_SUMMARY_OFF_ON_FILE = (
    'if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") '
    "{ DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false; }"
)


def _mathjax_source(app: Sphinx) -> Path:
    return (Path(app.srcdir) / app.config.offline_book_mathjax_dir).resolve()


def check_mathjax_installed(app: Sphinx) -> None:
    """Fail early, with the fix, if MathJax has not been installed from npm."""
    if app.builder.format != "html":
        return
    entry = _mathjax_source(app) / "tex-chtml.js"
    if not entry.is_file():
        raise ExtensionError(
            f"MathJax 3 not found at {entry}. Install it with `npm ci` in the book's root "
            "(package.json pins mathjax@3), or run `make book`, which does."
        )
    if app.config.mathjax_path != f"{MATHJAX_SUBDIR}/tex-chtml.js":
        logger.warning(
            "[offline_book] mathjax_path is %r; the offline copy lives at %s/tex-chtml.js",
            app.config.mathjax_path,
            MATHJAX_SUBDIR,
        )


def _sync_tree(src: Path, dst: Path) -> int:
    """Copy src into dst, skipping files that are already identical. Returns files copied."""
    copied = 0
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not (target.is_file() and filecmp.cmp(path, target, shallow=True)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dst = Path(app.outdir) / "_static" / MATHJAX_SUBDIR
    copied = _sync_tree(_mathjax_source(app), dst)
    logger.info("[offline_book] MathJax in %s (%d files updated)", dst, copied)


def drop_thebe_assets(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Remove sphinx-thebe's script and style tags from the page."""

    def is_thebe(asset) -> bool:
        name = getattr(asset, "filename", None) or str(asset)
        body = getattr(asset, "attributes", {}).get("body", "") or ""
        return "sphinx-thebe" in name or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not is_thebe(asset)]


def drop_thebe_config(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Remove the raw <script> nodes sphinx-thebe appends at doctree-resolved."""
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        if "text/x-thebe-config" in text or text.strip().startswith("<script>kernelName"):
            node.parent.remove(node)


def check_private_dependencies(app: Sphinx, env) -> None:
    """Warn (failing a -W build) if a page includes or links a file from a private folder."""
    srcdir = Path(app.srcdir).resolve()
    private = [srcdir / name for name in app.config.offline_book_private_dirs]
    for docname, deps in sorted(env.dependencies.items()):
        for dep in sorted(deps):
            path = (srcdir / dep).resolve()
            if any(path == folder or folder in path.parents for folder in private):
                logger.warning(
                    "[offline_book] %s pulls in %s, which is private (%s) and must not be "
                    "published",
                    docname,
                    path.relative_to(srcdir),
                    ", ".join(app.config.offline_book_private_dirs),
                    location=docname,
                )


def _is_myst_notebook(app: Sphinx, pagename: str) -> Path | None:
    from myst_nb.core.read import is_myst_markdown_notebook

    if pagename not in app.env.found_docs:
        return None
    source = Path(app.env.doc2path(pagename))
    if source.suffix != ".md":
        return None
    if not is_myst_markdown_notebook(source.read_text(encoding="utf8")):
        return None
    return source


def notebook_for_page(app: Sphinx, source: Path) -> nbformat.NotebookNode:
    """The page's source as the notebook MyST-NB executes (no outputs)."""
    from myst_nb.core.read import create_nb_reader

    text = source.read_text(encoding="utf8")
    reader = create_nb_reader(str(source), app.env.myst_config, app.env.mystnb_config, text)
    notebook = reader.read(text)
    notebook.metadata.pop("source_map", None)
    return notebook


def offer_notebook_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Write _sources/<page>.ipynb and let the theme's download menu link to it.

    Runs before sphinx-book-theme's ``add_header_buttons`` (priority 501), which adds an
    ".ipynb" entry whenever ``context["ipynb_source"]`` is set.
    """
    if app.builder.format != "html" or not app.config.html_copy_source:
        return
    source = _is_myst_notebook(app, pagename)
    if source is None:
        return
    notebook = notebook_for_page(app, source)
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as err:
        logger.warning("[offline_book] %s: converted notebook is invalid: %s", source, err)
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _release_dir(app: Sphinx) -> Path:
    """Where the book keeps the student versions: beside the HTML, in _build/release/."""
    return Path(app.outdir).parent / "release"


def _released(app: Sphinx) -> dict[str, list[str]]:
    """{assignment: its released notebook names}, as release_exercises left them."""
    folder = _release_dir(app)
    if not folder.is_dir():
        return {}
    return {
        sub.name: sorted(p.name for p in sub.glob("*.ipynb"))
        for sub in sorted(folder.iterdir())
        if sub.is_dir()
    }


def release_exercises(app: Sphinx) -> None:
    """Write every assignment's student version to _build/release/, and only those."""
    from autograder import release

    solutions = Path(app.srcdir) / app.config.offline_book_solutions_dir
    target = _release_dir(app)
    names = release.assignments(solutions)
    for name in names:
        try:
            versions = release.student_versions(name, solutions)
        except Exception as err:  # a malformed source notebook: say which one
            raise ExtensionError(
                f"[offline_book] cannot make the student version of {solutions / name}: {err}"
            ) from err
        changed = [path.name for path, new in release.write(versions, target / name) if new]
        for stale in (target / name).glob("*.ipynb"):
            if stale.name not in versions:
                stale.unlink()
        if changed:
            logger.info("[offline_book] released %s: %s", name, ", ".join(changed))
    if target.is_dir():
        for stale in target.iterdir():
            if stale.name not in names:
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


def assignment_download_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{assignment-download}`vjps```: a download link to each notebook of an assignment."""
    env = inliner.document.settings.env
    assignment = text.strip()
    released = _released(env.app)
    if assignment not in released:
        message = inliner.reporter.error(
            f"[offline_book] no assignment {assignment!r} in "
            f"{env.app.config.offline_book_solutions_dir}/ (assignments: "
            f"{', '.join(released) or 'none'})",
            line=lineno,
        )
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    if not hasattr(env, "offline_book_offered"):
        env.offline_book_offered = {}
    env.offline_book_offered.setdefault(env.docname, {})[assignment] = released[assignment]
    folder = os.path.relpath(_release_dir(env.app) / assignment, env.srcdir)
    links: list[nodes.Node] = []
    for notebook in released[assignment]:
        if links:
            links.append(nodes.Text(", "))
        link = addnodes.download_reference(
            rawtext, "", refdoc=env.docname, refdomain="", reftype="download",
            refexplicit=True, refwarn=False,
            reftarget=f"/{folder}/{notebook}",  # a leading "/": relative to the book's root
        )
        link += nodes.literal(notebook, notebook, classes=["xref", "download"])
        links.append(link)
    return links, []


def pages_offering_changed_assignments(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Re-read a page whose offered assignment gained or lost a notebook since it was read.

    (A changed notebook needs nothing here: Sphinx re-reads the pages that download it.)
    """
    released = _released(app)
    return [
        docname
        for docname, offers in getattr(env, "offline_book_offered", {}).items()
        if any(released.get(name) != notebooks for name, notebooks in offers.items())
    ]


def forget_offered(app: Sphinx, env, docname: str) -> None:
    getattr(env, "offline_book_offered", {}).pop(docname, None)


def merge_offered(app: Sphinx, env, docnames, other) -> None:
    offered = getattr(other, "offline_book_offered", {})
    if not hasattr(env, "offline_book_offered"):
        env.offline_book_offered = {}
    env.offline_book_offered.update({d: offered[d] for d in docnames if d in offered})


def check_every_assignment_offered(app: Sphinx, env) -> None:
    """Warn (failing a -W build) if the Exercises page leaves out a released assignment."""
    page = app.config.offline_book_exercises_page
    if page not in env.found_docs:
        return
    offered = getattr(env, "offline_book_offered", {}).get(page, {})
    for assignment in sorted(set(_released(app)) - set(offered)):
        logger.warning(
            "[offline_book] assignment %r (%s/%s) is not offered on the page %s: add "
            "{assignment-download}`%s` there, with what it practises",
            assignment,
            app.config.offline_book_solutions_dir,
            assignment,
            page,
            assignment,
            location=page,
        )


def setup(app: Sphinx) -> dict:
    app.add_config_value("offline_book_mathjax_dir", "node_modules/mathjax/es5", "html")
    app.add_config_value(
        "offline_book_private_dirs", ["solutions", "autograder", "tests"], "env"
    )
    app.add_config_value("offline_book_solutions_dir", "solutions", "env")
    app.add_config_value("offline_book_exercises_page", "exercises", "env")
    app.add_js_file(None, body=SEARCH_SUMMARY_OFF_ON_FILE, priority=201)
    app.add_role("assignment-download", assignment_download_role)
    app.connect("env-updated", check_private_dependencies)
    app.connect("builder-inited", check_mathjax_installed)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", drop_thebe_assets)
    app.connect("doctree-resolved", drop_thebe_config, priority=900)
    app.connect("html-page-context", offer_notebook_download, priority=500)
    app.connect("builder-inited", release_exercises)
    app.connect("env-get-outdated", pages_offering_changed_assignments)
    app.connect("env-purge-doc", forget_offered)
    app.connect("env-merge-info", merge_offered)
    app.connect("env-updated", check_every_assignment_offered)
    # env_version: bump when what this extension keeps in the environment changes shape.
    return {"parallel_read_safe": True, "parallel_write_safe": False, "env_version": 1}
