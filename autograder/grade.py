"""`autograder grade`: every submission of an assignment, in parallel, resumable.

Grading one submission is a pure function of (submission, tests, secret) -> result
(`grade_one`), so it can run in any worker process, on this machine or a Dask cluster's
(`executors`), or again: a job carries the bytes of the submission and of the source
notebooks, so a worker elsewhere needs no shared folder. Each result is written
atomically to `<course>/autograded/<assignment>/<student>.json` as soon as it exists; a
rerun after a crash, kill -9 or Ctrl-C skips every submission whose result matches its
current files and test suite, and grades the rest. Only this process writes the gradebook
and the CSV.
"""
import functools
import hashlib
import itertools
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import nbformat

from exercises import probes

from . import compare, executors, notebooks, plan, report
from .gradebook import Gradebook, course_url
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


def source_bytes(assignment):
    """{file name: bytes} of the assignment's source notebooks, in order."""
    return {path.name: path.read_bytes() for path in notebooks.source_notebooks(assignment)}


def suite_hash(assignment, sources=None):
    """Hash of what decides this assignment's scores: its source notebooks (`sources`, as
    source_bytes gives them; default: read from solutions/), the checks' shared code and the
    modules its probes live in (not other assignments' probes), as this checkout has them."""
    h = hashlib.sha256()
    modules = set(CHECKS_CORE)
    for name, data in (source_bytes(assignment) if sources is None else sources).items():
        h.update(name.encode() + b"\0" + data)
        for part in plan.parts(nbformat.reads(data.decode(), as_version=4), name):
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
    return contents_hash({name: path.read_bytes() if path else None
                          for name, path in files.items()})


def contents_hash(contents):
    """{name: bytes or None} -> the submission's hash."""
    h = hashlib.sha256()
    for name, data in sorted(contents.items()):
        h.update(name.encode() + b"\0" + (b"<missing>" if data is None else data))
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def _worker_suite(assignment, sources):
    """suite_hash, once per worker process and assignment (the modules it reads are the
    ones this process has imported)."""
    return suite_hash(assignment, dict(sources))


def grade_one(job):
    """Grade one student's submission of one assignment; a JSON-able dict. `job` carries
    the submission's notebooks (bytes, or None if missing) and the source notebooks' bytes;
    the checks' code is this checkout's, and must hash to the suite the grader expects."""
    assignment, student = job["assignment"], job["student"]
    if _worker_suite(assignment, tuple(sorted(job["sources"].items()))) != job["suite"]:
        raise RuntimeError("this worker's checks (src/exercises) differ from the grader's: run "
                           "every worker from the grader's checkout and environment")
    files = job["files"]
    limits = Limits(**job["limits"])
    base = {"student_id": student, "assignment": assignment, "suite": job["suite"],
            "secret_id": job["secret_id"], "submission": job["submission"],
            "sandboxed": not job["unsandboxed"], "version": RESULT_VERSION}
    start = time.monotonic()
    parts_out, problems, printed = [], [], []
    workroot = Path(tempfile.mkdtemp(prefix=f"grade-{student}-", dir=job["workdir"]))
    try:
        for name, data in sorted(job["sources"].items()):
            source = nbformat.reads(data.decode(), as_version=4)
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


def _read_submission(data, name):
    if data is None:
        return None, f"{name} was not submitted"
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4), None
    except Exception as e:  # noqa: BLE001  (any unreadable file is the student's problem)
        return None, f"{name} could not be read as a notebook ({type(e).__name__})"


class Grader:
    """Grades one assignment's submissions from `submissions` into `course`."""

    def __init__(self, assignment, submissions, course, *, jobs=1, scheduler=None,
                 db_url=None, limits=Limits(), unsandboxed=False, regrade=(), out=print):
        self.assignment = assignment
        self.submissions = Path(submissions)
        self.course = Path(course)
        self.jobs = max(1, int(jobs))
        self.scheduler = scheduler or None  # a Dask scheduler's address: grade on its cluster
        self.db_url = db_url or None
        self.limits = limits
        self.unsandboxed = unsandboxed
        self.regrade = set(regrade)
        self.out = out
        self.sources = source_bytes(assignment)
        self.results_dir = self.course / "autograded" / assignment
        self.secret = secret(self.course)
        self.suite = suite_hash(assignment, self.sources)

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

    def jobs_for(self, students, workdir):
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
                         "unsandboxed": self.unsandboxed, "workdir": workdir})
        return jobs, done

    @staticmethod
    def _loaded(job):
        """The job as it is sent: the submission's bytes instead of its paths (read as late
        as this, so only the jobs in flight are held in memory), hashed as read."""
        files = {k: (Path(v).read_bytes() if v else None) for k, v in job["files"].items()}
        return {**job, "files": files, "submission": contents_hash(files)}

    def run(self):
        """Grade what is not graded yet; returns {student: result}. Ctrl-C stops cleanly:
        finished results are kept, the CSV is written, a rerun resumes."""
        students = self.students()
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = self.course / "autograded" / ".work"
        shutil.rmtree(self.workdir, ignore_errors=True)  # what a killed run left behind
        self.workdir.mkdir(parents=True)
        sources = {n: nbformat.reads(b.decode(), as_version=4) for n, b in self.sources.items()}
        url = self.db_url or course_url(self.course)
        interrupted = False
        pool = executors.make(self.jobs, self.scheduler)
        try:
            # a remote worker grades in its own temporary folder, not in this course folder
            jobs, results = self.jobs_for(students, None if pool.remote else str(self.workdir))
            problems = pool.problems(self.unsandboxed) if jobs else []
            if problems:
                raise executors.ClusterError("; ".join(problems))
            if jobs:
                self.out(f"grading {len(jobs)} submissions on {pool.describe()}")
            progress = report.Progress(len(students), len(results), out=self.out)
            with Gradebook(url) as gb:
                gb.declare(self.assignment, sources)
                for result in results.values():
                    self._record(gb, result)
                todo, pending = iter(jobs), {}
                try:
                    while True:
                        for job in itertools.islice(todo, pool.window - len(pending)):
                            job = self._loaded(job)
                            pending[pool.submit(grade_one, job)] = job
                        if not pending:
                            break
                        for future in pool.wait_any(pending):
                            job = pending.pop(future)
                            result = self._result(future, job)
                            self._save(result)
                            self._record(gb, result)
                            results[job["student"]] = result
                            progress.advance(job["student"], result)
                except KeyboardInterrupt:
                    interrupted = True
                    pool.cancel()
        finally:
            pool.close()
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
