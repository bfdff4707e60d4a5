"""Overview: what changed first (open findings of the last day / week / ..., most severe first,
each a click from its trend), then the newest run of each machine and suite with its case
statuses and the geometric-mean speedup of each compile mode over eager."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from perfwatch.domain import units
from pwdash import charts, data
from pwdash.params import link
from pwdash.views.common import sort_modes

COMPILED = ("default", "reduce-overhead", "max-autotune")


# ?window=: what "what changed" covers, counted back from the newest run in the store (not from
# now: a store that stopped receiving runs still opens on its last changes, as the charts do)
WINDOWS = {"day": ("last day", timedelta(days=1)), "week": ("last week", timedelta(days=7)),
           "30d": ("last 30 days", timedelta(days=30)), "all": ("all open", None)}
SHOWN = 15


def render(url: str) -> None:
    st.header("Overview")
    latest = data.latest_runs(url)
    what_changed(url, latest)

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
                                         color_enc=charts.mode_color("mode", sort_modes(named["mode"]))), width="stretch")


def what_changed(url: str, latest: pd.DataFrame) -> None:
    """The page leads with what changed: open findings (one per cause), most severe first, each one
    click from its trend, within a window that counts back from the newest run; an empty window
    says what is older."""
    key = "q_window"
    if st.session_state.get(key) not in WINDOWS:
        wanted = st.query_params.get("window")
        st.session_state[key] = wanted if wanted in WINDOWS else "week"
    window = st.radio("What changed in the", list(WINDOWS), key=key, horizontal=True,
                      format_func=lambda w: WINDOWS[w][0], help="counted back from the newest run in the store")
    st.query_params["window"] = window
    label, span = WINDOWS[window]
    every = data.findings(url, "open")
    newest = pd.to_datetime(latest["created_at"], utc=True).max() if len(latest) else None
    found = every if span is None or newest is None or every.empty else every[every["ts"] >= newest - span]
    st.subheader(f"What changed ({label}): {len(found)} open finding(s)")
    if found.empty:
        st.success(f"No open regression first seen in the {label} of runs." if span else "No open regressions.")
        if len(every) and span:
            st.markdown(f"{len(every)} older open finding(s): [see them all]({link(view='regressions')})")
        return
    top = found.head(SHOWN)
    t = pd.DataFrame({
        "what": top["suite"] + "/" + top["benchmark"] + " [" + top["mode"] + "] " + top["label"],
        "change": top["change"].map(units.change),  # "new" for a change from zero (a counter 0 -> 2)
        "before → after": top["shown_before"] + " → " + top["shown_after"],
        "also moved": top["also"],
        "machine": top["hostname"],
        "since": top["ts"],
        "trend": [link(view="trends", suite=r.suite, benchmark=r.benchmark, mode=r.mode, backend=r.backend,
                       metric=r.metric, machine=r.hostname) for r in top.itertuples()],
        "id": top["id"],
    })
    st.dataframe(t, hide_index=True, width="stretch", column_config={
        "trend": st.column_config.LinkColumn("trend", display_text="open chart", width="small"),
        "change": st.column_config.TextColumn("change", help="after vs before, relative"),
        "since": st.column_config.DatetimeColumn("since", format="YYYY-MM-DD HH:mm"),
        "id": st.column_config.NumberColumn("id", help="perfwatch regressions --ack ID acknowledges the finding"),
    })
    more = f" · {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    st.caption("One line per cause: what moved together in one case and run (step time, throughput, speedup; "
               "compile time and its phases; memory) is one finding, ranked by severity (the change × its "
               f"confidence × the metric's importance), not by date{more}. "
               f"[Every regression, with notes and actions]({link(view='regressions')})")


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
