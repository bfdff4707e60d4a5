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


def test_overview_window_counts_back_from_the_newest_run(sqlite_url, monkeypatch):
    from test_dashboard_frames import _run

    from perfwatch.store import writes

    upgrade(make_engine(sqlite_url))
    seed_store(sqlite_url)
    later = _run("20261112-100000-cccccc", "2026-11-12T10:00:00+00:00", sha="ccc333")  # ten days on, nothing regressed
    writes.write_run(make_engine(sqlite_url), later)
    at = open_app(sqlite_url, monkeypatch, view="overview")
    assert "What changed (last week): 0 open finding(s)" in texts(at) and "1 older open finding(s)" in texts(at)
    at.radio(key="q_window").set_value("all").run()
    assert "What changed (all open): 1 open finding(s)" in texts(at)
    assert at.query_params["window"] == "all"  # in the URL: a shareable link
    shared = open_app(sqlite_url, monkeypatch, view="overview", window="30d")
    assert "What changed (last 30 days): 1 open finding(s)" in texts(shared)


def test_overview(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="overview")
    # the regression came with the newest run: the default window (the last week of runs) leads with it
    assert "What changed (last week): 1 open finding(s)" in texts(at)
    regs, latest = frames_of(at)[:2]
    assert regs["what"].tolist() == ["llm/train [default] step time"] and regs["change"].iloc[0] == "+60.0%"
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


def test_acknowledging_in_the_dashboard_takes_the_whole_finding(sqlite_url, monkeypatch):
    from datetime import datetime, timezone

    from perfwatch.store import history

    upgrade(make_engine(sqlite_url))
    ids = seed_store(sqlite_url)
    engine = make_engine(sqlite_url)
    # a slower compile of train [default] in r2: compile time and its Inductor phase, one finding
    series = {m: history.find_series(engine, benchmark="train", mode="default", metric=m)[0]["id"]
              for m in ("compile_time", "compile_time_inductor")}
    compile_ids = history.record(engine, [
        dict(series_id=sid, run_id=ids["r2"], ts=datetime(2026, 11, 2, 10, tzinfo=timezone.utc), raised_run_id=ids["r2"],
             before=4.5, after=6.0, change=0.33, pvalue=1e-4) for sid in series.values()])
    monkeypatch.setenv("PERFWATCH_DASHBOARD_ACCESS", "confirm")
    at = open_app(sqlite_url, monkeypatch, view="regressions")
    at.selectbox(key="act_regression").set_value(compile_ids[0]).run()
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    assert f"and 1 more of its finding (#{compile_ids[1]})" in texts(at)
    next(b for b in at.button if b.label == "Confirm: acknowledge").click().run()
    states = {r["id"]: r["state"] for r in history.list_regressions(engine)}
    assert states == {compile_ids[0]: "acknowledged", compile_ids[1]: "acknowledged", ids["regression"]: "open"}


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


# --- issue 18: the ten-second test (colours, units, sizes, default series, time range) ---------

import json  # noqa: E402

import pandas as pd  # noqa: E402


