"""Several worker processes per case (--processes) and benchmarks' unsupported modes."""

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import REPO, run_cli

from perfwatch.measure.repeats import combine
from perfwatch.domain.results import CaseResult, CaseSpec, Metric
from perfwatch.store import queries
from perfwatch.store.engine import make_engine

SUITE = str(REPO / "tests" / "data" / "fault_suite.py")
SPEC = CaseSpec(suite="s", benchmark="b", mode="eager", backend="cpu", size="tiny")


def _case(samples, status="ok", host=None, extra=()):
    med = sorted(samples)[len(samples) // 2]
    metrics = [Metric("step_time", med, "ms", "lower_is_better", samples=tuple(samples), n=len(samples)),
               Metric("throughput", 100 / (med / 1e3), "samples/s", "higher_is_better"), *extra]
    if host is not None:
        metrics.append(Metric("host_time", host, "ms", "lower_is_better"))
    return CaseResult(case_id="c", run_id="r", spec=SPEC, status=status, metrics=tuple(metrics) if status == "ok" else (),
                      error=None if status == "ok" else "boom", details={"timing": {"inner_loops": 1}}, duration_s=1.0)


def test_combine_takes_the_median_of_process_medians_and_pools_samples():
    first = _case([1.0, 1.1, 1.2], host=0.5, extra=[Metric("compile_time", 3.0, "s", "lower_is_better")])
    out = combine(first, [_case([2.0, 2.1, 2.2], host=0.7), _case([1.5, 1.6, 1.7], host=0.6)])
    step = out.metric("step_time")
    assert step.value == 1.6  # medians 1.1, 2.1, 1.6
    assert len(step.samples) == 9 and step.n == 9
    assert step.ci_low <= 1.1 and step.ci_high >= 2.1  # the spread of the processes widens the CI
    assert out.metric("host_time").value == 0.6
    assert abs(out.metric("throughput").value - 100 / 1.6e-3) < 1e-6  # same items per step, new time
    assert out.metric("compile_time").value == 3.0  # from the first (full) process only
    timing = out.details["timing"]
    assert timing["processes"] == 3 and timing["process_medians_ms"] == [1.1, 2.1, 1.6]
    assert timing["process_cv"] > 0.2 and timing["inner_loops"] == 1
    assert out.duration_s == 3.0


def test_combine_keeps_a_failed_repeat_out_and_says_so():
    first = _case([1.0, 1.1, 1.2])
    out = combine(first, [_case([5.0], status="crash")])
    assert out.metric("step_time").value == 1.1
    assert out.details["timing"]["processes"] == 1
    assert out.details["timing"]["failed_processes"] == ["crash: boom"]


def test_run_with_three_processes_per_case(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "eager", "--benchmarks", "add",
                  "--min-time", "0.05", "--processes", "3", "--db", sqlite_url, "--json")
    assert res.returncode == 0, res.stderr
    case = json.loads(res.stdout)["cases"][0]
    timing = case["details"]["timing"]
    assert timing["processes"] == 3 and len(timing["process_medians_ms"]) == 3
    # Back to back, not interleaved: one after another (never at once: they span at least their own durations)
    assert "interleaved" not in timing and timing["process_span_s"] >= case["duration_s"] - 0.05
    step = next(m for m in case["metrics"] if m["name"] == "step_time")
    medians = sorted(timing["process_medians_ms"])
    assert abs(step["value"] - medians[1]) < 1e-6
    engine = make_engine(sqlite_url)
    run_id = queries.resolve_run(engine, "latest")
    stored = [r for r in queries.export_records(engine, [run_id]) if r["metric"] == "step_time"]
    assert len(stored) == 1 and abs(stored[0]["value"] - step["value"]) < 1e-9  # one case, not three


def test_bad_processes_value_is_a_usage_error(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--processes", "0", "--db", sqlite_url)
    assert res.returncode == 2 and "processes" in res.stderr and "Traceback" not in res.stderr


def test_unsupported_mode_is_stored_with_its_reason_and_is_not_a_failure(sqlite_url):
    res = run_cli("run", "--suite", SUITE, "--backend", "cpu", "--modes", "eager,reduce-overhead",
                  "--benchmarks", "no_graphs", "--min-time", "0.05", "--db", sqlite_url)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "1/2 case(s) ok, 1 unsupported" in res.stdout
    assert "no_graphs [reduce-overhead] unsupported: no_graphs does not run under reduce-overhead: needs a custom allocator" in res.stdout
    engine = make_engine(sqlite_url)
    run_id = queries.resolve_run(engine, "latest")
    rows = {r["mode"]: r for r in queries.export_records(engine, [run_id]) if r["metric"] in (None, "step_time")}
    assert rows["reduce-overhead"]["status"] == "unsupported"
    assert "needs a custom allocator" in rows["reduce-overhead"]["error"]
    assert rows["eager"]["status"] == "ok"


@pytest.mark.slow
def test_fidelity_script_compares_perfwatch_with_a_reference_on_cpu(tmp_path):
    out = tmp_path / "fid.json"
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fidelity.py"), "ops:layer_norm:eager:tiny",
                          "--backend", "cpu", "--runs", "2", "--processes", "2", "--min-time", "0.05",
                          "--ref-min-time", "0.05", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    summary = json.loads(out.read_text())["cases"]["ops:layer_norm:eager:tiny"]["summary"]
    assert {"perfwatch", "perfwatch-1p", "inproc", "timer"} <= set(summary)
    # every arm ran in every run: perfwatch (both processes and the first alone), its measure() in
    # one process, and Timer; the ratios are computed, not judged (a busy host moves them)
    for arm in ("perfwatch", "perfwatch-1p", "inproc", "timer"):
        per_run = summary[arm]["per_run_ms"]
        assert len(per_run) == 2 and all(math.isfinite(v) and v > 0 for v in per_run), (arm, per_run)
    for ratio in ("inproc_ratio", "perfwatch_ratio"):  # measure() / Timer in one process; perfwatch / Timer
        assert math.isfinite(summary["timer"][ratio]) and summary["timer"][ratio] > 0, (ratio, summary["timer"])
    assert "perfwatch_cv_over_best_reference" in summary


@pytest.mark.slow
def test_fidelity_interleave_runs_both_arms_and_the_references_in_every_run(tmp_path):
    out = tmp_path / "fid.json"
    cases = ["ops:layer_norm:eager:tiny", "ops:softmax:eager:tiny"]
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fidelity.py"), *cases, "--interleave",
                          "--backend", "cpu", "--runs", "2", "--processes", "2", "--min-time", "0.05",
                          "--ref-min-time", "0.05", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())["cases"]
    assert set(doc) == set(cases)
    for case in cases:
        runs, summary = doc[case]["runs"], doc[case]["summary"]
        assert [r["order"][0] for r in runs] == ["perfwatch", "interleaved"]  # the arms take turns going first
        for r in runs:
            assert len(r["perfwatch"]["process_medians_ms"]) == 2 and len(r["interleaved"]["process_medians_ms"]) == 2
            assert r["interleaved"]["process_span_s"] > 0 and "timer" in r["refs"]
        assert len(summary["perfwatch-interleaved"]["per_run_ms"]) == 2
        assert {"perfwatch_cv_over_best_reference", "interleaved_cv_over_best_reference"} <= set(summary)
    assert "interleaved CV / best reference CV" in res.stdout


def test_fidelity_interleave_refuses_cases_that_are_not_one_suite_run():
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fidelity.py"), "ops:matmul:eager:tiny",
                          "llm:train:eager:tiny", "--interleave", "--backend", "cpu"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "one suite with one mode and size" in res.stderr


@pytest.mark.slow
def test_noise_runs_reports_each_case_and_mode_across_fresh_runs(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "noise.py"), "runs", str(tmp_path), "--backend", "cpu",
                          "--size", "tiny", "--runs", "2", "--cases", "ops:layer_norm,ops:softmax", "--modes", "eager",
                          "--min-time", "0.05", "--processes", "2", "--interleave"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "noise.log").read_text()
    assert "round 2/2: layer_norm [eager] ok" in log  # each run's second processes came round by round
    rows = {(r["benchmark"], r["mode"]): r for r in json.loads((tmp_path / "noise.json").read_text())["rows"]}
    assert set(rows) == {("layer_norm", "eager"), ("softmax", "eager")}
    for r in rows.values():
        steps = r["values"]["step_time"]
        assert r["runs"] == 2 and r["failed"] == 0 and len(steps) == 2
        mean = sum(steps) / 2
        assert r["step_time_cv"] == pytest.approx(abs(steps[0] - steps[1]) / 2 ** 0.5 / mean)
    assert "| ops | layer_norm | eager | 2 |" in res.stdout
    # The table again from the stored runs, nothing rerun.
    again = subprocess.run([sys.executable, str(REPO / "benchmarks" / "noise.py"), "runs", str(tmp_path), "--analyse-only"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "| ops | softmax | eager | 2 |" in again.stdout


def test_a_timing_only_worker_skips_the_memory_and_accuracy_passes():
    from perfwatch.measure import worker

    spec = CaseSpec(suite=SUITE, benchmark="add", mode="eager", backend="cpu", size="tiny", suite_source=SUITE,
                    min_time_s=0.01)
    full = {m.name for m in worker.measure_case(spec).metrics}
    timed = {m.name for m in worker.measure_case(replace(spec, timing_only=True)).metrics}
    assert "step_time" in timed and "first_call_time" in timed
    assert "peak_rss" in full and "peak_rss" not in timed
    assert "accuracy_fp64_max_abs_error" in full and not any(n.startswith("accuracy") for n in timed)
