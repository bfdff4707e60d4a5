"""The store on real SQLite and real Postgres, schema built by the migrations."""

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from perfwatch.domain.errors import ConfigError, StoreUnavailable, UsageError
from perfwatch.domain.results import CaseResult, CaseSpec, Metric, RunInfo
from perfwatch.store import queries, spool, writes
from perfwatch.store.engine import check_connection, make_engine, redact
from perfwatch.store.migrate import current_revision, head_revision, upgrade
from perfwatch.store.models import Base


def make_run(run_id="r1", when="2026-11-01T10:00:00+00:00", fp="machine-a"):
    return RunInfo(run_id=run_id, created_at=when, suite="llm", backend="cpu", size="tiny", machine_fingerprint=fp,
                   hostname="host-a", environment={"torch_version": "2.13.0", "cpu_model": "EPYC"}, git_sha="abc123")


def make_case(run, case_id, benchmark="train", mode="eager", step=10.0, status="ok"):
    spec = CaseSpec(suite="llm", benchmark=benchmark, mode=mode, backend="cpu", size="tiny", params={"b": 1})
    metrics = () if status != "ok" else (
        Metric("step_time", step, "ms", spread=0.5, ci_low=step - 0.2, ci_high=step + 0.2, n=3, samples=(step - 1, step, step + 1)),
        Metric("graph_breaks", 2, "count"),
    )
    return CaseResult(case_id=case_id, run_id=run.run_id, spec=spec, status=status, metrics=metrics,
                      error=None if status == "ok" else "boom", started_at=run.created_at, duration_s=1.0)


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    names = set(inspect(engine).get_table_names())
    assert {"runs", "cases", "series", "measurements", "samples", "machines"} <= names
    idx = {i["name"] for i in inspect(engine).get_indexes("measurements")}
    assert "ix_measurements_series_time" in idx


def test_write_and_read_back(db_url):
    engine = make_engine(db_url)
    run = make_run()
    writes.write_run(engine, run)
    assert writes.write_case(engine, run, make_case(run, "c1", mode="eager", step=10.0))
    assert writes.write_case(engine, run, make_case(run, "c2", mode="default", step=5.0))
    assert writes.write_case(engine, run, make_case(run, "c3", benchmark="inference", status="oom"))
    writes.finish_run(engine, run, "2026-11-01T10:05:00+00:00", 3, 1)

    recs = queries.export_records(engine, ["r1"])
    steps = {(r["benchmark"], r["mode"]): r for r in recs if r["metric"] == "step_time"}
    assert steps[("train", "eager")]["value"] == 10.0 and steps[("train", "default")]["value"] == 5.0
    assert steps[("train", "eager")]["unit"] == "ms" and steps[("train", "eager")]["spread"] == 0.5
    failed = [r for r in recs if r["benchmark"] == "inference"]
    assert len(failed) == 1 and failed[0]["status"] == "oom" and failed[0]["metric"] is None
    runs = queries.list_runs(engine)
    assert runs[0]["id"] == "r1" and runs[0]["status"] == "finished" and runs[0]["cases_failed"] == 1
    assert queries.resolve_run(engine, "latest") == "r1"
    assert queries.resolve_run(engine, "r") == "r1"


def test_writes_are_idempotent(db_url):
    engine = make_engine(db_url)
    run = make_run()
    case = make_case(run, "c1")
    assert writes.write_case(engine, run, case)
    assert not writes.write_case(engine, run, case)  # a spool pushed twice adds nothing
    assert queries.count_rows(engine) == {"runs": 1, "cases": 1, "measurements": 2}


def test_series_identity_separates_machines_and_joins_runs(db_url):
    engine = make_engine(db_url)
    a1, a2 = make_run("a1", fp="m-a"), make_run("a2", "2026-11-02T10:00:00+00:00", fp="m-a")
    b1 = make_run("b1", fp="m-b")
    for run, cid in ((a1, "x1"), (a2, "x2"), (b1, "x3")):
        writes.write_case(engine, run, make_case(run, cid))
    from sqlalchemy import func, select

    from perfwatch.store.models import Series

    with engine.connect() as conn:
        n_series = conn.execute(select(func.count()).select_from(Series).where(Series.metric == "step_time")).scalar()
    assert n_series == 2  # same machine's runs share a series; another machine has its own


def test_resolve_run_errors(db_url):
    engine = make_engine(db_url)
    with pytest.raises(UsageError, match="no runs yet"):
        queries.resolve_run(engine, "latest")
    writes.write_run(engine, make_run("20261101-aaa"))
    writes.write_run(engine, make_run("20261101-aab"))
    with pytest.raises(UsageError, match="ambiguous"):
        queries.resolve_run(engine, "20261101-aa")
    with pytest.raises(UsageError, match="no run"):
        queries.resolve_run(engine, "zzz")


def test_spool_keeps_and_pushes(tmp_path, db_url):
    engine = make_engine(db_url)
    path = spool.spool_path(tmp_path, db_url)
    run = make_run()
    spool.spool_case(path, run, make_case(run, "s1"))
    spool.spool_case(path, run, make_case(run, "s2", mode="default"))
    spool.spool_finish(path, run, "2026-11-01T10:05:00+00:00", 2, 0, "finished")
    assert spool.pending(path) == 3
    assert spool.push(engine, path) == (3, 0)
    assert not path.exists()
    assert queries.count_rows(engine)["cases"] == 2
    assert queries.list_runs(engine)[0]["status"] == "finished"


