"""The instructor's commands beyond the corpus: the pre-release check, regrading one
student, another gradebook URL, Ctrl-C, and refusing to grade without a sandbox."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import check, cli, known_wrong, notebooks  # noqa: E402
from autograder.known_wrong import KnownWrong  # noqa: E402
from autograder.sandbox import Sandbox  # noqa: E402

available, why = Sandbox.available()
needs_sandbox = pytest.mark.skipif(not available, reason=f"no sandbox here: {why}")
ASSIGNMENT = "vjps"
TANH = "grad_a = grad * (1 - out * out)"


def source():
    return notebooks.read(notebooks.source_notebooks(ASSIGNMENT)[0])


def corpus(folder, students):
    """Write {student: notebook} as a submissions folder."""
    for student, nb in students.items():
        (folder / student / ASSIGNMENT).mkdir(parents=True)
        nbformat.write(nb, str(folder / student / ASSIGNMENT / "vjps.ipynb"))
    return folder


def grade(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "autograder.cli", "grade", ASSIGNMENT, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs)


def rows(course):
    with open(course / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def tanh_edit(new):
    text = notebooks.strip_solution_markers(notebooks.cells_by_id(source())["tanh"].source)
    return notebooks.filled(source(), {"tanh": text.replace(TANH, new)})


@needs_sandbox
def test_the_release_check_stops_a_suite_that_misses_a_wrong_answer(monkeypatch, tmp_path):
    """A 'known-wrong' answer that is in fact right (so the tests rightly pass it) stands
    for a suite too weak to catch it: the release must stop and name the part."""
    real = known_wrong.for_assignment
    weak = KnownWrong("tanh via out**2", "tanh", TANH, "grad_a = grad * (1 - out ** 2)",
                      ("test_tanh",))
    monkeypatch.setattr(known_wrong, "for_assignment", lambda a: real(a) + [weak])
    found = check.problems(ASSIGNMENT, jobs=2)
    assert found == [f"{ASSIGNMENT}: the known-wrong answer 'tanh via out**2' keeps 1 points "
                     f"on part test_tanh: its tests do not catch it"]
    out = tmp_path / "release"
    with pytest.raises(SystemExit) as stop:
        cli.main(["release", ASSIGNMENT, "--out", str(out)])
    assert stop.value.code == 2
    assert not out.exists(), "a release that failed its check must write nothing"


@needs_sandbox
def test_the_release_check_passes_the_real_suites_and_releases(tmp_path, capsys):
    out = tmp_path / "release"
    assert cli.main(["release", ASSIGNMENT, "--out", str(out), "--jobs", "2"]) == 0
    assert (out / ASSIGNMENT / "vjps.ipynb").is_file()
    assert "9 known-wrong answers: OK" in capsys.readouterr().out


@needs_sandbox
def test_regrade_one_student_and_another_gradebook_url(tmp_path):
    subs = corpus(tmp_path / "subs", {"ada": tanh_edit("grad_a = grad"),
                                      "bob": notebooks.filled(source())})
    course = tmp_path / "course"
    db = tmp_path / "elsewhere" / "book.db"
    db.parent.mkdir()
    first = grade("--submissions", str(subs), "--course", str(course), "--db",
                  f"sqlite:///{db}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert rows(course)["ada"]["score"] == "18" and rows(course)["bob"]["score"] == "19"
    assert db.is_file() and not (course / "gradebook.db").exists()
    # ada resubmits a fixed notebook: a plain rerun sees the new file and regrades her only
    nbformat.write(notebooks.filled(source()), str(subs / "ada" / ASSIGNMENT / "vjps.ipynb"))
    again = grade("--submissions", str(subs), "--course", str(course), "--db",
                  f"sqlite:///{db}")
    assert "1 of 2 already graded" in again.stdout, again.stdout
    assert rows(course)["ada"]["score"] == "19"
    forced = grade("--submissions", str(subs), "--course", str(course), "--db",
                   f"sqlite:///{db}", "--regrade", "bob")
    assert "1 of 2 already graded" in forced.stdout and "bob: 19/19" in forced.stdout
    from autograder.gradebook import Gradebook
    with Gradebook(f"sqlite:///{db}") as gb:
        assert sum(gb.scores(ASSIGNMENT, "ada").values()) == 19


@needs_sandbox
def test_the_gradebook_named_in_the_course_nbgrader_config_is_used(tmp_path):
    """Without --db, the gradebook is the one nbgrader would use: c.CourseDirectory.db_url
    from the course's nbgrader_config.py; --db still wins over it."""
    subs = corpus(tmp_path / "subs", {"ada": tanh_edit("grad_a = grad")})
    course, configured, given = tmp_path / "course", tmp_path / "cfg.db", tmp_path / "arg.db"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///{configured}'\n")
    done = grade("--submissions", str(subs), "--course", str(course))
    assert done.returncode == 0, done.stdout + done.stderr
    assert configured.is_file() and not (course / "gradebook.db").exists()
    from autograder.gradebook import Gradebook
    with Gradebook(f"sqlite:///{configured}") as gb:
        assert sum(gb.scores(ASSIGNMENT, "ada").values()) == 18
    done = grade("--submissions", str(subs), "--course", str(course), "--regrade", "ada",
                 "--db", f"sqlite:///{given}")
    assert done.returncode == 0, done.stdout + done.stderr
    with Gradebook(f"sqlite:///{given}") as gb:
        assert sum(gb.scores(ASSIGNMENT, "ada").values()) == 18


