"""The dashboard's read API: pandas data frames built from the store's dashboard queries
(perfwatch.store.dashboard_reads), with what the store does not know added here: UTC times, the
`perfwatch run` line that reproduces a case, mode order, speedups, change points detected on the
fly and the comparison of two runs.

The queries are shaped for a store of millions of measurements (none reads ``measurements`` as
a whole: a run's figures through ``ix_measurements_run``, a history through
``ix_measurements_series_time``, the filters' choices from the small ``series`` table); see
perfwatch/store/dashboard_reads.py.

pandas is imported here at module level on purpose: only the dashboard (and its benchmark)
imports this module, and both need the ``dashboard`` extra anyway.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from perfwatch.domain import metrics as catalogue
from perfwatch.domain import units
from perfwatch.domain.metrics import COMPILE, MEMORY, METRICS, UVM, compile_phases, names
from perfwatch.domain.reproduce import run_command as reproduce_line
from perfwatch.domain.vocab import MODE_ORDER
from perfwatch.store import dashboard_reads as reads
from perfwatch.store import history
from perfwatch.store.rows import Table

# What the Compile and Memory views show, from the metric catalogue. Compile: the exact counters
# (graphs, breaks, recompilations) and the compile time by phase; the first call's time is left
# out, as eager has one too and it is more than compilation.
COMPILE_PHASES = compile_phases()
COMPILE_METRICS = tuple(m for m in names(COMPILE) if METRICS[m].exact) + ("compile_time",) + COMPILE_PHASES
# cold (the case's own empty caches) beside warm (a second build over them), per case
COLD_WARM = (("compile_time", "compile_time_warm"), ("first_call_time", "first_call_time_warm"),
             ("compile_cpu_time", "compile_cpu_time_warm"))
COLD_WARM_METRICS = tuple(m for pair in COLD_WARM for m in pair) + ("compile_cache_hits_warm", "compile_cache_misses_warm")
MEMORY_METRICS = names(MEMORY)
UVM_METRICS = names(UVM)


def _frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame.from_records(table.rows, columns=list(table.columns))


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    # SQLite hands back naive datetimes (stored in UTC), Postgres aware ones: make both UTC.
    for c in cols:
        if c in df:
            df[c] = pd.to_datetime(df[c], utc=True, format="mixed")
    return df


def reproduce_command(suite: str, benchmark: str, mode: str, backend: str, size: str | None,
                      run_command: str | None = None) -> str:
    """The `perfwatch run` line that runs one case again."""
    return reproduce_line(suite, [benchmark], [mode], backend, size, source_command=run_command)


def _with_reproduce(df: pd.DataFrame) -> pd.DataFrame:
    commands = df["run_command"] if "run_command" in df else [None] * len(df)
    df["reproduce"] = [reproduce_command(*row) for row in
                       zip(df["suite"], df["benchmark"], df["mode"], df["backend"], df["size"], commands)] if len(df) else []
    return df


# --- the state of the store (every function takes the store's engine and passes it on) -------

def store_state(engine) -> str:
    """'ok', 'empty' (no runs yet) or 'unmigrated' (no perfwatch tables). Raises when unreachable."""
    return reads.store_state(engine)


def catalog(engine) -> pd.DataFrame:
    """Every series with its machine: what the filters offer (the series table is small)."""
    return _frame(reads.catalog(engine))


def runs(engine, limit: int = 300) -> pd.DataFrame:
    """The newest runs, for run pickers."""
    return _utc(_frame(reads.recent_runs(engine, limit)), "created_at")


def run_info(engine, run_id: str) -> dict[str, Any] | None:
    df = _utc(_frame(reads.run_info(engine, run_id)), "created_at")
    return df.iloc[0].to_dict() if len(df) else None


# --- overview --------------------------------------------------------------------------------

def latest_runs(engine) -> pd.DataFrame:
    """The newest run of each machine and suite."""
    # Two runs started in the same microsecond would both match: keep one.
    return _utc(_frame(reads.latest_runs(engine)), "created_at").drop_duplicates(["machine", "suite"]).reset_index(drop=True)


def status_counts(engine, run_ids: Sequence[str]) -> pd.DataFrame:
    """Cases per status in each run."""
    return _frame(reads.status_counts(engine, run_ids))


def speedups(engine, run_ids: Sequence[str]) -> pd.DataFrame:
    """Geometric-mean speedup of each compile mode over eager per run, over the cases that have a
    step time in both that mode and eager of the same run (same benchmark, dtype, parameters)."""
    st = _frame(reads.run_figures(engine, run_ids, ["step_time"]))
    cols = ["run_id", "mode", "geomean_speedup", "cases"]
    if st.empty:
        return pd.DataFrame(columns=cols)
    key = ["run_id", "benchmark", "backend", "dtype", "params_key"]
    eager = st[st["mode"] == "eager"][key + ["value"]].rename(columns={"value": "eager"})
    pairs = st[st["mode"] != "eager"].merge(eager, on=key)
    pairs = pairs[(pairs["value"] > 0) & (pairs["eager"] > 0)]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    pairs["log_speedup"] = np.log(pairs["eager"] / pairs["value"])
    out = pairs.groupby(["run_id", "mode"], as_index=False).agg(log=("log_speedup", "mean"), cases=("log_speedup", "size"))
    out["geomean_speedup"] = np.exp(out["log"])
    out["order"] = out["mode"].map(MODE_ORDER).fillna(9)
    return out.sort_values(["run_id", "order"])[cols].reset_index(drop=True)


# --- regressions -----------------------------------------------------------------------------

REGRESSION_COLUMNS = ["id", "state", "suite", "benchmark", "mode", "backend", "metric", "unit", "hostname", "gpu", "ts",
                      "run_id", "before", "after", "change", "pvalue", "note", "git_sha", "torch_version", "size",
                      "series_id", "direction", "run_command"]


def regressions(engine, state: str | None = "open", run_id: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Stored regressions (newest first) with a `perfwatch run` line that reproduces each."""
    rows = history.list_regressions(engine, state=state, run_id=run_id, limit=limit)
    df = _utc(pd.DataFrame(rows, columns=REGRESSION_COLUMNS), "ts")
    return _with_reproduce(df)