def test_bad_urls():
    with pytest.raises(ConfigError, match="invalid database URL"):
        make_engine("not a url")
    with pytest.raises(ConfigError, match="unsupported database"):
        make_engine("mysql://u@h/db")
    engine = make_engine("postgresql://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable) as err:
        check_connection(engine)
    assert "secret" not in str(err.value)
    assert redact("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"


def test_sqlite_is_wal_with_busy_timeout(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_timestamps_are_timezone_aware(db_url):
    engine = make_engine(db_url)
    run = make_run()
    writes.write_case(engine, run, make_case(run, "c1"))
    got = queries.list_runs(engine)[0]["created_at"]
    assert datetime.fromisoformat(got).astimezone(timezone.utc).hour == 10


def test_runs_come_back_as_typed_rows(db_url):
    import dataclasses
    import json

    from conftest import run_cli
    from perfwatch.store.rows import RunRow, RunSummary

    engine = make_engine(db_url)
    run = make_run()
    writes.write_case(engine, run, make_case(run, "c1"))
    writes.finish_run(engine, run, "2026-11-01T10:05:00+00:00", 1, 0)
    row = queries.list_runs(engine)[0]
    assert isinstance(row, RunRow) and (row.id, row.status, row.cases_total, row.hostname) == ("r1", "finished", 1, "host-a")
    assert row["git_sha"] == "abc123" and row.get("nope") is None  # read by key, as the dicts were
    with pytest.raises(KeyError):
        row["to_dict"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "running"
    summary = queries.run_summary(engine, "r1")
    assert isinstance(summary, RunSummary)
    assert (summary.run_id, summary.machine, summary.tags, summary.environment["cpu_model"]) == ("r1", "machine-a", {}, "EPYC")
    assert summary.finished_at.startswith("2026-11-01T10:05:00")
    # The JSON form keeps the keys, and their order, that `perfwatch runs --json` always printed.
    res = run_cli("runs", "--json", "--db", db_url)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [row.to_dict()]
    assert list(json.loads(res.stdout)[0]) == ["id", "created_at", "suite", "backend", "size", "status", "cases_total",
                                               "cases_failed", "git_sha", "git_branch", "torch_version", "hostname"]


def _empty_store(kind: str, sqlite_url: str, pg_url: str):
    """A database without perfwatch's tables: a fresh SQLite file, or a Postgres schema of its own."""
    if kind == "sqlite":
        return make_engine(sqlite_url)
    from sqlalchemy import text

    with make_engine(pg_url).begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS pw_not_a_store"))
    return make_engine(pg_url + "?options=-csearch_path%3Dpw_not_a_store")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_error_mapping(kind, sqlite_url, pg_url):
    """The same failure reads the same on both databases, for reads and writes alike."""
    from perfwatch.domain.errors import StoreError

    empty = _empty_store(kind, sqlite_url, pg_url)
    for attempt in (lambda: queries.list_runs(empty), lambda: writes.write_run(empty, make_run())):
        with pytest.raises(StoreError, match="not a perfwatch store at the current schema") as err:
            attempt()
        assert not isinstance(err.value, StoreUnavailable)  # a missing schema is not worth spooling for
    # Nothing listens on port 1; a directory cannot be opened as an SQLite file.
    gone = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none" if kind == "postgres" else sqlite_url.rsplit("/", 1)[0])
    with pytest.raises(StoreUnavailable, match="cannot read the database"):
        queries.list_runs(gone)
    with pytest.raises(StoreUnavailable, match="database unreachable"):
        writes.write_run(gone, make_run())


def test_lock_conflicts_are_told_apart():
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from perfwatch.domain.errors import StoreError
    from perfwatch.store.db_errors import is_transient, translate

    locked = OperationalError("INSERT ...", {}, Exception("database is locked"))
    refused = OperationalError("SELECT 1", {}, Exception("connection refused\nIs the server running?"))
    assert is_transient(locked) and not is_transient(refused)
    err = translate(refused, "cannot read the database")
    assert isinstance(err, StoreUnavailable) and str(err) == "cannot read the database: connection refused"
    err = translate(ProgrammingError("SELECT x", {}, Exception('relation "runs" does not exist')))
    assert type(err) is StoreError and "not a perfwatch store" in str(err)


def test_only_the_store_knows_sqlalchemy():
    """The layer rule for SQL: nothing outside perfwatch/store handles SQLAlchemy's errors, and the
    dashboard's frames and the app import no SQLAlchemy at all."""
    import ast
    from pathlib import Path

    from conftest import REPO

    def imported(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
            {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    outside = [p for p in [*REPO.joinpath("perfwatch").rglob("*.py"), *REPO.joinpath("app").rglob("*.py")]
               if REPO.joinpath("perfwatch", "store") not in p.parents]
    assert outside
    assert [str(p) for p in outside if "sqlalchemy.exc" in imported(p)] == []
    no_sql = [REPO / "perfwatch" / "analysis" / "frames.py", *REPO.joinpath("app").rglob("*.py")]
    assert [str(p) for p in no_sql if any(m.split(".")[0] == "sqlalchemy" for m in imported(p))] == []
