"""The sandbox student code runs in (autograder/sandbox.py), attacked the way a student who has
read it would: each test runs a hostile probe inside a real bubblewrap sandbox and checks the
host side, and where a pass could be vacuous a control shows the probe does work without the
sandbox (the decoy is readable by the sandbox uid on the host, an unsandboxed probe reaches the
listener, a plain child sees the secret...). The tests skip, with the reason, only if
`Sandbox.available()` is false; as root with bwrap installed (CI) that is itself a failure."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

import autograder.sandbox as sandbox_module
from autograder.sandbox import INSIDE_SCRATCH, Limits, Sandbox, SandboxError

REPO = Path(__file__).resolve().parents[1]
REPO_IN_TMP = Path("/tmp") in REPO.parents
AVAILABLE, WHY = Sandbox.available()
needs_sandbox = pytest.mark.skipif(not AVAILABLE, reason=f"no sandbox here: {WHY}")
QUICK = Limits(submission_seconds=120)


def run(sb: Sandbox, code: str, out: Path, *args: str, timeout: float = 60, **kw):
    """Run `code` with the sandbox's python; (exit status, combined stdout+stderr)."""
    p = sb.popen(["python", "-c", textwrap.dedent(code), *args], stdin=subprocess.DEVNULL,
                 stdout_path=out, **kw)
    rc = p.wait(timeout=timeout)
    time.sleep(0.05)  # the drain thread copies the last bytes
    return rc, out.read_text(errors="replace")


def last_json(text: str):
    return json.loads(text.strip().splitlines()[-1])


def procs_with(token: str, *, bwrap: bool = True) -> list[int]:
    """Host pids whose command line contains `token` (bwrap's own two too, unless not
    `bwrap`: its arguments hold the command's)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if token.encode() in argv and (bwrap or not argv[0].endswith(b"bwrap")):
                found.append(int(entry))
    return found


def status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(name)


def as_uid(uid: int, *argv: str) -> subprocess.CompletedProcess:
    """Run argv on the host (no sandbox) as `uid`: what that uid could do if it saw the host."""
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                           *argv], capture_output=True, text=True, timeout=30)


@pytest.fixture
def sandbox(tmp_path):
    with Sandbox(tmp_path / "scratch", QUICK, readonly=[REPO / "src"]) as sb:
        yield sb


@pytest.fixture
def world_dir():
    """A folder anyone may enter (tmp_path's parents are 0700, which would make the decoy
    unreachable for the sandbox uid even without any sandbox)."""
    d = Path(tempfile.mkdtemp(prefix="sandbox-decoy-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_available_as_root_with_bwrap():
    """CI runs as root with bubblewrap installed: there, skipping the tests is a failure."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("bwrap") is None:
        pytest.skip("not root with bwrap on Linux")
    assert AVAILABLE, WHY


