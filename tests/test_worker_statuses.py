"""Every way a case can fail becomes that case's stored status, and the run goes on."""

import json
import pytest

from conftest import REPO, run_cli

from perfwatch.store import queries
from perfwatch.store.engine import make_engine

SUITE = str(REPO / "tests" / "data" / "fault_suite.py")


def _statuses(url):
    engine = make_engine(url)
    run_id = queries.resolve_run(engine, "latest")
    return {(r["benchmark"], r["mode"]): r for r in queries.export_records(engine, [run_id]) if r["metric"] in (None, "step_time")}


@pytest.mark.slow
def test_failures_become_statuses_and_the_run_goes_on(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "eager", "--min-time", "0.05",
                  "--benchmarks", "boom,oom,crash,add,hang", "--timeout", "20", "--db", sqlite_url)
    assert res.returncode == 3, res.stderr
    got = _statuses(sqlite_url)
    assert got[("boom", "eager")]["status"] == "error"
    assert "boom: the model factory failed" in got[("boom", "eager")]["error"]
    assert got[("oom", "eager")]["status"] == "oom"
    assert got[("crash", "eager")]["status"] == "crash"
    assert got[("hang", "eager")]["status"] == "timeout"
    assert got[("add", "eager")]["status"] == "ok"
    assert got[("add", "eager")]["value"] > 0  # the good case after a crash still measured


@pytest.mark.slow
def test_accuracy_failure_is_a_status_with_its_figures(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "eager,default", "--benchmarks", "wrong",
                  "--min-time", "0.05", "--db", sqlite_url, "--json")
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    by_mode = {c["spec"]["mode"]: c for c in doc["cases"]}
    assert by_mode["eager"]["status"] == "ok"
    compiled = by_mode["default"]
    assert compiled["status"] == "accuracy_fail"
    metrics = {m["name"]: m["value"] for m in compiled["metrics"]}
    assert metrics["accuracy_pass"] == 0.0
    assert abs(metrics["accuracy_max_abs_error"] - 1.0) < 1e-6
    assert "step_time" in metrics  # timed all the same


@pytest.mark.slow
def test_compile_error_status(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "default", "--benchmarks", "strict",
                  "--min-time", "0.05", "--db", sqlite_url)
    assert res.returncode == 3, res.stderr
    got = _statuses(sqlite_url)[("strict", "default")]
    assert got["status"] == "compile_error", got
