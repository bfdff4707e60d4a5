"""A run summarized for a pull-request comment (markdown) or a machine (JSON)."""

from __future__ import annotations

import math
from typing import Any

from perfwatch.analysis.findings import group_findings
from perfwatch.domain import metrics as catalogue
from perfwatch.domain.units import figure
from perfwatch.store import history as hist
from perfwatch.store import queries
from perfwatch.store import verdicts as stored_verdicts

# Timings set against the baseline (the catalogue's vs_baseline figures): step time, and on CUDA the eager
# or default-mode step's graph replay (the GPU's share of a launch-bound step, steady where step time is not).
REPORTED = catalogue.names(vs_baseline=True)


# a compiled case's compile time grew when it grew by this much (relative) and by the metric's
# min_abs: then the report names the phase and the graph that grew most
COMPILE_GROWTH = 0.10


def compile_growth(before: dict[str, float], after: dict[str, float], before_details: dict[str, Any],
                   after_details: dict[str, Any]) -> dict[str, Any] | None:
    """Where a case's compile time grew: the phase (catalogue's exclusive compile phases) and the
    graph kind (forward, backward, runtime: ``compile_by_graph`` in the case details) that added
    the most seconds; None when compile_time did not grow."""
    b, a = before.get("compile_time"), after.get("compile_time")
    if not b or a is None or a - b < max(COMPILE_GROWTH * b, catalogue.spec("compile_time").min_abs):
        return None
    grown = {p: after.get(p, 0.0) - before.get(p, 0.0) for p in catalogue.compile_phases() if p in after or p in before}
    phase = max(grown, key=grown.get) if grown else None
    bg, ag = before_details.get("compile_by_graph") or {}, after_details.get("compile_by_graph") or {}
    graphs = {k: (ag.get(k) or {}).get("compile_time", 0.0) - (bg.get(k) or {}).get("compile_time", 0.0)
              for k in set(bg) | set(ag)}
    graph = max(graphs, key=graphs.get) if graphs and max(graphs.values()) > 0 else None
    text = catalogue.spec(phase).display if phase else "compile"
    if graph:
        text += f" ({graph} graph)"
    return {"change": a / b - 1, "before": b, "after": a, "phase": phase, "phase_s": grown.get(phase),
            "graph": graph, "graph_s": graphs.get(graph) if graph else None, "text": text}


