"""The history gate's verdicts (perfwatch.analysis.gate), on synthetic series of known noise.

Mostly pure tests: GateSeries in, verdicts out; the last ones run the gate over a real store
(and tests/test_detect_cli.py through `perfwatch run --fail-on-regression`).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics

import pytest

from perfwatch.analysis.gate import GateConfig, holm, judge, t_ppf, t_sf
from perfwatch.store.baselines import GatePoint, GateSeries

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make(i, values, metric="step_time", unit="ms", direction="lower_is_better", rel_ci=0.0005, params="{}",
         precision_met=True, replicates=None):
    pts = []
    for j, v in enumerate(values):
        reps = tuple(replicates[j]) if replicates else ()
        pts.append(GatePoint(f"r{j}", T0 + dt.timedelta(days=j), v, v * (1 - rel_ci), v * (1 + rel_ci), 100, "ok",
                             reps, precision_met if j == len(values) - 1 else True))
    meta = dict(metric=metric, unit=unit, direction=direction, suite="s", benchmark=f"b{i}", mode="eager",
                backend="cuda", params_key=params, hostname="h", machine="m")
    return GateSeries(i, meta, pts[-1], tuple(pts[:-1]))


def noisy(rng, k, sigma, last_factor=1.0, base=10.0):
    vals = [base * math.exp(rng.gauss(0, sigma)) for _ in range(k + 1)]
    vals[-1] *= last_factor
    return vals


def test_a_five_percent_slowdown_of_a_quiet_series_is_caught_after_five_runs():
    rng = random.Random(0)
    caught = sum(judge([make(0, noisy(rng, 5, 0.002, 1.05))])[0].verdict == "regression" for _ in range(50))
    assert caught >= 48


def test_a_two_percent_slowdown_is_caught_once_ten_runs_set_the_noise():
    rng = random.Random(1)
    family = lambda f: [make(0, noisy(rng, 10, 0.002, f))] + [make(i, noisy(rng, 10, 0.002)) for i in range(1, 30)]
    caught = sum(judge(family(1.02))[0].verdict == "regression" for _ in range(40))
    assert caught >= 36


def test_borrowing_noise_across_the_runs_series_catches_two_percent_after_five_runs():
    # 30 step times with 0.2% run-to-run scatter: one series' 4 df alone cannot tell 2% from noise
    # at a run-wide 1% (about half are missed); the other 29 say what its noise is
    rng = random.Random(11)
    family = lambda f: [make(0, noisy(rng, 5, 0.002, f))] + [make(i, noisy(rng, 5, 0.002)) for i in range(1, 30)]
    alone = sum(judge(family(1.02), GateConfig(pool=False))[0].verdict == "regression" for _ in range(40))
    pooled = [judge(family(1.02))[0] for _ in range(40)]
    assert alone <= 30
    assert sum(v.verdict == "regression" for v in pooled) >= 38
    assert all(v.noise_source == "runs+pooled" for v in pooled)
    assert max(v.detectable for v in pooled) < 0.02  # and it says it could see 2%


def test_a_series_noisier_than_its_group_keeps_its_own_noise():
    # one launch-bound series (5% scatter) among 29 quiet ones (0.1%): the quiet prior must not
    # make it look quiet, or its scatter becomes false alarms
    rng = random.Random(12)
    false = 0
    for _ in range(60):
        v = judge([make(0, noisy(rng, 5, 0.05))] + [make(i, noisy(rng, 5, 0.001)) for i in range(1, 30)])
        false += v[0].verdict == "regression"
        assert v[0].noise > 0.01
    assert false <= 1


def test_single_intervals_and_short_histories_do_not_borrow_noise():
    rng = random.Random(13)
    firsts = judge([make(i, noisy(rng, 5, 0.01, base=0.2), metric="first_call_time", unit="s") for i in range(10)])
    short = judge([make(i, noisy(rng, 4, 0.01)) for i in range(10)])
    assert {v.noise_source for v in firsts} == {"runs"} and {v.noise_source for v in short} == {"runs"}


def test_the_prior_is_the_groups_common_noise():
    from perfwatch.analysis.pooled_variance import digamma, fit_prior, moderate, trigamma, trigamma_inverse

    assert digamma(1) == pytest.approx(-0.5772156649, abs=1e-9) and trigamma(1) == pytest.approx(math.pi ** 2 / 6)
    assert trigamma_inverse(trigamma(0.7)) == pytest.approx(0.7)
    rng = random.Random(14)
    alike = [statistics.variance([rng.gauss(0, 0.01) for _ in range(5)]) for _ in range(200)]
    prior = fit_prior(alike, [4] * 200)
    assert prior.s2 == pytest.approx(1e-4, rel=0.2) and prior.df > 10  # far more than its own 4
    mixed = [statistics.variance([rng.gauss(0, rng.choice((0.001, 0.1))) for _ in range(5)]) for _ in range(200)]
    assert fit_prior(mixed, [4] * 200).df < 5  # unlike noise levels: little borrowing
    assert fit_prior(alike[:3], [4] * 3) is None
    s2, df = moderate(1e-4, 4, prior)
    assert df == 4 + prior.df
    assert moderate(1.0, 4, prior) == (1.0, 4)  # far outside the prior: its own


def test_clean_runs_rarely_raise_anything_across_the_whole_family():
    # 300 clean runs of 40 series each: with alpha 1% family-wise, a handful of false runs at most
    rng = random.Random(2)
    false_runs = 0
    for _ in range(300):
        verdicts = judge([make(i, noisy(rng, rng.choice((3, 5, 10)), rng.choice((0.002, 0.01, 0.03))))
                          for i in range(40)])
        false_runs += any(v.verdict == "regression" for v in verdicts)
    assert false_runs <= 9  # 3% (the bound is 1%; slack for the simulation's own noise)


def test_every_judged_series_states_what_it_could_have_seen():
    rng = random.Random(3)
    quiet, loud = judge([make(0, noisy(rng, 10, 0.001)), make(1, noisy(rng, 10, 0.02))])
    assert quiet.verdict == loud.verdict == "same"
    assert quiet.detectable == pytest.approx(0.01)  # the floor
    assert loud.detectable > 5 * quiet.detectable
    assert loud.noise_source == "runs" and loud.baseline_runs == 10


def test_a_series_too_noisy_to_judge_says_so():
    rng = random.Random(4)
    (v,) = judge([make(0, noisy(rng, 4, 0.2))])
    assert v.verdict == "too_noisy" and v.detectable > 0.25


def test_too_short_a_history_is_no_baseline_and_a_changed_setting_is_not_a_regression():
    short, changed = judge([make(0, [10, 10.1, 30]), make(1, [30.0])], siblings={1: ['{"_threads":2}']})
    assert short.verdict == "no_baseline"
    assert changed.verdict == "settings_changed" and "_threads" in changed.note


def test_noisy_counts_are_measurements_and_exact_counters_exact():
    rng = random.Random(5)
    # page faults scatter 3% run to run: a clean run passes, x1.3 is caught
    faults = [40000 * math.exp(rng.gauss(0, 0.03)) for _ in range(8)]
    clean, planted = judge([make(0, faults, metric="uvm_gpu_page_faults", unit="count"),
                            make(1, faults[:-1] + [faults[-1] * 1.3], metric="uvm_gpu_page_faults", unit="count")])
    assert clean.verdict == "same" and clean.noise_source != "exact"
    assert planted.verdict == "regression"
    breaks = judge([make(0, [0, 0, 0, 1], metric="graph_breaks", unit="count")])[0]
    assert breaks.verdict == "regression" and breaks.noise_source == "exact"
    acc = judge([make(0, [1, 1, 0], metric="accuracy_pass", unit="bool", direction="higher_is_better")])[0]
    assert acc.verdict == "regression"


def test_a_case_that_missed_its_precision_cannot_raise_a_timing_regression():
    rng = random.Random(6)
    (v,) = judge([make(0, noisy(rng, 8, 0.002, 1.5), precision_met=False)])
    assert v.verdict == "imprecise" and v.change > 0.3


def test_higher_is_better_worsens_downwards():
    rng = random.Random(7)
    down, up = judge([make(0, noisy(rng, 8, 0.002, 0.9), metric="throughput_x", direction="higher_is_better"),
                      make(1, noisy(rng, 8, 0.002, 1.1), metric="throughput_x", direction="higher_is_better")])
    assert down.verdict == "regression" and up.verdict == "improvement"


def test_process_scatter_inside_runs_counts_as_noise():
    # run medians agree by chance, but each run's processes scatter 5%: that is the real noise
    rng = random.Random(8)
    reps = [[10 * math.exp(rng.gauss(0, 0.05)) for _ in range(5)] for _ in range(6)]
    (v,) = judge([make(0, [10, 10.001, 9.999, 10, 10.002, 10.3], replicates=reps)])
    assert v.noise_source == "processes" and v.verdict != "regression"


def test_holm_and_t_distribution():
    assert holm([0.001, 0.03, 0.04], 0.05) == [True, False, False]
    assert holm([0.001, 0.02, 0.024], 0.05) == [True, True, True]
    assert t_ppf(0.975, 4) == pytest.approx(2.776, abs=1e-3)
    assert t_ppf(0.975, math.inf) == pytest.approx(1.96, abs=1e-3)
    assert t_sf(2.776, 4) == pytest.approx(0.025, abs=1e-4)


def _store_case(engine, run_id, when, step, threads=None, host="h"):
    from perfwatch.domain.results import CaseResult, CaseSpec, Metric, RunInfo
    from perfwatch.store import writes

    run = RunInfo(run_id=run_id, created_at=when, suite="s", backend="cpu", size="tiny", machine_fingerprint="fp",
                  hostname=host)
    writes.write_run(engine, run)
    spec = CaseSpec(suite="s", benchmark="b", mode="eager", backend="cpu", size="tiny", threads=threads)
    case = CaseResult(case_id=run_id + "c", run_id=run_id, spec=spec, status="ok", started_at=when,
                      metrics=(Metric("step_time", step, "ms", ci_low=step * 0.999, ci_high=step * 1.001, n=50),),
                      details={"timing": {"precision_met": True}})
    writes.write_case(engine, run, case)
    writes.finish_run(engine, run, when, 1, 0)


def test_over_the_store_a_changed_thread_count_is_a_new_series_not_a_regression(db_url):
    from perfwatch.analysis.gate import run_gate
    from perfwatch.store import verdicts
    from perfwatch.store.engine import make_engine
    from perfwatch.store.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    for i, step in enumerate((10.0, 10.01, 9.99, 10.0)):
        _store_case(engine, f"r{i}", f"2026-11-0{i + 1}T10:00:00+00:00", step)
    (same,) = run_gate(engine, "r3")
    assert same.verdict == "same" and same.detectable is not None
    _store_case(engine, "r4", "2026-11-05T10:00:00+00:00", 16.5, threads=1)  # 65% "slower" on one thread
    (changed,) = run_gate(engine, "r4")
    assert changed.verdict == "settings_changed" and "_threads" in changed.note
    _store_case(engine, "r5", "2026-11-06T10:00:00+00:00", 12.0)  # back on the default threads: 20% slower
    (slower,) = run_gate(engine, "r5")
    assert slower.verdict == "regression" and slower.change == pytest.approx(0.2, abs=0.01)
    stored = verdicts.for_run(engine, "r5")
    assert [v["verdict"] for v in stored] == ["regression"] and stored[0]["detectable"] < 0.2
    engine.dispose()


def test_a_first_call_moving_by_host_jitter_is_not_a_regression_but_a_real_one_is():
    # a 1.7 ms first call that took 3.7 ms once: +120%, but 2 ms is a scheduler's hiccup
    jitter = judge([make(0, [0.00170, 0.00171, 0.00169, 0.00170, 0.00170, 0.0037], metric="first_call_time", unit="s")])
    assert jitter[0].verdict == "same" and jitter[0].detectable > 1  # it says what it could have seen
    compile_slower = judge([make(0, [2.0, 2.02, 1.99, 2.01, 2.0, 2.5], metric="first_call_time", unit="s")])
    assert compile_slower[0].verdict == "regression"
