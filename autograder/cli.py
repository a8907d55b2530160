"""`autograder`: the instructor's command line, one subcommand per step.

Each subcommand is a subparser made by an `_add_<command>` function, which sets `run` to
the function that carries it out; `main` parses and calls `args.run(args)`. A new command
is one more `_add_` function and one line in `parser()`.
"""
import argparse
import os
import sys
from pathlib import Path

from . import check, executors, notebooks, release, report
from .grade import Grader
from .sandbox import Limits, Sandbox

DESCRIPTION = """\
The instructor's tool for the course's nbgrader assignments.

The sources are nbgrader source notebooks in solutions/<assignment>/*.ipynb (reference
solutions, visible and hidden tests, points); that folder also works as a plain nbgrader
course's source/ folder.

A term, in order:
  autograder release              student versions into release/, after checking each
                                  test suite against the reference, the blank version and
                                  the known-wrong answers
  (collect the submissions as     SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb)
  autograder grade ASSIGNMENT --submissions SUBMISSIONS
                                  sandboxed, parallel, resumable: gradebook + grades.csv
  autograder feedback ASSIGNMENT  one HTML page per student
"""


class CommandError(Exception):
    """A problem the instructor can fix, said in words (exit status 2)."""


def _add_release(commands):
    command = commands.add_parser(
        "release",
        help="write the student versions of the assignments",
        description=(
            "Write the student version of each notebook of an assignment (or of every "
            "assignment) to DIR/<assignment>/<notebook>.ipynb, made by nbgrader's own "
            "preprocessors as `nbgrader generate_assignment` makes them: solution regions "
            "replaced by `raise NotImplementedError()`, hidden tests removed, outputs "
            "cleared, given cells locked. A notebook that is already up to date is left "
            "untouched."),
    )
    command.add_argument(
        "assignment", nargs="?", metavar="ASSIGNMENT",
        help=f"a folder of {notebooks.SOLUTIONS}; default: every assignment "
             f"({', '.join(release.assignments()) or 'none yet'})")
    command.add_argument(
        "--out", type=Path, default=release.DEFAULT_OUT, metavar="DIR",
        help=f"where to write them (default: {release.DEFAULT_OUT}/ in the current "
             "directory, the place of nbgrader's release/ folder in a course)")
    command.add_argument(
        "--no-check", action="store_true",
        help="skip the pre-release check (each suite graded, sandboxed, against the "
             "reference, which must score full marks, the blank version, which must score "
             "0, and every known-wrong answer in autograder/known_wrong, each of which must "
             "lose exactly the points of the parts it breaks)")
    command.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                         help="submissions the check grades at once (default: CPUs)")
    command.add_argument("--unsandboxed", action="store_true",
                         help="run the check without the sandbox (the code is the course's "
                              "own, but see `grade --help`)")
    command.set_defaults(run=_release)


def _release(args):
    names = [args.assignment] if args.assignment else release.assignments()
    if not names:
        raise release.UnknownAssignment(f"there are no assignments in {notebooks.SOLUTIONS}")
    versions = {name: release.student_versions(name) for name in names}
    if not args.no_check:
        _require_sandbox(args)
        found = [p for name in names for p in check.problems(
            name, jobs=args.jobs, unsandboxed=args.unsandboxed)]
        if found:
            raise CommandError("the release is stopped; fix the test suites first:\n  "
                               + "\n  ".join(found))
    for name in names:
        for path, changed in release.write(versions[name], args.out / name):
            print(f"wrote {path}" if changed else f"up to date: {path}")
    return 0


_SIZE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _bytes(text):
    """'768M', '2G', '65536' -> bytes."""
    number, unit = text[:-1] if text[-1:].upper() in "KMG" else text, text[-1:].upper()
    unit = unit if unit in "KMG" else ""
    try:
        return int(float(number) * _SIZE[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; expected e.g. 512M, "
                                         f"2G or a number of bytes") from None


def _add_course(command):
    command.add_argument(
        "--course", type=Path, default=Path("."), metavar="DIR",
        help="the course folder: gradebook.db, grades.csv, autograded/ (results), "
             "feedback/ and the hidden tests' secret live here (default: the current "
             "directory)")


def _add_grade(commands):
    limits = Limits()
    command = commands.add_parser(
        "grade", help="grade every submission of an assignment (sandboxed, in parallel)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Grade DIR/<student_id>/ASSIGNMENT/<notebook>.ipynb for every student folder in DIR.

Each submission runs in its own sandbox (bubblewrap: an unprivileged user, no network, no
view of the course, solutions or other submissions, limits on time, memory, processes,
disk and output). Only its solution cells and cells it added are taken from the
submission; given cells and tests come from solutions/ASSIGNMENT. Inside, only the
checks' probes run (the student's code called on generated inputs); their outputs leave as
plain arrays, and the grader compares them with the expected values outside, where the
student's code cannot reach. Hidden inputs are drawn from a secret kept in the course
folder (.autograder_secret, created on first use), so a regrade gives the same score.

Writes: scores into nbgrader's gradebook (gradebook.db, or --db), COURSE/grades.csv (one
row per student: score, max_score, status, reason, points per part), and one result per
student in COURSE/autograded/ASSIGNMENT/. Rerunning after a crash, kill -9 or Ctrl-C grades
only what is missing; a submission whose files changed is graded again.

