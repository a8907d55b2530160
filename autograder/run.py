"""Run one submission's plan in a sandbox and bring back its probe outputs as plain data.

Each step is timed from outside. When a step hangs past its time, or the process dies in
it (os._exit, a segfault, a memory or process limit), that step is recorded as failed with
the reason, everything in the sandbox is killed, and a fresh process picks up with the next
step -- after re-running the cells that succeeded, so the namespace is rebuilt. A fault
therefore costs only the part it happened in.
"""
import io
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exercises import probes

from .sandbox import Limits, Sandbox, SandboxError

CHILD = Path(__file__).with_name("child.py")
SRC = Path(__file__).resolve().parent.parent / "src"
MAX_RESULT_BYTES = 64 << 20  # a probe's outputs; more is treated as a fault, not read


@dataclass
class StepResult:
    error: str = None          # an exec step's exception, or why a probe step has no outputs
    fault: str = None          # the step ended the process: time, memory, a crash
    outputs: list = None       # probe: one dict of arrays (or {"error": ...}) per case
    cases: list = None         # probe: the inputs it was given
    seconds: float = 0.0


@dataclass
class RunResult:
    steps: dict = field(default_factory=dict)   # step index -> StepResult
    output: str = ""                           # what the student's code printed (capped)
    seconds: float = 0.0
    timed_out: bool = False                    # the submission's total time ran out


def run(steps, workdir, limits=Limits(), unsandboxed=False):
    """Run `steps` (from plan.steps) for one submission in `workdir` (created, then left
    for the caller to delete). Returns a RunResult."""
    workdir = Path(workdir)
    scratch = workdir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    cases = {}
    for i, step in enumerate(steps):
        if step.kind == "probe":
            cases[i] = probes.make_cases(step.call.probe, step.seed)
    result = RunResult()
    start = time.monotonic()
    todo = list(range(len(steps)))
    done_exec = []  # exec steps that completed, re-run after a restart
    output = []
    while todo:
        remaining = limits.submission_seconds - (time.monotonic() - start)
        if remaining <= 0:
            result.timed_out = True
            for i in todo:
                result.steps[i] = StepResult(fault="the submission's time limit "
                                                   f"({limits.submission_seconds:g} s) ran out")
            break
        attempt = [i for i in done_exec] + todo
        _prepare(scratch, steps, attempt, cases, set(done_exec))
        finished, failed_at, fault, text = _attempt(scratch, attempt, set(done_exec),
                                                    limits, remaining, unsandboxed)
        output.append(text)
        for i, (error, seconds, outputs) in finished.items():
            if i in done_exec:
                continue
            step_result = StepResult(error=error, seconds=seconds)
            if steps[i].kind == "probe" and error is None:
                step_result.outputs, step_result.error = outputs
                step_result.cases = cases[i]
                if step_result.outputs is None and step_result.error is None:
                    step_result.error = "its outputs are missing (deleted by your code?)"
                if step_result.outputs is not None and len(step_result.outputs) != len(cases[i]):
                    step_result.outputs, step_result.error = None, "the outputs were malformed"
            result.steps[i] = step_result
            if steps[i].kind == "exec" and error is None:
                done_exec.append(i)
        todo = [i for i in todo if i not in result.steps]
        if failed_at is not None:
            result.steps[failed_at] = StepResult(fault=fault)
            todo.remove(failed_at)
        elif todo:  # the process ended without a fault but with steps left: it exited
            first = todo.pop(0)
            result.steps[first] = StepResult(fault="the process exited early (sys.exit or "
                                                   "os._exit in your code?)")
    result.output = "".join(output)[-limits.output_bytes:]
    result.seconds = time.monotonic() - start
    return result


def _prepare(scratch, steps, attempt, cases, rerun):
    shutil.rmtree(scratch / "out", ignore_errors=True)
    (scratch / "cases").mkdir(exist_ok=True)
    plan = []
    for i in attempt:
        step = steps[i]
        if step.kind == "exec":
            plan.append({"index": i, "kind": "exec", "label": step.label,
                         "source": step.source})
        elif i not in rerun:
            arrays = {f"c{c}_{k}": v for c, case in enumerate(cases[i]) for k, v in case.items()}
            np.savez(scratch / "cases" / f"{i}.npz", **arrays)
            plan.append({"index": i, "kind": "probe", "label": step.label,
                         "probe": step.call.probe, "objects": list(step.call.objects),
                         "n_cases": len(cases[i])})
    (scratch / "plan.json").write_text(json.dumps({"steps": plan}))