# ---- what the code can see and change --------------------------------------------------------
@needs_sandbox
def test_decoy_and_solutions_are_neither_readable_nor_writable(sandbox, tmp_path, world_dir):
    decoy = world_dir / "gradebook.db"
    decoy.write_text("DECOY-" + uuid.uuid4().hex)
    decoy.chmod(0o666)
    original = decoy.read_text()
    solutions = sorted(str(p) for p in (REPO / "solutions").rglob("*.ipynb"))
    assert solutions, "the repository's solutions/ should hold notebooks"
    # control: on the host, the sandbox's uid could read both (so only the sandbox stops it)
    assert as_uid(sandbox.uid, "cat", str(decoy)).stdout == original
    assert as_uid(sandbox.uid, "head", "-c", "1", solutions[0]).returncode == 0
    rc, out = run(sandbox, """
        import json, os, sys
        res = {"exists": [p for p in sys.argv[1:] if os.path.lexists(p)],
               "repo": sorted(os.listdir(sys.argv[-1]))}  # before any write attempt
        for path in sys.argv[1:]:
            try:
                open(path).read(); res[path] = "READ"
            except OSError as e:
                res[path] = e.strerror
            try:
                open(path, "a").write("pwned"); res[path] += " WROTE"
            except OSError as e:
                pass
        res["root"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else None
        print(json.dumps(res))
        """, tmp_path / "out", str(decoy), str(REPO / "solutions"), *solutions, str(REPO))
    assert rc == 0, out
    res = last_json(out)
    for path in [str(decoy), str(REPO / "solutions"), *solutions]:
        assert "READ" not in res[path], (path, res[path])
        # a clone under /tmp (as on CI) has its folder inside the sandbox's private /tmp:
        # a write there lands in scratch, never in the host's repository (checked below)
        assert "WROTE" not in res[path] or REPO_IN_TMP, (path, res[path])
    for path in solutions:
        assert "pwned" not in Path(path).read_text(), path
    assert res["exists"] == [str(REPO)]
    assert "solutions" not in res["repo"] and set(res["repo"]) <= {"src", ".venv"}, res["repo"]
    assert res["root"] in (None, [".pyenv"]), res["root"]
    assert decoy.read_text() == original


@needs_sandbox
def test_writes_outside_scratch_fail(sandbox, tmp_path):
    token = "sandbox-" + uuid.uuid4().hex
    targets = ["/", "/etc", "/usr/lib", "/dev", "/root", str(REPO), str(REPO / "src"),
               sys.prefix, os.path.dirname(os.__file__), "/work"]
    rc, out = run(sandbox, """
        import json, os, sys
        token, targets = sys.argv[1], sys.argv[2:]
        wrote = []
        for d in targets:
            try:
                with open(os.path.join(d, token), "w") as f:
                    f.write("x")
                wrote.append(d)
            except OSError:
                pass
        for d in ["/tmp", "/scratch", "/dev/shm"]:
            with open(os.path.join(d, token), "w") as f:
                f.write("ok")
        print(json.dumps(wrote))
        """, tmp_path / "out", token, *targets)
    assert rc == 0, out
    # a clone under /tmp sits in the private /tmp inside (see above); only its bound src
    # and venv are the real ones, and those stay read-only
    assert last_json(out) == ([str(REPO)] if REPO_IN_TMP else [])
    for d in targets + ["/tmp", "/dev/shm"]:
        assert not os.path.lexists(os.path.join(d, token)), d
    # /tmp and /dev/shm inside are the scratch's .tmp: private, and within the disk budget
    assert (sandbox.scratch / token).read_text() == "ok"
    assert (sandbox.scratch / ".tmp" / token).read_text() == "ok"


def _host_ipv4s() -> list[str]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ips = []
    for _, name in socket.if_nameindex():
        try:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            ips.append(socket.inet_ntoa(packed[20:24]))     # SIOCGIFADDR
        except OSError:
            pass
    s.close()
    return ips


NET_PROBE = """
    import json, socket, sys
    port, hosts = int(sys.argv[1]), sys.argv[2:]
    res = {"connected": [], "errors": {}}
    for h in hosts:
        fam = socket.AF_INET6 if ":" in h else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(2)
        try:
            s.connect((h, port)); res["connected"].append(h); s.sendall(b"leak")
        except OSError as e:
            res["errors"][h] = e.strerror or str(e)
        s.close()
    try:
        res["dns"] = socket.getaddrinfo("example.com", 80)[0][4][0]
    except OSError as e:
        res["dns"] = None
    res["interfaces"] = [n for _, n in socket.if_nameindex()]
    print(json.dumps(res))
"""


