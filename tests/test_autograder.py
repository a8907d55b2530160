"""The autograder end to end, with a real sandbox: a corpus of honest, wrong, cheating and
hostile submissions of the VJPs assignment -> `autograder grade` -> CSV, gradebook and
feedback, asserting exact scores and reasons.

The attacks sit in one part (Tanh's cell, which no other part uses), so each must cost
exactly that part's point and leave the other 18 of 19 points alone.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import known_wrong, notebooks  # noqa: E402
from autograder.sandbox import Sandbox  # noqa: E402

available, why = Sandbox.available()
pytestmark = pytest.mark.skipif(not available, reason=f"no sandbox here: {why}")

ASSIGNMENT = "vjps"
SECRET_ENV = "AUTOGRADER_TEST_SECRET_VALUE"
SECRET = "hunter2-do-not-leak-4d1c"
MARKER = "autograder-e2e-daemon-marker"
TANH_BODY = "grad_a = grad * (1 - out * out)"
FULL, TANH_POINTS = 19.0, 1.0
LIMITS = ["--cell-seconds", "6", "--memory", "768M", "--processes", "48", "--disk", "64M",
          "--output", "256K"]


def source():
    return notebooks.read(notebooks.source_notebooks(ASSIGNMENT)[0])


def with_tanh(body, *, top=""):
    """The reference with Tanh.backward's body (and optionally code after the class)
    replaced: the student's cell for the Tanh part."""
    src = source()
    text = notebooks.strip_solution_markers(notebooks.cells_by_id(src)["tanh"].source)
    assert TANH_BODY in text
    indented = "\n".join("        " + line for line in body.strip("\n").splitlines())
    return notebooks.filled(src, {"tanh": text.replace("        " + TANH_BODY, indented)
                                  + ("\n" + top if top else "")})


def with_added_cell(code, at=0, nb=None):
    nb = nb or notebooks.filled(source())
    nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    return nb


def attacks(decoy, port, course):
    """{student: (notebook, expected score, words the reason must contain)}."""
    src = source()
    _, subs, wrongs = known_wrong.corpus(ASSIGNMENT)
    out = {"reference": (subs["reference"]["vjps.ipynb"], FULL, None),
           "blank": (subs["blank"]["vjps.ipynb"], 0.0, "not implemented yet")}
    full_points = notebooks.points(src)
    for name, wrong in wrongs.items():
        kept = FULL - sum(full_points[p] for p in wrong.breaks)
        out[f"known-{name}"] = (subs[name]["vjps.ipynb"], kept, None)
    partial = notebooks.filled(src, {"tanh": notebooks.student_version(src).cells[
        [notebooks.grade_id(c) for c in notebooks.student_version(src).cells].index("tanh")
    ].source})
    lose = FULL - TANH_POINTS
    out.update({
        "partial": (partial, lose, "not implemented yet"),
        # -- cheats ------------------------------------------------------------------------
        "hardcoded": (with_tanh("grad_a = np.zeros_like(grad) + 0.25"), lose, "tanh"),
        "liar": (with_tanh(
            "class Liar(np.ndarray):\n"
            "    def __eq__(self, other): return True\n"
            "    def __array_ufunc__(self, *a, **k): return True\n"
            "grad_a = np.zeros_like(grad).view(Liar)"), lose, "Tanh"),
        "patched-asserts": (with_added_cell(
            "import numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None\n"
            "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})",
            nb=with_tanh("grad_a = grad")), lose, "Tanh"),
        "patched-checks": (with_added_cell(
            "import exercises.probes as p\np.verdict = lambda *a, **k: None\n"
            "p.check = lambda *a, **k: None"), 0.0, "reaches into the grader"),
        "forged-outputs": (with_tanh("grad_a = grad", top=(
            "import glob, numpy\nfor f in glob.glob('/scratch/out/*.npz'):\n"
            "    open(f, 'wb').close()\n")), lose, "Tanh"),
        "edited-test-cell": (_edit_test_cell(with_tanh("grad_a = grad * 2")), lose, "Tanh"),
        "deleted-test-cell": (_delete_test_cell(notebooks.filled(src)), FULL, None),
        "reruns-a-check": (with_added_cell(  # innocent: importing check to run it again
            'from exercises.probes import check\ncheck("vjps.tanh", Tanh)',
            at=len(src.cells)), FULL, None),
        "input-transformer": (with_added_cell(
            "ip = get_ipython()\nip.input_transformers_cleanup.append(lambda lines: [])\n"
            "%timeit 1 + 1", nb=with_tanh("grad_a = grad")), lose, "Tanh"),
        "delegates": (with_tanh(
            "t = ad.tensor(np.arctanh(out), requires_grad=True)\n"
            "grad_a = ad.grad(t.tanh(), t, ad.tensor(grad))[0].data"), lose, "not your own"),
        # -- attacks -----------------------------------------------------------------------
        "endless-loop": (with_tanh(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"),
            lose, "time limit per cell"),
        "os-exit": (with_tanh("import os\nos._exit(0)"), lose, "exited"),
        "memory-bomb": (with_tanh(
            "hog = []\nwhile True:\n    hog.append(np.ones(1 << 24))"), lose, "memory limit"),
        "fork-bomb": (with_tanh(
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
            "        pass"), lose, None),
        "disk-bomb": (with_tanh(
            "with open('/scratch/fill', 'wb') as f:\n    while True:\n"
            "        f.write(b'x' * (1 << 20))"), lose, "disk"),
        "output-flood": (with_added_cell(
            "import sys\nfor _ in range(100):\n    sys.stdout.write('y' * (1 << 20))"),
            FULL, None),
        "daemon": (with_tanh("grad_a = grad", top=(
            "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
            f"'import time\\nwhile True: time.sleep(1)', '{MARKER}'], "
            "start_new_session=True)")), lose, "Tanh"),
        "escape": (with_tanh("grad_a = grad", top=(
            "import os, socket\nfor path in %r:\n"
            "    try:\n        open(path, 'a').write('pwned')\n    except OSError:\n"
            "        pass\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=2)\n"
            "except OSError:\n    pass\nprint(dict(os.environ))\n"
            "print(open('/proc/1/environ', 'rb').read())\n"
            % ([str(decoy), str(ROOT / "solutions" / "vjps" / "vjps.ipynb"),
                str(course / "gradebook.db")], port))),
            lose, "Tanh"),
    })
    return out


def _edit_test_cell(nb):
    for cell in nb.cells:
        if notebooks.grade_id(cell) == "test_tanh":
            cell.source = "pass  # the student 'fixed' the test"
    return nb


def _delete_test_cell(nb):
    nb.cells = [c for c in nb.cells if notebooks.grade_id(c) != "test_tanh"]
    return nb


def autograder(*args, timeout=900, env=None):
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ)


