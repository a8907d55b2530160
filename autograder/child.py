"""The only autograder code that runs inside the sandbox, beside the student's.

    python -I child.py PLAN.json PROTOCOL_FD ACK_FD

Runs the plan's steps in order in one namespace: an exec step runs a cell's code; a probe
step loads generated inputs from `cases/<i>.npz`, calls the student's objects on them
(`exercises.probes.collect`) and writes the outputs to `out/<i>.npz` plus `out/<i>.json`.
Before and after each step it writes a JSON line to PROTOCOL_FD, so the grader outside can
time each step and knows which one a crash interrupted; after each step it waits for a
byte on ACK_FD, so the grader has read a probe's outputs before any more student code runs
(and could rewrite them).

Nothing here is trusted: the student's code can rewrite any of it. What leaves is plain data
(arrays and JSON), judged by the grader, which never calls anything it receives. The file
imports only the standard library and numpy before student code runs, and deliberately
holds no secret.
"""
import json
import os
import sys
import traceback


def main(plan_path, protocol_fd, ack_fd):
    import numpy as np

    from exercises import probes
    protocol = os.fdopen(int(protocol_fd), "w", buffering=1)
    with open(plan_path) as f:
        plan = json.load(f)
    folder = os.path.dirname(os.path.abspath(plan_path))
    namespace = {"__name__": "__main__"}
    for step in plan["steps"]:
        i = step["index"]
        protocol.write(json.dumps({"start": i}) + "\n")
        error = None
        if step["kind"] == "exec":
            try:
                code = _compile(step["source"], f"<cell {step['label']}>", namespace)
                exec(code, namespace)
            except BaseException as e:  # noqa: BLE001  (SystemExit in a cell is its error too)
                error = f"{type(e).__name__}: {e}"
                traceback.print_exc()
        else:
            error = _probe(np, probes, namespace, step, folder)
        sys.stdout.flush()
        sys.stderr.flush()
        protocol.write(json.dumps({"end": i, "error": error}) + "\n")
        if not os.read(int(ack_fd), 1):
            return  # the grader is gone


def _compile(source, name, namespace):
    """A cell's code. IPython syntax (`%timeit`, `!ls`) is turned into calls as a kernel
    would, and the calls do nothing here: grading needs no timings or shell commands."""
    try:
        return compile(source, name, "exec")
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager
        namespace.setdefault("get_ipython", lambda: _NoShell())
        return compile(TransformerManager().transform_cell(source), name, "exec")


class _NoShell:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _probe(np, probes, namespace, step, folder):
    i = step["index"]
    with np.load(os.path.join(folder, "cases", f"{i}.npz"), allow_pickle=False) as data:
        cases = [{} for _ in range(step["n_cases"])]
        for key in data.files:
            c, name = key.split("_", 1)
            cases[int(c[1:])][name] = data[key]
    missing = [name for name in step["objects"] if name not in namespace]
    if missing:
        results = [{"error": f"{', '.join(missing)} is not defined: run the cell that "
                             f"defines it, and keep its name"}] * len(cases)
    else:
        results = probes.collect(step["probe"], [namespace[n] for n in step["objects"]], cases)
    arrays, index = {}, []
    for c, result in enumerate(results):
        if "error" in result:
            index.append({"error": str(result["error"])})
            continue
        index.append({"none": [k for k, v in result.items() if v is None]})
        arrays.update({f"c{c}_{k}": v for k, v in result.items() if v is not None})
    os.makedirs(os.path.join(folder, "out"), exist_ok=True)
    np.savez(os.path.join(folder, "out", f"{i}.npz"), **arrays)
    with open(os.path.join(folder, "out", f"{i}.json"), "w") as f:
        json.dump(index, f)
    return None


if __name__ == "__main__":
    main(*sys.argv[1:4])