@needs_sandbox
def test_no_network_not_even_host_loopback(sandbox, tmp_path):
    listener = socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET)
    hosts = ["127.0.0.1"] + [ip for ip in _host_ipv4s() if ip != "127.0.0.1"]
    if listener.family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", 0))
        hosts.append("::1")
    else:
        listener.bind(("0.0.0.0", 0))
    listener.listen(16)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        rc, out = run(sandbox, NET_PROBE, tmp_path / "out", str(port), *hosts)
        assert rc == 0, out
        res = last_json(out)
        assert res["connected"] == [], res
        assert set(res["errors"]) == set(hosts)
        assert res["dns"] is None
        assert res["interfaces"] == ["lo"]          # its own loopback only
        with pytest.raises(socket.timeout):
            listener.accept()                       # nothing ever reached the host
        # control: the same probe without the sandbox does reach the listener
        with Sandbox(tmp_path / "plain", QUICK, unsandboxed=True) as plain:
            rc, out = run(plain, NET_PROBE, tmp_path / "out2", str(port), "127.0.0.1")
        assert last_json(out)["connected"] == ["127.0.0.1"], out
        conn, _ = listener.accept()
        conn.close()
    finally:
        listener.close()


@needs_sandbox
def test_host_environment_secret_is_invisible(sandbox, tmp_path, monkeypatch):
    secret = "SECRET-" + uuid.uuid4().hex
    monkeypatch.setenv("AUTOGRADER_SEED_SECRET", secret)
    # control: a plain child of the grader inherits it (so a leak would show)
    plain = subprocess.run(["cat", "/proc/self/environ"], capture_output=True)
    assert secret.encode() in plain.stdout
    rc, out = run(sandbox, """
        import json, os
        seen = {"env": sorted(os.environ)}
        for pid in ["self", "1"] + [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
            except OSError as e:
                seen[pid] = e.strerror
        print(json.dumps(seen))
        """, tmp_path / "out")
    assert rc == 0, out
    assert secret not in out
    seen = last_json(out)
    assert "AUTOGRADER_SEED_SECRET" not in seen["env"]
    assert set(seen["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_CTYPE", "USER", "LOGNAME",
                                "PWD", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE",
                                "MPLBACKEND", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                                "VECLIB_MAXIMUM_THREADS"}, seen["env"]
    assert seen["1"] in ("", "PWD=/\x00"), seen["1"]      # bwrap's own: started with nothing


@needs_sandbox
def test_unprivileged_uid_and_no_capabilities(sandbox, tmp_path):
    code = """
        import json, os, subprocess, sys, time
        st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
        res = {k: st[k].strip() for k in ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                           "CapAmb", "NoNewPrivs")}
        res["groups"] = os.getgroups()
        for name, call in [("setuid0", lambda: os.setuid(0)),
                           ("unshare", lambda: os.unshare(os.CLONE_NEWUSER))]:
            try:
                call(); res[name] = "ALLOWED"
            except (OSError, AttributeError) as e:
                res[name] = str(e)
        print(json.dumps(res), flush=True)
        time.sleep(float(sys.argv[1]))
    """
    p = sandbox.popen(["python", "-c", textwrap.dedent(code), "3"], stdin=subprocess.DEVNULL,
                      stdout_path=tmp_path / "out")
    deadline = time.monotonic() + 20
    while "Uid" not in (tmp_path / "out").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    # on the host, every process of the sandbox (bwrap's included) is the sandbox uid
    host_pids = sandbox._cg.pids()
    assert len(host_pids) >= 3
    for pid in host_pids:
        uids = set(status_field(pid, "Uid").split())
        assert uids == {str(sandbox.uid)}, (pid, uids)
        assert status_field(pid, "CapEff") == "0000000000000000"
    assert p.wait(timeout=20) == 0
    res = last_json((tmp_path / "out").read_text())
    assert sandbox.uid != 0
    assert set(res["Uid"].split()) == {str(sandbox.uid)}
    assert set(res["Gid"].split()) == {str(sandbox.uid)}
    assert res["groups"] == []
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(res[cap], 16) == 0, (cap, res[cap])
    assert res["NoNewPrivs"] == "1"
    assert res["setuid0"] != "ALLOWED" and res["unshare"] != "ALLOWED", res


# ---- limits ---------------------------------------------------------------------------------
@needs_sandbox
def test_fork_bomb_is_stopped_by_the_process_limit(tmp_path):
    limits = Limits(processes=16, submission_seconds=120)
    with Sandbox(tmp_path / "scratch", limits) as sb:
        p = sb.popen(["python", "-c", "import os\nwhile True:\n    try: os.fork()\n"
                                      "    except OSError: pass"],
                     stdin=subprocess.DEVNULL, stdout_path=tmp_path / "out")
        deadline = time.monotonic() + 30
        while sb.reason() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sb.reason() == "process limit (16)"
        time.sleep(0.5)
        assert len(sb._cg.pids()) <= 16 + 2          # the command's 16, bwrap's 2
        sb.kill()
        assert p.poll() is not None and not sb._cg.pids()
        assert sb.reason() == "process limit (16)"


@needs_sandbox
def test_memory_bomb_ends_with_the_memory_reason(tmp_path):
    limits = Limits(memory_bytes=256 << 20, submission_seconds=120)
    with Sandbox(tmp_path / "scratch", limits) as sb:
        rc, out = run(sb, "x = []\nwhile True: x.append(b'a' * (8 << 20))", tmp_path / "out")
        assert rc == 128 + signal.SIGKILL, out          # the OOM killer, not a MemoryError
        assert sb.reason() == "memory limit (256 MiB)"
        assert sb.stats()["memory_peak"] <= 256 << 20
        # the next command starts with a clean slate
        rc, out = run(sb, "print('fine')", tmp_path / "out")
        assert (rc, out.strip(), sb.reason()) == (0, "fine", None)


@needs_sandbox
def test_disk_bomb_fills_only_up_to_the_limit(tmp_path):
    limits = Limits(disk_bytes=16 << 20, submission_seconds=120)
    with Sandbox(tmp_path / "scratch", limits) as sb:
        rc, out = run(sb, """
            import errno, json
            res = {}
            for path in ["/scratch/big", "/tmp/big2", "/dev/shm/big3"]:
                n = 0
                try:
                    with open(path, "wb") as f:
                        while True:
                            f.write(b"x" * (1 << 20)); f.flush(); n += 1
                except OSError as e:
                    res[path] = [n, errno.errorcode[e.errno]]
            print(json.dumps(res))
            """, tmp_path / "out")
        assert rc == 0, out
        res = last_json(out)
        assert res["/scratch/big"][1] == "ENOSPC" and res["/scratch/big"][0] <= 16, res
        assert res["/tmp/big2"] == [0, "ENOSPC"] and res["/dev/shm/big3"] == [0, "ENOSPC"]
        assert sb.reason() == "disk limit (16 MiB)"
        used = sum(f.stat().st_size for f in sb.scratch.rglob("*") if f.is_file())
        assert used <= 16 << 20
        assert sb.stats()["disk_used"] <= 16 << 20


@needs_sandbox
def test_100_mb_of_output_keeps_only_output_bytes(tmp_path):
    with Sandbox(tmp_path / "scratch", QUICK) as sb:
        start = time.monotonic()
        rc, _ = run(sb, """
            import os, sys
            chunk = b"y" * (1 << 20)
            for i in range(100):
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            os.write(2, b"E" * 1000)
            print("done")
            """, tmp_path / "out")
        elapsed = time.monotonic() - start
        assert rc == 0                                   # never blocked, never killed
        assert (tmp_path / "out").stat().st_size == 1 << 20
        assert sb.output_discarded == 100 * (1 << 20) + 1000 + 5 - (1 << 20)
        assert sb.reason() is None
        assert elapsed < 30


@needs_sandbox
def test_time_limit_kills_the_whole_sandbox(tmp_path):
    with Sandbox(tmp_path / "scratch", Limits(submission_seconds=1.5)) as sb:
        start = time.monotonic()
        p = sb.popen(["python", "-c", "import signal, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "while True: time.sleep(1)"], stdin=subprocess.DEVNULL)
        p.wait(timeout=15)
        assert 1.4 < time.monotonic() - start < 10
        assert sb.reason() == "time limit (1.5 s)"
        assert not sb._cg.pids()
        assert sb.time_left() == 0
        with pytest.raises(SandboxError, match="time limit"):
            sb.popen(["python", "-c", "pass"])


KILL_PROBE = """
    import os, signal, sys, time
    token = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.fork() == 0:                   # a daemon: new session, double fork, parent gone
        os.setsid()
        if os.fork() == 0:
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(sys.executable, [sys.executable, "-c",
                     "import signal, time\\n"
                     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
                     "while True: time.sleep(1)", token, token + "-daemon"])
        os._exit(0)
    print("ready", flush=True)
    while True:
        pass
"""


@needs_sandbox
def test_kill_leaves_nothing_behind(sandbox, tmp_path):
    token = "marker-" + uuid.uuid4().hex
    p = sandbox.popen(["python", "-c", textwrap.dedent(KILL_PROBE), token],
                      stdin=subprocess.DEVNULL, stdout_path=tmp_path / "out")
    deadline = time.monotonic() + 20
    while (len(procs_with(token, bwrap=False)) != 2 or not procs_with(token + "-daemon")
           or "ready" not in (tmp_path / "out").read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)                                # (the middle child comes and goes)
    pids = procs_with(token, bwrap=False)
    assert len(pids) == 2, pids                         # the command and its daemon
    assert len(procs_with(token)) == 4                  # and bwrap's monitor and init
    # control: the daemon is in another session and process group than the looping command,
    # so a kill of the command's process group would miss it
    stats = [open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split() for pid in pids]
    assert len({s[2] for s in stats}) == 2 and len({s[3] for s in stats}) == 2  # pgrp, session
    os.kill(pids[0], signal.SIGTERM)                    # ignored, by design of the probe
    os.kill(pids[0], signal.SIGINT)
    time.sleep(0.2)
    assert len(procs_with(token)) == 4
    sandbox.kill()
    assert procs_with(token) == []
    assert not sandbox._cg.pids()
    assert p.returncode is not None
    sandbox.kill()                                      # idempotent
    # and it can start again afterwards
    rc, out = run(sandbox, "print('again')", tmp_path / "out2")
    assert (rc, out.strip()) == (0, "again")


@needs_sandbox
def test_a_sandbox_outlives_the_thread_that_started_it(sandbox, tmp_path):
    """--die-with-parent fires when the *thread* that forked bwrap exits; the sandbox starts
    everything from one long-lived thread, so a grader's short-lived worker thread is fine."""
    token = "thread-" + uuid.uuid4().hex
    box = {}

    def worker():                       # starts the command, waits until it runs, exits
        box["p"] = sandbox.popen(["python", "-c", "import time\nprint('ready', flush=True)\n"
                                  "while True: time.sleep(1)", token],
                                 stdin=subprocess.DEVNULL, stdout_path=tmp_path / "out")
        deadline = time.monotonic() + 20
        while "ready" not in (tmp_path / "out").read_text() and time.monotonic() < deadline:
            time.sleep(0.01)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    time.sleep(0.5)
    assert box["p"].poll() is None and len(procs_with(token, bwrap=False)) == 1
    sandbox.kill()
    assert procs_with(token) == []


GRADER = """
import subprocess, sys, time
from pathlib import Path
from autograder.sandbox import Limits, Sandbox
sb = Sandbox(Path(sys.argv[1]), Limits(submission_seconds=120))
sb.popen(["python", "-c", sys.argv[2], sys.argv[3]], stdin=subprocess.DEVNULL)
print(sb.uid, flush=True)
time.sleep(600)
"""


@needs_sandbox
def test_a_grader_killed_9_takes_its_sandbox_along_and_the_next_one_cleans_up(tmp_path):
    token = "orphan-" + uuid.uuid4().hex
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "marker").write_text(token)              # copied into its scratch tmpfs
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(scratch),
                               textwrap.dedent(KILL_PROBE), token],
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(sandbox_module.__file__).parents[1])
    try:
        assert int(grader.stdout.readline()) >= 0       # its sandbox is up
        deadline = time.monotonic() + 20
        while not procs_with(token + "-daemon") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert procs_with(token + "-daemon")
        mountinfo = Path("/proc/self/mountinfo").read_text()
        assert f" {scratch} " in mountinfo
    finally:
        grader.kill()                                   # SIGKILL: no close(), no atexit
        grader.wait()
    deadline = time.monotonic() + 10
    while procs_with(token) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert procs_with(token) == []                      # the setsid daemon too
    # its scratch tmpfs, staged binds and cgroups stay until the next sandbox (any grader's)
    with Sandbox(tmp_path / "next", QUICK):
        mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        assert str(scratch) not in [m[4] for m in mounts]
        scratches = [m[4] for m in mounts if "autograder-scratch" in m]
        assert not [mp for mp in scratches if os.path.exists(os.path.join(mp, "marker"))
                    and open(os.path.join(mp, "marker")).read() == token]   # tmpfs unmounted
        staged = [m[4] for m in mounts if "/autograder-sandbox/stage/" in m[4]]
        assert len(staged) == len(set(staged))          # nothing stacked on a stale mount
        assert not list(Path("/sys/fs/cgroup").glob(f"*/autograder-sandbox/{grader.pid}-*"))
    with Sandbox(scratch, QUICK) as again:              # and its scratch path is usable again
        rc, out = run(again, "print('ok')", tmp_path / "out")
        assert (rc, out.strip()) == (0, "ok")