FINDING_COLUMNS = ["id", "severity", "state", "suite", "benchmark", "mode", "backend", "metric", "label", "unit",
                   "hostname", "ts", "run_id", "before", "after", "change", "shown_before", "shown_after", "also",
                   "regressions"]


def findings(engine, state: str | None = "open") -> pd.DataFrame:
    """Stored regressions as findings (one per cause), most severe first, with their figures
    formatted for people."""
    from perfwatch.analysis.findings import group_findings
    from perfwatch.domain.units import figure

    rows = history.list_regressions(engine, state=state)
    out = []
    for f in group_findings(rows):
        r, unit = f.lead, f.lead.get("unit") or ""
        out.append({**{k: r.get(k) for k in ("id", "suite", "benchmark", "mode", "backend", "metric", "unit",
                                             "hostname", "ts", "run_id", "before", "after", "change")},
                    "severity": f.severity, "state": f.state, "label": catalogue.spec(r["metric"], unit).display,
                    "shown_before": figure(r["before"], unit), "shown_after": figure(r["after"], unit),
                    "also": ", ".join(f"{catalogue.spec(e['metric'], e.get('unit')).display} {units.change(e['change'])}"
                                      for e in f.evidence), "regressions": len(f.ids)})
    return _utc(pd.DataFrame(out, columns=FINDING_COLUMNS), "ts")


def series_regressions(engine, series_ids: Sequence[int]) -> pd.DataFrame:
    """Regressions stored for some series."""
    return _utc(_frame(reads.series_regressions(engine, series_ids)), "ts")


# --- histories -------------------------------------------------------------------------------

def trend(engine, series_ids: Sequence[int], last: int | None = None) -> pd.DataFrame:
    """The history of some series, one row per run, oldest first, with what the tooltip shows;
    ``last`` keeps each series' newest points only."""
    from perfwatch.detect.model import usable

    df = _utc(_frame(reads.trend(engine, series_ids)), "created_at")
    if len(df):  # an Infinity or 1e308 stored before imports refused them: not a point a chart can draw
        df = df[df["value"].map(usable)].reset_index(drop=True)
    if last:
        df = df.groupby("series_id", group_keys=False).tail(last).reset_index(drop=True)
    return df


# The most points of one series a chart is sent (see thin): a chart 820 px wide cannot show more
# than a few hundred apart, and every point costs Arrow bytes, Vega data flow and SVG/canvas marks.
CHART_POINTS = 160


