"""Batch search: throughput against batch per mode, with the largest batch that fits marked, for
one run (`perfwatch run --batch-search`)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from pwdash import data
from perfwatch.domain.units import figure
from pwdash.charts import mode_color
from pwdash.safe import md  # stored text shown as text
from pwdash.views.common import run_picker, sort_modes


def curve_chart(curve: pd.DataFrame, unit: str) -> alt.Chart:
    """Throughput of each fitting try against its batch (log2 axis), one line per mode; each
    mode's max_batch as a dashed rule in its colour (none where the budget cut the search)."""
    modes = sort_modes(curve["mode"])
    color = mode_color("mode", modes)
    # batches are integers: no 1.5 tick between 1 and 2
    x = alt.X("batch:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(title="batch", format="d"))
    fits = curve[curve["fits"]]
    fits = fits.assign(step=[figure(v, "ms") if pd.notna(v) else "-" for v in fits["step_ms"]])  # 1.2 s, 850 ms
    tooltip = [alt.Tooltip("mode:N"), alt.Tooltip("batch:Q"), alt.Tooltip("throughput:Q", format=".4g", title=unit),
               alt.Tooltip("step:N", title="step time")]
    line = alt.Chart(fits).mark_line(point=True).encode(x=x, y=alt.Y("throughput:Q", title=unit), color=color,
                                                        tooltip=tooltip)
    marks = curve.dropna(subset=["max_batch"]).drop_duplicates("mode")
    rule = alt.Chart(marks).mark_rule(strokeDash=[5, 4], strokeWidth=1.5).encode(
        x=alt.X("max_batch:Q"), color=color,
        tooltip=[alt.Tooltip("mode:N"), alt.Tooltip("max_batch:Q", title="largest batch that fits"),
                 alt.Tooltip("cap:N", title="memory cap")])
    return alt.layer(line, rule).properties(height=320, width="container")


def render(url: str) -> None:
    st.header("Batch search")
    run_id = run_picker(data.runs(url))[3]
    curves = data.batch_curves(url, run_id) if run_id is not None else pd.DataFrame()
    if curves.empty:
        st.info("No batch search in this run: `perfwatch run --batch-search` finds the largest batch that fits "
                "for each train benchmark and mode, and the throughput up to it.")
        return
    st.caption("Each point a fresh build at that batch; the dashed rule the largest batch that fits under the "
               "memory cap. A search cut by its time budget stores no max_batch.")
    for bench in sorted(curves["benchmark"].unique()):
        curve = curves[curves["benchmark"] == bench]
        st.subheader(md(bench))
        st.altair_chart(curve_chart(curve, str(curve["unit"].dropna().iloc[0]) if curve["unit"].notna().any() else ""),
                        width="stretch")
        summary = curve.drop_duplicates("mode")[["mode", "max_batch", "cap", "cut", "status"]]
        st.dataframe(summary, hide_index=True, column_config={"max_batch": st.column_config.NumberColumn(format="%d")})