# ---- what must work inside ------------------------------------------------------------------
@needs_sandbox
def test_numpy_and_the_engine_import_and_run(sandbox, tmp_path):
    rc, out = run(sandbox, """
        import json
        import numpy as np
        import autodiff as ad
        import exercises
        x = ad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        (x * x).sum().backward()
        a = np.random.default_rng(0).standard_normal((200, 200))
        print(json.dumps({"grad": x.grad.tolist(), "det_ok": bool(np.isfinite(np.linalg.det(a))),
                          "engine": ad.__file__, "exercises": exercises.__file__}))
        """, tmp_path / "out")
    assert rc == 0, out
    res = last_json(out)
    assert res["grad"] == [2.0, 4.0, 6.0] and res["det_ok"]
    assert res["engine"].startswith(str(REPO / "src"))
    assert res["exercises"].startswith(str(REPO / "src"))


@needs_sandbox
def test_two_sandboxes_at_once_do_not_share_limits_or_files(tmp_path):
    bomb = Sandbox(tmp_path / "a", Limits(processes=16, submission_seconds=120))
    other = Sandbox(tmp_path / "b", QUICK)
    try:
        assert bomb.uid != other.uid
        (tmp_path / "b-secret").write_text("")
        other.write_file("note.txt", b"b's file")
        pb = bomb.popen(["python", "-c", "import os\nwhile True:\n    try: os.fork()\n"
                                         "    except OSError: pass"],
                        stdin=subprocess.DEVNULL, stdout_path=tmp_path / "bomb-out")
        deadline = time.monotonic() + 30
        while bomb.reason() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bomb.reason() == "process limit (16)"
        # meanwhile the other one starts 30 processes of its own
        rc, out = run(other, """
            import json, os, subprocess, sys
            kids = [subprocess.Popen(["sleep", "1"]) for _ in range(30)]
            print(json.dumps({"codes": [k.wait() for k in kids],
                              "note": open("note.txt").read(),
                              "sees_a": os.path.exists(sys.argv[1])}))
            """, tmp_path / "other-out", str(bomb.scratch), timeout=60)
        assert rc == 0, out
        res = last_json(out)
        assert res == {"codes": [0] * 30, "note": "b's file", "sees_a": False}
        assert other.reason() is None
        bomb.kill()
        assert pb.poll() is not None
    finally:
        bomb.close()
        other.close()