def thin(points: pd.DataFrame, per_series: int = CHART_POINTS, keep: Iterable[tuple[int, str]] = ()) -> pd.DataFrame:
    """A trend frame with at most about ``per_series`` points per series, for drawing: a longer
    series is cut into ``per_series // 2`` runs of consecutive points and each keeps its lowest and
    highest value (so a step, a spike or a level change still shows), plus the series' first and
    last point and every (series_id, run_id) in ``keep`` (where a stored regression or a detected
    change point starts). Shorter series are returned whole; the order is kept."""
    if points.empty:
        return points
    df = points.reset_index(drop=True)
    by = df.groupby("series_id", sort=False)
    pos = by.cumcount().to_numpy()
    size = by["series_id"].transform("size").to_numpy()
    if (size <= per_series).all():
        return df
    buckets = max(per_series // 2, 1)
    bucket = pos * buckets // size
    value = df["value"].to_numpy(dtype=float)
    key = pd.MultiIndex.from_arrays([df["series_id"].to_numpy(), bucket])
    grouped = pd.Series(value).groupby(key, sort=False)
    wanted = (size <= per_series) | (pos == 0) | (pos == size - 1)
    wanted[grouped.idxmin().to_numpy()] = True
    wanted[grouped.idxmax().to_numpy()] = True
    keep = set(keep)
    if keep:
        wanted |= np.fromiter(((s, r) in keep for s, r in zip(df["series_id"], df["run_id"])), bool, len(df))
    return df[wanted].reset_index(drop=True)


def change_points(points: pd.DataFrame, directions: dict[int, str]) -> pd.DataFrame:
    """Level changes found by perfwatch.detect in each series of a trend frame (a pure computation:
    no query, and nothing stored; stored regressions come from ``series_regressions``)."""
    from perfwatch.detect import Point, detect

    out = []
    for sid, grp in points.groupby("series_id", sort=False):
        if len(grp) < 8:  # too short to tell a level change from noise
            continue
        pts = [Point(ts, float(v), None if pd.isna(s) else float(s), None if pd.isna(n) else int(n))
               for ts, v, s, n in zip(grp["created_at"], grp["value"], grp["spread"], grp["n"])]
        for cp in detect(pts, directions.get(sid, "lower_is_better")):
            out.append({"series_id": sid, "ts": cp.ts, "run_id": grp["run_id"].iloc[cp.index], "before": cp.before,
                        "after": cp.after, "change": cp.change, "kind": cp.direction})
    return pd.DataFrame(out, columns=["series_id", "ts", "run_id", "before", "after", "change", "kind"])


# --- one run, and two runs side by side ------------------------------------------------------

def run_cases(engine, run_id: str) -> pd.DataFrame:
    """The cases of a run with status, first error line and the command that reproduces each."""
    df = _frame(reads.run_cases(engine, run_id))
    df["error"] = [e.strip().split("\n", 1)[0] if isinstance(e, str) else "" for e in df["error"]]
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    df = df.sort_values(["benchmark", "order"]).drop(columns="order").reset_index(drop=True)
    return _with_reproduce(df)


VERDICT_ORDER = {"regression": 0, "too_noisy": 1, "imprecise": 2, "settings_changed": 3, "improvement": 4,
                 "same": 5, "no_baseline": 6}


def run_verdicts(engine, run_id: str) -> pd.DataFrame:
    """The gate's verdict on every series of a run, with the smallest change it could have seen
    (``detectable``), regressions and unjudgeable series first."""
    from perfwatch.store import verdicts

    cols = ["benchmark", "mode", "metric", "verdict", "change", "detectable", "noise", "noise_source", "baseline_runs",
            "before", "after", "unit", "note"]
    df = pd.DataFrame(verdicts.for_run(engine, run_id))
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["order"] = df["verdict"].map(VERDICT_ORDER).fillna(9)
    return df.sort_values(["order", "benchmark", "mode", "metric"])[cols].reset_index(drop=True)


def run_metrics(engine, run_id: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Some metrics of every case of a run, one row per case and metric."""
    df = _frame(reads.run_figures(engine, [run_id], metrics))
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    return df.sort_values(["benchmark", "order", "metric"]).drop(columns="order").reset_index(drop=True)


def compile_reasons(engine, run_id: str) -> pd.DataFrame:
    """Graph-break and recompilation reasons recorded in the case details of a run."""
    rows = []
    for bench, mode, details in reads.compiled_case_details(engine, run_id):
        for reason, count in (details.get("graph_break_reasons") or {}).items():
            rows.append({"benchmark": bench, "mode": mode, "kind": "graph break", "reason": reason, "count": count})
        for reason in details.get("recompile_reasons") or []:
            rows.append({"benchmark": bench, "mode": mode, "kind": "recompilation", "reason": reason, "count": None})
    return pd.DataFrame(rows, columns=["benchmark", "mode", "kind", "reason", "count"])


def cold_vs_warm(engine, run_id: str) -> pd.DataFrame:
    """Per compiled case: compile time, first call and compile CPU time cold and warm, the warm
    build's cache hits and misses, and warm / cold."""
    cols = ["benchmark", "mode", *COLD_WARM_METRICS, "warm_over_cold"]
    df = run_metrics(engine, run_id, COLD_WARM_METRICS)
    if df.empty:
        return pd.DataFrame(columns=cols)
    wide = df.pivot_table(index=["benchmark", "mode"], columns="metric", values="value").reset_index()
    for m in COLD_WARM_METRICS:
        if m not in wide:
            wide[m] = np.nan
    wide["warm_over_cold"] = wide["compile_time_warm"] / wide["compile_time"].where(wide["compile_time"] > 0)
    wide["order"] = wide["mode"].map(MODE_ORDER).fillna(9)
    return wide.sort_values(["benchmark", "order"])[cols].reset_index(drop=True)


def compile_phase_growth(engine, run_id: str, baseline: str) -> pd.DataFrame:
    """Per compiled case and compile phase, seconds in ``baseline`` and in ``run_id``, and per
    graph kind (forward, backward, runtime, from the case details): which phase and which graph
    grew. Rows sorted by growth, largest first."""
    cols = ["benchmark", "mode", "where", "what", "before", "after", "grew_s"]
    a = run_metrics(engine, baseline, COMPILE_PHASES)
    b = run_metrics(engine, run_id, COMPILE_PHASES)
    rows = []
    if not a.empty and not b.empty:
        both = a.merge(b, on=["benchmark", "mode", "metric"], suffixes=("_a", "_b"))
        for r in both.itertuples():
            rows.append({"benchmark": r.benchmark, "mode": r.mode, "where": "phase", "what": METRICS[r.metric].display,
                         "before": r.value_a, "after": r.value_b, "grew_s": r.value_b - r.value_a})
    det_a = {(bn, m): d for bn, m, d in reads.compiled_case_details(engine, baseline)}
    for bn, m, d in reads.compiled_case_details(engine, run_id):
        ga, gb = (det_a.get((bn, m)) or {}).get("compile_by_graph") or {}, d.get("compile_by_graph") or {}
        for kind in sorted(set(ga) & set(gb)):
            x, y = ga[kind].get("compile_time", 0.0), gb[kind].get("compile_time", 0.0)
            rows.append({"benchmark": bn, "mode": m, "where": "graph", "what": kind, "before": x, "after": y,
                         "grew_s": y - x})
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("grew_s", ascending=False).reset_index(drop=True)


def compare(engine, run_a: str, run_b: str) -> pd.DataFrame:
    """Every metric both runs measured, matched by case (the runs may be on different machines),
    with the change, its p-value and a verdict: perfwatch.analysis.compare's rules, so the dashboard and
    `perfwatch compare` always agree."""
    from perfwatch.analysis.compare import compare_runs

    cols = ["benchmark", "mode", "params", "metric", "unit", "direction", "a", "b", "change", "pvalue", "test", "significant",
            "verdict", "status_a", "status_b"]
    df = pd.DataFrame(compare_runs(engine, run_a, run_b, metrics=None), columns=cols)
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    return df.sort_values(["benchmark", "order", "metric"]).drop(columns="order").reset_index(drop=True)


BATCH_COLUMNS = ["benchmark", "mode", "batch", "fits", "throughput", "unit", "step_ms", "peak_bytes", "why",
                 "max_batch", "cap", "cut", "status"]


def batch_curves(engine, run_id: str) -> pd.DataFrame:
    """The batch search of every case of a run (--batch-search): one row per batch tried, with
    its throughput (fitting tries) or why it did not fit, and the case's max_batch (None when the
    budget cut the search), cap and status on every row."""
    rows = []
    for bench, mode, info, status in reads.batch_search_details(engine, run_id):
        for t in info.get("tries") or []:
            rows.append({"benchmark": bench, "mode": mode, "batch": t.get("batch"), "fits": bool(t.get("fits")),
                         "throughput": t.get("throughput"), "unit": info.get("item_unit"), "step_ms": t.get("step_ms"),
                         "peak_bytes": t.get("peak_bytes"), "why": t.get("why"), "max_batch": info.get("max_batch"),
                         "cap": info.get("cap"), "cut": bool(info.get("cut")), "status": status})
    df = pd.DataFrame(rows, columns=BATCH_COLUMNS)
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    return df.sort_values(["benchmark", "order", "batch"]).drop(columns="order").reset_index(drop=True)
