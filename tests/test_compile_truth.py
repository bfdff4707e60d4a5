"""Issue 16, compile-time truth: every compile record counts (the backward's too), phases add up,
each compiled case compiles over its own empty caches, and a warm build over them hits them."""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import replace

import pytest
import torch
from conftest import REPO

from perfwatch.analysis.report import compile_growth
from perfwatch.collectors import torch_compat as tc
from perfwatch.collectors.compile import CompileWatch, cpu_between, process_tree_cpu
from perfwatch.domain import metrics as catalogue
from perfwatch.domain.results import STATUS_OK, CaseSpec
from perfwatch.domain.series import series_key
from perfwatch.measure import compile_cache, runner
from perfwatch.measure.passes import passes_for

SUITE = str(REPO / "tests" / "data" / "compile_suite.py")


def _spec(**kw) -> CaseSpec:
    base = dict(suite="compiletruth", benchmark="train", mode="default", backend="cpu", size="tiny",
                suite_source=SUITE, min_time_s=0.05, min_samples=3, accuracy=False, warm_compile=True)
    base.update(kw)
    return CaseSpec(**base)


# --- pure: phases and records ------------------------------------------------------------------

FWD = {"compile_id": "0/0", "is_forward": True, "is_runtime": False, "duration_us": 10_000_000,
       "entire_frame_compile_time_s": 10.0, "backend_compile_time_s": 8.0, "inductor_compile_time_s": 6.0,
       "code_gen_time_s": 4.0, "compile_time_autotune_time_us": 1_500_000}
BWD = {"compile_id": "0/0", "is_forward": False, "is_runtime": False, "duration_us": 5_000_000,
       "entire_frame_compile_time_s": None, "backend_compile_time_s": None, "inductor_compile_time_s": 4.5,
       "code_gen_time_s": 4.0}
RUN = {"compile_id": "0/0", "is_forward": True, "is_runtime": True, "duration_us": 700_000,
       "runtime_triton_autotune_time_us": 200_000}


@pytest.mark.parametrize("rec", [FWD, BWD, RUN], ids=["forward", "backward", "runtime"])
def test_phases_add_up_to_each_record(rec):
    phases = tc.record_phases(rec)
    assert set(phases) == set(catalogue.COMPILE_PHASES)
    assert all(v >= 0 for v in phases.values())
    assert math.isclose(sum(phases.values()), tc.record_total_s(rec), abs_tol=1e-9)


def test_the_backward_record_is_counted_with_no_frame_time():
    # the backward has no entire-frame time: summing that field alone (the old compile_time) lost it
    assert tc.record_total_s(BWD) == 5.0 and tc.record_kind(BWD) == "backward"
    assert tc.record_phases(BWD)["compile_time_aot"] == pytest.approx(0.5)
    assert tc.record_phases(FWD)["compile_time_autotune"] == 1.5
    assert tc.record_phases(RUN)["compile_time_autotune"] == pytest.approx(0.2)


def test_records_are_no_longer_pushed_out_by_runtime_events():
    from torch._dynamo import utils as dynamo_utils

    tc.reset()
    for i in range(100):  # more than torch's 64: reduce-overhead's CUDA-graph recordings did this
        dynamo_utils._compilation_metrics.append(dynamo_utils.CompilationMetrics(compile_id=f"{i}/0", is_runtime=True))
    assert len(tc.compilation_records()) == 100
    assert tc.compilation_records()[0]["compile_id"] == "0/0"
    tc.reset()


def test_process_tree_cpu_counts_a_reaped_child():
    import subprocess
    import sys

    a = process_tree_cpu()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert cpu_between(a, process_tree_cpu()) > 0.05  # the child's work, not only ours


def test_build_only_spec_runs_the_build_pass_alone():
    assert [p.name for p in passes_for(False, build_only=True)] == ["build"]
    s = compile_cache.build_spec(_spec(profile_dir="/tmp/x", compile_instructions=True))
    assert s.build_only and not s.accuracy and not s.warm_compile and not s.compile_instructions and s.profile_dir is None


def test_callgrind_totals_are_read(tmp_path):
    (tmp_path / "cg.out").write_text("events: Ir\nfn=x\n1 5\ntotals: 12345\n")
    (tmp_path / "cg.out.2").write_text("events: Ir\nsummary: 5\n")
    assert compile_cache.callgrind_total(str(tmp_path / "cg.out")) == 12350


# --- the definition changed: old histories are other series ------------------------------------

