"""Detection over the store: find change points in stored histories, keep the regressions,
and judge a new run (the CI gate). The detector itself (perfwatch.detect) stays pure; this
module feeds it histories and writes what it finds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfwatch.detect import REGRESSION, ChangePoint, DetectConfig, Point, detect, detect_online, online_step
from perfwatch.domain import metrics as catalogue
from perfwatch.store import history as hist
from perfwatch.store import queries


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


def scan(engine, filters: Filters, config: DetectConfig = DetectConfig(), online: bool = False,
         store: bool = True) -> list[dict[str, Any]]:
    """Every change point of every matching series; regressions are stored (state open)."""
    series = hist.find_series(engine, **{k: getattr(filters, k) for k in ("suite", "benchmark", "mode", "backend",
                                                                           "metric", "machine")})
    found: list[dict[str, Any]] = []
    for h in hist.histories(engine, series, since=filters.since):
        if len(h.points) < 2 * config.min_segment:
            continue
        fn = detect_online if online else detect
        for cp in fn(_points(h), h.meta["direction"], config, _is_integer(h)):
            found.append(finding(h, cp))
    if store:
        record_regressions(engine, found)
    return found


def record_regressions(engine, found: list[dict[str, Any]]) -> list[int]:
    rows = [
        {"series_id": f["series_id"], "run_id": f["run_id"], "ts": datetime.fromisoformat(f["ts"]),
         "raised_run_id": f.get("raised_run_id"), "before": f["before"], "after": f["after"],
         "change": f["change"], "pvalue": f["pvalue"]}
        for f in found if f["direction"] == REGRESSION
    ]
    return hist.record(engine, rows)


# --- the gate: did this run regress? -------------------------------------------------------

@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the gate for histories too short for the online detector.

    min_effect  relative change that counts (0.10 = 10% slower), measured from the worst of the
                baseline runs' medians: with few runs the run-to-run spread is unknown, and
                within-run samples alone make any two runs look "significantly" different.
    max_pvalue  Mann-Whitney p-value of this run's samples against the baseline runs'.
    baseline    how many earlier runs make the baseline.
    """

    min_effect: float = 0.10
    max_pvalue: float = 0.001
    baseline: int = 5


def _short_history_check(engine, h: hist.History, gc: GateConfig) -> dict[str, Any] | None:
    from perfwatch.detect.model import classify, relative_change
    from perfwatch.domain.sampling import mann_whitney_u, quantile

    new, base = h.points[-1], h.points[-1 - gc.baseline:-1]
    if not base:
        return None
    direction = h.meta["direction"]
    before = quantile(sorted(p.value for p in base), 0.5)
    if catalogue.is_exact(h.meta["metric"], h.meta["unit"]):
        if new.value == before:
            return None
        pvalue = 0.0
    else:
        worst = max(p.value for p in base) if direction == "lower_is_better" else min(p.value for p in base)
        if abs(relative_change(worst, new.value)) < gc.min_effect or classify(worst, new.value, direction) != "regression":
            return None
        a = queries.series_samples(engine, h.series_id, [new.run_id])
        b = queries.series_samples(engine, h.series_id, [p.run_id for p in base])
        if not a or not b:
            return None  # no samples (compile time, memory): leave these to the detector's history
        pvalue = mann_whitney_u(a, b)
        if pvalue > gc.max_pvalue:
            return None
    cp = ChangePoint(index=len(h.points) - 1, ts=new.created_at, before=before, after=new.value,
                     change=relative_change(before, new.value), pvalue=pvalue,
                     direction=classify(before, new.value, direction), raised_at=new.created_at)
    return finding(h, cp)


def gate(engine, run_id: str, config: DetectConfig = DetectConfig(), gc: GateConfig = GateConfig(),
         store: bool = True) -> list[dict[str, Any]]:
    """Regressions raised by run ``run_id``: the online detector where the history is long
    enough (config.min_history runs), a sample test against the previous runs otherwise."""
    series = hist.find_series(engine, run_id=run_id)
    raised: list[dict[str, Any]] = []
    for h in hist.histories(engine, series):
        idx = next((i for i, p in enumerate(h.points) if p.run_id == run_id), None)
        if idx is None:
            continue
        h = hist.History(h.series_id, h.meta, h.points[: idx + 1])
        if len(h.points) >= max(config.min_history, 2) + config.confirm:
            cp = online_step(_points(h), h.meta["direction"], config, _is_integer(h))
            f = finding(h, cp) if cp else None
        else:
            f = _short_history_check(engine, h, gc)
        if f and f["direction"] == REGRESSION:
            raised.append(f)
    if store:
        record_regressions(engine, raised)
    return raised