@needs_sandbox
def test_pass_fds_reach_the_command(sandbox, tmp_path):
    r, w = os.pipe()
    try:
        p = sandbox.popen(["python", "-c", f"import os; os.write({w}, b'result')"],
                          pass_fds=(w,), stdin=subprocess.DEVNULL, stdout_path=tmp_path / "o")
        os.close(w)
        w = -1
        assert p.wait(timeout=30) == 0
        assert os.read(r, 100) == b"result"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


@needs_sandbox
def test_reading_results_refuses_symlinks_and_special_files(sandbox, tmp_path, world_dir):
    target = world_dir / "host-file"
    target.write_text("host")
    rc, out = run(sandbox, """
        import os, sys
        open("result.json", "w").write('{"ok": 1}')
        os.symlink(sys.argv[1], "link.json")
        os.symlink("/etc/passwd", "input.npz")
        os.mkdir("d"); os.symlink("/etc", "d/etc")
        os.mkfifo("fifo")
        open("big", "wb").write(b"0" * 5000)
        """, tmp_path / "out", str(target))
    assert rc == 0, out
    assert sandbox.read_file("result.json", 100) == b'{"ok": 1}'
    for name in ["link.json", "d/etc/passwd", "fifo", "../scratch/result.json", "/etc/passwd"]:
        with pytest.raises((SandboxError, ValueError)):
            sandbox.read_file(name, 100)
    with pytest.raises(SandboxError, match="over"):
        sandbox.read_file("big", 1000)
    # writing over the student's symlink replaces the link and never follows it
    sandbox.write_file("input.npz", b"probe inputs")
    assert sandbox.read_file("input.npz", 100) == b"probe inputs"
    assert target.read_text() == "host" and "root" in Path("/etc/passwd").read_text()


