"""The machine the numbers were measured on, and the one-thread setting they assume.

`pin_threads()` must run before numpy (or torch) is imported: BLAS libraries read their
thread count from the environment when they load. This module imports neither at the top.
"""
import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pin_threads():
    """One BLAS/OpenMP thread for numpy and torch alike: a fair, repeatable comparison."""
    if "numpy" in sys.modules:
        raise RuntimeError("pin_threads() must run before numpy is imported")
    for var in THREAD_VARS:
        os.environ[var] = "1"


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest; every array these benchmarks make is smaller
MALLOC_NOTE = f"heap for arrays < {MMAP_THRESHOLD // 2**20} MiB, never trimmed"


def steady_malloc():
    """Make glibc's malloc keep freed memory instead of returning it to the system.

    By default glibc serves big arrays with fresh pages whenever its adaptive thresholds
    say so, and in this project's VMs each page fault on fresh memory costs ~2 µs: measured
    at the medium size, one implementation or another (depending on what ran before in the
    process) took ~1750 faults per step, +45 % time, and none did with these settings.
    Fixed thresholds make that the same for numpy, the engine and torch, run after run.
    Returns a description for the header, or None where this is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, 2**31 - 1)):
        return None
    return f"glibc, fixed: {MALLOC_NOTE} (--malloc steady)"


def import_torch():
    """torch with one thread, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def info(torch, torch_absent="not installed"):
    """(label, value) rows describing this run; `torch_absent` says why torch is None."""
    import numpy as np
    import autodiff

    rows = [
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("numpy", f"{np.__version__}, BLAS {_numpy_blas()}"),
        ("torch", f"{torch_absent} (its columns are left out)" if torch is None else
         f"{torch.__version__}, {torch.get_num_threads()} thread(s)"),
        ("autodiff", _engine_state(os.path.dirname(autodiff.__file__))),
        ("cpu", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("threads", ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARS)),
    ]
    coretype = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if v in os.environ}
    if coretype:
        rows.append(("note", f"{coretype} is set: it can slow numpy's BLAS"))
    rows.append(("load", load_average()))
    return rows


def load_average():
    """The 1-minute load average: above ~1 on this machine, other work shares the cores and
    the timings are noisier."""
    try:
        return f"{os.getloadavg()[0]:.2f} (1-min load average)"
    except OSError:
        return "unknown"


def _numpy_blas():
    """Name, kernel and thread count of the OpenBLAS numpy loaded, as OpenBLAS reports it
    (numpy's build config names the build machine's kernel, not this one's)."""
    import numpy as np
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        name = f"{blas['name']} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        name = "unknown"
    for path in _loaded_libraries("openblas"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        details = []
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get_threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                get_config = getattr(lib, f"{prefix}_get_config{suffix}", None)
                if get_threads is None:
                    continue
                if get_config is not None:
                    get_config.restype = ctypes.c_char_p
                    kernel = get_config().decode().split()
                    details.append(next((w for w in kernel if w[:1].isupper() and
                                         w.isalpha() and w not in ("OpenBLAS",)), ""))
                details.append(f"{get_threads()} thread(s)")
                return f"{name} [{', '.join(d for d in details if d)}]"
    return name


def _loaded_libraries(word):
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if word in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _engine_state(engine_dir):
    """Which engine was measured: the commit, and whether its files had uncommitted changes
    (other engineers edit it while benchmarks run)."""
    where = os.path.relpath(engine_dir, ROOT) if engine_dir.startswith(ROOT) else engine_dir
    try:
        commit = subprocess.run(["git", "-C", engine_dir, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", engine_dir, "status", "--porcelain", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return where
    if not commit:
        return where
    return f"{where} at {commit}" + (" + uncommitted changes" if dirty else "")
