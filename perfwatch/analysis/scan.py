"""Detection over the store: find change points in stored histories and keep the regressions
(main-branch monitoring). The detector itself (perfwatch.detect) stays pure; this module feeds it
histories and writes what it finds. The verdict on one new run is perfwatch.analysis.gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfwatch.detect import REGRESSION, ChangePoint, DetectConfig, Point, detect, detect_online
from perfwatch.domain import metrics as catalogue
from perfwatch.store import history as hist


@dataclass(frozen=True)
class Filters:
    suite: str | None = None
    benchmark: str | None = None
    mode: str | None = None
    backend: str | None = None
    metric: str | None = None
    machine: str | None = None
    since: datetime | None = None


def _points(h: hist.History) -> list[Point]:
    return [Point(p.created_at, p.value, p.spread, p.n) for p in h.points]


def finding(h: hist.History, cp: ChangePoint) -> dict[str, Any]:
    """One JSON-ready record of a change point of a stored series."""
    first = h.points[cp.index]
    raised = next((p for p in h.points if p.created_at == cp.raised_at), None) if cp.raised_at is not None else None
    return {
        "series": h.name, "series_id": h.series_id, "ts": first.created_at.isoformat(), "run_id": first.run_id,
        "raised_at": cp.raised_at.isoformat() if cp.raised_at is not None else None,
        "raised_run_id": raised.run_id if raised else None,
        "direction": cp.direction, "change": cp.change, "pvalue": cp.pvalue, "confidence": cp.confidence,
        "before": cp.before, "after": cp.after, "metric": h.meta["metric"], "unit": h.meta["unit"],
        **{k: h.meta[k] for k in ("suite", "benchmark", "mode", "backend", "hostname")},
    }


def _is_integer(h: hist.History) -> bool | None:
    return True if catalogue.is_exact(h.meta["metric"], h.meta["unit"]) else None


@dataclass
class Tally:
    """What a scan looked at: a "no change points found" means little without it."""

    judged: int = 0  # series long enough for the detector
    too_short: int = 0  # series with fewer than two segments' worth of runs (not judged)
    min_runs: int = 0  # the runs a series needs to be judged


def scan(engine, filters: Filters, config: DetectConfig = DetectConfig(), online: bool = False,
         store: bool = True, tally: Tally | None = None) -> list[dict[str, Any]]:
    """Every change point of every matching series; regressions are stored (state open).
    ``tally``, when given, is filled with how many series were judged and how many were too short."""
    series = hist.find_series(engine, **{k: getattr(filters, k) for k in ("suite", "benchmark", "mode", "backend",
                                                                           "metric", "machine")})
    found: list[dict[str, Any]] = []
    tally = tally if tally is not None else Tally()
    tally.min_runs = 2 * config.min_segment
    for h in hist.histories(engine, series, since=filters.since):
        if len(h.points) < 2 * config.min_segment:
            tally.too_short += 1
            continue
        tally.judged += 1
        fn = detect_online if online else detect
        for cp in fn(_points(h), h.meta["direction"], config, _is_integer(h)):
            near = [p.run_id for p in h.points[max(0, cp.index - 2): cp.index + 3]]
            found.append({**finding(h, cp), "near_run_ids": near})
    if store:
        record_regressions(engine, found)
    return found


def record_regressions(engine, found: list[dict[str, Any]]) -> list[int]:
    """Store the regressions among ``found``. A change point within two runs of a regression
    already stored for its series (the gate's single-run verdict, typically) is that regression,
    confirmed, not a second one."""
    known = hist.regression_runs(engine, {f["series_id"] for f in found if f["direction"] == REGRESSION})
    found = [f for f in found if not (known.get(f["series_id"], set()) & set(f.get("near_run_ids") or [f["run_id"]]))]
    rows = [
        {"series_id": f["series_id"], "run_id": f["run_id"], "ts": datetime.fromisoformat(f["ts"]),
         "raised_run_id": f.get("raised_run_id"), "before": f["before"], "after": f["after"],
         "change": f["change"], "pvalue": f["pvalue"]}
        for f in found if f["direction"] == REGRESSION
    ]
    return hist.record(engine, rows)
