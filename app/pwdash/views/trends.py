"""Trends: one metric over time for a suite, benchmark, backend and machine, several modes on one
chart, with the spread as a band, detected change points and stored regressions. A first visit
opens on the most severe open finding's series; ``?range=`` limits the history plotted."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from perfwatch.domain.units import figure
from pwdash import charts, data
from pwdash.params import choose_many, choose_range
from pwdash.safe import md
from pwdash.views.common import (finding_note, in_range, open_on_finding, percent, series_filters, series_label,
                                 sort_modes)


def render(url: str) -> None:
    st.header("Trends")
    top = open_on_finding(url)
    sel, chosen = series_filters(data.catalog(url))
    c1, c2 = st.columns([3, 2])
    modes = choose_many("Modes", sort_modes(sel["mode"]), "mode", where=c1)
    days = choose_range(where=c2)
    finding_note(top)
    sel = sel[sel["mode"].isin(modes)].assign(label=lambda d: series_label(d))
    if sel.empty:
        st.info("Nothing recorded for this choice; pick another suite, benchmark, machine or metric.")
        return
    show_history(url, sel, chosen["metric"], days)


def _windowed(url: str, ids: tuple[int, ...], days: int | None) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The history of ``ids`` within the time range, and the newest point it counts back from."""
    points = data.trend(url, ids, days)  # windowed, then thinned for drawing
    newest = points["created_at"].max() if len(points) else None
    return in_range(points, days, newest), newest


def show_history(url: str, sel: pd.DataFrame, metric: str, days: int | None = None) -> None:
    """One chart of ``sel``'s series with change points detected on the fly (over the whole
    history: the range only limits what is drawn), and a table of those and of the stored
    regressions under it."""
    ids = tuple(int(i) for i in sel["series_id"])
    points, newest = _windowed(url, ids, days)
    if points.empty:
        st.info(f"No {md(metric)} figures yet for this choice.")
        return
    meta = sel.set_index("series_id")
    points = points.assign(label=points["series_id"].map(meta["label"]), gpu=points["series_id"].map(meta["gpu"]),
                           machine=points["series_id"].map(meta["machine"]))
    unit, direction = meta["unit"].iloc[0], meta["direction"].iloc[0]
    changes = data.change_points(url, ids, tuple((int(s), d) for s, d in meta["direction"].items()))
    changes = in_range(changes.assign(label=changes["series_id"].map(meta["label"])), days, newest, "ts")
    regs = data.series_regressions(url, ids)
    regs = in_range(regs.assign(label=regs["series_id"].map(meta["label"])), days, newest, "ts")
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
        found["change"] = percent(found["change"] / 100)
        found["before"] = found["before"].map(lambda v: figure(v, unit))  # with the unit: 2.44 GiB, 42.7 ms
        found["after"] = found["after"].map(lambda v: figure(v, unit))
        st.dataframe(found, hide_index=True, column_config={
            "ts": st.column_config.DatetimeColumn("since", format="YYYY-MM-DD HH:mm"),
            "change": st.column_config.NumberColumn("change", format="%+.1f%%"),
        })


def show_histories(url: str, sel: pd.DataFrame, metrics: list[str], days: int | None = None, height: int = 150) -> None:
    """Several metrics of ``sel`` over time as rows of one chart, stored regressions marked (one
    trend query for all of them)."""
    sel = sel[sel["metric"].isin(metrics)]
    ids = tuple(int(i) for i in sel["series_id"])
    points, newest = _windowed(url, ids, days)
    if points.empty:
        st.info("No figures yet for this choice.")
        return
    meta = sel.set_index("series_id")
    regs = in_range(data.series_regressions(url, ids), days, newest, "ts")
    starts = set(zip(regs["series_id"], regs["run_id"]))
    points = points.assign(**{c: points["series_id"].map(meta[c]) for c in ("label", "metric", "unit", "gpu", "machine")},
                           regressed=[(s, r) in starts for s, r in zip(points["series_id"], points["run_id"])])
    order = {m: i for i, m in enumerate(metrics)}
    points = points.sort_values("metric", key=lambda m: m.map(order), kind="stable")
    st.caption(f"{len(points)} points · {len(regs)} stored regression(s) (red triangles) · the band is the spread (IQR)")
    st.altair_chart(charts.history_grid(points, height=height), width="stretch")
