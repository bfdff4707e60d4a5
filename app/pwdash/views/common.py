"""Pieces several views share: the regression table and series filters over the catalog."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from perfwatch.domain.vocab import MODES
from pwdash.params import choose, link

MODE_ORDER = list(MODES)


def sort_modes(modes) -> list[str]:
    return sorted(set(modes), key=lambda m: (MODE_ORDER.index(m) if m in MODE_ORDER else 9, m))


def regression_table(regs: pd.DataFrame, compact: bool = False) -> None:
    """Regressions: what, since when, how much, with a link to their trend (and the command that
    reproduces each unless compact)."""
    t = pd.DataFrame({
        "id": regs["id"],
        "what": regs["suite"] + "/" + regs["benchmark"] + " [" + regs["mode"] + "] " + regs["metric"],
        "machine": regs["hostname"],
        "since": regs["ts"],
        "change": regs["change"] * 100,
        "before": regs["before"],
        "after": regs["after"],
        "unit": regs["unit"],
        "state": regs["state"],
        "run": regs["run_id"],
        "trend": [link(view="trends", suite=r.suite, benchmark=r.benchmark, mode=r.mode, backend=r.backend, metric=r.metric,
                       machine=r.hostname) for r in regs.itertuples()],
    })
    if not compact:
        t["note"] = regs["note"]
        t["reproduce"] = regs["reproduce"]
    st.dataframe(t, hide_index=True, column_config={
        "since": st.column_config.DatetimeColumn("since", format="YYYY-MM-DD HH:mm"),
        "change": st.column_config.NumberColumn("change", format="%+.1f%%", help="after vs before, relative"),
        "before": st.column_config.NumberColumn("before", format="%.4g"),
        "after": st.column_config.NumberColumn("after", format="%.4g"),
        "trend": st.column_config.LinkColumn("trend", display_text="chart"),
    })


def series_filters(cat: pd.DataFrame, metrics: list[str] | None = None, default_metric: str = "step_time",
                   multi_mode: bool = True) -> tuple[pd.DataFrame, dict]:
    """Suite, benchmark, backend, machine (and metric unless ``metrics`` is given) from the URL,
    each offering only what exists given the ones before. Returns the matching series and the
    choices; modes are left to the caller."""
    cols = st.columns(5 if metrics is None else 4)
    chosen: dict = {}
    sel = cat
    for col, field, label in zip(cols, ("suite", "benchmark", "backend", "machine"), ("Suite", "Benchmark", "Backend", "Machine")):
        chosen[field] = choose(label, sorted(sel[field].unique()), field, where=col)
        sel = sel[sel[field] == chosen[field]]
    if metrics is None:
        chosen["metric"] = choose("Metric", sorted(sel["metric"].unique()), "metric", default=default_metric, where=cols[4])
        sel = sel[sel["metric"] == chosen["metric"]]
    else:
        sel = sel[sel["metric"].isin(metrics)]
    return sel, chosen


def series_label(sel: pd.DataFrame) -> pd.Series:
    """mode, plus dtype and parameters when one benchmark has several variants."""
    multi = sel.groupby("mode")["series_id"].transform("size") > sel.groupby("mode")["metric"].transform("nunique")
    extra = sel["dtype"] + " " + sel["params_key"].where(sel["params_key"] != "{}", "")
    return sel["mode"].where(~multi, sel["mode"] + " " + extra.str.strip())
