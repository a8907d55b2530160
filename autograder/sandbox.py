"""One submission's sandbox: bubblewrap, a per-sandbox unprivileged uid, cgroups, a tmpfs scratch.

Threat model: the code inside is hostile and its author has read this file. The sandbox must
keep it from reading or changing anything of the grader's (reference solutions, gradebook,
other submissions, environment secrets), from reaching any network, and from outliving or
starving the grading run. It does not decide grades: the caller reads plain data back out of
the scratch folder, best with `read_file` (it refuses symlinks, FIFOs and oversized files).

Design (Linux, run as root):

* **uid**: each live sandbox holds a slot ``UID_BASE + i`` (a lock file under ``STATE_DIR``
  held with ``flock`` for its lifetime, so concurrent graders and ``--jobs`` workers never share
  a uid and so never share ``RLIMIT_NPROC``; a crashed grader's locks vanish with it). The uid
  has no passwd entry on the host. The launcher's first step, ``setpriv``, switches to that
  uid and gid with no supplementary groups, empty inheritable and bounding capability sets and
  no_new_privs (all capabilities go with uid 0), and ``bwrap`` then runs *unprivileged*, in a
  user namespace of its own: every process
  of the sandbox, bwrap's included, is that uid on the host, and the command runs with all
  capabilities dropped (``--cap-drop ALL``, bounding set empty, no_new_privs).
  ``--disable-userns`` stops the code from creating further user namespaces.
* **namespaces**: ``--unshare-all`` (user, mount, pid, ipc, uts, cgroup, net): the network
  namespace has only its own ``lo`` - nothing of the host, not its loopback, no DNS.
  ``--die-with-parent``, ``--new-session``, ``--clearenv`` plus only PATH, HOME, TMPDIR, LANG,
  USER, LOGNAME, thread counts of 1 (OpenMP, OpenBLAS, MKL, numexpr, vecLib),
  PYTHONDONTWRITEBYTECODE, PYTHONNOUSERSITE, MPLBACKEND=Agg and what the caller passes in
  ``env``. bwrap itself starts with an empty environment, so ``/proc/1/environ`` inside (bwrap's
  init) shows no host variable either.
* **file system**: a read-only ``/usr`` (and the ``/bin``, ``/lib*`` links), a few harmless
  ``/etc`` files (dynamic linker cache, time zone, alternatives) plus a synthetic ``passwd``,
  ``group`` and ``hosts``; the Python environment (``sys.prefix`` and ``sys.base_prefix``: the
  venv and the interpreter it was made from) and the caller's ``readonly`` paths, read-only at
  the same paths; a fresh ``/proc`` of the sandbox's pid namespace; a minimal ``/dev``. Nothing
  else of the host exists inside: no ``/root``, ``/home``, ``/var``, ``/opt``, ``/sys``, ``/run``,
  no other part of ``/work``. The root and ``/dev`` are remounted read-only.
  Host paths the sandbox uid could not reach (the pyenv interpreter under root's 0700 home, a
  scratch under a 0700 temporary folder) are bind-mounted, read-only, into
  ``STATE_DIR/stage/<uid>/`` (mode 0700, owned by the sandbox uid, so no other local user
  gains a view) when the Sandbox is made, and bwrap binds them from there.
* **scratch**: a tmpfs (``size=disk_bytes``, an inode cap, nosuid, nodev, owned by the sandbox
  uid, mode 0700), mounted in the stage folder and bind-mounted over the caller's ``scratch``
  folder, so the caller sees it at its own path; what the folder held before is copied in.
  It is the only writable place inside, seen there as **/scratch** (HOME and the working
  directory; ``inside()`` translates paths); ``/tmp`` and ``/dev/shm`` inside are its ``.tmp``
  subfolder, so all three share the disk budget. ``close()`` unmounts it: what the code wrote
  is discarded and the folder shows again what it held before. Read results before closing.
* **limits**, each enforced by the kernel:
  memory - cgroup memory controller, limit and memory+swap limit both ``memory_bytes`` (no
  swap; tmpfs pages written to scratch count too), the OOM killer ends the greedy process;
  processes - cgroup pids controller (``pids.max`` = ``processes`` + bwrap's 2; threads count),
  ``RLIMIT_NPROC`` for the per-sandbox uid as a second fence;
  disk - the tmpfs size and inode count, ``RLIMIT_FSIZE`` as a second fence;
  output - stdout and stderr go to a pipe that a thread of this process copies into
  ``stdout_path`` up to ``output_bytes`` and then keeps *draining and discarding*: the writer is
  never blocked or killed for it (``output_discarded`` says how much was dropped);
  time - a timer kills the whole sandbox ``submission_seconds`` after the first ``popen()``
  (``cell_seconds`` is the caller's to enforce, e.g. with ``kill()``);
  CPU - ``cpus`` CPUs of bandwidth (cgroup cpu quota), so one busy sandbox cannot starve the
  other job slots; core dumps off (``RLIMIT_CORE = 0``).
  The launcher (setpriv, then dash) sets the rlimits and stops itself; this process then moves
  it into the sandbox's cgroups and only then lets it exec bwrap, so nothing of the sandbox
  ever runs outside its limits. setpriv also sets PDEATHSIG=SIGKILL, so a grader that dies
  (kill -9 included) takes its sandboxes along even before bwrap's --die-with-parent is in
  place; cgroups, mounts and stage folders it leaves are removed by the next Sandbox made on
  the machine.
* **kill**: ``cgroup.kill`` of the sandbox's cgroup v2 (every task, ``setsid`` daemons
  included, at once), SIGKILL to bwrap (whose pid-namespace init then takes everything with
  it), then a wait until the cgroups are empty. Without ``cgroup.kill`` (kernels before 5.14)
  the cgroup's tasks are SIGKILLed until none is left (``pids.max`` bounds any race).

Start-up cost on this project's 2-core machine kind (``python -c pass`` from this venv; 30 runs
of each, interleaved; the machine was shared with other jobs, hence the spread between the
fastest run and the median; ``tests/test_sandbox.py::test_startup_cost`` prints fresh figures
with ``-s``)::

                                                         fastest   median
    unsandboxed subprocess.run([python, "-c", "pass"])     20 ms    27 ms
    Sandbox.popen(["python", "-c", "pass"]).wait()          31 ms    47 ms   (+11 / +20 ms)
    Sandbox.popen(["/bin/true"]).wait()                     10 ms    14 ms
      launcher alone (setpriv, dash, stop, cgroup moves, continue): ~4 ms; bwrap's seven
      namespaces and its mounts: the rest
    Sandbox(...) set-up + close() (uid, cgroups, tmpfs, stage binds)   4 ms

What it does NOT do: no seccomp filter (the unprivileged syscall surface of the kernel is
reachable, as for any local user: keep the kernel patched); no disk or network I/O bandwidth
limit; ``/proc`` still shows host-wide facts (CPU model, memory size, uptime, kernel version,
load); the readonly paths the caller binds are fully readable, and so is everything in the
Python environment; time is wall time per sandbox, not per cell (the caller's); a limit
reached inside a ``try``/``except`` (a fork that fails, a MemoryError) only shows as a reason,
not as an ending. It needs root, cgroup memory and pids controllers and unprivileged user
namespaces; ``available()`` checks all of it by starting a sandbox.
"""
from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import functools
import os
import pwd
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Limits", "Sandbox", "SandboxError", "INSIDE_SCRATCH"]

