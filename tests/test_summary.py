"""The end-of-run summary table: the columns people read first, and the graph column only on CUDA runs."""

from perfwatch.results import STATUS_OK, CaseResult, CaseSpec, Metric
from perfwatch.summary import summary_table


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
    assert header.split()[:7] == ["benchmark", "mode", "status", "step", "ms", "(±IQR)", "graph"]
    assert eager.split()[5] == "1.91"  # in the graph column, three significant figures
    assert compiled.split()[5] == "-"  # no graph replay for the compiled case
