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
