"""The dashboard's read API: pandas data frames over the store. All of the dashboard's SQL lives here.

Every query is shaped for a store of millions of measurements: nothing scans ``measurements``
as a whole. A run's figures come through ``ix_measurements_run``, a history through
``ix_measurements_series_time``, and the choices offered by the filters from the small
``series`` table (one row per machine × case × metric, thousands, not millions).

pandas is imported here at module level on purpose: only the dashboard (and its benchmark)
imports this module, and both need the ``dashboard`` extra anyway.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from perfwatch.domain.errors import StoreError, StoreUnavailable
from perfwatch.store import history
from perfwatch.store.models import Case, Machine, Measurement, Regression, Run, Series
from perfwatch.domain.vocab import MODES

COMPILE_METRICS = ("compilations", "graph_count", "graph_breaks", "graph_break_reasons", "recompilations",
                   "compile_time", "compile_time_backend", "compile_time_inductor", "compile_time_codegen")
COMPILE_PHASES = ("compile_time", "compile_time_backend", "compile_time_inductor", "compile_time_codegen")
MEMORY_METRICS = ("peak_memory_allocated", "peak_memory_reserved", "peak_rss", "rss_increase", "peak_mps_driver_allocated")
UVM_METRICS = ("uvm_gpu_page_faults", "uvm_cpu_page_faults", "uvm_bytes_htod", "uvm_bytes_dtoh")
MODE_ORDER = {m: i for i, m in enumerate(MODES)}


def _frame(engine: Engine, stmt, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a data frame; store failures become StoreError."""
    try:
        with engine.connect() as conn:
            res = conn.execute(stmt)
            # Plain tuples: pandas 3 misreads SQLAlchemy Row objects as a 2-D array of one dtype.
            return pd.DataFrame.from_records([tuple(r) for r in res], columns=list(columns or res.keys()))
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot read the database: {_first_line(exc)}") from None
    except ProgrammingError as exc:
        raise StoreError(f"the database is not a perfwatch store at the current schema: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    # SQLite hands back naive datetimes (stored in UTC), Postgres aware ones: make both UTC.
    for c in cols:
        if c in df:
            df[c] = pd.to_datetime(df[c], utc=True, format="mixed")
    return df


def reproduce_command(suite: str, benchmark: str, mode: str, backend: str, size: str | None,
                      run_command: str | None = None) -> str:
    """The `perfwatch run` line that runs one case again."""
    from perfwatch.domain.reproduce import run_command as line

    return line(suite, [benchmark], [mode], backend, size, source_command=run_command)


def _with_reproduce(df: pd.DataFrame) -> pd.DataFrame:
    commands = df["run_command"] if "run_command" in df else [None] * len(df)
    df["reproduce"] = [reproduce_command(*row) for row in
                       zip(df["suite"], df["benchmark"], df["mode"], df["backend"], df["size"], commands)] if len(df) else []
    return df


# --- the state of the store ------------------------------------------------------------------

def store_state(engine: Engine) -> str:
    """'ok', 'empty' (no runs yet) or 'unmigrated' (no perfwatch tables). Raises when unreachable."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("runs") or not inspect(conn).has_table("regressions"):
                return "unmigrated"
            return "ok" if conn.execute(select(Run.id).limit(1)).first() else "empty"
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot reach the database: {_first_line(exc)}") from None


def catalog(engine: Engine) -> pd.DataFrame:
    """Every series with its machine: what the filters offer (the series table is small)."""
    stmt = (select(Series.id.label("series_id"), Series.suite, Series.benchmark, Series.mode, Series.backend, Series.dtype,
                   Series.params_key, Series.metric, Series.unit, Series.direction, Machine.hostname.label("machine"),
                   Machine.fingerprint, Machine.gpu)
            .join(Machine, Machine.id == Series.machine_id))
    return _frame(engine, stmt)


def runs(engine: Engine, limit: int = 300) -> pd.DataFrame:
    """The newest runs (via ix_runs_created_at), for run pickers."""
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.git_sha,
                   Run.torch_version, Machine.hostname.label("machine"), Machine.gpu)
            .join(Machine, Machine.id == Run.machine_id)
            .order_by(Run.created_at.desc(), Run.id.desc()).limit(limit))
    return _utc(_frame(engine, stmt), "created_at")


def run_info(engine: Engine, run_id: str) -> dict[str, Any] | None:
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.git_sha,
                   Run.git_branch, Run.torch_version, Run.tags, Run.command, Machine.hostname.label("machine"), Machine.gpu)
            .join(Machine, Machine.id == Run.machine_id).where(Run.id == run_id))
    df = _utc(_frame(engine, stmt), "created_at")
    return df.iloc[0].to_dict() if len(df) else None


# --- overview --------------------------------------------------------------------------------

def latest_runs(engine: Engine) -> pd.DataFrame:
    """The newest run of each machine and suite (the runs table has one row per run: hundreds)."""
    newest = (select(Run.machine_id, Run.suite, func.max(Run.created_at).label("newest"))
              .group_by(Run.machine_id, Run.suite).subquery())
    stmt = (select(Run.id.label("run_id"), Run.created_at, Run.suite, Run.backend, Run.size, Run.status, Run.cases_total,
                   Run.cases_failed, Run.git_sha, Run.torch_version, Machine.hostname.label("machine"), Machine.gpu)
            .join(newest, and_(newest.c.machine_id == Run.machine_id, newest.c.suite == Run.suite,
                               newest.c.newest == Run.created_at))
            .join(Machine, Machine.id == Run.machine_id)
            .order_by(Machine.hostname, Run.suite))
    # Two runs started in the same microsecond would both match: keep one.
    return _utc(_frame(engine, stmt), "created_at").drop_duplicates(["machine", "suite"]).reset_index(drop=True)


def status_counts(engine: Engine, run_ids: Sequence[str]) -> pd.DataFrame:
    """Cases per status in each run (via ix_cases_run_id)."""
    stmt = (select(Case.run_id, Case.status, func.count().label("cases"))
            .where(Case.run_id.in_(list(run_ids))).group_by(Case.run_id, Case.status))
    return _frame(engine, stmt, ["run_id", "status", "cases"])


def _run_metric(engine: Engine, run_ids: Sequence[str], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (run, case, metric) of the runs, optionally only ``metrics`` (via ix_measurements_run)."""
    stmt = (select(Measurement.run_id, Measurement.case_id, Series.suite, Series.benchmark, Series.mode, Series.backend,
                   Series.dtype, Series.params_key, Series.metric, Series.unit, Series.direction, Measurement.value,
                   Measurement.spread, Measurement.ci_low, Measurement.ci_high, Measurement.n)
            .join(Series, Series.id == Measurement.series_id)
            .where(Measurement.run_id.in_(list(run_ids))))
    if metrics is not None:
        stmt = stmt.where(Series.metric.in_(list(metrics)))
    return _frame(engine, stmt)


def speedups(engine: Engine, run_ids: Sequence[str]) -> pd.DataFrame:
    """Geometric-mean speedup of each compile mode over eager per run, over the cases that have a
    step time in both that mode and eager of the same run (same benchmark, dtype, parameters)."""
    st = _run_metric(engine, run_ids, ["step_time"])
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

def regressions(engine: Engine, state: str | None = "open", run_id: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Stored regressions (newest first) with a `perfwatch run` line that reproduces each."""
    rows = history.list_regressions(engine, state=state, run_id=run_id, limit=limit)
    cols = ["id", "state", "suite", "benchmark", "mode", "backend", "metric", "unit", "hostname", "gpu", "ts", "run_id",
            "before", "after", "change", "pvalue", "note", "git_sha", "torch_version", "size", "series_id", "direction",
            "run_command"]
    df = pd.DataFrame(rows, columns=cols)
    df = _utc(df, "ts")
    return _with_reproduce(df)


def series_regressions(engine: Engine, series_ids: Sequence[int]) -> pd.DataFrame:
    """Regressions stored for some series (via the unique index on (series_id, run_id))."""
    stmt = (select(Regression.id, Regression.series_id, Regression.run_id, Regression.ts, Regression.state,
                   Regression.change, Regression.before, Regression.after)
            .where(Regression.series_id.in_(list(series_ids))))
    return _utc(_frame(engine, stmt, ["id", "series_id", "run_id", "ts", "state", "change", "before", "after"]), "ts")


# --- histories -------------------------------------------------------------------------------

def trend(engine: Engine, series_ids: Sequence[int], last: int | None = None) -> pd.DataFrame:
    """The history of some series, one row per run, oldest first, with what the tooltip shows.

    Reads one index range per series on ix_measurements_series_time; ``last`` keeps each series'
    newest points only."""
    cols = ["series_id", "run_id", "created_at", "value", "spread", "ci_low", "ci_high", "n", "git_sha", "git_branch",
            "torch_version", "size"]
    if not series_ids:
        return pd.DataFrame(columns=cols)
    stmt = (select(Measurement.series_id, Measurement.run_id, Measurement.created_at, Measurement.value, Measurement.spread,
                   Measurement.ci_low, Measurement.ci_high, Measurement.n, Run.git_sha, Run.git_branch, Run.torch_version,
                   Run.size)
            .join(Run, Run.id == Measurement.run_id)
            .where(Measurement.series_id.in_(list(series_ids)))
            .order_by(Measurement.series_id, Measurement.created_at))
    df = _utc(_frame(engine, stmt, cols), "created_at")
    if last:
        df = df.groupby("series_id", group_keys=False).tail(last).reset_index(drop=True)
    return df


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

def run_cases(engine: Engine, run_id: str) -> pd.DataFrame:
    """The cases of a run with status, first error line and the command that reproduces each."""
    stmt = (select(Case.id.label("case_id"), Run.suite, Case.benchmark, Case.mode, Case.backend, Case.dtype,
                   Case.params_key, Case.status, Case.error, Case.duration_s, Run.size, Run.command.label("run_command"))
            .join(Run, Run.id == Case.run_id).where(Case.run_id == run_id))
    df = _frame(engine, stmt)
    df["error"] = [e.strip().split("\n", 1)[0] if isinstance(e, str) else "" for e in df["error"]]
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    df = df.sort_values(["benchmark", "order"]).drop(columns="order").reset_index(drop=True)
    return _with_reproduce(df)


def run_metrics(engine: Engine, run_id: str, metrics: Iterable[str]) -> pd.DataFrame:
    """Some metrics of every case of a run, one row per case and metric."""
    df = _run_metric(engine, [run_id], metrics)
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    return df.sort_values(["benchmark", "order", "metric"]).drop(columns="order").reset_index(drop=True)


def compile_reasons(engine: Engine, run_id: str) -> pd.DataFrame:
    """Graph-break and recompilation reasons recorded in the case details of a run."""
    stmt = select(Case.benchmark, Case.mode, Case.details).where(Case.run_id == run_id, Case.mode != "eager")
    rows = []
    for bench, mode, details in _frame(engine, stmt).itertuples(index=False):
        details = details or {}
        for reason, count in (details.get("graph_break_reasons") or {}).items():
            rows.append({"benchmark": bench, "mode": mode, "kind": "graph break", "reason": reason, "count": count})
        for reason in details.get("recompile_reasons") or []:
            rows.append({"benchmark": bench, "mode": mode, "kind": "recompilation", "reason": reason, "count": None})
    return pd.DataFrame(rows, columns=["benchmark", "mode", "kind", "reason", "count"])


def compare(engine: Engine, run_a: str, run_b: str) -> pd.DataFrame:
    """Every metric both runs measured, matched by case (the runs may be on different machines),
    with the change, its p-value and a verdict: perfwatch.analysis.compare's rules, so the dashboard and
    `perfwatch compare` always agree."""
    from perfwatch.analysis.compare import compare_runs

    cols = ["benchmark", "mode", "params", "metric", "unit", "direction", "a", "b", "change", "pvalue", "significant",
            "verdict", "status_a", "status_b"]
    df = pd.DataFrame(compare_runs(engine, run_a, run_b, metrics=None), columns=cols)
    df["order"] = df["mode"].map(MODE_ORDER).fillna(9)
    return df.sort_values(["benchmark", "order", "metric"]).drop(columns="order").reset_index(drop=True)
