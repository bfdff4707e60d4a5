"""Reading the store back (CLI, export, detection): runs as typed rows (perfwatch.store.rows),
export records and samples as plain dicts and lists — the read side of the store."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError

from perfwatch.domain.errors import UsageError
from perfwatch.domain.vocab import MODES
from perfwatch.store.db_errors import store_errors
from perfwatch.store.models import Case, Machine, Measurement, Run, Sample, Series
from perfwatch.store.rows import RunRow, RunSummary


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; perfwatch stores UTC, so say so."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt is not None else None


def _read(engine: Engine, stmt) -> list[Any]:
    with refused_values(), store_errors(), engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


NUL_REFUSED = "PostgreSQL text fields cannot contain NUL"


@contextmanager
def refused_values() -> Iterator[None]:
    """A read given a value the database cannot even compare (a NUL byte on Postgres, from a
    dashboard link or a script): the caller's bad input, exit 2, not a traceback with the SQL.
    SQLite compares such a value, and finds nothing."""
    try:
        yield
    except DataError as exc:
        if NUL_REFUSED not in str(exc.orig):
            raise  # any other DataError on a read is perfwatch's bug: keep its traceback
        bad = next((v for v in _values(exc.params) if isinstance(v, str) and "\x00" in v), None)
        raise UsageError(f"a value contains a NUL byte, which the database cannot search for: {bad!r}") from None


def _values(params: Any) -> Iterator[Any]:
    for v in (params.values() if isinstance(params, dict) else params or ()):
        if isinstance(v, (list, tuple, dict)):
            yield from _values(v)
        else:
            yield v


def check_limit(limit: int | None) -> None:
    """Postgres refuses a negative LIMIT (with the statement in its error); SQLite reads it as none."""
    if limit is not None and limit < 0:
        raise UsageError(f"a limit must be >= 0, got {limit}")


def list_runs(engine: Engine, limit: int = 20, suite: str | None = None) -> list[RunRow]:
    """The newest runs first."""
    check_limit(limit)
    stmt = (
        select(Run.id, Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.cases_total, Run.cases_failed,
               Run.git_sha, Run.git_branch, Run.torch_version, Machine.hostname)
        .join(Machine, Machine.id == Run.machine_id)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(limit)
    )
    if suite:
        stmt = stmt.where(Run.suite == suite)
    return [RunRow(**dict(r, created_at=_iso(r["created_at"]))) for r in _read(engine, stmt)]


def all_run_ids(engine: Engine) -> list[str]:
    """Every stored run's id, oldest first."""
    return [r["id"] for r in _read(engine, select(Run.id).order_by(Run.created_at, Run.id))]


def resolve_run(engine: Engine, ref: str) -> str:
    """A run id from 'latest' or an id (a unique prefix is enough)."""
    if ref == "latest":
        rows = _read(engine, select(Run.id).order_by(Run.created_at.desc(), Run.id.desc()).limit(1))
        if not rows:
            raise UsageError("the database has no runs yet; start one with `perfwatch run --suite llm`")
        return rows[0]["id"]
    rows = _read(engine, select(Run.id).where(Run.id.startswith(ref, autoescape=True)).limit(2))
    if not rows:
        raise UsageError(f"no run {ref!r}; `perfwatch runs` lists them")
    if len(rows) > 1:
        raise UsageError(f"run id prefix {ref!r} is ambiguous; give more of it")
    return rows[0]["id"]


def run_summary(engine: Engine, run_id: str) -> RunSummary:
    cols = [c for c in Run.__table__.c if c.key != "machine_id"]
    rows = _read(engine, select(*cols, Machine.hostname, Machine.fingerprint.label("machine"))
                 .join(Machine, Machine.id == Run.machine_id).where(Run.id == run_id))
    if not rows:
        raise UsageError(f"no run {run_id!r}")
    d = dict(rows[0])
    d["run_id"] = d.pop("id")
    for k in ("created_at", "finished_at"):
        d[k] = _iso(d[k])
    d["tags"] = d["tags"] or {}
    d["environment"] = d["environment"] or {}
    return RunSummary(**d)


