"""`autograder release`: student versions with no solution and no hidden test, that run.

For every notebook of every assignment in solutions/: the released version is the one
nbgrader's preprocessors make (the same as `nbgrader generate_assignment`'s), contains none
of the source's secrets (solution lines, hidden tests, their seeds; see leakcheck), and, run
top to bottom in a real kernel, fails every visible test with an AssertionError that says
something, and nothing else. Then the command line: its help and its errors.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import cli, notebooks, release
from leakcheck import find_leaks, forbidden_strings, plant_secrets

ASSIGNMENTS = release.assignments()
NOTEBOOKS = [(a, path.name) for a in ASSIGNMENTS for path in notebooks.source_notebooks(a)]
IDS = [f"{a}/{name}" for a, name in NOTEBOOKS]
CELL_TIMEOUT_S = 300
AUTOGRADER = Path(sys.executable).with_name("autograder")  # the installed entry point


def test_there_are_assignments_to_release():
    assert NOTEBOOKS, f"no notebooks in {notebooks.SOLUTIONS}/<assignment>/"


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """The output folder of `autograder release --out <tmp>` (every assignment)."""
    out = tmp_path_factory.mktemp("release")
    assert cli.main(["release", "--no-check", "--out", str(out)]) == 0
    return out


def test_release_writes_each_notebook_and_says_so(tmp_path, capsys):
    out = tmp_path / "release"
    cli.main(["release", "--no-check", "--out", str(out)])
    printed = capsys.readouterr().out.splitlines()
    expected = [out / a / name for a, name in NOTEBOOKS]
    assert printed == [f"wrote {path}" for path in expected]
    assert sorted(p for p in out.rglob("*") if p.is_file()) == sorted(expected)

    first, mtime = expected[0], expected[0].stat().st_mtime_ns
    cli.main(["release", NOTEBOOKS[0][0], "--no-check", "--out", str(out)])
    assert capsys.readouterr().out.splitlines()[0] == f"up to date: {first}"
    assert first.stat().st_mtime_ns == mtime, "an unchanged notebook was rewritten"


@pytest.mark.parametrize("assignment, name", NOTEBOOKS, ids=IDS)
def test_released_notebook_is_the_student_version_and_keeps_no_secret(
    released, assignment, name
):
    source = notebooks.read(notebooks.SOLUTIONS / assignment / name)
    student = notebooks.student_version(source)
    path = released / assignment / name
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook == student, f"{path} is not nbgrader's student version of its source"
    forbidden = forbidden_strings(source, student)
    assert forbidden, f"{assignment}/{name} has no solution region or hidden test to hide"
    assert find_leaks([path], forbidden) == {}


def test_release_is_what_nbgrader_generate_assignment_makes(released, tmp_path):
    """The same notebooks as plain nbgrader's release of a course whose source/ is a copy
    of solutions/ (every assignment at once; --no-db: no gradebook needed for this)."""
    course = tmp_path / "course"
    shutil.copytree(notebooks.SOLUTIONS, course / "source")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'course'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--no-db"],
        cwd=course, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for assignment, name in NOTEBOOKS:
        ours = nbformat.read(released / assignment / name, as_version=4)
        theirs = nbformat.read(course / "release" / assignment / name, as_version=4)
        assert ours == theirs, f"{assignment}/{name} differs from nbgrader's release"


SECRET = "xqzsecretanswer3141"  # planted into solution regions and hidden tests
GIVEN = "xqzgivencode2718"  # planted into a given cell: must be released


def test_a_secret_planted_in_the_solutions_is_never_released(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(notebooks.SOLUTIONS, solutions)
    plant_secrets(solutions, SECRET, GIVEN)
    for assignment in release.assignments(solutions):
        versions = release.student_versions(assignment, solutions)
        for path, _ in release.write(versions, tmp_path / "release" / assignment):
            text = path.read_text()
            assert SECRET not in text, f"{path} holds text from a solution or hidden test"
            assert GIVEN in text, f"{path} lost a given cell (so the search above is blind)"


def _errors(cell) -> list[dict]:
    return [out for out in cell.get("outputs", []) if out.output_type == "error"]


@pytest.mark.parametrize("assignment, name", NOTEBOOKS, ids=IDS)
def test_released_notebook_runs_and_fails_its_visible_tests_cleanly(
    released, tmp_path, assignment, name
):
    """In a real kernel, from a student's folder: only test cells fail, each with an
    AssertionError and a message; the given cells and the blanks' definitions run."""
    notebook = nbformat.read(released / assignment / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=notebook.metadata.kernelspec.name,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    test_cells = [c for c in notebook.cells if notebooks.is_test(c)]
    assert test_cells, f"{assignment}/{name} has no test cell"
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        where = f"{assignment}/{name}, cell {notebooks.grade_id(cell) or '(no grade id)'}"
        errors = _errors(cell)
        if not notebooks.is_test(cell):
            assert errors == [], f"{where} raised: {errors[0].ename}: {errors[0].evalue}"
            continue
        assert errors, f"{where}: the visible test passes before anything is filled in"
        (error,) = errors
        assert error.ename == "AssertionError", (
            f"{where} crashed instead of failing a check: {error.ename}: {error.evalue}"
        )
        assert error.evalue.strip(), f"{where}: AssertionError without a message"


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AUTOGRADER), *args], capture_output=True, text=True, timeout=120
    )


def test_help_explains_the_commands():
    top = _run_cli("--help")
    assert top.returncode == 0, top.stderr
    assert "release" in top.stdout and "solutions/<assignment>" in top.stdout, top.stdout
    sub = _run_cli("release", "--help")
    assert sub.returncode == 0, sub.stderr
    text = " ".join(sub.stdout.split())
    for phrase in ("ASSIGNMENT", "--out DIR", "DIR/<assignment>/<notebook>.ipynb",
                   "default: release/", "hidden tests removed"):
        assert phrase in text, f"`autograder release --help` does not say {phrase!r}:\n{text}"


def test_an_unknown_assignment_is_an_error_naming_the_known_ones(tmp_path):
    result = _run_cli("release", "no_such_assignment", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "no assignment 'no_such_assignment'" in result.stderr, result.stderr
    assert ", ".join(ASSIGNMENTS) in result.stderr, result.stderr
    assert not (tmp_path / "out").exists(), "an unknown assignment still wrote something"


def test_no_command_shows_the_usage():
    result = _run_cli()
    assert result.returncode == 2
    assert "usage: autograder" in result.stderr and "COMMAND" in result.stderr
