"""Bulk loading: big batches of Core inserts in few transactions (COPY for measurements on
Postgres), for generated or imported histories — never the per-case path of ``perfwatch run``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from perfwatch.store.db_errors import store_errors
from perfwatch.store.models import Case, Machine, Measurement, Run, Sample, Series
from perfwatch.store.writes import _insert, with_retry

MEASUREMENT_COLUMNS = ("case_id", "run_id", "created_at", "series_id", "value", "spread", "ci_low", "ci_high", "n")


def ensure_machines(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert machines not yet stored; returns fingerprint -> id for all of ``rows``."""

    def go(conn: Connection) -> dict[str, int]:
        for row in rows:
            conn.execute(_insert(conn, Machine.__table__).values(**row).on_conflict_do_nothing(index_elements=["fingerprint"]))
        found = conn.execute(select(Machine.fingerprint, Machine.id)
                             .where(Machine.fingerprint.in_([r["fingerprint"] for r in rows]))).all()
        return dict(found)

    return with_retry(engine, go)


def ensure_series(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert series not yet stored; returns key -> id for all of ``rows``."""

    def go(conn: Connection) -> dict[str, int]:
        conn.execute(_insert(conn, Series.__table__).on_conflict_do_nothing(index_elements=["key"]), rows)
        keys = [r["key"] for r in rows]
        ids: dict[str, int] = {}
        for i in range(0, len(keys), 500):  # bounded IN lists
            ids.update(dict(conn.execute(select(Series.key, Series.id).where(Series.key.in_(keys[i:i + 500]))).all()))
        return ids

    return with_retry(engine, go)


def write_batch(engine: Engine, batch: dict[str, list]) -> None:
    """Write runs, cases, measurements (tuples in MEASUREMENT_COLUMNS order) and samples in one
    transaction, then empty the batch's lists."""
    if not batch["runs"] and not batch["cases"]:
        return

    def go(conn: Connection) -> None:
        conn.execute(Run.__table__.insert(), batch["runs"])
        conn.execute(Case.__table__.insert(), batch["cases"])
        if batch["measurements"]:
            if conn.dialect.name == "postgresql":
                _copy_measurements(conn, batch["measurements"])
            else:
                conn.execute(Measurement.__table__.insert(), [dict(zip(MEASUREMENT_COLUMNS, r)) for r in batch["measurements"]])
        if batch["samples"]:
            conn.execute(Sample.__table__.insert(), batch["samples"])

    with_retry(engine, go)
    for rows in batch.values():
        rows.clear()


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics after a bulk load: until autovacuum gets to it, Postgres
    believes the tables are nearly empty and picks sequential scans over the indexes."""
    if engine.dialect.name == "postgresql":
        with store_errors("cannot analyze the database"), engine.connect() as conn:
            conn.execute(text("ANALYZE machines, runs, cases, series, measurements, samples"))
            conn.commit()


def _copy_measurements(conn: Connection, rows: list[tuple]) -> None:
    # COPY is several times faster than multi-row INSERTs for a million rows.
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY measurements ({', '.join(MEASUREMENT_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