def _charts():
    import sys

    sys.path.insert(0, str(REPO / "app"))
    from pwdash import charts

    return charts


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def walk(node):
    """Every dict inside a chart spec (layers, concatenations, encodings)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def colour_scales(spec: dict) -> list[dict]:
    return [d["color"]["scale"] for d in walk(spec) if isinstance(d.get("color"), dict) and "scale" in d["color"]]


def mode_colours(spec: dict) -> dict[str, str]:
    """mode → colour of every colour scale in ``spec`` whose domain is modes."""
    charts = _charts()
    out: dict[str, str] = {}
    for scale in colour_scales(spec):
        for value, colour in zip(scale.get("domain", []), scale.get("range", [])):
            if charts.mode_of(value) in charts.MODE_COLORS:
                assert out.setdefault(charts.mode_of(value), colour) == colour
    return out


def y_axes(spec: dict) -> list[dict]:
    return [d["y"]["axis"] for d in walk(spec) if isinstance(d.get("y"), dict) and isinstance(d["y"].get("axis"), dict)]


def test_compare_chart_colours_verdicts_and_gives_each_row_room():
    charts = _charts()
    rows = pd.DataFrame({"benchmark": ["train"] * 4, "mode": ["eager", "default", "reduce-overhead", "max-autotune"],
                         "metric": "step_time", "unit": "ms", "a": [10.0, 5.0, 4.0, 4.0], "b": [13.0, 4.0, 4.01, 4.5],
                         "change": [0.3, -0.2, 0.0025, 0.125], "pvalue": [1e-4, 1e-5, 0.8, None],
                         "test": ["processes", "processes", "processes", "untested"],
                         "verdict": ["regression", "improvement", "same", "untested"]})
    spec = charts.change_bars(rows, "step_time").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    colour = dict(zip(scale["domain"], scale["range"]))
    assert colour["regression"] == "#d62728" and colour["improvement"] == "#2ca02c" and colour["same"] == "#9e9e9e"
    assert spec["height"] >= 20 * len(rows) + 60 and spec["width"] == "container"  # rows, and the x axis under them
    axis = spec["encoding"]["y"]["axis"]
    assert axis["labelOverlap"] is False and axis["labelLimit"] >= 300
    assert charts.pvalue_text(rows) == ["0.0001", "1e-05", "0.8", "untested"]
    # no mode is drawn in a verdict's colour
    assert not set(charts.MODE_COLORS.values()) & {colour["regression"], colour["improvement"]}


def test_compare_shows_units_and_no_none(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="compare", run_a=ids["r1"], run_b=ids["r2"])
    table = frames_of(at)[0].set_index(["benchmark", "mode", "metric"])
    row = table.loc[("train", "default", "step_time")]
    assert (row["A"], row["B"], row["p"]) == ("5 ms", "8 ms", "untested")
    assert table.loc[("train", "default", "peak_rss"), "B"].endswith(" GiB")  # not 2008000000
    assert table.loc[("train", "default", "graph_breaks"), "p"] == "exact"
    assert "None" not in table["p"].tolist()
    (spec,) = specs(at)
    assert dict(zip(*[colour_scales(spec)[0][k] for k in ("domain", "range")]))["untested"] == "#e6a000"


def test_one_colour_per_mode_in_every_view(db_url, monkeypatch):
    ids = seed_store(db_url)
    charts = _charts()
    seen = {}
    for query in ({"view": "overview"}, {"view": "trends", "suite": "llm", "benchmark": "train", "metric": "step_time"},
                  {"view": "memory", "suite": "llm", "benchmark": "train"},
                  {"view": "compile", "suite": "llm", "machine": "host-a", "run": ids["r2"]}):
        at = open_app(db_url, monkeypatch, **query)
        found = {}
        for spec in specs(at):
            found.update(mode_colours(spec))
        assert found, query  # every one of these views colours something by mode
        seen[query["view"]] = found
    for found in seen.values():
        assert all(charts.MODE_COLORS[m] == c for m, c in found.items()), seen
    assert seen["overview"]["default"] == seen["trends"]["default"] == charts.MODE_COLORS["default"]


def test_counters_have_integer_ticks_and_charts_fill_the_width(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="trends", suite="llm", benchmark="train", metric="graph_breaks")
    (spec,) = specs(at)
    assert any(a.get("format") == "d" and a.get("tickMinStep") == 1 for a in y_axes(spec))
    assert spec["width"] == "container"
    at = open_app(db_url, monkeypatch, view="compile", suite="llm", machine="host-a", run=ids["r2"])
    history = specs(at)[-1]
    assert "facet" not in history and "vconcat" in history  # rows stretched to the page, not 350 px columns
    rows = {r["title"]: r for r in history["vconcat"]}
    assert all(r["width"] == "container" for r in rows.values())
    assert y_axes(rows["graph_breaks (count)"])[0]["format"] == "d"
    assert y_axes(rows["compile_time (s)"])[0].get("format") is None


def test_trends_opens_on_the_most_severe_finding(db_url, monkeypatch):
    seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="trends")
    # the only open finding: train [default] step_time (before: the first benchmark, inference)
    assert (at.query_params["benchmark"], at.query_params["mode"], at.query_params["metric"]) == ("train", "default", "step_time")
    assert "Opened on the most severe open finding: llm/train [default]" in texts(at)
    assert "1 stored regression(s)" in texts(at)
    at = open_app(db_url, monkeypatch, view="trends", benchmark="inference")  # an explicit choice wins
    assert at.query_params["benchmark"] == "inference" and "Opened on" not in texts(at)


def test_memory_opens_on_the_most_severe_memory_finding(db_url, monkeypatch):
    from perfwatch.store import history

    ids = seed_store(db_url)
    engine = make_engine(db_url)
    sid = history.find_series(engine, benchmark="train", mode="eager", metric="peak_rss")[0]["id"]
    history.record(engine, [dict(series_id=sid, run_id=ids["r2"], ts=pd.Timestamp("2026-11-02T10:00Z").to_pydatetime(),
                                 raised_run_id=ids["r2"], before=2.01e9, after=2.6e9, change=0.29, pvalue=1e-6)])
    engine.dispose()
    at = open_app(db_url, monkeypatch, view="memory")
    assert (at.query_params["benchmark"], at.query_params["mode"]) == ("train", "eager")  # not inference, sorted first
    assert "Opened on the most severe open finding: llm/train [eager]" in texts(at)


def test_units_in_tables(db_url, monkeypatch):
    ids = seed_store(db_url)
    at = open_app(db_url, monkeypatch, view="regressions", run=ids["r2"])
    regs = frames_of(at)[0]
    assert (regs["before"].iloc[0], regs["after"].iloc[0]) == ("5 ms", "8 ms")
    at = open_app(db_url, monkeypatch, view="trends", suite="llm", benchmark="train", metric="step_time")
    found = frames_of(at)[0]
    assert found["after"].tolist() == ["8 ms"]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    from perfwatch.analysis import demo

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    demo.generate(engine, 6_000, seed=5)
    engine.dispose()
    return url


def test_time_range_limits_the_history(demo_url, monkeypatch):
    cat = pd.DataFrame(make_engine(demo_url).connect().exec_driver_sql(
        "select s.suite, s.benchmark, s.mode, m.hostname from series s join machines m on m.id = s.machine_id "
        "where s.metric = 'step_time' limit 1").fetchall(), columns=["suite", "benchmark", "mode", "machine"]).iloc[0]
    query = dict(view="trends", suite=cat["suite"], benchmark=cat["benchmark"], machine=cat["machine"],
                 metric="step_time", mode=cat["mode"])

    def points(at):
        return int(re.search(r"· (\d+) points", texts(at)).group(1))

    everything = open_app(demo_url, monkeypatch, **query, range="all")
    week = open_app(demo_url, monkeypatch, **query, range="7d")
    assert 0 < points(week) <= 8 < 31 < points(everything)
    assert week.radio(key="q_range").value == "7d" and week.query_params["range"] == "7d"
    week.radio(key="q_range").set_value("30d").run()
    assert 8 < points(week) <= 31 and week.query_params["range"] == "30d"