@needs_sandbox
def test_ctrl_c_keeps_what_is_graded_and_a_rerun_finishes(tmp_path):
    subs = corpus(tmp_path / "subs", {f"s{i:02d}": notebooks.filled(source())
                                      for i in range(8)})
    course = tmp_path / "course"
    proc = subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", ASSIGNMENT,
                             "--submissions", str(subs), "--course", str(course), "--jobs",
                             "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    results = course / "autograded" / ASSIGNMENT
    deadline = time.monotonic() + 120
    while len(list(results.glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted after" in output and "run the same command again" in output
    table = rows(course)
    assert any(r["status"] == "not graded" for r in table.values()), table
    done = [s for s, r in table.items() if r["status"] == "graded"]
    assert len(done) >= 2
    rerun = grade("--submissions", str(subs), "--course", str(course))
    assert rerun.returncode == 0
    assert f"{len(done)} of 8 already graded" in rerun.stdout
    assert {r["score"] for r in rows(course).values()} == {"19"}


def test_grade_refuses_without_a_sandbox_unless_told(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(Sandbox, "available", staticmethod(lambda: (False, "no bwrap (test)")))
    subs = corpus(tmp_path / "subs", {"ada": notebooks.filled(source())})
    with pytest.raises(SystemExit) as stop:
        cli.main(["grade", ASSIGNMENT, "--submissions", str(subs), "--course",
                  str(tmp_path / "course")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "no bwrap (test)" in err and "--unsandboxed" in err
    assert not (tmp_path / "course" / "grades.csv").exists()


def test_unsandboxed_grading_says_so_in_every_report(monkeypatch, tmp_path):
    monkeypatch.setattr(Sandbox, "available", staticmethod(lambda: (False, "no bwrap (test)")))
    subs = corpus(tmp_path / "subs", {"ada": notebooks.filled(source())})
    course = tmp_path / "course"
    assert cli.main(["grade", ASSIGNMENT, "--submissions", str(subs), "--course", str(course),
                     "--unsandboxed", "--jobs", "1"]) == 0
    assert cli.main(["feedback", ASSIGNMENT, "--course", str(course)]) == 0
    row = rows(course)["ada"]
    assert row["score"] == "19" and row["sandboxed"] == "no"
    page = (course / "feedback" / "ada" / ASSIGNMENT / "feedback.html").read_text()
    assert "WITHOUT the sandbox" in page


def test_bad_input_is_said_in_words(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["grade", ASSIGNMENT, "--submissions", str(tmp_path / "nowhere"),
                  "--course", str(tmp_path), "--unsandboxed"])
    assert stop.value.code == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["grade", ASSIGNMENT, "--submissions", str(tmp_path), "--memory", "lots"])
    assert "is not a size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["feedback", ASSIGNMENT, "--course", str(tmp_path)])
    assert "run `autograder grade" in capsys.readouterr().err