UID_BASE = 2_000_000_000          # sandbox uids: UID_BASE .. UID_BASE + UID_SLOTS - 1
UID_SLOTS = 1024
STATE_DIR = Path("/run/autograder-sandbox")   # uid locks and staged bind mounts
CGROUP_GROUP = "autograder-sandbox"           # parent cgroup, at the root of each hierarchy
INSIDE_SCRATCH = "/scratch"                   # where the scratch folder is seen inside
SCRATCH_SOURCE = "autograder-scratch"         # the tmpfs's source name in /proc/self/mountinfo
BWRAP_TASKS = 2                               # bwrap's monitor and its pid-namespace init
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KILL_TIMEOUT = 10.0

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 1, 2, 4, 32
_MS_BIND, _MS_REC = 4096, 16384
_MNT_DETACH = 2


class SandboxError(RuntimeError):
    """The sandbox could not be set up, or could not do what was asked."""


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 60         # enforced by the caller (it times each step); config only
    submission_seconds: float = 600  # wall clock from the first popen(); enforced by Sandbox
    memory_bytes: int = 2 << 30      # RAM incl. tmpfs pages written to scratch; no swap
    processes: int = 64              # tasks (threads count) of the command(s), bwrap's excluded
    disk_bytes: int = 256 << 20      # the scratch tmpfs (and /tmp, /dev/shm inside: one budget)
    output_bytes: int = 1 << 20      # stdout+stderr kept per popen(); the rest discarded
    cpus: float | None = 1.0         # CPU bandwidth (cgroup quota); None: no quota


def _size(n: float) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MiB"
    return f"{n / 1024:.0f} KiB"


def _tool(name: str) -> str | None:
    return shutil.which(name, path=SYSTEM_PATH)


