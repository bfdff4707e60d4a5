"""Compare: two runs side by side, every metric both measured, with the delta, its significance
and a verdict; sortable (click a column), filterable to regressions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from perfwatch.analysis.frames import reproduce_command
from perfwatch.domain.units import figure
from pwdash import charts, data
from pwdash.params import choose


def _label(runs: pd.DataFrame):
    names = {r.run_id: f"{r.run_id} · {r.machine} · {r.suite} · {r.created_at:%Y-%m-%d %H:%M}" for r in runs.itertuples()}
    return lambda rid: names.get(rid, rid)


def render(url: str) -> None:
    st.header("Compare two runs")
    runs = data.runs(url)
    options = list(runs["run_id"])
    for param in ("run_a", "run_b"):  # a linked run older than the picker's list is still offered
        wanted = st.query_params.get(param)
        if wanted and wanted not in options and data.run_info(url, wanted):
            options.append(wanted)
    fmt = _label(runs)
    c1, c2 = st.columns(2)
    run_b = choose("Run B (new)", options, "run_b", where=c2, format_func=fmt)
    run_a = choose("Run A (baseline)", options, "run_a", default=_previous(runs, run_b), where=c1, format_func=fmt)
    if run_a == run_b:
        st.info("Pick two different runs.")
        return
    df = data.compare(url, run_a, run_b)
    if df.empty:
        st.warning("These runs have no metric in common (different suites or benchmarks?).")
        return
    counts = df["verdict"].value_counts()
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("regressions", int(counts.get("regression", 0)))
    m2.metric("improvements", int(counts.get("improvement", 0)))
    m3.metric("untested changes", int(counts.get("untested", 0)), help="beyond 2 % with one process per run: "
              "nothing to test them against (perfwatch run --processes N)")
    m4.metric("unchanged", int(counts.get("same", 0)))

    f1, f2 = st.columns([2, 3])  # room for the toggle's label
    only_regressions = f1.toggle("Only regressions and untested changes", key="only_regressions")
    metric = choose("Metric", ["(all)", *sorted(df["metric"].unique())], "metric", default="(all)", where=f2)
    shown = df
    if only_regressions:
        # untested: a change beyond min_effect with no replication to test it (one process per run)
        shown = shown[shown["verdict"].isin(["regression", "untested"])]
    if metric != "(all)":
        shown = shown[shown["metric"] == metric]
    # The chart shows one metric (step time unless another is picked), one labelled row per case.
    charted = "step_time" if metric == "(all)" else metric
    rows = shown[shown["metric"] == charted]
    if len(rows):
        st.altair_chart(charts.change_bars(rows, charted), width="stretch")
    info = data.run_info(url, run_b) or {}
    st.dataframe(_table(shown, info), hide_index=True, column_config={
        "change": st.column_config.NumberColumn("change", format="%+.1f%%", help="(B - A) / |A|"),
        "p": st.column_config.TextColumn("p", help="Welch's t-test on the process medians when both runs timed the "
                                         "case in several processes (--processes); counters compare exactly; otherwise "
                                         "untested: one process is too thin a replication"),
    })


def _table(shown: pd.DataFrame, info: dict) -> pd.DataFrame:
    """The comparison as people read it: A and B with their units (975.7 MB of bytes as 930 MiB,
    ms past a second as s), the p-value as text ("untested", never "None")."""
    return pd.DataFrame({
        "benchmark": shown["benchmark"], "mode": shown["mode"], "params": shown["params"], "metric": shown["metric"],
        "A": [figure(v, u or "") for v, u in zip(shown["a"], shown["unit"])],
        "B": [figure(v, u or "") for v, u in zip(shown["b"], shown["unit"])],
        "change": shown["change"] * 100, "p": charts.pvalue_text(shown), "verdict": shown["verdict"],
        "status_a": shown["status_a"], "status_b": shown["status_b"],
        "reproduce": [reproduce_command(info.get("suite", "?"), r.benchmark, r.mode, info.get("backend", "?"),
                                        info.get("size"), info.get("command")) for r in shown.itertuples()],
    })

def _previous(runs: pd.DataFrame, run_id: str | None) -> str | None:
    """The run before ``run_id`` on the same machine and suite: the natural baseline."""
    row = runs[runs["run_id"] == run_id]
    if row.empty:
        return None
    r = row.iloc[0]
    older = runs[(runs["machine"] == r["machine"]) & (runs["suite"] == r["suite"]) & (runs["created_at"] < r["created_at"])]
    return older["run_id"].iloc[0] if len(older) else None
