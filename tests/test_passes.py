"""The worker's table of passes: what each declares, in what order, and what a failure means."""

from __future__ import annotations

import ast
import json
from dataclasses import replace

import pytest
from conftest import REPO

from perfwatch.collectors.base import CaseContext, Collector
from perfwatch.domain.metrics import CATALOGUE, METRICS
from perfwatch.domain.results import STATUS_OK, CaseSpec, Metric, WorkerResult
from perfwatch.measure import worker
from perfwatch.measure.passes import BUILT, FAILS_CASE, FRESH, PASSES, SECONDARY, Pass, passes_for

SUITE = str(REPO / "tests" / "data" / "fault_suite.py")
NAMES = [p.name for p in PASSES]


def spec(benchmark="add", mode="eager", **kw) -> CaseSpec:
    return CaseSpec(suite=SUITE, benchmark=benchmark, mode=mode, backend="cpu", size="tiny", suite_source=SUITE,
                    min_time_s=0.01, **kw)


@pytest.mark.parametrize("p", PASSES, ids=NAMES)
def test_every_metric_a_pass_declares_is_in_the_catalogue_as_its_own(p):
    collector = p.collector()
    assert collector.name == p.name  # <name>_status and produced_by both say the pass
    for name in collector.produces:
        assert name in METRICS, f"{p.name} declares {name}, which the catalogue lacks"
        assert METRICS[name].produced_by == p.name, f"{name}: catalogue says {METRICS[name].produced_by!r}"


def test_every_catalogued_pass_metric_is_declared_by_that_pass():
    declared = {p.name: set(p.collector().produces) for p in PASSES}
    for m in CATALOGUE:
        if m.produced_by in declared:
            assert m.name in declared[m.produced_by], f"{m.name} is catalogued for {m.produced_by}, which never records it"


def test_the_order_is_the_method():
    assert NAMES == ["build", "timing", "pipeline", "memory", "uvm", "profile", "accuracy", "graph", "batch"]
    assert len(set(NAMES)) == len(NAMES)
    first_fresh = next(i for i, p in enumerate(PASSES) if FRESH in p.needs)
    # the timed build is released before the first fresh build: no pass may step it afterwards
    assert not any(BUILT in p.needs for p in PASSES[first_fresh:])
    for p in PASSES:
        if p.spans:
            assert NAMES.index(p.spans) > NAMES.index(p.name)
    assert [p.name for p in PASSES if p.on_failure == FAILS_CASE] == ["build", "timing"]
    assert {p.name for p in PASSES if p.on_failure == SECONDARY} == {"pipeline", "memory", "uvm", "profile", "graph", "batch"}
    assert [p.name for p in passes_for(timing_only=True)] == ["build", "timing"]


def test_metrics_a_case_records_are_declared_by_its_passes():
    result = worker.measure_case(spec())
    declared = {n for p in PASSES for n in p.collector().produces}
    assert result.status == STATUS_OK and result.metric("step_time") is not None
    assert {m.name for m in result.metrics} <= declared
    assert [m.name for m in result.metrics][:2] == ["first_call_time", "step_time"]  # table order


class _Exploding(Collector):
    name = "memory"

    def run(self, ctx: CaseContext) -> None:
        ctx.call()
        raise RuntimeError("the sampler broke")


def test_a_failed_secondary_pass_is_a_status_and_the_case_goes_on():
    table = PASSES[:2] + (Pass("memory", _Exploding, frozenset({BUILT})),) + PASSES[NAMES.index("accuracy"):]
    result = worker.measure_case(spec(), passes=table)
    assert result.status == STATUS_OK
    assert result.details["memory_status"] == "failed: RuntimeError: the sampler broke"
    assert result.metric("step_time") is not None and result.metric("accuracy_fp64_max_abs_error") is not None


def test_a_failed_primary_pass_fails_the_case_with_its_phase():
    with pytest.raises(worker.CaseFailed) as boom:
        worker.measure_case(spec("boom"))
    assert boom.value.status == "error" and str(boom.value).startswith("build: RuntimeError: boom")
    with pytest.raises(worker.CaseFailed) as oom:
        worker.measure_case(spec("oom"))
    assert oom.value.status == "oom" and str(oom.value).startswith("first call: OutOfMemoryError")


def test_an_accuracy_verdict_keeps_the_figures_and_sets_the_status():
    result = worker.measure_case(spec("wrong", mode="default"))
    assert result.status == "accuracy_fail" and "from eager" in result.error
    assert result.metric("accuracy_pass").value == 0.0 and result.metric("step_time") is not None


def test_worker_result_is_the_result_files_json(tmp_path):
    res = WorkerResult("ok", None, (Metric("step_time", 1.5, "ms", samples=(1.0, 2.0)),), {"threads": 2})
    doc = json.loads(json.dumps(res.to_dict()))
    assert set(doc) == {"status", "error", "metrics", "details"}
    assert doc["metrics"][0]["samples"] == [1.0, 2.0]
    assert WorkerResult.from_dict(doc) == res
    # the worker's process writes it, the runner reads it
    spec_file, result_file = tmp_path / "spec.json", tmp_path / "result.json"
    spec_file.write_text(json.dumps(spec("boom").to_dict()))
    assert worker.main(["worker", str(spec_file), str(result_file)]) == 0
    failed = WorkerResult.from_dict(json.loads(result_file.read_text()))
    assert failed.status == "error" and failed.metrics == () and "boom" in failed.details["traceback"]


def test_compile_options_of_the_spec_reach_torch_compile():
    from perfwatch import api
    from perfwatch.suites import load_suite

    case = CaseSpec(suite="dynamic", benchmark="graph_break", mode="default", backend="cpu", size="tiny",
                    params=dict(load_suite("dynamic").get("graph_break").params), compile_options={"backend": "eager"})
    ctx = CaseContext(case, load_suite("dynamic").get("graph_break"))
    assert dict(ctx.bench_context().compile_options) == {"backend": "eager"}
    import torch

    torch._dynamo.reset()  # compiled code is cached per code object: an earlier test's would be reused
    strict = api.build_case(replace(case, compile_options={"backend": "eager", "fullgraph": True}))
    with pytest.raises(Exception, match="(?i)graph break|unsupported|data-dependent"):
        strict()
    torch._dynamo.reset()
    api.build_case(case)()  # the same without fullgraph: breaks the graph and runs on


def test_build_case_is_the_workers_build():
    from perfwatch import api

    call = api.build_case(spec())
    assert call().shape == (64,)
    with pytest.raises(worker.CaseFailed, match="does not run on cpu") as unsupported:
        api.build_case(CaseSpec(suite="uvm", benchmark="managed", mode="eager", backend="cpu", size="tiny"))
    assert unsupported.value.status == "unsupported"


@pytest.mark.parametrize("script", ["fidelity.py", "noise.py", "uvm_graph_probe.py"])
def test_measuring_scripts_use_only_the_public_api(script):
    tree = ast.parse((REPO / "benchmarks" / script).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    private = [m for m in imported if m.startswith("perfwatch") and m != "perfwatch"]
    assert not private, f"{script} imports {private}: scripts use perfwatch.api"
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
             and n.value.id == "api"}
    from perfwatch import api

    assert attrs <= set(api.__all__), f"{script} uses {attrs - set(api.__all__)} outside perfwatch.api"