def _case_details(engine, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    from perfwatch.store import dashboard_reads

    return {(b, m): d for b, m, d in dashboard_reads.compiled_case_details(engine, run_id)}


def _case_figures(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        if r["metric"]:
            out.setdefault((r["benchmark"], r["mode"]), {})[r["metric"]] = r["value"]
    return out


def previous_run(engine, run: dict[str, Any]) -> str | None:
    """The last earlier finished run of the same suite, backend and machine."""
    for r in queries.list_runs(engine, limit=200, suite=run["suite"]):
        if r["id"] != run["run_id"] and r["created_at"] < run["created_at"] and r["backend"] == run["backend"] \
                and r["hostname"] == run["hostname"]:
            return r["id"]
    return None


def build_report(engine, run_id: str, baseline: str | None = None) -> dict[str, Any]:
    from perfwatch.analysis.compare import compare_runs

    run = queries.run_summary(engine, run_id).to_dict()  # a dict: the report adds the GPU and drops the environment
    baseline = baseline or previous_run(engine, run)
    records = queries.export_records(engine, [run_id])
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        c = cases.setdefault((r["benchmark"], r["mode"]), {"benchmark": r["benchmark"], "mode": r["mode"],
                                                           "status": r["status"], "error": r["error"], "metrics": {}})
        if r["metric"]:
            c["metrics"][r["metric"]] = r["value"]
    deltas = compare_runs(engine, baseline, run_id, metrics=REPORTED) if baseline else []
    by_case = {(d["benchmark"], d["mode"], d["metric"]): d for d in deltas}
    for key, c in cases.items():
        for metric in REPORTED:
            d = by_case.get((*key, metric))
            c[f"{metric}_change"] = d["change"] if d else None
            c[f"{metric}_verdict"] = d["verdict"] if d else None
    if baseline:  # where compile time grew: the phase and the graph (forward, backward) that added most
        base_figs = _case_figures(queries.export_records(engine, [baseline]))
        base_det, det = _case_details(engine, baseline), _case_details(engine, run_id)
        for key, c in cases.items():
            if key in base_figs and "compile_time" in c["metrics"]:
                c["compile_growth"] = compile_growth(base_figs[key], c["metrics"], base_det.get(key, {}),
                                                     det.get(key, {}))
    regressions = hist.list_regressions(engine, run_id=run_id)
    grew = {(c["benchmark"], c["mode"]): c.get("compile_growth") for c in cases.values()}
    for g in regressions:  # a stored compile regression says which phase and graph
        if str(g.get("metric", "")).startswith("compile_time") and grew.get((g["benchmark"], g["mode"])):
            g["where"] = grew[(g["benchmark"], g["mode"])]["text"]
    # what the gate judged, and the smallest change it could have seen per case (docs/verdict.md)
    judged = stored_verdicts.for_run(engine, run_id)
    for v in judged:
        c = cases.get((v["benchmark"], v["mode"]))
        if c is not None and v["metric"] in REPORTED:
            c[f"{v['metric']}_gate"] = v["verdict"]
            c[f"{v['metric']}_detectable"] = v["detectable"]
    env = run.pop("environment")
    run["gpu"] = ", ".join(g.get("name", "") for g in env.get("gpus") or []) or None
    # one finding per cause, most severe first: what the report leads with (regressions stay listed)
    findings = [{**f.lead, "severity": round(f.severity, 4), "group": f.group, "ids": list(f.ids),
                 "evidence": [{k: e[k] for k in ("id", "metric", "unit", "before", "after", "change")} for e in f.evidence]}
                for f in group_findings(regressions)]
    return {"run": run, "baseline": baseline, "cases": list(cases.values()), "regressions": regressions,
            "findings": findings, "verdicts": judged, "failed": [c for c in cases.values() if c["status"] != "ok"]}


def _pct(x: float | None) -> str:
    if x is None:
        return ""
    if not math.isfinite(x):
        return "new" if x > 0 else "gone"
    return f"{x * 100:+.1f}%"


def _confidence(g: dict[str, Any]) -> str:
    if catalogue.is_exact(g["metric"], g.get("unit")):
        return "exact counter"
    return ">99.9%" if g["pvalue"] < 0.001 else f"{(1 - g['pvalue']) * 100:.1f}%"


def to_markdown(rep: dict[str, Any]) -> str:
    run = rep["run"]
    icon = {"regression": "🔴", "improvement": "🟢", "same": ""}
    lines = [f"### perfwatch: {run['suite']} on {run['backend']} ({run['hostname']})", ""]
    lines.append(f"Run `{run['run_id']}` · commit `{(run['git_sha'] or '-')[:10]}` · torch {run['torch_version']}"
                 + (f" · {run['gpu']}" if run.get("gpu") else "")
                 + (f" · baseline `{rep['baseline']}`" if rep["baseline"] else " · no baseline run"))
    lines.append("")
    n_reg, findings = len(rep["regressions"]), rep.get("findings") or []
    lines.append(f"**{len(findings)} finding(s)** ({n_reg} regressed metric(s)), {len(rep['failed'])} failed case(s), "
                 f"{len(rep['cases'])} case(s).")
    lines.append("")
    if findings:  # one line per cause, most severe first; what moved with it as evidence
        lines += ["| benchmark | mode | metric | before | after | change | confidence | also moved |",
                  "|---|---|---|---|---|---|---|---|"]
        for g in findings:
            metric = g["metric"] + (f" ({g['where']})" if g.get("where") else "")
            also = ", ".join(f"{e['metric']} {_pct(e['change'])}" for e in g["evidence"]) or "-"
            lines.append(f"| {g['benchmark']} | {g['mode']} | {metric} | {figure(g['before'], g['unit'] or '')} | "
                         f"{figure(g['after'], g['unit'] or '')} | {_pct(g['change'])} | {_confidence(g)} | {also} |")
        lines.append("")
    grown = [c for c in rep["cases"] if c.get("compile_growth")]
    if grown:
        lines += ["| benchmark | mode | compile s | vs baseline | grew most in | by |", "|---|---|---|---|---|---|"]
        for c in grown:
            g = c["compile_growth"]
            lines.append(f"| {c['benchmark']} | {c['mode']} | {g['after']:.1f} | {_pct(g['change'])} | {g['text']} | "
                         f"+{(g['phase_s'] or 0):.1f} s |")
        lines.append("")
    graph = any("graph_time" in c["metrics"] for c in rep["cases"])
    head = ["benchmark", "mode", "status", "step ms", "vs baseline", "detectable"] + (["graph ms", "vs baseline"] if graph else []) \
        + ["vs eager", "compile s", "breaks", "recompiles"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in rep["cases"]:
        m = c["metrics"]

        def f(name, fmt="{:.4g}"):
            return fmt.format(m[name]) if name in m else "-"

        def delta(metric):
            return f"{_pct(c.get(metric + '_change'))} {icon.get(c.get(metric + '_verdict') or '', '')}".rstrip()

        det = c.get("step_time_detectable")
        gate = c.get("step_time_gate")
        cells = [c["benchmark"], c["mode"], c["status"], f("step_time"), delta("step_time"),
                 (f"{det * 100:.1f}%" if det is not None and gate != "too_noisy" else
                  "too noisy" if gate == "too_noisy" else (gate or "-").replace("_", " "))]
        if graph:
            cells += [f("graph_time"), delta("graph_time")]
        cells += [f("speedup_vs_eager", "{:.2f}x"), f("compile_time", "{:.1f}"), f("graph_breaks", "{:.0f}"),
                  f("recompilations", "{:.0f}")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("*detectable*: the smallest step-time slowdown the history gate would have flagged in this run "
                 "(its noise, its history, all series of the run at once).")
    lines += _batch_lines(rep["cases"])
    for c in rep["failed"]:
        lines.append(f"\n- `{c['benchmark']}` [{c['mode']}] **{c['status']}**: {(c['error'] or '').splitlines()[0] if c['error'] else ''}")
    return "\n".join(lines) + "\n"


def _batch_lines(cases: list[dict[str, Any]]) -> list[str]:
    """The batch search's figures (--batch-search): the largest batch that fits per case and the
    throughput at the largest power-of-two batch measured (the family throughput_at_batch_N)."""
    prefix = catalogue.FAMILIES[0].name
    rows = []
    for c in cases:
        m = c["metrics"]
        curve = {int(k[len(prefix):]): v for k, v in m.items() if catalogue.family(k)}
        if "max_batch" not in m and not curve:
            continue
        top = max(curve) if curve else None
        cells = [c["benchmark"], c["mode"], f"{m['max_batch']:.0f}" if "max_batch" in m else "- (search cut)",
                 str(top) if top else "-", f"{curve[top]:.4g}" if top else "-"]
        rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", "**Batch search** (largest batch that fits under the memory cap; throughput at the largest "
            "power-of-two batch measured):", "", "| benchmark | mode | max batch | at batch | throughput |",
            "|---|---|---|---|---|", *rows]
