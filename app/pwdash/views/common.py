"""Pieces several views share: the regression table and series filters over the catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from perfwatch.domain.units import figure
from perfwatch.domain.vocab import MODES
from pwdash import data
from pwdash.params import choose, link
from pwdash.safe import md

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
        "change": percent(regs["change"]),
        # figures as text with their units (2.44 GiB, 42.7 ms): a number column has one format for all rows
        "before": [figure(v, u or "") for v, u in zip(regs["before"], regs["unit"])],
        "after": [figure(v, u or "") for v, u in zip(regs["after"], regs["unit"])],
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
        "change": st.column_config.NumberColumn("change", format="%+.1f%%", help="after vs before, relative (empty: "
                                                "from zero, see before and after)"),
        "trend": st.column_config.LinkColumn("trend", display_text="chart"),
    })


def percent(change: pd.Series) -> pd.Series:
    """A relative change in %, empty where it has none (0 → 2 graph breaks): never "Infinity"."""
    return (change * 100).replace([np.inf, -np.inf], np.nan)


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


SERIES_PARAMS = ("suite", "benchmark", "backend", "machine")


def open_on_finding(url: str, metrics=None, with_metric: bool = True) -> pd.Series | None:
    """A first visit (no series in the URL) opens on the most severe open finding's series (of
    ``metrics`` when given) rather than on whatever sorts first, usually a flat line: the filters
    are pointed at it through the URL. Explicit query parameters always win. Returns the finding."""
    if any(st.query_params.get(p) for p in SERIES_PARAMS):
        return None
    found = data.findings(url, "open")
    if metrics is not None:
        found = found[found["metric"].isin(list(metrics))]
    if found.empty:
        return None
    top = found.iloc[0]
    chosen = {"suite": top["suite"], "benchmark": top["benchmark"], "backend": top["backend"],
              "machine": top["hostname"], "mode": top["mode"], **({"metric": top["metric"]} if with_metric else {})}
    for param, value in chosen.items():
        st.query_params[param] = str(value)
        st.session_state.pop(f"q_{param}", None)  # a value left by another view would win over the URL
    return top


def finding_note(top: pd.Series | None) -> None:
    if top is not None:
        pct = f" ({top['change'] * 100:+.1f}%)" if np.isfinite(top["change"]) else ""  # 0 → 2 graph breaks: no percentage
        st.caption(md(f"Opened on the most severe open finding: {top['suite']}/{top['benchmark']} [{top['mode']}] "
                      f"{top['label']} {top['shown_before']} → {top['shown_after']}{pct} on {top['hostname']}. "
                      "Pick anything else above."))


def in_range(df: pd.DataFrame, days: int | None, newest, col: str = "created_at") -> pd.DataFrame:
    """Rows of ``df`` at most ``days`` before ``newest`` (all of them when days is None)."""
    if days is None or df.empty:
        return df
    return df[df[col] >= newest - pd.Timedelta(days=days)]


def run_picker(runs: pd.DataFrame):
    """Suite, machine and one of their runs (newest first), each bound to the URL: the views that
    show one run (compile health, batch search) pick it the same way. Returns (suite, machine,
    that suite's runs on that machine, run id or None)."""
    c1, c2, c3 = st.columns(3)
    suite = choose("Suite", sorted(runs["suite"].unique()), "suite", where=c1)
    machine = choose("Machine", sorted(runs[runs["suite"] == suite]["machine"].unique()), "machine", where=c2)
    mine = runs[(runs["suite"] == suite) & (runs["machine"] == machine)]
    names = {r.run_id: f"{r.run_id} · {r.created_at:%Y-%m-%d %H:%M}" for r in mine.itertuples()}
    run_id = choose("Run", list(mine["run_id"]), "run", where=c3, format_func=lambda r: names.get(r, r))
    return suite, machine, mine, run_id
