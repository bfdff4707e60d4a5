"""Many runners, one database: concurrent writers lose nothing; an unreachable database loses nothing."""

import multiprocessing as mp
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO, run_cli

from perfwatch.store import queries
from perfwatch.store.engine import make_engine

FAULTS = str(REPO / "tests" / "data" / "fault_suite.py")


def _writer(url: str, worker: int, n_cases: int) -> None:
    from test_store import make_case, make_run

    from perfwatch.store import writes

    engine = make_engine(url)
    run = make_run(f"run-{worker}", fp=f"machine-{worker % 2}")  # two machines share series rows
    writes.write_run(engine, run)
    for i in range(n_cases):
        writes.write_case(engine, run, make_case(run, f"w{worker}-c{i}", benchmark=f"b{i % 3}", step=1.0 + i))
    writes.finish_run(engine, run, "2026-11-01T11:00:00+00:00", n_cases, 0)


def test_concurrent_writers_lose_no_row(db_url):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db_url, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    counts = queries.count_rows(make_engine(db_url))
    assert counts == {"runs": 4, "cases": 100, "measurements": 200}


@pytest.mark.slow
def test_concurrent_perfwatch_runs(db_url):
    cmd = [sys.executable, "-m", "perfwatch", "run", "--suite", FAULTS, "--benchmarks", "add,wrong", "--modes", "eager",
           "--backend", "cpu", "--min-time", "0.05", "--db", db_url]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    engine = make_engine(db_url)
    runs = queries.list_runs(engine)
    assert len(runs) == 3 and all(r["status"] == "finished" and r["cases_total"] == 2 for r in runs)
    assert queries.count_rows(engine)["cases"] == 6


class Proxy:
    """A TCP forwarder to Postgres that can be cut, as a network or a server going away would."""

    def __init__(self, port: int, target=("127.0.0.1", 5432)) -> None:
        self.port, self.target = port, target
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> "Proxy":
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.listener:
            try:  # wakes the accept() blocked in the other thread (close alone does not)
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_database_stopped_under_a_running_suite_loses_nothing(pg_db, tmp_path):
    direct = make_engine(pg_db)
    port = _free_port()
    proxy = Proxy(port).start()
    via_proxy = pg_db.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    gate = tmp_path / "gate"
    cmd = [sys.executable, "-m", "perfwatch", "run", "--suite", FAULTS, "--benchmarks", "add,gate,wrong", "--modes", "eager",
           "--backend", "cpu", "--min-time", "0.05", "--db", via_proxy, "--fail-on-regression"]
    env = {**__import__("os").environ, "FAULT_SUITE_GATE": str(gate)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 120
        while queries.count_rows(direct)["cases"] < 1:  # the first case is in
            assert time.time() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        proxy.stop()  # the database goes away mid-run
        gate.write_text("go")
        out, err = proc.communicate(timeout=180)
    finally:
        proxy.stop()
        if proc.poll() is None:
            proc.kill()
    # the gate could not judge spooled results: a distinct exit code, never a pass it did not earn
    assert proc.returncode == 5, err
    assert "the gate could not run" in err and "result(s) kept in the spool" in err
    assert queries.count_rows(direct)["cases"] == 1

    # The database is back: `perfwatch push` writes what was measured meanwhile.
    proxy = Proxy(port).start()
    try:
        pushed = run_cli("push", "--db", via_proxy)
        assert pushed.returncode == 0, pushed.stderr
        assert "pushed 3 spooled result(s)" in pushed.stdout  # two cases and the run's end
        again = run_cli("push", "--db", via_proxy)
        assert "pushed 0" in again.stdout
    finally:
        proxy.stop()
    assert queries.count_rows(direct)["cases"] == 3
    run = queries.list_runs(direct)[0]
    assert run["status"] == "finished" and run["cases_total"] == 3


@pytest.mark.parametrize("n", [3])
def test_shared_sqlite_file_many_processes(tmp_path, n):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    ctx = mp.get_context("spawn")
    from perfwatch.store.migrate import upgrade

    upgrade(make_engine(url))
    procs = [ctx.Process(target=_writer, args=(url, w, 40)) for w in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert queries.count_rows(make_engine(url))["cases"] == 40 * n
