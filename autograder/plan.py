"""What to run for one submission, decided from the trusted source notebook.

A submission contributes only its solution cells (matched by grade id) and the cells the
student added; given cells and test cells always come from the source, so an edited,
moved or deleted test cell changes nothing. A test cell is never executed: it is parsed
into its `check(...)` calls, and each becomes a probe step (the student's objects called
on generated inputs) whose outputs the grader judges outside the sandbox.
"""
import ast
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from . import notebooks

_HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


@dataclass(frozen=True)
class Call:
    """One `check(probe, *objects, seed=...)` of a test cell."""
    probe: str
    objects: tuple
    hidden: bool


@dataclass
class Part:
    """A graded test cell: its points and the checks that decide them."""
    grade_id: str
    notebook: str
    points: float
    calls: list


@dataclass
class Step:
    kind: str            # "exec" (a cell's code) or "probe" (a check's middle step)
    label: str           # for messages: the cell's grade id, or the part and call
    source: str = ""     # exec: the code
    part: str = ""       # probe: the test cell it belongs to
    call: Call = None    # probe: what to call
    seed: int = None     # probe: hidden cases' seed (None: the visible cases)
    student: bool = False  # exec: code the student wrote (solution or added cell)
    defines: set = field(default_factory=set)  # exec: top-level names it defines


class TestCellError(ValueError):
    """A test cell the autograder cannot judge outside the kernel."""


def parse_test_cell(cell, notebook_name):
    """The check calls of a test cell, visible first, then hidden."""
    gid = notebooks.grade_id(cell)
    hidden_src = "\n".join(m.group(1) for m in _HIDDEN_BLOCK.finditer(cell.source))
    calls = []
    for hidden, source in ((False, notebooks.strip_hidden(cell.source)), (True, hidden_src)):
        for stmt in ast.parse(source).body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            calls.append(_parse_call(stmt, hidden, f"{notebook_name}:{gid}"))
    if not calls:
        raise TestCellError(f"test cell {gid} in {notebook_name} has no check(...) call")
    return calls


def _parse_call(stmt, hidden, where):
    line = getattr(stmt, "lineno", "?")
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    ok = (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
          and call.func.id == "check" and call.args
          and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
          and all(isinstance(a, ast.Name) for a in call.args[1:])
          and all(k.arg == "seed" and isinstance(k.value, ast.Constant) for k in call.keywords))
    if not ok:
        raise TestCellError(
            f"test cell {where}, line {line}: expected only calls "
            f"check(\"probe.name\", Name, ..., seed=<int>) (and imports); the autograder "
            f"judges checks outside the kernel and cannot run other test code")
    if hidden != bool(call.keywords):
        raise TestCellError(f"test cell {where}, line {line}: a hidden check needs seed=, "
                            f"a visible one must not have it")
    return Call(call.args[0].value, tuple(a.id for a in call.args[1:]), hidden)


def parts(source_nb, notebook_name):
    return [Part(notebooks.grade_id(c), notebook_name, notebooks.meta(c).get("points", 0),
                 parse_test_cell(c, notebook_name))
            for c in source_nb.cells if notebooks.is_test(c)]


def hidden_seed(secret, assignment, part, index):
    """The seed of one hidden check: fixed by the instructor's secret (or a run's), so a
    regrade gives the same score, unknowable by a student who lacks it."""
    msg = f"{assignment}/{part}/{index}".encode()
    return int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest()[:8], "little")


def steps(source_nb, submission_nb, notebook_name, assignment, secret):
    """The steps for one notebook: source order, with the student's solution cells and
    added cells in place of the source's, and each test cell turned into probe steps."""
    submitted = {}
    added_before = {}  # grade id of a source cell -> student cells just before it
    pending = []
    for cell in (submission_nb.cells if submission_nb is not None else []):
        gid = notebooks.grade_id(cell)
        if cell.cell_type != "code":
            continue
        if gid is None:
            pending.append(cell.source)
        else:
            submitted.setdefault(gid, cell.source)  # a duplicated id: the first counts
            added_before.setdefault(gid, []).extend(pending)
            pending = []
    blank = notebooks.cells_by_id(notebooks.student_version(source_nb))
    out = []
    for cell in source_nb.cells:
        gid = notebooks.grade_id(cell)
        for extra in added_before.get(gid, []):
            out.append(_exec(extra, f"{notebook_name}: a cell you added", student=True))
        if cell.cell_type != "code":
            continue
        if notebooks.is_test(cell):
            for i, call in enumerate(parse_test_cell(cell, notebook_name)):
                seed = hidden_seed(secret, assignment, gid, i) if call.hidden else None
                out.append(Step("probe", f"{gid}[{i}]", part=gid, call=call, seed=seed))
        elif notebooks.is_solution(cell):
            source = submitted.get(gid, blank[gid].source)
            out.append(_exec(source, f"{notebook_name}:{gid}", student=True))
        else:
            out.append(_exec(cell.source, f"{notebook_name}:{gid or 'given code'}"))
    for extra in pending:
        out.append(_exec(extra, f"{notebook_name}: a cell you added", student=True))
    return out


def _exec(source, label, student=False):
    return Step("exec", label, source=source, student=student, defines=_defined(source))


def _defined(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names
