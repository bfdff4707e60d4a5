"""The command line as a user meets it: a closed pipe, what detect looked at, an ETA, a shared
database that is not perfwatch's (issue 18's CLI findings)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from perfwatch.cli.main import main
from perfwatch.cli.progress import Progress, fmt_eta
from perfwatch.domain.results import CaseResult, CaseSpec
from conftest import REPO, scratch_pg_database


def _demo(url: str) -> None:
    assert main(["demo-data", "--db", url, "--rows", "1500"]) == 0


def test_a_closed_pipe_ends_quietly(sqlite_url):
    _demo(sqlite_url)
    # `perfwatch detect | head -1`: the reader goes away after one line
    proc = subprocess.run(f"{sys.executable} -m perfwatch detect --db {sqlite_url} --no-store | head -1",
                          shell=True, capture_output=True, text=True, cwd=REPO, executable="/bin/bash")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.stdout.count("\n") == 1


def test_detect_says_what_it_judged_and_what_was_too_short(sqlite_url, capsys):
    _demo(sqlite_url)
    capsys.readouterr()
    assert main(["detect", "--db", sqlite_url, "--metric", "no_such_metric"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no change points found: no stored series match")
    assert main(["detect", "--db", sqlite_url, "--no-store"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "series judged" in last


def test_detect_counts_series_too_short_to_judge(sqlite_url, capsys):
    # two runs of one case: every series has 2 points, fewer than the detector needs
    for _ in range(2):
        assert main(["run", "--suite", "ops", "--benchmarks", "pointwise_chain", "--modes", "eager", "--size", "tiny",
                     "--min-time", "0.05", "--no-accuracy", "--no-detect", "--db", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["detect", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert "no change points found: 0 series judged" in out and "too short to judge (fewer than" in out


def _spec(mode: str) -> CaseSpec:
    return CaseSpec(suite="s", benchmark="b", mode=mode, backend="cpu", size="tiny")


def test_progress_estimates_what_is_left_by_mode():
    specs = [_spec("eager"), _spec("default"), _spec("eager"), _spec("default")]
    stream = io.StringIO()
    p = Progress(len(specs), stream=stream, specs=specs)
    assert p.eta(0) is None  # nothing finished: no guess
    p.end(0, CaseResult("c0", "r", specs[0], "ok", (), duration_s=2.0))
    assert p.eta(1) == pytest.approx(6.0)  # no compiled case yet: every case costs what the eager one did
    p.end(1, CaseResult("c1", "r", specs[1], "ok", (), duration_s=20.0))
    assert p.eta(2) == pytest.approx(22.0)  # one eager (2 s) and one compiled (20 s) left
    assert "about 22s left" in stream.getvalue().splitlines()[-1]
    assert fmt_eta(125) == "2m05s" and fmt_eta(3700) == "1h01m"


def _foreign_sqlite(tmp_path) -> str:
    path = tmp_path / "shared.db"
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO customers (name) VALUES ('kept')"))
    eng.dispose()
    return f"sqlite:///{path}"


@pytest.fixture
def foreign_pg():
    with scratch_pg_database("perfwatch_foreign") as url:  # another application's database
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT)"))
            conn.execute(text("INSERT INTO customers (name) VALUES ('kept')"))
        eng.dispose()
        yield url


def _tables(url: str) -> set[str]:
    from sqlalchemy import inspect

    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_db_upgrade_refuses_another_applications_database_unless_told(store, tmp_path, request, capsys):
    url = _foreign_sqlite(tmp_path) if store == "sqlite" else request.getfixturevalue("foreign_pg")
    assert main(["db", "upgrade", "--db", url]) == 2
    assert "not perfwatch's (customers)" in capsys.readouterr().err
    assert _tables(url) == {"customers"}  # nothing added
    # a run would have created the schema there too: it refuses the same way, before running anything
    assert main(["run", "--suite", "ops", "--benchmarks", "pointwise_chain", "--modes", "eager", "--size", "tiny",
                 "--db", url]) == 2
    assert _tables(url) == {"customers"}
    assert main(["db", "upgrade", "--db", url, "--into-existing"]) == 0
    assert {"customers", "runs", "alembic_version"} <= _tables(url)
    assert main(["db", "upgrade", "--db", url]) == 0  # perfwatch's now: no flag needed again


def test_a_relative_sqlite_path_is_spelled_out(tmp_path, monkeypatch):
    from perfwatch.store.engine import describe

    monkeypatch.chdir(tmp_path)
    # three slashes: relative to where the command runs (a common slip for sqlite:////data/perf.db)
    assert describe("sqlite:///data/perf.db") == f"sqlite:///data/perf.db (relative: {tmp_path / 'data' / 'perf.db'})"
    assert describe(f"sqlite:///{tmp_path}/perf.db") == f"sqlite:///{tmp_path}/perf.db"
    assert "***" in describe("postgresql+psycopg://u:secret@h/db") and "secret" not in describe("postgresql+psycopg://u:secret@h/db")
