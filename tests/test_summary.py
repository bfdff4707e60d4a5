"""The end-of-run summary table and the pull-request report: graph columns only where a case has graph_time."""

from perfwatch.domain.results import STATUS_OK, CaseResult, CaseSpec, Metric
from perfwatch.cli.summary import summary_table


def _case(mode: str, step: float, graph: float | None = None) -> CaseResult:
    metrics = [Metric("step_time", step, "ms", "lower_is_better", spread=0.5)]
    if graph is not None:
        metrics.append(Metric("graph_time", graph, "ms", "lower_is_better"))
    spec = CaseSpec(suite="llm", benchmark="train", mode=mode, backend="cuda", size="small")
    return CaseResult(case_id=mode, run_id="r", spec=spec, status=STATUS_OK, metrics=tuple(metrics))


def test_graph_column_appears_only_when_a_case_has_graph_time():
    plain = summary_table([_case("eager", 10.3), _case("reduce-overhead", 4.15)])
    assert "graph ms" not in plain.splitlines()[0]
    table = summary_table([_case("eager", 10.3, graph=1.9077), _case("reduce-overhead", 4.15)])
    header, _, eager, compiled = table.splitlines()
    assert header.split()[:7] == ["benchmark", "mode", "status", "step", "ms", "(IQR", "%)"]
    assert header.split()[7] == "graph"
    assert eager.split()[4:6] == ["(IQR", "4.9%)"]  # the spread as a share of the median
    assert eager.split()[6] == "1.91"  # in the graph column, three significant figures
    assert compiled.split()[6] == "-"  # no graph replay for the compiled case


def test_peak_memory_column_shows_the_backends_own_peak():
    def case(backend, *metrics):
        spec = CaseSpec(suite="llm", benchmark="train", mode="eager", backend=backend, size="small")
        return CaseResult(case_id=backend, run_id="r", spec=spec, status=STATUS_OK,
                          metrics=tuple(Metric(n, v, "bytes", "lower_is_better") for n, v in metrics))

    mib = 1024 ** 2
    table = summary_table([case("mps", ("peak_mps_allocated", 5 * mib), ("peak_mps_driver_allocated", 9 * mib)),
                           case("cuda", ("peak_memory_reserved", 7 * mib), ("peak_memory_allocated", 3 * mib)),
                           case("cpu", ("peak_rss", 2 * mib))])
    mps, cuda, cpu = table.splitlines()[2:]
    assert mps.endswith("9.0 MiB") and cuda.endswith("3.0 MiB") and cpu.endswith("2.0 MiB")


def _report(cases):
    run = {"suite": "llm", "backend": "cuda", "hostname": "gpu-1", "run_id": "r2", "git_sha": "abc", "torch_version": "2.11"}
    return {"run": run, "baseline": "r1", "cases": cases, "regressions": [], "failed": []}


def test_report_sets_graph_time_against_the_baseline_when_there_is_one():
    from perfwatch.analysis.report import to_markdown

    eager = {"benchmark": "train", "mode": "eager", "status": "ok", "error": None,
             "metrics": {"step_time": 10.3, "graph_time": 2.3},
             "step_time_change": 0.04, "step_time_verdict": "same", "graph_time_change": 0.2, "graph_time_verdict": "regression"}
    compiled = {"benchmark": "train", "mode": "reduce-overhead", "status": "ok", "error": None,
                "metrics": {"step_time": 4.15, "speedup_vs_eager": 2.48},
                "step_time_change": None, "step_time_verdict": None, "graph_time_change": None, "graph_time_verdict": None}
    md = to_markdown(_report([eager, compiled]))
    assert "| benchmark | mode | status | step ms | vs baseline | detectable | graph ms | vs baseline | vs eager |" in md
    assert "| train | eager | ok | 10.3 | +4.0% | - | 2.3 | +20.0% 🔴 | - |" in md
    assert "| train | reduce-overhead | ok | 4.15 |  | - | - |  | 2.48x |" in md
    plain = to_markdown(_report([compiled]))
    assert "graph ms" not in plain  # no CUDA-graph figure in the run: no column


def test_a_case_that_missed_its_precision_is_marked_in_the_run_table():
    from perfwatch.cli.summary import summary_table
    from perfwatch.domain.results import CaseResult, CaseSpec, Metric

    spec = CaseSpec(suite="s", benchmark="b", mode="eager", backend="cpu", size="tiny")
    step = Metric("step_time", 2.0, "ms", spread=0.5)
    loose = CaseResult("c1", "r", spec, "ok", (step,), details={"timing": {"precision_met": False}})
    tight = CaseResult("c2", "r", spec, "ok", (step,), details={"timing": {"precision_met": True}})
    assert "2 (IQR 25%)*" in summary_table([loose]) and "missed --precision" in summary_table([loose])
    assert "*" not in summary_table([tight])
