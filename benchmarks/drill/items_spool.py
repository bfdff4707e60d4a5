"""Drill checks for issue 20, items 1-4 and 14: the spool, a full disk, kill -9, the gate.

Each check injects its fault for real through the real CLI in a scratch directory:
  1  a half-written spool line (a writer killed mid-append), then `push` and `run`;
  2  the spool a link to /dev/full (ENOSPC) while the database goes away mid-run (SQLite on a
     tmpfs filled up; needs root to mount, else reported by a file size limit on the run);
  3  kill -9 of `perfwatch run` while a case hangs: the worker, the temp folder, the run's status;
  4  the database's disk full mid-run with --fail-on-regression: exit 5, said why;
  14 `push` while the database's disk is still full: says why, not "unreachable".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Cli, Result, has_traceback, judge

SUITE = str(REPO / "tests" / "data" / "interrupt_suite.py")
RUN = ["run", "--suite", SUITE, "--modes", "eager", "--backend", "cpu", "--min-time", "0.05", "--no-accuracy"]


def _spool_file(work: Path, url: str) -> Path:
    sys.path.insert(0, str(REPO))
    from perfwatch.store.spool import spool_path

    return spool_path(work / "home" / "spool", url)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _until(cond, limit: float) -> bool:
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def _popen(cli: Cli, args: list[str], env: dict) -> subprocess.Popen:
    full = {**os.environ, "PERFWATCH_HOME": str(cli.work / "home"), "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen([sys.executable, "-m", "perfwatch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full, cwd=str(cli.work))


def _runs(url: str) -> list[dict]:
    from perfwatch.store import queries
    from perfwatch.store.engine import make_engine

    return [r.to_dict() for r in queries.list_runs(make_engine(url))]


def check_torn_spool_line(work: Path) -> list[Result]:
    cli = Cli(work)
    url = f"sqlite:///{work / 'store.db'}"
    first = cli(*RUN, "--benchmarks", "add", "--db", url)
    if first.returncode != 0:
        return [judge(1, "torn spool line: setup run", first)]
    path = _spool_file(work, url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # what a writer killed mid-append leaves
        f.write('{"kind": "case", "run": {"run_id": "2026')
    pushed = cli("push", "--db", url)
    ran = cli(*RUN, "--benchmarks", "add", "--db", url)
    out = [judge(1, "torn spool line: push", pushed, expect_codes={0},
                 detail="warned" if "skipped 1 spool line" in pushed.stderr else "no warning")]
    runs = _runs(url)
    out.append(judge(1, "torn spool line: next run", ran, expect_codes={0}, lost=len(runs) != 2,
                     detail=f"{len(runs)} runs stored"))
    return out


def _mount_small_disk(where: Path) -> bool:
    where.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def _fill(folder: Path) -> Path:
    fill = folder / "fill"
    with open(fill, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return fill


def _disk_full_run(work: Path, spool_full: bool) -> tuple[subprocess.CompletedProcess | None, str, Path | None]:
    """add, gate1, gate2 with the database on a tmpfs filled once add is stored. Returns the run's
    result, the database URL and the fill file (None when no tmpfs could be mounted)."""
    disk = work / "disk"
    if not _mount_small_disk(disk):
        return None, "", None
    url = f"sqlite:///{disk / 'store.db'}"
    cli = Cli(work)
    if spool_full:
        path = _spool_file(work, url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to("/dev/full")
    gates = work / "gates"
    gates.mkdir()
    proc = _popen(cli, [*RUN, "--benchmarks", "add,gate1,gate2", "--db", url, "--fail-on-regression"],
                  {"PW_GATES": str(gates)})
    try:
        if not _until(lambda: (gates / "gate1.waiting").exists() or proc.poll() is not None, 300):
            proc.kill()
        fill = _fill(disk)
        (gates / "gate1").touch()
        (gates / "gate2").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), url, fill


def _umount(work: Path) -> None:
    subprocess.run(["umount", "-l", str(work / "disk")], capture_output=True)


def check_db_down_and_spool_full(work: Path) -> list[Result]:
    try:
        proc, url, fill = _disk_full_run(work, spool_full=True)
        if proc is None:
            return [Result(2, "db down + spool disk full", "clean", "skipped: cannot mount a tmpfs (needs root)")]
        said = "could not be kept" in proc.stderr and "No space left on device" in proc.stderr
        ran_all = "3/3 case(s) ok" in proc.stdout
        return [judge(2, "db down + spool disk full: run", proc, expect_codes={6}, lost=not (said and ran_all),
                      detail=f"exit {proc.returncode}; all cases ran: {ran_all}; said what was lost: {said}")]
    finally:
        _umount(work)


def check_gate_and_push_on_full_disk(work: Path) -> list[Result]:
    try:
        proc, url, fill = _disk_full_run(work, spool_full=False)
        if proc is None:
            return [Result(4, "gate on a full database disk", "clean", "skipped: cannot mount a tmpfs (needs root)")]
        out = [judge(4, "gate on a full database disk", proc, expect_codes={5},
                     lost="the gate could not run" not in proc.stderr,
                     detail=f"exit {proc.returncode}")]
        text = proc.stderr
        out.append(judge(14, "run on a full database disk says why", proc, expect_codes={5},
                         lost="No space left on device" not in text or "unreachable" in text,
                         detail="names ENOSPC" if "No space left on device" in text else text.strip()[-160:]))
        cli = Cli(work)
        still = cli("push", "--db", url)
        said = still.stdout + still.stderr
        out.append(judge(14, "push with the disk still full says why", still, expect_codes={2, 3},
                         lost="No space left on device" not in said or "unreachable" in said,
                         detail=said.strip().splitlines()[-1][:160] if said.strip() else ""))
        fill.unlink()
        pushed = cli("push", "--db", url)
        runs = _runs(url)
        out.append(judge(14, "push once there is room", pushed, expect_codes={0},
                         lost=not runs or runs[0]["cases_total"] != 3, detail=pushed.stdout.strip()))
        return out
    finally:
        _umount(work)


def check_kill_9(work: Path) -> list[Result]:
    cli = Cli(work)
    url = f"sqlite:///{work / 'store.db'}"
    gates, tmp = work / "gates", work / "tmp"
    gates.mkdir()
    tmp.mkdir()
    env = {"PW_GATES": str(gates), "TMPDIR": str(tmp)}
    proc = _popen(cli, [*RUN, "--benchmarks", "add,hang", "--timeout", "3600", "--db", url], env)
    try:
        if not _until(lambda: (gates / "hang.pid").exists() or proc.poll() is not None, 300) or proc.poll() is not None:
            err = proc.communicate()[1] if proc.poll() is not None else ""
            return [Result(3, "kill -9 of run: setup", "traceback", err.strip()[-160:])]
        worker = int((gates / "hang.pid").read_text())
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = []
    orphan = not _until(lambda: not _alive(worker), 30)
    out.append(Result(3, "kill -9 of run: worker dies with it", "leaked" if orphan else "clean",
                      f"worker {worker} {'still alive after 30 s' if orphan else 'gone'}"))
    if orphan:
        os.kill(worker, signal.SIGKILL)
    listed = cli("runs", "--json", "--db", url, extra_env=env)
    status = json.loads(listed.stdout)[0]["status"] if listed.returncode == 0 and listed.stdout.strip() else "?"
    out.append(judge(3, "kill -9 of run: next `runs` closes it", listed, expect_codes={0},
                     lost=status != "interrupted", detail=f"status {status}"))
    nxt = cli(*RUN, "--benchmarks", "add", "--db", url, extra_env=env)
    left = [p.name for p in tmp.iterdir() if p.name.startswith(f"perfwatch-case-{proc.pid}-")]
    out.append(judge(3, "kill -9 of run: temp case folder removed by the next run", nxt, expect_codes={0},
                     leaked=bool(left), detail=f"left: {left}" if left else "none left"))
    return out


CHECKS = [check_torn_spool_line, check_kill_9, check_db_down_and_spool_full, check_gate_and_push_on_full_disk]