def export_records(engine: Engine, run_ids: list[str]) -> list[dict[str, Any]]:
    """One record per stored metric of the runs, plus one (metric None) per case with none."""
    m_stmt = (
        select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.git_sha, Run.torch_version, Machine.hostname,
               Case.id.label("case_id"), Case.benchmark, Case.mode, Case.backend, Case.dtype, Case.params, Case.status,
               Case.error, Series.metric, Series.unit, Series.direction, Measurement.value, Measurement.spread,
               Measurement.ci_low, Measurement.ci_high, Measurement.n)
        .select_from(Measurement)
        .join(Case, Case.id == Measurement.case_id)
        .join(Run, Run.id == Case.run_id)
        .join(Series, Series.id == Measurement.series_id)
        .join(Machine, Machine.id == Run.machine_id)
        .where(Run.id.in_(run_ids))
    )
    empty_stmt = (
        select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.git_sha, Run.torch_version, Machine.hostname,
               Case.id.label("case_id"), Case.benchmark, Case.mode, Case.backend, Case.dtype, Case.params, Case.status,
               Case.error)
        .select_from(Case)
        .join(Run, Run.id == Case.run_id)
        .join(Machine, Machine.id == Run.machine_id)
        .where(Run.id.in_(run_ids))
        .where(~select(Measurement.id).where(Measurement.case_id == Case.id).exists())
    )
    out = []
    for r in _read(engine, m_stmt) + _read(engine, empty_stmt):
        d = dict(r)
        d["created_at"] = _iso(d["created_at"])
        for k in ("metric", "unit", "direction", "value", "spread", "ci_low", "ci_high", "n"):
            d.setdefault(k, None)
        out.append(d)
    order = {m: i for i, m in enumerate(MODES)}
    out.sort(key=lambda d: (d["created_at"] or "", d["run_id"], d["benchmark"], order.get(d["mode"], 9), d["metric"] or ""))
    return out


def count_rows(engine: Engine) -> dict[str, int]:
    return {m.__tablename__: _read(engine, select(func.count().label("n")).select_from(m))[0]["n"] for m in (Run, Case, Measurement)}


def series_samples(engine: Engine, series_id: int, run_ids: list[str]) -> list[float]:
    """The raw samples behind one series' measurements in the given runs, pooled."""
    stmt = (select(Sample.values).join(Measurement, Measurement.case_id == Sample.case_id)
            .join(Series, (Series.id == Measurement.series_id) & (Series.metric == Sample.metric))
            .where(Measurement.series_id == series_id, Measurement.run_id.in_(run_ids)))
    return [float(x) for r in _read(engine, stmt) for x in (r["values"] or [])]


def run_samples(engine: Engine, run_id: str) -> dict[tuple[str, str, str, str], list[float]]:
    """(benchmark, mode, params_key, metric) -> raw samples, for every case of a run."""
    stmt = (select(Case.benchmark, Case.mode, Case.params_key, Sample.metric, Sample.values)
            .join(Sample, Sample.case_id == Case.id).where(Case.run_id == run_id))
    return {(r["benchmark"], r["mode"], r["params_key"], r["metric"]): list(r["values"] or []) for r in _read(engine, stmt)}


def run_replicates(engine: Engine, run_id: str) -> dict[tuple[str, str, str, str], list[float]]:
    """Per case and timing metric of a run, its fresh processes' medians (``--processes``): the
    replication a between-run test needs. Cases timed in one process have none."""
    out: dict[tuple[str, str, str, str], list[float]] = {}
    stmt = select(Case.benchmark, Case.mode, Case.params_key, Case.details).where(Case.run_id == run_id)
    for r in _read(engine, stmt):
        medians = ((r["details"] or {}).get("timing") or {}).get("process_medians_ms") or []
        medians = [float(x) for x in medians if x and x > 0]
        if len(medians) >= 2:
            out[(r["benchmark"], r["mode"], r["params_key"], "step_time")] = medians
            out[(r["benchmark"], r["mode"], r["params_key"], "throughput")] = [1.0 / x for x in medians]
    return out
