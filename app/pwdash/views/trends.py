"""Trends: one metric over time for a suite, benchmark, backend and machine, several modes on one
chart, with the spread as a band, detected change points and stored regressions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pwdash import charts, data
from pwdash.params import choose_many
from pwdash.safe import md
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


def show_history(url: str, sel: pd.DataFrame, metric: str) -> None:
    """One chart of ``sel``'s series with change points detected on the fly, and a table of those
    and of the stored regressions under it."""
    ids = tuple(int(i) for i in sel["series_id"])
    points = data.trend(url, ids)
    if points.empty:
        st.info(f"No {md(metric)} figures yet for this choice.")
        return
    meta = sel.set_index("series_id")
    points = points.assign(label=points["series_id"].map(meta["label"]), gpu=points["series_id"].map(meta["gpu"]),
                           machine=points["series_id"].map(meta["machine"]))
    unit, direction = meta["unit"].iloc[0], meta["direction"].iloc[0]
    changes = data.change_points(url, ids, tuple((int(s), d) for s, d in meta["direction"].items()))
    changes = changes.assign(label=changes["series_id"].map(meta["label"]))
    regs = data.series_regressions(url, ids)
    regs = regs.assign(label=regs["series_id"].map(meta["label"]))
    better = "lower is better" if direction == "lower_is_better" else "higher is better"
    st.markdown(f"**{md(metric)}** ({md(unit)}, {better}) · {len(points)} points · {len(changes)} change point(s) detected · "
                f"{len(regs)} stored regression(s)")
    st.altair_chart(charts.trend_chart(points, unit, changes, regs), width="stretch")
    if len(changes) or len(regs):
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


def show_histories(url: str, sel: pd.DataFrame, metrics: list[str], columns: int = 1, height: int = 160) -> None:
    """Several metrics of ``sel`` over time as small multiples of one chart, stored regressions
    marked (one trend query for all of them)."""
    sel = sel[sel["metric"].isin(metrics)]
    ids = tuple(int(i) for i in sel["series_id"])
    points = data.trend(url, ids)
    if points.empty:
        st.info("No figures yet for this choice.")
        return
    meta = sel.set_index("series_id")
    regs = data.series_regressions(url, ids)
    starts = set(zip(regs["series_id"], regs["run_id"]))
    points = points.assign(**{c: points["series_id"].map(meta[c]) for c in ("label", "metric", "unit", "gpu", "machine")},
                           regressed=[(s, r) in starts for s, r in zip(points["series_id"], points["run_id"])])
    order = {m: i for i, m in enumerate(metrics)}
    points = points.sort_values("metric", key=lambda m: m.map(order), kind="stable")
    st.caption(f"{len(points)} points · {len(regs)} stored regression(s) (red triangles) · the band is the spread (IQR)")
    st.altair_chart(charts.history_grid(points, columns=columns, height=height))
