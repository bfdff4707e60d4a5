"""The gate's verdicts, kept per run and series so report, JSON and dashboard show what was judged
and what could not be seen (a re-judged run replaces its verdicts)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from perfwatch.store.models import GateVerdict, Machine, Series
from perfwatch.store.queries import _read
from perfwatch.store.writes import with_retry

COLUMNS = ("series_id", "verdict", "before", "after", "change", "pvalue", "detectable", "noise", "noise_source",
           "baseline_runs", "note")


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def save(engine: Engine, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
    values = [{"run_id": run_id, **{c: _finite(r.get(c)) for c in COLUMNS}} for r in rows]

    def go(conn: Connection) -> None:
        conn.execute(delete(GateVerdict).where(GateVerdict.run_id == run_id))
        if values:
            conn.execute(GateVerdict.__table__.insert(), values)

    with_retry(engine, go)


def for_run(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """A run's verdicts with their series' names, worst first (regressions, then the rest)."""
    stmt = (select(GateVerdict.series_id, GateVerdict.verdict, GateVerdict.before, GateVerdict.after,
                   GateVerdict.change, GateVerdict.pvalue, GateVerdict.detectable, GateVerdict.noise,
                   GateVerdict.noise_source, GateVerdict.baseline_runs, GateVerdict.note, Series.suite,
                   Series.benchmark, Series.mode, Series.backend, Series.params_key, Series.metric, Series.unit,
                   Series.direction, Machine.hostname)
            .join(Series, Series.id == GateVerdict.series_id).join(Machine, Machine.id == Series.machine_id)
            .where(GateVerdict.run_id == run_id)
            .order_by(Series.benchmark, Series.mode, Series.metric))
    return [dict(r) for r in _read(engine, stmt)]
