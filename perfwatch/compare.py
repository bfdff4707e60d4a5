"""Two runs side by side: per case and metric, the change and whether it is significant.

Significance comes from the stored raw samples (Mann-Whitney U, as Google benchmark's
compare.py and pyperf's compare_to judge timings); counters compare exactly; figures without
samples (compile time, memory) report the change and no p-value.
"""

from __future__ import annotations

from typing import Any

from perfwatch.store import queries

DEFAULT_METRICS = ("step_time", "throughput", "compile_time", "graph_breaks", "recompilations",
                   "peak_memory_allocated", "peak_rss", "accuracy_pass")


def _samples_by_case(engine, run_id: str) -> dict[tuple[str, str], list[float]]:
    from sqlalchemy import select

    from perfwatch.store.models import Case, Sample

    stmt = select(Case.benchmark, Case.mode, Case.params_key, Sample.metric, Sample.values).join(Sample, Sample.case_id == Case.id) \
        .where(Case.run_id == run_id)
    return {(r["benchmark"], r["mode"], r["params_key"], r["metric"]): list(r["values"] or [])
            for r in queries._read(engine, stmt)}


def compare_runs(engine, run_a: str, run_b: str, metrics: tuple[str, ...] | None = DEFAULT_METRICS,
                 alpha: float = 0.01, min_effect: float = 0.02) -> list[dict[str, Any]]:
    from perfwatch.detect.model import classify, relative_change
    from perfwatch.stats import mann_whitney_u

    def index(run_id):
        return {(r["benchmark"], r["mode"], _pkey(r), r["metric"]): r for r in queries.export_records(engine, [run_id])
                if r["metric"] and (metrics is None or r["metric"] in metrics)}

    a, b = index(run_a), index(run_b)
    sa, sb = _samples_by_case(engine, run_a), _samples_by_case(engine, run_b)
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        va, vb = ra["value"], rb["value"]
        change = relative_change(va, vb)
        pvalue = None
        if key in sa and key in sb:
            pvalue = mann_whitney_u(sa[key], sb[key])
            significant = pvalue <= alpha and abs(change) >= min_effect
        elif ra["unit"] in ("count", "bool"):
            significant = va != vb
        else:
            significant = abs(change) >= max(min_effect, 0.05)
        verdict = "same" if not significant or va == vb else classify(va, vb, ra["direction"])
        rows.append({"benchmark": key[0], "mode": key[1], "params": ra.get("params"), "metric": key[3],
                     "unit": ra["unit"], "direction": ra["direction"], "a": va, "b": vb, "change": change,
                     "pvalue": pvalue, "significant": significant, "verdict": verdict,
                     "status_a": ra["status"], "status_b": rb["status"]})
    return rows


def _pkey(r: dict[str, Any]) -> str:
    import json

    return json.dumps(r.get("params") or {}, sort_keys=True, separators=(",", ":"))
