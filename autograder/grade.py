"""`autograder grade`: every submission of an assignment, in parallel, resumable.

Grading one submission is a pure function of (submission, tests, secret) -> result
(`grade_one`), so it can run in any worker process, or again. Each result is written
atomically to `<course>/autograded/<assignment>/<student>.json` as soon as it exists; a
rerun after a crash, kill -9 or Ctrl-C skips every submission whose result matches its
current files and test suite, and grades the rest. Only this process writes the gradebook
and the CSV.
"""
import ctypes
import hashlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

import nbformat

from exercises import probes

from . import compare, notebooks, plan, report
from .gradebook import Gradebook
from .run import run
from .sandbox import Limits

RESULT_VERSION = 1


def secret(course):
    """The instructor's secret that fixes the hidden tests' seeds: created once, kept in the
    course folder (never in a sandbox). Delete it to draw new hidden cases."""
    path = Path(course) / ".autograder_secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


CHECKS_CORE = ("probes", "diagnose", "numerics", "delegation")


def suite_hash(assignment):
    """Hash of what decides this assignment's scores: its source notebooks, the checks'
    shared code and the modules its probes live in (not other assignments' probes)."""
    h = hashlib.sha256()
    modules = set(CHECKS_CORE)
    for path in notebooks.source_notebooks(assignment):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
        for part in plan.parts(notebooks.read(path), path.name):
            modules.update(probes.get(c.probe).run.__module__.rsplit(".", 1)[-1]
                           for c in part.calls)
    for name in sorted(modules):
        path = notebooks.ROOT / "src" / "exercises" / f"{name}.py"
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def submission_files(submissions, student, assignment):
    """{source notebook name: path of the student's copy, or None if missing}."""
    folder = Path(submissions) / student / assignment
    found = {}
    sources = [p.name for p in notebooks.source_notebooks(assignment)]
    present = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    for name in sources:
        path = folder / name
        if not path.is_file() and len(sources) == 1 and len(present) == 1:
            path = present[0]  # one notebook, renamed by a download ("vjps (1).ipynb")
        found[name] = path if path.is_file() else None
    return found


def submission_hash(files):
    h = hashlib.sha256()
    for name, path in sorted(files.items()):
        h.update(name.encode() + b"\0" + (path.read_bytes() if path else b"<missing>"))
    return h.hexdigest()[:16]


def grade_one(job):
    """Grade one student's submission of one assignment; a JSON-able dict."""
    assignment, student = job["assignment"], job["student"]
    files = {k: (Path(v) if v else None) for k, v in job["files"].items()}
    limits = Limits(**job["limits"])
    base = {"student_id": student, "assignment": assignment, "suite": job["suite"],
            "secret_id": job["secret_id"], "submission": job["submission"],
            "sandboxed": not job["unsandboxed"], "version": RESULT_VERSION}
    start = time.monotonic()
    parts_out, problems, printed = [], [], []
    workroot = Path(tempfile.mkdtemp(prefix=f"grade-{student}-", dir=job["workdir"]))
    try:
        for name, source_path in sorted(job["sources"].items()):
            source = notebooks.read(source_path)
            parts = plan.parts(source, name)
            submitted, problem = _read_submission(files.get(name), name)
            if problem:
                problems.append(problem)
            if submitted is None:  # nothing of the student's to run: every part scores 0
                parts_out += [asdict(compare.PartResult(p.grade_id, name, 0.0,
                                                        float(p.points), reason=problem))
                              for p in parts]
                continue
            steps = plan.steps(source, submitted, name, assignment, bytes.fromhex(job["secret"]))
            outcome = run(steps, workroot / Path(name).stem, limits,
                          unsandboxed=job["unsandboxed"])
            printed.append(outcome.output)
            parts_out += [asdict(part) for part in compare.judge(parts, steps, outcome)]
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    score = sum(p["points"] for p in parts_out)
    status = "graded"
    if problems and all(files.get(n) is None for n in job["sources"]):
        status = "missing"
    elif problems:
        status = "unreadable" if any("could not be read" in p for p in problems) else "partial"
    return {**base, "status": status, "reason": "; ".join(problems) or None,
            "score": score, "max_score": sum(p["max_points"] for p in parts_out),
            "parts": parts_out, "seconds": round(time.monotonic() - start, 3),
            "output": "".join(printed)[-20000:]}


