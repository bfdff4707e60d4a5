"""The batch search (--batch-search): the largest batch that fits under a memory cap, and the
throughput up to it. Real torch on CPU at size tiny, eager mode; OOMs on CPU are planted by a
suite file of the test's own (torch.OutOfMemoryError raised past a batch), as a CUDA cap would."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import pytest
from conftest import run_cli

from perfwatch.collectors import batch as bs
from perfwatch.domain.batch_cap import parse_cap, resolve_cap
from perfwatch.domain.metrics import spec as metric_spec
from perfwatch.domain.results import STATUS_OK, CaseSpec
from perfwatch.measure import worker
from perfwatch.measure.passes import PASSES

LEAN = tuple(p for p in PASSES if p.name in ("build", "timing", "batch"))  # the search without the other passes


def llm_spec(cap: str, budget: float = 60.0, **kw) -> CaseSpec:
    return CaseSpec(suite="llm", benchmark="train", mode="eager", backend="cpu", size="tiny", min_time_s=0.02,
                    min_samples=3, threads=1, batch_search=True, batch_memory_cap=resolve_cap(cap, "cpu"),
                    batch_search_budget_s=budget, **kw)


# --- the search itself, over a fake try --------------------------------------------------------

def fits_below(limit: int, seconds: float = 0.0, clock: list | None = None):
    def try_batch(b: int) -> bs.Try:
        if clock is not None:
            clock[0] += seconds
        return bs.Try(b, b <= limit, seconds, throughput=float(b) if b <= limit else None)
    return try_batch


@pytest.mark.parametrize("limit", [0, 1, 7, 100, 1000, 5000])
def test_doubling_then_bisection_finds_the_limit_within_the_resolution(limit):
    found = bs.search(fits_below(limit), budget_s=1e9)
    assert found.concluded and found.max_batch <= limit < found.first_failure
    assert found.first_failure - found.max_batch <= max(1, found.max_batch // bs.RESOLUTION)
    tried = [t.batch for t in found.tries]
    assert tried[: tried.index(found.tries[0].batch) + 1] == [1]  # from batch 1, doubling
    assert len(tried) == len(set(tried))  # never the same batch twice


def test_a_larger_cap_never_finds_a_smaller_batch():
    found = [bs.search(fits_below(limit), budget_s=1e9).max_batch for limit in range(0, 300, 7)]
    assert found == sorted(found)


def test_the_budget_cuts_the_search_before_a_try_that_would_overrun_it():
    now = [0.0]
    found = bs.search(fits_below(10**6, seconds=10.0, clock=now), budget_s=25.0, clock=lambda: now[0])
    assert found.cut and not found.concluded
    assert [t.batch for t in found.tries] == [1, 2]  # a third 10 s try would end at 30 s > 25 s
    assert found.max_batch == 2


def test_no_failure_up_to_the_bound_is_no_max_batch():
    found = bs.search(fits_below(10**9), budget_s=1e9)
    assert found.bounded and not found.concluded and found.max_batch == bs.MAX_BATCH


def test_a_try_that_breaks_stops_the_search_and_keeps_the_tries_before_it():
    def try_batch(b):
        if b == 8:
            raise ValueError("shape mismatch")
        return bs.Try(b, True, throughput=1.0)

    found = bs.search(try_batch, budget_s=1e9)
    assert found.failed == "batch 8: ValueError: shape mismatch" and [t.batch for t in found.tries] == [1, 2, 4]


# --- the cap: parsing and identity ----------------------------------------------------------------

def test_caps_are_sizes_or_fractions_with_one_canonical_text():
    assert resolve_cap("268435456", "cpu") == resolve_cap("256MiB", "cpu") == resolve_cap(None, "cpu") == "256MiB"
    assert resolve_cap(None, "cuda") == "0.5" and resolve_cap("1.5GiB", "cpu") == "1536MiB"
    assert parse_cap("0.25").bytes_of(1000) == 250 and parse_cap("1KiB").bytes_of(10**9) == 1024
    for bad in ("lots", "0", "0.95", "1.5", "-3MiB", "12XB"):
        with pytest.raises(ValueError):
            parse_cap(bad)


def test_the_cap_is_part_of_the_batch_series_and_of_no_other():
    from perfwatch.domain.results import CaseResult
    from perfwatch.domain.series import case_params_key

    def key(cap, metric):
        case = CaseResult("c", "r", llm_spec(cap), STATUS_OK)
        return json.loads(case_params_key(case, metric))

    assert key("4MiB", "max_batch")["_batch_cap"] == "4MiB"
    assert key("4MiB", "throughput_at_batch_16") != key("8MiB", "throughput_at_batch_16")
    assert key("4MiB", "step_time") == key("8MiB", "step_time") and "_batch_cap" not in key("4MiB", "step_time")
    fam = metric_spec("throughput_at_batch_16")
    assert fam.produced_by == "batch" and fam.direction == "higher_is_better" and not fam.exact
    assert metric_spec("max_batch").exact and metric_spec("max_batch").direction == "higher_is_better"
    assert metric_spec("throughput_at_batch_x").produced_by == ""  # not a member of the family


# --- in the worker, real torch on CPU ------------------------------------------------------------

def batch_figures(result):
    return {m.name: m.value for m in result.metrics if metric_spec(m.name).produced_by == "batch"}


@pytest.mark.slow
def test_a_larger_cap_finds_a_larger_batch_and_the_curve_up_to_it():
    small = worker.measure_case(llm_spec("2MiB"), passes=LEAN)
    large = worker.measure_case(llm_spec("8MiB"), passes=LEAN)
    for r in (small, large):
        assert r.status == STATUS_OK and r.details["batch_status"] == "ok"
        info = r.details["batch_search"]
        assert info["method"].startswith("peak of torch's CPU allocations") and info["cut"] is False
        for t in info["tries"]:  # every try judged by its measured peak against the cap
            assert t["fits"] == (t["peak_bytes"] <= info["cap_bytes"]), t
        assert r.metric("step_time") is not None  # the case's own figures are there too
    assert 1 <= small.metric("max_batch").value < large.metric("max_batch").value
    curve = batch_figures(large)
    powers = sorted(int(n.rsplit("_", 1)[1]) for n in curve if n.startswith("throughput_at_batch_"))
    assert powers[0] == 1 and all(b <= large.metric("max_batch").value for b in powers)
    assert large.details["batch_search"]["item_unit"] == "tokens/s"
    assert large.metric("throughput_at_batch_1").unit == "tokens/s"


OOM_SUITE = textwrap.dedent('''
    import torch
    from perfwatch.api import Benchmark, Suite, Workload

    LIMIT = 24  # past this batch the step "runs out of memory", as under a CUDA cap

    def build(ctx):
        ctx.seed_all()
        batch = ctx.batch_size(2)
        w, x = torch.randn(8, 8, requires_grad=True), torch.randn(batch, 8)
        loss_fn = ctx.compile(lambda x, w: (x @ w).square().mean())  # eager mode: the lambda itself

        def step():
            if batch > LIMIT:
                raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} GiB")
            loss = loss_fn(x, w)
            loss.backward()
            w.grad = None
            return loss.detach()

        return Workload(step=step, items_per_step=batch, item_unit="samples")

    def build_fixed(ctx):  # declares batch_search but never asks ctx.batch_size()
        x = torch.randn(4, 8)
        return Workload(step=lambda: x.sum(), items_per_step=4, item_unit="samples")

    SUITE = Suite("ooms", (Benchmark("train", build, batch_search=True),
                           Benchmark("fixed", build_fixed, batch_search=True),
                           Benchmark("plain", build)))
''')


@pytest.fixture
def oom_suite(tmp_path):
    path = tmp_path / "oom_suite.py"
    path.write_text(OOM_SUITE)
    return str(path)


def oom_spec(path, benchmark="train", **kw):
    return CaseSpec(suite=path, benchmark=benchmark, mode="eager", backend="cpu", size="tiny", suite_source=path,
                    min_time_s=0.02, min_samples=3, threads=1, batch_search=True,
                    batch_memory_cap=resolve_cap("1GiB", "cpu"), **kw)


def test_an_oom_is_caught_and_the_case_ends_ok_with_its_other_figures(oom_suite):
    r = worker.measure_case(oom_spec(oom_suite))  # every pass: accuracy, memory, ... and the search last
    assert r.status == STATUS_OK and r.details["batch_status"] == "ok"
    assert r.metric("max_batch").value == 24  # the gap 24..25 is within the resolution
    ooms = [t for t in r.details["batch_search"]["tries"] if not t["fits"]]
    assert ooms and all(t["why"].startswith("OutOfMemoryError: CUDA out of memory") for t in ooms)
    assert r.metric("step_time") is not None and r.metric("accuracy_fp64_max_abs_error") is not None
    assert r.metric("peak_rss") is not None
    assert {f"throughput_at_batch_{b}" for b in (1, 2, 4, 8, 16)} <= set(batch_figures(r))


def test_a_benchmark_that_ignores_the_batch_is_told_and_the_case_goes_on(oom_suite):
    r = worker.measure_case(oom_spec(oom_suite, "fixed"), passes=LEAN)
    assert r.status == STATUS_OK and r.metric("step_time") is not None and r.metric("max_batch") is None
    assert r.details["batch_status"].startswith("failed at batch 2: ValueError: fixed declares batch_search but "
                                                "its build ignores ctx.batch_size()")


def test_only_benchmarks_that_take_part_are_searched(oom_suite):
    plain = worker.measure_case(oom_spec(oom_suite, "plain"), passes=LEAN)
    off = worker.measure_case(replace(oom_spec(oom_suite), batch_search=False), passes=LEAN)
    for r in (plain, off):
        assert r.status == STATUS_OK and "batch_search" not in r.details and not batch_figures(r)


def test_the_budget_cuts_the_search_and_says_so():
    r = worker.measure_case(llm_spec("256MiB", budget=0.001), passes=LEAN)
    assert r.status == STATUS_OK
    info = r.details["batch_search"]
    assert info["cut"] is True and info["max_batch"] is None and len(info["tries"]) == 1
    assert r.details["batch_status"].startswith("cut by the budget (0.001 s) after 1 tries: max_batch >= 1")
    assert r.metric("max_batch") is None  # a lower bound would read as a regression on a slow day
    assert set(batch_figures(r)) == {"throughput_at_batch_1"}  # what it measured is kept


# --- the command line, the store, report, compare and the dashboard ---------------------------

def run_args(url: str, cap: str) -> list[str]:
    return ["run", "--suite", "llm", "--benchmarks", "train", "--modes", "eager", "--backend", "cpu",
            "--min-time", "0.05", "--no-accuracy", "--threads", "1", "--no-detect", "--batch-search",
            "--batch-memory-cap", cap, "--batch-search-budget", "60", "--db", url]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real runs of llm train (eager) with the batch search: caps 2MiB, then 4MiB."""
    home = tmp_path_factory.mktemp("batch_store")
    url = f"sqlite:///{home / 'store.db'}"
    ids = []
    for cap in ("2MiB", "4MiB"):
        res = run_cli(*run_args(url, cap), "--json", env={"PERFWATCH_HOME": str(home)})
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        ids.append(doc["run"]["run_id"])
        case = doc["cases"][0]
        assert case["status"] == "ok" and case["details"]["batch_status"] == "ok"
        assert {m["name"] for m in case["metrics"]} >= {"max_batch", "throughput_at_batch_1", "step_time"}
    return url, ids