@needs_sandbox
def test_close_removes_mount_cgroups_and_restores_scratch(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "notebook.ipynb").write_text("{}")
    sb = Sandbox(scratch, QUICK)
    cgroups = list(sb._cg.dirs)
    rc, out = run(sb, "import os; print(sorted(os.listdir('.'))); open('new', 'w')",
                  tmp_path / "out")
    assert "notebook.ipynb" in out and rc == 0
    assert sb.inside(scratch / "x" / "y") == f"{INSIDE_SCRATCH}/x/y"
    sb.close()
    sb.close()                                          # idempotent
    assert all(not d.exists() for d in cgroups)
    assert str(scratch) not in Path("/proc/self/mountinfo").read_text()
    assert sorted(os.listdir(scratch)) == ["notebook.ipynb"]
    with pytest.raises(SandboxError):
        sb.popen(["python", "-c", "pass"])


@needs_sandbox
def test_startup_cost(tmp_path, capsys):
    """Sandboxed `python -c pass` against a plain subprocess; printed with -s, and a sanity
    bound (the figures are in autograder/sandbox.py's docstring)."""
    def median_of(fn, n=15):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    plain = median_of(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
    with Sandbox(tmp_path / "scratch", QUICK, readonly=[REPO / "src"]) as sb:
        boxed = median_of(lambda: sb.popen(["python", "-c", "pass"],
                                           stdin=subprocess.DEVNULL).wait())
    setup = median_of(lambda: Sandbox(tmp_path / "s2", QUICK).close(), n=10)
    with capsys.disabled():
        print(f"\n  python -c pass: unsandboxed {plain * 1e3:.0f} ms, sandboxed "
              f"{boxed * 1e3:.0f} ms; Sandbox() + close() {setup * 1e3:.0f} ms")
    assert boxed < plain + 0.5 and setup < 0.5
