"""Judge one submission's probe outputs: points and reasons per part (trusted side).

Everything judged here is plain data: arrays read without pickle and strings. The verdict
of each check is `exercises.probes.verdict`, the same function a notebook's `check` calls,
so a submission scores here what it would score in a kernel no one tampered with. The
delegation scan reads the student's source text; nothing of theirs is ever called.
"""
import ast
from dataclasses import dataclass, field

from exercises import delegation, probes

# Reaching into the grader's side of the kernel, which a correct solution never needs:
# importing the checks (to patch them), sys.modules, a function's globals, or imports by
# string.
TAMPERING_IMPORTS = {"exercises", "autograder", "importlib"}
TAMPERING_NAMES = {"modules", "__import__", "importlib", "__globals__"}


@dataclass
class PartResult:
    grade_id: str
    notebook: str
    points: float
    max_points: float
    reason: str = None                        # why points were lost, in words
    visible: list = field(default_factory=list)  # (what, message or None) per visible check

    @property
    def passed(self):
        return self.reason is None


def judge(parts, steps, run_result):
    tampering = _tampering(steps)
    results = []
    for part in parts:
        result = PartResult(part.grade_id, part.notebook, 0.0, float(part.points))
        reasons = []
        for i, step in enumerate(steps):
            if step.kind != "probe" or step.part != part.grade_id:
                continue
            what = probes.get(step.call.probe).what
            message = _check(step, run_result.steps.get(i), steps, tampering)
            message = _explain_undefined(message, step, steps, run_result)
            if not step.call.hidden:
                result.visible.append((what, message))
            if message and not reasons:
                reasons.append(("hidden tests: " if step.call.hidden else "") + message)
        if reasons:
            result.reason = reasons[0]
        else:
            result.points = result.max_points
        results.append(result)
    return results


def _check(step, outcome, steps, tampering):
    p = probes.get(step.call.probe)
    if tampering:
        return f"{p.what}: scored 0 because your code reaches into the grader ({tampering[0]})"
    if outcome is None:
        return f"{p.what}: was not run"
    if outcome.fault:
        return f"{p.what}: {outcome.fault}"
    if outcome.error:
        return f"{p.what}: {outcome.error}"
    findings = _scan(step, steps) if p.scan else []
    return probes.verdict(step.call.probe, outcome.cases, outcome.outputs, step.call.hidden,
                          findings)


def _explain_undefined(message, step, steps, run_result):
    """'X is not defined' says little when the cell defining X crashed or raised: say so."""
    if not message or "is not defined" not in message:
        return message
    for i, other in enumerate(steps):
        outcome = run_result.steps.get(i)
        if (other.kind == "exec" and set(step.call.objects) & other.defines and outcome
                and (outcome.fault or outcome.error)):
            return (f"{message.split(':')[0]}: the cell that defines it ({other.label}) "
                    f"failed: {outcome.fault or outcome.error}")
    return message


def _scan(step, steps):
    """Delegation findings in the student's definition of the probe's first object."""
    name = step.call.objects[0] if step.call.objects else None
    attrs = probes.get(step.call.probe).scan
    found = []
    for other in steps:
        if other.kind != "exec" or not other.student or name not in other.defines:
            continue
        for node in ast.parse(other.source).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name in attrs:
                        found += [f"{name}.{item.name}: {f}"
                                  for f in delegation.scan(ast.unparse(item))]
            elif isinstance(node, ast.FunctionDef) and node.name == name:
                found += [f"{name}: {f}" for f in delegation.scan(ast.unparse(node))]
    return found


def _tampering(steps):
    found = []
    for step in steps:
        if step.kind != "exec" or not step.student:
            continue
        try:
            tree = ast.parse(step.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            hits = []
            if isinstance(node, ast.Import):
                hits = [a.name for a in node.names if a.name.split(".")[0] in TAMPERING_IMPORTS]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [a.name for a in node.names]
                # re-importing `check` to run a visible test again is fine; anything else
                # from the checks' package is a way to patch them
                allowed = module == "exercises.probes" and names == ["check"]
                if module.split(".")[0] in TAMPERING_IMPORTS and not allowed:
                    hits = [module]
            elif isinstance(node, ast.Name) and node.id in TAMPERING_NAMES:
                hits = [node.id]
            elif isinstance(node, ast.Attribute) and node.attr in TAMPERING_NAMES:
                hits = [node.attr]
            if hits:
                found.append(f"{step.label}, line {node.lineno}: {hits[0]}")
    return found
