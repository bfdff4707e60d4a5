"""Issue 20, item 3: a `perfwatch run` killed outright (kill -9) leaves no worker, no temporary
case folder and no run `running` forever behind. Real processes, real signals, real SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

from perfwatch.measure import runner
from perfwatch.store import queries
from perfwatch.store.engine import make_engine

SUITE = str(REPO / "tests" / "data" / "interrupt_suite.py")
RUN = ["run", "--suite", SUITE, "--modes", "eager", "--backend", "cpu", "--min-time", "0.05", "--no-accuracy"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _eventually(cond, limit: float = 60) -> bool:
    """Waits for ``cond``; a generous limit for a condition, never a timing that is asserted."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def _run_until_hang(sqlite_url, tmp_path):
    """`perfwatch run` of add (stored) then hang (its worker never ends): (process, worker pid,
    env, temporary folder) once the hanging worker runs."""
    gates = tmp_path / "gates"
    gates.mkdir()
    tmp = tmp_path / "tmp"  # the temporary folder of every process here, to look into
    tmp.mkdir()
    env = {"PW_GATES": str(gates), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "perfwatch", *RUN, "--benchmarks", "add,hang", "--timeout", "3600",
                             "--db", sqlite_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    try:
        assert _eventually(lambda: (gates / "hang.pid").exists() or proc.poll() is not None, 300), "hang never started"
        assert proc.poll() is None, proc.communicate()[1]
    except BaseException:
        proc.kill()
        raise
    return proc, int((gates / "hang.pid").read_text()), env, tmp


@pytest.mark.slow
def test_kill_9_of_run_leaves_no_worker_no_folder_no_running_run(sqlite_url, tmp_path):
    proc, worker, env, tmp = _run_until_hang(sqlite_url, tmp_path)
    try:

        # while the runner lives, nobody closes its run
        live = run_cli("runs", "--db", sqlite_url, env=env)
        assert live.returncode == 0 and "marked interrupted" not in live.stderr, live.stderr
        assert queries.list_runs(make_engine(sqlite_url))[0]["status"] == "running"

        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _eventually(lambda: not _alive(worker)), f"worker {worker} outlived its runner"
    left = [p for p in tmp.iterdir() if p.name.startswith(f"perfwatch-case-{proc.pid}-")]
    assert left  # a kill -9 leaves no chance to clean up: the next runner does

    listed = run_cli("runs", "--db", sqlite_url, env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"pid {proc.pid}" in listed.stderr and "marked interrupted" in listed.stderr
    run = queries.list_runs(make_engine(sqlite_url))[0]
    assert run["status"] == "interrupted" and run["cases_total"] == 1  # add was stored; hang never ended
    again = run_cli("runs", "--db", sqlite_url, env=env)
    assert "marked interrupted" not in again.stderr  # closed once

    nxt = run_cli(*RUN, "--benchmarks", "add", "--db", sqlite_url, env=env)
    assert nxt.returncode == 0, nxt.stderr
    assert not any(p.exists() for p in left)  # the dead runner's case folder is gone


def test_runner_identity_tells_gone_from_alive():
    me = runner.runner_identity()
    assert not runner.runner_gone(me)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert runner.runner_gone({**me, "pid": dead.pid})
    assert runner.runner_gone({**me, "start": "1"})  # this pid, but another process's start: reused
    assert not runner.runner_gone({**me, "pid": dead.pid, "host": socket.gethostname() + "-elsewhere"})
    assert not runner.runner_gone(None)  # a run from before identities: cannot judge, left alone


def test_parent_watch_kills_the_worker_group_without_pdeathsig(tmp_path):
    """The fallback where PR_SET_PDEATHSIG does not exist: a thread in the worker sees its runner
    gone and kills the worker's process group, a child of its own included."""
    pids = tmp_path / "pids"
    worker = (
        "import os, subprocess, sys, time\n"
        "from perfwatch.measure import runner\n"
        "runner._watch_parent(os.getppid(), every_s=0.1)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(3600)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {worker!r}], start_new_session=True)\n"
        "time.sleep(3600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert _eventually(lambda: pids.exists() and pids.read_text().count(" ") == 1, 120), "worker never started"
        worker_pid, child_pid = map(int, pids.read_text().split())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _eventually(lambda: not _alive(worker_pid) and not _alive(child_pid))


def test_sigterm_of_run_ends_it_as_interrupted_with_its_finished_cases(sqlite_url, tmp_path):
    """A CI runner cancelling the job sends SIGTERM: the run stores what finished, kills its
    worker, closes the run as interrupted and exits 130 — as Ctrl-C does."""
    proc, worker, _, _ = _run_until_hang(sqlite_url, tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _eventually(lambda: not _alive(worker)), "the worker outlived its runner"
    run = queries.list_runs(make_engine(sqlite_url))[0]
    assert run["status"] == "interrupted" and run["cases_total"] >= 1  # add was stored