def _v1_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def test_redefined_compile_metrics_start_new_series():
    parts = ("fp", "llm", "train", "default", "cuda", "float32", "{}")
    for name in ("compile_time", "first_call_time", "compile_time_inductor", "compile_time_codegen"):
        assert catalogue.version(name) >= 2
        assert series_key(*parts, name) != _v1_key(*parts, name), name  # never compared with the old history
    for name in ("step_time", "graph_breaks", "recompilations", "peak_rss"):
        assert series_key(*parts, name) == _v1_key(*parts, name), name  # unchanged definitions keep their history


# --- report: which phase and graph grew ----------------------------------------------------------

def test_report_names_the_phase_and_graph_that_grew():
    before = {"compile_time": 10.0, "compile_time_inductor": 3.0, "compile_time_codegen": 5.0, "compile_time_dynamo": 2.0}
    after = {"compile_time": 14.0, "compile_time_inductor": 3.2, "compile_time_codegen": 8.6, "compile_time_dynamo": 2.2}
    bd = {"compile_by_graph": {"forward": {"compile_time": 7.0, "compile_time_codegen": 3.0},
                               "backward": {"compile_time": 3.0, "compile_time_codegen": 2.0}}}
    ad = {"compile_by_graph": {"forward": {"compile_time": 7.4, "compile_time_codegen": 3.1},
                               "backward": {"compile_time": 6.6, "compile_time_codegen": 5.5}}}
    g = compile_growth(before, after, bd, ad)
    assert g["phase"] == "compile_time_codegen" and g["graph"] == "backward"
    assert g["change"] == pytest.approx(0.4)
    assert "codegen" in g["text"] and "backward" in g["text"]
    assert compile_growth({"compile_time": 10.0}, {"compile_time": 9.0}, {}, {}) is None


# --- real compiles -------------------------------------------------------------------------------

@pytest.mark.slow
def test_compile_time_is_the_sum_of_every_record_backward_included():
    from torch._inductor.utils import fresh_cache

    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    x = torch.randn(2, 4)
    with fresh_cache():  # cold: an AOTAutograd cache hit would load the backward with the forward
        with CompileWatch() as watch:
            f = torch.compile(m)
            f(x).sum().backward()
            f(x).sum().backward()
        records = tc.compilation_records()
    kinds = [tc.record_kind(r) for r in records]
    assert "backward" in kinds and "forward" in kinds
    got = {x.name: x.value for x in watch.metrics()}
    total = sum(tc.record_total_s(r) for r in records)
    assert got["compile_time"] == pytest.approx(total)
    bwd = sum(tc.record_total_s(r) for r in records if tc.record_kind(r) == "backward")
    assert bwd > 0 and got["compile_time"] > sum(r.get("entire_frame_compile_time_s") or 0 for r in records)
    assert sum(got[p] for p in catalogue.COMPILE_PHASES) == pytest.approx(got["compile_time"])
    by_graph = watch.details()["compile_by_graph"]
    assert by_graph["backward"]["records"] >= 1
    assert got["compile_cpu_time"] > 0 and watch.details()["compile_windows"]["count"] >= 2  # forward + lazy backward


@pytest.mark.slow
def test_cold_compiles_are_isolated_and_the_warm_build_hits_their_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFWATCH_COMPILE_CACHE", raising=False)  # the default: caches of its own (conftest shares one)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the case's cache folders land here
    plan = runner.plan(runner.RunRequest(suite=SUITE, backend="cpu", modes=("default",), size="tiny",
                                         accuracy=False), _config())
    spec = replace(plan.specs[0], min_time_s=0.05, min_samples=3)
    assert spec.warm_compile  # on by default for compiled modes
    cases = [runner.run_case(plan, spec, "r", 600) for _ in range(2)]
    for case in cases:
        assert case.status == STATUS_OK, case.error
        cold = case.details["compile_cache"]
        assert cold["fxgraph_cache_hit"] == 0 and cold["fxgraph_cache_miss"] > 0  # never the other run's cache
        assert cold["aotautograd_cache_hit"] == 0
        kinds = case.details["compile_by_graph"]
        assert "backward" in kinds
        m = {x.name: x.value for x in case.metrics}
        assert m["compile_time"] == pytest.approx(sum(k["compile_time"] for k in kinds.values()), abs=1e-3)
        assert m["compile_cache_hits_warm"] > 0 and m["compile_cache_misses_warm"] == 0
        assert "compile_time_warm" in m and "first_call_time_warm" in m and "compile_cpu_time_warm" in m
    assert not list(tmp_path.glob("perfwatch-case-*"))  # every case's caches (and case folders) are removed


