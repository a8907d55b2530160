"""The reference solution of a source notebook as live Python objects, for tests that call
the checks directly (calibration, messages) without a kernel.

    ns = reference_namespace("vjps")          # every non-test code cell, executed
    check("vjps.matmul", ns["MatMul"], seed=3)

Cells are compiled under a file name registered in `linecache`, so `inspect.getsource`
works on what they define (the delegation scan reads it), as it does in a kernel.
`replace` swaps a solution cell's text (by grade id), e.g. for a known-wrong answer.
"""
from __future__ import annotations

import linecache
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder import notebooks  # noqa: E402


def reference_namespace(assignment, notebook=None, replace=None):
    paths = notebooks.source_notebooks(assignment)
    path = next(p for p in paths if notebook in (None, p.name))
    nb = notebooks.filled(notebooks.read(path), replace)
    ns = {"__name__": f"reference_{assignment}"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or notebooks.is_test(cell):
            continue
        filename = f"<{path.name} cell {i}>"
        linecache.cache[filename] = (len(cell.source), None,
                                     cell.source.splitlines(True), filename)
        exec(compile(cell.source, filename, "exec"), ns)
    return ns
