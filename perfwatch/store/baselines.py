"""What the gate reads for one run: each series the run measured, with the run's point and the
earlier points of the same series (newest last), each carrying what says how noisy it is.

One query for the series, one for their recent points: the gate judges hundreds of series per
run, so nothing here is read series by series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from perfwatch.store.history import find_series
from perfwatch.store.models import Case, Measurement
from perfwatch.store.queries import _read, as_utc


@dataclass(frozen=True)
class GatePoint:
    run_id: str
    created_at: datetime
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int | None
    status: str
    replicates: tuple[float, ...] = ()  # per-process medians (--processes), where the case had several
    precision_met: bool | None = None  # the case reached its --precision target (None: not recorded)


@dataclass(frozen=True)
class GateSeries:
    series_id: int
    meta: dict[str, Any]  # machine, hostname, suite, benchmark, mode, backend, dtype, params_key, metric, unit, direction
    point: GatePoint  # this run's
    earlier: tuple[GatePoint, ...]  # earlier runs' points, oldest first, at most ``last`` of them


def _point(r: dict[str, Any], metric: str) -> GatePoint:
    timing = (r.get("details") or {}).get("timing") or {}
    reps: tuple[float, ...] = ()
    if metric in ("step_time", "throughput") and len(timing.get("process_medians_ms") or ()) >= 2:
        medians = [float(x) for x in timing["process_medians_ms"]]
        # throughput is items / step time: its replicates are the reciprocals, scaled alike
        reps = tuple(medians) if metric == "step_time" else tuple(1.0 / x for x in medians if x > 0)
    met = timing.get("precision_met")
    return GatePoint(r["run_id"], as_utc(r["created_at"]), r["value"], r["ci_low"], r["ci_high"], r["n"], r["status"],
                     reps, met if isinstance(met, bool) else None)


def run_series(engine, run_id: str, last: int = 10) -> list[GateSeries]:
    """Every series ``run_id`` measured, with up to ``last`` earlier points of each.

    Only the newest ``last + 1`` points up to the run are read per series (a window function):
    a nightly series of years must not be read whole to judge one run."""
    series = find_series(engine, run_id=run_id)
    if not series:
        return []
    ids = [s["id"] for s in series]
    until = select(func.max(Measurement.created_at)).where(Measurement.run_id == run_id).scalar_subquery()
    rank = func.row_number().over(partition_by=Measurement.series_id,
                                  order_by=(Measurement.created_at.desc(), Measurement.run_id.desc())).label("rank")
    recent = (select(Measurement.series_id, Measurement.run_id, Measurement.created_at, Measurement.value,
                     Measurement.ci_low, Measurement.ci_high, Measurement.n, Case.status, Case.details, rank)
              .join(Case, Case.id == Measurement.case_id)
              .where(Measurement.series_id.in_(ids), Measurement.created_at <= until)
              .subquery())
    stmt = select(recent).where(recent.c.rank <= last + 1).order_by(recent.c.series_id, recent.c.created_at,
                                                                     recent.c.run_id)
    rows: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for r in _read(engine, stmt):
        rows[r["series_id"]].append(r)
    out = []
    for s in series:
        pts = rows[s["id"]]
        idx = next((i for i, r in enumerate(pts) if r["run_id"] == run_id), None)
        if idx is None:
            continue
        out.append(GateSeries(s["id"], s, _point(pts[idx], s["metric"]),
                              tuple(_point(r, s["metric"]) for r in pts[max(0, idx - last):idx])))
    return out


def siblings(engine, metas: list[dict[str, Any]]) -> dict[int, list[str]]:
    """For each series (meta with its ``id``), the params_key of the other series of the same case,
    dtype and metric on the same machine: a series with no history whose siblings have one is a
    changed setting, not a new benchmark. One query per machine, not one per series."""
    out: dict[int, list[str]] = {}
    for machine in {m["machine"] for m in metas}:
        by_case: dict[tuple, list[dict[str, Any]]] = {}
        for s in find_series(engine, machine=machine):
            by_case.setdefault(_case_key(s), []).append(s)
        for m in metas:
            if m["machine"] == machine:
                sib = [s["params_key"] for s in by_case.get(_case_key(m), []) if s["id"] != m["id"]]
                if sib:
                    out[m["id"]] = sib
    return out


def _case_key(s: dict[str, Any]) -> tuple:
    return s["suite"], s["benchmark"], s["mode"], s["backend"], s["dtype"], s["metric"]
