"""Storing runs and cases. Every write is idempotent (client-made ids, ON CONFLICT DO NOTHING),
so a spooled result can be pushed again without duplicating anything, and many runners can write
to one database at once."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from perfwatch.domain.errors import StoreError
from perfwatch.domain.results import CaseResult, RunInfo
from perfwatch.domain.series import case_params_key, params_key, series_key
from perfwatch.store.db_errors import TRANSLATED, first_line, is_transient, translate
from perfwatch.store.models import Case, Machine, Measurement, Run, Sample, Series

T = TypeVar("T")


def parse_time(iso: str | None) -> datetime | None:
    if iso is None:
        return None
    dt = datetime.fromisoformat(iso)
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _insert(conn: Connection, table):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def with_retry(engine: Engine, fn: Callable[[Connection], T], attempts: int = 8) -> T:
    """Run ``fn`` in one write transaction, retrying lock conflicts with backoff; a lock that
    outlasts the retries -> StoreError, anything else through the store's one error mapping."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            with engine.connect().execution_options(perfwatch_write=True) as conn:
                with conn.begin():
                    return fn(conn)
        except TRANSLATED as exc:
            if not is_transient(exc):
                raise translate(exc, unreachable="database unreachable") from None
            if attempt == attempts - 1:
                raise StoreError(f"database stayed locked: {first_line(exc)}") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def _machine_id(conn: Connection, run: RunInfo) -> int:
    env = run.environment or {}
    gpus = [g.get("name") for g in env.get("gpus") or [] if g.get("name")]
    conn.execute(
        _insert(conn, Machine.__table__)
        .values(
            fingerprint=run.machine_fingerprint,
            hostname=run.hostname,
            cpu=env.get("cpu_model"),
            gpu=", ".join(gpus) if gpus else None,
            info={k: env.get(k) for k in ("cpu_count", "memory_total_bytes", "gpu_count", "platform")},
            first_seen=parse_time(run.created_at),
        )
        .on_conflict_do_nothing(index_elements=["fingerprint"])
    )
    return conn.execute(select(Machine.id).where(Machine.fingerprint == run.machine_fingerprint)).scalar_one()


def _run_values(run: RunInfo, machine_id: int) -> dict[str, Any]:
    env = run.environment or {}
    return dict(
        id=run.run_id,
        created_at=parse_time(run.created_at),
        machine_id=machine_id,
        suite=run.suite,
        backend=run.backend,
        size=run.size,
        status="running",
        git_sha=run.git_sha,
        git_branch=run.git_branch,
        torch_version=env.get("torch_version"),
        perfwatch_version=env.get("perfwatch_version"),
        command=run.command,
        tags=run.tags or {},
        environment=env,
    )


def write_run(engine: Engine, run: RunInfo) -> None:
    def go(conn: Connection) -> None:
        mid = _machine_id(conn, run)
        conn.execute(_insert(conn, Run.__table__).values(**_run_values(run, mid)).on_conflict_do_nothing(index_elements=["id"]))

    with_retry(engine, go)


def _series_ids(conn: Connection, run: RunInfo, machine_id: int, case: CaseResult) -> dict[str, int]:
    spec = case.spec
    rows = []
    for m in case.metrics:
        # a changed setting (threads, processes, size...; the batch cap for the batch figures) starts a new series
        pkey = case_params_key(case, m.name)
        rows.append(
            dict(
                key=series_key(run.machine_fingerprint, spec.suite, spec.benchmark, spec.mode, spec.backend, spec.dtype, pkey, m.name),
                machine_id=machine_id,
                suite=spec.suite,
                benchmark=spec.benchmark,
                mode=spec.mode,
                backend=spec.backend,
                dtype=spec.dtype,
                params_key=pkey,
                metric=m.name,
                unit=m.unit,
                direction=m.direction,
            )
        )
    if not rows:
        return {}
    conn.execute(_insert(conn, Series.__table__).on_conflict_do_nothing(index_elements=["key"]), rows)
    keys = {r["key"]: r["metric"] for r in rows}
    found = conn.execute(select(Series.key, Series.id).where(Series.key.in_(list(keys)))).all()
    return {keys[k]: sid for k, sid in found}


