"""The detection CLI: CSV input, the database, the CI gate, compare and report."""

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from conftest import REPO, run_cli
from test_store import make_case, make_run

from perfwatch.store import history, writes
from perfwatch.store.engine import make_engine

FAULTS = str(REPO / "tests" / "data" / "fault_suite.py")


def _csv(tmp_path, rows, header="series,ts,value"):
    p = tmp_path / "in.csv"
    p.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(p)


def _stepped(n=60, at=40, before=10.0, after=11.0, seed=0):
    rng = random.Random(seed)
    return [(before if i < at else after) * rng.lognormvariate(0, 0.005) for i in range(n)]


def test_csv_retrospective_and_online(tmp_path):
    values = _stepped()
    rows = [("a", i, v) for i, v in enumerate(values)] + [("b", i, 5.0 * random.Random(i).lognormvariate(0, 0.005))
                                                            for i in range(60)]
    path = _csv(tmp_path, rows)
    res = run_cli("detect", "--input", path, "--format", "json")
    assert res.returncode == 0, res.stderr
    recs = json.loads(res.stdout)
    assert len(recs) == 1
    rec = recs[0]
    assert rec["series"] == "a" and rec["ts"] == 40 and rec["direction"] == "regression"
    assert rec["change"] == pytest.approx(0.10, abs=0.01) and rec["pvalue"] < 1e-3
    online = json.loads(run_cli("detect", "--input", path, "--online", "--format", "json").stdout)
    assert len(online) == 1 and online[0]["ts"] == 40 and 40 <= online[0]["raised_at"] <= 43
    confirmed = json.loads(run_cli("detect", "--input", path, "--online", "--confirm", "1", "--format", "json").stdout)
    assert confirmed[0]["raised_at"] == online[0]["raised_at"] + 1
    table = run_cli("detect", "--input", path)
    assert "regression" in table.stdout and "+9.9%" in table.stdout


def test_csv_direction_column_and_iso_ts(tmp_path):
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [("tput", (start + timedelta(days=i)).isoformat(), v, "higher_is_better") for i, v in enumerate(_stepped())]
    res = run_cli("detect", "--input", _csv(tmp_path, rows, "series,ts,value,direction"), "--format", "json")
    (rec,) = json.loads(res.stdout)
    assert rec["direction"] == "improvement" and rec["ts"].startswith("2026-02-10")


@pytest.mark.parametrize("header, rows, message", [
    ("series,value", [("a", 1)], "line 1: missing column(s) ts"),
    ("series,ts,value", [("a", 1, 1.0), ("a", 2, "fast")], "line 3: value 'fast' is not a number"),
    ("series,ts,value", [("a", 1, 1.0), ("a", 2, 2.0), ("a", 1, 3.0)], "line 4"),
])
def test_bad_csv_names_the_line(tmp_path, header, rows, message):
    res = run_cli("detect", "--input", _csv(tmp_path, rows, header))
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr


def _history(url, values, metric_unit="ms"):
    engine = make_engine(url)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for i, v in enumerate(values):
        run = make_run(f"h{i:03d}", (start + timedelta(hours=i)).isoformat())
        writes.write_case(engine, run, make_case(run, f"c{i:03d}", step=v))
    return engine


@pytest.mark.slow
def test_detect_over_the_database_stores_regressions_once(db_url):
    engine = _history(db_url, _stepped())
    res = run_cli("detect", "--db", db_url, "--metric", "step_time", "--format", "json")
    assert res.returncode == 0, res.stderr
    (rec,) = json.loads(res.stdout)
    assert rec["run_id"] == "h040" and rec["direction"] == "regression" and rec["metric"] == "step_time"
    assert "train" in rec["series"]
    stored = history.list_regressions(engine, state="open")
    assert len(stored) == 1 and stored[0]["run_id"] == "h040"
    run_cli("detect", "--db", db_url)
    assert len(history.list_regressions(engine)) == 1  # found again, stored once
    listed = run_cli("regressions", "--db", db_url)
    assert listed.returncode == 0 and "h040" in listed.stdout and "step_time" in listed.stdout
    rid = str(stored[0]["id"])
    ack = run_cli("regressions", "--ack", rid, "--note", "known: new attention kernel", "--db", db_url)
    assert ack.returncode == 0, ack.stderr
    got = history.list_regressions(engine)[0]
    assert got["state"] == "acknowledged" and got["note"] == "known: new attention kernel"
    assert "no open regressions" in run_cli("regressions", "--db", db_url).stdout
    missing = run_cli("regressions", "--resolve", "9999", "--db", db_url)
    assert missing.returncode == 2 and "no regression 9999" in missing.stderr


@pytest.mark.slow
def test_gate_fails_on_a_really_slowed_down_run(sqlite_url):
    # A 2 ms step (a sleep: steady even on a busy machine), then the same step made 2 ms slower.
    base = ["run", "--suite", FAULTS, "--benchmarks", "add", "--modes", "eager", "--backend", "cpu",
            "--min-time", "0.1", "--fail-on-regression", "--db", sqlite_url]
    for _ in range(3):
        ok = run_cli(*base, env={"FAULT_SUITE_SLEEP": "0.002"})
        assert ok.returncode == 0, ok.stdout + ok.stderr
    slow = run_cli(*base, env={"FAULT_SUITE_SLEEP": "0.004"})
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "REGRESSION add [eager] step_time" in slow.stdout
    engine = make_engine(sqlite_url)
    assert "step_time" in [r["metric"] for r in history.list_regressions(engine)]

    newest, previous = _run_ids(sqlite_url)[:2]
    cmp = json.loads(run_cli("compare", previous, newest, "--format", "json", "--db", sqlite_url).stdout)
    step = next(r for r in cmp["rows"] if r["metric"] == "step_time")
    # one process per run: compare shows the change untested (no p-value from one process's samples)
    assert step["verdict"] == "untested" and step["pvalue"] is None and step["change"] > 0.5
    md = run_cli("report", "--db", sqlite_url)
    assert md.returncode == 0 and "finding(s)** (" in md.stdout and "| add | eager | step_time |" in md.stdout


def _run_ids(url):
    return [r["id"] for r in json.loads(run_cli("runs", "--json", "--db", url).stdout)]