def write_corpus(folder, corpus):
    for student, (nb, _, _) in corpus.items():
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True)
        nbformat.write(nb, str(target / "vjps.ipynb"))
    (folder / "absent").mkdir()        # a student who submitted nothing
    (folder / "garbled" / ASSIGNMENT).mkdir(parents=True)
    (folder / "garbled" / ASSIGNMENT / "vjps.ipynb").write_text("{not json")


def read_csv(path):
    with open(path, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def leftover_processes():
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARKER.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("autograder")
    decoy = tmp / "decoy.txt"
    decoy.write_text("the grader's private file\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                pass
    stop = threading.Event()
    threading.Thread(target=accept, daemon=True).start()
    course = tmp / "course"
    course.mkdir()
    corpus = attacks(decoy, listener.getsockname()[1], course)
    write_corpus(tmp / "submissions", corpus)
    env = dict(os.environ, **{SECRET_ENV: SECRET})
    start = time.monotonic()
    proc = autograder("grade", ASSIGNMENT, "--submissions", str(tmp / "submissions"),
                      "--course", str(course), "--jobs", "2", *LIMITS, env=env)
    seconds = time.monotonic() - start
    feedback = autograder("feedback", ASSIGNMENT, "--course", str(course), env=env)
    stop.set()
    time.sleep(0.3)
    listener.close()
    return {"tmp": tmp, "course": course, "corpus": corpus, "proc": proc,
            "feedback": feedback, "decoy": decoy, "connections": connections,
            "seconds": seconds}


def test_grading_completes_with_a_row_for_every_student(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_csv(graded["course"] / "grades.csv")
    expected = set(graded["corpus"]) | {"absent", "garbled"}
    assert set(rows) == expected
    assert rows["absent"]["status"] == "missing" and rows["absent"]["score"] == "0"
    assert rows["garbled"]["status"] == "unreadable"
    assert "could not be read" in rows["garbled"]["reason"]
    print(f"graded {len(rows)} submissions in {graded['seconds']:.1f} s")


@pytest.mark.parametrize("student", [
    "reference", "blank", "partial", "hardcoded", "liar", "patched-asserts",
    "patched-checks", "forged-outputs", "edited-test-cell", "deleted-test-cell",
    "reruns-a-check", "input-transformer", "delegates",
    "endless-loop", "os-exit", "memory-bomb", "fork-bomb", "disk-bomb", "output-flood",
    "daemon", "escape"])
def test_each_submission_scores_exactly_what_it_earned(graded, student):
    rows = read_csv(graded["course"] / "grades.csv")
    _, expected, words = graded["corpus"][student]
    row = rows[student]
    assert float(row["score"]) == expected, f"{student}: {row}"
    assert row["max_score"] == "19"
    if words:
        assert words.lower() in row["reason"].lower(), f"{student}: {row['reason']}"


def test_known_wrong_answers_lose_exactly_their_parts(graded):
    rows = read_csv(graded["course"] / "grades.csv")
    _, _, wrongs = known_wrong.corpus(ASSIGNMENT)
    points = notebooks.points(source())
    for name, wrong in wrongs.items():
        row = rows[f"known-{name}"]
        for part, full in points.items():
            want = 0.0 if part in wrong.breaks else full
            assert float(row[part]) == want, f"{wrong.name}: part {part} = {row[part]}"


def test_the_sandbox_held(graded):
    assert graded["decoy"].read_text() == "the grader's private file\n"
    assert "pwned" not in (ROOT / "solutions" / "vjps" / "vjps.ipynb").read_text()
    assert b"pwned" not in (graded["course"] / "gradebook.db").read_bytes()
    assert graded["connections"] == [], "a submission reached the host's loopback"
    assert leftover_processes() == [], "a submission's daemon outlived its grading"


def test_no_secret_and_no_hidden_test_in_any_report(graded):
    course = graded["course"]
    reports = [course / "grades.csv", *course.glob("feedback/*/*/*.html"),
               *course.glob(f"autograded/{ASSIGNMENT}/*.json")]
    assert len(reports) > 20, graded["feedback"].stdout + graded["feedback"].stderr
    hidden_seeds = set(re.findall(r"seed=(\d+)", "".join(
        c.source for c in source().cells if notebooks.is_test(c))))
    secret = (course / ".autograder_secret").read_text().strip()
    for path in reports:
        text = path.read_text()
        assert SECRET not in text, f"the host's environment leaked into {path}"
        assert secret not in text
        if path.suffix != ".json":  # results hold what the student printed, not reports
            assert "BEGIN HIDDEN" not in text and "seed=" not in text, path
            assert not any(s in text for s in hidden_seeds), path
    escape = (course / "feedback" / "escape" / ASSIGNMENT / "feedback.html").read_text()
    assert "Tanh" in escape


def test_feedback_explains_in_words(graded):
    page = (graded["course"] / "feedback" / "known-wrong01" / ASSIGNMENT /
            "feedback.html").read_text()
    assert "did you transpose" in page
    assert re.search(r"test_matmul: 0 / 2", page)


def test_gradebook_holds_the_same_scores(graded):
    from autograder.gradebook import Gradebook, default_url
    rows = read_csv(graded["course"] / "grades.csv")
    with Gradebook(default_url(graded["course"])) as gb:
        for student in ("reference", "blank", "endless-loop", "known-wrong01"):
            scores = gb.scores(ASSIGNMENT, student)
            assert sum(scores.values()) == float(rows[student]["score"]), student


def test_kill_minus_9_then_rerun_gives_the_same_csv(graded, tmp_path):
    """A grader killed mid-run loses nothing: the rerun grades the rest, and the CSV is
    the one an uninterrupted run wrote."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(graded["course"] / ".autograder_secret", course / ".autograder_secret")
    subs = tmp_path / "subs"
    shutil.copytree(graded["tmp"] / "submissions", subs,
                    ignore=lambda d, names: [n for n in names if n in
                                             ("endless-loop", "memory-bomb", "fork-bomb")])
    cmd = [sys.executable, "-m", "autograder.cli", "grade", ASSIGNMENT, "--submissions",
           str(subs), "--course", str(course), "--jobs", "2", *LIMITS]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = course / "autograded" / ASSIGNMENT
    deadline = time.monotonic() + 300
    while len(list(results.glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(results.glob("*.json")))
    assert 3 <= done_before < len(list(subs.iterdir())), "kill -9 came too late to test"
    rerun = autograder("grade", ASSIGNMENT, "--submissions", str(subs), "--course",
                       str(course), "--jobs", "2", *LIMITS)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{done_before} of" in rerun.stdout + rerun.stderr  # it resumed, not restarted
    full = read_csv(graded["course"] / "grades.csv")
    again = read_csv(course / "grades.csv")
    for student, row in again.items():
        assert {k: row[k] for k in ("score", "status")} == {
            k: full[student][k] for k in ("score", "status")}, student
    assert leftover_processes() == []


def test_scores_agree_with_plain_nbgrader(graded):
    """On honest submissions (no cheat, no attack) the autograder scores every part exactly
    as plain nbgrader does: the same checks, judged outside instead of inside the kernel."""
    from nbgrader_course import autograde_corpus
    nbgrader_scores, _, points = autograde_corpus(ASSIGNMENT)
    rows = read_csv(graded["course"] / "grades.csv")
    for name, parts in nbgrader_scores.items():
        ours = rows[name if name in ("reference", "blank") else f"known-{name}"]
        assert {p: float(ours[p]) for p in points} == parts, name