def write_case(engine: Engine, run: RunInfo, case: CaseResult) -> bool:
    """Store one finished case with its metrics and samples in one transaction.

    Returns False when the case was already stored (a spool pushed twice)."""

    def go(conn: Connection) -> bool:
        mid = _machine_id(conn, run)
        conn.execute(_insert(conn, Run.__table__).values(**_run_values(run, mid)).on_conflict_do_nothing(index_elements=["id"]))
        spec = case.spec
        res = conn.execute(
            _insert(conn, Case.__table__)
            .values(
                id=case.case_id,
                run_id=case.run_id,
                benchmark=spec.benchmark,
                mode=spec.mode,
                backend=spec.backend,
                dtype=spec.dtype,
                params=dict(spec.params),
                params_key=params_key(spec.params),
                status=case.status,
                error=case.error,
                details=case.details,
                started_at=parse_time(case.started_at),
                duration_s=case.duration_s,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Case.__table__.c.id)  # rowcount is not reliable here across drivers
        )
        if res.first() is None:
            return False
        sids = _series_ids(conn, run, mid, case)
        created = parse_time(run.created_at)
        if case.metrics:
            conn.execute(
                Measurement.__table__.insert(),
                [
                    dict(case_id=case.case_id, run_id=case.run_id, created_at=created, series_id=sids[m.name], value=float(m.value),
                         spread=m.spread, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
                    for m in case.metrics
                ],
            )
        samples = [dict(case_id=case.case_id, metric=m.name, values=list(m.samples)) for m in case.metrics if m.samples]
        if samples:
            conn.execute(Sample.__table__.insert(), samples)
        return True

    return with_retry(engine, go)


def finish_run(engine: Engine, run: RunInfo, finished_at: str, total: int, failed: int, status: str = "finished") -> None:
    def go(conn: Connection) -> None:
        mid = _machine_id(conn, run)
        conn.execute(_insert(conn, Run.__table__).values(**_run_values(run, mid)).on_conflict_do_nothing(index_elements=["id"]))
        conn.execute(
            update(Run)
            .where(Run.id == run.run_id)
            .values(status=status, finished_at=parse_time(finished_at), cases_total=total, cases_failed=failed)
        )

    with_retry(engine, go)


def close_stale_runs(engine: Engine, is_gone: Callable[[dict[str, Any] | None], bool]) -> list[tuple[str, dict[str, Any]]]:
    """Close as ``interrupted`` every ``running`` run whose runner ``is_gone`` (given the runner
    identity kept in the run's environment), with the cases it stored counted. Returns (run id,
    identity) of each closed. Only a read when nothing is stale: no write lock per command."""
    from perfwatch.domain.results import STATUS_OK, STATUS_UNSUPPORTED
    from perfwatch.store.db_errors import store_errors

    with store_errors(), engine.connect() as conn:
        running = conn.execute(select(Run.id, Run.environment, Run.created_at).where(Run.status == "running")).all()
    stale = [(rid, (env or {}).get("runner"), created) for rid, env, created in running
             if is_gone((env or {}).get("runner"))]
    if not stale:
        return []

    def go(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
        closed = []
        for rid, ident, created in stale:
            total = conn.execute(select(func.count()).select_from(Case).where(Case.run_id == rid)).scalar_one()
            failed = conn.execute(select(func.count()).select_from(Case).where(
                Case.run_id == rid, Case.status.not_in([STATUS_OK, STATUS_UNSUPPORTED]))).scalar_one()
            # when it died is unknown: the start of its last stored case is the latest it is known alive
            last = conn.execute(select(func.max(Case.started_at)).where(Case.run_id == rid)).scalar_one()
            res = conn.execute(update(Run).where(Run.id == rid, Run.status == "running")  # not if it was closed meanwhile
                               .values(status="interrupted", finished_at=last or created, cases_total=total,
                                       cases_failed=failed))
            if res.rowcount:
                closed.append((rid, ident))
        return closed

    return with_retry(engine, go)
