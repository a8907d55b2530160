"""What the tests of every assignment share: the facts read from its source notebook, and
the contract every assignment keeps. Each tests/test_exercise_*.py starts with

    A = Assignment("vjps")

    class TestContract(Contract):
        assignment = A

and adds what is particular to its assignment (its messages, calibration, delegation).
"""
import ast

import pytest

from autograder import known_wrong, notebooks
from exercises.probes import check
from nbgrader_course import BLANK, REFERENCE, autograde_corpus


def checks(source):
    """(probe name, argument names, seed or None) of each check(...) call in a test cell."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check":
            seed = next((k.value.value for k in node.keywords if k.arg == "seed"), None)
            calls.append((node.args[0].value, [a.id for a in node.args[1:]], seed))
    return calls


class Assignment:
    def __init__(self, name):
        self.name = name
        self.source = notebooks.read(notebooks.source_notebooks(name)[0])
        self.cells = notebooks.cells_by_id(self.source)
        self.wrong = known_wrong.for_assignment(name)
        self.test_cells = {gid: c for gid, c in self.cells.items() if notebooks.is_test(c)}
        calls = [call for c in self.test_cells.values() for call in checks(c.source)]
        self.probe_names = sorted({probe for probe, _, _ in calls})
        self.arguments = {probe: args for probe, args, _ in calls}
        self.hidden_seeds = {probe: seed for probe, _, seed in calls if seed is not None}

    def objects(self, ns, probe_name):
        """The objects a probe's check call passes, looked up in a notebook namespace."""
        return [ns[name] for name in self.arguments[probe_name]]

    def message(self, ns, probe_name, seed=None):
        """What the check says when it fails (it must fail)."""
        with pytest.raises(AssertionError) as failure:
            check(probe_name, *self.objects(ns, probe_name), seed=seed)
        return str(failure.value)


class Contract:
    """Every assignment: test cells a grader can parse, a blank that runs and fails only its
    checks, known-wrong edits that land, and real nbgrader scoring it as planned."""

    assignment: Assignment

    def test_every_test_cell_is_check_calls_each_with_a_hidden_seeded_twin(self):
        for gid, cell in self.assignment.test_cells.items():
            tree = ast.parse(cell.source)
            assert all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                       and s.value.func.id == "check" for s in tree.body), gid
            visible = checks(notebooks.strip_hidden(cell.source))
            assert visible and all(seed is None for _, _, seed in visible), gid
            assert len(checks(cell.source)) == 2 * len(visible), gid

    def test_the_blank_runs_top_to_bottom_and_each_visible_check_fails_cleanly(self):
        """The student version's given and blank cells run; each visible check then fails
        with an AssertionError (not a crash) that says what to do."""
        ns = {}
        for cell in notebooks.student_version(self.assignment.source).cells:
            if cell.cell_type != "code":
                continue
            if notebooks.is_test(cell):
                with pytest.raises(AssertionError, match="not implemented yet"):
                    exec(compile(cell.source, "<test cell>", "exec"), ns)
            else:
                exec(compile(cell.source, "<cell>", "exec"), ns)

    def test_each_known_wrong_edit_lands_once_in_its_cell(self):
        """`old` occurs exactly once in its cell: a second copy (in a docstring or the given
        forward, say) would take the edit and leave the code right."""
        a = self.assignment
        for wrong in a.wrong:
            text = notebooks.strip_solution_markers(a.cells[wrong.cell].source)
            assert text.count(wrong.old) == 1, wrong.name
            assert set(wrong.breaks) <= set(a.test_cells), wrong.name

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls):
        return autograde_corpus(cls.assignment.name)

    def test_real_nbgrader_gives_the_reference_full_marks_and_the_blank_zero(self, graded):
        scores, _, max_points = graded
        assert scores[REFERENCE] == max_points
        assert scores[BLANK] == {gid: 0.0 for gid in max_points}

    def test_each_known_wrong_answer_loses_exactly_the_parts_it_breaks(self, graded):
        scores, wrongs, max_points = graded
        assert len(wrongs) == len(self.assignment.wrong)
        for name, wrong in wrongs.items():
            want = {gid: 0.0 if gid in wrong.breaks else pts for gid, pts in max_points.items()}
            assert scores[name] == want, wrong.name
