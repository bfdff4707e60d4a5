"""Compile health: graph breaks and recompilations with their reasons, and compile time by phase,
per case of one run and over time."""

from __future__ import annotations

import streamlit as st

from perfwatch.analysis.frames import COMPILE_METRICS, COMPILE_PHASES
from perfwatch.domain.metrics import spec
from pwdash import charts, data
from pwdash.params import choose, choose_range
from pwdash.safe import md  # stored text shown as text
from pwdash.views.common import run_picker, series_label, sort_modes
from pwdash.views.trends import show_histories

OVER_TIME = ("graph_breaks", "recompilations", "compile_time", "compile_time_warm", "compile_cpu_time")
UNIT_FORMATS = {"count": "%d", "bool": "%d", "s": "%.3g s", "ms": "%.3g ms", "ratio": "%.2f×"}


def unit_columns(columns) -> dict:
    """Table formats from the metric catalogue's units: counters as integers, times with their unit."""
    return {c: st.column_config.NumberColumn(c, format=UNIT_FORMATS.get(spec(c).unit, "%.3g")) for c in columns}


def render(url: str) -> None:
    st.header("Compile health")
    suite, machine, mine, run_id = run_picker(data.runs(url))
    if run_id is None:
        st.info("No runs of this suite on this machine.")
        return

    per_case = data.run_metrics(url, run_id, COMPILE_METRICS)
    if per_case.empty:
        st.info("This run has no compile figures (eager only, or torch did not expose its counters).")
    else:
        st.subheader("Per case")
        wide = per_case.pivot_table(index=["benchmark", "mode"], columns="metric", values="value").reset_index()
        wide = wide[["benchmark", "mode", *[m for m in COMPILE_METRICS if m in wide]]]
        cases = data.run_cases(url, run_id)[["benchmark", "mode", "status", "reproduce"]]
        st.dataframe(wide.merge(cases, on=["benchmark", "mode"], how="left"), hide_index=True,
                     column_config=unit_columns(COMPILE_METRICS))
        phases = per_case[per_case["metric"].isin(COMPILE_PHASES)]
        if len(phases):
            div, unit = charts.scale_unit(phases["value"], "s")  # ms when every phase is under a second
            st.subheader(f"Compile time by phase ({unit})")
            st.caption("Phases add up to the compile time: every compiled graph, the lazily compiled backward "
                       "included, over the case's own empty caches (cold).")
            bars = phases.assign(case=phases["benchmark"] + " [" + phases["mode"] + "]", shown=phases["value"] / div)
            st.altair_chart(charts.bar_chart(bars, "shown", "case", "metric", unit, None), width="stretch")
    cw = data.cold_vs_warm(url, run_id)
    if not cw.empty:
        st.subheader("Cold vs warm compile")
        st.caption("Cold: the case compiled over empty caches of its own. Warm: a second, build-only process "
                   "over the caches the cold one left (what a user's second start costs).")
        st.dataframe(cw, hide_index=True, column_config={
            **unit_columns(cw.columns[2:-1]),
            "warm_over_cold": st.column_config.NumberColumn("warm / cold", format="%.2f×")})
    when = mine.set_index("run_id")["created_at"]
    earlier = mine[mine["created_at"] < when[run_id]]
    if len(earlier):  # the run before this one, to set its compile phases against
        base = earlier.loc[earlier["created_at"].idxmax(), "run_id"]
        growth = data.compile_phase_growth(url, run_id, base)
        grew = growth[growth["grew_s"] > 0]
        if len(grew):
            st.subheader(f"Which phase and graph grew (vs {md(base)})")
            st.dataframe(grew, hide_index=True,
                         column_config={c: st.column_config.NumberColumn(c, format="%.3g s")
                                        for c in ("before", "after", "grew_s")})
    reasons = data.compile_reasons(url, run_id)
    st.subheader("Graph-break and recompilation reasons")
    if reasons.empty:
        st.success("No graph breaks or recompilations recorded in this run.")
    else:
        st.dataframe(reasons, hide_index=True)

    st.subheader("Over time")
    cat = data.catalog(url)
    sel = cat[(cat["suite"] == suite) & (cat["machine"] == machine) & cat["metric"].isin(OVER_TIME)]
    if sel.empty:
        return
    b1, b2, b3 = st.columns(3)
    bench = choose("Benchmark", sorted(sel["benchmark"].unique()), "benchmark", where=b1)
    sel = sel[sel["benchmark"] == bench]
    mode = choose("Mode", sort_modes(sel["mode"]), "mode", default="default", where=b2)
    days = choose_range(where=b3)
    sel = sel[sel["mode"] == mode].assign(label=lambda d: series_label(d))
    show_histories(url, sel, list(OVER_TIME), days)
