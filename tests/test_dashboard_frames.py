"""The dashboard's data frames (perfwatch.analysis.frames), demo data and the dashboard commands, on
real SQLite and Postgres."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import func, select

from conftest import REPO, run_cli
from perfwatch.analysis import demo, frames
from perfwatch.domain.errors import StoreUnavailable
from perfwatch.domain.results import CaseResult, CaseSpec, Metric, RunInfo
from perfwatch.store import history, writes
from perfwatch.store.engine import make_engine
from perfwatch.store.models import Machine, Measurement, Run


def _run(run_id, when, fp="fp-a", host="host-a", sha="aaa111", torch="2.13.0"):
    return RunInfo(run_id=run_id, created_at=when, suite="llm", backend="cpu", size="tiny", machine_fingerprint=fp,
                   hostname=host, environment={"torch_version": torch, "cpu_model": "EPYC", "gpus": [{"name": "NVIDIA H100"}]},
                   git_sha=sha)


def _case(run, case_id, benchmark, mode, step, status="ok", details=None):
    spec = CaseSpec(suite="llm", benchmark=benchmark, mode=mode, backend="cpu", size="tiny")
    samples = tuple(step * (1 + 0.002 * (i % 5 - 2)) for i in range(20))
    metrics = () if status != "ok" else (
        Metric("step_time", step, "ms", spread=step * 0.01, ci_low=step * 0.995, ci_high=step * 1.005, n=20, samples=samples),
        Metric("peak_rss", 2.0e9 + step * 1e6, "bytes"),
        *((Metric("graph_breaks", 3, "count"), Metric("compile_time", 4.5, "s"), Metric("compile_time_inductor", 2.5, "s"))
          if mode != "eager" else ()),
    )
    return CaseResult(case_id=case_id, run_id=run.run_id, spec=spec, status=status, metrics=metrics,
                      error=None if status == "ok" else "RuntimeError: out of memory\nmore", details=details or {},
                      started_at=run.created_at, duration_s=1.0)


REASON = "Data-dependent branching: generic_jump TensorVariable()"


def seed_store(url: str) -> dict:
    """Two runs on one machine: train eager 10 ms -> 10 ms, default 5 ms -> 8 ms (a regression),
    inference only compiled in r2 (so it counts in no speedup), one OOM case; one stored regression."""
    engine = make_engine(url)
    r1 = _run("20261101-100000-aaaaaa", "2026-11-01T10:00:00+00:00", sha="aaa111", torch="2.12.1")
    r2 = _run("20261102-100000-bbbbbb", "2026-11-02T10:00:00+00:00", sha="bbb222")
    cases = [(r1, [("c1", "train", "eager", 10.0), ("c2", "train", "default", 5.0)]),
             (r2, [("c3", "train", "eager", 10.0), ("c4", "train", "default", 8.0), ("c5", "inference", "default", 3.0)])]
    for run, items in cases:
        writes.write_run(engine, run)
        for cid, bench, mode, step in items:
            details = {"graph_break_reasons": {REASON: 3}, "recompile_reasons": ["size mismatch at index 1"]} if mode != "eager" else {}
            writes.write_case(engine, run, _case(run, cid, bench, mode, step, details=details))
        writes.finish_run(engine, run, run.created_at, len(items), 0)
    writes.write_case(engine, r2, _case(r2, "c6", "inference", "eager", 0, status="oom"))
    sid = history.find_series(engine, benchmark="train", mode="default", metric="step_time")[0]["id"]
    reg_ids = history.record(engine, [dict(series_id=sid, run_id=r2.run_id, ts=datetime(2026, 11, 2, 10, tzinfo=timezone.utc),
                                           raised_run_id=r2.run_id, before=5.0, after=8.0, change=0.6, pvalue=1e-6)])
    engine.dispose()
    return {"r1": r1.run_id, "r2": r2.run_id, "series": sid, "regression": reg_ids[0]}


def test_overview_frames(db_url):
    ids = seed_store(db_url)
    engine = make_engine(db_url)
    latest = frames.latest_runs(engine)
    assert list(latest["run_id"]) == [ids["r2"]] and latest["machine"][0] == "host-a" and latest["gpu"][0] == "NVIDIA H100"
    counts = frames.status_counts(engine, [ids["r2"]]).set_index("status")["cases"].to_dict()
    assert counts == {"ok": 3, "oom": 1}
    sp = frames.speedups(engine, [ids["r1"], ids["r2"]]).set_index(["run_id", "mode"])
    # Only train ran in both eager and default: r1 10/5, r2 10/8; inference (no eager figure) is left out.
    assert sp.loc[(ids["r1"], "default"), "geomean_speedup"] == pytest.approx(2.0)
    assert sp.loc[(ids["r2"], "default"), "geomean_speedup"] == pytest.approx(1.25)
    assert sp.loc[(ids["r2"], "default"), "cases"] == 1
    assert frames.store_state(engine) == "ok"


def test_regressions_have_a_reproduce_command(db_url):
    ids = seed_store(db_url)
    engine = make_engine(db_url)
    regs = frames.regressions(engine, "open")
    assert list(regs["id"]) == [ids["regression"]]
    r = regs.iloc[0]
    assert (r["benchmark"], r["mode"], r["metric"], r["change"]) == ("train", "default", "step_time", 0.6)
    assert r["reproduce"] == "perfwatch run --suite llm --benchmarks train --modes default --backend cpu --size tiny"
    assert frames.regressions(engine, "open", run_id=ids["r1"]).empty
    history.set_state(engine, ids["regression"], "acknowledged", "known: autotune cache")
    assert frames.regressions(engine, "open").empty
    assert frames.regressions(engine, "acknowledged")["note"].tolist() == ["known: autotune cache"]
    assert frames.series_regressions(engine, [ids["series"]])["run_id"].tolist() == [ids["r2"]]


def test_trend_has_what_the_tooltip_shows(db_url):
    ids = seed_store(db_url)
    engine = make_engine(db_url)
    cat = frames.catalog(engine)
    assert set(cat["machine"]) == {"host-a"} and {"step_time", "peak_rss", "graph_breaks"} <= set(cat["metric"])
    sel = cat[(cat["benchmark"] == "train") & (cat["metric"] == "step_time")]
    tr = frames.trend(engine, list(sel["series_id"]))
    default = tr[tr["series_id"] == ids["series"]]
    assert default["value"].tolist() == [5.0, 8.0]
    assert default["run_id"].tolist() == [ids["r1"], ids["r2"]]
    assert default["git_sha"].tolist() == ["aaa111", "bbb222"] and default["torch_version"].tolist() == ["2.12.1", "2.13.0"]
    assert str(default["created_at"].dt.tz) == "UTC" and default["created_at"].iloc[0].day == 1
    assert frames.trend(engine, list(sel["series_id"]), last=1)["value"].tolist() == [10.0, 8.0]


def test_compare_runs_side_by_side(db_url):
    ids = seed_store(db_url)
    engine = make_engine(db_url)
    df = frames.compare(engine, ids["r1"], ids["r2"]).set_index(["benchmark", "mode", "metric"])
    row = df.loc[("train", "default", "step_time")]
    assert (row["a"], row["b"]) == (5.0, 8.0) and row["change"] == pytest.approx(0.6)
    # one process per run: no replication to test the change, so no p-value and no "regression"
    assert pd.isna(row["pvalue"]) and row["test"] == "untested" and row["verdict"] == "untested"
    assert df.loc[("train", "eager", "step_time"), "verdict"] == "same"
    assert ("inference", "default", "step_time") not in df.index  # only in r2


def test_compile_and_run_frames(db_url):
    ids = seed_store(db_url)
    engine = make_engine(db_url)
    reasons = frames.compile_reasons(engine, ids["r2"])
    assert set(reasons["kind"]) == {"graph break", "recompilation"}
    assert REASON in set(reasons["reason"]) and reasons[reasons["kind"] == "graph break"]["count"].tolist() == [3, 3]
    m = frames.run_metrics(engine, ids["r2"], frames.COMPILE_METRICS)
    assert set(m["metric"]) == {"graph_breaks", "compile_time", "compile_time_inductor"}
    cases = frames.run_cases(engine, ids["r2"]).set_index(["benchmark", "mode"])
    assert cases.loc[("inference", "eager"), "status"] == "oom"
    assert cases.loc[("inference", "eager"), "error"] == "RuntimeError: out of memory"
    assert cases.loc[("train", "default"), "reproduce"].endswith("--modes default --backend cpu --size tiny")


def test_change_points_on_a_step():
    ts = pd.date_range("2026-01-01", periods=40, freq="D", tz="UTC")
    values = [10.0 + 0.05 * (i % 3) for i in range(20)] + [12.0 + 0.05 * (i % 3) for i in range(20)]
    pts = pd.DataFrame({"series_id": 7, "run_id": [f"r{i}" for i in range(40)], "created_at": ts, "value": values,
                        "spread": 0.1, "n": 20})
    cps = frames.change_points(pts, {7: "lower_is_better"})
    assert cps["run_id"].tolist() == ["r20"] and cps["kind"].tolist() == ["regression"]
    assert cps["change"].iloc[0] == pytest.approx(0.2, abs=0.01)


def test_thin_keeps_steps_spikes_ends_and_kept_points():
    n = 1000
    values = [10.0 + 0.01 * (i % 7) for i in range(n)]
    values[500:] = [v + 2.0 for v in values[500:]]  # a level change
    values[123] = 99.0  # a spike
    pts = pd.DataFrame({"series_id": [1] * n + [2] * 5, "run_id": [f"r{i}" for i in range(n + 5)],
                        "value": values + [1.0] * 5})
    thin = frames.thin(pts, per_series=100, keep={(1, "r777")})
    one = thin[thin["series_id"] == 1]
    assert len(one) <= 100 + 3 and len(thin[thin["series_id"] == 2]) == 5  # a short series stays whole
    assert {"r0", f"r{n - 1}", "r123", "r777"} <= set(one["run_id"])  # ends, the spike, the kept point
    assert one["value"].min() < 10.1 and one["value"].max() == 99.0 and (one["value"] > 12).any()
    assert one["run_id"].map(lambda r: int(r[1:])).is_monotonic_increasing  # still oldest first
    assert frames.thin(pts.head(0)).empty and len(frames.thin(pts, per_series=2000)) == len(pts)


def test_store_states(sqlite_url, pg_db):
    fresh = make_engine(sqlite_url)
    assert frames.store_state(fresh) == "unmigrated"
    assert frames.store_state(make_engine(pg_db)) == "empty"
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        frames.store_state(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))


def test_demo_data_is_labelled_and_bulk_loaded(db_url):
    engine = make_engine(db_url)
    summary = demo.generate(engine, 3_000, seed=1)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(Measurement)).scalar()
        hosts = conn.execute(select(Machine.hostname)).scalars().all()
        tags = conn.execute(select(Run.tags)).scalars().all()
    assert rows == summary.rows and 3_000 <= rows < 3_030
    assert hosts and all(h.startswith("demo-") for h in hosts)
    assert tags and all(t == {"demo": "true"} for t in tags)


def test_demo_regressions_are_found_by_the_detector(sqlite_url):
    from perfwatch.store.migrate import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    summary = demo.generate(engine, 30_000, seed=2)
    assert len(summary.injected) >= 2
    found = frames.regressions(engine, "open") if demo.detect_injected(engine, summary) else None
    assert found is not None
    # Every injected regression is found, at the run it starts, and nothing else on those series.
    got = {(r.hostname, r.suite, r.benchmark, r.mode, r.metric, r.run_id) for r in found.itertuples()}
    want = {(j.machine, j.suite, j.benchmark, j.mode, j.metric, j.run_id) for j in summary.injected}
    assert got == want
    for j, r in zip(sorted(summary.injected, key=lambda j: j.run_id), found.sort_values("run_id").itertuples()):
        if j.metric not in demo.COUNTERS:
            assert r.change == pytest.approx(j.factor - 1, abs=0.05)
        else:
            assert math.isinf(r.change)  # 0 -> 2 graph breaks


def test_demo_data_command(sqlite_url):
    res = run_cli("demo-data", "--rows", "2000", "--db", sqlite_url)
    assert res.returncode == 0, res.stderr
    assert "DEMO data" in res.stderr and "demo-" in res.stdout and "metric rows" in res.stdout
    again = run_cli("demo-data", "--rows", "2000", "--db", sqlite_url)
    assert again.returncode == 2 and "already has" in again.stderr


def test_dashboard_command_fails_clearly_on_a_bad_url():
    res = run_cli("dashboard", "--db", "mysql://u@h/db", "--port", "1")
    assert res.returncode == 2 and "unsupported database" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("dashboard", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "--port", "1")
    assert res.returncode == 2 and "cannot reach" in res.stderr


def test_launcher_finds_the_app_and_builds_the_command():
    from perfwatch.cli import app_launcher as dashboard

    assert dashboard.app_dir() == REPO / "app"
    cmd = dashboard.streamlit_command(8765, "127.0.0.1")
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(REPO / "app" / "main.py")
    assert cmd[cmd.index("--server.port") + 1] == "8765" and cmd[cmd.index("--server.headless") + 1] == "true"