On one machine, --jobs worker processes grade (the default). With --scheduler, the jobs go
to a Dask cluster's workers instead (each started with this project's environment, as root
with bubblewrap, so each runs the same sandbox); this process collects the results and
alone writes them. Several `grade` runs may share one PostgreSQL gradebook (--db).""")
    command.add_argument("assignment", metavar="ASSIGNMENT")
    command.add_argument("--submissions", type=Path, required=True, metavar="DIR",
                         help="folder of <student_id>/ASSIGNMENT/<notebook>.ipynb")
    _add_course(command)
    command.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                         help="submissions graded at once (default: the number of CPUs, "
                              f"{os.cpu_count()})")
    command.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                         help="grade on the workers of this Dask scheduler instead of in "
                              "local processes (--jobs is then ignored)")
    command.add_argument("--db", metavar="URL",
                         help="the gradebook as an SQLAlchemy URL, as nbgrader's db_url "
                              "(default: c.CourseDirectory.db_url in COURSE/nbgrader_config.py, "
                              "else sqlite:///COURSE/gradebook.db; PostgreSQL: "
                              "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB, safe for "
                              "several graders at once)")
    command.add_argument("--regrade", action="append", default=[], metavar="STUDENT",
                         help="grade this student again even if a result exists "
                              "(repeatable)")
    command.add_argument("--cell-seconds", type=float, default=limits.cell_seconds,
                         metavar="S", help="time limit per cell and per check "
                                           f"(default: {limits.cell_seconds:g})")
    command.add_argument("--submission-seconds", type=float,
                         default=limits.submission_seconds, metavar="S",
                         help=f"time limit per submission (default: "
                              f"{limits.submission_seconds:g})")
    command.add_argument("--memory", type=_bytes, default=limits.memory_bytes, metavar="SIZE",
                         help="memory per submission, no swap (default: 2G)")
    command.add_argument("--processes", type=int, default=limits.processes, metavar="N",
                         help=f"processes and threads per submission (default: "
                              f"{limits.processes})")
    command.add_argument("--disk", type=_bytes, default=limits.disk_bytes, metavar="SIZE",
                         help="disk space per submission (default: 256M)")
    command.add_argument("--output", type=_bytes, default=limits.output_bytes,
                         metavar="SIZE", help="printed output kept per run (default: 1M)")
    command.add_argument("--unsandboxed", action="store_true",
                         help="run student code WITHOUT the sandbox (only where one cannot "
                              "be set up; every result and report says so)")
    command.set_defaults(run=_grade)


def _limits(args):
    return Limits(cell_seconds=args.cell_seconds, submission_seconds=args.submission_seconds,
                  memory_bytes=args.memory, processes=args.processes, disk_bytes=args.disk,
                  output_bytes=args.output)


def _require_sandbox(args):
    ok, why = Sandbox.available()
    if ok or args.unsandboxed:
        if not ok:
            print(f"WARNING: grading without a sandbox ({why}): student code runs as you, "
                  f"with your files and network", file=sys.stderr)
        return
    raise CommandError(f"the sandbox cannot be set up here: {why}. Fix that (as root, with "
                       f"bubblewrap installed), or pass --unsandboxed to grade without it")


def _grade(args):
    release.student_versions(args.assignment)  # an unknown assignment fails here, clearly
    if not args.scheduler:  # on a cluster, the grader checks every worker's sandbox
        _require_sandbox(args)
    args.course.mkdir(parents=True, exist_ok=True)
    grader = Grader(args.assignment, args.submissions, args.course, jobs=args.jobs,
                    scheduler=args.scheduler, db_url=args.db, limits=_limits(args),
                    unsandboxed=args.unsandboxed, regrade=args.regrade)
    try:
        grader.run()
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, executors.ClusterError) as e:
        raise CommandError(str(e)) from None
    return 0


def _add_feedback(commands):
    command = commands.add_parser(
        "feedback", help="write one HTML report per student",
        description="Write COURSE/feedback/<student>/ASSIGNMENT/feedback.html for every "
                    "graded submission: the score per part, what the visible tests said, and "
                    "for each lost point what failed and why, in words. Hidden tests' source, "
                    "inputs and expected values are never in it.")
    command.add_argument("assignment", metavar="ASSIGNMENT")
    _add_course(command)
    command.set_defaults(run=_feedback)


def _feedback(args):
    try:
        report.write_feedback(args.course, args.assignment)
    except FileNotFoundError as e:
        raise CommandError(str(e)) from None
    return 0


def parser():
    top = argparse.ArgumentParser(
        prog="autograder", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True,
        help="run `autograder COMMAND --help` for its options")
    _add_release(commands)
    _add_grade(commands)
    _add_feedback(commands)
    return top


def main(argv=None):
    top = parser()
    args = top.parse_args(argv)
    try:
        return args.run(args)
    except (release.UnknownAssignment, CommandError) as err:
        top.exit(2, f"autograder {args.command}: error: {err}\n")


if __name__ == "__main__":
    sys.exit(main())
