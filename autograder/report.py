"""What the instructor and the students read: progress, grades.csv, feedback pages."""
import csv
import html
import os
import sys
import time
from pathlib import Path


class Progress:
    """done/total, rate and ETA: one redrawn line on a terminal, plain lines otherwise."""

    def __init__(self, total, done=0, out=print, stream=None):
        self.total, self.done, self.start_done = total, done, done
        self.out = out
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.failures = 0
        if done:
            out(f"{done} of {total} already graded (results kept from an earlier run)")

    def advance(self, student, result):
        self.done += 1
        if result.get("status") != "graded":
            self.failures += 1
        elapsed = time.monotonic() - self.start
        graded_now = self.done - self.start_done
        rate = graded_now / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        score = f"{result.get('score', 0):g}/{result.get('max_score') or 0:g}"
        line = (f"[{self.done}/{self.total}] {rate:.2f}/s, ETA {_duration(left)}"
                f"{f', {self.failures} not fully graded' if self.failures else ''}"
                f" - {student}: {score} {result.get('status')}")
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r\x1b[2K|{'#' * filled}{'.' * (width - filled)}| {line}")
            self.stream.flush()
        else:
            self.out(line)

    def finish(self, interrupted):
        if self.tty:
            self.stream.write("\n")
        elapsed = time.monotonic() - self.start
        if interrupted:
            self.out(f"interrupted after {self.done} of {self.total}; every finished result "
                     f"is saved: run the same command again to grade the rest")
        else:
            self.out(f"graded {self.done} of {self.total} in {_duration(elapsed)}")


def _duration(seconds):
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def write_csv(path, assignment, students, results, part_ids):
    """One row per student (graded or not), per-part points as columns; atomic."""
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "assignment", "score", "max_score", "status", "reason",
                         "sandboxed", *part_ids])
        max_score = next((r["max_score"] for r in results.values()
                          if r.get("max_score") is not None), "")
        for student in students:
            r = results.get(student)
            if r is None:
                writer.writerow([student, assignment, "", max_score, "not graded",
                                 "grading was interrupted; rerun to finish", "",
                                 *[""] * len(part_ids)])
                continue
            points = {p["grade_id"]: p["points"] for p in r.get("parts", [])}
            reason = r.get("reason") or "; ".join(
                f"{p['grade_id']}: {p['reason']}" for p in r.get("parts", []) if p.get("reason"))
            writer.writerow([student, assignment, _num(r.get("score")), _num(r.get("max_score")),
                             r.get("status"), reason, "yes" if r.get("sandboxed") else "no",
                             *[_num(points.get(g)) for g in part_ids]])
    os.replace(tmp, path)
    return path


def _num(value):
    return "" if value is None else f"{float(value):g}"


def feedback_html(result):
    """One student's report: score per part, visible checks, what failed and why, in words.
    Built only from the result (no hidden test source, input or expected value is in it)."""
    e = html.escape
    rows = []
    for part in result.get("parts", []):
        status = "passed" if part.get("reason") is None else "failed"
        visible = "".join(
            f"<li>{e(what)}: {e(msg) if msg else 'visible tests pass'}</li>"
            for what, msg in part.get("visible", []))
        why = f"<p class='why'>{e(part['reason'])}</p>" if part.get("reason") else ""
        rows.append(f"<section class='{status}'><h2>{e(part['grade_id'])}: "
                    f"{part['points']:g} / {part['max_points']:g}</h2>"
                    f"<ul>{visible}</ul>{why}</section>")
    note = "" if result.get("sandboxed", True) else (
        "<p class='warning'>Graded WITHOUT the sandbox (--unsandboxed).</p>")
    reason = f"<p>{e(result['reason'])}</p>" if result.get("reason") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(result['assignment'])}: feedback for {e(result['student_id'])}</title>
<style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.45}}
section{{border-left:4px solid #888;padding:0 1rem;margin:1rem 0}}
.passed{{border-color:#2a7}} .failed{{border-color:#c33}} .why{{color:#a22}}
.warning{{background:#fee;padding:.5rem}}</style></head><body>
<h1>{e(result['assignment'])}: {result.get('score', 0):g} / {result.get('max_score') or 0:g}</h1>
<p>Student: {e(result['student_id'])} &middot; status: {e(str(result.get('status')))}</p>
{note}{reason}{''.join(rows)}
</body></html>
"""


def write_feedback(course, assignment, out=print):
    """feedback/<student>/<assignment>/feedback.html for every graded result."""
    import json
    results_dir = Path(course) / "autograded" / assignment
    paths = []
    for path in sorted(results_dir.glob("*.json")):
        result = json.loads(path.read_text())
        target = Path(course) / "feedback" / result["student_id"] / assignment / "feedback.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_html(result))
        paths.append(target)
    if not paths:
        raise FileNotFoundError(f"no graded results in {results_dir}: run `autograder grade "
                                f"{assignment} --submissions DIR` first")
    out(f"wrote {len(paths)} feedback pages under {Path(course) / 'feedback'}")
    return paths
