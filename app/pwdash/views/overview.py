"""Overview: open regressions first, then the newest run of each machine and suite with its case
statuses and the geometric-mean speedup of each compile mode over eager."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pwdash import charts, data
from pwdash.params import link
from pwdash.views.common import regression_table

COMPILED = ("default", "reduce-overhead", "max-autotune")


def render(url: str) -> None:
    st.header("Overview")
    open_regs = data.regressions(url, "open")
    st.subheader(f"Open regressions ({len(open_regs)})")
    if open_regs.empty:
        st.success("No open regressions.")
    else:
        regression_table(open_regs.head(20), compact=True)
        if len(open_regs) > 20:
            st.markdown(f"[All {len(open_regs)} open regressions]({link(view='regressions')})")

    latest = data.latest_runs(url)
    ids = tuple(latest["run_id"])
    statuses = data.status_counts(url, ids)
    speed = data.speedups(url, ids)
    st.subheader("Latest run per machine and suite")
    table = latest_table(latest, statuses, speed)
    st.dataframe(table, hide_index=True, column_config={
        "run": st.column_config.LinkColumn("run", display_text=r"run_b=(.*)$"),
        "when": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
        **{f"{m} ×": st.column_config.NumberColumn(f"{m} ×", format="%.2f", help=f"geometric-mean speedup of {m} "
                                                   "over eager, over the cases that ran in both") for m in COMPILED},
    })
    if not speed.empty:
        st.subheader("Geometric-mean speedup over eager")
        st.caption("Per machine and suite (newest run), counted only over cases that ran in both eager and the mode.")
        named = speed.merge(latest[["run_id", "machine", "suite"]], on="run_id")
        named["where"] = named["machine"] + " · " + named["suite"]
        st.altair_chart(charts.bar_chart(named, "geomean_speedup", "where", "mode", "speedup (×, higher is better)", None,
                                         height=max(160, 34 * named["where"].nunique())), width="stretch")


def latest_table(latest: pd.DataFrame, statuses: pd.DataFrame, speed: pd.DataFrame) -> pd.DataFrame:
    t = latest.assign(commit=latest["git_sha"].fillna("").str[:10],
                      run=[link(view="compare", run_b=r) for r in latest["run_id"]])
    if not statuses.empty:
        counts = statuses.pivot_table(index="run_id", columns="status", values="cases", aggfunc="sum", fill_value=0)
        t = t.merge(counts, left_on="run_id", right_index=True, how="left")
    if not speed.empty:
        sp = speed.pivot_table(index="run_id", columns="mode", values="geomean_speedup")
        sp.columns = [f"{c} ×" for c in sp.columns]
        t = t.merge(sp, left_on="run_id", right_index=True, how="left")
    status_cols = [c for c in ("ok", *sorted(set(statuses.get("status", [])) - {"ok"})) if c in t]
    speed_cols = [f"{m} ×" for m in COMPILED if f"{m} ×" in t]
    t = t.rename(columns={"created_at": "when", "torch_version": "torch"})
    return t[["machine", "gpu", "suite", "backend", "when", "run", "commit", "torch", *status_cols, *speed_cols]]