def _attempt(scratch, attempt, rerun, limits, remaining, unsandboxed):
    """One process over `attempt`: {step: (error, seconds)}, the step a fault stopped it
    in (or None), the fault in words, and what it printed."""
    read_fd, write_fd = os.pipe()
    ack_read, ack_write = os.pipe()
    log = scratch.parent / "output.txt"
    sandbox = Sandbox(scratch, limits, readonly=[SRC, CHILD], unsandboxed=unsandboxed)
    finished, current, fault = {}, None, None
    try:
        proc = sandbox.popen([sandbox.python, "-I", str(CHILD),
                              sandbox.inside(scratch / "plan.json"), str(write_fd),
                              str(ack_read)],
                             pass_fds=(write_fd, ack_read), stdin=None, stdout_path=log)
        os.close(write_fd)
        os.close(ack_read)
        deadline_total = time.monotonic() + remaining
        buffer, started = b"", None
        while True:
            now = time.monotonic()
            step_left = (started + limits.cell_seconds - now) if current is not None else 60.0
            wait = max(0.0, min(step_left, deadline_total - now))
            ready, _, _ = select.select([read_fd], [], [], wait)
            if not ready:
                if current is not None:
                    which = ("the submission's time limit" if deadline_total - now <= step_left
                             else f"the time limit per cell ({limits.cell_seconds:g} s)")
                    fault = f"{which} ran out while this ran (an endless loop?)"
                    break
                if time.monotonic() >= deadline_total:
                    break
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:  # the process closed the pipe: it ended
                if current is not None:
                    try:
                        proc.wait(timeout=5)
                        fault = sandbox.reason() or _death(proc.returncode)
                    except subprocess.TimeoutExpired:
                        fault = "your code closed the grader's channel"
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = _message(line)
                if message is None:
                    continue
                if "start" in message and current is None:
                    current, started = message["start"], time.monotonic()
                elif message.get("end") == current:
                    limit = sandbox.reason()
                    if limit:  # a fork or disk bomb that the step survived: start afresh
                        fault = f"your code hit the sandbox's {limit}"
                        break
                    error = message.get("error")
                    finished[current] = (str(error)[:2000] if error else None,
                                         time.monotonic() - started,
                                         _read_outputs(sandbox, current))
                    current = None
                    _acknowledge(ack_write)
            if fault:
                break
            if len(buffer) > 1 << 20:
                fault = "the process wrote garbage to the grader's channel"
                break
    finally:
        os.close(read_fd)
        os.close(ack_write)
        sandbox.kill()
        sandbox.close()
    printed = log.read_bytes()[:limits.output_bytes] if log.exists() else b""
    text = printed.decode("utf-8", "replace")
    if fault is not None and current is not None and current in rerun:
        fault = None  # a re-run cell that now fails: the next attempt skips it
    return finished, current if fault else None, fault, text


def _acknowledge(fd):
    """Let the child go on to the next step (it waits, so nothing rewrites the outputs
    just read). A child that is gone or stopped reading is dealt with by the timeouts."""
    try:
        os.write(fd, b"k")
    except OSError:
        pass


def _message(line):
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    for key in ("start", "end"):
        if key in message and not isinstance(message[key], int):
            return None
    return message


def _death(code):
    if code is not None and code < 0:
        return f"the process was killed by signal {-code} (a crash, or a limit)"
    return f"the process exited with code {code} (os._exit or a crash in your code?)"


def _read_outputs(sandbox, i):
    """A probe step's outputs, read while the sandbox is up (its scratch goes with it), as
    plain arrays (never pickle; no symlink followed) and checked for form. For an exec step
    there are none: (None, None)."""
    try:
        raw_index = sandbox.read_file(f"out/{i}.json", 1 << 20)
    except SandboxError:
        return None, None  # an exec step, or a probe whose outputs are missing (judged so)
    try:
        entries = json.loads(raw_index)
        raw = sandbox.read_file(f"out/{i}.npz", MAX_RESULT_BYTES)
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {key: np.array(data[key]) for key in data.files}
    except SandboxError as e:
        return None, f"the outputs could not be read ({e})"
    except Exception as e:  # noqa: BLE001  (the student wrote these bytes: any parse error)
        return None, f"the outputs could not be read ({type(e).__name__})"
    outputs = []
    for c, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            return None, "the outputs were malformed"
        if "error" in entry:
            outputs.append({"error": str(entry["error"])[:2000]})
            continue
        out = {k[len(f"c{c}_"):]: v for k, v in arrays.items() if k.startswith(f"c{c}_")}
        out.update({str(k): None for k in entry.get("none", [])})
        if any(v is not None and v.dtype.kind not in "biuf" for v in out.values()):
            return None, "the outputs were not numeric arrays"
        outputs.append(out)
    return outputs, None