@pytest.mark.slow
def test_the_figures_are_stored_one_series_per_cap_and_batch(two_runs):
    from perfwatch.store import history
    from perfwatch.store.engine import make_engine

    url, _ = two_runs
    eng = make_engine(url)
    caps = sorted(json.loads(s["params_key"]).get("_batch_cap") for s in history.find_series(eng, metric="max_batch"))
    assert caps == ["2MiB", "4MiB"]  # another cap, another series: never a regression
    assert len(history.find_series(eng, metric="step_time")) == 1  # the step time is not the cap's
    assert len(history.find_series(eng, metric="throughput_at_batch_1")) == 2


@pytest.mark.slow
def test_report_and_compare_show_them(two_runs):
    url, (a, b) = two_runs
    rep = run_cli("report", "--run", b, "--baseline", a, "--db", url)
    assert rep.returncode == 0, rep.stderr
    assert "**Batch search**" in rep.stdout and "| train | eager |" in rep.stdout.split("**Batch search**")[1]
    doc = json.loads(run_cli("report", "--run", b, "--format", "json", "--db", url).stdout)
    assert doc["cases"][0]["metrics"]["max_batch"] >= 1
    cmp = run_cli("compare", a, b, "--format", "json", "--db", url)  # max_batch is a headline figure
    rows = {r["metric"]: r for r in json.loads(cmp.stdout)["rows"]}
    assert rows["max_batch"]["test"] == "exact" and rows["max_batch"]["b"] > rows["max_batch"]["a"]
    cmp = run_cli("compare", a, b, "--metrics", "throughput_at_batch_1,max_batch", "--db", url)
    assert cmp.returncode == 0 and "throughput_at_batch_1" in cmp.stdout and "max_batch" in cmp.stdout


