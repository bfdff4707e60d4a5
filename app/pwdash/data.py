"""Cached access to the store for the app: thin wrappers over perfwatch.analysis.frames.

Query results are cached for TTL seconds (st.cache_data), keyed by the database URL and the
arguments, so every visitor of a page within a minute shares one set of queries. The one write
(a regression's state) clears the caches it makes stale.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from perfwatch.analysis import frames
from perfwatch.store import history

TTL = 60  # seconds: new runs show up within a minute, and a page view costs no queries
cached = st.cache_data(ttl=TTL, show_spinner=False)


def db_url() -> str:
    """PERFWATCH_DB_URL (set by `perfwatch dashboard`), else perfwatch's configured default."""
    if os.environ.get("PERFWATCH_DB_URL"):
        return os.environ["PERFWATCH_DB_URL"]
    from perfwatch.domain.config import load_config

    return load_config({}).resolved_db_url()


@st.cache_resource(show_spinner=False)
def engine(url: str):
    """The store's engine for ``url``, one per process (handed to frames, never queried here)."""
    from perfwatch.store.engine import make_engine

    return make_engine(url, create=False)  # the app only reads: it never creates a store


@st.cache_data(ttl=10, show_spinner=False)
def store_state(url: str) -> str:
    return frames.store_state(engine(url))


@cached
def catalog(url: str) -> pd.DataFrame:
    return frames.catalog(engine(url))


@cached
def runs(url: str, limit: int = 300) -> pd.DataFrame:
    return frames.runs(engine(url), limit)


@cached
def run_info(url: str, run_id: str) -> dict | None:
    return frames.run_info(engine(url), run_id)


@cached
def latest_runs(url: str) -> pd.DataFrame:
    return frames.latest_runs(engine(url))


@cached
def status_counts(url: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    return frames.status_counts(engine(url), run_ids)


@cached
def speedups(url: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    return frames.speedups(engine(url), run_ids)


@cached
def findings(url: str, state: str | None) -> pd.DataFrame:
    """Every finding in ``state``, grouped once a minute and shared by every view (the overview's
    windows cut it in pandas)."""
    return frames.findings(engine(url), state=state)


@cached
def regressions(url: str, state: str | None, run_id: str | None = None) -> pd.DataFrame:
    return frames.regressions(engine(url), state=state, run_id=run_id)


@cached
def full_trend(url: str, series_ids: tuple[int, ...]) -> pd.DataFrame:
    """The whole history of some series (what detection reads)."""
    return frames.trend(engine(url), series_ids)


# Columns of a trend frame no view or chart reads: left out of what is charted, as Altair sends
# every column of a chart's frame to the browser.
UNCHARTED = ["ci_low", "ci_high", "git_branch", "size"]


@cached
def trend(url: str, series_ids: tuple[int, ...], days: int | None = None) -> pd.DataFrame:
    """The history of some series for drawing: the last ``days`` before the newest point (all of
    it when None), then at most about frames.CHART_POINTS points per series (each stretch's lowest
    and highest kept, and every point where a stored regression starts, so the views can mark
    it). Thinned after the window, so a short range keeps its detail; detection uses the whole
    history (``change_points``)."""
    points = full_trend(url, series_ids)
    if days is not None and len(points):
        points = points[points["created_at"] >= points["created_at"].max() - pd.Timedelta(days=days)]
    regs = series_regressions(url, series_ids)
    keep = set(zip(regs["series_id"], regs["run_id"]))
    return frames.thin(points, keep=keep).drop(columns=UNCHARTED, errors="ignore")


@cached
def change_points(url: str, series_ids: tuple[int, ...], directions: tuple[tuple[int, str], ...]) -> pd.DataFrame:
    return frames.change_points(full_trend(url, series_ids), dict(directions))


@cached
def series_regressions(url: str, series_ids: tuple[int, ...]) -> pd.DataFrame:
    return frames.series_regressions(engine(url), series_ids)


@cached
def compare(url: str, run_a: str, run_b: str) -> pd.DataFrame:
    return frames.compare(engine(url), run_a, run_b)


@cached
def run_cases(url: str, run_id: str) -> pd.DataFrame:
    return frames.run_cases(engine(url), run_id)


@cached
def run_verdicts(url: str, run_id: str) -> pd.DataFrame:
    return frames.run_verdicts(engine(url), run_id)


@cached
def run_metrics(url: str, run_id: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    return frames.run_metrics(engine(url), run_id, metrics)


@cached
def compile_reasons(url: str, run_id: str) -> pd.DataFrame:
    return frames.compile_reasons(engine(url), run_id)


@cached
def cold_vs_warm(url: str, run_id: str) -> pd.DataFrame:
    return frames.cold_vs_warm(engine(url), run_id)


@cached
def compile_phase_growth(url: str, run_id: str, baseline: str) -> pd.DataFrame:
    return frames.compile_phase_growth(engine(url), run_id, baseline)


def finding_ids(url: str, regression_id: int) -> list[int]:
    """Regression ``regression_id`` and the others of its finding (one cause, one decision, as
    `perfwatch regressions --ack` takes it), the named one first."""
    from perfwatch.analysis.findings import finding_of

    found = finding_of(history.list_regressions(engine(url)), regression_id)
    return [regression_id] + [i for i in (found.ids if found else ()) if i != regression_id]


def set_state(url: str, regression_id: int, state: str, note: str | None) -> None:
    """Acknowledge, resolve or reopen a regression: the dashboard's only write."""
    history.set_state(engine(url), regression_id, state, note or None)
    regressions.clear()
    series_regressions.clear()
    findings.clear()


@cached
def batch_curves(url: str, run_id: str) -> pd.DataFrame:
    return frames.batch_curves(engine(url), run_id)
