"""The end-of-run summary: one line per case with the figures people look at first."""

from __future__ import annotations

from perfwatch.domain.metrics import PEAK_MEMORY_BY_BACKEND
from perfwatch.domain.results import CaseResult
from perfwatch.cli.tables import fmt_bytes, fmt_num, render


def _value(case: CaseResult, name: str) -> float | None:
    m = case.metric(name)
    return m.value if m else None


def imprecise(case: CaseResult) -> bool:
    """The case missed its --precision target within --max-time (its step time is marked)."""
    return ((case.details or {}).get("timing") or {}).get("precision_met") is False


def _iqr(st) -> str:
    """The samples' interquartile range as a share of the median: "IQR 3.2%" says how the steps
    scattered at a glance, where "114 ±1.2e+02" misread the whole IQR as a ± bound."""
    if not st.spread or not st.value:
        return ""
    pct = 100 * st.spread / st.value
    return f"(IQR {pct:.2g}%)" if pct < 10 else f"(IQR {pct:.0f}%)"


def case_row(case: CaseResult, graph_column: bool = False) -> list[str]:
    st = case.metric("step_time")
    speedup = _value(case, "speedup_vs_eager")
    peak = case.metric(PEAK_MEMORY_BY_BACKEND.get(case.spec.backend, ""))  # "peak mem": the backend's own peak
    gb = _value(case, "graph_breaks")
    rc = _value(case, "recompilations")
    ct = _value(case, "compile_time")
    graph = _value(case, "graph_time")
    return [
        case.spec.benchmark,
        case.spec.mode,
        case.status,
        f"{fmt_num(st.value)} {_iqr(st)}{'*' if imprecise(case) else ''}" if st else "-",
        *([fmt_num(graph) if graph is not None else "-"] if graph_column else []),
        f"{speedup:.2f}x" if speedup else "-",
        f"{ct:.1f}" if ct is not None else "-",
        "-" if gb is None else str(int(gb)),
        "-" if rc is None else str(int(rc)),
        fmt_bytes(peak.value) if peak else "-",
    ]


def summary_table(cases: list[CaseResult]) -> str:
    # "graph ms": the step replayed as a CUDA graph (graph_time), shown when any case has
    # one: beside a launch-bound step time it says how much of the step is the GPU's own work.
    graph_column = any(c.metric("graph_time") for c in cases)
    headers = ["benchmark", "mode", "status", "step ms (IQR %)", *(["graph ms"] if graph_column else []), "vs eager",
               "compile s", "breaks", "recompiles", "peak mem"]
    table = render(headers, [case_row(c, graph_column) for c in cases], right=tuple(range(3, len(headers))))
    if any(imprecise(c) for c in cases):
        table += "\n* missed --precision within --max-time: its step time cannot raise a regression"
    return table