@pytest.mark.slow
def test_the_dashboard_draws_the_curve_per_mode_with_max_batch_marked(two_runs, monkeypatch):
    from test_dashboard_apptest import _fresh_caches, _keep_main_module, frames_of, open_app, texts  # noqa: F401

    url, (_, b) = two_runs
    at = open_app(url, monkeypatch, view="batch", suite="llm", run=b)
    assert "Batch search" in texts(at) and "train" in [h.value for h in at.subheader]
    summary = frames_of(at)[0]
    assert summary["mode"].tolist() == ["eager"] and summary["cap"].tolist() == ["4MiB"] and summary["max_batch"][0] >= 1
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "max_batch" in spec and '"log"' in spec


@pytest.mark.parametrize("args, env, message", [
    (["--batch-memory-cap", "lots"], {}, "argument --batch-memory-cap: expected a size (256MiB, 40GiB)"),
    (["--batch-memory-cap", "0.95"], {}, "at most 0.9"),
    (["--batch-search-budget", "0"], {}, "argument --batch-search-budget: must be a number of seconds > 0"),
    (["--batch-search-budget", "nan"], {}, "argument --batch-search-budget: expected a finite number"),
    ([], {"PERFWATCH_BATCH_MEMORY_CAP": "12XB"}, "environment PERFWATCH_BATCH_MEMORY_CAP: batch_memory_cap = '12XB' is invalid"),
    ([], {"PERFWATCH_BATCH_SEARCH_BUDGET_S": "-5"}, "PERFWATCH_BATCH_SEARCH_BUDGET_S: batch_search_budget_s"),
    ([], {"PERFWATCH_BATCH_SEARCH": "maybe"}, "batch_search = 'maybe' is invalid"),
])
def test_bad_values_of_the_new_settings_exit_2_with_a_clear_message(tmp_path, args, env, message):
    res = run_cli("run", "--suite", "llm", "--backend", "cpu", "--batch-search", *args,
                  env={"PERFWATCH_HOME": str(tmp_path / "home"), **env})
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "home" / "perfwatch.db").exists()


def test_a_cpu_cap_the_machine_cannot_hold_twice_is_refused_not_tried(oom_suite):
    r = worker.measure_case(replace(oom_spec(oom_suite), batch_memory_cap=resolve_cap("0.9", "cpu")), passes=LEAN)
    assert r.status == STATUS_OK and r.metric("step_time") is not None and not batch_figures(r)
    assert r.details["batch_status"].startswith("skipped: a try past the cap")


@pytest.mark.slow
def test_a_compiled_mode_compiles_each_batch_afresh(oom_suite):
    # every try resets dynamo: one compile per batch, never a recompile (or a dynamic-shape graph)
    r = worker.measure_case(replace(oom_spec(oom_suite), mode="default", batch_search_budget_s=300), passes=LEAN)
    assert r.status == STATUS_OK and r.details["batch_status"] == "ok"
    assert r.metric("max_batch").value == 24 and r.metric("throughput_at_batch_16") is not None
