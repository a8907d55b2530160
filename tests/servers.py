"""Servers for the tests and benchmarks that grade on a cluster, started in temporary folders
and listening on loopback only: a throwaway PostgreSQL cluster and a Dask scheduler with
worker processes, both from this project's environment."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
DASK = Path(sys.executable).parent / "dask"


def missing():
    """Why these servers cannot start here (None if they can)."""
    if not PG_BINS or not (PG_BINS[-1] / "initdb").exists():
        return ("no PostgreSQL server binaries (Debian: apt-get install postgresql; "
                ".ci/run installs it)")
    try:
        import distributed  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        return f"{e.name} missing: pip install -e '.[grade]'"
    if not DASK.exists():
        return f"no {DASK}: pip install -e '.[grade]'"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(proc):
    """End a server this test started (its own process group), at once if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


# ---- the servers ------------------------------------------------------------------------


class Postgres:
    """A throwaway PostgreSQL cluster: initdb in a temporary folder, 127.0.0.1 only, trust
    authentication (nothing else can reach it), fsync off. PostgreSQL refuses to run as root,
    so as root it runs as `nobody`, in a folder owned by nobody."""

    def __init__(self):
        self.bin = PG_BINS[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
        self.port = free_port()
        self.prefix = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                           "--clear-groups", "--"]
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                  "--no-locale", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} "
                  f"-k {self.dir} -c fsync=off -c max_connections=50", "start")

    def _run(self, tool, *args):
        done = subprocess.run([*self.prefix, str(self.bin / tool), *args], capture_output=True,
                              text=True, timeout=90, cwd=self.dir)
        if done.returncode != 0:
            log = self.dir / "log"
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}"
                               f"{log.read_text() if log.exists() else ''}")

    def url(self, database):
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, database):
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def count(self, database, query):
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname=database) as conn:
            return conn.execute(query).fetchone()[0]

    def close(self):
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """`dask scheduler` and `dask worker --nworkers N --nthreads 1`, this project's own
    environment, on 127.0.0.1 (dashboards too). Each worker process is restarted by its
    nanny when killed."""

    def __init__(self, nworkers=2):
        import distributed
        self.nworkers = nworkers
        self.dir = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
        self.address = f"tcp://127.0.0.1:{free_port()}"
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "DASK_TEMPORARY_DIRECTORY": str(self.dir)}  # nannies' lock files too
        common = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
        self.procs = []
        self.procs.append(self._start([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                                       self.address.rsplit(":", 1)[1], *common], env, "scheduler"))
        self.client = None
        try:
            self.procs.append(self._start([str(DASK), "worker", self.address, "--nworkers",
                                           str(nworkers),
                                           "--nthreads", "1", "--host", "127.0.0.1",
                                           "--local-directory", str(self.dir), *common],
                                          env, "workers"))
            self.client = distributed.Client(self.address, timeout=60, set_as_default=False)
            self.wait_for_workers()
        except BaseException:
            self.close()
            raise

    def _start(self, argv, env, name):
        log = open(self.dir / f"{name}.log", "w")
        return subprocess.Popen(argv, env=env, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def wait_for_workers(self, n=None):
        n = n or self.nworkers
        self.client.wait_for_workers(n, timeout=90)
        wait_for(lambda: len(self.client.run(os.getpid)) == n, 90, f"{n} workers")

    def pids(self):
        return self.client.run(os.getpid)

    def close(self):
        if self.client is not None:
            self.client.close()
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)
