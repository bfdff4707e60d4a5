"""Two runs side by side: per case and metric, the change and whether it is significant.

Significance comes from the stored raw samples (Mann-Whitney U, as Google benchmark's
compare.py and pyperf's compare_to judge timings); counters compare exactly; figures without
samples (compile time, memory) report the change and no p-value.
"""

from __future__ import annotations

from typing import Any

from perfwatch.domain import metrics as catalogue
from perfwatch.store import queries
from perfwatch.domain.series import params_key

DEFAULT_METRICS = catalogue.names(headline=True)  # the catalogue's headline figures


def compare_runs(engine, run_a: str, run_b: str, metrics: tuple[str, ...] | None = DEFAULT_METRICS,
                 alpha: float = 0.01, min_effect: float = 0.02) -> list[dict[str, Any]]:
    from perfwatch.detect.model import classify, relative_change
    from perfwatch.domain.sampling import mann_whitney_u

    def index(run_id):
        return {(r["benchmark"], r["mode"], params_key(r.get("params")), r["metric"]): r
                for r in queries.export_records(engine, [run_id])
                if r["metric"] and (metrics is None or r["metric"] in metrics)}

    a, b = index(run_a), index(run_b)
    sa, sb = queries.run_samples(engine, run_a), queries.run_samples(engine, run_b)
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        va, vb = ra["value"], rb["value"]
        change = relative_change(va, vb)
        pvalue = None
        if key in sa and key in sb:
            pvalue = mann_whitney_u(sa[key], sb[key])
            significant = pvalue <= alpha and abs(change) >= min_effect
        elif catalogue.spec(ra["metric"], ra["unit"]).exact:
            significant = va != vb
        else:
            significant = abs(change) >= max(min_effect, 0.05)
        verdict = "same" if not significant or va == vb else classify(va, vb, ra["direction"])
        rows.append({"benchmark": key[0], "mode": key[1], "params": ra.get("params"), "metric": key[3],
                     "unit": ra["unit"], "direction": ra["direction"], "a": va, "b": vb, "change": change,
                     "pvalue": pvalue, "significant": significant, "verdict": verdict,
                     "status_a": ra["status"], "status_b": rb["status"]})
    return rows
