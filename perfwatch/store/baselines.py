"""What the gate reads for one run: each series the run measured, with the run's point and the
earlier points of the same series (newest last), each carrying what says how noisy it is.

One query for the series, one for their recent points: the gate judges hundreds of series per
run, so nothing here is read series by series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

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
    """Every series ``run_id`` measured, with up to ``last`` earlier points of each."""
    series = find_series(engine, run_id=run_id)
    if not series:
        return []
    ids = [s["id"] for s in series]
    stmt = (select(Measurement.series_id, Measurement.run_id, Measurement.created_at, Measurement.value,
                   Measurement.ci_low, Measurement.ci_high, Measurement.n, Case.status, Case.details)
            .join(Case, Case.id == Measurement.case_id)
            .where(Measurement.series_id.in_(ids))
            .order_by(Measurement.series_id, Measurement.created_at, Measurement.run_id))
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


def sibling_settings(engine, meta: dict[str, Any]) -> list[str]:
    """params_key of the other series of the same case and metric on the same machine: a series
    with no history whose siblings have one is a changed setting, not a new benchmark."""
    found = find_series(engine, suite=meta["suite"], benchmark=meta["benchmark"], mode=meta["mode"],
                        backend=meta["backend"], metric=meta["metric"], machine=meta["machine"])
    return [s["params_key"] for s in found if s["id"] != meta["id"] and s["dtype"] == meta["dtype"]]
