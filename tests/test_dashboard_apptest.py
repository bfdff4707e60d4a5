"""Every view of the dashboard run by streamlit.testing.v1.AppTest over real SQLite and Postgres:
it renders without exceptions and shows the values put in the store."""

from __future__ import annotations

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import REPO
from perfwatch.store.engine import make_engine
from perfwatch.store.migrate import upgrade
from test_dashboard_frames import REASON, seed_store

APP = str(REPO / "app" / "main.py")


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Streamlit's caches are per process: a URL reused by the next test must not see old frames.
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def _keep_main_module():
    """AppTest runs the app as ``__main__``; put pytest's back, or every later 'spawn' child
    process (multiprocessing re-imports __main__ by path) would try to run the dashboard."""
    import sys

    main, path = sys.modules.get("__main__"), list(sys.path)
    yield
    if main is not None:
        sys.modules["__main__"] = main
    sys.path[:] = path


def open_app(url: str, monkeypatch, **query: str) -> AppTest:
    monkeypatch.setenv("PERFWATCH_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """The text shown, as a reader sees it: markdown escapes undone (the app escapes every
    interpolated string, so ``20261102-1`` is ``20261102\\-1`` in the markdown source)."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning",
                                  "error", "code") for e in getattr(at, kind)]
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", "\n".join(str(p) for p in parts))


def frames_of(at: AppTest):
    return [d.value for d in at.dataframe]


def test_overview(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="overview")
    # the seeded regression is weeks old: the default window (last week) says so and links to it
    assert "What changed (last week): 0 open finding(s)" in texts(at) and "1 older open finding(s)" in texts(at)
    at.radio(key="overview_window").set_value("all open").run()
    assert "What changed (all open): 1 open finding(s)" in texts(at)
    regs, latest = frames_of(at)[:2]
    assert regs["what"].tolist() == ["llm/train [default] step time"] and regs["change"].iloc[0] == pytest.approx(60.0)
    assert "view=trends" in regs["trend"].iloc[0] and "metric=step_time" in regs["trend"].iloc[0]
    row = latest.iloc[0]
    assert row["machine"] == "host-a" and ids["r2"] in row["run"] and row["ok"] == 3 and row["oom"] == 1
    assert row["default ×"] == pytest.approx(1.25)
    assert len(at.get("vega_lite_chart")) == 1


def test_trends(db_url, monkeypatch):
    seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="trends", suite="llm", benchmark="train", metric="step_time", mode="eager,default")
    body = texts(at)
    assert "**step_time** (ms, lower is better) · 4 points" in body and "1 stored regression(s)" in body
    assert at.multiselect(key="q_mode").value == ["eager", "default"]
    assert len(at.get("vega_lite_chart")) == 1
    found = frames_of(at)[0]
    assert found["source"].tolist() == ["stored regression"] and found["change"].iloc[0] == pytest.approx(60.0)
    assert at.query_params["machine"] == "host-a"  # the choice made is written back to the URL


def test_compare(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="compare", run_a=ids["r1"], run_b=ids["r2"])
    # one process per run: the 60% change is shown as untested, never called a regression on samples
    assert [m.value for m in at.metric][:1] == ["0"]
    table = frames_of(at)[0].set_index(["benchmark", "mode", "metric"])
    assert table.loc[("train", "default", "step_time"), "verdict"] == "untested"
    assert table.loc[("train", "default", "step_time"), "change"] == pytest.approx(60.0)
    at.toggle(key="only_regressions").set_value(True).run()
    assert frames_of(at)[0]["metric"].tolist() == ["step_time"]


def test_compile_health(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="compile", suite="llm", machine="host-a", run=ids["r2"])
    frames = frames_of(at)
    per_case = frames[0]
    reasons = next(f for f in frames if "reason" in f.columns)  # after the cold-vs-warm table, when there is one
    assert per_case.set_index(["benchmark", "mode"]).loc[("train", "default"), "graph_breaks"] == 3
    assert REASON in reasons["reason"].tolist() and "recompilation" in reasons["kind"].tolist()
    assert "Compile time by phase" in texts(at) and "2 points · 0 stored regression(s)" in texts(at)
    assert len(at.get("vega_lite_chart")) == 2  # phases, and graph breaks / compile time over time


def test_memory(db_url, monkeypatch):
    seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="memory", suite="llm", benchmark="train")
    assert "Memory" in [h.value for h in at.subheader] and "4 points" in texts(at)  # peak_rss of eager and default, 2 runs
    assert len(at.get("vega_lite_chart")) == 1
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "peak_rss (GiB)" in spec


def test_regressions_acknowledge_with_a_note(db_url, monkeypatch):
    ids = seed_store(db_url)
    monkeypatch.setenv("PERFWATCH_DASHBOARD_ACCESS", "confirm")  # what `perfwatch dashboard` on loopback hands over
    at = open_app(db_url, monkeypatch, view="regressions", run=ids["r2"])
    body = texts(at)
    assert f"Regressions in run {ids['r2']}" in body
    assert "perfwatch run --suite llm --benchmarks train --modes default --backend cpu --size tiny" in body
    assert f"Cases of run {ids['r2']}" in body and "oom" in frames_of(at)[1]["status"].tolist()
    at.text_input[0].input("tracked in #123")
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    next(b for b in at.button if b.label == "Confirm: acknowledge").click().run()  # the second step
    assert not at.exception
    from perfwatch.store import history

    reg = history.list_regressions(make_engine(db_url), ids=[ids["regression"]])[0]
    assert (reg["state"], reg["note"]) == ("acknowledged", "tracked in #123")
    assert frames_of(at)[0]["state"].tolist() == ["acknowledged"]  # the cache was cleared


def test_empty_store_says_how_to_fill_it(db_url, monkeypatch):
    at = open_app(db_url, monkeypatch)
    assert "no runs yet" in texts(at) and "perfwatch demo-data" in texts(at)


def test_unmigrated_and_unreachable_stores(sqlite_url, monkeypatch):
    at = open_app(sqlite_url, monkeypatch)
    assert "perfwatch db upgrade" in texts(at)
    at = open_app("postgresql+psycopg://nobody@127.0.0.1:1/none", monkeypatch, view="trends")
    assert "Cannot open the results database" in texts(at) and "cannot reach the database" in texts(at)
    at = open_app("mysql://u@h/db", monkeypatch)
    assert "unsupported database" in texts(at)


def test_upgraded_but_empty_sqlite(sqlite_url, monkeypatch):
    upgrade(make_engine(sqlite_url))
    at = open_app(sqlite_url, monkeypatch, view="regressions")
    assert "no runs yet" in texts(at)
