"""Trends: one metric over time for a suite, benchmark, backend and machine, several modes on one
chart, with the spread as a band, detected change points and stored regressions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from perfwatch.store import frames
from pwdash import charts, data
from pwdash.params import choose_many
from pwdash.views.common import series_filters, series_label, sort_modes


def render(url: str) -> None:
    st.header("Trends")
    sel, chosen = series_filters(data.catalog(url))
    modes = choose_many("Modes", sort_modes(sel["mode"]), "mode")
    sel = sel[sel["mode"].isin(modes)].assign(label=lambda d: series_label(d))
    if sel.empty:
        st.info("Nothing recorded for this choice; pick another suite, benchmark, machine or metric.")
        return
    show_history(url, sel, chosen["metric"])


def show_history(url: str, sel: pd.DataFrame, metric: str, height: int = 340, details: bool = True) -> None:
    """One chart of ``sel``'s series. With ``details``, change points are detected on the fly and
    listed with the stored regressions under the chart (the small charts show stored ones only:
    detection costs tens of ms per series)."""
    ids = tuple(int(i) for i in sel["series_id"])
    points = data.trend(url, ids)
    if points.empty:
        st.info(f"No {metric} figures yet for this choice.")
        return
    meta = sel.set_index("series_id")
    points = points.assign(label=points["series_id"].map(meta["label"]), gpu=points["series_id"].map(meta["gpu"]),
                           machine=points["series_id"].map(meta["machine"]))
    unit, direction = meta["unit"].iloc[0], meta["direction"].iloc[0]
    changes = (data.change_points(url, ids, tuple((int(s), d) for s, d in meta["direction"].items())) if details
               else frames.change_points(points.iloc[:0], {}))
    changes = changes.assign(label=changes["series_id"].map(meta["label"]))
    regs = data.series_regressions(url, ids)
    regs = regs.assign(label=regs["series_id"].map(meta["label"]))
    better = "lower is better" if direction == "lower_is_better" else "higher is better"
    detected = f"{len(changes)} change point(s) detected · " if details else ""
    st.markdown(f"**{metric}** ({unit}, {better}) · {len(points)} points · {detected}{len(regs)} stored regression(s)")
    st.altair_chart(charts.trend_chart(points, unit, changes, regs, height=height), width="stretch")
    if details and (len(changes) or len(regs)):
        found = pd.concat([
            changes.assign(source="detected now", state="", pct=changes["change"] * 100)[
                ["label", "ts", "run_id", "source", "state", "pct", "before", "after"]],
            regs.assign(source="stored regression", pct=regs["change"] * 100)[
                ["label", "ts", "run_id", "source", "state", "pct", "before", "after"]],
        ]).rename(columns={"label": "mode", "pct": "change"}).sort_values("ts", ascending=False)
        st.dataframe(found, hide_index=True, column_config={
            "ts": st.column_config.DatetimeColumn("since", format="YYYY-MM-DD HH:mm"),
            "change": st.column_config.NumberColumn("change", format="%+.1f%%"),
            "before": st.column_config.NumberColumn("before", format="%.4g"),
            "after": st.column_config.NumberColumn("after", format="%.4g"),
        })
