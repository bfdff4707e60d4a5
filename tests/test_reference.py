"""Where the float64 reference is built (--reference), eager cases judged against a CPU one, and
the numerics suite catching a planted MPS-like fault (an in-place write into a non-contiguous
float32 tensor that silently does nothing)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_cli

torch = pytest.importorskip("torch")

from perfwatch.collectors.accuracy import judge_eager, labels, same  # noqa: E402
from perfwatch.domain.config import load_config  # noqa: E402
from perfwatch.domain.errors import ConfigError  # noqa: E402
from perfwatch.domain.results import CaseSpec  # noqa: E402
from perfwatch.domain.vocab import resolve_reference  # noqa: E402
from perfwatch.measure import runner, worker  # noqa: E402
from perfwatch.suites import BUILTIN, load_suite  # noqa: E402
from perfwatch.suites.base import Tolerance  # noqa: E402

FAULT_SUITE = str(REPO / "tests" / "data" / "numerics_fault_suite.py")
# the hand-written Adam and torch.optim's single-tensor Adam both call addcmul_ and lerp_ on
# transposed state; the foreach one does not (its _foreach_ kernels are another code path)
FAULTED = "adam_transposed,adam_single"
RUN = ["run", "--suite", FAULT_SUITE, "--backend", "cpu", "--modes", "eager", "--benchmarks", FAULTED,
       "--min-time", "0.05", "--no-detect", "--json"]
# one case, where what is checked is where the reference is built, not which benchmarks the fault reaches
ONE = [a if a != FAULTED else "adam_transposed" for a in RUN]


def _cases(res) -> dict[str, dict]:
    doc = json.loads(res.stdout)
    return {c["spec"]["benchmark"]: c for c in doc["cases"]}


# --- the setting: resolved, validated, plumbed ------------------------------------------------------

def test_auto_is_the_device_where_it_has_float64_else_the_cpu():
    assert resolve_reference("auto", "cpu") == "device"
    assert resolve_reference("auto", "cuda") == "device"
    assert resolve_reference("auto", "mps") == "cpu"  # MPS has no float64
    assert resolve_reference("cpu", "cuda") == "cpu" and resolve_reference("device", "mps") == "device"
    with pytest.raises(ValueError):
        resolve_reference("gpu", "cpu")


def test_config_env_and_file_set_it_and_a_bad_value_is_refused(tmp_path, monkeypatch):
    assert load_config(cwd=tmp_path).reference == "auto"
    (tmp_path / "perfwatch.toml").write_text('reference = "cpu"\n')
    assert load_config(cwd=tmp_path).reference == "cpu"
    monkeypatch.setenv("PERFWATCH_REFERENCE", "device")  # the environment over the file
    assert load_config(cwd=tmp_path).reference == "device"
    assert load_config({"reference": "cpu"}, cwd=tmp_path).reference == "cpu"  # the flag over both
    monkeypatch.setenv("PERFWATCH_REFERENCE", "gpu")
    with pytest.raises(ConfigError, match="PERFWATCH_REFERENCE: reference = 'gpu' is invalid"):
        load_config(cwd=tmp_path)


def test_a_bad_flag_exits_2():
    res = run_cli("run", "--suite", "numerics", "--backend", "cpu", "--reference", "gpu")
    assert res.returncode == 2 and "--reference" in res.stderr and "invalid choice" in res.stderr


def test_the_plan_stores_the_resolved_placement():
    def plan(reference):
        req = runner.RunRequest(suite="numerics", backend="cpu", modes=("eager",), benchmarks=("adam_transposed",),
                                reference=reference)
        return runner.plan(req, load_config()).specs[0]

    assert plan("auto").reference == "device"
    assert plan("cpu").reference == "cpu"
    assert CaseSpec.from_dict({k: v for k, v in plan("cpu").to_dict().items() if k != "reference"}).reference == "auto"


# --- judging an eager case against the CPU's float64 ---------------------------------------------

def test_judge_eager_names_the_output_that_is_off():
    ref = [[torch.ones(4, dtype=torch.float64), torch.full((3,), 2.0, dtype=torch.float64)]]
    good = [[t + 1e-7 for t in ref[0]]]
    stuck = [[ref[0][0], torch.zeros(3, dtype=torch.float64)]]  # the second output never written
    names = labels({"param": torch.ones(4), "exp_avg_sq": torch.ones(3)})
    assert names == ["exp_avg_sq", "param"]  # flatten's order: dicts by key
    names = ["param", "exp_avg_sq"]
    assert judge_eager(good, ref, Tolerance(), names, "mps").passed
    v = judge_eager(stuck, ref, Tolerance(), names, "mps")
    assert not v.passed and "exp_avg_sq (step 1) on mps" in v.reason and "built on the CPU" in v.reason
    assert labels((torch.ones(1), [torch.ones(1)])) == ["[0]", "[1][0]"] and labels(torch.ones(1)) == [""]
    assert same(ref, [[t.clone() for t in ref[0]]]) and not same(ref, good)


def _measure(benchmark: str, reference: str, suite: str = "numerics"):
    bench = load_suite(suite).get(benchmark)
    spec = CaseSpec(suite=suite, benchmark=benchmark, mode="eager", backend="cpu", size="tiny",
                    params=dict(bench.params), min_time_s=0.01, min_samples=3, reference=reference)
    return worker.measure_case(spec)


def test_device_placement_does_not_judge_eager():
    r = _measure("inplace_transposed", "device")
    assert r.status == "ok" and r.details["reference"] == "device" and r.details["fp64_reference_device"] == "cpu"
    assert "not judged" in r.details["accuracy"] and r.metric("accuracy_pass") is None
    assert r.metric("accuracy_fp64_max_abs_error") is not None  # the distance is still recorded


@pytest.mark.parametrize("benchmark", load_suite("numerics").names)
def test_every_numerics_benchmark_passes_eager_against_a_cpu_reference(benchmark):
    r = _measure(benchmark, "cpu")
    assert r.status == "ok", r.error
    assert r.details["fp64_reference_device"] == "cpu" and r.metric("accuracy_pass").value == 1.0


def test_numerics_is_registered():
    assert "numerics" in BUILTIN and len(load_suite("numerics").names) == 8


# --- the planted fault, end to end through the CLI and a worker process -----------------------------

def test_a_planted_fault_is_an_accuracy_fail_with_the_output_named(sqlite_url):
    res = run_cli(*RUN, "--reference", "cpu", "--db", sqlite_url)
    assert res.returncode == 3, res.stderr  # cases failed (EXIT_CASES_FAILED)
    cases = _cases(res)
    for name in FAULTED.split(","):
        case = cases[name]
        assert case["status"] == "accuracy_fail", case
        assert "from the float64 reference built on the CPU" in case["error"]
        assert "exp_avg" in case["error"]  # the stuck state, by name
        assert case["details"]["reference"] == "cpu" and case["details"]["fp64_reference_device"] == "cpu"
        assert {m["name"]: m["value"] for m in case["metrics"]}["accuracy_pass"] == 0.0


def test_without_the_fault_the_same_suite_passes(sqlite_url):
    res = run_cli(*RUN, "--reference", "cpu", "--db", sqlite_url, env={"NUMERICS_FAULT": "0"})
    assert res.returncode == 0, res.stderr + res.stdout
    for case in _cases(res).values():
        assert case["status"] == "ok" and case["details"]["fp64_reference_device"] == "cpu"


def test_the_auto_default_on_cpu_keeps_eager_unjudged(sqlite_url):
    # auto is the device on a CPU run: the fault goes unseen by eager, as every CPU run before --reference
    res = run_cli(*ONE, "--db", sqlite_url, env={"PERFWATCH_REFERENCE": ""})
    assert res.returncode == 0, res.stderr + res.stdout
    for case in _cases(res).values():
        assert case["status"] == "ok" and case["spec"]["reference"] == "device"
        assert case["details"]["reference"] == "device" and "not judged" in case["details"]["accuracy"]


def test_the_environment_variable_reaches_the_worker(sqlite_url):
    res = run_cli(*ONE, "--db", sqlite_url, env={"PERFWATCH_REFERENCE": "cpu"})
    assert res.returncode == 3 and all(c["status"] == "accuracy_fail" for c in _cases(res).values())


@pytest.mark.slow
def test_compiled_numerics_pass_against_eager_and_the_cpu_reference():
    torch._dynamo.reset()
    for benchmark in ("inplace_transposed", "adam_transposed"):
        bench = load_suite("numerics").get(benchmark)
        spec = CaseSpec(suite="numerics", benchmark=benchmark, mode="default", backend="cpu", size="tiny",
                        params=dict(bench.params), min_time_s=0.01, min_samples=3, reference="cpu")
        r = worker.measure_case(spec)
        assert r.status == "ok", r.error
        assert r.metric("accuracy_pass").value == 1.0
    torch._dynamo.reset()