def _worker_init():
    """Workers leave Ctrl-C to the parent (which saves what is done, then stops them) and
    die with it, even under kill -9, taking their sandboxes with them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _read_submission(path, name):
    if path is None:
        return None, f"{name} was not submitted"
    try:
        return nbformat.read(str(path), as_version=4), None
    except Exception as e:  # noqa: BLE001  (any unreadable file is the student's problem)
        return None, f"{name} could not be read as a notebook ({type(e).__name__})"


class Grader:
    """Grades one assignment's submissions from `submissions` into `course`."""

    def __init__(self, assignment, submissions, course, *, jobs=1, db_url=None,
                 limits=Limits(), unsandboxed=False, regrade=(), out=print):
        self.assignment = assignment
        self.submissions = Path(submissions)
        self.course = Path(course)
        self.jobs = max(1, int(jobs))
        self.db_url = db_url or None
        self.limits = limits
        self.unsandboxed = unsandboxed
        self.regrade = set(regrade)
        self.out = out
        self.sources = {p.name: str(p) for p in notebooks.source_notebooks(assignment)}
        self.results_dir = self.course / "autograded" / assignment
        self.secret = secret(self.course)
        self.suite = suite_hash(assignment)

    def students(self):
        if not self.submissions.is_dir():
            raise FileNotFoundError(f"--submissions {self.submissions}: no such folder; "
                                    f"expected <student_id>/{self.assignment}/<notebook>.ipynb")
        return sorted(p.name for p in self.submissions.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def result_path(self, student):
        return self.results_dir / f"{student}.json"

    def cached(self, student, sub_hash):
        path = self.result_path(student)
        if student in self.regrade or not path.exists():
            return None
        try:
            result = json.loads(path.read_text())
        except ValueError:
            return None  # a torn write cannot happen (atomic rename), but be safe
        same = (result.get("suite") == self.suite and result.get("submission") == sub_hash
                and result.get("secret_id") == self._secret_id()
                and result.get("sandboxed") == (not self.unsandboxed)
                and result.get("version") == RESULT_VERSION)
        return result if same else None

    def _secret_id(self):
        return hashlib.sha256(self.secret).hexdigest()[:12]

    def jobs_for(self, students):
        jobs, done = [], {}
        for student in students:
            files = submission_files(self.submissions, student, self.assignment)
            sub_hash = submission_hash(files)
            cached = self.cached(student, sub_hash)
            if cached is not None:
                done[student] = cached
                continue
            jobs.append({"assignment": self.assignment, "student": student,
                         "files": {k: (str(v) if v else None) for k, v in files.items()},
                         "sources": self.sources, "suite": self.suite,
                         "secret": self.secret.hex(), "secret_id": self._secret_id(),
                         "submission": sub_hash, "limits": asdict(self.limits),
                         "unsandboxed": self.unsandboxed, "workdir": str(self.workdir)})
        return jobs, done

    def run(self):
        """Grade what is not graded yet; returns {student: result}. Ctrl-C stops cleanly:
        finished results are kept, the CSV is written, a rerun resumes."""
        students = self.students()
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = self.course / "autograded" / ".work"
        shutil.rmtree(self.workdir, ignore_errors=True)  # what a killed run left behind
        self.workdir.mkdir(parents=True)
        jobs, results = self.jobs_for(students)
        sources = {n: notebooks.read(p) for n, p in self.sources.items()}
        url = self.db_url or f"sqlite:///{self.course.resolve() / 'gradebook.db'}"
        progress = report.Progress(len(students), len(results), out=self.out)
        interrupted = False
        with Gradebook(url) as gb:
            gb.declare(self.assignment, sources)
            for result in results.values():
                self._record(gb, result)
            pool = ProcessPoolExecutor(self.jobs, initializer=_worker_init)
            try:
                pending = {pool.submit(grade_one, job): job for job in jobs}
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        job = pending.pop(future)
                        result = self._result(future, job)
                        self._save(result)
                        self._record(gb, result)
                        results[job["student"]] = result
                        progress.advance(job["student"], result)
            except KeyboardInterrupt:
                interrupted = True
                workers = list((pool._processes or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in workers:  # their sandboxes die with them (--die-with-parent)
                    proc.kill()
            finally:
                pool.shutdown(wait=not interrupted, cancel_futures=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        progress.finish(interrupted)
        if interrupted:  # the CSV says what a rerun will keep: the results on disk
            results = {s: r for s, r in results.items() if r["status"] == "error"}
            for student in students:
                if self.result_path(student).exists():
                    results[student] = json.loads(self.result_path(student).read_text())
        csv = report.write_csv(self.course / "grades.csv", self.assignment, students, results,
                               self._part_ids(sources))
        self.out(f"wrote {csv} ({len(results)} of {len(students)} graded)")
        if interrupted:
            raise KeyboardInterrupt
        return results

    def _result(self, future, job):
        try:
            return future.result()
        except Exception as e:  # noqa: BLE001  (a grader bug must not lose the others)
            return {"student_id": job["student"], "assignment": self.assignment,
                    "status": "error", "reason": f"the grader failed: {type(e).__name__}: {e}",
                    "score": 0.0, "max_score": None, "parts": [], "suite": self.suite,
                    "submission": job["submission"], "secret_id": self._secret_id(),
                    "sandboxed": not self.unsandboxed, "version": RESULT_VERSION}

    def _save(self, result):
        if result["status"] == "error":
            return  # not cached: a rerun tries again
        path = self.result_path(result["student_id"])
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)

    def _record(self, gb, result):
        if result.get("parts"):
            gb.record(self.assignment, result["student_id"],
                      [compare.PartResult(**{k: v for k, v in p.items()
                                             if k in compare.PartResult.__dataclass_fields__})
                       for p in result["parts"]])

    @staticmethod
    def _part_ids(sources):
        return [gid for nb in sources.values() for gid in notebooks.points(nb)]
