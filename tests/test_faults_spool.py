"""Issue 20, items 1, 2, 4 and 14: nothing lost, nothing silently passed, when the spool or the
database's disk fails. Every fault is real: a half-written line in the spool file, a file size
limit that cuts a write short, a spool that is a link to /dev/full (ENOSPC), a TCP proxy to
Postgres that is cut, a tmpfs that is filled up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from test_many_runners import Proxy, _free_port
from test_store import make_case, make_run

from perfwatch.domain.config import default_home
from perfwatch.store import queries, spool
from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade

SUITE = str(REPO / "tests" / "data" / "interrupt_suite.py")
RUN = ["run", "--suite", SUITE, "--modes", "eager", "--backend", "cpu", "--min-time", "0.05", "--no-accuracy"]


def _spool_file(url: str) -> Path:
    return spool.spool_path(default_home() / "spool", url)


def _wait(cond, proc, what: str, limit: float = 180) -> None:
    deadline = time.time() + limit
    while not cond():
        if proc.poll() is not None or time.time() > deadline:
            out, err = proc.communicate() if proc.poll() is not None else ("", "")
            raise AssertionError(f"never {what}: exit {proc.returncode}\n{err[-3000:]}")
        time.sleep(0.1)


def test_torn_spool_line_is_skipped_with_a_warning(sqlite_url):
    upgrade(make_engine(sqlite_url))
    path = _spool_file(sqlite_url)
    run = make_run("r-torn")
    spool.spool_case(path, run, make_case(run, "c1"))
    whole = json.dumps(spool.case_record(run, make_case(run, "c-cut")))
    with open(path, "a") as f:  # a writer killed half-way through its line
        f.write(whole[: len(whole) // 2])
    spool.spool_case(path, run, make_case(run, "c2"))  # must not be glued onto the fragment

    pushed = run_cli("push", "--db", sqlite_url)
    assert pushed.returncode == 0, pushed.stderr
    assert "Traceback" not in pushed.stderr
    assert "pushed 2 spooled result(s)" in pushed.stdout
    assert "skipped 1 spool line(s)" in pushed.stderr and ".torn" in pushed.stderr
    assert spool.torn_path(path).read_text().strip() == whole[: len(whole) // 2]
    assert not path.exists()
    assert queries.count_rows(make_engine(sqlite_url))["cases"] == 2

    # a torn tail never stops a run: the run pushes what is whole, warns, and measures
    with open(path, "a") as f:
        f.write('{"kind": "case", "run": {"run_')
    ran = run_cli(*RUN, "--benchmarks", "add", "--db", sqlite_url)
    assert ran.returncode == 0, ran.stderr
    assert "Traceback" not in ran.stderr and "skipped 1 spool line(s)" in ran.stderr
    assert queries.count_rows(make_engine(sqlite_url))["cases"] == 3


def test_an_append_cut_short_leaves_no_torn_line(tmp_path):
    """A write that the OS cuts short (here a file size limit, as a full disk would) leaves the
    spool as it was: whole lines only."""
    path = tmp_path / "spool.jsonl"
    run = make_run("r-cut")
    spool.spool_case(path, run, make_case(run, "c1"))
    size = path.stat().st_size
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_store import make_case, make_run\n"
        "from perfwatch.store import spool\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 100}, {size + 100}))\n"
        "run = make_run('r-cut')\n"
        "try:\n"
        f"    spool.spool_case(Path({str(path)!r}), run, make_case(run, 'c2'))\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused"), proc.stdout + proc.stderr
    assert path.stat().st_size == size  # cut back to the last whole line
    assert spool.pending(path) == 1 and all(spool._decode(line) for line in path.read_text().splitlines())


def _run_with_cut_database(pg_db, tmp_path, *, back_before_end: bool, extra=()):
    """`perfwatch run` of add, gate1, gate2 through a proxy to Postgres, with the spool a link to
    /dev/full. The proxy is cut once `add` is stored; gate1 then finishes with nowhere to go. With
    ``back_before_end`` the proxy comes back before gate2 finishes."""
    direct = make_engine(pg_db)
    port = _free_port()
    proxy = Proxy(port).start()
    via_proxy = pg_db.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    spool_file = _spool_file(via_proxy)
    spool_file.parent.mkdir(parents=True, exist_ok=True)
    spool_file.symlink_to("/dev/full")  # every write: ENOSPC
    gates = tmp_path / "gates"
    gates.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "perfwatch", *RUN, "--benchmarks", "add,gate1,gate2",
                             "--db", via_proxy, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PW_GATES": str(gates)})
    try:
        _wait(lambda: queries.count_rows(direct)["cases"] >= 1, proc, "stored the first case")
        proxy.stop()  # the database goes away
        (gates / "gate1").touch()
        _wait(lambda: (gates / "gate2.waiting").exists(), proc, "started gate2")  # gate1 was offered by then
        if back_before_end:
            proxy = Proxy(port).start()
        (gates / "gate2").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        proxy.stop()
        if proc.poll() is None:
            proc.kill()
    return proc, out, err, direct


@pytest.mark.slow
def test_database_down_and_spool_disk_full_keeps_measuring_and_says_what_is_lost(pg_db, tmp_path):
    proc, out, err, direct = _run_with_cut_database(pg_db, tmp_path, back_before_end=False,
                                                    extra=("--fail-on-regression",))
    assert "Traceback" not in err
    assert proc.returncode == 6, err  # results lost: its own exit code, over the gate's 5
    assert "run " in out and "3/3 case(s) ok" in out  # every case ran, and its figures were shown
    assert "3 result(s) could not be kept and are lost: gate1 [eager], gate2 [eager], the end of run" in err
    assert "No space left on device" in err  # the spool's reason, in the OS's words
    assert "the gate could not run" in err
    assert queries.count_rows(direct)["cases"] == 1


@pytest.mark.slow
def test_results_held_in_memory_reach_the_database_when_it_comes_back(pg_db, tmp_path):
    proc, out, err, direct = _run_with_cut_database(pg_db, tmp_path, back_before_end=True)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "lost" not in err
    assert queries.count_rows(direct)["cases"] == 3
    run = queries.list_runs(direct)[0]
    assert run["status"] == "finished" and run["cases_total"] == 3


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB file system (tmpfs), to be filled up; needs the right to mount (root)."""
    where = tmp_path / "disk"
    where.mkdir()
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {got.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


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


@pytest.mark.slow
def test_sqlite_disk_full_mid_run_spools_says_why_and_gate_is_unavailable(small_disk, tmp_path):
    url = f"sqlite:///{small_disk / 'store.db'}"
    gates = tmp_path / "gates"
    gates.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "perfwatch", *RUN, "--benchmarks", "add,gate1,gate2",
                             "--db", url, "--fail-on-regression"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PW_GATES": str(gates)})
    try:
        _wait(lambda: (gates / "gate1.waiting").exists(), proc, "started gate1")  # add is stored by then
        fill = _fill(small_disk)  # the database's disk fills up mid-run (the spool is elsewhere)
        (gates / "gate1").touch()
        (gates / "gate2").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err
    assert proc.returncode == 5, err  # spooled: the gate could not judge, and says so
    assert "the gate could not run" in err and "3 result(s) kept in the spool" in err
    assert "No space left on device" in err and "unreachable" not in err

    # the disk still full: push says why the results are still pending, in the OS's words
    still = run_cli("push", "--db", url)
    assert "Traceback" not in still.stderr and still.returncode in (2, 3), still.stderr
    assert "No space left on device" in still.stdout + still.stderr
    assert "unreachable" not in still.stdout + still.stderr and "cannot reach" not in still.stdout + still.stderr

    fill.unlink()  # room again: everything arrives
    pushed = run_cli("push", "--db", url)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 3 spooled result(s)" in pushed.stdout
    assert queries.count_rows(make_engine(url))["cases"] == 3
    assert queries.list_runs(make_engine(url))[0]["status"] == "finished"
