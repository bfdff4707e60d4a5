"""`perfwatch ab`: the t distribution, the sequential decision, the ABBA rounds, git worktrees,
bad usage, and two end-to-end A/B runs of a tiny user suite on the CPU."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import REPO, run_cli
from sqlalchemy import select

from perfwatch.analysis import ab as decision
from perfwatch.domain.errors import UsageError
from perfwatch.domain.results import STATUS_CRASH, STATUS_OK, CaseResult, CaseSpec, Metric
from perfwatch.domain.tdist import betai, t_cdf, t_ppf, t_two_sided
from perfwatch.measure import ab_rounds as measure
from perfwatch.measure.runner import Launch

SUITE = str(REPO / "tests" / "data" / "ab_suite.py")
SPEC = CaseSpec(suite="ab", benchmark="matmul", mode="eager", backend="cpu", size="tiny")


# --- Student t without scipy ---------------------------------------------------------------------

@pytest.mark.parametrize("p, df, expected", [(0.975, 4, 2.776), (0.995, 10, 3.169), (0.9995, 3, 12.924),
                                             (0.975, 1, 12.706), (0.95, 30, 1.697), (0.975, 1e7, 1.960)])
def test_t_quantiles_match_the_tables(p, df, expected):
    assert t_ppf(p, df) == pytest.approx(expected, abs=5e-4)  # the tables give three decimals
    assert t_ppf(1 - p, df) == pytest.approx(-t_ppf(p, df))


def test_t_cdf_and_incomplete_beta_known_values():
    assert t_cdf(0.0, 5) == 0.5
    assert t_two_sided(2.776445, 4) == pytest.approx(0.05, abs=1e-6)
    assert t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi
    assert betai(2.0, 2.0, 0.5) == pytest.approx(0.5)
    assert betai(1.0, 3.0, 0.2) == pytest.approx(1 - 0.8**3)  # I_x(1, b) = 1 - (1 - x)^b
    with pytest.raises(ValueError):
        t_ppf(1.0, 3)


# --- the decision, on simulated rounds -----------------------------------------------------------

def _case(ms: float, metric: str = "step_time", status: str = STATUS_OK, **exact: float) -> CaseResult:
    metrics = (Metric(metric, ms, "ms"),) if status == STATUS_OK else ()
    metrics += tuple(Metric(k, v, "count") for k, v in exact.items())
    return CaseResult(case_id="c", run_id="r", spec=SPEC, status=status, metrics=metrics,
                      error=None if status == STATUS_OK else "worker killed by signal 9 without a result")


def _simulate(rng: random.Random, effect: float, noise: float, settings: decision.Settings) -> decision.Decision:
    """Rounds of a base at 1 ms and a head at 1 + effect, each process off by lognormal noise,
    looked at after every round exactly as `perfwatch ab` does."""
    base, head = [], []
    for r in range(1, settings.max_rounds + 1):
        base.append(_case(math.exp(rng.gauss(0, noise))))
        head.append(_case((1 + effect) * math.exp(rng.gauss(0, noise))))
        d = decision.decide(base, head, settings, exhausted=r == settings.max_rounds)
        if d.decided:
            return d
    raise AssertionError("the last round must decide")


def test_a_planted_slowdown_is_found_within_a_few_rounds():
    rng = random.Random(1)
    settings = decision.Settings()
    results = [_simulate(rng, 0.05, 0.005, settings) for _ in range(50)]
    assert all(d.verdict == decision.SLOWER for d in results)
    assert max(d.rounds for d in results) <= 8
    for d in results:
        assert d.ci_low > 1 and d.ratio == pytest.approx(1.05, abs=0.01) and d.pvalue < 0.01
        assert d.detectable is not None and d.detectable > 0


def test_a_planted_speedup_is_faster():
    d = _simulate(random.Random(2), -0.05, 0.005, decision.Settings())
    assert d.verdict == decision.FASTER and d.ci_high < 1


def test_a_over_a_is_rarely_slower_within_the_stated_alpha_and_mostly_same():
    rng = random.Random(3)
    settings = decision.Settings()  # alpha 0.01 over 20 looks
    results = [_simulate(rng, 0.0, 0.005, settings) for _ in range(600)]
    slower = sum(d.verdict == decision.SLOWER for d in results)
    same = sum(d.verdict == decision.SAME for d in results)
    assert slower <= settings.alpha * len(results)  # expected well below: Bonferroni is conservative
    assert same >= 0.9 * len(results)


def test_without_the_bonferroni_correction_repeated_looks_would_raise_false_alarms():
    # The A/A check above can fail: looking after every round at a plain 99% interval (no
    # correction for the looks) calls A/A noise slower more often than alpha = 1%.
    rng = random.Random(4)
    alarms = 0
    for _ in range(600):
        ds = [rng.gauss(0, 0.005) * math.sqrt(2) for _ in range(20)]
        alarms += any(decision.interval(ds[:n], 0.99).low > 0 for n in range(3, 21))
    assert alarms > 0.01 * 600


def test_an_undecided_case_at_the_end_of_the_budget_is_unknown_with_the_slowdown_it_could_miss():
    base = [_case(1.0), _case(1.02), _case(0.97)]
    head = [_case(1.01), _case(0.99), _case(1.0)]
    running = decision.decide(base, head, decision.Settings(), exhausted=False)
    assert running.verdict == decision.RUNNING and not running.decided
    d = decision.decide(base, head, decision.Settings(), exhausted=True)
    assert d.verdict == decision.UNKNOWN
    assert d.missed == pytest.approx(d.ci_high - 1) and d.missed > 0.01
    assert "not ruled out" in d.reason


def test_two_wildly_different_rounds_give_an_unbounded_interval_not_an_error():
    # df = 1 at a 99.95% level: the t quantile is in the thousands, exp() of it overflows a float
    d = decision.decide([_case(1.0), _case(1.0)], [_case(0.5), _case(3.0)], decision.Settings(min_rounds=2), True)
    assert d.verdict == decision.UNKNOWN and d.ci_high == math.inf and d.missed == math.inf


def test_no_verdict_before_min_rounds():
    base, head = [_case(1.0), _case(1.0)], [_case(2.0), _case(2.01)]
    assert decision.decide(base, head, decision.Settings(min_rounds=3), exhausted=False).verdict == decision.RUNNING


def test_worse_exact_counters_make_the_case_slower_after_round_one():
    d = decision.decide([_case(1.0, graph_breaks=0, recompilations=1)], [_case(1.0, graph_breaks=2, recompilations=1)],
                        decision.Settings(), exhausted=False)
    assert d.verdict == decision.SLOWER and d.checks == ("graph breaks: 0 -> 2",)
    acc = decision.decide([_case(1.0, accuracy_pass=1)], [_case(1.0, accuracy_pass=0)], decision.Settings(), False)
    assert acc.verdict == decision.SLOWER and "accuracy pass" in acc.checks[0]
    better = decision.decide([_case(1.0, graph_breaks=2)], [_case(1.0, graph_breaks=0)], decision.Settings(), False)
    assert better.verdict == decision.RUNNING and not better.checks


def test_a_failed_round_in_either_arm_fails_the_case():
    d = decision.decide([_case(1.0), _case(1.0)], [_case(1.0), _case(0, status=STATUS_CRASH)], decision.Settings(), False)
    assert d.verdict == decision.FAILED and d.reason.startswith("head: crash")


def test_graph_time_is_judged_where_both_arms_have_it():
    both = decision.decide([_case(1.0, "graph_time")] * 3, [_case(1.5, "graph_time")] * 3, decision.Settings(), False)
    assert both.metric == "graph_time"
    one = [CaseResult("c", "r", SPEC, STATUS_OK, (Metric("step_time", 1.0, "ms"), Metric("graph_time", 0.5, "ms")))]
    assert decision.timing_metric(one, [_case(1.0)]) == "step_time"


@pytest.mark.parametrize("kw", [dict(min_rounds=1), dict(max_rounds=2), dict(alpha=float("nan")), dict(alpha=1.5),
                                dict(min_effect=0.0), dict(min_effect=float("inf"))])
def test_settings_out_of_range_are_usage_errors(kw):
    with pytest.raises(UsageError):
        decision.Settings(**kw)


# --- the rounds: ABBA order, round 1 full, caches apart, decided cases stop -----------------------

def test_rounds_alternate_abba():
    assert [measure.arm_order(r) for r in (1, 2, 3, 4)] == [("base", "head"), ("head", "base")] * 2


def test_interleave_runs_pairs_in_abba_order_and_stops_decided_cases():
    arms = tuple(measure.Arm(n, Launch(env=(("TORCHINDUCTOR_CACHE_DIR", f"/c/{n}"),)), SUITE) for n in measure.ARMS)
    specs = {a: [SPEC, replace(SPEC, benchmark="other")] for a in measure.ARMS}
    calls = []

    def worker(spec, run_id, timeout_s, launch):
        calls.append((run_id, spec.benchmark, spec.timing_only, spec.accuracy, dict(launch.env)["TORCHINDUCTOR_CACHE_DIR"]))
        return _case(1.0)

    # matmul is decided after round 2; "other" never is
    out = measure.interleave(arms, specs, {"base": "B", "head": "H"}, 10.0, max_rounds=4, max_time_s=1e9,
                             decide=lambda i, b, h: i == 0 and len(b) >= 2, worker=worker)
    assert out.rounds_run == 4 and not out.interrupted
    assert [len(r) for r in out.base] == [2, 4] and [len(r) for r in out.head] == [2, 4]
    order = [(run, bench) for run, bench, *_ in calls]
    assert order == [("B", "matmul"), ("H", "matmul"), ("B", "other"), ("H", "other"),  # round 1: A B
                     ("H", "matmul"), ("B", "matmul"), ("H", "other"), ("B", "other"),  # round 2: B A
                     ("B", "other"), ("H", "other"), ("H", "other"), ("B", "other")]  # rounds 3, 4
    assert all(not timing_only and accuracy for _, _, timing_only, accuracy, _ in calls[:4])  # round 1 in full
    assert all(timing_only and not accuracy for _, _, timing_only, accuracy, _ in calls[4:])
    assert {(run, cache) for run, _, _, _, cache in calls} == {("B", "/c/base"), ("H", "/c/head")}


def test_later_rounds_keep_the_graph_pass_where_both_arms_had_graph_time():
    with_graph = CaseResult("c", "r", SPEC, STATUS_OK, (Metric("graph_time", 0.5, "ms"),))
    spec = measure.later_spec(SPEC, with_graph, with_graph)
    assert not spec.timing_only and not spec.accuracy and spec.profile_dir is None
    assert measure.later_spec(SPEC, with_graph, _case(1.0)).timing_only


def test_interleave_stops_at_the_time_budget_with_whole_pairs():
    arms = tuple(measure.Arm(n, Launch(), SUITE) for n in measure.ARMS)
    ticks = iter(range(1000))
    out = measure.interleave(arms, {a: [SPEC] for a in measure.ARMS}, {"base": "B", "head": "H"}, 10.0,
                             max_rounds=20, max_time_s=3, decide=lambda i, b, h: False,
                             clock=lambda: next(ticks), worker=lambda s, r, t, launch: _case(1.0))
    assert out.out_of_time and len(out.base[0]) == len(out.head[0]) == 3


def test_a_failed_pair_stops_its_case():
    arms = tuple(measure.Arm(n, Launch(), SUITE) for n in measure.ARMS)
    out = measure.interleave(arms, {a: [SPEC] for a in measure.ARMS}, {"base": "B", "head": "H"}, 10.0,
                             max_rounds=5, max_time_s=1e9, decide=lambda i, b, h: False,
                             worker=lambda s, r, t, launch: _case(0, status=STATUS_CRASH) if r == "H" else _case(1.0))
    assert len(out.base[0]) == 1


def test_env_pairs_are_checked():
    assert measure.parse_env(["A=1", "B=x=y", "C="], "--head-env") == (("A", "1"), ("B", "x=y"), ("C", ""))
    for bad in ("NOEQUALS", "=1"):
        with pytest.raises(UsageError, match="KEY=VALUE"):
            measure.parse_env([bad], "--head-env")


# --- git worktrees --------------------------------------------------------------------------------

def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A repository whose suite file says 'old' in its first commit and 'new' in its second."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    _git(root, "init", "-q")
    for word in ("old", "new"):
        (root / "bench" / "suite.py").write_text(f"WORD = {word!r}\n")
        _git(root, "add", ".")
        _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", word)
    return root


def test_refs_check_out_worktrees_that_are_removed_afterwards(repo):
    suite = str(repo / "bench" / "suite.py")
    reqs = (measure.ArmRequest("base", ref="HEAD~1"), measure.ArmRequest("head", env=(("X", "1"),)))
    with measure.prepared(reqs, suite, True) as (base, head):
        tree = base.launch.pythonpath[0]
        assert base.suite == os.path.join(tree, "bench", "suite.py")
        assert open(base.suite).read() == "WORD = 'old'\n"
        assert base.sha == _git(repo, "rev-parse", "HEAD~1").strip()
        assert head.suite == suite and head.launch.pythonpath == () and ("X", "1") in head.launch.env
        caches = {a.name: dict(a.launch.env)["TORCHINDUCTOR_CACHE_DIR"] for a in (base, head)}
        assert caches["base"] != caches["head"]
        assert len(_git(repo, "worktree", "list").splitlines()) == 2
    assert not os.path.exists(tree)
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    assert (repo / "bench" / "suite.py").read_text() == "WORD = 'new'\n"  # the checkout is untouched


def test_worktrees_are_removed_on_error_too(repo):
    reqs = (measure.ArmRequest("base", ref="HEAD~1"), measure.ArmRequest("head", ref="HEAD"))
    with pytest.raises(KeyboardInterrupt):
        with measure.prepared(reqs, str(repo / "bench" / "suite.py"), True) as (base, head):
            trees = [base.launch.pythonpath[0], head.launch.pythonpath[0]]
            raise KeyboardInterrupt
    assert not any(os.path.exists(t) for t in trees)
    assert len(_git(repo, "worktree", "list").splitlines()) == 1


def test_unknown_refs_and_missing_suite_files_are_usage_errors(repo):
    suite = str(repo / "bench" / "suite.py")
    with pytest.raises(UsageError, match="unknown revision"):
        with measure.prepared((measure.ArmRequest("base", ref="no-such-ref"), measure.ArmRequest("head")), suite, True):
            pass
    (repo / "bench" / "later.py").write_text("")
    with pytest.raises(UsageError, match="does not exist at that revision"):
        with measure.prepared((measure.ArmRequest("base", ref="HEAD"), measure.ArmRequest("head")),
                              str(repo / "bench" / "later.py"), True):
            pass
    assert len(_git(repo, "worktree", "list").splitlines()) == 1


# --- the command: bad usage stores nothing --------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--head-env", "NOEQUALS"], "expected KEY=VALUE"),
    (["--base-python", "/no/such/python"], "no such executable"),
    (["--head-ref", "no-such-ref-anywhere"], "unknown revision"),
    (["--alpha", "nan"], "--alpha"),
    (["--min-effect", "2"], "--min-effect"),
    (["--max-rounds", "2"], "--max-rounds"),
    (["--max-time", "inf"], "--max-time"),
])
def test_bad_usage_exits_2_and_stores_nothing(tmp_path, extra, message):
    db = tmp_path / "ab.db"
    res = run_cli("ab", "--suite", SUITE, "--backend", "cpu", "--modes", "eager", "--db", f"sqlite:///{db}", *extra)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert not db.exists()


# --- end to end: real workers on the CPU ----------------------------------------------------------

E2E = ("--suite", SUITE, "--backend", "cpu", "--modes", "eager", "--min-time", "0.2", "--threads", "1",
       "--format", "json")


@pytest.mark.slow
def test_a_planted_slowdown_is_slower_end_to_end(sqlite_url):
    # Twice the work in the head (its workers see the variable). A planted 30% or 50% was tried
    # first: on this shared 2-core machine a busy neighbour moves whole processes by 10-20% (and
    # now and then by 3x), so those took 4-6 rounds or ran out of them. Doubling is decided in
    # 3-4 rounds at alpha 0.1 over 6 looks, which keeps the test short and steady.
    res = run_cli("ab", *E2E, "--head-env", "PERFWATCH_TEST_EXTRA_WORK=1", "--min-rounds", "3",
                  "--max-rounds", "6", "--alpha", "0.1", "--db", sqlite_url)
    assert res.returncode == 1, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    [case] = doc["cases"]
    assert case["verdict"] == "slower" and case["metric"] == "step_time"
    assert case["ratio"] > 1.3 and case["ci_low"] > 1 and 3 <= case["rounds"] <= 6
    assert 0 <= case["pvalue"] < 0.1 and case["detectable"] > 0


@pytest.mark.slow
def test_a_over_a_is_not_slower_and_both_arms_are_stored(sqlite_url):
    from perfwatch.store.engine import make_engine
    from perfwatch.store.models import Case, Run

    res = run_cli("ab", *E2E, "--min-rounds", "2", "--max-rounds", "3", "--db", sqlite_url)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    [case] = doc["cases"]
    # the contract of a clean A/A: never "slower" (CI passes). A false "faster" can happen at the
    # stated alpha (2-3 rounds on a busy machine, heavy-tailed noise): it is not asserted away here
    assert case["verdict"] != "slower" and 2 <= case["rounds"] <= 3
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        runs = {r.id: r for r in conn.execute(select(Run)).all()}
        cases = conn.execute(select(Case.run_id, Case.status, Case.details)).all()
    assert set(runs) == set(doc["runs"].values())
    for arm, run_id in doc["runs"].items():
        assert runs[run_id].tags == {"ab": doc["ab"], "arm": arm}
    # each case once per arm, its rounds combined into one stored result
    assert sorted(c.run_id for c in cases) == sorted(doc["runs"].values())
    assert all(c.status == "ok" and c.details["timing"]["processes"] == case["rounds"] for c in cases)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


@pytest.mark.slow
def test_results_kept_nowhere_are_named_and_exit_6(sqlite_url, monkeypatch, capsys):
    """Database and spool both refusing after the arms ran (database gone, spool disk full):
    `perfwatch ab` says what is lost and why and exits 6, as `perfwatch run` does."""
    import errno

    from perfwatch.cli.main import main
    from perfwatch.domain.errors import StoreError
    from perfwatch.store import spool

    def refused(engine, rec):
        raise StoreError("cannot reach the database")

    def full(path, records):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "write_record", refused)
    monkeypatch.setattr(spool, "append_records", full)
    code = main(["ab", *E2E, "--min-rounds", "2", "--max-rounds", "2", "--db", sqlite_url])
    err = capsys.readouterr().err
    assert code == 6, err
    assert "of the base arm could not be kept and are lost: matmul [eager]" in err
    assert "the database: cannot reach the database" in err and "No space left on device" in err


def test_an_arm_on_another_interpreter_reports_that_interpreters_torch(tmp_path):
    import torch

    from perfwatch.measure.ab_rounds import Arm, arm_software
    from perfwatch.measure.runner import Launch

    same = arm_software(Arm("base", Launch(python=sys.executable), SUITE))
    assert same["torch_version"] == torch.__version__ and same["python_version"].startswith("3.")
    # another interpreter: what it says, not what this process runs (a stand-in that answers as one)
    other = tmp_path / "python"
    other.write_text('#!/bin/sh\necho \'{"torch_version": "2.99.0+cu999", "python_version": "3.99.0"}\'\n')
    other.chmod(0o755)
    assert arm_software(Arm("base", Launch(python=str(other)), SUITE))["torch_version"] == "2.99.0+cu999"
    assert arm_software(Arm("head", Launch(), SUITE)) == {}  # this interpreter: the run's own environment
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert arm_software(Arm("base", Launch(python=str(broken)), SUITE)) == {}
