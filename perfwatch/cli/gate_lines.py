"""The gate's verdicts as the end of `perfwatch run` prints them: regressions first (one line per
finding, most severe first, what moved with it beneath), then what could not be judged, then one
line on what the rest could have seen."""

from __future__ import annotations

import statistics
from typing import Sequence

from perfwatch.analysis.findings import group_findings
from perfwatch.analysis.gate import GateConfig, Verdict
from perfwatch.cli.tables import fmt_num


def _name(v: Verdict) -> str:
    params = "" if v.params_key in ("{}", "") else v.params_key
    return f"{v.benchmark}{params} [{v.mode}] {v.metric}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f}%"


def _share(x: float) -> str:
    return ">1000%" if x > 10 else f"{x * 100:.1f}%"


def _as_findings(flagged: Sequence[Verdict]) -> list[tuple[Verdict, list[Verdict]]]:
    """The flagged verdicts as findings (perfwatch.analysis.findings): one per cause, most severe
    first, each lead with the verdicts that moved with it."""
    rows = [{"id": i, "run_id": "", "machine": v.hostname, "suite": v.suite, "benchmark": v.benchmark, "mode": v.mode,
             "backend": v.backend, "params_key": v.params_key, "metric": v.metric, "unit": v.unit,
             "change": v.change or 0.0, "pvalue": v.pvalue if v.pvalue is not None else 0.0}
            for i, v in enumerate(flagged)]
    return [(flagged[f.lead["id"]], [flagged[e["id"]] for e in f.evidence]) for f in group_findings(rows)]


def verdict_lines(verdicts: Sequence[Verdict], cfg: GateConfig) -> list[str]:
    lines = []
    for v, also in _as_findings([v for v in verdicts if v.flagged]):
        how = ("exact counter" if v.noise_source == "exact" else
               f"p {v.pvalue:.1e}, noise ±{v.noise * 100:.2f}% ({v.noise_source}), detectable {_share(v.detectable)}")
        lines.append(f"  REGRESSION {_name(v)}: {fmt_num(v.before)} -> {fmt_num(v.after)} {v.unit} "
                     f"({_pct(v.change)}; {how})")
        if also:  # what moved with it: one cause, not several regressions
            lines.append("    also: " + ", ".join(f"{e.metric} {_pct(e.change)}" for e in also))
    for kind, label in (("too_noisy", "TOO NOISY"), ("imprecise", "IMPRECISE"), ("settings_changed", "NEW SETTINGS")):
        for v in (v for v in verdicts if v.verdict == kind):
            extra = f"could only see changes over {_share(v.detectable)}" if kind == "too_noisy" else v.note
            lines.append(f"  {label} {_name(v)}: {extra}")
    judged = [v for v in verdicts if v.detectable is not None and v.noise_source != "exact"]
    unjudged = sum(v.verdict == "no_baseline" for v in verdicts)
    if judged:
        det = sorted(v.detectable for v in judged)
        lines.append(f"gate: {len(judged)} series judged at a run-wide false-alarm rate of {cfg.alpha:.0%}; "
                     f"smallest detectable change: median {_share(statistics.median(det))}, "
                     f"worst {_share(det[-1])}" + (f"; {unjudged} without enough history" if unjudged else ""))
    elif unjudged:
        lines.append(f"gate: {unjudged} series without enough history yet ({cfg.min_history} earlier runs needed)")
    return lines
