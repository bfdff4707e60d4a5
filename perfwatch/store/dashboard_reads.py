"""The dashboard's queries: plain tables (perfwatch.store.rows.Table) that
perfwatch.analysis.frames turns into data frames.

Every query is shaped for a store of millions of measurements: nothing scans ``measurements``
as a whole. A run's figures come through ``ix_measurements_run``, a history through
``ix_measurements_series_time``, the cases of a run through ``ix_cases_run_id``, the newest run
per machine and suite is a GROUP BY over ``runs`` (thousands of rows), and the choices offered
by the filters come from the small ``series`` table (one row per machine × case × metric,
thousands, not millions). docs/dashboard.md has the timings at a million measurements.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import and_, func, inspect, select
from sqlalchemy.engine import Engine

from perfwatch.store.db_errors import store_errors
from perfwatch.store.models import Case, Machine, Measurement, Regression, Run, Series
from perfwatch.store.queries import check_limit, refused_values
from perfwatch.store.rows import Table


def _table(engine: Engine, stmt, columns: Sequence[str] | None = None) -> Table:
    with refused_values(), store_errors(), engine.connect() as conn:
        res = conn.execute(stmt)
        # Plain tuples: pandas 3 misreads SQLAlchemy Row objects as a 2-D array of one dtype.
        return Table(tuple(columns or res.keys()), [tuple(r) for r in res])


def store_state(engine: Engine) -> str:
    """'ok', 'empty' (no runs yet) or 'unmigrated' (no perfwatch tables). Raises StoreUnavailable
    when the database cannot be reached."""
    with store_errors("cannot reach the database"), engine.connect() as conn:
        if not inspect(conn).has_table("runs") or not inspect(conn).has_table("regressions"):
            return "unmigrated"
        return "ok" if conn.execute(select(Run.id).limit(1)).first() else "empty"


def catalog(engine: Engine) -> Table:
    """Every series with its machine (the series table is small)."""
    stmt = (select(Series.id.label("series_id"), Series.suite, Series.benchmark, Series.mode, Series.backend, Series.dtype,
                   Series.params_key, Series.metric, Series.unit, Series.direction, Machine.hostname.label("machine"),
                   Machine.fingerprint, Machine.gpu)
            .join(Machine, Machine.id == Series.machine_id))
    return _table(engine, stmt)


def recent_runs(engine: Engine, limit: int) -> Table:
    """The newest runs (via ix_runs_created_at)."""
    check_limit(limit)
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.git_sha,
                   Run.torch_version, Machine.hostname.label("machine"), Machine.gpu)
            .join(Machine, Machine.id == Run.machine_id)
            .order_by(Run.created_at.desc(), Run.id.desc()).limit(limit))
    return _table(engine, stmt)


def run_info(engine: Engine, run_id: str) -> Table:
    """One run with its machine (no rows when there is no such run)."""
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.git_sha,
                   Run.git_branch, Run.torch_version, Run.tags, Run.command, Machine.hostname.label("machine"), Machine.gpu)
            .join(Machine, Machine.id == Run.machine_id).where(Run.id == run_id))
    return _table(engine, stmt)


def latest_runs(engine: Engine) -> Table:
    """The newest run of each machine and suite, by machine name and suite. Two runs started in
    the same microsecond would both be here."""
    newest = (select(Run.machine_id, Run.suite, func.max(Run.created_at).label("newest"))
              .group_by(Run.machine_id, Run.suite).subquery())
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.cases_total,
                   Run.cases_failed, Run.git_sha, Run.torch_version, Machine.hostname.label("machine"), Machine.gpu)
            .join(newest, and_(newest.c.machine_id == Run.machine_id, newest.c.suite == Run.suite,
                               newest.c.newest == Run.created_at))
            .join(Machine, Machine.id == Run.machine_id)
            .order_by(Machine.hostname, Run.suite))
    return _table(engine, stmt)


def status_counts(engine: Engine, run_ids: Sequence[str]) -> Table:
    """Cases per status in each run (via ix_cases_run_id)."""
    stmt = (select(Case.run_id, Case.status, func.count().label("cases"))
            .where(Case.run_id.in_(list(run_ids))).group_by(Case.run_id, Case.status))
    return _table(engine, stmt, ["run_id", "status", "cases"])


def run_figures(engine: Engine, run_ids: Sequence[str], metrics: Iterable[str] | None = None) -> Table:
    """One row per (run, case, metric) of the runs, optionally only ``metrics`` (via ix_measurements_run)."""
    stmt = (select(Measurement.run_id, Measurement.case_id, Series.suite, Series.benchmark, Series.mode, Series.backend,
                   Series.dtype, Series.params_key, Series.metric, Series.unit, Series.direction, Measurement.value,
                   Measurement.spread, Measurement.ci_low, Measurement.ci_high, Measurement.n)
            .join(Series, Series.id == Measurement.series_id)
            .where(Measurement.run_id.in_(list(run_ids))))
    if metrics is not None:
        stmt = stmt.where(Series.metric.in_(list(metrics)))
    return _table(engine, stmt)


SERIES_REGRESSION_COLUMNS = ("id", "series_id", "run_id", "ts", "state", "change", "before", "after")


def series_regressions(engine: Engine, series_ids: Sequence[int]) -> Table:
    """Regressions stored for some series (via the unique index on (series_id, run_id))."""
    stmt = (select(Regression.id, Regression.series_id, Regression.run_id, Regression.ts, Regression.state,
                   Regression.change, Regression.before, Regression.after)
            .where(Regression.series_id.in_(list(series_ids))))
    return _table(engine, stmt, SERIES_REGRESSION_COLUMNS)


TREND_COLUMNS = ("series_id", "run_id", "created_at", "value", "spread", "ci_low", "ci_high", "n", "git_sha",
                 "git_branch", "torch_version", "size")


def trend(engine: Engine, series_ids: Sequence[int]) -> Table:
    """The history of some series, one row per run, by series and oldest first: one index range
    per series on ix_measurements_series_time."""
    if not series_ids:
        return Table(TREND_COLUMNS, [])
    stmt = (select(Measurement.series_id, Measurement.run_id, Measurement.created_at, Measurement.value, Measurement.spread,
                   Measurement.ci_low, Measurement.ci_high, Measurement.n, Run.git_sha, Run.git_branch, Run.torch_version,
                   Run.size)
            .join(Run, Run.id == Measurement.run_id)
            .where(Measurement.series_id.in_(list(series_ids)))
            .order_by(Measurement.series_id, Measurement.created_at))
    return _table(engine, stmt, TREND_COLUMNS)


def run_cases(engine: Engine, run_id: str) -> Table:
    """The cases of a run with status, error, duration and the command the run was started with."""
    stmt = (select(Case.id.label("case_id"), Run.suite, Case.benchmark, Case.mode, Case.backend, Case.dtype,
                   Case.params_key, Case.status, Case.error, Case.duration_s, Run.size, Run.command.label("run_command"))
            .join(Run, Run.id == Case.run_id).where(Case.run_id == run_id))
    return _table(engine, stmt)


def compiled_case_details(engine: Engine, run_id: str) -> list[tuple[str, str, dict]]:
    """(benchmark, mode, details) of every compiled case of a run: the details hold the
    graph-break and recompilation reasons."""
    stmt = select(Case.benchmark, Case.mode, Case.details).where(Case.run_id == run_id, Case.mode != "eager")
    return [(bench, mode, details or {}) for bench, mode, details in _table(engine, stmt).rows]


def batch_search_details(engine: Engine, run_id: str) -> list[tuple[str, str, dict, str | None]]:
    """(benchmark, mode, the batch search's details, its status) of every case of a run that ran
    the batch search (--batch-search): every try, its throughput and whether it fitted."""
    stmt = select(Case.benchmark, Case.mode, Case.details).where(Case.run_id == run_id)
    return [(bench, mode, details["batch_search"], details.get("batch_status"))
            for bench, mode, details in _table(engine, stmt).rows if (details or {}).get("batch_search")]
