"""The gate's verdicts as the end of `perfwatch run` prints them: regressions first, then what
could not be judged, then one line on what the rest could have seen."""

from __future__ import annotations

import statistics
from typing import Sequence

from perfwatch.analysis.gate import GateConfig, Verdict
from perfwatch.cli.tables import fmt_num


def _name(v: Verdict) -> str:
    params = "" if v.params_key in ("{}", "") else v.params_key
    return f"{v.benchmark}{params} [{v.mode}] {v.metric}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f}%"


def _share(x: float) -> str:
    return ">1000%" if x > 10 else f"{x * 100:.1f}%"


def verdict_lines(verdicts: Sequence[Verdict], cfg: GateConfig) -> list[str]:
    lines = []
    for v in sorted((v for v in verdicts if v.flagged), key=lambda v: -(abs(v.change or 0))):
        how = ("exact counter" if v.noise_source == "exact" else
               f"p {v.pvalue:.1e}, noise ±{v.noise * 100:.2f}% ({v.noise_source}), detectable {_share(v.detectable)}")
        lines.append(f"  REGRESSION {_name(v)}: {fmt_num(v.before)} -> {fmt_num(v.after)} {v.unit} "
                     f"({_pct(v.change)}; {how})")
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
