"""What must never leave the solutions: strings derived from the source notebooks, and a search.

A source notebook's secrets are the lines of its solution regions (or of a whole solution
cell without markers, which nbgrader blanks entirely) and of its hidden-test blocks, markers
included, and the seeds those blocks pass. A line is searched for when it is longer than a
few characters and the student version does not show it anyway (a given cell may repeat it,
the instructions may quote it: `x, = ctx.saved_tensors`), nor the text of the published
pages (a chapter may show the same line on purpose).

Files are searched as a reader would see their text: HTML without tags and with entities
decoded (syntax highlighting wraps every token of a code line in a <span>), notebooks and
JSON as their strings (JSON escapes quotes and newlines), Sphinx's objects.inv decompressed.

`plant_secrets` marks a copy of the solutions, for tests that follow a known secret (and a
known given line, the control) through a release or a book build.
"""
from __future__ import annotations

import html
import json
import re
import zlib
from pathlib import Path

import nbformat

from autograder import notebooks

MIN_CHARS = 8  # shorter lines ("else:", "return g") are too common to mean anything
MIN_SEED_DIGITS = 4  # a shorter seed ("seed=7") would match any number
_SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)
_HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
_SEED = re.compile(r"\bseed\s*=\s*(\d+)")


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def secret_lines(source_nb) -> set[str]:
    """Every line of the notebook's solution regions and hidden-test blocks."""
    secret: set[str] = set()
    for cell in source_nb.cells:
        if notebooks.is_solution(cell):
            regions = _SOLUTION_REGION.findall(cell.source)
            secret |= _lines("\n".join(regions) if regions else cell.source)
        for block in _HIDDEN_BLOCK.findall(cell.source):
            secret |= _lines(block)
    return secret


def hidden_seeds(source_nb) -> set[str]:
    return {
        seed
        for cell in source_nb.cells
        for block in _HIDDEN_BLOCK.findall(cell.source)
        for seed in _SEED.findall(block)
        if len(seed) >= MIN_SEED_DIGITS
    }


def forbidden_strings(source_nb, student_nb, public_text: str = "") -> set[str]:
    """The strings of `source_nb` that must not appear in anything published."""
    shown = "\n".join(c.source for c in student_nb.cells) + "\n" + public_text
    secrets = {s for s in secret_lines(source_nb) if len(s) >= MIN_CHARS} | hidden_seeds(source_nb)
    return {s for s in secrets if s not in shown}


def readable_text(path: Path) -> str:
    """The text of a published file, as a reader (or a student's notebook) shows it."""
    data = path.read_bytes()
    if path.name == "objects.inv":  # a text header, then a zlib-compressed inventory
        header, _, compressed = data.partition(b"zlib.\n")
        data = header + zlib.decompress(compressed)
    text = data.decode("utf8", errors="replace")
    if path.suffix in (".ipynb", ".json"):
        try:
            return "\n".join(_strings(json.loads(text)))
        except json.JSONDecodeError:
            return text
    if path.suffix == ".html":
        return html.unescape(re.sub(r"<[^>]*>", "", text))
    return text


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def find_leaks(files, forbidden: set[str]) -> dict[str, list[str]]:
    """{forbidden string: the files whose readable text contains it}."""
    # A seed is searched for as a whole number (not inside 62026, a checksum or 0.6207).
    patterns = {s: re.compile(rf"(?<![\w.]){s}(?![\w.])") for s in forbidden if s.isdigit()}
    leaks: dict[str, list[str]] = {}
    for path in files:
        text = readable_text(path)
        for secret in forbidden:
            if secret in text and (secret not in patterns or patterns[secret].search(text)):
                leaks.setdefault(secret, []).append(str(path))
    return leaks


def plant_secrets(solutions: Path, secret: str, given: str) -> None:
    """Edit every source notebook under `solutions`: a comment `secret` opens each solution
    region and hidden-test block, a comment `given` ends the first given (locked, ungraded)
    code cell. A release must drop the first and keep the second."""
    for path in sorted(solutions.glob("*/*.ipynb")):
        nb = notebooks.read(path)
        for cell in nb.cells:
            cell.source = re.sub(
                r"^([ \t]*)(### BEGIN (SOLUTION|HIDDEN TESTS))[ \t]*$",
                rf"\1\2\n\1# {secret}",
                cell.source,
                flags=re.M,
            )
        first_given = next(
            c for c in nb.cells
            if c.cell_type == "code" and notebooks.meta(c).get("locked")
            and not notebooks.meta(c).get("grade")
        )
        first_given.source += f"\n# {given}"
        assert secret in nbformat.writes(nb), f"{path}: nothing to plant the secret into"
        nbformat.write(nb, path)
