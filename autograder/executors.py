"""Where `autograder grade` runs its grading jobs: this machine's process pool, or a Dask cluster.

The Grader sees one small interface, whichever it is:

    pool = executors.make(jobs=N, scheduler=None or "tcp://HOST:PORT")
    future = pool.submit(grade_one, job)  # future.result(): grade_one(job), or its exception
    pool.wait_any(futures)                # the futures that have finished (at least one)
    pool.window                           # how many jobs to keep in flight at once
    pool.cancel()                         # Ctrl-C: drop what is queued, abandon what runs
    pool.close()
    pool.describe(), pool.remote, pool.problems(unsandboxed)

A job is a plain dict that carries everything grading needs (the submission's and the source
notebooks' bytes, the seed, the limits), so it runs the same in a local worker process or on
another machine. Results come back to the grader process, which alone writes result files
and the gradebook: a job that runs twice (a lost worker's job rerun elsewhere) still gives
one result.
"""
import ctypes
import os
import signal
import uuid
from concurrent import futures as _cf

# A job whose worker dies is rerun by the scheduler on another worker (up to Dask's
# `distributed.scheduler.allowed-failures`, 3 by default, then it fails with KilledWorker).
# `retries` is for exceptions grade_one raises (a grader or machine problem on one worker, e.g.
# no free sandbox uid): each is tried this many more times, possibly elsewhere. Student code
# cannot cause either: it runs in the sandbox, and its faults are part of the result.
RETRIES = 2
WINDOW = 256


class ClusterError(RuntimeError):
    """The cluster cannot grade (a worker without a sandbox): said in words."""


def make(jobs=1, scheduler=None):
    return DaskCluster(scheduler) if scheduler else LocalPool(jobs)


def _worker_init():
    """Workers leave Ctrl-C to the parent (which saves what is done, then stops them) and
    die with it, even under kill -9, taking their sandboxes with them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


class LocalPool:
    """`jobs` worker processes on this machine (the default)."""

    remote = False

    def __init__(self, jobs=1):
        self.jobs = max(1, int(jobs))
        self.window = 2 * self.jobs
        self._pool = _cf.ProcessPoolExecutor(self.jobs, initializer=_worker_init)
        self._cancelled = False

    def describe(self):
        return f"{self.jobs} local worker process{'es' if self.jobs > 1 else ''}"

    def problems(self, unsandboxed):
        return []  # the command line checked this machine's sandbox already

    def submit(self, fn, job):
        return self._pool.submit(fn, job)

    def wait_any(self, futures):
        return _cf.wait(futures, return_when=_cf.FIRST_COMPLETED).done

    def cancel(self):
        self._cancelled = True
        workers = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:  # their sandboxes die with them (--die-with-parent)
            proc.kill()

    def close(self):
        self._pool.shutdown(wait=not self._cancelled, cancel_futures=True)


class DaskCluster:
    """The workers of a Dask distributed scheduler (`dask scheduler`, `dask worker ...`).

    Each worker must run this project's own environment (the same checkout, so the same
    checks: grade_one refuses a job whose test suite hashes differently there) and be able to
    start sandboxes (root, bubblewrap, cgroups). Each worker thread grades one submission at a
    time, in its own sandbox; the comparison with the expected values runs in the worker's
    grader process, outside the sandbox, as it does locally."""

    remote = True

    def __init__(self, address, timeout=30):
        from distributed import Client
        self.address = address
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except OSError as e:
            raise ClusterError(f"no Dask scheduler answers at {address} ({e})") from None
        from distributed import as_completed
        self._futures = set()  # in flight (a finished future is dropped: its result is freed)
        self._finished = as_completed(loop=self.client.loop)
        # jobs in flight: enough to keep every thread busy, also as workers join, while only
        # these jobs' notebooks are held in memory (by this process and the scheduler)
        self.window = max(WINDOW, 2 * sum(self.client.nthreads().values()))

    def describe(self):
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        threads = sum(w.get("nthreads", 0) for w in workers)
        hosts = len({w.get("host") for w in workers})
        if not workers:
            return (f"the Dask cluster at {self.address} (no workers yet: jobs wait for one "
                    f"to connect)")
        return (f"the Dask cluster at {self.address}: {len(workers)} workers, {threads} "
                f"threads, on {hosts} machine{'s' if hosts > 1 else ''}")

    def problems(self, unsandboxed):
        """Workers that cannot grade: no sandbox there (unless unsandboxed)."""
        if unsandboxed:
            return []
        found = self.client.run(_ready_to_grade)
        return [f"worker {address}: the sandbox cannot be set up there: {why}"
                for address, (ok, why) in sorted(found.items()) if not ok]

    def submit(self, fn, job):
        # a readable, unique key (the dashboard groups by its prefix); never shared with
        # another grader's job, so a regrade is a new computation, not a cached one
        key = f"grade-{job['assignment']}-{job['student']}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(_in_worker_directory, fn, job, key=key, pure=False,
                                    retries=RETRIES)
        self._futures.add(future)
        self._finished.add(future)
        return future

    def wait_any(self, futures):
        # this client's futures as they finish (distributed.wait would need a default client)
        done = set(self._finished.next_batch(block=True))
        self._futures -= done
        return done

    def cancel(self):
        # queued jobs are dropped; a job already running finishes on its worker (Dask cannot
        # interrupt a thread) and its result is discarded
        self.client.cancel(list(self._futures), force=True)

    def close(self):
        self._futures.clear()
        self.client.close()


def _in_worker_directory(fn, job):
    """fn(job) with its temporary files in the Dask worker's own folder (Dask removes it when
    the worker ends, and a killed worker's at the next start of a worker on that machine)."""
    from distributed import get_worker
    return fn({**job, "workdir": get_worker().local_directory})


def _ready_to_grade():
    """Whether the sandbox can be set up on this worker; and the grading code imported
    now, on every worker at once (seconds in a fresh worker), not in its first job."""
    from . import grade  # noqa: F401
    from .sandbox import Sandbox
    return Sandbox.available()