def _write(path: Path | str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read(path: Path | str) -> str:
    with open(path) as f:
        return f.read()


def _keyed(path: Path, key: str) -> int:
    """The number after `key` in a flat-keyed cgroup file (memory.events, pids.events...)."""
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _unescape(field: str) -> str:
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def _mounts() -> list[tuple[str, str, str, str, str]]:
    """(mount point, fs type, source, super options, device major:minor) of this process's
    mount namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            fstype, source, superopts = (right.split() + ["", "", ""])[:3]
            out.append((_unescape(fields[4]), fstype, _unescape(source), superopts, fields[2]))
    return out


# ---- mount(2) -----------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _mount(source: str | None, target: Path, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(s):
        return None if s is None else os.fsencode(s)
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target}: {os.strerror(e)}")


def _bind(source: Path, target: Path, *, readonly: bool) -> None:
    _mount(str(source), target, None, _MS_BIND | _MS_REC)
    if readonly:
        _mount(None, target, None,
               _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _umount(target: Path | str) -> None:
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):   # EINVAL: not a mount point (any more)
            raise OSError(e, f"umount {target}: {os.strerror(e)}")


def _unmount_under(folder: Path) -> None:
    """Detach every mount at or below `folder` (deepest first)."""
    prefix = str(folder).rstrip("/") + "/"
    points = [m[0] for m in _mounts() if m[0] == str(folder) or m[0].startswith(prefix)]
    for mp in sorted(set(points), key=len, reverse=True):
        _umount(mp)


# ---- cgroups ------------------------------------------------------------------------------
def _cgroup_layout() -> tuple[dict[str, tuple[Path, int]], Path | None]:
    """Where each controller we use lives: {"memory"|"pids"|"cpu": (hierarchy root, 1 or 2)},
    and the cgroup v2 root (for cgroup.kill), if any."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for mp, fstype, _, superopts, _ in _mounts():
        if fstype == "cgroup2" and v2 is None:
            v2 = Path(mp)
        elif fstype == "cgroup":
            for opt in superopts.split(","):
                if opt in ("memory", "pids", "cpu") and opt not in v1:
                    v1[opt] = Path(mp)
    v2_controllers: set[str] = set()
    if v2 is not None:
        try:
            v2_controllers = set(_read(v2 / "cgroup.controllers").split())
        except OSError:
            pass
    layout: dict[str, tuple[Path, int]] = {}
    for c in ("memory", "pids", "cpu"):
        if c in v1:
            layout[c] = (v1[c], 1)
        elif c in v2_controllers and v2 is not None:
            layout[c] = (v2, 2)
    return layout, v2


class _Cgroups:
    """The sandbox's cgroups, one per hierarchy it uses, at <root>/CGROUP_GROUP/<pid>-<n>
    (<pid> is the grader's: a grader killed -9 leaves cgroups the next one removes)."""

    _serial = 0
    _serial_lock = threading.Lock()

    def __init__(self, limits: Limits, *, pids_slack: int = BWRAP_TASKS):
        layout, v2 = _cgroup_layout()
        missing = [c for c in ("memory", "pids") if c not in layout]
        if missing:
            raise SandboxError(f"no cgroup controller for {', '.join(missing)}")
        with _Cgroups._serial_lock:
            _Cgroups._serial += 1
            self.name = f"{os.getpid()}-{_Cgroups._serial}"
        self.layout = layout
        roots = {root for root, _ in layout.values()}
        if v2 is not None:
            roots.add(v2)
        self.v2 = v2 / CGROUP_GROUP / self.name if v2 is not None else None
        self.dirs: list[Path] = []
        try:
            for root in sorted(roots):
                parent = root / CGROUP_GROUP
                parent.mkdir(exist_ok=True)
                _reap_stale(parent)
                if root == v2:
                    enable = [c for c, (r, ver) in layout.items() if ver == 2]
                    for d in (root, parent):
                        have = set(_read(d / "cgroup.subtree_control").split())
                        if set(enable) - have:
                            _write(d / "cgroup.subtree_control",
                                   " ".join("+" + c for c in enable if c not in have))
                d = parent / self.name
                d.mkdir()
                self.dirs.append(d)
            self._limit(limits, pids_slack)
        except BaseException:
            self.remove()
            raise

    def dir(self, controller: str) -> Path:
        root, _ = self.layout[controller]
        return root / CGROUP_GROUP / self.name

    def _limit(self, limits: Limits, slack: int) -> None:
        mem = self.dir("memory")
        if self.layout["memory"][1] == 1:
            _write(mem / "memory.limit_in_bytes", str(limits.memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            else:
                _write(mem / "memory.swappiness", "0")
        else:
            _write(mem / "memory.max", str(limits.memory_bytes))
            if (mem / "memory.swap.max").exists():
                _write(mem / "memory.swap.max", "0")
        _write(self.dir("pids") / "pids.max", str(limits.processes + slack))
        if limits.cpus is not None and "cpu" in self.layout:
            cpu = self.dir("cpu")
            quota = max(1000, int(limits.cpus * 100_000))
            if self.layout["cpu"][1] == 1:
                _write(cpu / "cpu.cfs_period_us", "100000")
                _write(cpu / "cpu.cfs_quota_us", str(quota))
            else:
                _write(cpu / "cpu.max", f"{quota} 100000")

    def add(self, pid: int) -> None:
        for d in self.dirs:
            _write(d / "cgroup.procs", str(pid))

    def counters(self) -> dict[str, int]:
        mem = self.dir("memory")
        if self.layout["memory"][1] == 1:
            oom = _keyed(mem / "memory.oom_control", "oom_kill")
            peak_file = mem / "memory.max_usage_in_bytes"
        else:
            oom = _keyed(mem / "memory.events", "oom_kill")
            peak_file = mem / "memory.peak"
        try:
            peak = int(_read(peak_file))
        except (OSError, ValueError):
            peak = 0
        return {"oom_kill": oom, "pids_max": _keyed(self.dir("pids") / "pids.events", "max"),
                "memory_peak": peak}

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found.update(int(p) for p in _read(d / "cgroup.procs").split())
            except OSError:
                pass
        return found

    def kill(self) -> None:
        if self.v2 is not None and (self.v2 / "cgroup.kill").exists():
            try:
                _write(self.v2 / "cgroup.kill", "1")
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for attempt in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or attempt == 99:
                        raise
                    time.sleep(0.01)
        self.dirs = []


def _reap_stale(parent: Path) -> None:
    """Remove the cgroups of sandboxes whose grader process is gone (it was killed -9)."""
    try:
        names = [e.name for e in os.scandir(parent) if e.is_dir()]
    except OSError:
        return
    for name in names:
        pid, _, serial = name.partition("-")
        if not (pid.isdigit() and serial.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue                      # its grader still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        d = parent / name
        for _ in range(100):
            try:
                if (d / "cgroup.kill").exists():
                    _write(d / "cgroup.kill", "1")
                for p in _read(d / "cgroup.procs").split():
                    os.kill(int(p), signal.SIGKILL)
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except (OSError, ValueError):
                time.sleep(0.01)


# ---- uid slots and the stage folder ---------------------------------------------------------
def _claim_uid() -> tuple[int, int]:
    """A sandbox uid no other live sandbox holds: (uid, fd of its held lock file)."""
    slots = STATE_DIR / "slots"
    slots.mkdir(parents=True, exist_ok=True)
    os.chmod(STATE_DIR, 0o755)
    os.chmod(slots, 0o700)
    for i in range(UID_SLOTS):
        uid = UID_BASE + i
        try:
            pwd.getpwuid(uid)
            continue                      # a real account: never use it
        except KeyError:
            pass
        fd = _lock_slot(uid)
        if fd is not None:
            return uid, fd
    raise SandboxError(f"all {UID_SLOTS} sandbox uids are in use")


def _clear_stage(stage: Path) -> None:
    """Unmount and empty a stage folder: its scratch tmpfs wherever it is bound (the caller's
    scratch path: same device), the read-only binds, the files. Never recursive: after the
    detach, anything still mounted makes rmdir/unlink fail instead of deleting through it."""
    if not stage.exists():
        return
    mounts = _mounts()
    devs = {dev for mp, fs, src, _, dev in mounts
            if mp == str(stage / "scratch") and src == SCRATCH_SOURCE}
    for mp, fs, src, _, dev in mounts:
        if dev in devs and src == SCRATCH_SOURCE and mp != str(stage / "scratch"):
            _umount(mp)
    _unmount_under(stage)
    for entry in os.scandir(stage):
        if entry.is_dir(follow_symlinks=False):
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _lock_slot(uid: int) -> int | None:
    """The fd of uid's slot lock, now held; None if a live sandbox holds it."""
    fd = os.open(STATE_DIR / "slots" / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _sweep_stale_stages() -> None:
    """Clear the stage folders (mounts included) of sandboxes whose grader died without
    close(): their slot lock is free."""
    try:
        entries = [e.name for e in os.scandir(STATE_DIR / "stage") if e.name.isdigit()]
    except FileNotFoundError:
        return
    for name in entries:
        stage = STATE_DIR / "stage" / name
        if not any(stage.iterdir()):
            continue
        fd = _lock_slot(int(name))
        if fd is None:
            continue                       # alive
        try:
            _clear_stage(stage)
        finally:
            os.close(fd)


def _reachable(path: Path) -> bool:
    """Can a user that is neither owner nor in the group reach `path` (o+x on each parent)?"""
    for parent in path.parents:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


# ---- output -------------------------------------------------------------------------------
class _Drain(threading.Thread):
    """Copies a pipe into a file up to `cap` bytes, then reads on and discards (so the writer
    never blocks on a full pipe); ends when every writer has closed the pipe."""

    def __init__(self, read_fd: int, out_fd: int, cap: int):
        super().__init__(daemon=True, name="sandbox-output")
        self.read_fd, self.out_fd, self.cap = read_fd, out_fd, cap
        self.kept = 0
        self.discarded = 0

    def run(self) -> None:
        try:
            while True:
                try:
                    chunk = os.read(self.read_fd, 1 << 20)
                except InterruptedError:
                    continue
                if not chunk:
                    break
                room = self.cap - self.kept
                if room > 0:
                    view = memoryview(chunk[:room])
                    self.kept += len(view)
                    while view:
                        view = view[os.write(self.out_fd, view):]
                self.discarded += max(0, len(chunk) - max(room, 0))
        finally:
            os.close(self.read_fd)
            os.close(self.out_fd)


# The launcher, a shell started as the sandbox uid: it lowers its rlimits, stops itself; the
# grader moves it into the cgroups and sends SIGCONT; then it execs bwrap (or, unsandboxed, the
# command). `ulimit` and `kill` are builtins; without dash, util-linux's prlimit sets the limits.
_STOP_THEN_EXEC = 'kill -STOP $$ && exec "$@"'

_ETC_FILES = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
              "alternatives", "nsswitch.conf", "mime.types"]

_OPEN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for sb in list(_OPEN):
        try:
            sb.close()
        except Exception:
            pass


class _Spawner:
    """Every sandbox is started from this one long-lived thread. bwrap's --die-with-parent is
    PR_SET_PDEATHSIG, which fires when the *thread* that forked bwrap exits: started from a
    short-lived caller thread, a sandbox would die with it. From here, sandboxes die with the
    grader process (killed -9 included), and only then."""

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="sandbox-spawner")
                self._thread.start()
        done, box = threading.Event(), {}
        self._queue.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _loop(self) -> None:
        while True:
            fn, box, done = self._queue.get()
            try:
                box["value"] = fn()
            except BaseException as e:     # handed to the caller
                box["error"] = e
            finally:
                done.set()


_SPAWNER = _Spawner()


def _registered(proc: subprocess.Popen, procs: list) -> subprocess.Popen:
    procs.append(proc)      # at once, in the spawner: kill() finds it even if popen() is cut
    return proc


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


class Sandbox:
    """One submission's sandbox: start a command inside it, kill everything in it.

    ``scratch`` is a host folder; for the sandbox's lifetime it is a ``disk_bytes`` tmpfs (its
    previous contents copied in; what the code wrote is gone after ``close()``) and the only
    writable place inside, seen there as ``/scratch`` (``inside()`` translates host paths).
    ``readonly`` host paths are bound read-only at the same path (not under /dev, /proc,
    /scratch). The Python environment this module runs in is usable inside as ``python``.

    ``unsandboxed=True`` runs commands directly as the grader's own user with no isolation at
    all: only the clean environment, the output cap, the time limit, RLIMIT_FSIZE and - when
    cgroups are available - the memory, process and CPU limits and the whole-tree kill apply;
    scratch stays a plain folder, seen at its own path. For machines where ``available()`` is
    false (the grader must then say so in every report).

    Sandboxes die with the grader process, whichever thread started them (see _Spawner).
    Use one Sandbox from one thread at a time, apart from ``kill()``, which any thread may call.
    """

    def __init__(self, scratch: Path, limits: Limits = Limits(), *,
                 readonly: list[Path] | tuple = (), unsandboxed: bool = False):
        self.limits = limits
        self.unsandboxed = unsandboxed
        self.scratch = Path(os.path.realpath(scratch))
        self.readonly = [Path(os.path.realpath(p)) for p in readonly]
        self._lock = threading.RLock()
        self._procs: list[subprocess.Popen] = []
        self._drains: list[_Drain] = []
        self._timer: threading.Timer | None = None
        self._started: float | None = None
        self._timed_out = False
        self._closed = False
        self._cg: _Cgroups | None = None
        self._uid: int | None = None
        self._uid_fd: int | None = None
        self._stage: Path | None = None
        self._sources: dict[Path, str] = {}       # host path -> where bwrap binds it from
        self._scratch_tmpfs: Path | None = None   # the tmpfs (in the stage folder)
        self._snap = {"oom_kill": 0, "pids_max": 0, "memory_peak": 0}
        self._final: dict[str, int] = {}
        self._disk_was_full = False
        self._run_from = 0                         # self._procs[_run_from:]: since last popen
        if self.scratch == Path("/"):
            raise SandboxError("scratch cannot be /")
        for p in self.readonly:
            if not p.exists():
                raise SandboxError(f"readonly path {p} does not exist")
            for bad in ("/", "/tmp", "/dev", "/proc", INSIDE_SCRATCH):
                inside = bad not in ("/", "/tmp") and Path(bad) in p.parents
                if p == Path(bad) or inside:
                    raise SandboxError(f"readonly path {p} would cover or sit under {bad}")
        try:
            self._setup()
        except BaseException:
            self._teardown()
            raise
        _OPEN.add(self)

    # ---- set-up and tear-down ---------------------------------------------------------------
    def _setup(self) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        if self.unsandboxed:
            if os.geteuid() == 0:
                try:
                    self._cg = _Cgroups(self.limits, pids_slack=0)
                except (SandboxError, OSError):
                    self._cg = None
            (self.scratch / ".tmp").mkdir(exist_ok=True)
            return
        ok, why = self._prerequisites()
        if not ok:
            raise SandboxError(why)
        self._uid, self._uid_fd = _claim_uid()
        u = self._uid
        _sweep_stale_stages()                  # what graders killed -9 left mounted
        if any(m[0] == str(self.scratch) and m[2] == SCRATCH_SOURCE for m in _mounts()):
            raise SandboxError(f"{self.scratch} is the scratch of another live sandbox")
        stage = STATE_DIR / "stage" / str(u)
        _clear_stage(stage)
        stage.mkdir(parents=True, exist_ok=True)
        os.chmod(stage.parent, 0o755)
        os.chown(stage, u, u)
        os.chmod(stage, 0o700)                 # only the sandbox uid (and root) may enter
        self._stage = stage
        self._cg = _Cgroups(self.limits)
        for name, text in [
                ("passwd", f"sandbox:x:{u}:{u}:sandbox:{INSIDE_SCRATCH}:/bin/sh\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
                ("group", f"sandbox:x:{u}:\nnogroup:x:65534:\n"),
                ("hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n")]:
            _write(stage / name, text)
            os.chmod(stage / name, 0o644)
        for p in self._python_roots() + self.readonly:
            self._stage_readonly(p)
        self._mount_scratch()

    def _python_roots(self) -> list[Path]:
        roots: list[Path] = []
        for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
            p = Path(os.path.realpath(prefix))
            if p not in roots and not any(q in p.parents for q in roots):
                roots.append(p)
        return roots

    def _stage_readonly(self, path: Path) -> None:
        if path in self._sources:
            return
        if _reachable(path):
            self._sources[path] = str(path)
            return
        point = self._stage / f"ro{len(self._sources)}"
        if path.is_dir():
            point.mkdir()
        else:
            point.touch()
        _bind(path, point, readonly=True)
        self._sources[path] = str(point)

    def _mount_scratch(self) -> None:
        tmpfs = self._stage / "scratch"
        tmpfs.mkdir()
        inodes = max(4096, self.limits.disk_bytes // 4096)
        _mount(SCRATCH_SOURCE, tmpfs, "tmpfs", _MS_NOSUID | _MS_NODEV,
               f"size={self.limits.disk_bytes},nr_inodes={inodes},mode=0700,"
               f"uid={self._uid},gid={self._uid}")
        self._scratch_tmpfs = tmpfs
        try:
            shutil.copytree(self.scratch, tmpfs, symlinks=True, dirs_exist_ok=True)
        except (shutil.Error, OSError) as e:
            raise SandboxError(f"could not copy what {self.scratch} holds into its "
                               f"{_size(self.limits.disk_bytes)} scratch: {e}") from None
        (tmpfs / ".tmp").mkdir(exist_ok=True)
        for root, dirs, files in os.walk(tmpfs):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), self._uid, self._uid)
        os.chmod(tmpfs / ".tmp", 0o700)
        _bind(tmpfs, self.scratch, readonly=False)

    def _teardown(self) -> None:
        errors: list[Exception] = []
        if self._cg is not None:
            try:
                self._final = self._cg.counters()
                self._cg.remove()
            except OSError as e:
                errors.append(e)
            self._cg = None
        if self._scratch_tmpfs is not None:
            self._disk_was_full = self._disk_was_full or self._disk_full()
        if self._stage is not None:
            try:
                _clear_stage(self._stage)
            except OSError as e:
                errors.append(e)
            self._scratch_tmpfs = None
            self._stage = None
        if self._uid_fd is not None:
            os.close(self._uid_fd)
            self._uid_fd = None
        if errors:
            raise SandboxError(f"sandbox clean-up: {errors}")

    def close(self) -> None:
        """Kill everything, remove the cgroups, unmount the scratch tmpfs (its contents are
        discarded) and the staged binds, release the uid. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            try:
                self.kill()
            finally:
                for d in self._drains:
                    d.join(timeout=5)
                _OPEN.discard(self)
                self._teardown()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- what the caller needs to know --------------------------------------------------------
    @property
    def python(self) -> str:
        """The interpreter to use inside: this process's (a venv works; so do the packages
        installed in it, and editable ones whose source folder is bound read-only)."""
        return sys.executable

    @property
    def uid(self) -> int:
        """The host uid the code runs as (the grader's own when unsandboxed)."""
        return self._uid if self._uid is not None else os.geteuid()

    @property
    def inside_scratch(self) -> str:
        return str(self.scratch) if self.unsandboxed else INSIDE_SCRATCH

    def inside(self, host_path: Path | str) -> str:
        """The path inside the sandbox of a host path: under scratch it moves to /scratch;
        others (the readonly paths, the Python environment) are seen at the same path."""
        p = Path(os.path.abspath(host_path))
        if not self.unsandboxed and (p == self.scratch or self.scratch in p.parents):
            return str(PurePosixPath(INSIDE_SCRATCH) / p.relative_to(self.scratch))
        return str(p)

    @property
    def output_discarded(self) -> int:
        """Bytes of stdout/stderr dropped beyond output_bytes, over all popen()s."""
        return sum(d.discarded for d in self._drains)

    def time_left(self) -> float | None:
        """Seconds until the submission's time limit (None before the first popen)."""
        if self._started is None:
            return None
        return max(0.0, self._started + self.limits.submission_seconds - time.monotonic())

    def stats(self) -> dict[str, int]:
        """memory_peak and disk_used in bytes (so far), output_discarded."""
        return {"memory_peak": self._counters().get("memory_peak", 0),
                "disk_used": self._disk_used(), "output_discarded": self.output_discarded}

    # ---- start and stop -------------------------------------------------------------------
    def popen(self, argv: list[str], *, pass_fds=(), stdin=subprocess.PIPE,
              stdout_path: Path | None = None, env: dict[str, str] | None = None
              ) -> subprocess.Popen:
        """Start `argv` inside the sandbox ("python" as argv[0] means `self.python`).

        stdout and stderr (together, in order) go to `stdout_path`, a host file this process
        writes: the first output_bytes are kept, the rest is read and discarded
        (`output_discarded`); None discards all. Keep `stdout_path` outside scratch.
        `pass_fds` reach the command at the same numbers. `env` adds variables (the code can
        read them: no secrets). The returned Popen is the launcher's, which becomes bwrap:
        its exit status is the command's, 128 + the signal number if a signal ended it."""
        with self._lock:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            if self._timed_out:
                raise SandboxError(f"time limit ({self.limits.submission_seconds:g} s) "
                                   "already reached")
            argv = [os.fspath(a) for a in argv]
            if not argv:
                raise ValueError("empty argv")
            if argv[0] == "python":
                argv[0] = self.python
            command = self._launcher()
            command += argv if self.unsandboxed else self._bwrap(argv, env or {})
            out_fd = read_fd = write_fd = -1
            try:
                if stdout_path is not None:
                    out_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                     | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o640)
                    if not stat.S_ISREG(os.fstat(out_fd).st_mode):
                        raise SandboxError(f"stdout_path {stdout_path} is not a regular file")
                    read_fd, write_fd = os.pipe()
                    try:
                        fcntl.fcntl(read_fd, 1031, 1 << 20)   # F_SETPIPE_SZ: fewer wake-ups
                    except OSError:
                        pass
                sink = write_fd if stdout_path is not None else subprocess.DEVNULL
                if self._cg is not None:
                    self._snap = self._cg.counters()
                self._disk_was_full = False
                self._run_from = len(self._procs)
                spawn = functools.partial(
                    subprocess.Popen, command, stdin=stdin, stdout=sink, stderr=sink,
                    pass_fds=tuple(pass_fds),
                    env=self._environment(env or {}) if self.unsandboxed else {},
                    cwd=self.scratch if self.unsandboxed else "/", umask=0o022,
                    start_new_session=True, close_fds=True)
                proc = _SPAWNER.call(lambda: _registered(spawn(), self._procs))
            except BaseException:
                for fd in (out_fd, read_fd, write_fd):
                    if fd >= 0:
                        os.close(fd)
                raise
            if write_fd >= 0:
                os.close(write_fd)
                drain = _Drain(read_fd, out_fd, self.limits.output_bytes)
                drain.start()
                self._drains.append(drain)
            try:
                self._confine(proc)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if self._started is None:
                self._started = time.monotonic()
                self._timer = threading.Timer(self.limits.submission_seconds, self._time_up)
                self._timer.daemon = True
                self._timer.start()
            return proc

    def _confine(self, proc: subprocess.Popen) -> None:
        """The launcher has stopped itself: into the cgroups, then let it go on."""
        deadline = time.monotonic() + 10
        while (state := _state(proc.pid)) != "T":
            if state in ("Z", "X", "gone") or time.monotonic() > deadline:
                raise SandboxError(f"the sandbox launcher did not start (state {state})")
            time.sleep(0.0002)
        if self._cg is not None:
            self._cg.add(proc.pid)
        os.kill(proc.pid, signal.SIGCONT)

    def _launcher(self) -> list[str]:
        """setpriv -> dash (rlimits, stop) -> [bwrap ->] the command.

        setpriv drops to the sandbox uid and gid (no groups, empty inheritable and bounding
        capability sets, no_new_privs; all capabilities go with the uid), then sets
        PDEATHSIG=SIGKILL, which survives the following execs: from then on the grader's
        death kills the launcher, so there is no window before bwrap's own --die-with-parent
        in which a dying grader would orphan a sandbox. (Done by setpriv rather than by
        subprocess's user=/group=: those make it fork instead of vfork, ~5 ms per start.)
        The rlimits are set by the launcher itself: root here may lack CAP_SYS_RESOURCE, which
        prlimit(2) on another uid's process needs. Sandboxed, the tmpfs is the disk limit
        (ENOSPC) and RLIMIT_FSIZE a little above it only a second fence."""
        fsize = self.limits.disk_bytes + (0 if self.unsandboxed else 1 << 20)
        nproc = None if self.unsandboxed else self.limits.processes + BWRAP_TASKS + 8
        setpriv = _tool("setpriv")
        if self.unsandboxed:
            first = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        else:
            u = str(self._uid)
            first = [setpriv, f"--reuid={u}", f"--regid={u}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                     "--pdeathsig", "KILL", "--"]
        if os.path.exists("/bin/dash"):
            limits = f"ulimit -f {-(-fsize // 512)} && ulimit -c 0"
            if nproc is not None:
                limits += f" && ulimit -p {nproc}"
            return first + ["/bin/dash", "-c", f"{limits} && {_STOP_THEN_EXEC}", "sh"]
        prlimit = _tool("prlimit")
        if prlimit is None:
            raise SandboxError("neither /bin/dash nor prlimit (util-linux) is installed")
        return (first + ["/bin/sh", "-c", _STOP_THEN_EXEC, "sh", prlimit,
                         f"--fsize={fsize}:{fsize}", "--core=0:0"]
                + ([f"--nproc={nproc}:{nproc}"] if nproc is not None else []) + ["--"])

    def _time_up(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._timed_out = True
            try:
                self.kill()
            except SandboxError:
                pass

    def kill(self) -> None:
        """SIGKILL every process of the sandbox (setsid daemons too) and wait until none is
        left. Idempotent; the sandbox stays usable (popen() again) until its time is up."""
        with self._lock:
            if self._scratch_tmpfs is not None:
                self._disk_was_full = self._disk_was_full or self._disk_full()
            if self._cg is not None:
                self._cg.kill()
            for p in self._procs:
                if p.poll() is None:
                    try:
                        if self._cg is None:
                            os.killpg(p.pid, signal.SIGKILL)
                        else:
                            p.kill()
                    except (ProcessLookupError, PermissionError):
                        pass
            deadline = time.monotonic() + KILL_TIMEOUT
            for p in self._procs:
                try:
                    p.wait(timeout=max(0.01, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            while self._cg is not None and self._cg.pids():
                if time.monotonic() > deadline:
                    raise SandboxError(f"processes {sorted(self._cg.pids())} survived kill()")
                time.sleep(0.005)
                self._cg.kill()

    def reason(self) -> str | None:
        """Which limits the command hit since the last popen(), in words: "memory limit
        (2.0 GiB)", "process limit (64)", "disk limit (256 MiB)", "time limit (600 s)",
        comma-separated if several; None if none. The output cap is no ending (see
        output_discarded), and cell_seconds is the caller's."""
        hits = []
        c = self._counters()
        if c.get("oom_kill", 0) > self._snap.get("oom_kill", 0):
            hits.append(f"memory limit ({_size(self.limits.memory_bytes)})")
        if c.get("pids_max", 0) > self._snap.get("pids_max", 0):
            hits.append(f"process limit ({self.limits.processes})")
        if self._disk_was_full or self._disk_full():
            hits.append(f"disk limit ({_size(self.limits.disk_bytes)})")
        elif any(p.returncode in (128 + signal.SIGXFSZ, -signal.SIGXFSZ)
                 for p in self._procs[self._run_from:]):
            hits.append(f"disk limit (file size {_size(self.limits.disk_bytes)})")
        if self._timed_out:
            hits.append(f"time limit ({self.limits.submission_seconds:g} s)")
        return ", ".join(hits) or None

    def _counters(self) -> dict[str, int]:
        if self._cg is not None:
            return self._cg.counters()
        return self._final

    def _disk_used(self) -> int:
        if self._scratch_tmpfs is None:
            return 0
        st = os.statvfs(self._scratch_tmpfs)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def _disk_full(self) -> bool:
        if self._scratch_tmpfs is None:
            return False
        st = os.statvfs(self._scratch_tmpfs)
        return st.f_bavail * st.f_frsize < 64 * 1024 or st.f_favail == 0

    # ---- safe access to scratch from the grader -----------------------------------------------
    def _open_in_scratch(self, rel: str, flags: int, mode: int = 0o644) -> int:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"{rel!r} is not a relative path inside scratch")
        dfd = os.open(self.scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts[:-1]:
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=dfd)
                os.close(dfd)
                dfd = nfd
            if flags & os.O_CREAT:
                try:
                    os.unlink(parts[-1], dir_fd=dfd)
                except FileNotFoundError:
                    pass
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        finally:
            os.close(dfd)

    def read_file(self, rel: str, max_bytes: int) -> bytes:
        """The bytes of scratch/`rel`, which the code inside may have written: refuses
        symlinks (in parent folders too), FIFOs, devices and anything over max_bytes, with a
        SandboxError."""
        try:
            fd = self._open_in_scratch(rel, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise SandboxError(f"cannot read {rel!r} from scratch: {e.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SandboxError(f"{rel!r} in scratch is not a regular file")
            chunks, size = [], 0
            while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise SandboxError(f"{rel!r} in scratch is over {max_bytes} bytes")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write_file(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        """Create scratch/`rel` afresh: whatever the code left at that name is unlinked, never
        followed. Owned by the grader: the code can read it (mode allowing), not change it."""
        try:
            fd = self._open_in_scratch(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as e:
            raise SandboxError(f"cannot write {rel!r} into scratch: {e.strerror}") from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    # ---- the command line -----------------------------------------------------------------
    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "PATH": f"{os.path.dirname(self.python)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": self.inside_scratch,
            "TMPDIR": str(self.scratch / ".tmp") if self.unsandboxed else "/tmp",
            "LANG": "C.UTF-8",
            "USER": "sandbox", "LOGNAME": "sandbox",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
        }
        env.update({str(k): str(v) for k, v in extra.items()})
        return env

    def _bwrap(self, argv: list[str], extra_env: dict[str, str]) -> list[str]:
        b = [_tool("bwrap"), "--unshare-all", "--unshare-user", "--disable-userns",
             "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             "--hostname", "sandbox", "--clearenv"]
        for k, v in self._environment(extra_env).items():
            b += ["--setenv", k, v]
        b += ["--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            p = Path("/") / top
            if p.is_symlink():
                b += ["--symlink", os.readlink(p), str(p)]
            elif p.is_dir():
                b += ["--ro-bind", str(p), str(p)]
        for name in _ETC_FILES:
            b += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for name in ("passwd", "group", "hosts"):
            b += ["--ro-bind", str(self._stage / name), f"/etc/{name}"]
        tmpfs = str(self._scratch_tmpfs)
        b += ["--proc", "/proc", "--dev", "/dev",
              "--bind", tmpfs, INSIDE_SCRATCH,
              "--bind", f"{tmpfs}/.tmp", "/tmp",
              "--bind", f"{tmpfs}/.tmp", "/dev/shm"]
        # after /tmp: a clone (and its venv) may live under /tmp, as CI's can
        for path, source in self._sources.items():
            b += ["--ro-bind", source, str(path)]
        b += ["--remount-ro", "/dev", "--remount-ro", "/",
              "--chdir", INSIDE_SCRATCH, "--"]
        return b + argv

    # ---- can a sandbox be set up here? --------------------------------------------------------
    @staticmethod
    def _prerequisites() -> tuple[bool, str]:
        if not sys.platform.startswith("linux"):
            return False, f"the sandbox needs Linux (this is {sys.platform})"
        if os.geteuid() != 0:
            return False, ("the sandbox needs root (to create cgroups, mount the scratch tmpfs "
                           "and start the code as a sandbox uid)")
        if _tool("bwrap") is None:
            return False, f"bwrap is not on {SYSTEM_PATH} (Debian: apt-get install bubblewrap)"
        if not os.path.exists("/bin/dash") and _tool("prlimit") is None:
            return False, "neither /bin/dash nor prlimit (util-linux) is installed"
        if _tool("setpriv") is None:
            return False, f"setpriv (util-linux) is not on {SYSTEM_PATH}"
        layout, _ = _cgroup_layout()
        missing = [c for c in ("memory", "pids") if c not in layout]
        if missing:
            return False, f"no cgroup controller for {', '.join(missing)} (v1 or v2) is mounted"
        return True, ""

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def available() -> tuple[bool, str]:
        """(True, "") if a sandbox can be set up here, else (False, why). It starts one to
        see (~0.1 s, once per process)."""
        ok, why = Sandbox._prerequisites()
        if not ok:
            return ok, why
        try:
            with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
                out = Path(tmp) / "out"
                with Sandbox(Path(tmp) / "scratch", Limits(submission_seconds=60)) as sb:
                    p = sb.popen(["python", "-c", "import os; print(os.getuid())"],
                                 stdin=subprocess.DEVNULL, stdout_path=out)
                    rc = p.wait(timeout=60)
                    uid = sb.uid
                text = out.read_text(errors="replace").strip()
                if rc != 0 or text != str(uid):
                    return False, f"a test sandbox failed (exit {rc}): {text[-500:]}"
        except (SandboxError, OSError, subprocess.SubprocessError) as e:
            return False, f"a test sandbox could not start: {e}"
        return True, ""
