"""Memory and unified memory: peak memory and UVM page-fault figures over time, one chart row per
metric, several modes per row. A first visit opens on the most severe open memory or UVM
finding's series (else the first series); ``?range=`` limits the history plotted."""

from __future__ import annotations

import streamlit as st

from perfwatch.analysis.frames import MEMORY_METRICS, UVM_METRICS
from pwdash import data
from pwdash.params import choose_many, choose_range
from pwdash.views.common import finding_note, open_on_finding, series_filters, series_label, sort_modes
from pwdash.views.trends import show_histories


def render(url: str) -> None:
    st.header("Memory and unified memory")
    top = open_on_finding(url, metrics=[*MEMORY_METRICS, *UVM_METRICS], with_metric=False)
    sel, _ = series_filters(data.catalog(url), metrics=[*MEMORY_METRICS, *UVM_METRICS])
    if sel.empty:
        st.info("No memory or unified-memory figures for this choice.")
        return
    c1, c2 = st.columns([3, 2])
    modes = choose_many("Modes", sort_modes(sel["mode"]), "mode", where=c1)
    days = choose_range(where=c2)
    finding_note(top)
    sel = sel[sel["mode"].isin(modes)].assign(label=lambda d: series_label(d))
    for title, names in (("Memory", MEMORY_METRICS), ("Unified memory (UVM)", UVM_METRICS)):
        present = [m for m in names if m in set(sel["metric"])]
        if present:
            st.subheader(title)
            show_histories(url, sel, present, days)