def _config():
    from perfwatch.domain.config import Config

    return Config()


@pytest.mark.slow
def test_no_warm_compile_skips_the_warm_build(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    plan = runner.plan(runner.RunRequest(suite=SUITE, backend="cpu", modes=("default",), size="tiny",
                                         accuracy=False, warm_compile=False), _config())
    spec = replace(plan.specs[0], min_time_s=0.05, min_samples=3)
    case = runner.run_case(plan, spec, "r", 600)
    assert case.status == STATUS_OK, case.error
    assert case.metric("compile_time") is not None and case.metric("compile_time_warm") is None


# --- the store: old history apart, report and dashboard frames ------------------------------------

def _store_two_runs(url: str, old_def: bool = False):
    from perfwatch.domain.results import CaseResult, Metric, RunInfo
    from perfwatch.store import writes
    from perfwatch.store.engine import make_engine
    from perfwatch.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    figures = [
        ("20261201-100000-aaaaaa", {"compile_time": 10.0, "compile_time_codegen": 5.0, "compile_time_inductor": 3.0,
                                    "compile_time_dynamo": 2.0, "compile_time_warm": 2.0},
         {"forward": {"compile_time": 7.0}, "backward": {"compile_time": 3.0}}),
        ("20261202-100000-bbbbbb", {"compile_time": 14.0, "compile_time_codegen": 8.6, "compile_time_inductor": 3.2,
                                    "compile_time_dynamo": 2.2, "compile_time_warm": 2.1},
         {"forward": {"compile_time": 7.4}, "backward": {"compile_time": 6.6}}),
    ]
    for i, (run_id, figs, by_graph) in enumerate(figures):
        run = RunInfo(run_id=run_id, created_at=f"2026-12-0{i + 1}T10:00:00+00:00", suite="compiletruth",
                      backend="cpu", size="tiny", machine_fingerprint="fp", hostname="h",
                      environment={"torch_version": "2.13.0"})
        writes.write_run(engine, run)
        case = CaseResult(case_id=f"c{i}", run_id=run_id, spec=_spec(), status=STATUS_OK,
                          metrics=tuple(Metric(k, v, "s") for k, v in figs.items()) + (Metric("step_time", 1.0, "ms"),),
                          details={"compile_by_graph": by_graph}, started_at=run.created_at, duration_s=1.0)
        writes.write_case(engine, run, case)
        writes.finish_run(engine, run, run.created_at, 1, 0)
    return engine, [f[0] for f in figures]


def test_report_and_dashboard_name_the_phase_and_graph_that_grew(sqlite_url):
    from perfwatch.analysis import frames
    from perfwatch.analysis.report import build_report, to_markdown

    engine, (r1, r2) = _store_two_runs(sqlite_url)
    rep = build_report(engine, r2, baseline=r1)
    grew = rep["cases"][0]["compile_growth"]
    assert grew["phase"] == "compile_time_codegen" and grew["graph"] == "backward"
    md = to_markdown(rep)
    assert "compile: codegen (backward graph)" in md
    growth = frames.compile_phase_growth(engine, r2, r1)
    top = growth.iloc[0]
    assert top["what"] == "compile: codegen" and top["grew_s"] == pytest.approx(3.6)
    assert ((growth["where"] == "graph") & (growth["what"] == "backward")).any()
    cw = frames.cold_vs_warm(engine, r2)
    assert cw.loc[0, "compile_time"] == 14.0 and cw.loc[0, "compile_time_warm"] == 2.1
    assert cw.loc[0, "warm_over_cold"] == pytest.approx(2.1 / 14.0)


def test_a_compile_time_of_the_new_definition_starts_its_own_series(sqlite_url):
    """Every compile figure of the runs above is in a version-2 series: none shares its key with the
    version-1 history a store holds from before issue 16, so the detector never sees the jump."""
    from perfwatch.store import history

    engine, _ = _store_two_runs(sqlite_url)
    ct = history.find_series(engine, benchmark="train", mode="default", metric="compile_time")
    assert len(ct) == 1
    parts = ("fp", "compiletruth", "train", "default", "cpu", "float32")
    keys = {s["key"] for s in ct} if "key" in ct[0] else None
    if keys is not None:
        assert all(k != _v1_key(*parts, pk, "compile_time") for k in keys for pk in ("{}", '{"_size":"tiny"}'))
