"""Two runs side by side: per case and metric, the change and whether it is significant.

A p-value comes from the replication that varies between runs: fresh processes. Where both runs
timed a case in several processes (``--processes N``), their process medians go through Welch's
t-test on a log scale. The thousands of samples of one process are not independent replicates of a
run (they share its process-level offset), so they never make a p-value: compared on samples, two
runs of the same code look "different" at p=1e-183. Where the replication is too thin (one process
per run; compile time, memory), the change is shown as ``untested`` when it exceeds min_effect,
never called a regression. Exact counters (graph breaks, recompilations, accuracy) compare exactly.
For a decision from one job, use ``perfwatch ab`` (docs/verdict.md).
"""

from __future__ import annotations

from typing import Any

from perfwatch.domain import metrics as catalogue
from perfwatch.store import queries
from perfwatch.domain.series import params_key

DEFAULT_METRICS = catalogue.names(headline=True)  # the catalogue's headline figures


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test on the logs of ``a`` and ``b`` (each >= 2 positive values)."""
    import math
    import statistics

    from perfwatch.domain.tdist import t_two_sided

    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    diff = statistics.fmean(lb) - statistics.fmean(la)
    if va + vb == 0:
        return 0.0 if diff else 1.0
    df = (va + vb) ** 2 / ((va ** 2 / (len(la) - 1)) + (vb ** 2 / (len(lb) - 1)))
    return t_two_sided(diff / math.sqrt(va + vb), df)


def compare_runs(engine, run_a: str, run_b: str, metrics: tuple[str, ...] | None = DEFAULT_METRICS,
                 alpha: float = 0.01, min_effect: float = 0.02) -> list[dict[str, Any]]:
    from perfwatch.detect.model import classify, relative_change

    def index(run_id):
        return {(r["benchmark"], r["mode"], params_key(r.get("params")), r["metric"]): r
                for r in queries.export_records(engine, [run_id])
                if r["metric"] and (metrics is None or r["metric"] in metrics)}

    a, b = index(run_a), index(run_b)
    ra_reps, rb_reps = queries.run_replicates(engine, run_a), queries.run_replicates(engine, run_b)
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        va, vb = ra["value"], rb["value"]
        change = relative_change(va, vb)
        pvalue, test = None, "untested"
        reps_a, reps_b = ra_reps.get((*key[:3], key[3])), rb_reps.get((*key[:3], key[3]))
        if catalogue.spec(ra["metric"], ra["unit"]).exact:
            test, significant = "exact", va != vb
        elif reps_a and reps_b and len(reps_a) >= 2 and len(reps_b) >= 2:
            test, pvalue = "processes", welch(reps_a, reps_b)
            significant = pvalue <= alpha and abs(change) >= min_effect
        else:
            significant = False
        if significant and va != vb:
            verdict = classify(va, vb, ra["direction"])
        elif test == "untested" and abs(change) >= min_effect:
            verdict = "untested"  # a change too large to ignore, with no replication to test it
        else:
            verdict = "same"
        rows.append({"benchmark": key[0], "mode": key[1], "params": ra.get("params"), "metric": key[3],
                     "unit": ra["unit"], "direction": ra["direction"], "a": va, "b": vb, "change": change,
                     "pvalue": pvalue, "test": test, "significant": significant, "verdict": verdict,
                     "status_a": ra["status"], "status_b": rb["status"]})
    return rows
