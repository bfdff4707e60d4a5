"""Memory and unified memory: peak memory and UVM page-fault figures over time, one chart per
metric, several modes per chart."""

from __future__ import annotations

import streamlit as st

from perfwatch.analysis.frames import MEMORY_METRICS, UVM_METRICS
from pwdash import data
from pwdash.params import choose_many
from pwdash.views.common import series_filters, series_label, sort_modes
from pwdash.views.trends import show_histories


def render(url: str) -> None:
    st.header("Memory and unified memory")
    sel, _ = series_filters(data.catalog(url), metrics=[*MEMORY_METRICS, *UVM_METRICS])
    if sel.empty:
        st.info("No memory or unified-memory figures for this choice.")
        return
    modes = choose_many("Modes", sort_modes(sel["mode"]), "mode")
    sel = sel[sel["mode"].isin(modes)].assign(label=lambda d: series_label(d))
    for title, names in (("Memory", MEMORY_METRICS), ("Unified memory (UVM)", UVM_METRICS)):
        present = [m for m in names if m in set(sel["metric"])]
        if present:
            st.subheader(title)
            show_histories(url, sel, present, columns=2)
